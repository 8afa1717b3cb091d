"""``/readyz`` and the drain that flips it: whether this replica should get new work.

``/healthz`` says the process is alive; ``/readyz`` says a load balancer may send it work: the
eager upstreams run, the state store answers, and no drain has begun. Its reasons come from a
fixed vocabulary (:data:`REASONS`), so an unauthenticated probe learns no command, URL or path.

Once SIGTERM starts a drain (:class:`Drain`), ``/readyz`` answers 503 at once, a request that
would open a session is refused with 503 and ``Retry-After``, and once the calls in flight are
done each open GET stream is ended with an SSE ``retry:`` field, so that clients reconnect (to
another replica) after a pause. ``/healthz`` lives here too: the probes side by side.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any, Final

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway import __version__
from gateway.front.sessions import LiveSessions, SessionStore
from gateway.tenancy import Tenancy
from middleware.protocol.http import ASGIApp, ASGIReceive, ASGIScope, ASGISend, header
from upstream.pool.supervisor import Supervisor

log = logging.getLogger("portcullis")

DRAINING: Final = "draining"
UPSTREAMS: Final = "upstreams not ready"
STORE: Final = "state store unreachable"
REASONS: Final = (DRAINING, UPSTREAMS, STORE)
"""Every reason ``/readyz`` may give: nothing else is ever shown."""
LISTEN_PREFIX: Final = "listen-"
"""The live-state key of a modern listen stream (gateway/front/listen.py)."""


def health(supervisors: Mapping[str, Supervisor]) -> tuple[dict[str, Any], int]:
    """``/healthz``, the truth about each server, and overall: "ok" (200) when none is failed or
    restarting, "degraded" (200) when some are, "unavailable" (503) when every configured
    server has failed. Reasons come from a fixed vocabulary: no command, env or path."""
    statuses = {name: supervisor.status() for name, supervisor in supervisors.items()}
    states = [status.state for status in statuses.values()]
    if states and all(state == "failed" for state in states):
        overall, code = "unavailable", 503
    elif any(state in ("failed", "restarting") for state in states):
        overall, code = "degraded", 200
    else:
        overall, code = "ok", 200
    servers = {name: status.as_json() for name, status in statuses.items()}
    return {"status": overall, "version": __version__, "servers": servers}, code


def readiness(
    supervisors: Mapping[str, Supervisor], *, store_reachable: bool, draining: bool
) -> tuple[dict[str, Any], int]:
    """The body and status of ``/readyz``: 200 "ready", else 503 with the reasons."""
    reasons = []
    if draining:
        reasons.append(DRAINING)
    eager = [s for s in supervisors.values() if s.spec.start_eagerly and not s.spec.per_client]
    if any(s.status().state != "running" for s in eager):
        reasons.append(UPSTREAMS)
    if not store_reachable:
        reasons.append(STORE)
    if reasons:
        return {"status": "not ready", "reasons": reasons}, 503
    return {"status": "ready"}, 200


def ready_route(
    supervisors: Mapping[str, Supervisor], tenancy: Tenancy, drain: Drain, sessions: SessionStore
) -> Route:
    """The ``/readyz`` route, reading the same (live) supervisors, tenancy, drain and sessions."""

    async def ready(request: Request) -> JSONResponse:
        reachable = tenancy.reachable and await sessions.reachable()
        body, code = readiness(supervisors, store_reachable=reachable, draining=drain.started)
        return JSONResponse(body, status_code=code)

    return Route("/readyz", ready)


class Drain:
    """The drain of one gateway: begun once, by SIGTERM; read on every request (one attribute)."""

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        self.started = False

    def begin(self) -> None:
        """Flip ``/readyz`` to 503 and refuse new sessions and streams from now on (one store:
        safe in a signal handler)."""
        self.started = True

    def announce(self) -> None:
        log.warning("draining: /readyz says 503 and new sessions are refused")

    def end_streams(self, live: LiveSessions) -> int:
        """End every open GET stream (its last chunk carries a retry hint) and every modern
        listen stream (it ends with its "complete" result); how many."""
        ended = 0
        for session_id in live.ids():
            session = live.existing(session_id)
            if session is None or session.stream is None:
                continue
            # A legacy GET stream while attached; a modern listen stream (its own key) always.
            if session.stream_attached or session_id.startswith(LISTEN_PREFIX):
                with contextlib.suppress(asyncio.QueueFull):
                    session.stream.put_nowait(None)
                    ended += 1
        if ended:
            log.warning("draining: %d open stream(s) ended with a retry hint", ended)
        return ended

    async def serve(self, endpoint: ASGIApp, scope: ASGIScope, receive: ASGIReceive, send: ASGISend) -> None:
        """``endpoint`` answers, unless a drain refuses the request; a GET stream is ended
        with a retry hint."""
        if self.started and self.refuses(scope):
            await self.refuse(send)
        elif scope["method"] == "GET":
            await endpoint(scope, receive, self.streams(send))
        else:
            await endpoint(scope, receive, send)

    def refuses(self, scope: ASGIScope) -> bool:
        """Whether a request to an MCP endpoint is refused now: while draining, one that would
        open a session (a POST with no session and no ``Mcp-Method``: an initialize) or a stream
        (a GET). Calls of existing sessions, and modern requests, are still served."""
        if not self.started:
            return False
        if scope["method"] == "GET":
            return True
        return (
            scope["method"] == "POST"
            and header(scope, b"mcp-session-id") is None
            and header(scope, b"mcp-method") is None
        )

    async def refuse(self, send: ASGISend) -> None:
        """503 with ``Retry-After`` and a JSON-RPC error saying why."""
        error = {"code": -32603, "message": "the gateway is draining; retry on another replica"}
        body = orjson.dumps({"jsonrpc": "2.0", "id": None, "error": error})
        headers = [
            (b"content-type", b"application/json"),
            (b"retry-after", str(self.retry_after).encode()),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def streams(self, send: ASGISend) -> ASGISend:
        """``send`` for a GET stream: when a drain ends it, its last chunk carries ``retry:``."""
        retry = f"retry: {self.retry_after * 1000}\n\n".encode()

        async def send_with_retry(message: dict[str, Any]) -> None:
            if self.started and message["type"] == "http.response.body" and not message.get("more_body"):
                message = {**message, "body": retry + message.get("body", b"")}
            await send(message)

        return send_with_retry
