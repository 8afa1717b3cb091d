"""The audit trail from ``[telemetry.audit]``: which sink, and whether allowed calls count.

``sink = "log"`` leaves ``portcullis.audit`` records to the gateway's own log (its format, its
masking) and so to the telemetry providers that hear every ``portcullis`` record. A file path
gives the trail a sink of its own: JSON lines, owner-only, rotated, not repeated in the main
log; the providers are attached to it too, so they receive the same records either way.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Mapping
from typing import Any, Final

from gateway.logs import JsonFormatter, MaskSecrets, masked_field
from gateway.settings import Settings
from middleware.protocol import MCPApp
from middleware.protocol.audit import AUDIT_LOGGER
from middleware.telemetry.audit import AuditTrail
from middleware.telemetry.audit_file import AuditFile

RECENT: Final = 500
"""Records :class:`RecentAudit` keeps: the console's and ``GET /api/v1/audit/recent``'s window."""


class RecentAudit(logging.Handler):
    """The last :data:`RECENT` audit records, in memory, whatever the sink: the console shows
    recent decisions even when the trail goes only to the log. Each field is masked as the log
    masks it, so what is kept is no more than what a log line says."""

    def __init__(self, size: int = RECENT) -> None:
        super().__init__()
        self.records: deque[dict[str, Any]] = deque(maxlen=size)

    def emit(self, record: logging.LogRecord) -> None:
        # Another handler's MaskSecrets may have moved the fields to ``record.fields`` first.
        fields = getattr(record, "fields", None) or record.args
        if not isinstance(fields, Mapping) or fields.get("event") != "audit":
            return
        kept = {key: masked_field(key, value) for key, value in fields.items()}
        self.records.append({"ts": record.created, **kept})

    def recent(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Newest first; at most ``limit``."""
        newest = list(reversed(self.records))
        return newest if limit is None else newest[:limit]


def with_audit(settings: Settings, app: MCPApp) -> MCPApp:
    """``app`` recording allowed calls, when the trail is on and counts them; else ``app``."""
    audit = settings.telemetry.audit
    if not (audit.enabled and audit.include_allowed):
        return app
    return AuditTrail(app)


class AuditSink:
    """The audit logger, set up by :meth:`open` for the gateway's lifetime; :meth:`close` undoes it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings.telemetry.audit
        self.logger = logging.getLogger(AUDIT_LOGGER)
        self.handlers: list[logging.Handler] = []
        self.forward: logging.Handler | None = None
        self.recent = RecentAudit()
        """Kept across reloads (:meth:`reopen`), so the console's window survives them."""

    def open(self, forward: logging.Handler | None = None) -> None:
        """Start the sink; ``forward`` (the telemetry providers' handler) hears the records too."""
        self.forward = forward
        audit = self.settings
        self.logger.disabled = not audit.enabled
        if not audit.enabled:
            return
        self.logger.setLevel(logging.INFO)  # the trail is kept whatever the main log's level
        self.logger.addHandler(self.recent)
        if audit.sink == "log":
            return
        file = AuditFile(audit.sink, max_bytes=audit.max_bytes, backups=audit.backups)
        file.addFilter(MaskSecrets())
        file.setFormatter(JsonFormatter())
        self.handlers.append(file)
        if forward is not None:
            self.handlers.append(forward)
        for handler in self.handlers:
            self.logger.addHandler(handler)
        self.logger.propagate = False

    def reopen(self, settings: Settings) -> None:
        """A reload: take the new ``[telemetry.audit]`` and open the file again, so that a trail
        rotated by logrotate (moved, then SIGHUP) goes on in a new file. No await in between: no
        record falls in the gap."""
        forward = self.forward
        self.close()
        self.settings = settings.telemetry.audit
        self.open(forward)

    def close(self) -> None:
        self.logger.removeHandler(self.recent)
        for handler in self.handlers:
            self.logger.removeHandler(handler)
            if isinstance(handler, AuditFile):
                handler.close()
        self.handlers.clear()
        self.logger.propagate = True
        self.logger.setLevel(logging.NOTSET)
        self.logger.disabled = False
