"""Front-door fuzz inputs, generated with hypothesis.

hypothesis's ``@given`` loop runs a few thousand examples a second at best, too slow to drive
100,000 requests. So its engine fills *pools* instead (:func:`pool`: one ``@given`` run per
pool, with a fixed seed, which collects every example it generates): JSON-RPC messages and
JSON values, header mutations, request lines and raw framing. Each input sent is then a
combination of one draw from each pool, picked by a seeded :class:`random.Random`, in one of
three eras (a legacy client inside a session, a 2026-07-28 client with ``_meta`` and mirrored
headers, or a client that says neither). Pools of a few thousand give far more than 100,000
distinct inputs, and a run is reproducible from its seed.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as seeded
from hypothesis import strategies as st

from middleware.protocol import META_PROTOCOL_VERSION
from middleware.protocol.headers import request_headers

T = TypeVar("T")
MODERN = "2026-07-28"
METHODS = [
    "initialize", "ping", "tools/list", "tools/call", "resources/list", "resources/read",
    "resources/templates/list", "resources/subscribe", "prompts/list", "prompts/get",
    "completion/complete", "logging/setLevel", "server/discover", "notifications/initialized",
    "notifications/cancelled", "notifications/progress", "tasks/get", "tasks/list",
]  # fmt: skip
TOOLS = ["up__echo", "up__pid", "victim__echo", "up__slow", "up__chatty", "echo", "up__", "__", ""]
PATHS = ["/mcp", "/mcp", "/mcp", "/servers/up/mcp", "/servers/nope/mcp", "/healthz", "/", "/mcp/x"]
VERBS = ["POST"] * 12 + ["GET", "DELETE", "PUT", "OPTIONS", "HEAD", "PATCH"]
TOKEN = st.text(st.characters(min_codepoint=33, max_codepoint=126, exclude_characters=":"), max_size=20)
"""Printable header-safe text."""

INTEGERS = st.integers(-(2**63), 2**64 - 1)
"""What JSON encoders accept (orjson refuses wider integers)."""


def texts(max_size: int = 30) -> st.SearchStrategy[str]:
    """Any text but lone surrogates, which no UTF-8 body can carry."""
    return st.text(st.characters(exclude_categories=["Cs"]), max_size=max_size)


INVALID_UTF8 = (
    b'{"jsonrpc":"2.0","id":1,"method":"tools/call",'
    b'"params":{"name":"up__echo","arguments":{"text":"\xff\xfe"}}}'
)
scalars = st.none() | st.booleans() | INTEGERS | st.floats(allow_nan=False) | texts()
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts(10), inner, max_size=4),
    max_leaves=12,
)
ids = st.none() | INTEGERS | texts(12) | st.floats(allow_nan=False) | json_values


@st.composite
def params_for(draw: st.DrawFn, method: str) -> Any:
    """Params shaped like the method's (sometimes), else any JSON."""
    if draw(st.integers(0, 3)) == 0:
        return draw(json_values)
    if method == "tools/call":
        arguments = draw(
            st.fixed_dictionaries(
                {},
                optional={
                    "text": texts(200) | json_values,
                    "seconds": st.floats(0, 0.5) | json_values,
                    "count": st.integers(-5, 50) | json_values,
                    "size": st.integers(-5, 2000),
                },
            )
        )
        return {"name": draw(st.sampled_from(TOOLS) | texts(40)), "arguments": arguments}
    if method in ("resources/read", "resources/subscribe"):
        return {
            "uri": draw(st.sampled_from(["rel://up/info", "rel://x", "", "file:///etc/passwd"]) | texts())
        }
    if method == "initialize":
        version = draw(st.sampled_from(["2025-11-25", "2025-03-26", MODERN, "1999-01-01"]) | texts())
        return {
            "protocolVersion": version,
            "capabilities": draw(json_values),
            "clientInfo": draw(json_values),
        }
    if method == "logging/setLevel":
        return {"level": draw(st.sampled_from(["debug", "error", "nope"]) | texts())}
    return draw(st.dictionaries(st.sampled_from(["cursor", "name", "uri", "_meta"]), json_values, max_size=3))


