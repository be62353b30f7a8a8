"""Structured logs: JSON lines in production, coloured key=value on a terminal."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

import orjson
import structlog


def _json_line(event: Any, **options: Any) -> bytes:
    """orjson's bytes; what it cannot write (an int over 64 bits) goes through json."""
    try:
        return orjson.dumps(event, option=orjson.OPT_NON_STR_KEYS, **options)
    except TypeError:
        return json.dumps(event, **options).encode()


def configure_logging(*, level: str = "INFO", json: bool | None = None) -> None:
    as_json = not sys.stderr.isatty() if json is None else json
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
    ]
    renderer: structlog.types.Processor
    factory: Any
    binary = getattr(sys.stderr, "buffer", None)
    if as_json and binary is not None:
        # One line per request in production: orjson renders it to bytes, written as they are.
        renderer = structlog.processors.JSONRenderer(serializer=_json_line)
        factory = structlog.BytesLoggerFactory(file=binary)
    elif as_json:  # a text-only stderr (a test runner's)
        renderer = structlog.processors.JSONRenderer()
        factory = structlog.PrintLoggerFactory(file=sys.stderr)
    else:
        renderer = structlog.dev.ConsoleRenderer()
        factory = structlog.PrintLoggerFactory(file=sys.stderr)
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=factory,
        cache_logger_on_first_use=True,
    )
