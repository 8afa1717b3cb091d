"""What each of the console's buttons does: one admin API handler, called with the form's fields,
and the sentence the next page shows (what was done, or why it was refused)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

from gateway.admin import routes_runtime, routes_state, routes_tenancy
from gateway.admin.http import Context
from gateway.console.ops import outcome

Note = tuple[str, str]
"""(kind, text): kind "ok" or "error"."""
Action = Callable[[Context, Mapping[str, str]], Awaitable[Note]]
DAY: Final = 86400.0


def _said(refusal: str | None, done: str) -> Note:
    return ("error", refusal) if refusal is not None else ("ok", done)


async def restart_server(context: Context, form: Mapping[str, str]) -> Note:
    name = form.get("name", "")
    _, refusal = await outcome(context, routes_runtime.restart_server, path={"name": name})
    return _said(refusal, f"Server {name} is restarting.")


def _pin(form: Mapping[str, str]) -> dict[str, str]:
    pin = {"server": form.get("server", ""), "name": form.get("name", "")}
    return {**pin, "kind": form["kind"]} if form.get("kind") else pin


async def approve_pin(context: Context, form: Mapping[str, str]) -> Note:
    _, refusal = await outcome(context, routes_state.approve_pin, data=_pin(form))
    done = f"Approved {form.get('kind', '')} {form.get('name')} of {form.get('server')}"
    return _said(refusal, f"{done}; the gateway serves it again within the pins' recheck time.")


async def revoke_pin(context: Context, form: Mapping[str, str]) -> Note:
    _, refusal = await outcome(context, routes_state.revoke_pin, data=_pin(form))
    return _said(refusal, f"Quarantined {form.get('name')} of {form.get('server')} until approved again.")


async def end_session(context: Context, form: Mapping[str, str]) -> Note:
    prefix = form.get("prefix", "")
    _, refusal = await outcome(context, routes_runtime.end_session, path={"prefix": prefix})
    return _said(refusal, f"Session {prefix} ended.")


async def revoke_key(context: Context, form: Mapping[str, str]) -> Note:
    ident = form.get("id", "")
    _, refusal = await outcome(context, routes_tenancy.revoke_key, path={"ident": ident})
    return _said(refusal, f"Key {ident} is revoked; /mcp refuses it from now on.")


def _seconds(text: str, scale: float, *, zero: bool = False) -> float | None:
    """A positive (or, with ``zero``, null) number of ``scale`` seconds from a form field; None
    when empty."""
    if not text.strip():
        return None
    try:
        value = float(text) * scale
    except ValueError:
        raise ValueError(f"{text!r} is not a number") from None
    if value < 0 or (value == 0 and not zero):
        raise ValueError(f"{text!r} is not a positive number")
    return value


async def create_key(context: Context, form: Mapping[str, str]) -> tuple[Any, Note | None]:
    """(the answer, with the key), or (None, why not)."""
    try:
        expires = _seconds(form.get("expires_days", ""), DAY)
    except ValueError as exc:
        return None, ("error", f"Expires in: {exc}.")
    data: dict[str, Any] = {"user": form.get("user", ""), "name": form.get("name") or "default"}
    if expires is not None:
        data["expires_in"] = expires
    answer, refusal = await outcome(context, routes_tenancy.create_key, data=data)
    return answer, None if refusal is None else ("error", refusal)


async def rotate_key(context: Context, form: Mapping[str, str]) -> tuple[Any, Note | None]:
    try:
        grace = _seconds(form.get("grace", ""), 1.0, zero=True) or 0.0
    except ValueError as exc:
        return None, ("error", f"Grace: {exc}.")
    path = {"ident": form.get("id", "")}
    answer, refusal = await outcome(context, routes_tenancy.rotate_key, path=path, data={"grace": grace})
    return answer, None if refusal is None else ("error", refusal)


ACTIONS: Final[dict[str, Action]] = {
    "/servers/restart": restart_server,
    "/pins/approve": approve_pin,
    "/pins/revoke": revoke_pin,
    "/sessions/end": end_session,
    "/keys/revoke": revoke_key,
}
"""The buttons that change something and go back to their page: path -> action."""
BACK: Final = {
    "/servers/restart": "/servers",
    "/pins/approve": "/tools",
    "/pins/revoke": "/tools",
    "/sessions/end": "/sessions",
    "/keys/revoke": "/keys",
}
