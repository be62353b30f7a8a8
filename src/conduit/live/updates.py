"""The live parts of one process: the sockets' hub, the commit-time publisher and the bus.

Built by the container (``Container.live_updates``) and started and stopped by it
(``bootstrap.lifecycle``): ``conduit serve`` publishes what it commits and delivers what any
instance published to its own sockets; ``conduit worker`` only publishes. The WebSocket
endpoint (``entrypoints.live``) and GraphQL subscriptions speak through the hub.
"""

from __future__ import annotations

import datetime as dt

from conduit.core.db import Database
from conduit.core.live import LiveBus
from conduit.core.principal import Authenticator
from conduit.live import service
from conduit.live.hub import Hub
from conduit.live.publisher import LivePublisher
from conduit.settings import Settings


class LiveUpdates:
    def __init__(
        self, settings: Settings, db: Database, bus: LiveBus, authenticator: Authenticator
    ) -> None:
        self.db = db
        self.bus = bus
        self.authenticator = authenticator
        self.hub = Hub(
            followers_among=service.followers_lookup(db),
            notifications_of=service.notifications_lookup(db),
            max_connections_per_user=settings.live_max_connections_per_user,
            max_subscriptions=settings.live_max_subscriptions,
            queue_size=settings.live_send_queue,
        )
        self.publisher = LivePublisher(db, bus)
        self.auth_timeout = settings.live_auth_timeout_seconds
        self.ping_seconds = settings.live_ping_seconds
        # Outbox rows are kept this long: how far back a resume (``since``) can reach.
        self.retention = dt.timedelta(days=settings.event_retention_days)
