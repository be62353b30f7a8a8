"""Between OpenTelemetry's context and the plain W3C text the rest of Conduit carries.

- :func:`current_trace_context`: what the unit of work puts into an event it records
  (``Database(trace_context=...)``): the active span as ``traceparent`` / ``tracestate``.
- :func:`context_of`: an event's trace fields back into a context, the parent of the
  spans that publish and process it.
- :class:`TraceResponse`: the ``traceresponse`` header of every answer (W3C Trace Context
  level 2: ``00-<trace id>-<span id of the request>-<flags>``), which the ASGI
  instrumentation sends through its global response propagator.
- :func:`without_secrets`: no span keeps the value of a secret query parameter.
- :func:`add_trace_ids`: a structlog processor naming the active span on every log line.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.instrumentation.propagators import ResponsePropagator, default_setter
from opentelemetry.trace import Span
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from conduit.core.events import Event

TRACERESPONSE = "traceresponse"

# The envelope's fields are W3C Trace Context whatever OTEL_PROPAGATORS says for HTTP.
_W3C = TraceContextTextMapPropagator()


def current_trace_context() -> dict[str, str]:
    """``{"traceparent": ..., "tracestate": ...}`` of the active span; ``{}`` outside one."""
    carrier: dict[str, str] = {}
    _W3C.inject(carrier)
    return carrier


def context_of(event: Event) -> Context:
    """The context an event was emitted in; an empty one (spans started in it are roots)
    for an event emitted outside a trace, whatever span is active where it is handled."""
    return _W3C.extract(event.trace(), context=Context())


def _ids(context: Context | None = None) -> tuple[str, str, int] | None:
    span_context = trace.get_current_span(context).get_span_context()
    if not span_context.is_valid:
        return None
    return (
        trace.format_trace_id(span_context.trace_id),
        trace.format_span_id(span_context.span_id),
        int(span_context.trace_flags),
    )


class TraceResponse(ResponsePropagator):
    """Sends ``traceresponse`` on an answer, naming the request's span; unlike the
    instrumentation's own ``TraceResponsePropagator`` it adds no CORS header of its own
    (the app's CORS middleware exposes ``traceresponse`` to the origins it allows)."""

    def inject(
        self,
        carrier: Any,
        context: Context | None = None,
        setter: Any = default_setter,
    ) -> None:
        ids = _ids(context)
        if ids is not None:
            trace_id, span_id, flags = ids
            setter.set(carrier, TRACERESPONSE, f"00-{trace_id}-{span_id}-{flags:02x}")


# Query parameters whose values a span never keeps (an OpenID Connect callback's code and
# state; credentials a client might put in a URL): the URL attributes say REDACTED instead.
SECRET_PARAMETERS = frozenset(
    {"code", "state", "token", "access_token", "refresh_token", "id_token", "password", "email"}
)
_URL_ATTRIBUTES = ("http.url", "url.full", "url.query")


def without_secrets(span: Span, scope: Mapping[str, Any]) -> None:
    """The ASGI instrumentation's ``server_request_hook``: a request's URL attributes keep
    its query, except the values of :data:`SECRET_PARAMETERS`."""
    query = scope.get("query_string") or b""
    if not query or not span.is_recording():
        return
    pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
    if not any(name.lower() in SECRET_PARAMETERS for name, _ in pairs):
        return
    raw = unquote(query.decode("latin-1"))
    clean = urlencode(
        [(name, "REDACTED" if name.lower() in SECRET_PARAMETERS else v) for name, v in pairs],
        safe="/:,",
    )
    attributes = getattr(span, "attributes", None) or {}
    for key in _URL_ATTRIBUTES:
        value = attributes.get(key)
        if isinstance(value, str):
            span.set_attribute(key, value.replace(raw, clean) if raw in value else clean)


def add_trace_ids(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: ``trace_id`` and ``span_id`` of the active span, if any."""
    ids = _ids()
    if ids is not None:
        event_dict["trace_id"], event_dict["span_id"], _ = ids
    return event_dict
