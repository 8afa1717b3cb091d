"""The console's routes: who is logged in, the pages, the buttons, the live numbers, the files.

Logging in takes the admin token (the same credential as ``/api/v1``; without one configured,
the listener is loopback only and the login is a button, the admin API's own rule). A login
makes a session (gateway.console.session); every page needs one, every button posts the
session's CSRF token, and gateway.console.guard refuses other origins.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable, Iterable
from importlib.resources import files
from typing import Final, cast

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from gateway.admin import routes_tenancy
from gateway.admin.attempts import WrongAttempts, retry_after
from gateway.admin.auth import peer_of
from gateway.admin.http import Context
from gateway.console import actions, ops, pages, screens, views_access
from gateway.console.forms import FormError, read_form
from gateway.console.guard import SameOrigin, with_headers
from gateway.console.html import Html, render
from gateway.console.pages import PREFIX
from gateway.console.session import (
    LIFETIME,
    LOGIN_COOKIE,
    LOGIN_WINDOW,
    SESSION_COOKIE,
    Session,
    Sessions,
    csrf_ok,
)
from middleware.auth.api_key import hash_key
from middleware.protocol.http import ASGIApp

log = logging.getLogger("portcullis.admin")

STATIC: Final = {"console.css": "text/css; charset=utf-8", "console.js": "text/javascript; charset=utf-8"}
View = Callable[["Console", Session, Request], Awaitable[Html]]


def _static(name: str) -> bytes:
    return files("gateway.console").joinpath("static", name).read_bytes()


class Console:
    """One console: the admin API's context, the admin token's hash, its sessions."""

    def __init__(self, context: Context, sha256: str | None, attempts: WrongAttempts) -> None:
        self.context, self.sha256, self.attempts = context, sha256, attempts
        self.sessions = Sessions()
        self.files = {name: (kind, _static(name)) for name, kind in STATIC.items()}

    def session(self, request: Request) -> Session | None:
        return self.sessions.find(request.cookies.get(SESSION_COOKIE))

    def token_ok(self, token: str) -> bool:
        """The admin token (any string, when none is configured: the listener is loopback only)."""
        if self.sha256 is None:
            return True
        return hmac.compare_digest(hash_key(token).encode(), self.sha256.encode())

    # --- logging in and out ---------------------------------------------------------------

    def login_page(
        self, request: Request, *, refused: str | None = None, status: int = 200, wait: float = 0.0
    ) -> Response:
        cookie, token = self.sessions.login_form()
        body = views_access.login(token, needs_token=self.sha256 is not None, refused=refused)
        response = HTMLResponse(pages.page("Log in", body, csrf=None), status_code=status)
        _set_cookie(response, request, LOGIN_COOKIE, cookie, LOGIN_WINDOW)
        if wait > 0:
            response.headers["Retry-After"] = retry_after(wait)
        return response

    async def show_login(self, request: Request) -> Response:
        if self.session(request) is not None:
            return RedirectResponse(PREFIX + "/", 303)
        return self.login_page(request)

    async def log_in(self, request: Request) -> Response:
        try:
            form = await read_form(request)
        except FormError:
            return self.login_page(request, status=400)
        if not self.sessions.login_form_ok(request.cookies.get(LOGIN_COOKIE), form.get("csrf", "")):
            return self.login_page(request, status=403)  # stale, or not this browser's form
        wait = self.attempts.wait(peer_of(request.scope))
        if wait > 0:
            why = f"Too many wrong admin tokens from this address lately: wait {retry_after(wait)} s."
            return self.login_page(request, refused=why, status=429, wait=wait)
        if not self.token_ok(form.get("token", "")):
            log.warning("console: a login with a wrong admin token from %s", peer_of(request.scope))
            self.attempts.failed(peer_of(request.scope))
            return self.login_page(request, refused="That is not the admin token.", status=401)
        _, cookie = self.sessions.open()  # a new session at each login: none can be planted
        response = RedirectResponse(PREFIX + "/", 303)
        _set_cookie(response, request, SESSION_COOKIE, cookie, LIFETIME)
        response.delete_cookie(LOGIN_COOKIE, path=PREFIX, httponly=True, samesite="strict")
        return response

    async def log_out(self, request: Request) -> Response:
        posted = await self._posting(request)
        if isinstance(posted, Response):
            return posted
        self.sessions.end(posted[0])
        response = RedirectResponse(PREFIX + "/login", 303)
        response.delete_cookie(SESSION_COOKIE, path=PREFIX, httponly=True, samesite="strict")
        return response

    # --- pages and buttons ----------------------------------------------------------------

    def view(self, title: str, render: View) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            session = self.session(request)
            if session is None:
                return RedirectResponse(PREFIX + "/login", 303)
            try:
                body = await render(self, session, request)
            except Exception:  # boundary: the operator gets a page, the log gets the trace
                log.exception("console: the page %s failed", request.url.path)
                return _refused(500, "This page failed inside the gateway; see the gateway's log.")
            return HTMLResponse(pages.page(title, body, csrf=session.csrf, notes=session.take_notes()))

        return endpoint

    async def _posting(self, request: Request) -> tuple[Session, dict[str, str]] | Response:
        """The session and form of a button pressed, or the refusal to answer instead."""
        session = self.session(request)
        if session is None:
            return _refused(403, "Log in first: this console needs the admin token.")
        try:
            form = await read_form(request)
        except FormError as exc:
            return _refused(400, str(exc))
        if not csrf_ok(session, form.get("csrf", "")):
            return _refused(
                403, "This form is not one the console gave you (or it is stale): reload the page."
            )
        return session, form

    def button(self, path: str) -> Callable[[Request], Awaitable[Response]]:
        action, back = actions.ACTIONS[path], actions.BACK[path]

        async def endpoint(request: Request) -> Response:
            posted = await self._posting(request)
            if isinstance(posted, Response):
                return posted
            session, form = posted
            session.notes.append(await action(self.context, form))
            return RedirectResponse(PREFIX + back, 303)

        return endpoint

    async def made_key(self, request: Request) -> Response:
        """Create or rotate: the page that shows the new key, once (never a redirect to it)."""
        posted = await self._posting(request)
        if isinstance(posted, Response):
            return posted
        session, form = posted
        made = actions.rotate_key if request.url.path.endswith("/rotate") else actions.create_key
        answer, refusal = await made(self.context, form)
        if refusal is not None:
            session.notes.append(refusal)
        rows = await ops.call(self.context, routes_tenancy.list_keys)
        body = views_access.keys(rows, session.csrf, shown=answer)
        return HTMLResponse(pages.page("Keys", body, csrf=session.csrf, notes=session.take_notes()))

    async def numbers(self, request: Request) -> Response:
        if self.session(request) is None:
            return JSONResponse({"error": "log in first"}, status_code=401)
        return JSONResponse(screens.numbers(self.context))

    async def static(self, request: Request) -> Response:
        found = self.files.get(request.path_params["name"])
        if found is None:
            return Response("not found", 404, media_type="text/plain")
        kind, body = found
        return Response(body, media_type=kind)


def _set_cookie(response: Response, request: Request, name: str, value: str, seconds: float) -> None:
    """HttpOnly, SameSite=Strict, for the console's paths only; Secure when served over https."""
    response.set_cookie(
        name,
        value,
        max_age=int(seconds),
        path=PREFIX,
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )


