"""Operating Conduit: metrics, traces and health, wired by bootstrap.

No feature imports Prometheus or OpenTelemetry: this package sees what every use case
already passes through (the unit of work, the event bus, the cache, the rate limiter and the
HTTP layer) and measures it there, by wrapping those ports or reading their state.
"""
