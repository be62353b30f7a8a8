"""Structured logs: JSON lines in production, coloured key=value on a terminal.

Conduit's own logs go through structlog; the standard library's loggers (uvicorn's:
``uvicorn``, ``uvicorn.error``, ``uvicorn.access``) are formatted by the same processors
through ``structlog.stdlib.ProcessorFormatter`` (:func:`uvicorn_log_config`), and so are the
warnings of every other library (the brokers' clients, the trace exporter), through a
handler on the root logger: with JSON logs every line on the stream is one JSON object.

The fields of each line are listed in ``docs/operating/logs.md``.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Sequence
from typing import Any

import orjson
import structlog


def _json_line(event: Any, **options: Any) -> bytes:
    """orjson's bytes; what it cannot write (an int over 64 bits) goes through json."""
    try:
        return orjson.dumps(event, option=orjson.OPT_NON_STR_KEYS, **options)
    except TypeError:
        return json.dumps(event, **options).encode()


def _json_text(event: Any, **options: Any) -> str:
    return _json_line(event, **options).decode()


def wants_json(json: bool | None) -> bool:
    """``CONDUIT_LOG_JSON``, or JSON unless stderr is a terminal when it is unset."""
    return not sys.stderr.isatty() if json is None else json


def _shared_processors() -> list[structlog.types.Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
    ]


# The processors the last configure_logging call was given (see its docstring).
_extra_processors: list[structlog.types.Processor] = []


def configure_logging(
    *,
    level: str = "INFO",
    json: bool | None = None,
    processors: Sequence[structlog.types.Processor] | None = None,
) -> None:
    """Conduit's logs on stderr; ``processors`` add fields to every line (observability's
    trace and span ids, when tracing is on). ``None`` keeps those of the previous call: a
    process may configure its logs again (the CLI's start line after the container)."""
    as_json = wants_json(json)
    if processors is not None:
        _extra_processors[:] = processors
    extra = list(_extra_processors)
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
    _route_standard_logging(as_json)
    structlog.configure(
        processors=[*_shared_processors(), *extra, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=factory,
        cache_logger_on_first_use=True,
    )


class _StandardLogging(logging.StreamHandler):  # type: ignore[type-arg]
    """The root logger's handler: the standard library's records on the current stderr,
    formatted as Conduit's lines (looked up at each record: a test runner swaps it)."""

    def emit(self, record: logging.LogRecord) -> None:
        # Not setStream(): it flushes the stream it replaces, which a test runner may have
        # closed since (the record would then be lost to "I/O operation on closed file").
        self.stream = sys.stderr
        super().emit(record)


def _route_standard_logging(as_json: bool) -> None:
    """Libraries' records (warnings and up, the root logger's level) through one handler
    that renders them as Conduit's lines, in place of Python's bare last-resort output."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _StandardLogging)]:
        root.removeHandler(handler)
    handler = _StandardLogging(sys.stderr)
    handler.setFormatter(stdlib_formatter(as_json))
    root.addHandler(handler)


def stdlib_formatter(json: bool = True) -> structlog.stdlib.ProcessorFormatter:
    """A ``logging.Formatter`` that renders a standard library record as structlog does."""
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer(serializer=_json_text)
        if json
        else structlog.dev.ConsoleRenderer()
    )
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.add_logger_name, *_shared_processors()],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )


def uvicorn_log_config(*, level: str = "INFO", json: bool | None = None) -> dict[str, Any]:
    """``uvicorn.run(log_config=...)``: uvicorn's loggers on stderr through structlog's
    formatting (one JSON object per line with JSON logs), at Conduit's log level.

    A plain dict naming the formatter by its import path, so that worker processes
    (``--workers``, started afresh) can apply it too.
    """
    handler = {
        "class": "logging.StreamHandler",
        "formatter": "structlog",
        "stream": "ext://sys.stderr",
    }
    logger = {"handlers": ["default"], "level": level.upper(), "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structlog": {"()": f"{__name__}.stdlib_formatter", "json": wants_json(json)}
        },
        "handlers": {"default": handler},
        "loggers": {"uvicorn": logger, "uvicorn.error": logger, "uvicorn.access": logger},
    }
