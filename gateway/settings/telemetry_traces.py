"""``[telemetry.traces]``: OpenTelemetry traces exported over OTLP/HTTP (issue 13).

Off by default, and then nothing of OpenTelemetry is imported or inserted in the stack.
"""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from gateway.settings.base import _Strict


class TracesSettings(_Strict):
    """OpenTelemetry traces over OTLP/HTTP; off by default."""

    enabled: bool = Field(False, description="export traces")
    endpoint: str = Field(
        "http://127.0.0.1:4318/v1/traces",
        description="the OTLP/HTTP traces URL of a collector (protobuf encoding)",
    )
    headers: dict[str, str] = Field(
        {}, description="sent with every export; values may name secrets: ${VAR} or file:/path"
    )
    service_name: str = Field("portcullis", min_length=1, description="the service.name resource attribute")
    sample_ratio: float = Field(
        0.1,
        ge=0.0,
        le=1.0,
        description=(
            "share of new traces recorded (a recorded call costs ~220 µs of CPU, one not recorded"
            " ~6 µs); a client's sampled flag decides for its own traces"
        ),
    )
    export_timeout: float = Field(10.0, gt=0, le=300, description="seconds one export may take")

    @field_validator("endpoint")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL, e.g. http://127.0.0.1:4318/v1/traces")
        return value

    @model_validator(mode="after")
    def _headers_are_headers(self) -> TracesSettings:
        for name in self.headers:
            if not name or any(char in name for char in " :\r\n\t"):
                raise ValueError(f"headers: {name!r} is not an HTTP header name")
        return self
