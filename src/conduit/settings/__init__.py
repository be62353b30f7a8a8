"""Conduit's one settings class. Read once, in bootstrap, and passed down.

The structured values some settings hold (providers, rate limits) are in ``values.py``.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from conduit.settings.values import DEVELOPMENT_RATE_LIMITS as DEVELOPMENT_RATE_LIMITS
from conduit.settings.values import PRODUCTION_RATE_LIMITS as PRODUCTION_RATE_LIMITS
from conduit.settings.values import OidcProvider as OidcProvider
from conduit.settings.values import RateLimits as RateLimits

DEFAULT_DATA_DIR = Path("data")
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"


class Settings(BaseSettings):
    """Every knob of Conduit; each field is set by the variable CONDUIT_<NAME>."""

    model_config = SettingsConfigDict(
        env_prefix="CONDUIT_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    environment: Literal["development", "production", "test"] = Field(
        default="development",
        description="production refuses a missing or weak secret key and an embedded database "
        "without an explicit URL.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy async URL. Unset: SQLite file <data_dir>/conduit.db, "
        "migrated at start.",
    )
    data_dir: Path = Field(
        default=DEFAULT_DATA_DIR,
        description="Folder for the embedded database and the generated secret key.",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Key that signs tokens (at least 32 characters). Unset in the zero-config "
        "mode: generated once and kept in <data_dir>/secret_key.",
    )
    access_token_ttl_seconds: int = Field(
        default=7 * 24 * 3600,
        ge=60,
        description="Lifetime of an access token. The long default suits frontends that never "
        "refresh; with refresh, 900 (15 minutes) is the usual choice.",
    )
    refresh_token_ttl_seconds: int = Field(
        default=30 * 24 * 3600,
        ge=60,
        description="Lifetime of a refresh token (the HttpOnly cookie); each refresh rotates it.",
    )
    refresh_reuse_grace_seconds: int = Field(
        default=10,
        ge=0,
        description="How long a refresh token just exchanged may be presented again and answer "
        "the same new one (two tabs refreshing at once); later, reuse revokes the session. "
        "0: never.",
    )
    access_rules_refresh_seconds: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="How often each instance reloads revocations, bans and roles made on "
        "other instances (its own changes apply at once).",
    )
    frontend_url: str = Field(
        default="http://localhost:4200",
        description="Where OpenID Connect login sends the browser back, with the access "
        "token in the URL fragment.",
    )
    public_url: str | None = Field(
        default=None,
        description="The API's public base URL (https://api.example.com): OpenID Connect "
        "redirect URIs are built from it (<public_url>/api/auth/<provider>/callback), never "
        "from a request's Host header. Required in production with OpenID Connect "
        "providers; elsewhere conduit serve derives it from --host and --port, else "
        "http://127.0.0.1:8000.",
    )
    oidc_failed_login_retention_days: float = Field(
        default=30.0,
        gt=0,
        description="Audit records of failed OpenID Connect logins are deleted after this "
        "long (by the worker, or conduit serve with the embedded bus), with the states of "
        "logins abandoned at the provider.",
    )
    oidc_prune_interval_seconds: float = Field(
        default=3600.0,
        gt=0,
        description="How often those failed logins and abandoned login states are pruned.",
    )
    oidc_providers: list[OidcProvider] = Field(
        default=[],
        description='OpenID Connect providers (JSON list): [{"name": "acme", "issuer": '
        '"https://id.example.com", "client_id": "...", "client_secret": "...", '
        '"scopes": "openid email profile"}]',
    )
    https: bool = Field(
        default=False,
        description="Served over HTTPS (directly or behind a proxy): sends HSTS.",
    )
    trusted_proxies: list[str] = Field(
        default=[],
        description="Addresses or networks (JSON list) whose X-Forwarded-For is believed; "
        "from anyone else the header is ignored.",
    )
    rate_limits_enabled: bool = Field(default=True, description="Apply the rate limits.")
    rate_limit_login_per_ip: str | None = Field(
        default=None, description='Default: "10/minute" in production, loose in development.'
    )
    rate_limit_login_per_account: str | None = Field(
        default=None, description='Failed logins per account. Default: "10/minute" in production.'
    )
    rate_limit_register_per_ip: str | None = Field(
        default=None, description='Default: "5/minute" in production.'
    )
    rate_limit_writes_per_user: str | None = Field(
        default=None, description='Default: "60/minute" in production.'
    )
    rate_limit_reads_per_ip: str | None = Field(
        default=None, description='Default: "600/minute" in production.'
    )
    # Every connection is kept: overflow connections are closed on return and opened again
    # under the next burst (150-190 new PostgreSQL sessions per 10 s at 64 concurrent
    # requests, each a backend start), so the whole budget is the pool (bench/README.md).
    db_pool_size: int = Field(default=40, ge=1, le=200)
    db_pool_max_overflow: int = Field(default=0, ge=0, le=200)
    db_pool_timeout_seconds: float = Field(default=10.0, gt=0)
    db_echo: bool = False
    sqlite_readers: int = Field(
        default=4,
        ge=0,
        le=64,
        description="SQLite: read-only connections that serve reads in parallel (0: reads "
        "share the single writer connection).",
    )
    auto_migrate: bool | None = Field(
        default=None,
        description="Run migrations when the server starts. Default: on for SQLite, off otherwise.",
    )
    cors_origins: list[str] = Field(
        default=["*"], description="Allowed browser origins (JSON list); ['*'] allows any."
    )
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    broker_url: str | None = Field(
        default=None,
        description="Event bus: amqp://user:pass@host/vhost (RabbitMQ) or nats://host:4222 "
        "(NATS JetStream). Unset: the embedded bus; conduit serve runs the relay and the "
        "consumers in-process.",
    )
    relay_in_serve: bool = Field(
        default=True,
        description="With a broker, conduit serve also runs a relay (outbox to broker); "
        "conduit worker always does. Several relays are safe on PostgreSQL and MariaDB.",
    )
    relay_poll_interval_seconds: float = Field(
        default=0.5,
        gt=0,
        le=60,
        description="How often the relay looks for events committed by other processes "
        "(it wakes at once for its own).",
    )
    relay_batch_size: int = Field(default=100, ge=1, le=10_000)
    shutdown_timeout_seconds: float = Field(
        default=20.0,
        gt=0,
        le=600,
        description="On SIGTERM: how long conduit serve lets requests in flight finish, and "
        "how long either process gives its parts (the relay's batch, the deliveries in "
        "progress, the pools) to stop.",
    )
    event_retention_days: float = Field(
        default=7.0,
        gt=0,
        description="Published outbox rows and processed-event records older than this are pruned.",
    )
    consumer_max_attempts: int = Field(
        default=5,
        ge=1,
        le=100,
        description="Deliveries of one event to a consumer before it is dead-lettered.",
    )
    storage_url: str | None = Field(
        default=None,
        description="Where uploaded images go: s3://bucket (an S3-compatible store). Unset: "
        "the folder <data_dir>/media, served by the API at /media/{key}.",
    )
    media_base_url: str = Field(
        default="/media",
        description="Base of the links to uploaded images (user.image, upload.url): the "
        "API's /media route, or its absolute URL (https://api.example.com/media) when the "
        "frontend is served from another origin.",
    )
    s3_endpoint_url: str | None = Field(
        default=None, description="S3 endpoint (unset: AWS); e.g. http://127.0.0.1:8333."
    )
    s3_region: str | None = Field(default=None, description="S3 region (default us-east-1).")
    s3_access_key_id: str | None = Field(default=None, description="S3 access key id.")
    s3_secret_access_key: SecretStr | None = Field(default=None, description="S3 secret key.")
    s3_url_ttl_seconds: int = Field(
        default=3600,
        ge=60,
        le=7 * 24 * 3600,
        description="Lifetime of the presigned GET URLs /media/{key} redirects to.",
    )
    upload_retention_hours: float = Field(
        default=24.0,
        gt=0,
        description="Uploads no user and no article refers to are deleted after this long "
        "(by the worker, or conduit uploads prune).",
    )
    upload_prune_interval_seconds: float = Field(
        default=3600.0,
        gt=0,
        description="How often the worker (or conduit serve with the embedded bus) prunes "
        "unreferenced uploads.",
    )
    redis_url: str | None = Field(
        default=None, description="Redis for the cache and live updates across instances"
    )
    cache_ttl_seconds: int = Field(
        default=300,
        ge=1,
        le=86_400,
        description="Lifetime of a cached response in Redis; an upper bound on staleness if "
        "an invalidation is ever lost (a network split between one instance and Redis).",
    )
    cache_timeout_seconds: float = Field(
        default=0.25,
        gt=0,
        le=5,
        description="Timeout of a cache call; past it the request reads the database (and "
        "after a few in a row the cache is bypassed until Redis answers again).",
    )
    live_auth_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        description="A WebSocket must send its auth message within this time (else 4401).",
    )
    live_ping_seconds: float = Field(
        default=25.0,
        gt=0,
        description='A WebSocket idle this long gets a {"type": "ping"} message.',
    )
    live_max_connections_per_user: int = Field(
        default=5,
        ge=1,
        description="WebSockets one user may hold on one instance; one more closes with 4429.",
    )
    live_max_subscriptions: int = Field(
        default=50, ge=1, description="Articles one WebSocket may subscribe to."
    )
    live_send_queue: int = Field(
        default=256,
        ge=1,
        description="Messages waiting for a WebSocket that does not read; when full, the "
        "socket is closed with 4408 (the others are never slowed).",
    )
    graphql_ide: bool | None = Field(
        default=None,
        description="Serve GraphiQL on GET /graphql (a browser). Default: on, off in production.",
    )
    graphiql_assets_dir: Path | None = Field(
        default=None,
        description="Folder whose package.json and node_modules hold GraphiQL's npm "
        "packages (make install runs npm ci there). Default: the repository's web/graphiql.",
    )
    graphql_introspection: bool | None = Field(
        default=None,
        description="Answer GraphQL introspection queries. Default: on, off in production.",
    )
    graphql_max_depth: int = Field(
        default=10, ge=1, le=100, description="Deepest nesting of fields a GraphQL query may have."
    )
    graphql_max_cost: int = Field(
        default=5000,
        ge=1,
        description="Most fields a GraphQL query may resolve, each field under a list "
        "counted once per item the list may hold (its limit).",
    )
    graphql_max_aliases: int = Field(
        default=15, ge=0, le=1000, description="Most aliases in one GraphQL document."
    )
    graphql_max_tokens: int = Field(
        default=2000, ge=10, description="Most tokens (names, brackets...) in one GraphQL document."
    )
    event_loop: Literal["auto", "asyncio", "uvloop"] = Field(
        default="auto",
        description="The event loop `conduit serve` runs on; auto: asyncio's own with one "
        "worker, uvloop with several. Under a full load asyncio's loop answers nearly every "
        "request within 2-3 times the median (uvloop: 4-9 times) at the same throughput, "
        "but with several workers one of them accepted every connection (bench/README.md).",
    )

    route_plans: bool = Field(
        default=True,
        description="Run the API routes with simple parameters from a plan made once "
        "(http/routing.py); false runs every route through FastAPI's own request handler, "
        "the reference the plans are checked against (the official suite runs once so).",
    )

    def loop_for(self, workers: int) -> Literal["asyncio", "uvloop"]:
        """The event loop of a server with ``workers`` processes."""
        if self.event_loop != "auto":
            return self.event_loop
        return "asyncio" if workers == 1 else "uvloop"

    # Metrics (docs/operating/metrics.md): off, no measuring and GET /metrics is a 404.
    metrics_enabled: bool = True
    metrics_allow: str = Field(
        default="",
        description="Networks besides loopback that may read /metrics: comma-separated CIDRs.",
    )
    metrics_port: int | None = Field(
        default=None, ge=1, le=65535, description="A port of their own for the metrics."
    )
    # Every interface: the port answers only what CONDUIT_METRICS_ALLOW allows, as /metrics.
    metrics_host: str = "0.0.0.0"  # noqa: S104
    git_sha: str | None = Field(default=None, description="conduit_build_info's git_sha.")

    @field_validator("metrics_allow")
    @classmethod
    def _networks(cls, value: str) -> str:
        for entry in filter(None, (part.strip() for part in value.split(","))):
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    f"{entry!r} is not an IP network: write comma-separated CIDRs, "
                    "for example 10.0.0.0/8,192.168.1.7,fd00::/8"
                ) from None
        return value

    log_level: str = "INFO"
    log_json: bool | None = Field(
        default=None, description="JSON logs. Default: JSON unless stderr is a terminal."
    )

    @property
    def rate_limits(self) -> RateLimits:
        """The configured limits, each unset one from the environment's defaults."""
        base = (
            PRODUCTION_RATE_LIMITS if self.environment == "production" else DEVELOPMENT_RATE_LIMITS
        )
        chosen = {
            name: getattr(self, f"rate_limit_{name}") or getattr(base, name)
            for name in RateLimits.model_fields
        }
        return RateLimits(**chosen)

    @property
    def graphql_ide_enabled(self) -> bool:
        if self.graphql_ide is not None:
            return self.graphql_ide
        return self.environment != "production"

    @property
    def graphql_introspection_enabled(self) -> bool:
        if self.graphql_introspection is not None:
            return self.graphql_introspection
        return self.environment != "production"

    @property
    def public_base_url(self) -> str:
        """CONDUIT_PUBLIC_URL without a trailing slash (default http://127.0.0.1:8000)."""
        return (self.public_url or DEFAULT_PUBLIC_URL).rstrip("/")

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'conduit.db').as_posix()}"

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")

    @property
    def should_auto_migrate(self) -> bool:
        return self.is_sqlite if self.auto_migrate is None else self.auto_migrate
