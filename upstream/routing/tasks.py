"""Tasks (2025-11-25, experimental) through a gateway: ids mapped, and bound to their owner.

Upstream task ids are only unique per upstream, and a shared upstream session would let any
client reach any task, so the gateway mints its own unguessable ids, remembers which server
and upstream id each stands for, and who created it (principal and session); another
principal's task id answers exactly like an unknown one.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Final

from upstream.errors import UpstreamError
from upstream.pool.supervisor import Supervisor

log = logging.getLogger("portcullis.router")

RELATED_TASK: Final = "io.modelcontextprotocol/related-task"
DEFAULT_TTL_MS: Final = 3_600_000
MAX_TASKS: Final = 100_000


@dataclass(frozen=True, slots=True)
class TaskEntry:
    server: str
    upstream_id: str
    principal: str
    session_id: str | None
    expires: float


class TaskMap:
    def __init__(self) -> None:
        self._by_gateway_id: OrderedDict[str, TaskEntry] = OrderedDict()
        self._by_upstream: dict[tuple[str, str], str] = {}

    def adopt(self, server: str, task: dict[str, Any], principal: str, session_id: str | None) -> str:
        """Record an upstream task; returns the id the client sees."""
        upstream_id = str(task["taskId"])
        known = self._by_upstream.get((server, upstream_id))
        if known is not None:
            return known
        gateway_id = secrets.token_urlsafe(24)
        ttl = task.get("ttl")
        ttl_ms = ttl if isinstance(ttl, int) and ttl > 0 else DEFAULT_TTL_MS
        self._by_gateway_id[gateway_id] = TaskEntry(
            server, upstream_id, principal, session_id, time.monotonic() + ttl_ms / 1000 + 60
        )
        self._by_upstream[(server, upstream_id)] = gateway_id
        self._evict()
        return gateway_id

    def resolve(self, gateway_id: object, principal: str) -> TaskEntry | None:
        entry = self._by_gateway_id.get(gateway_id) if isinstance(gateway_id, str) else None
        if entry is None or entry.principal != principal or entry.expires < time.monotonic():
            return None
        return entry

    def knows(self, gateway_id: object, principal: str) -> bool:
        """Is this ``principal``'s task held here (by this replica)?"""
        return self.resolve(gateway_id, principal) is not None

    def gateway_id(self, server: str, upstream_id: object) -> str | None:
        return self._by_upstream.get((server, str(upstream_id)))

    def owned_by(self, principal: str) -> list[tuple[str, TaskEntry]]:
        now = time.monotonic()
        return [
            (g, e) for g, e in self._by_gateway_id.items() if e.principal == principal and e.expires >= now
        ]

    def entry(self, gateway_id: str) -> TaskEntry | None:
        return self._by_gateway_id.get(gateway_id)

    def _evict(self) -> None:
        now = time.monotonic()
        while self._by_gateway_id and (
            len(self._by_gateway_id) > MAX_TASKS or next(iter(self._by_gateway_id.values())).expires < now
        ):
            _, entry = self._by_gateway_id.popitem(last=False)
            self._by_upstream.pop((entry.server, entry.upstream_id), None)


def rewrite_task_ids(value: Any, mapping: dict[str, str]) -> Any:
    """A copy of ``value`` with every ``taskId`` (and related-task meta) translated."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key == "taskId" and isinstance(item, str) and item in mapping:
                out[key] = mapping[item]
            else:
                out[key] = rewrite_task_ids(item, mapping)
        return out
    if isinstance(value, list):
        return [rewrite_task_ids(item, mapping) for item in value]
    return value


MAX_UPSTREAM_PAGES: Final = 100


async def list_upstream_tasks(
    supervisor: Supervisor, session: str | None, mapping: dict[str, str]
) -> list[dict[str, Any]]:
    """The tasks of ``mapping`` (upstream id -> gateway id) that ``supervisor``'s server lists,
    under their gateway ids; none when the server does not list tasks or cannot answer."""
    identity = supervisor.identity
    if identity is None or "list" not in (identity.capabilities.get("tasks") or {}):
        return []
    tasks: list[dict[str, Any]] = []
    try:
        connection = await supervisor.connection(session)
        params: dict[str, Any] = {}
        for _ in range(MAX_UPSTREAM_PAGES):
            result = (await connection.request("tasks/list", params or None)).get("result") or {}
            for task in result.get("tasks") or ():
                if isinstance(task, dict) and str(task.get("taskId")) in mapping:
                    tasks.append(rewrite_task_ids(task, mapping))
            if not result.get("nextCursor"):
                break
            params = {"cursor": result["nextCursor"]}
    except UpstreamError as exc:
        log.warning("%s; its tasks are left out of tasks/list", exc)
    return tasks
