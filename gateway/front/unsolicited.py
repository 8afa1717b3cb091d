"""Delivery of upstream messages that belong to no call: list changes to every session of the
endpoints that show the server, log messages to the sessions whose level lets them through,
resource updates to the sessions subscribed to that resource. They travel on each session's
GET stream."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Mapping
from typing import Any, Final

from gateway.front.sessions import Inbox, LiveSession, LiveSessions
from middleware.protocol import METHOD_NOT_FOUND, Message, error_message
from middleware.protocol.questions import missing_capability
from upstream.pool.supervisor import Supervisor
from upstream.routing.interest import Interest
from upstream.routing.log_levels import restore_interest
from upstream.routing.tasks import TaskMap, rewrite_task_ids
from upstream.session.channel import relayed_request_id

log = logging.getLogger("portcullis")

LIST_CHANGED: Final = (
    "notifications/tools/list_changed",
    "notifications/prompts/list_changed",
    "notifications/resources/list_changed",
)

STREAM_GRACE: Final = 5.0
"""How long a server request outside any call waits for the client to open its GET stream: a
client opens it just after initializing, and reopens it after a dropped connection."""


def endpoints_showing(server: str) -> set[str]:
    return {"/mcp", f"/servers/{server}/mcp"}


class SessionChannel:
    """A gateway session's own GET stream, for what its per-client upstream sends outside any
    call: notifications, and server requests whose answers come back by id."""

    def __init__(self, live: LiveSessions, session_id: str, capabilities: dict[str, Any]) -> None:
        self._live = live
        self._session_id = session_id
        self._capabilities = capabilities
        self.speaks_mrtr = False
        self.log_level: str | None = None
        self.waiting_on_client = False

    @property
    def client_capabilities(self) -> dict[str, Any]:
        return self._capabilities

    async def notify(self, message: Message) -> None:
        self._live.send_to([self._session_id], None, message)

    async def _live_with_stream(self) -> LiveSession | None:
        """The session's live state once its GET stream is open, waiting up to
        :data:`STREAM_GRACE` for it (as it was, if it never opens)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STREAM_GRACE
        while True:
            live = self._live.existing(self._session_id)
            if live is None or live.stream is not None or loop.time() >= deadline:
                return live
            await asyncio.sleep(0.05)

    async def ask(self, request: Message) -> Message:
        problem = missing_capability(self._capabilities, request)
        live = await self._live_with_stream() if problem is None else None
        if problem is None and (live is None or live.stream is None):
            problem = f"the client has no GET stream open, so {request.get('method')!r} cannot reach it"
        if problem is not None or live is None or live.stream is None:
            return error_message(None, METHOD_NOT_FOUND, problem or "the client is gone")
        gateway_id = relayed_request_id("s")
        inbox = Inbox()
        live.awaiting[gateway_id] = inbox
        try:
            live.stream.put_nowait({**request, "id": gateway_id})
            answer: Message = (await inbox.receive())["message"]
            return answer
        finally:
            live.awaiting.pop(gateway_id, None)


class Unsolicited:
    def __init__(
        self,
        live: LiveSessions,
        interest: Interest,
        supervisors: Mapping[str, Supervisor],
        task_map: TaskMap,
    ) -> None:
        self._live = live
        self._task_map = task_map
        self._interest = interest
        self._supervisors = supervisors
        self._started_once: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def notification(self, server: str, message: Message) -> None:
        method = message.get("method")
        params = message.get("params") or {}
        endpoints = endpoints_showing(server)
        if method in LIST_CHANGED:
            self._live.broadcast(endpoints, message)
        elif method == "notifications/message":
            listeners = self._interest.log_listeners(str(params.get("level", "emergency")))
            self._live.send_to(listeners, endpoints, message)
        elif method == "notifications/tasks/status":
            self._task_status(server, message)
        elif method == "notifications/resources/updated":
            subscribers = self._interest.subscribers(server, str(params.get("uri")))
            self._live.send_to(subscribers, endpoints, message)
        else:
            log.debug("[%s] notification %s not relayed", server, method)

    def _task_status(self, server: str, message: Message) -> None:
        """A task's status goes to the session that created the task, under the gateway's id."""
        upstream_id = (message.get("params") or {}).get("taskId")
        gateway_id = self._task_map.gateway_id(server, upstream_id)
        entry = self._task_map.entry(gateway_id) if gateway_id else None
        if gateway_id is None or entry is None or entry.session_id is None:
            return
        self._live.send_to(
            [entry.session_id], None, rewrite_task_ids(message, {str(upstream_id): gateway_id})
        )

    def server_started(self, server: str) -> None:
        """A restart: what it offers may have changed, and it forgot levels and subscriptions."""
        if server in self._started_once:
            for method in LIST_CHANGED:
                self._live.broadcast(endpoints_showing(server), {"jsonrpc": "2.0", "method": method})
            self._spawn(restore_interest(self._supervisors[server], self._interest))
        self._started_once.add(server)

    async def session_ended(self, session_id: str) -> None:
        """A session holder: release its per-client upstream sessions and its interest."""
        for supervisor in self._supervisors.values():
            supervisor.release(session_id)
        for server, uri in self._interest.drop_session(session_id):
            self._spawn(self._unsubscribe(server, uri))

    async def _unsubscribe(self, server: str, uri: str) -> None:
        """Release an upstream subscription nobody held, in its turn: a session that took it
        up since (before this task ran) keeps it, and no subscribe overtakes this one."""
        supervisor = self._supervisors[server]
        if supervisor.identity is None or supervisor.spec.per_client:
            return
        async with self._interest.ordered(server, uri):
            if self._interest.held(server, uri):
                return
            connection = await supervisor.connection()
            await connection.request("resources/unsubscribe", {"uri": uri})

    def _spawn(self, work: Awaitable[None]) -> None:
        async def run() -> None:
            try:
                await work
            except Exception:  # boundary: background upkeep must not die silently
                log.exception("background upstream upkeep failed")

        task = asyncio.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def upkeep_pending(self) -> int:
        """How many background upkeep calls (upstream unsubscribes, restores) are in flight."""
        return len(self._tasks)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
