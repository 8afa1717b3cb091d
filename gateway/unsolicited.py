"""Delivery of upstream messages that belong to no call: list changes to every session of the
endpoints that show the server, log messages to the sessions whose level lets them through,
resource updates to the sessions subscribed to that resource. They travel on each session's
GET stream."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Mapping
from typing import Final

from gateway.sessions import LiveSessions
from middleware.protocol import Message
from upstream.interest import Interest
from upstream.router import restore_interest
from upstream.supervisor import ServerSupervisor

log = logging.getLogger("portcullis")

LIST_CHANGED: Final = (
    "notifications/tools/list_changed",
    "notifications/prompts/list_changed",
    "notifications/resources/list_changed",
)


def endpoints_showing(server: str) -> set[str]:
    return {"/mcp", f"/servers/{server}/mcp"}


class Unsolicited:
    def __init__(
        self, live: LiveSessions, interest: Interest, supervisors: Mapping[str, ServerSupervisor]
    ) -> None:
        self._live = live
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
        elif method == "notifications/resources/updated":
            subscribers = self._interest.subscribers(server, str(params.get("uri")))
            self._live.send_to(subscribers, endpoints, message)
        else:
            log.debug("[%s] notification %s not relayed", server, method)

    def server_started(self, server: str) -> None:
        """A restart: what it offers may have changed, and it forgot levels and subscriptions."""
        if server in self._started_once:
            for method in LIST_CHANGED:
                self._live.broadcast(endpoints_showing(server), {"jsonrpc": "2.0", "method": method})
            self._spawn(restore_interest(self._supervisors[server], self._interest))
        self._started_once.add(server)

    def session_ended(self, session_id: str) -> None:
        for server, uri in self._interest.drop_session(session_id):
            self._spawn(self._unsubscribe(server, uri))

    async def _unsubscribe(self, server: str, uri: str) -> None:
        supervisor = self._supervisors[server]
        if supervisor.identity is None:
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

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
