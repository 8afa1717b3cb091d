"""One audit line per policy refusal, on the ``portcullis.audit`` logger.

The fields are logged as one mapping, the access log's shape: the JSON log format writes each as
its own key, the text format reads ``rule=... principal=...``. The line says who was refused,
by which rule, for what and why; it never carries argument values (the likeliest place for
secrets and personal data), only the names the request used to say what it wanted.
"""

from __future__ import annotations

import logging
from typing import Final

from middleware.authz.policy import Denial
from middleware.protocol import Scope

log = logging.getLogger("portcullis.audit")

TEMPLATE: Final = (
    "policy denied rule=%(rule)s principal=%(principal)s project=%(project)s method=%(method)s "
    "server=%(server)s target=%(target)s reason=%(reason)s session=%(session)s"
)
_TARGET_CHARS: Final = 200
"""A target name or URI is cut to this many characters, as in the access log."""


def audit(scope: Scope, denial: Denial, *, server: str | None, target: str) -> None:
    """Record that ``scope``'s request was refused (at warning: refusals are worth keeping
    where informational lines are not)."""
    principal = scope["principal"]
    session = scope["session_id"]
    log.warning(
        TEMPLATE,
        {
            "event": "policy.denied",
            "rule": denial.rule,
            "principal": principal.name,
            "project": principal.project or "-",
            "method": scope["method"],
            "server": server or scope["server"] or "-",
            "target": target if len(target) <= _TARGET_CHARS else target[:_TARGET_CHARS] + "...",
            "reason": denial.reason,
            "session": session[:8] if session else "-",
        },
    )
