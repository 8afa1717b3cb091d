"""W3C trace context on upstream requests, through the hook a tracing middleware sets.

Upstream knows nothing of OpenTelemetry: while a traced call runs, the middleware leaves a
hook in :data:`middleware.protocol.UPSTREAM_TRACE` whose ``open`` starts the upstream call's span
and says what to send (``traceparent``/``tracestate`` headers over HTTP, ``_meta.traceparent`` over
stdio and to 2026-07-28 servers). When tracing is off the hook is None: one lookup per request.
"""

from __future__ import annotations

from collections.abc import Mapping

from middleware.protocol import UPSTREAM_TRACE, Message


def traced(
    server: str, transport: str, message: Message, headers: Mapping[str, str] | None
) -> tuple[Message, Mapping[str, str] | None]:
    """``message`` and ``headers`` as they go to ``server`` over ``transport`` (``stdio``,
    ``streamable-http`` or ``sse``): with the trace context of the call, for a request."""
    hook = UPSTREAM_TRACE.get()
    if hook is None or "id" not in message or "method" not in message:
        return message, headers
    message, trace_headers = hook.open(server, transport, message)
    if not trace_headers:
        return message, headers
    return message, {**headers, **trace_headers} if headers else trace_headers
