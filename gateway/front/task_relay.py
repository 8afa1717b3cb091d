"""Tasks across replicas: ``tasks/get``, ``tasks/result`` and ``tasks/cancel`` for a task that
another replica created are asked of that replica, over the replica bus.

A task lives in the upstream session that runs it, which is the creating replica's own (a stdio
process, an HTTP session), so the replica that receives a question about a task it does not know
asks the others (:data:`TASK_CALL`); the one that knows it, for that principal, answers through
its own stack (policies and plugins judge it there as they would here) and publishes the answer
(:data:`TASK_ANSWER`). Whose each task is, is kept in Redis when it is made, so a question about
another principal's task, or an unknown one, is answered at once (unknown) without asking; nobody
answering within :data:`PATIENCE` seconds (the replica died): unknown too. ``tasks/list`` lists
the tasks of the replica that receives it.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable, Coroutine
from typing import Any, Final, Protocol

from middleware.protocol import (
    RESPONSE,
    MCPApp,
    MCPScope,
    Principal,
    Receive,
    Scope,
    Send,
    make_scope,
    response_event,
)

TASK_CALL: Final = "task_call"
TASK_ANSWER: Final = "task_answer"
RELAYED: Final = frozenset({"tasks/get", "tasks/result", "tasks/cancel"})
PATIENCE: Final = 30.0
"""Seconds to wait for the replica holding the task (``tasks/result`` waits for the result)."""


class Publisher(Protocol):
    replica: str

    async def publish(self, kind: str, session_id: str, payload: dict[str, Any]) -> None: ...

    async def remember(self, key: str, value: str, seconds: float) -> None: ...

    async def recall(self, key: str) -> str | None: ...


class KnowsTasks(Protocol):
    def knows(self, task_id: object, principal: str) -> bool: ...


class TaskRelay:
    """The relay of one replica: asks for the tasks it does not hold, answers for those it does."""

    def __init__(self, bus: Publisher, tasks: KnowsTasks, stacks: Callable[[str], MCPApp | None]) -> None:
        self.bus = bus
        self.tasks = tasks
        self.stacks = stacks
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._running: set[asyncio.Task[Any]] = set()

    def wrap(self, app: MCPApp, path: str) -> MCPApp:
        async def relayed(scope: Scope, receive: Receive, send: Send) -> None:
            if "task" in scope["params"]:  # a task-augmented request: its task is this replica's
                await app(scope, receive, self._claiming(scope, send))
                return
            task_id = scope["params"].get("taskId")
            principal = scope["principal"].name
            if scope["method"] not in RELAYED or self.tasks.knows(task_id, principal):
                await app(scope, receive, send)
                return
            owner = await self.bus.recall(f"task:{task_id}") if isinstance(task_id, str) else None
            answer = await self.ask(scope, path) if owner == principal else None
            if answer is None:
                await app(scope, receive, send)  # nobody holds it: unknown, said the usual way
                return
            await send(response_event({**answer, "id": scope["id"]}))

        return relayed

    def _claiming(self, scope: MCPScope, send: Send) -> Send:
        """``send``, recording in Redis whose the task is that the answer reports (so another
        replica asked about it knows at once whether to ask for it)."""
        principal = scope["principal"].name

        async def claim(event: Any) -> None:
            if event["type"] == RESPONSE:
                task = (event["message"].get("result") or {}).get("task")
                if isinstance(task, dict) and isinstance(task.get("taskId"), str):
                    ttl = task.get("ttl")
                    seconds = ttl / 1000 + 60 if isinstance(ttl, int) and ttl > 0 else 3600.0
                    await self.bus.remember(f"task:{task['taskId']}", principal, seconds)
            await send(event)

        return claim

    async def ask(self, scope: MCPScope, path: str) -> dict[str, Any] | None:
        call = secrets.token_hex(8)
        answer = asyncio.get_running_loop().create_future()
        self._waiting[call] = answer
        principal: Principal = scope["principal"]
        question = {
            "call": call,
            "from": self.bus.replica,
            "path": path,
            "method": scope["method"],
            "params": scope["params"],
            "principal": principal_fields(principal),
        }
        try:
            await self.bus.publish(TASK_CALL, scope["session_id"] or "", question)
            return await asyncio.wait_for(answer, PATIENCE)
        except TimeoutError:
            return None
        finally:
            self._waiting.pop(call, None)

    def heard(self, kind: str, session_id: str, payload: dict[str, Any]) -> None:
        if kind == TASK_ANSWER:
            waiting = self._waiting.get(str(payload.get("call")))
            if waiting is not None and not waiting.done() and payload.get("to") == self.bus.replica:
                waiting.set_result(dict(payload.get("message") or {}))
            return
        principal = principal_from(payload.get("principal"))
        stack = self.stacks(str(payload.get("path")))
        params = payload.get("params")
        task_id = params.get("taskId") if isinstance(params, dict) else None
        if principal is None or stack is None or not self.tasks.knows(task_id, principal.name):
            return  # not this replica's task (or not this principal's): another answers
        self._spawn(self._answer(stack, session_id or None, principal, payload))

    async def _answer(
        self, stack: MCPApp, session_id: str | None, principal: Principal, question: dict[str, Any]
    ) -> None:
        scope = make_scope(
            method=str(question["method"]),
            request_id=f"relayed-{question['call']}",
            params=question.get("params"),
            principal=principal,
            session_id=session_id,
            protocol_version="2025-11-25",
            client_capabilities={},
            client_info=None,
            server=None,
            http={},
        )
        answers: list[dict[str, Any]] = []

        async def keep(event: Any) -> None:
            if event["type"] == RESPONSE:
                answers.append(event["message"])

        async def no_input() -> Any:
            await asyncio.Event().wait()

        await stack(scope, no_input, keep)
        if answers:
            reply = {"call": question["call"], "to": question["from"], "message": answers[-1]}
            await self.bus.publish(TASK_ANSWER, session_id or "", reply)

    def _spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._running.add(task)
        task.add_done_callback(self._running.discard)


def principal_fields(principal: Principal) -> dict[str, Any]:
    return {
        "name": principal.name,
        "project": principal.project,
        "roles": sorted(principal.roles),
        "attributes": dict(principal.attributes),
        "scopes": None if principal.scopes is None else sorted(principal.scopes),
    }


def principal_from(fields: Any) -> Principal | None:
    if not isinstance(fields, dict) or not isinstance(fields.get("name"), str):
        return None
    scopes = fields.get("scopes")
    return Principal(
        fields["name"],
        attributes={str(k): str(v) for k, v in (fields.get("attributes") or {}).items()},
        project=fields.get("project"),
        roles=frozenset(fields.get("roles") or ()),
        scopes=None if scopes is None else frozenset(scopes),
    )
