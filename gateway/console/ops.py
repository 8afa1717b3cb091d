"""The console changes and reads the gateway through the admin API's own handlers, called in
process: one implementation of every operation, with the same checks and refusals as
``/api/v1`` and ``portcullis admin`` (what the console adds is only the page around it)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import orjson
from starlette.requests import Request

from gateway.admin.http import ApiError, Context, Handler
from gateway.state.tenancy_admin import AdminError

log = logging.getLogger("portcullis.admin")


async def call(
    context: Context,
    handler: Handler,
    *,
    path: Mapping[str, str] | None = None,
    data: Mapping[str, Any] | None = None,
    query: Mapping[str, str] | None = None,
) -> Any:
    """``handler``'s answer to a request with these path parameters, JSON body and query."""
    body = orjson.dumps(dict(data)) if data else b""
    scope = {
        "type": "http",
        "method": "POST" if data else "GET",
        "path": "/console",
        "headers": [(b"content-type", b"application/json")],
        "query_string": urlencode(dict(query or {})).encode(),
        "path_params": dict(path or {}),
    }
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return await handler(context, Request(scope, receive))


async def outcome(context: Context, handler: Handler, **request: Any) -> tuple[Any, str | None]:
    """(the answer, None), or (None, why it was refused) in the words the API would use."""
    try:
        return await call(context, handler, **request), None
    except ApiError as exc:
        return None, f"{exc.message} ({exc.fix})" if exc.fix else exc.message
    except AdminError as exc:
        return None, str(exc)
    except Exception:  # boundary: the operator sees that it failed, the log has the trace
        log.exception("console: %s failed", getattr(handler, "__name__", "an operation"))
        return None, "the operation failed inside the gateway; see the gateway's log"
