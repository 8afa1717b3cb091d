"""Secrets named in settings rather than written there: ``${VAR}`` (an environment variable,
anywhere in the value) and ``file:/path`` (a whole value: the file's contents, stripped).

Resolved when an upstream connects, not when settings load: a rotated secret file or a
variable set by an orchestrator is picked up at the next connection, and a missing one fails
that server alone. Errors name the setting and the fix, never a value. Pure (no I/O but the
read itself), so that settings validation can use :func:`reference_problem` and
:func:`secure_endpoint` cheaply.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from typing import Final
from urllib.parse import urlsplit

VARIABLE: Final = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
FILE_PREFIX: Final = "file:"
_MAX_SECRET_BYTES: Final = 64 * 1024


class SecretMissing(Exception):
    """A referenced secret cannot be read; ``detail`` says which setting, why and the fix."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def is_reference(value: str) -> bool:
    return value.startswith(FILE_PREFIX) or VARIABLE.search(value) is not None


def reads_files(values: Mapping[str, str]) -> bool:
    return any(value.startswith(FILE_PREFIX) for value in values.values())


def reference_problem(value: str) -> str | None:
    """What is wrong with how ``value`` refers to a secret, or None. Never quotes the value
    (it may be a literal secret): only the path of a ``file:`` reference, which is not."""
    if value.startswith(FILE_PREFIX):
        path = value[len(FILE_PREFIX) :]
        if not path.strip():
            return "`file:` needs the path of a file, like file:/run/secrets/token"
        if not os.path.isabs(path):
            return f"`file:` needs an absolute path ({path!r} is relative), like file:/run/secrets/token"
        return None
    if "${" in VARIABLE.sub("", value):
        return "`${` must start a reference to an environment variable, like ${API_TOKEN}"
    return None


def resolve(value: str, where: str, *, header: bool) -> str:
    """``value`` with its references replaced. ``where`` is the settings key (it names the
    setting in errors); a header value may not hold a line break, an environment value no NUL."""
    if value.startswith(FILE_PREFIX):
        resolved = _read(value[len(FILE_PREFIX) :], where)
    else:
        resolved = VARIABLE.sub(lambda match: _variable(match.group(1), where), value)
    forbidden = "\r\n\0" if header else "\0"
    if any(char in resolved for char in forbidden):
        what = "a line break" if header else "a NUL character"
        raise SecretMissing(f"{where}: the referenced secret contains {what}; remove it from the secret")
    return resolved


def resolve_all(values: Mapping[str, str], where: str, *, header: bool) -> dict[str, str]:
    """Every value of a table (``headers``, ``env``) resolved; literal values kept as they are."""
    return {key: resolve(value, f"{where}.{key}", header=header) for key, value in values.items()}


def secure_endpoint(url: str) -> bool:
    """HTTPS, or plain HTTP to a loopback address only (OAuth 2.1 section 1.5): where an
    authorization server may be reached."""
    parts = urlsplit(url)
    if parts.scheme == "https":
        return bool(parts.hostname)
    if parts.scheme != "http" or not parts.hostname:
        return False
    if parts.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return False


def _variable(name: str, where: str) -> str:
    value = os.environ.get(name)
    if value is None:
        raise SecretMissing(
            f"{where}: the environment variable {name} is not set; set it in the gateway's "
            "environment, or refer to a file with file:/path"
        )
    if not value:
        raise SecretMissing(f"{where}: the environment variable {name} is empty; give it the secret")
    return value


def _read(path: str, where: str) -> str:
    try:
        with open(path, "rb") as handle:
            data = handle.read(_MAX_SECRET_BYTES + 1)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise SecretMissing(
            f"{where}: cannot read {path!r} ({reason}); create the file, fix the path, or let the "
            "gateway's user read it"
        ) from None
    if len(data) > _MAX_SECRET_BYTES:
        raise SecretMissing(f"{where}: {path!r} is larger than {_MAX_SECRET_BYTES} bytes; is it the secret?")
    try:
        text = data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise SecretMissing(f"{where}: {path!r} is not UTF-8 text; store the secret as text") from None
    if not text:
        raise SecretMissing(f"{where}: {path!r} is empty; write the secret into it")
    return text
