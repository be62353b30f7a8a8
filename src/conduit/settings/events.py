"""The event backbone: the broker, the relay, the consumers and the wake-ups."""

from __future__ import annotations

from pydantic import BaseModel, Field


class EventSettings(BaseModel):
    """The outbox relay, the broker, the consumers and the wake-ups across instances."""

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
        "when no wake-up channel reaches it (SQLite, MariaDB without Redis, wake-ups off, or "
        "the channel down); it wakes at once for its own.",
    )
    wakeups_enabled: bool = Field(
        default=True,
        description="The relay and the access-rules keeper sleep until told of a change "
        "(PostgreSQL LISTEN/NOTIFY; on MariaDB, Redis pub/sub when CONDUIT_REDIS_URL is set), "
        "looking again only every CONDUIT_SAFETY_POLL_SECONDS. false: they poll every "
        "CONDUIT_RELAY_POLL_INTERVAL_SECONDS and CONDUIT_ACCESS_RULES_REFRESH_SECONDS.",
    )
    safety_poll_seconds: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="While a wake-up channel is up, how often the relay and the access-rules "
        "keeper look anyway, for a notification that was lost.",
    )
    database_listen_url: str | None = Field(
        default=None,
        description="PostgreSQL: where the wake-up listener connects (LISTEN needs a session "
        "of its own: not through pgbouncer in transaction mode). Unset: CONDUIT_DATABASE_URL.",
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
