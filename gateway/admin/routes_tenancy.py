"""Projects, users and keys: the tenancy's run-time side, as the CLI's ``projects | users | keys``.

Changes go through :class:`gateway.state.tenancy_admin.Admin` (the same checks as the CLI), then
the gateway's tenancy reloads at once instead of at its next poll. A key is answered once, when
made or rotated; lists show ids and the first characters only, never a key or its hash.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request

from gateway.admin.http import ApiError, Context, Handler, Op, body, field_of, strings_of
from gateway.state.tenancy_admin import Admin, key_state
from middleware.auth.keys import KeyRecord

STRINGS = {"type": "array", "items": {"type": "string"}}
SECONDS = {"type": "number", "minimum": 0}


def _on_path(
    name: str,
    param: str,
    change: Callable[[Admin, str], Awaitable[Any]],
    answer: Callable[[str, Any], dict[str, Any]],
) -> Handler:
    """The route that changes what its path names (a project, a user, a key): the change, read
    by the gateway at once, answered as ``answer(name, what the change returned)``."""

    async def handler(context: Context, request: Request) -> Any:
        ident = request.path_params[param]
        return answer(ident, await context.applied(change(context.tenancy, ident)))

    handler.__name__ = handler.__qualname__ = name  # the OpenAPI document's operationId
    return handler


def _switch(
    name: str, param: str, noun: str, setter: Callable[[Admin, str, bool], Awaitable[str]], disabled: bool
) -> Handler:
    """Disabling or enabling a user or a key, answered with the state it is in now."""
    return _on_path(
        name,
        param,
        lambda admin, ident: setter(admin, ident, disabled),
        lambda ident, said: {noun: ident, "state": said},
    )


def _key_json(key: KeyRecord, state: str, source: str) -> dict[str, Any]:
    return {
        "id": key.id,
        "user": key.user,
        "name": key.name,
        "prefix": key.prefix,
        "state": state,
        "source": source,
        "created": key.created,
        "expires": key.expires,
        "replaced_by": key.replaced_by,
    }


async def list_projects(context: Context, request: Request) -> Any:
    directory = await context.tenancy.directory()
    return [
        {
            "name": name,
            "source": directory.source("project", name),
            "servers": list(project.servers),
            "description": project.description,
            "users": sorted(u.name for u in directory.users.values() if u.project == name),
        }
        for name, project in sorted(directory.projects.items())
    ]


async def create_project(context: Context, request: Request) -> Any:
    data = await body(request)
    servers = strings_of(data, "servers", ["*"])
    description = field_of(data, "description", str, "")
    project = await context.applied(
        context.tenancy.create_project(field_of(data, "name", str), servers, description)
    )
    return {"name": project.name, "servers": list(project.servers), "description": project.description}


delete_project = _on_path("delete_project", "name", Admin.delete_project, lambda name, _: {"deleted": name})


async def list_users(context: Context, request: Request) -> Any:
    directory = await context.tenancy.directory()
    return [
        {
            "name": name,
            "project": user.project,
            "roles": list(user.roles),
            "disabled": user.disabled,
            "source": directory.source("user", name),
            "keys": sorted(k.id for k in directory.keys.values() if k.user == name),
        }
        for name, user in sorted(directory.users.items())
    ]


async def create_user(context: Context, request: Request) -> Any:
    data = await body(request)
    roles = strings_of(data, "roles", [])
    name, project = field_of(data, "name", str), field_of(data, "project", str)
    email = field_of(data, "email", str, None)
    user = await context.applied(context.tenancy.create_user(name, project, roles, email))
    return {"name": user.name, "project": user.project, "roles": list(user.roles)}


disable_user = _switch("disable_user", "name", "user", Admin.set_user_disabled, True)
enable_user = _switch("enable_user", "name", "user", Admin.set_user_disabled, False)
delete_user = _on_path(
    "delete_user", "name", Admin.delete_user, lambda name, keys: {"deleted": name, "keys_deleted": keys}
)


async def list_keys(context: Context, request: Request) -> Any:
    directory = await context.tenancy.directory()
    user = request.query_params.get("user")
    now = time.time()
    return [
        _key_json(key, key_state(directory, key, now), directory.source("key", key.id))
        for key in sorted(directory.keys.values(), key=lambda k: k.id)
        if user in (None, key.user)
    ]


def _expiry(data: dict[str, Any]) -> float | None:
    seconds = field_of(data, "expires_in", (int, float), None)
    if seconds is not None and seconds <= 0:
        raise ApiError(400, "'expires_in' must be positive", "send seconds from now, like 7776000 (90 days)")
    return None if seconds is None else time.time() + seconds


async def create_key(context: Context, request: Request) -> Any:
    data = await body(request)
    user, name = field_of(data, "user", str), field_of(data, "name", str, "default")
    record, key = await context.applied(context.tenancy.create_key(user, name, _expiry(data)))
    return {**_key_json(record, "active", "store"), "key": key}


async def rotate_key(context: Context, request: Request) -> Any:
    data = await body(request)
    grace = field_of(data, "grace", (int, float), 86400)
    rotated = context.tenancy.rotate(request.path_params["ident"], float(grace), _expiry(data))
    old, new, key = await context.applied(rotated)
    return {**_key_json(new, "active", "store"), "key": key, "old_key_works_until": old.expires}


revoke_key = _on_path(
    "revoke_key", "ident", Admin.revoke, lambda ident, _: {"key": ident, "state": "revoked"}
)
disable_key = _switch("disable_key", "ident", "key", Admin.set_key_disabled, True)
enable_key = _switch("enable_key", "ident", "key", Admin.set_key_disabled, False)
delete_key = _on_path("delete_key", "ident", Admin.delete_key, lambda ident, _: {"deleted": ident})


def _object(properties: dict[str, Any], *required: str) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(required)}


NAME = {"type": "string"}
KEY = "/keys/{ident:path}"
OPS = [
    Op("GET", "/projects", list_projects, "List projects (settings and store)", "projects"),
    Op(
        "POST",
        "/projects",
        create_project,
        "Create a project",
        "projects",
        _object({"name": NAME, "servers": STRINGS, "description": NAME}, "name"),
        201,
    ),
    Op("DELETE", "/projects/{name}", delete_project, "Delete a project made at run time", "projects"),
    Op("GET", "/users", list_users, "List users", "users"),
    Op(
        "POST",
        "/users",
        create_user,
        "Create a user in a project",
        "users",
        _object({"name": NAME, "project": NAME, "roles": STRINGS, "email": NAME}, "name", "project"),
        201,
    ),
    Op("POST", "/users/{name}/disable", disable_user, "Disable a user (and so its keys)", "users"),
    Op("POST", "/users/{name}/enable", enable_user, "Enable a user again", "users"),
    Op("DELETE", "/users/{name}", delete_user, "Delete a user made at run time, and its keys", "users"),
    Op(
        "GET",
        "/keys",
        list_keys,
        "List keys (ids and prefixes, never keys)",
        "keys",
        query={"user": "one user"},
    ),
    Op(
        "POST",
        "/keys",
        create_key,
        "Make a key for a user; the answer holds the key, once",
        "keys",
        _object({"user": NAME, "name": NAME, "expires_in": SECONDS}, "user"),
        201,
    ),
    Op(
        "POST",
        KEY + "/rotate",
        rotate_key,
        "Make a new key; the old one works for `grace` seconds more",
        "keys",
        _object({"grace": SECONDS, "expires_in": SECONDS}),
    ),
    Op("POST", KEY + "/revoke", revoke_key, "Revoke a key, for good", "keys"),
    Op("POST", KEY + "/disable", disable_key, "Disable a key", "keys"),
    Op("POST", KEY + "/enable", enable_key, "Enable a disabled key", "keys"),
    Op("DELETE", KEY, delete_key, "Delete a key made at run time", "keys"),
]
