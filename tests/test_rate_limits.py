"""Rate limits in process: token buckets and caps on a fake clock, the rules' selectors and
keys, the middleware's answers and its slot bookkeeping, and the settings' messages."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import tomllib
from typing import Any

import pytest
from pydantic import ValidationError

from gateway.rate_limits import RateLimiting, limit_of
from gateway.settings import Settings
from gateway.settings.loading import explain
from middleware.authz.concurrency import ConcurrencyCaps
from middleware.authz.limit_buckets import TokenBuckets
from middleware.authz.limit_rules import Limit
from middleware.authz.limit_store import LocalLimits, Refusal, Slots
from middleware.authz.rate_limits import RATE_LIMITED, RateLimited, RateLimits
from middleware.protocol import Event, Principal, Receive, Scope, Send, response_event, result_message
from middleware.protocol.testing import call, make_test_scope
from tests.support import ROOT

ALICE = Principal("alice", project="acme")
BOB = Principal("bob", project="acme")
LONER = Principal("loner")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --- token buckets and caps ---------------------------------------------------------------


def test_a_bucket_gives_its_burst_then_refills_at_its_rate() -> None:
    buckets = TokenBuckets(rate=2.0, burst=3)
    for _ in range(3):
        assert buckets.wait("k", 0.0) == 0.0
        buckets.take("k")
    assert buckets.wait("k", 0.0) == pytest.approx(0.5)  # one token at 2/s
    assert buckets.wait("k", 0.25) == pytest.approx(0.25)
    assert buckets.wait("k", 0.5) == 0.0
    buckets.take("k")
    assert buckets.wait("k", 100.0) == 0.0  # never more than the burst
    for _ in range(3):
        buckets.take("k")
    assert buckets.wait("k", 100.0) > 0.0


def test_keys_have_their_own_buckets() -> None:
    buckets = TokenBuckets(rate=1.0, burst=1)
    assert buckets.wait("a", 0.0) == 0.0
    buckets.take("a")
    assert buckets.wait("a", 0.0) == pytest.approx(1.0)
    assert buckets.wait("b", 0.0) == 0.0


def test_full_buckets_go_first_when_the_table_is_full() -> None:
    buckets = TokenBuckets(rate=1.0, burst=1, max_keys=10)
    for index in range(10):
        buckets.wait(f"k{index}", 0.0)
        if index % 2:
            buckets.take(f"k{index}")  # odd keys are busy
    buckets.wait("new", 0.5)  # table full: the five untouched (full) buckets go
    assert len(buckets) == 6
    assert buckets.wait("k1", 0.5) > 0.0  # the busy ones kept their state


def test_when_every_bucket_is_busy_the_oldest_go_and_the_table_stays_bounded() -> None:
    buckets = TokenBuckets(rate=0.001, burst=1, max_keys=100)
    for index in range(1000):
        buckets.wait(f"k{index}", 0.0)
        buckets.take(f"k{index}")
        assert len(buckets) <= 100
    assert buckets.wait("k999", 0.0) > 0.0  # the newest are still counted


def test_a_cap_counts_calls_in_flight_and_forgets_idle_keys() -> None:
    caps = ConcurrencyCaps(2)
    caps.add("k")
    assert not caps.full("k")
    caps.add("k")
    assert caps.full("k") and caps.in_flight("k") == 2
    caps.remove("k")
    caps.remove("k")
    assert len(caps) == 0 and not caps.full("k")


async def test_a_call_refused_by_one_rule_takes_nothing_from_the_others() -> None:
    clock = Clock()
    store = LocalLimits(clock)
    loose = Limit("loose", rate=1.0, burst=5)
    tight = Limit("tight", rate=0.5, burst=1, max_concurrent=3)
    assert isinstance(store.take([(loose, "a"), (tight, "a")]), Slots)
    refusal = store.take([(loose, "a"), (tight, "a")])
    assert isinstance(refusal, Refusal) and refusal.limit is tight and refusal.wait == pytest.approx(2.0)
    assert store.buckets(loose).wait("a", clock.now) == 0.0
    assert store.caps(tight).in_flight("a") == 1  # the refused call took no slot either


def test_the_longest_wait_is_the_one_reported() -> None:
    store = LocalLimits(Clock())
    slow = Limit("slow", rate=0.1, burst=1)
    capped = Limit("capped", max_concurrent=1)
    store.take([(slow, "a"), (capped, "a")])
    refusal = store.take([(slow, "a"), (capped, "a")])
    assert isinstance(refusal, Refusal) and refusal.limit is slow and refusal.wait == pytest.approx(10.0)
    store.clock.now += 10  # type: ignore[attr-defined]
    refusal = store.take([(slow, "a"), (capped, "a")])
    assert isinstance(refusal, Refusal) and refusal.limit is capped and refusal.concurrent


# --- rules --------------------------------------------------------------------------------


def test_selectors_and_keys() -> None:
    per_principal = Limit("p", rate=1.0)
    assert per_principal.admits(ALICE) and per_principal.key(ALICE, None, None) == "alice"
    only_a = Limit("a", rate=1.0, principals=["al*"], per=["project"])
    assert only_a.admits(ALICE) and not only_a.admits(BOB)
    assert only_a.key(ALICE, None, None) == "acme"
    assert not Limit("proj", rate=1.0, per=["project"]).admits(LONER)  # no project, no project rule
    tool = Limit("t", rate=1.0, per=["principal", "tool"], servers=["alpha"], tools=["ec*"])
    assert tool.needs_target
    assert tool.key(ALICE, "alpha", "echo") == "alice\x1falpha/echo"
    assert tool.key(ALICE, "beta", "echo") is None
    assert tool.key(ALICE, "alpha", "add") is None
    assert tool.key(ALICE, None, "alpha__echo") is None  # unknown server: the selector misses
    long = Limit("l", rate=1.0, per=["tool"]).key(ALICE, None, "x" * 10_000)
    assert long is not None and len(long) < 100
    assert Limit("m", rate=1.0, methods=["tools/*", "prompts/get"]).counts_method("tools/list")
    assert not Limit("m", rate=1.0).counts_method("tools/list")


def test_the_refusal_names_the_rule_and_says_when_to_retry() -> None:
    error = RateLimited(Refusal(Limit("calls", rate=1.0), 0.2))
    assert error.http_status == 429 and error.fault == "policy" and error.code == RATE_LIMITED
    assert error.headers == [(b"retry-after", b"1")]  # at least one second, whole seconds
    message = error.to_message(7)["error"]
    assert message["data"] == {"limit": "calls", "retryAfter": 1, "fault": "policy"}
    assert "'calls'" in message["message"]
    capped = RateLimited(Refusal(Limit("slots", max_concurrent=2), 1.0, concurrent=True))
    assert "2 calls at once" in capped.message
    assert RateLimited(Refusal(Limit("x", rate=0.1), 9.01)).retry_after == 10


# --- the middleware -----------------------------------------------------------------------


async def answer(scope: Scope, receive: Receive, send: Send) -> None:
    await send(response_event(result_message(scope["id"], {"content": []})))


def limited(*limits: Limit, app: Any = answer, clock: Clock | None = None, **kw: Any) -> RateLimits:
    return RateLimits(app, limits=limits, store=LocalLimits(clock or Clock()), **kw)


def outcome(events: list[Event]) -> Any:
    message = events[-1]["message"]
    return message["error"]["data"]["limit"] if "error" in message else "ok"


async def test_a_burst_beyond_the_limit_is_refused_with_the_rules_name() -> None:
    app = limited(Limit("calls", rate=1.0, burst=2))
    scope = make_test_scope("tools/call", {"name": "echo"}, principal=ALICE)
    results = [outcome(await call(app, scope)) for _ in range(3)]
    assert results == ["ok", "ok", "calls"]
    assert outcome(await call(app, make_test_scope("tools/call", {"name": "echo"}, principal=BOB))) == "ok"
    assert outcome(await call(app, make_test_scope("tools/list", principal=ALICE))) == "ok"  # not counted


async def test_notifications_are_never_limited() -> None:
    seen: list[str] = []

    async def note(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["method"])

    app = limited(Limit("all", rate=0.001, burst=1, methods=["*"]), app=note)
    for _ in range(5):
        await call(app, make_test_scope("notifications/progress", request_id=None, principal=ALICE))
    assert len(seen) == 5


async def test_a_slot_is_given_back_before_the_answer_goes_out() -> None:
    store = LocalLimits(Clock())
    cap = Limit("one", max_concurrent=1)
    in_flight_when_answered: list[int] = []
    app = RateLimits(answer, limits=[cap], store=store)

    async def send(event: Event) -> None:
        in_flight_when_answered.append(store.caps(cap).in_flight("alice"))

    await app(make_test_scope("tools/call", {"name": "x"}, principal=ALICE), _no_input, send)
    assert in_flight_when_answered == [0]


@pytest.mark.parametrize("ending", ["error", "cancelled", "silent"])
async def test_a_slot_is_given_back_however_the_call_ends(ending: str) -> None:
    store = LocalLimits(Clock())
    cap = Limit("one", max_concurrent=1)
    started = asyncio.Event()

    async def ends_badly(scope: Scope, receive: Receive, send: Send) -> None:
        started.set()
        if ending == "error":
            raise RuntimeError("boom")
        if ending == "cancelled":
            await asyncio.sleep(60)

    app = RateLimits(ends_badly, limits=[cap], store=store)
    task = asyncio.create_task(call(app, make_test_scope("tools/call", {"name": "x"}, principal=ALICE)))
    await started.wait()
    if ending == "cancelled":
        assert store.caps(cap).in_flight("alice") == 1
        task.cancel()
    with (
        pytest.raises((asyncio.CancelledError, RuntimeError))
        if ending != "silent"
        else contextlib.nullcontext()
    ):
        await task
    assert store.caps(cap).in_flight("alice") == 0


async def test_a_cap_refuses_while_the_slots_are_taken() -> None:
    gate = asyncio.Event()

    async def slow(scope: Scope, receive: Receive, send: Send) -> None:
        await gate.wait()
        await answer(scope, receive, send)

    app = limited(Limit("two", max_concurrent=2), app=slow)
    scope = make_test_scope("tools/call", {"name": "x"}, principal=ALICE)
    running = [asyncio.create_task(call(app, scope)) for _ in range(2)]
    await asyncio.sleep(0)
    assert outcome(await call(app, scope)) == "two"
    gate.set()
    assert [outcome(await task) for task in running] == ["ok", "ok"]
    assert outcome(await call(app, scope)) == "ok"


async def test_prefixed_names_are_resolved_once_and_only_when_a_rule_needs_them() -> None:
    asked: list[tuple[str, str]] = []

    async def resolve(scope: Scope, list_method: str, name: str) -> tuple[str, str] | None:
        asked.append((list_method, name))
        server, _, tool = name.partition("__")
        return (server, tool) if tool else None

    by_tool = Limit("per-tool", rate=1.0, burst=1, per=["tool"], servers=["alpha"])
    also = Limit("echo-only", rate=1.0, burst=5, tools=["echo"])
    app = limited(by_tool, also, resolve=resolve)
    alice = {"principal": ALICE}
    assert outcome(await call(app, make_test_scope("tools/call", {"name": "alpha__echo"}, **alice))) == "ok"
    assert asked == [("tools/list", "alpha__echo")]
    assert (
        outcome(await call(app, make_test_scope("tools/call", {"name": "alpha__echo"}, **alice)))
        == "per-tool"
    )
    assert outcome(await call(app, make_test_scope("tools/call", {"name": "alpha__add"}, **alice))) == "ok"
    assert outcome(await call(app, make_test_scope("tools/call", {"name": "beta__echo"}, **alice))) == "ok"
    pinned = make_test_scope("tools/call", {"name": "echo"}, server="alpha", principal=ALICE)
    asked.clear()
    assert outcome(await call(app, pinned)) == "per-tool"  # the same tool, via its own endpoint
    assert asked == []  # a pinned endpoint knows its server
    plain = limited(Limit("p", rate=1.0), resolve=resolve)
    await call(plain, make_test_scope("tools/call", {"name": "alpha__echo"}, principal=ALICE))
    assert asked == []


async def _no_input() -> Event:
    raise AssertionError("no input expected")


# --- settings -----------------------------------------------------------------------------


def test_no_rules_cost_nothing() -> None:
    assert RateLimiting(Settings()).wrap(answer) is answer


def test_rules_from_settings() -> None:
    settings = Settings(
        rate_limits=[
            {"name": "calls", "rate": "600/min"},
            {"name": "slow", "rate": "5/10s", "burst": 2, "per": ["principal", "tool"], "max_concurrent": 3},
        ]
    )
    calls, slow = (limit_of(rule) for rule in settings.rate_limits)
    assert (calls.rate, calls.burst, calls.per, calls.max_concurrent) == (10.0, 600, ("principal",), None)
    assert (slow.rate, slow.burst, slow.per, slow.max_concurrent) == (0.5, 2, ("principal", "tool"), 3)
    assert isinstance(RateLimiting(settings).wrap(answer), RateLimits)


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        ([{"name": "a"}], "rate_limits[0]: rate limit 'a' limits nothing: set `rate`"),
        ([{"name": "a", "rate": "10/x"}], "rate_limits[0].rate: write it as COUNT/UNIT"),
        ([{"name": "a", "rate": "0/s"}], "rate_limits[0].rate: the count and the period must be at least 1"),
        ([{"name": "a", "burst": 3, "max_concurrent": 1}], "`burst` sizes a token bucket; set `rate` too"),
        ([{"name": "a", "rate": "1/s", "per": "user"}], 'rate_limits[0].per: must be one of "principal"'),
        ([{"name": "a b", "rate": "1/s"}], "rate_limits[0].name: use 1-64 letters"),
        ([{"name": "a", "rate": "1/s", "methods": ["notifications/x"]}], "notifications are never limited"),
        ([{"name": "a", "rate": "1/s"}, {"name": "a", "max_concurrent": 1}], "two rules are named 'a'"),
        ([{"name": "a", "max_concurrent": 0}], "rate_limits[0].max_concurrent: Input should be greater"),
    ],
)
def test_bad_rules_are_refused_naming_the_key_and_the_fix(rules: list[dict[str, Any]], expected: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(rate_limits=rules)
    assert any(expected in explain(error) for error in caught.value.errors()), caught.value.errors()


def test_the_documented_examples_are_real() -> None:
    """docs/rate-limits.md: its settings load, its error lines are ours, its answers are ours."""
    text = (ROOT / "docs" / "rate-limits.md").read_text()
    blocks = re.findall(r"```(\w*)\n(.*?)```", text, re.S)
    [toml_text] = [body for lang, body in blocks if lang == "toml"]
    rules = Settings(**tomllib.loads(toml_text)).rate_limits
    assert [rule.name for rule in rules][:2] == ["calls-per-principal", "acme"]
    [errors] = [body for lang, body in blocks if lang == ""]
    problems: list[str] = []
    for bad in (
        [{"name": "a", "rate": "10/x"}],
        [{"name": "a", "rate": "1/s"}, {"name": "a", "rate": "2/s"}],
    ):
        with pytest.raises(ValidationError) as caught:
            Settings(rate_limits=bad)
        problems += [explain(error) for error in caught.value.errors()]
    assert errors.splitlines() == problems
    [answers] = [body for lang, body in blocks if lang == "json"]
    ours = [
        RateLimited(Refusal(Limit("per-user", rate=1 / 6, burst=20), 5.2)).to_message(7),
        RateLimited(Refusal(Limit("one-search", max_concurrent=2), 1.0, concurrent=True)).to_message(8),
    ]
    assert [json.loads(line) for line in answers.splitlines()] == ours
