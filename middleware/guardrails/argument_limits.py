"""Argument shapes a gateway refuses before reading them closely, and the inputSchema validators.

Limits are checked without recursion and stop at the first excess, so a hostile argument costs
at most its own size to refuse. Validators are built once per schema object (a tool's definition
is the same object until its server's list changes).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from jsonschema import Draft202012Validator, SchemaError
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for as schema_class

from middleware.guardrails.detectors.findings import Finding

log = logging.getLogger("portcullis.guardrails")

_VALIDATORS: dict[int, tuple[dict[str, Any], Validator | None]] = {}


def validator_for(schema: dict[str, Any]) -> Validator | None:
    """A validator for a tool's ``inputSchema`` (2020-12 unless it names its dialect); None when
    the schema itself is invalid (the server's fault: logged once, arguments not judged by it)."""
    cached = _VALIDATORS.get(id(schema))
    if cached is not None and cached[0] is schema:
        return cached[1]
    cls = schema_class(schema, default=Draft202012Validator)
    validator: Validator | None
    try:
        cls.check_schema(schema)
        validator = cls(schema)
    except SchemaError as exc:
        log.warning(
            "a tool's inputSchema is not valid JSON Schema (%s); its arguments are not checked", exc.message
        )
        validator = None
    except Exception as exc:  # boundary: an unresolvable $ref or a dialect the library does not know
        log.warning(
            "a tool's inputSchema cannot be used (%s); its arguments are not checked", type(exc).__name__
        )
        validator = None
    if len(_VALIDATORS) > 4096:
        _VALIDATORS.clear()
    _VALIDATORS[id(schema)] = (schema, validator)
    return validator


def shape_problem(args: Any, config: Mapping[str, Any]) -> Finding | None:
    """Why ``args`` is too deep, too wide or holds too long a string; None when it is fine."""
    max_depth = int(config.get("max_depth", 32))
    max_width = int(config.get("max_width", 10_000))
    max_string = int(config.get("max_string", 1 << 20))
    stack: list[tuple[Any, int]] = [(args, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            if len(value) > max_string:
                return _limit("string", f"an argument string is longer than {max_string} characters")
            continue
        if not isinstance(value, dict | list):
            continue
        if depth >= max_depth:
            return _limit("depth", f"arguments nest deeper than {max_depth} levels")
        if len(value) > max_width:
            return _limit("width", f"an argument object or array has more than {max_width} items")
        children = value.values() if isinstance(value, dict) else value
        stack.extend((child, depth + 1) for child in children)
    return None


def _limit(kind: str, reason: str) -> Finding:
    return Finding("limits", kind, 0, 0, reason + ": send less, or raise the guardrail's limit")
