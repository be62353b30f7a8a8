"""Live updates over WebSockets: timeouts and per-socket limits."""

from __future__ import annotations

from pydantic import BaseModel, Field


class LiveSettings(BaseModel):
    """The WebSocket at /api/ws."""

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
