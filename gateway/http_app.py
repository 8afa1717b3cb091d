"""The gateway's ASGI app: the HTTP tier around a dispatch to the MCP endpoints, Starlette for
the side routes (health, readiness, metrics, OAuth metadata) and the lifespan.

The path to the MCP endpoints is a dictionary lookup in front of Starlette: DESIGN.md measured
a full Starlette route at twice the cost of a raw dispatch on the hot path. The HTTP tier sits in
a :class:`TracingSwitch`, so that a reload can turn traces on or off without a restart.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Protocol, cast

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway.admin import AdminParts, admin_listener
from gateway.admin.ports import AdminTarget
from gateway.front.endpoint import MCPEndpoint
from gateway.identity import authentication, metadata_routes
from gateway.metrics import GatewayMetrics
from gateway.readiness import Drain, ready_route
from gateway.tracing import Tracing, Untraced
from middleware.edge.body_limit import BodyLimit
from middleware.edge.host_origin import HostOriginGuard
from middleware.edge.not_found import NotFound, no_route, send_not_found
from middleware.protocol.http import ASGIApp, ASGIReceive, ASGIScope, ASGISend
from upstream.routing.catalog import CollisionError

log = logging.getLogger("portcullis")


class Served(AdminTarget, Protocol):
    """The gateway, as far as its ASGI app reads it (:class:`gateway.app.Gateway`)."""

    metrics: GatewayMetrics
    draining: Drain
    tracing: Tracing | Untraced
    http_tiers: list[TracingSwitch]
    admin_parts: AdminParts

    @property
    def endpoints(self) -> dict[str, MCPEndpoint]: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class TracingSwitch:
    """The HTTP tier, inside the HTTP spans of the running ``[telemetry.traces]`` or not."""

    def __init__(self, untraced: ASGIApp, tracing: Tracing | Untraced) -> None:
        self.untraced = untraced
        self.app = tracing.http(untraced)

    def retrace(self, tracing: Tracing | Untraced) -> None:
        self.app = tracing.http(self.untraced)

    async def __call__(self, scope: ASGIScope, receive: ASGIReceive, send: ASGISend) -> None:
        await self.app(scope, receive, send)


def gateway_asgi(gateway: Served) -> ASGIApp:
    """The whole app of ``gateway``."""

    async def healthz(request: Request) -> JSONResponse:
        body, code = gateway.health()
        return JSONResponse(body, status_code=code)

    side_routes = [
        Route("/healthz", healthz),
        *gateway.metrics.routes(),
        ready_route(gateway.supervisors, gateway.tenancy, gateway.draining, gateway.store),
        *metadata_routes(gateway.settings, list(gateway.endpoints)),
    ]
    side = cast(
        ASGIApp,
        Starlette(
            routes=side_routes,
            lifespan=lambda app: lifespan(gateway),
            exception_handlers={HTTPException: _json_http_error},
        ),
    )
    dispatch, is_route = _dispatch(
        gateway.endpoints, gateway.draining, side, frozenset(r.path for r in side_routes)
    )
    switch = TracingSwitch(http_tier(gateway, dispatch, is_route), gateway.tracing)
    gateway.http_tiers.append(switch)
    return switch


def _dispatch(
    endpoints: Mapping[str, MCPEndpoint], drain: Drain, side: ASGIApp, side_paths: frozenset[str]
) -> tuple[ASGIApp, Callable[[str], bool]]:
    """The raw dispatch to the endpoints (the side app for the rest), and which paths exist."""

    async def dispatch(scope: ASGIScope, receive: ASGIReceive, send: ASGISend) -> None:
        if scope["type"] != "http":
            await side(scope, receive, send)
            return
        path = scope["path"].rstrip("/") or "/"
        endpoint = endpoints.get(path)
        if endpoint is not None:
            await drain.serve(endpoint, scope, receive, send)
        elif path in side_paths:
            await side(scope, receive, send)
        elif _is_server_path(path):  # authenticated by now: the name may be said unknown
            name = path.split("/")[2][:100]
            await send_not_found(scope, send, f"Not Found: no server named {name!r} is configured here")
        else:
            await send_not_found(scope, send, no_route(path))

    def is_route(raw: str) -> bool:
        path = raw.rstrip("/") or "/"
        return path in endpoints or path in side_paths or _is_server_path(path)

    return dispatch, is_route


def http_tier(gateway: Served, dispatch: ASGIApp, is_route: Callable[[str], bool]) -> ASGIApp:
    """The HTTP-tier middlewares around ``dispatch``, outermost last (traces go around them)."""
    http = gateway.settings.http
    app: ASGIApp = BodyLimit(dispatch, max_bytes=http.max_body_bytes)
    app = authentication(
        gateway.settings, app, tenancy=gateway.tenancy, endpoint_paths=list(gateway.endpoints)
    )
    app = gateway.metrics.public(app)  # /metrics before authentication only when public
    # Paths outside every route get 404 before authentication: that reveals nothing about
    # the configuration. /servers/NAME/mcp is authenticated first whatever NAME is, and
    # only then is an unknown NAME 404: answering 404 before authentication would let
    # anyone enumerate the configured server names (401 for a name that exists).
    app = NotFound(app, is_route=is_route)
    return HostOriginGuard(app, allowed_hosts=http.allowed_hosts, allowed_origins=http.allowed_origins)


@contextlib.asynccontextmanager
async def lifespan(gateway: Served) -> AsyncIterator[None]:
    try:
        await gateway.start()
    except CollisionError as exc:
        log.error("refusing to start: %s", exc)
        await gateway.stop()
        raise
    try:
        async with admin_listener(gateway, gateway.admin_parts):
            yield
    finally:
        await gateway.stop()


def _is_server_path(path: str) -> bool:
    """Has ``path`` the shape of a per-server endpoint, /servers/NAME/mcp?"""
    parts = path.split("/")
    return len(parts) == 4 and parts[1] == "servers" and parts[2] != "" and parts[3] == "mcp"


async def _json_http_error(request: Request, exc: Exception) -> JSONResponse:
    """Starlette's own refusals on the side routes (405 on /healthz, say) as JSON, like ours."""
    assert isinstance(exc, HTTPException)
    return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)
