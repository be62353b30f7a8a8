"""Metrics and logs (tracing is configured by the standard OTEL_* variables)."""

from __future__ import annotations

import ipaddress

from pydantic import BaseModel, Field, field_validator


class ObservabilitySettings(BaseModel):
    """Metrics and logs."""

    # Metrics (docs/operating/metrics.md): off, no measuring and GET /metrics is a 404.
    metrics_enabled: bool = True
    metrics_allow: str = Field(
        default="",
        description="Networks besides loopback that may read /metrics: comma-separated CIDRs.",
    )
    metrics_port: int | None = Field(
        default=None, ge=1, le=65535, description="A port of their own for the metrics."
    )
    # Every interface: the port answers only what CONDUIT_METRICS_ALLOW allows, as /metrics.
    metrics_host: str = "0.0.0.0"  # noqa: S104
    git_sha: str | None = Field(default=None, description="conduit_build_info's git_sha.")

    @field_validator("metrics_allow")
    @classmethod
    def _networks(cls, value: str) -> str:
        for entry in filter(None, (part.strip() for part in value.split(","))):
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    f"{entry!r} is not an IP network: write comma-separated CIDRs, "
                    "for example 10.0.0.0/8,192.168.1.7,fd00::/8"
                ) from None
        return value

    log_level: str = "INFO"
    log_json: bool | None = Field(
        default=None, description="JSON logs. Default: JSON unless stderr is a terminal."
    )
