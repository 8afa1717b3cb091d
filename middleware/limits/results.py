"""Bound what an upstream's answer may be before it reaches the client.

A transport accepts messages up to ``max_message_bytes`` (64 MiB); below that, nothing stopped
a 50 MB text, 100,000 content blocks or a 200,000-key structured result from reaching the
client whole, at several times its size in the gateway's memory on the way. This middleware
checks each response against limits on its size, its content blocks, the width of any array or
object and its nesting depth, and replaces an answer over a limit with an error that names the
limit, its value and the option to raise.

Why a JSON-RPC error, even for ``tools/call``, whose failures the spec wants as results with
``isError``: ``isError`` reports that the *tool* failed, with feedback a model can act on by
changing its arguments. Here the tool succeeded and the *gateway* refused to relay its answer; an
``isError`` result would blame the tool, mark a task-augmented call ``failed`` as if the tool
had, and could not carry the machine-readable ``fault``, limit and value that operators and
clients need. The error is ``PAYLOAD_TOO_LARGE`` with fault ``upstream`` (the server sent more
than this gateway accepts; the client's request was fine), like a timeout of a slow server.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any, Final

from middleware.limits.known_sizes import KnownSizes
from middleware.protocol import (
    PAYLOAD_TOO_LARGE,
    RESPONSE,
    TARGET_SERVER,
    Event,
    MCPApp,
    Message,
    Receive,
    Scope,
    Send,
    UpstreamFault,
    response_event,
)
from middleware.protocol.measure import Excess, measure, measured

log = logging.getLogger("portcullis.limits")

BLOCK_ARRAYS = ("content", "contents", "messages")
"""The arrays of blocks in results: tools/call ``content``, resources/read ``contents``,
prompts/get ``messages``."""

SHAPES: dict[str | None, tuple[tuple[str, ...], str | None]] = {
    "tools/call": (("content",), None),
    "resources/read": (("contents",), None),
    "prompts/get": (("messages",), None),
    "tools/list": ((), "tools"),
    "prompts/list": ((), "prompts"),
    "resources/list": ((), "resources"),
    "resources/templates/list": ((), "resourceTemplates"),
}
"""Per method, the arrays of blocks its result may carry, and its array of definitions (measured
item by item, see :class:`KnownSizes`). Any other method's result (``tasks/result``, say) is
checked for every kind of block array."""
ANY_SHAPE: Final = (BLOCK_ARRAYS, None)

ITEM_DEPTH = 3
"""The level of a list's items in its answer: the result (1), the array (2), an item (3)."""

MAX_DEPTH = 256
"""The deepest nesting ``max_depth`` may allow; the measuring walk recurses once per level."""


class ResultTooLarge(UpstreamFault):
    """An upstream's answer passed one of the gateway's result limits."""

    code = PAYLOAD_TOO_LARGE


def _limit(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"`{name}` must be a positive integer, not {value!r}")
    return value


class ResultLimits:
    def __init__(
        self,
        app: MCPApp,
        *,
        max_bytes: int = 16 * 1024 * 1024,
        max_error_bytes: int = 64 * 1024,
        max_blocks: int = 10_000,
        max_width: int = 100_000,
        max_depth: int = 64,
    ) -> None:
        self.app = app
        self.max_bytes = _limit("max_bytes", max_bytes)
        self.max_error_bytes = _limit("max_error_bytes", max_error_bytes)
        self.max_blocks = _limit("max_blocks", max_blocks)
        self.max_width = _limit("max_width", max_width)
        self.max_depth = _limit("max_depth", max_depth)
        if max_depth > MAX_DEPTH:
            raise ValueError(f"`max_depth` may be at most {MAX_DEPTH} (the walk recurses), not {max_depth}")
        self._known = KnownSizes()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["id"] is None:
            await self.app(scope, receive, send)
            return

        method = scope["method"]

        async def checked(event: Event) -> None:
            if event["type"] == RESPONSE:
                excess = self.excess(event["message"], method)
                if excess is not None:
                    event = response_event(self._refusal(scope, event["message"], excess))
            await send(event)

        await self.app(scope, receive, checked)

    def excess(self, message: Message, method: str | None = None) -> Excess | None:
        """The first limit this response (to a ``method`` request) passes, or None."""
        if "error" in message:
            excess = measure(
                message["error"],
                max_bytes=self.max_error_bytes,
                max_width=self.max_width,
                max_depth=self.max_depth,
            )
            if excess is not None and excess.option == "max_bytes":
                excess = replace(excess, option="max_error_bytes")
            return excess
        result: Any = message.get("result")
        if type(result) is dict:
            block_keys, list_key = SHAPES.get(method, ANY_SHAPE)
            for key in block_keys:
                blocks = result.get(key)
                if type(blocks) is list and len(blocks) > self.max_blocks:
                    return Excess("max_blocks", self.max_blocks, len(blocks), f"blocks in `{key}`")
            if list_key is not None:
                items = result.get(list_key)
                if type(items) is list:
                    return self._list_excess(result, list_key, items)
        found = measured(result, max_bytes=self.max_bytes, max_width=self.max_width, max_depth=self.max_depth)
        return found if type(found) is Excess else None

    def _list_excess(self, result: dict[str, Any], key: str, items: list[Any]) -> Excess | None:
        """:meth:`excess` of a list result, whose items are measured one by one: a page the
        gateway composes from its catalog repeats the same definitions, already measured."""
        limits = {"max_bytes": self.max_bytes, "max_width": self.max_width, "max_depth": self.max_depth}
        if len(items) > self.max_width:
            return Excess("max_width", self.max_width, len(items), "items in one array")
        size = measured({name: value for name, value in result.items() if name != key}, **limits)
        if isinstance(size, Excess):
            return size
        size += len(key) + 5 + len(items)  # quotes, colon, comma, brackets, commas
        known = self._known
        for item in items:
            item_size = known.size(item)
            if item_size is None:
                found = measured(item, **limits, depth=ITEM_DEPTH)
                if isinstance(found, Excess):
                    return found
                known.remember(item, found)
                item_size = found
            size += item_size
            if size > self.max_bytes:
                return Excess("max_bytes", self.max_bytes, size, "bytes")
        return None

    def _refusal(self, scope: Scope, message: Message, excess: Excess) -> Message:
        server = scope["state"].get(TARGET_SERVER)
        source = f"server {server!r}" if server else "the upstream"
        answer = "error" if "error" in message else "result"
        more = "more than " if excess.option == "max_bytes" else ""
        log.warning(
            "refused the %s of %s from %s: %s%d %s, over %s = %d",
            answer, scope["method"], source, more, excess.found, excess.what, excess.option, excess.allowed,
        )  # fmt: skip
        error = ResultTooLarge(
            f"the {answer} of {scope['method']} from {source} is too large to relay: {more}"
            f"{excess.found} {excess.what}, over the gateway's limit {excess.option} = {excess.allowed} "
            f"(raise `{excess.option}` in the ResultLimits middleware options, or ask for less)",
            data={"limit": excess.option, "allowed": excess.allowed, "found": excess.found},
        )
        if server:
            error.data["server"] = server
        return error.to_message(scope["id"])
