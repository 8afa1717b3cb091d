"""Modern clients' calls, which may outlive one HTTP exchange (multi round-trip requests).

A 2026-07-28 client cannot be asked anything mid-call: when a legacy upstream asks (sampling,
elicitation, roots), the gateway answers the client ``input_required`` and *parks* the call,
still waiting upstream for its answer. The client's retry carries the answers and the
``requestState`` naming the parked call, which then resumes and streams into the retry's HTTP
response. A call parked longer than its token lives is cancelled, which cancels it upstream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final

from gateway.sessions import Inbox
from middleware.protocol import (
    CLIENT_RESPONSE,
    INTERNAL_ERROR,
    METHOD_NOT_FOUND,
    MISSING_CLIENT_CAPABILITY,
    MRTR_METHODS,
    NOTIFICATION,
    RESPONSE,
    SERVER_REQUEST,
    Event,
    MCPApp,
    Message,
    Scope,
    error_message,
)
from upstream.channel import CAPABILITY_OF, KNOWN_ANSWERS, UNANSWERABLE, question_digest
from upstream.channel import PARKED as PARKED_KEY
from upstream.interest import LOG_LEVELS

log = logging.getLogger("portcullis.endpoint")

QUESTION_GATHERING: Final = 0.05
"""Seconds to wait for more questions after one, before answering ``input_required``."""
LOG_RANK: Final = {level: rank for rank, level in enumerate(LOG_LEVELS)}


@dataclass(slots=True)
class ModernCall:
    """One call of a modern client, running in its own task; its events queue up between the
    HTTP exchanges that carry them to the client."""

    id: str
    method: str
    task: asyncio.Task[None] | None = None
    events: asyncio.Queue[Event | None] = field(default_factory=asyncio.Queue)
    inbox: Inbox = field(default_factory=Inbox)
    questions: dict[str, Message] = field(default_factory=dict)
    """Server requests the client has yet to answer, by the gateway id that keys them."""
    state: dict[str, Any] = field(default_factory=dict)
    """The call's scope state, shared with the channel that relays its questions."""
    unanswerable: dict[str, tuple[Message, str]] = field(default_factory=dict)
    """Questions the client cannot take (an undeclared capability), and why."""
    known: dict[str, Any] = field(default_factory=dict)
    """Every answer the client gave this call, by :func:`question_digest`: what a replay of
    the call on another replica needs so the client is not asked twice."""

    @classmethod
    def start(cls, app: MCPApp, scope: Scope) -> ModernCall:
        known = scope["state"].get(KNOWN_ANSWERS) or {}
        call = cls(id=secrets.token_hex(12), method=scope["method"], state=scope["state"], known=dict(known))
        call.task = asyncio.create_task(call._run(app, scope), name=f"modern:{scope['method']}")
        return call

    async def _run(self, app: MCPApp, scope: Scope) -> None:
        try:
            await app(scope, self.inbox.receive, self.events.put)
        except asyncio.CancelledError:
            raise
        except Exception:  # boundary: one broken call must not take the endpoint down
            log.exception("MCP call %s failed inside the gateway", scope["method"])
            await self.events.put(
                {
                    "type": RESPONSE,
                    "message": error_message(
                        scope["id"], INTERNAL_ERROR, "internal gateway error", fault="gateway"
                    ),
                }
            )
        finally:
            self.events.put_nowait(None)

    def answer(self, responses: dict[str, Any]) -> None:
        """Hand the client's answers to the questions they answer; the others stay open."""
        self.state[PARKED_KEY] = False
        for key in [k for k in self.questions if k in responses]:
            self.known[question_digest(self.questions.pop(key))] = responses[key]
            message = {"jsonrpc": "2.0", "id": key, "result": responses[key]}
            self.inbox.put({"type": CLIENT_RESPONSE, "message": message})

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()

    def resumption(self) -> dict[str, Any]:
        """What the ``requestState`` of this call carries: which call, what it asks, and what
        the client already answered (so another replica can replay it)."""
        asked = {key: question_digest(question) for key, question in self.questions.items()}
        return {"call": self.id, "asked": asked, "known": self.known}


def replay_answers(resumption: dict[str, Any], responses: dict[str, Any]) -> dict[str, Any]:
    """The answers a replay of a parked call starts with: all earlier ones, and this retry's."""
    known = dict(resumption.get("known") or {})
    for key, digest in (resumption.get("asked") or {}).items():
        if key in responses:
            known[digest] = responses[key]
    return known


@dataclass(frozen=True, slots=True)
class Exchange:
    """What one HTTP exchange carries of a call: the client's id, progress token, log level."""

    request_id: Any
    progress_token: Any
    log_level: str | None


ENDED: Final = "ended"
PARKED: Final = "parked"
GONE: Final = "gone"
REFUSED: Final = "refused"


