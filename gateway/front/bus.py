"""What a replica tells the others about live state it does not hold (DESIGN.md, "Sessions and
scale"): behind a load balancer, a session's requests land on any replica, but a call runs,
and waits, on the replica that received it.

Two things from a client must reach the call they are for, wherever it runs:

- its answer to a server request (sampling, elicitation, roots) that the call relayed to it;
- its ``notifications/cancelled`` for a request in flight.

And two things go the other way: a message for a session's GET stream, from the replica whose
upstream sent it to the replica where the stream is open; and the end of a session, so that
every replica lets go of what it holds of it.

The replica that received one and does not hold the call publishes it; every replica hears it,
and the one that holds the call delivers it (:func:`deliver`). In one process there is no bus.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, Final, Protocol

from gateway.front.sessions import EndReason, LiveSessions, SessionEnds
from middleware.protocol import CLIENT_RESPONSE as CLIENT_RESPONSE_EVENT

CLIENT_RESPONSE: Final = "client_response"
CANCEL: Final = "cancel"
STREAM: Final = "stream"
"""A message for a session's GET stream (a resource update, a log line, a task status) from the
replica whose upstream sent it, for the replica where that stream is open."""
TASKS: Final = frozenset({"task_call", "task_answer"})
"""Questions about a task another replica holds, and their answers (gateway/front/task_relay.py)."""
ENDED: Final = "ended"
"""The session ended on one replica (deleted, expired): the others let go of what they hold."""


class ReplicaBus(Protocol):
    async def publish(self, kind: str, session_id: str, payload: dict[str, Any]) -> None:
        """Tell the other replicas (``kind``: :data:`CLIENT_RESPONSE` or :data:`CANCEL`)."""
        ...


def deliver(live: LiveSessions, kind: str, session_id: str, payload: dict[str, Any]) -> bool:
    """What another replica published, to the call (or the stream) it is for if this replica
    holds it. (:data:`ENDED` is the composition root's: it ends the session's state here.)"""
    if kind == CANCEL:
        return live.cancel(session_id, payload.get("requestId"))
    if kind == STREAM:
        held = live.existing(session_id)
        attached = held is not None and held.stream_attached
        return attached and live.send_to([session_id], None, payload, forward=False) == 1
    session = live.existing(session_id)
    if kind != CLIENT_RESPONSE or session is None:
        return False
    inbox = session.awaiting.pop(payload.get("id"), None)
    if inbox is None:
        return False
    inbox.put({"type": CLIENT_RESPONSE_EVENT, "message": payload})
    return True


class ReplicaLink:
    """This replica's side of the bus: what it hands on, and what it does with what it hears."""

    def __init__(
        self,
        bus: ReplicaBus,
        live: LiveSessions,
        ends: SessionEnds,
        relay: Callable[[str, str, dict[str, Any]], None] | None = None,
    ) -> None:
        self.bus = bus
        self.live = live
        self.ends = ends
        self.relay = relay
        """Where questions and answers about tasks go (gateway/front/task_relay.py)."""
        self._tasks: set[asyncio.Task[Any]] = set()
        live.elsewhere = self.hand_on

    def hand_on(self, session_id: str, message: dict[str, Any]) -> None:
        """A message for a GET stream that is not open here (called where no await is possible)."""
        self._spawn(self.bus.publish(STREAM, session_id, message))

    async def ended(self, session_id: str) -> None:
        """A session holder: the session ended here, so the others let go of it too."""
        await self.bus.publish(ENDED, session_id, {})

    def heard(self, kind: str, session_id: str, payload: dict[str, Any]) -> None:
        if kind in TASKS:
            if self.relay is not None:
                self.relay(kind, session_id, payload)
        elif kind != ENDED:
            deliver(self.live, kind, session_id, payload)
        elif self.live.existing(session_id) is not None:
            self._spawn(self.ends.end(session_id, EndReason.ENDED_ELSEWHERE))

    def _spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
