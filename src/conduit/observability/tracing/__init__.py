"""OpenTelemetry tracing, on only when the standard ``OTEL_*`` variables ask for it
(environment): the SDK and instrumentations (provider), W3C trace context to and from text
and log lines (context), and the bus wrapper whose spans carry a trace through events (bus).
See docs/operating/tracing.md."""
