"""Who is calling: sign-in (registration, login, OpenID Connect in ``oidc/``), sessions and
their rotating refresh tokens (``repository``, ``cookies``), sign-out, and the access rules
every instance keeps (revocations, bans, roles: ``access``). Use cases in ``service``."""
