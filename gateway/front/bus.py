"""What a replica tells the others about live state it does not hold (DESIGN.md, "Sessions and
scale"): behind a load balancer, a session's requests land on any replica, but a call runs,
and waits, on the replica that received it.

Two things from a client must reach the call they are for, wherever it runs:

- its answer to a server request (sampling, elicitation, roots) that the call relayed to it;
- its ``notifications/cancelled`` for a request in flight.

The replica that received one and does not hold the call publishes it; every replica hears it,
and the one that holds the call delivers it (:func:`deliver`). In one process there is no bus.
"""

from __future__ import annotations

from typing import Any, Final, Protocol

from gateway.front.sessions import LiveSessions
from middleware.protocol import CLIENT_RESPONSE as CLIENT_RESPONSE_EVENT

CLIENT_RESPONSE: Final = "client_response"
CANCEL: Final = "cancel"


class ReplicaBus(Protocol):
    async def publish(self, kind: str, session_id: str, payload: dict[str, Any]) -> None:
        """Tell the other replicas (``kind``: :data:`CLIENT_RESPONSE` or :data:`CANCEL`)."""
        ...


def deliver(live: LiveSessions, kind: str, session_id: str, payload: dict[str, Any]) -> bool:
    """What another replica published, to the call it is for if this replica holds it."""
    if kind == CANCEL:
        return live.cancel(session_id, payload.get("requestId"))
    session = live.existing(session_id)
    if kind != CLIENT_RESPONSE or session is None:
        return False
    inbox = session.awaiting.pop(payload.get("id"), None)
    if inbox is None:
        return False
    inbox.put({"type": CLIENT_RESPONSE_EVENT, "message": payload})
    return True
