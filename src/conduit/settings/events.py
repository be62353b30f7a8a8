"""The event backbone: the broker, the relay and the consumers."""

from __future__ import annotations

from pydantic import BaseModel, Field


class EventSettings(BaseModel):
    """The outbox relay, the broker and the consumers."""

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
