"""W3C Trace Context as plain text: what core and the HTTP kit know of traces.

Tracing itself (spans, exporters) lives in ``conduit.observability`` and is optional; what
every process sees of it is text: the ``traceparent`` header of a request and the
``traceparent`` / ``tracestate`` fields of an event envelope. This module reads them without
OpenTelemetry, so that a log line names the trace it belongs to even when tracing is off.

``traceparent`` (https://www.w3.org/TR/trace-context/): ``00-<trace-id>-<parent-id>-<flags>``,
32 and 16 lower-case hex digits, neither all zeros.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"

# What the unit of work calls to capture the current trace when a use case emits an event:
# {"traceparent": ..., "tracestate": ...} or {} outside a trace (observability provides it).
TraceContext = Callable[[], Mapping[str, str]]

_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$")
_NO_TRACE = "0" * 32
_NO_SPAN = "0" * 16
# tracestate: at most 32 list members of at most 256 characters each, printable ASCII.
_TRACESTATE_MAX = 32 * 257


def _parsed(traceparent: str | None) -> tuple[str, str] | None:
    """(trace id, the value in its version-00 form) of a valid ``traceparent``, else None.

    A later version's value is read by its first four fields, as the standard asks.
    """
    if not traceparent or len(traceparent) > 512:
        return None
    match = _TRACEPARENT.match(traceparent.strip())
    if match is None:
        return None
    version, trace_id, span_id, flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest):
        return None
    if trace_id == _NO_TRACE or span_id == _NO_SPAN:
        return None
    return trace_id, f"{version}-{trace_id}-{span_id}-{flags}"


def trace_id_of(traceparent: str | None) -> str | None:
    """The trace id a ``traceparent`` value names, or None when it is not a valid one."""
    parsed = _parsed(traceparent)
    return None if parsed is None else parsed[0]


def trace_fields(context: Mapping[str, str]) -> dict[str, str]:
    """The valid ``traceparent`` (and its ``tracestate``) of a mapping, for an envelope."""
    traceparent = context.get(TRACEPARENT)
    parsed = _parsed(traceparent) if isinstance(traceparent, str) else None
    if parsed is None:
        return {}
    fields = {TRACEPARENT: parsed[1]}
    tracestate = context.get(TRACESTATE)
    if (
        isinstance(tracestate, str)
        and tracestate.strip()
        and len(tracestate) <= _TRACESTATE_MAX
        and tracestate.isascii()
        and tracestate.isprintable()
    ):
        fields[TRACESTATE] = tracestate.strip()
    return fields
