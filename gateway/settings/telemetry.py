"""Metrics, traces and the audit trail (issue 13: filled by its parts)."""

from __future__ import annotations

from gateway.settings.base import _Strict
from gateway.settings.telemetry_audit import AuditSettings
from gateway.settings.telemetry_metrics import MetricsSettings
from gateway.settings.telemetry_traces import TracesSettings


class TelemetrySettings(_Strict):
    """Metrics, traces and the audit trail."""

    metrics: MetricsSettings = MetricsSettings()
    audit: AuditSettings = AuditSettings()
    traces: TracesSettings = TracesSettings()
