"""How the layers below a tracing middleware take part in a trace without knowing OpenTelemetry.

While a sampled call runs, the tracing middleware leaves two hooks in context variables:

- :data:`UPSTREAM_TRACE`: the transports call ``open`` as a request leaves (it gives the request,
  with ``_meta.traceparent`` where it belongs, and the W3C headers to send) and the upstream
  session calls ``answered`` when its answer (or its failure) comes back, so the upstream span
  covers the upstream's time and nothing after it.
- :data:`STEP_TRACE`: a middleware or plugin that acts opens a :class:`Step` around its work
  (a plugin's run, a refusal, a cached answer) and ends it with its outcome.

A call that is not sampled gets a hook that only carries the trace context on (no span), and
with traces off both are None: a layer pays one context-variable lookup.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any, Final, Protocol

from middleware.protocol.jsonrpc import Message


class UpstreamTrace(Protocol):
    def open(self, server: str, transport: str, message: Message) -> tuple[Message, dict[str, str]]:
        """Start the span of ``message`` (a request) to ``server``; what to send."""
        ...

    def answered(self, request_id: Any, answer: Message | None) -> None:
        """The request ``request_id`` is over: ``answer`` came back, or None (failed, cancelled)."""
        ...


class Step(Protocol):
    def end(self, attributes: Mapping[str, str] | None = None) -> None:
        """The step is over; ``attributes`` say how it went (its verdict, say)."""
        ...


class StepTrace(Protocol):
    def step(self, name: str, attributes: Mapping[str, str]) -> Step:
        """Start a step of the call (a child span) named ``name``."""
        ...


UPSTREAM_TRACE: Final[ContextVar[UpstreamTrace | None]] = ContextVar("portcullis.upstream", default=None)
STEP_TRACE: Final[ContextVar[StepTrace | None]] = ContextVar("portcullis.steps", default=None)


def traced_step(name: str, attributes: Mapping[str, str], outcome: Mapping[str, str] | None = None) -> None:
    """A step that is a decision, not work (a refusal, a cached answer): started and ended at once."""
    steps = STEP_TRACE.get()
    if steps is not None:
        steps.step(name, attributes).end(outcome)
