"""The sampling decision, taken before OpenTelemetry is asked for anything.

A span the SDK does not record still costs its full setup (the sampler, context objects, the
instrumentation's attribute collection): about 25 µs per call here. So the gateway decides
first, once per trace, where the trace enters (the HTTP tier, or the MCP tier when no HTTP span
is around it): the client's sampled flag decides for its own traces (as OpenTelemetry's
``ParentBased`` sampler does), ``sample_ratio`` for new ones. A call that is not sampled gets no
span at all, only its trace context carried on to the upstream (as the W3C recommendation asks
of a participant that does not record). The SDK's own sampler then records whatever reaches it.
"""

from __future__ import annotations

import random
from contextvars import ContextVar
from typing import Final

from opentelemetry.trace import SpanContext

from middleware.protocol import Message
from middleware.telemetry.tracing_upstream import Carrier, with_meta

_RANDOM: Final = random.Random()
"""Sampling and ids need no secrecy (the SDK's own id generator uses the same generator)."""


NOT_SAMPLED_HERE: Final[ContextVar[Carrier | None]] = ContextVar("portcullis.not_sampled", default=None)
"""Set by the HTTP tier for a request it did not sample: the context the MCP tier carries on.
(Cheaper than making it OpenTelemetry's current context, which nothing else here reads.)"""


class Sampling:
    """``sample_ratio`` of new traces recorded (0 none, 1 every one)."""

    def __init__(self, ratio: float) -> None:
        self.bound = round(min(max(ratio, 0.0), 1.0) * (1 << 64))

    def new_trace(self) -> bool:
        """Whether a trace that starts here is recorded."""
        return _RANDOM.getrandbits(64) < self.bound

    def decide(self, parent: SpanContext) -> bool:
        """Whether a call under ``parent`` (invalid: none) is recorded."""
        return parent.trace_flags.sampled if parent.is_valid else self.new_trace()


def unsampled_trace() -> Carrier:
    """The headers of a new trace that is not recorded: it still has ids, so the upstream's own
    spans (if it records any) are one trace per call rather than one each."""
    trace_id, span_id = _RANDOM.getrandbits(128) or 1, _RANDOM.getrandbits(64) or 1
    return {"traceparent": f"00-{trace_id:032x}-{span_id:016x}-00"}


class CarryContext:
    """The upstream hook of a call that is not sampled: no span, the context passed on as is."""

    __slots__ = ("carrier",)

    def __init__(self, carrier: Carrier) -> None:
        self.carrier = carrier

    def open(self, server: str, transport: str, message: Message) -> tuple[Message, dict[str, str]]:
        params = message.get("params")
        params = params if isinstance(params, dict) else {}
        return with_meta(message, params, transport, self.carrier), self.carrier

    def answered(self, request_id: object, answer: Message | None) -> None:
        return None
