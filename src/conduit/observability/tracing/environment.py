"""Whether a process traces, from the standard OpenTelemetry variables alone.

Tracing is on when ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``)
names a collector, unless ``OTEL_SDK_DISABLED=true`` or ``OTEL_TRACES_EXPORTER=none``. Off,
nothing of OpenTelemetry is even imported: no provider, no instrumentation, no cost.
Everything else (``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_TRACES_SAMPLER``
and its argument, ``OTEL_EXPORTER_OTLP_HEADERS``, ``OTEL_BSP_*`` ...) is read by the SDK
itself, as the OpenTelemetry specification describes (see ``docs/operating/tracing.md``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conduit.observability.tracing.provider import Tracing

ENDPOINTS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
PROTOCOLS = ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")
# The exporter Conduit ships: OTLP over HTTP, protobuf-encoded.
PROTOCOL = "http/protobuf"


class TracingConfigurationError(ValueError):
    """The OpenTelemetry variables ask for something Conduit cannot do; says what to change."""


def _flag(environ: Mapping[str, str], name: str) -> str:
    return environ.get(name, "").strip().lower()


def tracing_requested(environ: Mapping[str, str] | None = None) -> bool:
    """True when the variables ask for traces to be exported (see the module docstring)."""
    env = os.environ if environ is None else environ
    if _flag(env, "OTEL_SDK_DISABLED") == "true" or _flag(env, "OTEL_TRACES_EXPORTER") == "none":
        return False
    return any(env.get(name, "").strip() for name in ENDPOINTS)


def check_tracing_environment(environ: Mapping[str, str] | None = None) -> None:
    """Refuse what cannot work, before anything starts: another OTLP protocol than
    HTTP/protobuf, or another traces exporter than OTLP."""
    env = os.environ if environ is None else environ
    if not tracing_requested(env):
        return
    exporter = _flag(env, "OTEL_TRACES_EXPORTER") or "otlp"
    if exporter != "otlp":
        raise TracingConfigurationError(
            f"OTEL_TRACES_EXPORTER={exporter!r}: Conduit exports traces over OTLP only; "
            "unset it (or set it to otlp), or set it to none to turn tracing off."
        )
    for name in PROTOCOLS:
        protocol = _flag(env, name)
        if protocol and protocol != PROTOCOL:
            raise TracingConfigurationError(
                f"{name}={protocol!r}: Conduit exports traces over OTLP/HTTP ({PROTOCOL}); "
                "point OTEL_EXPORTER_OTLP_ENDPOINT at the collector's HTTP port (4318) and "
                "unset it."
            )


def start_tracing(service_name: str, environ: Mapping[str, str] | None = None) -> Tracing | None:
    """The process's tracing when the variables ask for it (``service_name`` unless
    ``OTEL_SERVICE_NAME`` says otherwise), else None, importing nothing of OpenTelemetry.
    (Bootstrap's ``check_settings`` refuses what :func:`check_tracing_environment` does.)"""
    if not tracing_requested(environ):
        return None
    from conduit.observability.tracing.provider import Tracing

    return Tracing.exporting(service_name)