def _refused(status: int, why: str) -> Response:
    body = pages.page("Refused", render('<p class="note error" role="alert">$why</p>', why=why), csrf=None)
    return HTMLResponse(body, status_code=status)


def routes(console: Console) -> list[Route]:
    own = [
        Route(PREFIX, lambda request: RedirectResponse(PREFIX + "/", 303)),
        Route(PREFIX + "/login", console.show_login, methods=["GET"]),
        Route(PREFIX + "/login", console.log_in, methods=["POST"]),
        Route(PREFIX + "/logout", console.log_out, methods=["POST"]),
        Route(PREFIX + "/keys", console.made_key, methods=["POST"]),
        Route(PREFIX + "/keys/rotate", console.made_key, methods=["POST"]),
        Route(PREFIX + "/metrics.json", console.numbers, methods=["GET"]),
        Route(PREFIX + "/static/{name}", console.static, methods=["GET"]),
    ]
    shown = [
        Route(PREFIX + path, console.view(title, render), methods=["GET"])
        for path, title, render in screens.SCREENS
    ]
    buttons = [Route(PREFIX + path, console.button(path), methods=["POST"]) for path in actions.ACTIONS]
    return own + shown + buttons


def console_app(
    context: Context, sha256: str | None, *, allowed_hosts: Iterable[str], attempts: WrongAttempts
) -> ASGIApp:
    """The console as an ASGI app, for paths under :data:`PREFIX` on the admin listener;
    ``attempts`` is the count of wrong admin tokens it shares with the API."""
    app = Starlette(routes=routes(Console(context, sha256, attempts)))
    return with_headers(SameOrigin(cast(ASGIApp, app), allowed_hosts=allowed_hosts))
