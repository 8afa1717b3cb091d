"""Server-to-client questions (sampling, elicitation, roots) as the contract names them: which
capability each needs, what identifies one across replays of a call, and how a question the
client cannot take is marked on its event."""

from __future__ import annotations

import hashlib
from typing import Any, Final

import orjson

from middleware.protocol.jsonrpc import Message

CAPABILITY_OF: Final = {
    "sampling/createMessage": "sampling",
    "elicitation/create": "elicitation",
    "roots/list": "roots",
}
UNANSWERABLE: Final = "unanswerable"
"""On a server-request event: why the client cannot take it (a capability it did not declare)."""


def question_digest(request: Message) -> str:
    """What identifies a server-to-client question across replays of the call that asks it."""
    body = orjson.dumps([request.get("method"), request.get("params")], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(body).hexdigest()[:32]


def missing_capability(client_capabilities: dict[str, Any], request: Message) -> str | None:
    """Why the client cannot take ``request``, or None when it declared what it needs."""
    method = request.get("method", "")
    needed = CAPABILITY_OF.get(method)
    if needed is None:
        return None
    declared = client_capabilities.get(needed)
    if not isinstance(declared, dict):
        return f"the client did not declare the {needed!r} capability, so {method!r} cannot reach it"
    if method == "elicitation/create":
        mode = (request.get("params") or {}).get("mode", "form")
        # An empty elicitation capability means form mode only (2025-11-25).
        supported = set(declared) or {"form"}
        if mode not in supported:
            return f"the client does not support {mode!r} elicitation"
    return None
