"""Conduit's one settings class. Read once, in bootstrap, and passed down."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATA_DIR = Path("data")


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
    access_token_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=60)
    db_pool_size: int = Field(default=30, ge=1, le=200)
    db_pool_max_overflow: int = Field(default=10, ge=0, le=200)
    db_pool_timeout_seconds: float = Field(default=10.0, gt=0)
    db_echo: bool = False
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
    log_level: str = "INFO"
    log_json: bool | None = Field(
        default=None, description="JSON logs. Default: JSON unless stderr is a terminal."
    )

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
