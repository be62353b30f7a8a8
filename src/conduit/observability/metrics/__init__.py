"""Prometheus metrics: what Conduit measures (registry), the measured ports (bus, cache,
rate limiter), the sampler of process state, the request middleware and ``/metrics``
(http), and the metrics port of its own (server). See docs/operating/metrics.md."""
