"""The "allow" half of the audit trail: a call that no layer refused is recorded once it is
answered. Refusals, redactions and flags are recorded by the layers that decide them (through
:mod:`middleware.protocol.audit`); this middleware sits outside them all and only reads the
refusal they marked in the call's state, so an allowed call costs one record and a dict lookup.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from middleware.protocol import MCPApp, Receive, Scope, Send
from middleware.protocol.audit import (
    AUDIT_LOGGER,
    AUDIT_TEMPLATE,
    AUDIT_VERDICT,
    AUDITED_METHODS,
    audit_record,
)


class AuditTrail:
    """Record each allowed call of ``methods`` (tools/call, prompts/get, resources/read)."""

    def __init__(
        self,
        app: MCPApp,
        *,
        include_allowed: bool = True,
        methods: Iterable[str] = AUDITED_METHODS,
        logger: str = AUDIT_LOGGER,
    ) -> None:
        self.app = app
        self.include_allowed = include_allowed
        self.methods = frozenset(methods)
        self.log = logging.getLogger(logger)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.include_allowed or scope["method"] not in self.methods:
            await self.app(scope, receive, send)
            return
        await self.app(scope, receive, send)
        # Only once answered: a call that raised was not allowed through to an answer, and
        # the error path (access log, fault) says what happened to it.
        if AUDIT_VERDICT not in scope["state"] and self.log.isEnabledFor(logging.INFO):
            self.log.info(AUDIT_TEMPLATE, audit_record(scope, "allow", by="-"))
