"""The OpenAPI 3.1 document, generated from the same operation table as the routes, so neither
can name what the other lacks (the test checks both ways anyway)."""

from __future__ import annotations

import re
from typing import Any

from gateway import __version__
from gateway.admin.http import PREFIX, Op

ERROR = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {"message": {"type": "string"}, "fix": {"type": "string"}},
            "required": ["message", "fix"],
        }
    },
    "required": ["error"],
}
OPENAPI_PATH = PREFIX + "/openapi.json"


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _operation(op: Op) -> dict[str, Any]:
    names = re.findall(r"{(\w+)", op.path)
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}} for name in names
    ] + [
        {"name": name, "in": "query", "required": False, "description": about, "schema": {"type": "string"}}
        for name, about in op.query.items()
    ]
    operation: dict[str, Any] = {
        "operationId": f"{op.method.lower()}_{op.handler.__name__}",
        "summary": op.summary,
        "tags": [op.tag],
        "responses": {
            str(op.status): {"description": "done", "content": {"application/json": {"schema": {}}}},
            "400": _error("the request is wrong; the fix says how"),
            "401": _error("the admin token is missing or wrong"),
            "429": _error("too many wrong admin tokens from this address lately; see Retry-After"),
            "404": _error("nothing of that name"),
            "409": _error("refused in the current state"),
            "501": _error("the part this needs is not built into this gateway yet"),
        },
    }
    if parameters:
        operation["parameters"] = parameters
    if op.body is not None:
        operation["requestBody"] = {
            "required": op.method == "POST" and bool(op.body.get("required")),
            "content": {"application/json": {"schema": op.body}},
        }
    return operation


def document(ops: list[Op]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for op in ops:
        paths.setdefault(op.openapi_path, {})[op.method.lower()] = _operation(op)
    paths[OPENAPI_PATH] = {
        "get": {
            "operationId": "get_openapi",
            "summary": "This document",
            "tags": ["meta"],
            "responses": {
                "200": {"description": "the OpenAPI document", "content": {"application/json": {}}}
            },
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Portcullis admin API",
            "version": __version__,
            "description": "Operate a running Portcullis gateway. Every request needs the admin token "
            '(Authorization: Bearer ...); refusals are {"error": {"message", "fix"}}.',
        },
        "security": [{"adminToken": []}],
        "paths": paths,
        "components": {
            "schemas": {"Error": ERROR},
            "securitySchemes": {"adminToken": {"type": "http", "scheme": "bearer"}},
        },
    }
