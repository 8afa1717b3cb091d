"""The whole settings document, and the checks that span its tables."""

from __future__ import annotations

from typing import Any

from pydantic import (
    Field,
    ModelWrapValidatorHandler,
    ValidationError,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from gateway.settings.admin import AdminSettings
from gateway.settings.cache import CacheSettings
from gateway.settings.gateway_tools import GatewayToolsSettings
from gateway.settings.guardrails import GuardrailsSettings
from gateway.settings.http import AuthSettings, HttpSettings, RoutingSettings, SessionSettings
from gateway.settings.identity import ProjectSettings, UserSettings
from gateway.settings.ops import OpsSettings
from gateway.settings.policy import PolicyRules
from gateway.settings.rate_limits import RateLimitRules
from gateway.settings.redis import RedisSettings
from gateway.settings.servers import SERVER_NAME, ServerSettings
from gateway.settings.stack import DEFAULT_MIDDLEWARE, LoggingSettings, MiddlewareSettings, PluginsSettings
from gateway.settings.telemetry import TelemetrySettings


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PORTCULLIS_",
        env_nested_delimiter="__",
        extra="forbid",
        case_sensitive=False,
    )

    host: str = Field(
        "127.0.0.1", description="address to listen on; a non-loopback one needs authentication"
    )
    port: int = Field(8787, ge=0, le=65535, description="port of the MCP listener (0: any free port)")
    auth: AuthSettings = AuthSettings()
    http: HttpSettings = HttpSettings()
    sessions: SessionSettings = SessionSettings()
    routing: RoutingSettings = RoutingSettings()
    logging: LoggingSettings = LoggingSettings()
    middleware: list[MiddlewareSettings] = DEFAULT_MIDDLEWARE
    plugins: PluginsSettings = PluginsSettings()
    guardrails: GuardrailsSettings = GuardrailsSettings()
    servers: dict[str, ServerSettings] = {}
    redis: RedisSettings = RedisSettings()
    projects: dict[str, ProjectSettings] = {}
    users: dict[str, UserSettings] = {}
    policies: PolicyRules = []
    rate_limits: RateLimitRules = []
    telemetry: TelemetrySettings = TelemetrySettings()
    cache: CacheSettings = CacheSettings()
    admin: AdminSettings = AdminSettings()
    gateway_tools: GatewayToolsSettings = GatewayToolsSettings()
    ops: OpsSettings = OpsSettings()

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

    @model_validator(mode="after")
    def _shared_sessions_need_redis(self) -> Settings:
        if self.sessions.store == "redis" and self.redis.url is None:
            raise ValueError('sessions.store = "redis" needs [redis] url (or use "auto" or "memory")')
        return self

    @property
    def shared_sessions(self) -> bool:
        """Session records in Redis, where every replica finds them."""
        return self.sessions.store != "memory" and self.redis.url is not None

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
