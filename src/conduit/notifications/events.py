"""Events of the notifications feature."""

from __future__ import annotations

from conduit.core.events import EventData


class NotificationsAdded(EventData):
    type = "notification.added"
    summary = (
        "The notifications consumer notified someone of an event; live updates push the "
        "notifications of `sourceEventId` to their recipients."
    )

    source_event_id: str
    count: int
