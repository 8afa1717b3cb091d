"""The child spans of the middlewares and plugins that act on a sampled call.

Set in :data:`middleware.protocol.STEP_TRACE` by the message's span for the call it traces: a
plugin's run, a policy's refusal, a rate limit, an answer from the cache each become a span
under the message's, named for what acted and carrying how it went.
"""

from __future__ import annotations

from collections.abc import Mapping

from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Tracer


class SpanStep:
    """One step's span; :meth:`end` adds the outcome first."""

    __slots__ = ("span",)

    def __init__(self, span: Span) -> None:
        self.span = span

    def end(self, attributes: Mapping[str, str] | None = None) -> None:
        if attributes:
            self.span.set_attributes(attributes)
        self.span.end()


class StepSpans:
    """The steps of one call, children of its message span."""

    __slots__ = ("parent", "tracer")

    def __init__(self, tracer: Tracer, parent: Context) -> None:
        self.tracer = tracer
        self.parent = parent

    def step(self, name: str, attributes: Mapping[str, str]) -> SpanStep:
        span = self.tracer.start_span(
            name, context=self.parent, kind=SpanKind.INTERNAL, attributes=attributes
        )
        return SpanStep(span)
