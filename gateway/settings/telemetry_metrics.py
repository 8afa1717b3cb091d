"""``[telemetry.metrics]``: the Prometheus endpoint (issue 13)."""

from __future__ import annotations

from pydantic import Field, field_validator

from gateway.settings.base import _Strict


class MetricsSettings(_Strict):
    """On by default: counting is cheap (a few µs per call) and operators expect ``/metrics``.
    Behind the normal authentication unless ``public``: the names of servers and tools are
    configuration, not something to show anyone who can reach the port."""

    enabled: bool = Field(True, description="serve Prometheus metrics")
    public: bool = Field(
        False,
        description="serve /metrics without authentication (for a scraper inside a trusted network)",
    )
    path: str = Field("/metrics", description="where they are served")
    max_tools: int = Field(
        500,
        ge=0,
        description='distinct tool names labelled per server; calls of others count as tool="other"',
    )

    @field_validator("path")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith("/") or value.rstrip("/") == "" or " " in value:
            raise ValueError("must be an absolute path such as /metrics")
        return value.rstrip("/")
