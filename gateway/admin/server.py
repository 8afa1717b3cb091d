"""The admin listener: a second uvicorn server on its own socket, in the gateway's event loop.

Chosen over a second process so the API acts on the live objects (supervisors, sessions,
plugins) directly; over a path on the MCP port so that its credential, address and exposure
are separate from the clients'. It never installs signal handlers (the main server owns them),
and the gateway's lifespan stops it before the gateway stops, so shutdown waits for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Generator
from typing import cast

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.admin import routes_runtime, routes_state, routes_tenancy, routes_tools
from gateway.admin.attempts import WrongAttempts
from gateway.admin.auth import AdminAuth, admin_hash
from gateway.admin.http import PREFIX, Context, Op, endpoint, error_response, json_response
from gateway.admin.openapi import OPENAPI_PATH, document
from gateway.admin.ports import AdminParts, AdminTarget
from gateway.guardrails import guardrail_store
from gateway.settings import SettingsError
from middleware.edge.host_origin import HostOriginGuard
from middleware.guardrails.store import GuardrailStore
from middleware.protocol.http import ASGIApp, ASGIReceive, ASGIScope, ASGISend

log = logging.getLogger("portcullis.admin")

OPS: list[Op] = [*routes_runtime.OPS, *routes_tools.OPS, *routes_tenancy.OPS, *routes_state.OPS]
STOP_PATIENCE = 5.0
CONSOLE = "/console"


def build_app(context: Context, sha256: str | None) -> ASGIApp:
    """The admin API's ASGI app: its routes, its document, its credential and the Host/Origin
    check (no browser origin may call it); and the console under /console."""
    spec = document(OPS)

    async def openapi(request: Request) -> Response:
        return json_response(spec)

    routes = [Route(PREFIX + op.path, endpoint(op, context), methods=[op.method]) for op in OPS]
    routes.append(Route(OPENAPI_PATH, openapi, methods=["GET"]))
    app = Starlette(routes=routes, exception_handlers={HTTPException: _http_error})
    settings = context.target.settings
    hosts = [settings.admin.host, *settings.http.allowed_hosts]
    attempts = WrongAttempts()  # one count for both doors: the API and the console's login
    guarded = AdminAuth(cast(ASGIApp, app), sha256=sha256, attempts=attempts)
    api = HostOriginGuard(guarded, allowed_hosts=hosts)
    if context.parts.console is None:
        return api
    # The web console (docs/console.md): the same credential, logged in by a form, same-origin.
    console = context.parts.console(context, sha256, allowed_hosts=hosts, attempts=attempts)
    return WithConsole(api, console)


class WithConsole:
    """The console under /console (its own guard and login), the API (``app``) elsewhere."""

    def __init__(self, app: ASGIApp, console: ASGIApp) -> None:
        self.app, self.console = app, console

    async def __call__(self, scope: ASGIScope, receive: ASGIReceive, send: ASGISend) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and (path == CONSOLE or path.startswith(CONSOLE + "/")):
            await self.console(scope, receive, send)
        else:
            await self.app(scope, receive, send)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    fix = "GET /api/v1/openapi.json lists every route and method"
    return error_response(exc.status_code, str(exc.detail), fix)


class _Quiet(uvicorn.Server):
    """A uvicorn server that leaves signals to the main server (uvicorn would take them over)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None]:
        yield


def _bind(host: str, port: int) -> socket.socket:
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        raise RuntimeError(
            f"admin API: cannot listen on {host}:{port} ({exc.strerror or exc}); "
            "set [admin] port to a free port, or disable the admin API"
        ) from None
    return sock


class AdminServer:
    """Started and stopped by the gateway's lifespan; fails closed (no listener, no gateway)."""

    def __init__(self, target: AdminTarget, parts: AdminParts | None = None) -> None:
        self.target = target
        self.parts = parts or AdminParts()
        self.port: int | None = None
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self._pins: GuardrailStore | None = None

    async def start(self) -> None:
        settings = self.target.settings
        client_hashes = {key.sha256 for key in self.target.tenancy.directory.keys.values()}
        sha256 = admin_hash(settings, client_hashes)
        if sha256 is None:
            log.warning("admin API: no [admin] credential; anyone on this host can administer the gateway")
        store = self.target.tenancy.store  # so changes apply even to a 'memory' store
        if store is None:
            raise RuntimeError("admin API: the tenancy store is not open; start the gateway first")
        pins = self._pins = guardrail_store(settings)
        context = Context(self.target, store, pins, self.parts)
        sock = _bind(settings.admin.host, settings.admin.port)
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            build_app(context, sha256), lifespan="off", log_config=None, access_log=False, server_header=False
        )
        self._server = _Quiet(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name="admin-api")
        # uvicorn says it is listening by a flag, not an event: look until it is, or stopped.
        while not self._server.started and not self._task.done():  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        if self._task.done():
            self._task.result()  # raises what stopped it
            raise RuntimeError("admin API: the listener stopped as it started")
        log.info("admin API on http://%s:%d%s", settings.admin.host, self.port, PREFIX)

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            try:
                await asyncio.wait_for(asyncio.shield(self._task), STOP_PATIENCE)
            except TimeoutError:
                self._server.force_exit = True
                with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                    await asyncio.wait_for(self._task, 1.0)
        close = getattr(self._pins, "close", None)
        if close is not None:
            with contextlib.suppress(Exception):
                await close()


@contextlib.asynccontextmanager
async def admin_listener(target: AdminTarget, parts: AdminParts) -> AsyncIterator[AdminServer | None]:
    """For the gateway's lifespan: the admin API while the gateway runs, when enabled."""
    if not target.settings.admin.enabled:
        yield None
        return
    server = AdminServer(target, parts)
    try:
        await server.start()
    except (RuntimeError, SettingsError) as exc:
        log.error("refusing to start: %s", exc)
        await server.stop()
        raise
    try:
        yield server
    finally:
        await server.stop()
