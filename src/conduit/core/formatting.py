"""How Conduit writes values on the wire, shared by every adapter (REST, events, WebSocket)."""

from __future__ import annotations

import datetime as dt


def iso(moment: dt.datetime) -> str:
    """ISO 8601 UTC with milliseconds, as the RealWorld clients expect: 2026-01-02T03:04:05.678Z."""
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def parse_iso(text: str) -> dt.datetime:
    """The naive UTC moment of an ISO 8601 string (``Z`` or an offset); ValueError if not one."""
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return moment
