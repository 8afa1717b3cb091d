"""``[ops]``: how the gateway stops and where it says who it is (docs/operations.md).

Per-operation timeouts are options of the ``middleware.timeouts:Timeouts`` entry of the
middleware stack, not keys here: one place for them.
"""

from __future__ import annotations

from pydantic import Field

from gateway.settings.base import _Strict


class OpsSettings(_Strict):
    """How the gateway stops, and where it writes its pid."""

    drain_timeout: float = Field(
        2.0, ge=0, description="seconds calls in flight get to finish after SIGTERM before they are stopped"
    )
    retry_after: int = Field(
        5,
        ge=1,
        description="seconds a refused new session or a closed stream is told to wait before retrying",
    )
    pid_file: str = Field(
        "portcullis.pid",
        description="where `serve` writes its pid for `portcullis reload` (relative: beside the settings "
        "file); empty: none",
    )
