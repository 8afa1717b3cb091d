"""Modern clients' calls, which may outlive one HTTP exchange (multi round-trip requests).

A 2026-07-28 client cannot be asked anything mid-call: when a legacy upstream asks (sampling,
elicitation, roots), the gateway answers the client ``input_required`` and *parks* the call,
still waiting upstream for its answer. The client's retry carries the answers and the
``requestState`` naming the parked call, which then resumes and streams into the retry's HTTP
response. A call parked longer than its token lives is cancelled, which cancels it upstream.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import secrets
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final

from gateway.front.client_stream import wait_disconnect
from gateway.front.failures import failure_message
from gateway.front.sessions import Inbox
from middleware.protocol import (
    CLIENT_RESPONSE,
    METHOD_NOT_FOUND,
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
from middleware.protocol.errors import MissingClientCapability
from middleware.protocol.questions import CAPABILITY_OF, question_digest
from middleware.protocol.scope import KNOWN_ANSWERS
from middleware.protocol.scope import PARKED as PARKED_KEY
from upstream.routing.interest import LOG_LEVELS

log = logging.getLogger("portcullis.endpoint")

QUESTION_GATHERING: Final = 0.05
"""Seconds to wait for more questions after one, before answering ``input_required``."""
LOG_RANK: Final = {level: rank for rank, level in enumerate(LOG_LEVELS)}


@dataclass(slots=True)
class ModernCall:
    """One call of a modern client, run in a task of its own (:meth:`start`) that outlives the
    HTTP exchange that started it while the call is parked. While an exchange carries it (see
    :func:`attach`), its events go straight to that exchange; between exchanges they wait in
    ``backlog``."""

    id: str
    method: str
    task: asyncio.Task[None] | None = None
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
    backlog: list[Event] = field(default_factory=list)
    finished: bool = False
    carrier: Carrier | None = None

    on_purpose: bool = False
    """Set when the gateway cancels the call itself (its client left, it cannot go on, or it
    waited too long): the task running it ends quietly."""

    @classmethod
    def new(cls, scope: Scope) -> ModernCall:
        known = scope["state"].get(KNOWN_ANSWERS) or {}
        return cls(id=secrets.token_hex(12), method=scope["method"], state=scope["state"], known=dict(known))

    def start(self, app: MCPApp, scope: Scope) -> None:
        """Run the call in its own task: the request's task carries the exchange meanwhile,
        and ends it (answered, parked, refused, or its client gone) while the call goes on."""
        self.task = asyncio.create_task(self._run(app, scope), name=f"modern-call:{self.method}")

    async def _run(self, app: MCPApp, scope: Scope) -> None:
        try:
            await app(scope, self.inbox.receive, self._emit)
        except asyncio.CancelledError:
            if not self.on_purpose:
                raise
            if self.task is not None:
                self.task.uncancel()
        except Exception as exc:  # boundary: one broken call must not take the endpoint down
            await self._emit({"type": RESPONSE, "message": failure_message(scope, exc)})
        finally:
            self.finished = True
            if self.carrier is not None:
                self.carrier.finish(Outcome.ENDED)

    async def _emit(self, event: Event) -> None:
        carrier = self.carrier
        if carrier is None:
            self.backlog.append(event)
        else:
            await carrier.take(event)

    def answer(self, responses: dict[str, Any]) -> None:
        """Hand the client's answers to the questions they answer; the others stay open."""
        self.state[PARKED_KEY] = False
        for key in [k for k in self.questions if k in responses]:
            self.known[question_digest(self.questions.pop(key))] = responses[key]
            message = {"jsonrpc": "2.0", "id": key, "result": responses[key]}
            self.inbox.put({"type": CLIENT_RESPONSE, "message": message})

    def cancel(self) -> None:
        """Cancel the call (and so its upstream call) on the gateway's own initiative."""
        self.on_purpose = True
        if self.task is not None and not self.finished:
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


class Outcome(enum.Enum):
    """How an HTTP exchange carrying a call ends."""

    ENDED = "ended"
    """The call ended: its response went to this exchange."""
    PARKED = "parked"
    """It needs the client: ``call.questions`` go back as ``input_required``."""
    REFUSED = "refused"
    """It only asks what the client cannot answer (``call.unanswerable``): -32021."""
    GONE = "gone"
    """The client left, which cancels a 2026-07-28 call."""


