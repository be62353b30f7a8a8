"""The HTTP kit: what every router shares (``kit``: the principal, the database, JSON
replies, error docs), how routes are found and run (``routing``), and the HTTP-only layers
around them (``middleware``, ``errors``, ``conditional``, ``read_cache``, ``rate_limits``,
``hardening``, ``client_address``). Features' routers import it; use cases never do."""
