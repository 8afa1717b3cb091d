"""Finding, reading and validating the settings file; errors that name the bad key and its fix."""

from __future__ import annotations

import ipaddress
import os
import shutil
import tomllib
from pathlib import Path
from typing import Any

from pydantic import (
    ValidationError,
)

from gateway.settings.errors import SettingsError
from gateway.settings.model import Settings

SETTINGS_ENV = "PORTCULLIS_SETTINGS"
DEFAULT_SETTINGS_FILE = "settings.toml"


def find_settings_file(explicit: str | None) -> Path | None:
    """``--settings``, else ``$PORTCULLIS_SETTINGS``, else ``./settings.toml`` if present."""
    chosen = explicit or os.environ.get(SETTINGS_ENV)
    if chosen:
        return Path(chosen)
    default = Path(DEFAULT_SETTINGS_FILE)
    return default if default.is_file() else None


def load_settings(path: Path | None) -> Settings:
    """Read and validate; raises :class:`SettingsError` naming every bad key and its fix."""
    data: dict[str, Any] = {}
    source = str(path) if path else "built-in defaults"
    if path is not None:
        try:
            with path.open("rb") as handle:
                data = tomllib.load(handle)
        except FileNotFoundError:
            raise SettingsError(source, ["file not found; pass an existing file to --settings"]) from None
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(source, [f"not valid TOML: {exc}"]) from None
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        raise SettingsError(source, [explain(error) for error in exc.errors()]) from None
    if path is not None:
        _resolve_relative_cwds(settings, path.parent)
    return settings


def _resolve_relative_cwds(settings: Settings, base: Path) -> None:
    """A relative ``cwd``, TLS file or plugin configuration is relative to the settings file,
    not to wherever we were started."""
    plugins = settings.plugins.config
    if plugins is not None and not Path(plugins).is_absolute():
        settings.plugins.config = str((base / plugins).resolve())
    store = settings.guardrails.store
    if store != "memory" and "://" not in store and not Path(store).is_absolute():
        settings.guardrails.store = str((base / store).resolve())
    for server in settings.servers.values():
        if server.cwd is not None and not Path(server.cwd).is_absolute():
            server.cwd = str((base / server.cwd).resolve())
        tls = server.tls
        if tls is not None:
            for key in ("ca_bundle", "client_cert", "client_key"):
                value = getattr(tls, key)
                if value is not None and not Path(value).is_absolute():
                    setattr(tls, key, str((base / value).resolve()))


def command_problems(settings: Settings) -> list[str]:
    """Stdio servers whose ``command`` cannot be run, as 'key: what is wrong; the fix'.

    Not part of validation: ``serve`` still starts the other servers (the program may be
    installed later), but ``check`` reports it with the other settings errors."""
    from upstream.transports.stdio import resolve_command  # here: keeps settings import-light

    problems = []
    for name, server in settings.servers.items():
        if server.command is None:
            continue
        env_path = {**os.environ, **server.env}.get("PATH", os.defpath)
        problem = _command_problem(resolve_command(server.command), server.cwd, env_path)
        if problem is not None:
            problems.append(f"servers.{name}.command: {problem}")
    return problems


def _command_problem(command: str, cwd: str | None, env_path: str) -> str | None:
    """What stops ``command`` from being executed as the server's process would be (a bare name
    is looked up on the PATH the server gets; a path is relative to its ``cwd``)."""
    if os.sep not in command:
        if shutil.which(command, path=env_path) is not None:
            return None
        return f"{command!r} was not found on PATH; install it, or give its full path"
    path = Path(cwd or ".") / command
    if not path.exists():
        where = f" (relative to cwd {cwd!r})" if cwd and not Path(command).is_absolute() else ""
        return f"{command!r} does not exist{where}; fix the path, or install the program there"
    if not path.is_file() or not os.access(path, os.X_OK):
        return f"{command!r} is not an executable file; point it at the program, or make it executable"
    return None


def explain(error: Any) -> str:
    """One pydantic error as 'key.path: what is wrong — how to fix it'."""
    loc = "".join(
        f"[{part}]" if isinstance(part, int) else f".{part}"
        for part in error["loc"]
        if not str(part).startswith("function-")
    ).removeprefix(".")
    kind = error["type"]
    message = str(error["msg"]).removeprefix("Value error, ")
    if kind == "extra_forbidden":
        return f"{loc}: unknown key; remove it or check its spelling against settings.toml"
    if kind == "missing":
        return f"{loc}: required; add it"
    if kind == "literal_error":
        return f"{loc}: {message}"
    key = loc or "(top level)"
    value = error.get("input")
    shown = f" (got {value!r})" if isinstance(value, str | int | float | bool) else ""
    return f"{key}: {message}{shown}"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
