"""``[telemetry.audit]``: where the audit trail of decisions goes."""

from __future__ import annotations

from pydantic import Field, field_validator

from gateway.settings.base import _Strict


class AuditSettings(_Strict):
    """The audit trail: one record per decision on a call, prompt or resource."""

    enabled: bool = Field(True, description="write the audit trail")
    sink: str = Field(
        "log",
        description='"log" (the portcullis.audit logger, in the [logging] format) or a file path '
        "(JSON lines, appended, 0600)",
    )
    include_allowed: bool = Field(
        False,
        description="record allowed tools/call, prompts/get, resources/read too (each is already one "
        "access-log line; this writes a second line per call)",
    )
    max_bytes: int = Field(
        10_000_000, ge=0, description="rotate the file past this size (0: never; a file sink only)"
    )
    backups: int = Field(5, ge=0, description="rotated files kept (a file sink only)")

    @field_validator("sink")
    @classmethod
    def _sink(cls, value: str) -> str:
        if not value.strip():
            raise ValueError('write "log" or the path of a file the audit trail is appended to')
        return value
