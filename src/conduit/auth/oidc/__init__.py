"""Login with OpenID Connect: the authorization-code flow with PKCE (``service``), the linked
identities and logins in flight (``models``), and its routes (``router``). The provider
client itself is an adapter (``adapters/oidc.py``) behind the port ``core/identity.py``."""