@st.composite
def messages(draw: st.DrawFn) -> Any:
    """A JSON-RPC message, mostly well-shaped, each field possibly wrong or missing."""
    method = draw(st.sampled_from(METHODS) | texts(30))
    message: dict[str, Any] = {}
    if draw(st.integers(0, 9)):
        message["jsonrpc"] = "2.0" if draw(st.integers(0, 9)) else draw(json_values)
    if not method.startswith("notifications/") or not draw(st.integers(0, 4)):
        message["id"] = draw(st.integers(0, 10**6)) if draw(st.integers(0, 3)) else draw(ids)
    if draw(st.integers(0, 14)):
        message["method"] = method
    else:
        message["method"] = draw(json_values)
    if draw(st.integers(0, 5)):
        message["params"] = draw(params_for(method))
    if not draw(st.integers(0, 19)):
        message.update(draw(st.dictionaries(st.sampled_from(["result", "error", "x"]), json_values)))
    return message


header_mutations = st.lists(
    st.one_of(
        st.tuples(st.just("drop"), st.sampled_from(["accept", "content-type", "authorization", "host"])),
        st.tuples(
            st.sampled_from(
                [
                    "accept",
                    "content-type",
                    "authorization",
                    "mcp-session-id",
                    "mcp-protocol-version",
                    "mcp-method",
                    "mcp-name",
                    "mcp-param-text",
                    "origin",
                    "host",
                    "last-event-id",
                    "x-forwarded-for",
                    "content-encoding",
                    "transfer-encoding",
                ]
            ),
            st.sampled_from(["", "application/json", "text/event-stream", "Bearer x", MODERN, "*/*"]) | TOKEN,
        ),
        st.tuples(TOKEN.filter(bool), TOKEN),
    ),
    max_size=3,
)


@st.composite
def framings(draw: st.DrawFn) -> bytes:
    """Raw bytes at the HTTP layer: broken request lines, headers, lengths and chunking."""
    verb = draw(st.sampled_from(VERBS) | texts(8)).encode(errors="replace")
    path = draw(st.sampled_from(PATHS) | texts(30)).encode(errors="replace")
    version = draw(st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2.0", b"HTTP/1", b""]))
    lines = [verb + b" " + path + b" " + version, b"Host: 127.0.0.1"]
    lines += draw(st.lists(st.binary(max_size=40), max_size=3))
    body = draw(st.binary(max_size=300))
    length = draw(st.sampled_from([len(body), 0, len(body) + 5, max(len(body) - 3, 0), -1, 10**12]))
    lines.append(b"Content-Length: " + str(length).encode())
    if draw(st.booleans()):
        lines.append(b"Transfer-Encoding: chunked")
        body = draw(st.sampled_from([b"zz\r\n", b"5\r\nab\r\n0\r\n\r\n", b"FFFFFFFFFFFF\r\n"])) + body
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(min_size=1, max_size=400))
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


@st.composite
def bodies(draw: st.DrawFn) -> bytes | None:
    """None: encode the message as it is; else other bytes as the body."""
    kind = draw(st.integers(0, 19))
    if kind == 0:
        return draw(st.binary(max_size=200))
    if kind == 1:
        depth = draw(st.integers(1, 5000))
        return b"[" * depth + b"]" * depth
    if kind == 2:
        return INVALID_UTF8
    if kind == 3:
        return orjson.dumps(draw(st.lists(messages(), max_size=3)))
    if kind == 4:
        return orjson.dumps(draw(json_values))
    return None


