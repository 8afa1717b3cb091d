"""One audit record per policy refusal, on the ``portcullis.audit`` logger.

The record is the audit trail's (:class:`~middleware.protocol.audit.AuditRecord`): verdict
"deny", ``by`` the rule. Its text form keeps the words policy refusals have always had
(``policy denied rule=...``) so that existing searches of the log still find them; the JSON
format writes the same keys as every other decision. It never carries argument values (the
likeliest place for secrets and personal data), only the names the request used.
"""

from __future__ import annotations

import logging
from typing import Final

from middleware.authz.policy import Denial
from middleware.protocol import Scope
from middleware.protocol.audit import AUDIT_LOGGER, audit_record, traced_decision

log = logging.getLogger(AUDIT_LOGGER)

TEMPLATE: Final = (
    "policy denied rule=%(by)s principal=%(principal)s project=%(project)s method=%(method)s "
    "server=%(server)s target=%(target)s reason=%(reason)s session=%(session)s verdict=%(verdict)s"
)


def audit(scope: Scope, denial: Denial, *, server: str | None, target: str) -> None:
    """Record that ``scope``'s request was refused (at warning: refusals are worth keeping
    where informational lines are not)."""
    record = audit_record(scope, "deny", by=denial.rule, reason=denial.reason, server=server, target=target)
    log.warning(TEMPLATE, record)
    traced_decision("policy", record)