async def carry(
    call: ModernCall,
    exchange: Exchange,
    write: Callable[[Event], Awaitable[None]],
    disconnected: asyncio.Future[None],
) -> str:
    """Carry the call's events to one HTTP exchange until it ends (``ENDED``), needs the client
    (``PARKED``; ``call.questions`` holds what to ask), can only ask what the client cannot
    answer (``REFUSED``; see ``call.unanswerable``), or the client goes (``GONE``)."""
    while True:
        getter = asyncio.ensure_future(call.events.get())
        waiting: set[asyncio.Future[Any]] = {getter, disconnected}
        # Questions asked together are answered together: give the others a moment to arrive.
        timeout = QUESTION_GATHERING if call.questions or call.unanswerable else None
        await asyncio.wait(waiting, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if not getter.done():
            getter.cancel()
            if disconnected.done():
                return GONE
            if not call.questions:
                return REFUSED
            _refuse(call, call.unanswerable)  # the upstream may manage without those
            return PARKED
        event = getter.result()
        if event is None:
            return ENDED
        kind, message = event["type"], event["message"]
        if kind == RESPONSE:
            await write({"type": RESPONSE, "message": {**message, "id": exchange.request_id}})
            return ENDED
        if kind == SERVER_REQUEST:
            if call.method not in MRTR_METHODS:
                why = f"a 2026-07-28 client cannot be asked anything during {call.method}"
                _refuse(call, {message["id"]: (message, why)})
            elif UNANSWERABLE in event:
                call.unanswerable[message["id"]] = (message, event[UNANSWERABLE])
            else:
                call.questions[message["id"]] = message
            continue
        if kind == NOTIFICATION:
            relayed = _for_exchange(message, exchange, call)
            if relayed is not None:
                await write({"type": NOTIFICATION, "message": relayed})


def _refuse(call: ModernCall, questions: dict[str, tuple[Message, str]]) -> None:
    """Answer these questions to the upstream with an error, as a legacy client would."""
    for key, (_, why) in list(questions.items()):
        refusal = error_message(key, METHOD_NOT_FOUND, why)
        call.inbox.put({"type": CLIENT_RESPONSE, "message": refusal})
    if questions is call.unanswerable:
        call.unanswerable.clear()


def missing_capability_error(call: ModernCall, request_id: Any) -> Message:
    """-32021 for a call that can only go on with what the client did not declare."""
    needed: dict[str, Any] = {}
    problems = []
    for question, why in call.unanswerable.values():
        method = str(question.get("method"))
        capability = CAPABILITY_OF.get(method, method)
        if method == "elicitation/create":
            needed.setdefault("elicitation", {})[(question.get("params") or {}).get("mode", "form")] = {}
        else:
            needed[capability] = {}
        problems.append(why)
    return error_message(
        request_id,
        MISSING_CLIENT_CAPABILITY,
        f"Missing required client capability: {'; '.join(problems)}",
        data={"requiredCapabilities": needed},
    )


def _for_exchange(message: Message, exchange: Exchange, call: ModernCall) -> Message | None:
    """A call's notification as this exchange's client should see it, or None to drop it."""
    method = message.get("method")
    params = message.get("params") or {}
    if method == "notifications/progress":
        if exchange.progress_token is None:
            return None
        return {**message, "params": {**params, "progressToken": exchange.progress_token}}
    if method == "notifications/message":
        wanted = exchange.log_level
        level = str(params.get("level", "emergency"))
        if wanted is None or LOG_RANK.get(level, 7) < LOG_RANK.get(wanted, 0):
            return None
        return message
    if method == "notifications/cancelled":
        # The upstream withdrew a question it asked; there is nothing to tell a modern client.
        call.questions.pop(params.get("requestId"), None)  # type: ignore[arg-type]
        return None
    return message


def input_required(call: ModernCall, request_state: str) -> dict[str, Any]:
    requests = {
        key: {
            "method": question["method"],
            **({"params": question["params"]} if "params" in question else {}),
        }
        for key, question in call.questions.items()
    }
    return {"resultType": "input_required", "inputRequests": requests, "requestState": request_state}


class ParkedCalls:
    """Calls waiting for their client's retry, on this replica; each is cancelled if its retry
    does not come within ``lifetime`` seconds. A waiting call holds an upstream call open, so
    one principal may keep at most ``per_principal`` of them waiting."""

    def __init__(self, lifetime: float, *, per_principal: int = 64) -> None:
        self._lifetime = lifetime
        self._per_principal = per_principal
        self._calls: dict[str, tuple[ModernCall, str, asyncio.TimerHandle]] = {}
        self._count: Counter[str] = Counter()

    def park(self, call: ModernCall, principal: str) -> bool:
        """Keep ``call`` for its retry; False (and nothing kept) if ``principal`` has too many."""
        if self._count[principal] >= self._per_principal:
            return False
        call.state[PARKED_KEY] = True
        timer = asyncio.get_running_loop().call_later(self._lifetime, self._abandon, call.id)
        self._calls[call.id] = (call, principal, timer)
        self._count[principal] += 1
        return True

    def take(self, call_id: str) -> ModernCall | None:
        """The parked call (it may have ended meanwhile: its answer is still queued)."""
        entry = self._pop(call_id)
        if entry is None:
            return None
        call, timer = entry
        timer.cancel()
        return call

    def _pop(self, call_id: str) -> tuple[ModernCall, asyncio.TimerHandle] | None:
        entry = self._calls.pop(call_id, None)
        if entry is None:
            return None
        call, principal, timer = entry
        self._count[principal] -= 1
        if not self._count[principal]:
            del self._count[principal]
        return call, timer

    def _abandon(self, call_id: str) -> None:
        entry = self._pop(call_id)
        if entry is not None:
            log.info("a parked %s was not retried in time; cancelled", entry[0].method)
            entry[0].cancel()

    def close(self) -> None:
        for call, _, timer in self._calls.values():
            timer.cancel()
            call.cancel()
        self._calls.clear()
        self._count.clear()

    def __len__(self) -> int:
        return len(self._calls)


async def wait_disconnect(receive: Callable[[], Awaitable[dict[str, Any]]]) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def watch_disconnect(receive: Callable[[], Awaitable[dict[str, Any]]]) -> asyncio.Task[None]:
    return asyncio.create_task(wait_disconnect(receive))


async def stop(task: asyncio.Task[Any]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