def pool(strategy: st.SearchStrategy[T], count: int, seed: int) -> list[T]:
    """Up to ``count`` examples of ``strategy`` from hypothesis's own engine, reproducibly."""
    found: list[T] = []

    @settings(
        max_examples=count,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @seeded(seed)
    @given(strategy)
    def collect(value: T) -> None:
        found.append(value)

    collect()
    return found


@dataclass
class Case:
    """One input: raw bytes, whether it is deliberately broken framing, and what it asks."""

    raw: bytes
    framing: bool
    era: str
    verb: str
    method: str

    def stream(self) -> bool:
        """Would a correct answer be a stream that stays open (GET, subscriptions/listen)?"""
        return self.verb == "GET" or self.method == "subscriptions/listen"


class Cases:
    """Inputs combined from hypothesis pools by a seeded random generator."""

    def __init__(self, size: int, seed: int, auth: str) -> None:
        self.rng = random.Random(seed)
        self.auth = auth
        self.messages = pool(messages(), size, seed)
        self.bodies = pool(bodies(), size // 4, seed + 1)
        self.headers = pool(header_mutations, size // 2, seed + 2)
        self.framings = pool(framings(), size // 2, seed + 3)
        self.sessions: Sequence[str] = []

    def pick(self, items: Sequence[T]) -> T:
        return items[self.rng.randrange(len(items))]

    def next(self) -> Case:
        if self.rng.random() < 0.08:
            return Case(self.pick(self.framings), True, "-", "-", "-")
        era = self.rng.choice(["legacy", "legacy", "modern", "modern", "none"])
        message = self.pick(self.messages)
        headers = {"host": "127.0.0.1", "accept": "application/json, text/event-stream"}
        headers |= {"content-type": "application/json", "authorization": self.auth}
        if era == "legacy" and self.sessions:
            headers["mcp-session-id"] = self.pick(self.sessions)
            headers["mcp-protocol-version"] = "2025-11-25"
        elif era == "modern" and isinstance(message, dict):
            message = modernise(message, self.rng)
        if era == "modern" and isinstance(message, dict) and isinstance(message.get("method"), str):
            if not isinstance(message.get("params"), dict):
                message = {**message, "params": {}}
            headers |= {name.lower(): value for name, value in request_headers(message, MODERN).items()}
        body = self.pick(self.bodies) if self.rng.random() < 0.1 else None
        raw_body = body if body is not None else orjson.dumps(message)
        for mutation in self.pick(self.headers) if self.rng.random() < 0.5 else []:
            if mutation[0] == "drop":
                headers.pop(mutation[1], None)
            else:
                headers[mutation[0].lower()] = mutation[1]
        verb = self.pick(VERBS)
        path = self.pick(PATHS) if self.rng.random() < 0.1 else "/mcp"
        method = str(message.get("method")) if isinstance(message, dict) else "-"
        return Case(request(verb, path, headers, raw_body), False, era, verb, method)


def modernise(message: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """The message as a 2026-07-28 client sends it: ``_meta`` in its params (mostly right)."""
    params = message.get("params")
    if params is None:
        params = {}
    if not isinstance(params, dict):
        return message
    given = params.get("_meta")
    meta: dict[str, Any] = given if isinstance(given, dict) else {}
    version = MODERN if rng.random() < 0.9 else rng.choice(["2025-11-25", "", "2099-01-01"])
    meta = {**meta, META_PROTOCOL_VERSION: version}
    meta.setdefault("io.modelcontextprotocol/clientCapabilities", {})
    return {**message, "params": {**params, "_meta": meta}}


def request(verb: str, path: str, headers: dict[str, str], body: bytes) -> bytes:
    """A well-framed HTTP/1.1 request (the server closes the connection after answering)."""
    lines = [f"{verb} {path} HTTP/1.1"] + [f"{name}: {value}" for name, value in headers.items()]
    lines += [f"content-length: {len(body)}", "connection: close"]
    head = "\r\n".join(lines).encode("utf-8", errors="replace")
    return head + b"\r\n\r\n" + body
