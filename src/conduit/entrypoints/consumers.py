"""Every consumer of Conduit's events: what the worker (or the embedded relay) runs."""

from __future__ import annotations

from conduit.core.consumers import Consumer
from conduit.notifications.handlers import consumer as notifications_consumer

CONSUMERS: list[Consumer] = [notifications_consumer]
