"""Mcp-Param-* headers: found only where x-mcp-header may be, written as a client writes
them, and checked against the arguments the way a server must."""

from __future__ import annotations

import pytest

from middleware.protocol.headers import HeaderMismatch
from middleware.protocol.param_headers import (
    annotated,
    annotation_problem,
    check_param_headers,
    param_headers,
)

SCHEMA = {
    "type": "object",
    "properties": {
        "region": {"type": "string", "x-mcp-header": "Region"},
        "shard": {"type": "integer", "x-mcp-header": "Shard"},
        "dry": {"type": "boolean", "x-mcp-header": "Dry-Run"},
        "ratio": {"type": "number", "x-mcp-header": "Ratio"},  # numbers may not be mirrored
        "target": {"type": "object", "properties": {"zone": {"type": "string", "x-mcp-header": "Zone"}}},
        "list": {"type": "array", "items": {"type": "string", "x-mcp-header": "Item"}},  # not reachable
        "bad": {"type": "string", "x-mcp-header": "has space"},
        "query": {"type": "string"},
    },
}


def test_only_statically_reachable_primitive_properties_count() -> None:
    assert annotated(SCHEMA) == {
        "mcp-param-region": ("region",),
        "mcp-param-shard": ("shard",),
        "mcp-param-dry-run": ("dry",),
        "mcp-param-zone": ("target", "zone"),
    }
    assert annotated({"type": "object"}) == {}
    assert annotated(None) == {}


def test_a_client_writes_them_encoded() -> None:
    arguments = {"region": "Zürich", "shard": 42, "dry": True, "target": {"zone": "b"}, "query": "x"}
    assert param_headers(SCHEMA, arguments) == {
        "mcp-param-region": "=?base64?WsO8cmljaA==?=",
        "mcp-param-shard": "42",
        "mcp-param-dry-run": "true",
        "mcp-param-zone": "b",
    }


def test_the_server_check_accepts_matching_headers_and_refuses_the_rest() -> None:
    arguments = {"region": "us-west1", "shard": 42, "query": "SELECT 1"}
    good = {"mcp-param-region": "us-west1", "mcp-param-shard": "42.0"}
    check_param_headers(good, SCHEMA, arguments)
    check_param_headers({**good, "mcp-param-region": "=?base64?dXMtd2VzdDE=?="}, SCHEMA, arguments)
    for headers, why in [
        ({"mcp-param-shard": "42"}, "missing"),
        ({**good, "mcp-param-region": "eu-west1"}, "does not match"),
        ({**good, "mcp-param-shard": "41"}, "does not match"),
        ({**good, "mcp-param-dry-run": "true"}, "argument 'dry' is not"),
        ({**good, "mcp-param-region": "us\x01west"}, "not allowed"),
    ]:
        with pytest.raises(HeaderMismatch, match=why):
            check_param_headers(headers, SCHEMA, arguments)


def test_invalid_annotations_make_the_tool_definition_invalid() -> None:
    def tool(**properties: object) -> dict[str, object]:
        return {"type": "object", "properties": properties}

    assert annotation_problem(tool(region={"type": "string", "x-mcp-header": "Region"})) is None
    assert annotation_problem({"type": "object"}) is None
    # a property that happens to be named x-mcp-header is not an annotation
    assert annotation_problem(tool(**{"x-mcp-header": {"type": "string"}})) is None
    for schema, why in [
        (tool(a={"type": "string", "x-mcp-header": ""}), "not an HTTP header token"),
        (tool(a={"type": "string", "x-mcp-header": "has space"}), "not an HTTP header token"),
        (tool(a={"type": "string", "x-mcp-header": "Line\nBreak"}), "not an HTTP header token"),
        (tool(a={"type": "number", "x-mcp-header": "Ratio"}), "not a string, integer or boolean"),
        (
            tool(a={"type": "string", "x-mcp-header": "Dup"}, b={"type": "string", "x-mcp-header": "dup"}),
            "used twice",
        ),
        (tool(a={"type": "array", "items": {"type": "string", "x-mcp-header": "Item"}}), "not reachable"),
        ({"anyOf": [tool(a={"type": "string", "x-mcp-header": "A"})]}, "not reachable"),
    ]:
        assert why in (annotation_problem(schema) or ""), schema
