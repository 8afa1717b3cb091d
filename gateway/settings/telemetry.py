"""Metrics, traces and the audit trail (issue 13: filled by its parts)."""

from __future__ import annotations

from gateway.settings.base import _Strict


class TelemetrySettings(_Strict):
    pass
