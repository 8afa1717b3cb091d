"""Settings as a document an operator may read: secrets masked, as JSON or TOML.

Masked: every ``SecretStr``, every value of a server's ``env`` and ``headers`` (they carry
credentials) and of any key that names a secret, unless it is a reference (``${VAR}``,
``file:/path``), which says where the secret is and not what it is; passwords in URLs.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from gateway.settings import Settings
from upstream.pool.credential_refs import is_reference

MASK = "***"
SECRET_KEY = re.compile(r"secret|token|password|passwd|credential|api_?key|^key$|_key$|authorization", re.I)
SECRET_TABLES = frozenset({"env", "headers"})
HASH_KEYS = frozenset({"sha256", "token_sha256"})
"""Hashes of keys stay: they are what settings hold instead of the secret, and restoring needs them."""


def masked(settings: Settings) -> dict[str, Any]:
    """What the settings say (file and environment; defaults left out, so the document can be
    imported again once its secrets are put back), masked."""
    dumped = settings.model_dump(mode="json", exclude_none=True, exclude_unset=True)
    # Paths resolved beside the settings file at load, defaults or not: imported elsewhere, a
    # relative default would point somewhere else (the state store above all).
    dumped.setdefault("guardrails", {})["store"] = settings.guardrails.store
    if settings.plugins.config is not None:
        dumped.setdefault("plugins", {})["config"] = settings.plugins.config
    data: dict[str, Any] = _mask(dumped, secret=False)
    return data


def _mask(value: Any, *, secret: bool) -> Any:
    if isinstance(value, dict):
        return {key: _mask(item, secret=secret or _secret_key(key, item)) for key, item in value.items()}
    if isinstance(value, list):
        return [_mask(item, secret=secret) for item in value]
    if isinstance(value, str):
        if secret and not is_reference(value):
            return MASK
        return _without_password(value)
    return value


def _secret_key(key: str, value: Any) -> bool:
    """Every value of an env or headers table; a string under a name that says secret."""
    if key in SECRET_TABLES:
        return True
    return isinstance(value, str) and key not in HASH_KEYS and SECRET_KEY.search(key) is not None


def _without_password(value: str) -> str:
    if "://" not in value or "@" not in value:
        return value
    try:
        parts = urlsplit(value)
        password = parts.password
    except ValueError:
        return value
    if not password:
        return value
    netloc = parts.netloc.replace(f":{password}@", f":{MASK}@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


# --- TOML, written here: nothing in the dependencies writes it -------------------------------


def to_toml(data: dict[str, Any]) -> str:
    lines: list[str] = []
    _table(lines, [], data)
    return "\n".join(lines).strip() + "\n"


def _is_table(value: Any) -> bool:
    return isinstance(value, dict)


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(item, dict) for item in value)


def _table(lines: list[str], path: list[str], data: dict[str, Any]) -> None:
    """Plain keys first, then sub-tables, then arrays of tables (TOML's order)."""
    plain = {k: v for k, v in data.items() if not _is_table(v) and not _is_table_array(v)}
    if path and (plain or not data):
        lines += ["", f"[{'.'.join(_key(p) for p in path)}]"]
    lines += [f"{_key(k)} = {_value(v)}" for k, v in plain.items()]
    for key, value in data.items():
        if _is_table(value):
            _table(lines, [*path, key], value)
    for key, value in data.items():
        if _is_table_array(value):
            for item in value:
                lines += ["", f"[[{'.'.join(_key(p) for p in [*path, key])}]]"]
                _inline_rest(lines, item)


def _inline_rest(lines: list[str], item: dict[str, Any]) -> None:
    """An array-of-tables entry: every value inline (nested tables as inline tables)."""
    lines += [f"{_key(k)} = {_value(v)}" for k, v in item.items()]


def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no TOML for {type(value).__name__}")
