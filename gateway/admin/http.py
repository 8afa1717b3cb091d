"""The admin API's plumbing: one table of operations (routes and OpenAPI from the same rows),
one error shape, JSON in and out.

Every refusal is ``{"error": {"message": ..., "fix": ...}}`` with an HTTP status that says whose
fault it is: 400/404/409 the request, 401 the credential, 501 a part not built yet, 502 an upstream.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson
from starlette.requests import Request
from starlette.responses import Response

from gateway.admin.ports import AdminParts, AdminTarget
from gateway.state.tenancy_admin import Admin, AdminError
from middleware.auth.keys import TenancyStore
from middleware.guardrails.store import GuardrailStore

log = logging.getLogger("portcullis.admin")

PREFIX = "/api/v1"
MAX_BODY = 4 * 1024 * 1024
T = TypeVar("T")


class ApiError(Exception):
    """A refusal: the status, what is wrong, and what to do about it."""

    def __init__(self, status: int, message: str, fix: str = "") -> None:
        super().__init__(message)
        self.status, self.message, self.fix = status, message, fix


@dataclass
class Context:
    """What every handler works on: the running gateway and the stores it reads."""

    target: AdminTarget
    tenancy_store: TenancyStore
    pins: GuardrailStore
    parts: AdminParts
    modes_before: dict[str, Any] = field(default_factory=dict)
    """Plugins disabled here, and the mode each had: ``enable`` restores it."""

    @property
    def tenancy(self) -> Admin:
        """The tenancy's changes, checked against the settings running now (a reload changes them)."""
        return Admin(self.target.settings, self.tenancy_store)

    async def applied(self, change: Awaitable[T]) -> T:
        """``change`` made to the store, then read by this gateway's tenancy at once, so the
        answer is already true on ``/mcp`` (instead of after the next poll)."""
        done = await change
        await self.target.tenancy.refresh()
        return done


Handler = Callable[[Context, Request], Awaitable[Any]]


@dataclass(frozen=True)
class Op:
    """One operation: the route, and what the OpenAPI document says of it."""

    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    body: dict[str, Any] | None = None
    status: int = 200
    query: dict[str, str] = field(default_factory=dict)
    """Query parameters and their descriptions."""

    @property
    def openapi_path(self) -> str:
        return PREFIX + self.path.replace(":path}", "}")


def json_response(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


def error_response(status: int, message: str, fix: str = "") -> Response:
    return json_response({"error": {"message": message, "fix": fix}}, status)


def endpoint(op: Op, context: Context) -> Callable[[Request], Awaitable[Response]]:
    """A Starlette endpoint running ``op.handler``: its answer as JSON, refusals in one shape."""

    async def run(request: Request) -> Response:
        try:
            result = await op.handler(context, request)
        except ApiError as exc:
            return error_response(exc.status, exc.message, exc.fix)
        except AdminError as exc:  # the tenancy's refusals say what to do already
            return error_response(409, str(exc), "see the message")
        except Exception:  # boundary: an operator gets a status, the log gets the trace
            log.exception("admin API: %s %s failed", op.method, op.path)
            return error_response(500, "the operation failed inside the gateway", "see the gateway's log")
        return json_response(result, op.status)

    return run


async def body(request: Request) -> dict[str, Any]:
    """The JSON object sent, or a 400 that says what a body should be."""
    raw = bytearray()
    async for chunk in request.stream():  # never more than MAX_BODY in memory
        raw += chunk
        if len(raw) > MAX_BODY:
            raise ApiError(413, "the body is too large", f"send at most {MAX_BODY} bytes")
    if not raw:
        return {}
    try:
        data = orjson.loads(bytes(raw))
    except orjson.JSONDecodeError:
        raise ApiError(400, "the body is not JSON", "send a JSON object") from None
    if not isinstance(data, dict):
        raise ApiError(400, "the body is not a JSON object", "send a JSON object, like {}")
    return data


def field_of(data: dict[str, Any], name: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
    """One field of a body, of the right type; 400 naming it when missing or wrong."""
    if name not in data or (data[name] is None and default is not ...):
        if default is ...:
            raise ApiError(400, f"{name!r} is required", f"add {name!r} to the JSON body")
        return default
    value = data[name]
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        what = getattr(kind, "__name__", "number")
        raise ApiError(400, f"{name!r} must be a {what}", f"send {name!r} as a {what}")
    return value


def strings_of(data: dict[str, Any], name: str, default: list[str]) -> list[str]:
    """A list-of-strings field of a body (names, globs, roles)."""
    value = field_of(data, name, list, default)
    if not all(isinstance(item, str) for item in value):
        raise ApiError(400, f"{name!r} must be a list of strings", f'send {name!r} like ["a", "b"]')
    return list(value)


def not_built(part: str, owner: str) -> ApiError:
    return ApiError(501, f"{part} is not available in this gateway yet", f"it arrives with {owner}")
