"""Conduit's one settings class. Read once, in bootstrap, and passed down.

Its fields are grouped by room, one module each (``database``, ``events``, ``cache``,
``live``, ``storage``, ``observability``); what is left here is accounts, HTTP and GraphQL.
The structured values some settings hold (providers, rate limits) are in ``values.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from conduit.settings.cache import CacheSettings
from conduit.settings.database import DEFAULT_DATA_DIR as DEFAULT_DATA_DIR
from conduit.settings.database import DatabaseSettings
from conduit.settings.events import EventSettings
from conduit.settings.live import LiveSettings
from conduit.settings.observability import ObservabilitySettings
from conduit.settings.storage import StorageSettings
from conduit.settings.values import DEVELOPMENT_RATE_LIMITS as DEVELOPMENT_RATE_LIMITS
from conduit.settings.values import PRODUCTION_RATE_LIMITS as PRODUCTION_RATE_LIMITS
from conduit.settings.values import OidcProvider as OidcProvider
from conduit.settings.values import RateLimits as RateLimits

DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"
# CONDUIT_MAX_IN_FLIGHT's default: requests in the app per database connection, and the
# least it is.
ADMISSION_PER_CONNECTION = 2
ADMISSION_FLOOR = 64


class Settings(
    DatabaseSettings,
    EventSettings,
    CacheSettings,
    LiveSettings,
    StorageSettings,
    ObservabilitySettings,
    BaseSettings,
):
    """Every knob of Conduit; each field is set by the variable CONDUIT_<NAME>."""

    model_config = SettingsConfigDict(
        env_prefix="CONDUIT_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    environment: Literal["development", "production", "test"] = Field(
        default="development",
        description="production refuses a missing or weak secret key and an embedded database "
        "without an explicit URL.",
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
        "other instances when no wake-up channel tells it of them (its own apply at once).",
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
    cors_origins: list[str] = Field(
        default=["*"], description="Allowed browser origins (JSON list); ['*'] allows any."
    )
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    max_in_flight: int | None = Field(
        default=None,
        ge=0,
        le=100_000,
        description="HTTP requests one process serves at once (http/admission.py); more wait "
        "up to CONDUIT_QUEUE_TIMEOUT_MS, then get 503 with Retry-After. Default: twice "
        "CONDUIT_DB_POOL_SIZE + CONDUIT_DB_POOL_MAX_OVERFLOW, at least 64. 0: no limit.",
    )
    queue_timeout_ms: float = Field(
        default=50,
        ge=0,
        le=60_000,
        description="How long a request over CONDUIT_MAX_IN_FLIGHT waits for a slot before "
        "it is answered 503 (0: at once); it bounds the wait of admitted requests too.",
    )
    shutdown_timeout_seconds: float = Field(
        default=20.0,
        gt=0,
        le=600,
        description="On SIGTERM: how long conduit serve lets requests in flight finish, and "
        "how long either process gives its parts (the relay's batch, the deliveries in "
        "progress, the pools) to stop.",
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
    def admission_limit(self) -> int:
        """CONDUIT_MAX_IN_FLIGHT, else twice the database connections (a request in the app
        holds one or is next in line for one; more in the app answer no sooner, only later),
        and at least 64: a client pool of 64 connections at full load (the bench's) never
        waits, so a slow moment cannot shed its requests. 0: off."""
        if self.max_in_flight is not None:
            return self.max_in_flight
        connections = self.db_pool_size + self.db_pool_max_overflow
        return max(ADMISSION_PER_CONNECTION * connections, ADMISSION_FLOOR)

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
