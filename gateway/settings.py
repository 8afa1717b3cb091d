"""Settings: one ``settings.toml``, every key overridable by a ``PORTCULLIS_…`` variable.

Nested keys use ``__`` in variable names: ``PORTCULLIS_PORT=9000``,
``PORTCULLIS_AUTH__ENABLED=false``, ``PORTCULLIS_SERVERS__DEMO__COMMAND=python``.
Invalid settings fail before anything starts, with messages that name the key and the fix.
"""

from __future__ import annotations

import importlib
import ipaddress
import os
import re
import shutil
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

SETTINGS_ENV = "PORTCULLIS_SETTINGS"
DEFAULT_SETTINGS_FILE = "settings.toml"
SERVER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RestartSettings(_Strict):
    backoff_initial: float = Field(0.5, gt=0, description="first delay between restarts, seconds")
    backoff_max: float = Field(30.0, gt=0, description="cap on the delay between restarts")
    max_restarts: int = Field(5, ge=0, description="restarts allowed within `window`")
    window: float = Field(60.0, gt=0, description="seconds over which crashes are counted")


class TlsSettings(_Strict):
    """TLS towards one HTTP upstream. Relative paths are relative to the settings file."""

    ca_bundle: str | None = Field(None, description="PEM file of CAs to trust instead of the system's")
    client_cert: str | None = Field(None, description="PEM client certificate, for mutual TLS")
    client_key: str | None = Field(None, description="PEM key of client_cert, if not in that file")
    verify: bool = Field(True, description="verify the server's certificate and name")

    @model_validator(mode="after")
    def _coherent(self) -> TlsSettings:
        if self.client_key is not None and self.client_cert is None:
            raise ValueError("`client_key` needs `client_cert`; add the certificate or remove the key")
        if not self.verify and self.ca_bundle is not None:
            raise ValueError("`ca_bundle` has no effect with `verify = false`; remove one of them")
        return self


HTTP_ONLY_KEYS = ("transport", "timeout", "sse_read_timeout", "tls")


