"""``Mcp-Param-{Name}`` headers: tool arguments a server asks (with ``x-mcp-header`` in the
tool's input schema) to see mirrored into HTTP headers, so intermediaries can route on them.

The gateway checks them on its front (a header that disagrees with its argument would let a
load balancer route on one value while the tool runs on another) and writes them towards
modern HTTP upstreams.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any, Final

from middleware.protocol.headers import HeaderMismatch, decode_value, encode_value

_TOKEN: Final = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_SAFE_INTEGER: Final = 2**53 - 1


_last: list[Any] = [None, {}]
"""The last schema looked at and what it asks for: a tool is called many times in a row."""


def annotated(schema: Any) -> dict[str, tuple[str, ...]]:
    """``{header name: property path}`` of the ``x-mcp-header`` properties statically reachable
    through ``properties`` (others are invalid and ignored); header names lower-cased."""
    if _last[0] is schema and schema is not None:
        found_before: dict[str, tuple[str, ...]] = _last[1]
        return found_before
    found = _annotated(schema)
    _last[:] = [schema, found]
    return found


def _annotated(schema: Any) -> dict[str, tuple[str, ...]]:
    found: dict[str, tuple[str, ...]] = {}
    for path, name in _walk(schema, ()):
        if isinstance(name, str) and _TOKEN.match(name):
            found.setdefault(f"mcp-param-{name.lower()}", path)
    return found


def _walk(schema: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], Any]]:
    properties = schema.get("properties") if isinstance(schema, dict) else None
    if not isinstance(properties, dict):
        return
    for key, sub in properties.items():
        if not isinstance(sub, dict):
            continue
        if "x-mcp-header" in sub and sub.get("type") in ("string", "integer", "boolean"):
            yield (*path, key), sub["x-mcp-header"]
        yield from _walk(sub, (*path, key))


def annotation_problem(schema: Any) -> str | None:
    """Why a tool's ``x-mcp-header`` annotations make its definition invalid, or None.

    Valid: a non-empty token, unique case-insensitively, on a string, integer or boolean
    property reachable from the root through ``properties`` keys only."""
    reachable = {id(sub) for sub in _reachable(schema)}
    seen: set[str] = set()
    for where, node in _every_object(schema, "$"):
        if "x-mcp-header" not in node:
            continue
        name = node["x-mcp-header"]
        if not isinstance(name, str) or not _TOKEN.match(name):
            return f"x-mcp-header {name!r} at {where} is not an HTTP header token"
        if name.lower() in seen:
            return f"x-mcp-header {name!r} at {where} is used twice"
        seen.add(name.lower())
        if node.get("type") not in ("string", "integer", "boolean"):
            kind = node.get("type")
            return f"x-mcp-header {name!r} at {where} is on a {kind!r}, not a string, integer or boolean"
        if id(node) not in reachable:
            return f"x-mcp-header {name!r} at {where} is not reachable through properties alone"
    return None


def _reachable(schema: Any) -> Iterator[dict[str, Any]]:
    properties = schema.get("properties") if isinstance(schema, dict) else None
    if isinstance(properties, dict):
        for sub in properties.values():
            if isinstance(sub, dict):
                yield sub
                yield from _reachable(sub)


_SCHEMA_MAPS: Final = frozenset(
    {"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"}
)
"""Keywords whose value maps names to schemas (the map itself is not a schema)."""


def _every_object(node: Any, where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every subschema of ``node`` (a property named ``x-mcp-header`` is not an annotation)."""
    if isinstance(node, dict):
        yield where, node
        for key, value in node.items():
            if key in _SCHEMA_MAPS and isinstance(value, dict):
                for name, sub in value.items():
                    yield from _every_object(sub, f"{where}.{key}.{name}")
            else:
                yield from _every_object(value, f"{where}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _every_object(value, f"{where}[{index}]")


def _value_at(arguments: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(arguments, dict):
            return None
        arguments = arguments.get(key)
    return arguments


def _as_text(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) and abs(value) <= _SAFE_INTEGER:
        return str(value)
    if isinstance(value, str):
        return value
    return None


def param_headers(schema: Any, arguments: Any) -> dict[str, str]:
    """The ``Mcp-Param-*`` headers a client sends with a call of this tool."""
    headers: dict[str, str] = {}
    for header, path in annotated(schema).items():
        text = _as_text(_value_at(arguments, path))
        if text is not None:
            headers[header] = encode_value(text)
    return headers


def check_param_headers(headers: Mapping[str, str], schema: Any, arguments: Any) -> None:
    """Raise :class:`HeaderMismatch` unless every annotated argument's header is present and
    equal to it (integers compared as numbers), and no such header comes without its argument.
    ``headers`` has lower-case names."""
    for header, path in annotated(schema).items():
        value = _value_at(arguments, path)
        raw = headers.get(header)
        if value is None:
            if raw is not None:
                raise HeaderMismatch(f"{header} header is present but the argument {'.'.join(path)!r} is not")
            continue
        if raw is None:
            raise HeaderMismatch(f"{header} header is missing but the argument {'.'.join(path)!r} is present")
        sent = decode_value(raw)
        if isinstance(value, int) and not isinstance(value, bool):
            try:
                if float(sent) == value:
                    continue
            except ValueError:
                pass
        elif sent == _as_text(value):
            continue
        raise HeaderMismatch(f"{header} header {sent!r} does not match the argument {'.'.join(path)!r}")
