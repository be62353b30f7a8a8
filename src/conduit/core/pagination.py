"""Limit/offset pagination with bounds every database can take."""

from __future__ import annotations

from dataclasses import dataclass

MAX_LIMIT = 100
MAX_OFFSET = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Page:
    limit: int = 20
    offset: int = 0