class ServerSettings(_Strict):
    """One upstream MCP server: a stdio ``command``, or an HTTP ``url``."""

    command: str | None = None
    args: list[str] = []
    env: dict[str, str] = {}
    cwd: str | None = None
    url: str | None = None
    headers: dict[str, str] = Field({}, description="sent with every request to this server only")
    transport: Literal["auto", "streamable-http", "sse"] = Field(
        "auto", description="HTTP transport; auto tries streamable HTTP, then 2024-11-05 HTTP+SSE"
    )
    timeout: float = Field(30.0, gt=0, description="seconds to connect, and for a non-streamed answer")
    sse_read_timeout: float = Field(300.0, gt=0, description="seconds an SSE stream may stay silent")
    tls: TlsSettings | None = None
    session_mode: Literal["shared", "per_client"] = Field(
        "shared", description="one upstream session for all clients, or one per gateway session"
    )
    max_message_bytes: int = Field(64 * 1024 * 1024, gt=0, description="largest message accepted")
    prefix: str | None = Field(None, description="namespace of its tools and prompts")
    era: Literal["auto", "legacy", "modern"] = Field(
        "auto",
        description="protocol era: auto probes with server/discover and falls back to initialize; "
        "legacy always initializes (2025-11-25 and earlier); modern only speaks 2026-07-28",
    )
    start: Literal["lazy", "eager"] = "lazy"
    startup_timeout: float = Field(30.0, gt=0)
    restart: RestartSettings = RestartSettings()

    @field_validator("url")
    @classmethod
    def _url_is_http(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("must be an http:// or https:// URL, e.g. https://mcp.example.com/mcp")
        return value

    @field_validator("headers")
    @classmethod
    def _headers_are_ours(cls, value: dict[str, str]) -> dict[str, str]:
        from upstream.transports.http_support import MANAGED_HEADERS  # here: aiohttp is slow to import

        managed = sorted(name for name in value if name.lower() in MANAGED_HEADERS)
        if managed:
            raise ValueError(f"{', '.join(managed)}: the gateway sets these itself; remove them")
        return value

    @model_validator(mode="after")
    def _one_transport(self) -> ServerSettings:
        if (self.command is None) == (self.url is None):
            raise ValueError("set exactly one of `command` (a stdio server) or `url` (an HTTP server)")
        if self.url is not None and (self.args or self.env or self.cwd):
            raise ValueError("`args`, `env` and `cwd` apply to stdio servers; remove them or use `command`")
        if self.command is not None and self.headers:
            raise ValueError("`headers` apply to HTTP servers; remove them or use `url`")
        if self.command is not None:
            misplaced = [key for key in HTTP_ONLY_KEYS if key in self.model_fields_set]
            if misplaced:
                keys = ", ".join(f"`{key}`" for key in misplaced)
                raise ValueError(f"{keys} apply to HTTP servers; remove them or use `url`")
        if self.era == "modern" and self.url is not None and self.transport == "sse":
            raise ValueError(
                '`era = "modern"` cannot use `transport = "sse"` (2024-11-05 HTTP+SSE has no 2026-07-28 '
                'requests); use transport "auto" or "streamable-http"'
            )
        if self.tls is not None and self.url is not None and not self.url.startswith("https://"):
            raise ValueError("`tls` applies to https:// URLs; use https:// or remove `tls`")
        return self


class ApiKey(_Strict):
    principal: str = Field(min_length=1)
    sha256: str = Field(description="hex SHA-256 of the key; `portcullis keygen` makes one")

    @field_validator("sha256")
    @classmethod
    def _is_hash(cls, value: str) -> str:
        if not SHA256_HEX.match(value):
            raise ValueError(
                "must be 64 lowercase hex characters (the SHA-256 of the key, never the key "
                "itself); run `portcullis keygen` to make a key and its hash"
            )
        return value


class AuthSettings(_Strict):
    enabled: bool = True
    api_keys: list[ApiKey] = []
    public_paths: list[str] = ["/healthz"]


class HttpSettings(_Strict):
    max_body_bytes: int = Field(4 * 1024 * 1024, gt=0)
    allowed_hosts: list[str] = Field(
        [], description="Host header values an ingress presents, e.g. 'mcp.example.com'"
    )
    allowed_origins: list[str] = Field([], description="browser origins allowed to call us")
    sse_keepalive: float = Field(15.0, gt=0, description="seconds between SSE keep-alive comments")
    max_json_depth: int = Field(
        64,
        ge=2,
        le=250,  # orjson writes at most 254 levels: a deeper message could not be forwarded
        description="deepest nesting of arrays and objects accepted in a client's message",
    )


class SessionSettings(_Strict):
    idle_timeout: float = Field(3600.0, gt=0, description="seconds before an idle session ends")
    max_sessions: int = Field(100_000, gt=0)
    request_state_key: str | None = Field(
        None,
        min_length=32,
        description="secret that MACs the requestState of 2026-07-28 retries; replicas behind one "
        "load balancer must share it (random per process when unset)",
    )
    request_state_lifetime: float = Field(
        300.0, gt=0, description="seconds a 2026-07-28 client has to retry a call that needs its input"
    )
    max_waiting_calls: int = Field(
        64,
        gt=0,
        description="calls of one principal that may wait for a 2026-07-28 client's input at once "
        "(each holds an upstream call open)",
    )
    request_state_ledger: str | None = Field(
        None,
        description="redis:// URL where replicas record spent requestState tokens, so none is "
        "used twice across replicas (in this process's memory when unset)",
    )

    @field_validator("request_state_ledger")
    @classmethod
    def _ledger_is_redis(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^(redis|rediss|unix)://", value):
            raise ValueError("must be a redis://, rediss:// or unix:// URL, e.g. redis://127.0.0.1:6379/0")
        return value


class RoutingSettings(_Strict):
    separator: str = Field("__", min_length=1, max_length=8)
    page_size: int = Field(100, ge=1, le=10_000, description="items per page of merged lists")
    start_patience: float = Field(
        1.5, ge=0, le=60, description="seconds a merged list or initialize waits for lazy servers to start"
    )
    snapshot_max_bytes: int = Field(
        64 * 1024 * 1024, ge=0, description="memory superseded list snapshots may hold, per list"
    )
    snapshot_max_age: float = Field(
        300.0, gt=0, description="seconds a cursor into a superseded list stays valid"
    )

    @field_validator("separator")
    @classmethod
    def _tool_name_safe(cls, value: str) -> str:
        if not re.match(r"^[A-Za-z0-9_.\-/]+$", value):
            raise ValueError("use characters allowed in MCP tool names: letters, digits, _ - . /")
        return value


class MiddlewareSettings(_Strict):
    use: str = Field(description="import path 'package.module:Class'")
    options: dict[str, Any] = {}

    @field_validator("use")
    @classmethod
    def _import_path(cls, value: str) -> str:
        if not re.match(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$", value):
            raise ValueError("write it as 'package.module:ClassName'")
        # Checked here, not only when the stack is built, so `check` reports it with the rest.
        module_name, _, attribute = value.partition(":")
        try:
            getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError) as exc:
            raise ValueError(
                f"cannot import it ({exc}); check the module is on the Python path and "
                "the name is spelled right"
            ) from None
        return value


class LoggingSettings(_Strict):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["text", "json"] = "text"


DEFAULT_MIDDLEWARE = [
    MiddlewareSettings(use="middleware.telemetry.access_log:AccessLog"),
    MiddlewareSettings(use="middleware.timeouts:Timeouts"),
    # What flows back stays bounded unless a stack is configured without these.
    MiddlewareSettings(use="middleware.limits:ProgressThrottle"),
    MiddlewareSettings(use="middleware.limits:ResultLimits"),
]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PORTCULLIS_",
        env_nested_delimiter="__",
        extra="forbid",
        case_sensitive=False,
    )

    host: str = "127.0.0.1"
    port: int = Field(8787, ge=0, le=65535)
    auth: AuthSettings = AuthSettings()
    http: HttpSettings = HttpSettings()
    sessions: SessionSettings = SessionSettings()
    routing: RoutingSettings = RoutingSettings()
    logging: LoggingSettings = LoggingSettings()
    middleware: list[MiddlewareSettings] = DEFAULT_MIDDLEWARE
    servers: dict[str, ServerSettings] = {}

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (env_settings, init_settings)  # the environment overrides the file

    @model_validator(mode="wrap")
    @classmethod
    def _coherent(cls, data: Any, handler: ModelWrapValidatorHandler[Settings]) -> Settings:
        """Server names and prefixes, checked on the input so that their problems are reported
        together with every other bad key (an "after" validator only runs once all else is valid)."""
        problems = _server_problems(data.get("servers") if isinstance(data, dict) else None)
        try:
            settings = handler(data)
        except ValidationError as exc:
            if not problems:
                raise
            others: list[InitErrorDetails] = [
                {"type": PydanticCustomError(e["type"], e["msg"]), "loc": e["loc"], "input": e["input"]}
                for e in exc.errors()
            ]
            raise ValidationError.from_exception_data(exc.title, [*others, *problems]) from None
        if problems:
            raise ValidationError.from_exception_data(cls.__name__, problems)
        return settings

    @property
    def prefixes(self) -> dict[str, str]:
        return {
            name: name if server.prefix is None else server.prefix for name, server in self.servers.items()
        }


def _server_problems(servers: Any) -> list[InitErrorDetails]:
    """Bad server names and shared prefixes in the (not yet validated) ``servers`` table."""
    if not isinstance(servers, dict):
        return []
    problems: list[InitErrorDetails] = []
    prefixes: dict[str, str] = {}
    for name, server in servers.items():
        if not isinstance(name, str) or not SERVER_NAME.match(name):
            message = "server name must be 1-63 letters, digits, '_' or '-', starting with a letter or digit"
            problems.append(
                {"type": PydanticCustomError("value_error", message), "loc": ("servers", name), "input": name}
            )
            continue
        prefix = server.get("prefix") if isinstance(server, dict) else getattr(server, "prefix", None)
        prefix = name if prefix is None else prefix
        if not isinstance(prefix, str):
            continue
        if prefix and prefix in prefixes:
            message = (
                f"servers {prefixes[prefix]!r} and {name!r} share the prefix {prefix!r}; "
                "set a distinct `prefix` on one of them"
            )
            problems.append(
                {
                    "type": PydanticCustomError("value_error", message),
                    "loc": ("servers", name, "prefix"),
                    "input": prefix,
                }
            )
            continue
        prefixes[prefix] = name
    return problems


class SettingsError(Exception):
    """Settings that cannot be used; ``problems`` lists one line per bad key."""

    def __init__(self, source: str, problems: list[str]) -> None:
        super().__init__(f"{source}: " + "; ".join(problems))
        self.source = source
        self.problems = problems


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
    """A relative ``cwd`` or TLS file is relative to the settings file, not to wherever we were
    started."""
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