class Carrier:
    """Takes a call's events into one HTTP exchange, and says how the exchange ends: the
    outcome is decided in one place (:meth:`finish`), and only once."""

    def __init__(
        self, call: ModernCall, exchange: Exchange, write: Callable[[Event], Awaitable[None]]
    ) -> None:
        self.call = call
        self.exchange = exchange
        self.write = write
        self.done: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._gathering: asyncio.TimerHandle | None = None

    async def take(self, event: Event) -> None:
        call, kind, message = self.call, event["type"], event["message"]
        if kind == RESPONSE:
            if self._gathering is not None:
                self._gathering.cancel()
            await self.write({"type": RESPONSE, "message": {**message, "id": self.exchange.request_id}})
            self.finish(Outcome.ENDED)
        elif kind == SERVER_REQUEST:
            if call.method not in MRTR_METHODS:
                why = f"a 2026-07-28 client cannot be asked anything during {call.method}"
                _refuse(call, {message["id"]: (message, why)})
                return
            problem = event.get("unanswerable") if event["type"] == SERVER_REQUEST else None
            if problem is not None:
                call.unanswerable[message["id"]] = (message, problem)
            else:
                call.questions[message["id"]] = message
            self.gather()
        elif kind == NOTIFICATION:
            relayed = _for_exchange(message, self.exchange, call)
            if relayed is not None:
                await self.write({"type": NOTIFICATION, "message": relayed})

    def gather(self) -> None:
        """Questions asked together are answered together: give the others a moment."""
        if self._gathering is not None:
            self._gathering.cancel()
        self._gathering = asyncio.get_running_loop().call_later(QUESTION_GATHERING, self._asked)

    def _asked(self) -> None:
        if not self.call.questions:
            self.finish(Outcome.REFUSED)
            return
        _refuse(self.call, self.call.unanswerable)  # the upstream may manage without those
        self.finish(Outcome.PARKED)

    def client_left(self) -> None:
        """Closing the stream is how a 2026-07-28 client cancels."""
        if not self.done.done():
            self.finish(Outcome.GONE)
            self.call.cancel()

    def finish(self, outcome: Outcome) -> None:
        """End the exchange (the first outcome wins): the call's events wait in its backlog
        from now on, for the next exchange."""
        if self._gathering is not None:
            self._gathering.cancel()
        if self.done.done():
            return
        if self.call.carrier is self:
            self.call.carrier = None
        self.done.set_result(outcome)


async def attach(call: ModernCall, exchange: Exchange, write: Callable[[Event], Awaitable[None]]) -> Carrier:
    """Let ``exchange`` carry ``call`` from now on: what waited in the backlog first. The
    carrier's ``done`` says how the exchange ends (an :class:`Outcome`)."""
    carrier = Carrier(call, exchange, write)
    call.carrier = carrier
    while call.backlog and not carrier.done.done():
        await carrier.take(call.backlog.pop(0))
    if call.finished:
        carrier.finish(Outcome.ENDED)
    elif call.questions or call.unanswerable:
        carrier.gather()
    return carrier


class Watchdog:
    """Notices a client leaving an exchange that lasts (closing the stream cancels a 2026-07-28
    call). Short calls end before it starts: no task is spent on them."""

    GRACE: Final = 0.25

    def __init__(self, receive: Callable[[], Awaitable[dict[str, Any]]], on_gone: Callable[[], None]) -> None:
        self._receive = receive
        self._on_gone = on_gone
        self._task: asyncio.Task[None] | None = None
        self._timer = asyncio.get_running_loop().call_later(self.GRACE, self._start)

    def _start(self) -> None:
        self._task = asyncio.create_task(self._watch())

    async def _watch(self) -> None:
        await wait_disconnect(self._receive)
        self._on_gone()

    def stop(self) -> None:
        self._timer.cancel()
        if self._task is not None:
            self._task.cancel()


def _refuse(call: ModernCall, questions: dict[str, tuple[Message, str]]) -> None:
    """Answer these questions to the upstream with an error, as a legacy client would."""
    for key, (_, why) in list(questions.items()):
        refusal = error_message(key, METHOD_NOT_FOUND, why)
        call.inbox.put({"type": CLIENT_RESPONSE, "message": refusal})
    if questions is call.unanswerable:
        call.unanswerable.clear()


def missing_capability_error(call: ModernCall) -> MissingClientCapability:
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
    return MissingClientCapability(
        f"Missing required client capability: {'; '.join(problems)}", data={"requiredCapabilities": needed}
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

    def __len__(self) -> int:
        """Calls waiting here for their retry (the metrics' gauge)."""
        return len(self._calls)

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

    def resumed_elsewhere(self, call_id: str) -> None:
        """Another replica replayed this call: the copy parked here is not needed any more."""
        self._let_go(call_id, "was resumed on another replica")

    def _abandon(self, call_id: str) -> None:
        self._let_go(call_id, "was not retried in time")

    def _let_go(self, call_id: str, why: str) -> None:
        call = self.take(call_id)
        if call is not None:
            log.info("a %s parked here %s; cancelled here", call.method, why)
            call.cancel()

    def close(self) -> None:
        for call, _, timer in self._calls.values():
            timer.cancel()
            call.cancel()
        self._calls.clear()
        self._count.clear()
