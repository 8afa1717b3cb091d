"""What a client entry points at: the gateway's URL (or an in-process gateway), the key, the command.

Kept apart from the clients so that the checks on what the user typed (is this URL safe to send a
bearer key to, which ``portcullis`` a desktop app will start) are one small, testable place.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

DEFAULT_URL = "http://127.0.0.1:8787/mcp"
KEY_ENV = "PORTCULLIS_API_KEY"
SETTINGS_ENV = "PORTCULLIS_SETTINGS"


@dataclass(frozen=True)
class Target:
    """The gateway an entry reaches: ``url`` over HTTP, or None for a gateway run in-process."""

    url: str | None
    key: str | None
    command: tuple[str, ...]
    """How to start ``portcullis`` (absolute: desktop apps start servers without the shell's PATH)."""
    settings: str | None = None

    def stdio_args(self) -> list[str]:
        """Arguments of ``portcullis stdio``: forward to ``url``, else serve in-process."""
        if self.url is not None:
            return ["stdio", "--url", self.url]
        return ["stdio", "--settings", self.settings] if self.settings else ["stdio"]


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def url_problem(url: str, allow_insecure: bool) -> str | None:
    """Why ``url`` is no place to send an API key, or None when it is fine."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 -- raises ValueError on a bad port
    except ValueError as error:
        return f"--http {url!r} is not a valid URL ({error})"
    if parts.scheme not in ("http", "https") or not host:
        return f"--http {url!r} must be an http:// or https:// URL with a host, e.g. {DEFAULT_URL}"
    if parts.username or parts.password:
        return f"--http {url!r} carries credentials; pass the API key with --key instead"
    if parts.scheme == "http" and not is_loopback(host) and not allow_insecure:
        return (
            f"--http {url!r} is plain http to {host}, which is not this machine: the API key would "
            "cross the network in clear text. Use https://, or pass --allow-insecure if the network "
            "itself is trusted (a private link, a sidecar)"
        )
    return None


def portcullis_command() -> tuple[str, ...]:
    """The running ``portcullis``, as an absolute command a client can start without a PATH."""
    name = "portcullis.exe" if sys.platform == "win32" else "portcullis"
    candidates = [Path(sys.argv[0]) if sys.argv and Path(sys.argv[0]).name == name else None]
    candidates.append(Path(sys.executable).parent / name)
    found = shutil.which("portcullis")
    candidates.append(Path(found) if found else None)
    for candidate in candidates:
        if candidate is not None and candidate.is_file():
            return (str(candidate.absolute()),)
    return (str(Path(sys.executable).absolute()), "-m", "gateway")  # not resolved: keep the venv


def resolve_key(given: str | None, env: Mapping[str, str] = os.environ) -> str | None:
    """``--key``, else ``$PORTCULLIS_API_KEY``, else None (the entry is written without a credential)."""
    key = (given if given is not None else env.get(KEY_ENV, "")).strip()
    return key or None


def resolve_settings(given: str | None, env: Mapping[str, str] = os.environ) -> str | None:
    """The settings file an in-process gateway should read, made absolute (a client's working
    directory is not the shell's): ``--settings``, else ``$PORTCULLIS_SETTINGS``, else
    ``./settings.toml`` if present, else None (built-in defaults)."""
    chosen = given or env.get(SETTINGS_ENV)
    if chosen:
        return str(Path(chosen).expanduser().resolve())
    default = Path("settings.toml")
    return str(default.resolve()) if default.is_file() else None
