"""Mirrored request headers (2026-07-28): encoded by clients, checked against the body."""

from __future__ import annotations

from typing import Any

import pytest

from middleware.protocol.headers import (
    META_PROTOCOL_VERSION,
    HeaderMismatch,
    check_request,
    decode_value,
    encode_value,
    request_headers,
)


def call(name: str, version: str = "2026-07-28") -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": name, "arguments": {}, "_meta": {META_PROTOCOL_VERSION: version}},
    }


def lower(headers: dict[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        ("us-west1", "us-west1"),
        ("Hello, 世界", "=?base64?SGVsbG8sIOS4lueVjA==?="),
        (" padded ", "=?base64?IHBhZGRlZCA=?="),
        ("line1\nline2", "=?base64?bGluZTEKbGluZTI=?="),
        ("=?base64?literal?=", "=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?="),
    ],
)
def test_values_are_encoded_as_the_spec_shows(value: str, encoded: str) -> None:
    assert encode_value(value) == encoded
    assert decode_value(encoded) == value


def test_headers_a_client_writes_pass_the_servers_check() -> None:
    for name in ("get_weather", "météo", "file:///a b"):
        message = call(name)
        check_request(lower(request_headers(message, "2026-07-28")), message)


@pytest.mark.parametrize(
    ("headers", "complaint"),
    [
        ({"mcp-method": "tools/call", "mcp-name": "x"}, "MCP-Protocol-Version header is required"),
        ({"mcp-protocol-version": "2026-07-28", "mcp-name": "x"}, "Mcp-Method header is required"),
        ({"mcp-protocol-version": "2026-07-28", "mcp-method": "tools/call"}, "Mcp-Name header is required"),
        (
            {"mcp-protocol-version": "2025-11-25", "mcp-method": "tools/call", "mcp-name": "x"},
            "does not match _meta",
        ),
        (
            {"mcp-protocol-version": "2026-07-28", "mcp-method": "tools/list", "mcp-name": "x"},
            "Mcp-Method header",
        ),
        (
            {"mcp-protocol-version": "2026-07-28", "mcp-method": "tools/call", "mcp-name": "y"},
            "Mcp-Name header 'y'",
        ),
        (
            {"mcp-protocol-version": "2026-07-28", "mcp-method": "tools/call", "mcp-name": "=?base64?!!?="},
            "Base64",
        ),
    ],
)
def test_missing_or_disagreeing_headers_are_refused(headers: dict[str, str], complaint: str) -> None:
    with pytest.raises(HeaderMismatch, match=complaint.replace("?", r"\?")):
        check_request(headers, call("x"))
