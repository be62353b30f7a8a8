"""How Conduit writes a timestamp for its clients."""

from __future__ import annotations

import datetime as dt


def iso(moment: dt.datetime) -> str:
    """ISO 8601 UTC with milliseconds, as the RealWorld clients expect: 2026-01-02T03:04:05.678Z."""
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"
