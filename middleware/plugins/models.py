"""The plugin configuration file and the hook contract, in ContextForge's names and shapes.

A ContextForge plugin configuration (the spec's fields and ``cpex``'s newer ones) validates here
unchanged; unknown fields are refused by name, so a typo does not silently turn a plugin off.
Both mode vocabularies are accepted and kept as written; :attr:`PluginConfig.behaviour` says
what a mode does (see :class:`Behaviour`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

T = TypeVar("T")


class HookType(StrEnum):
    """Where a plugin runs. The spec's six, and ours on lists (same shapes: a payload and a result)."""

    TOOL_PRE_INVOKE = "tool_pre_invoke"
    TOOL_POST_INVOKE = "tool_post_invoke"
    PROMPT_PRE_FETCH = "prompt_pre_fetch"
    PROMPT_POST_FETCH = "prompt_post_fetch"
    RESOURCE_PRE_FETCH = "resource_pre_fetch"
    RESOURCE_POST_FETCH = "resource_post_fetch"
    TOOLS_POST_LIST = "tools_post_list"
    PROMPTS_POST_LIST = "prompts_post_list"
    RESOURCES_POST_LIST = "resources_post_list"
    RESOURCE_TEMPLATES_POST_LIST = "resource_templates_post_list"
    SAMPLING_PRE_CREATE = "sampling_pre_create"
    SAMPLING_POST_CREATE = "sampling_post_create"
    ELICITATION_PRE_CREATE = "elicitation_pre_create"
    ELICITATION_POST_CREATE = "elicitation_post_create"


class PluginMode(StrEnum):
    """Both vocabularies: the spec's (``enforce``...) and ``cpex``'s (``sequential``...)."""

    ENFORCE = "enforce"
    ENFORCE_IGNORE_ERROR = "enforce_ignore_error"
    PERMISSIVE = "permissive"
    DISABLED = "disabled"
    SEQUENTIAL = "sequential"
    TRANSFORM = "transform"
    AUDIT = "audit"
    CONCURRENT = "concurrent"
    FIRE_AND_FORGET = "fire_and_forget"


class OnError(StrEnum):
    """What a plugin's own failure (exception, timeout, garbage) does to the call."""

    FAIL = "fail"
    IGNORE = "ignore"
    DISABLE = "disable"


@dataclass(frozen=True, slots=True)
class Behaviour:
    """What a mode means: may it block, may it change the payload, how it runs."""

    blocks: bool
    modifies: bool
    background: bool = False
    parallel: bool = False


BEHAVIOURS: dict[PluginMode, Behaviour] = {
    PluginMode.ENFORCE: Behaviour(blocks=True, modifies=True),
    PluginMode.ENFORCE_IGNORE_ERROR: Behaviour(blocks=True, modifies=True),
    PluginMode.SEQUENTIAL: Behaviour(blocks=True, modifies=True),
    # The spec's permissive logs violations and lets the call go on; cpex maps it to transform.
    PluginMode.PERMISSIVE: Behaviour(blocks=False, modifies=True),
    PluginMode.TRANSFORM: Behaviour(blocks=False, modifies=True),
    PluginMode.AUDIT: Behaviour(blocks=False, modifies=False),
    PluginMode.CONCURRENT: Behaviour(blocks=True, modifies=False, parallel=True),
    PluginMode.FIRE_AND_FORGET: Behaviour(blocks=False, modifies=False, background=True),
    PluginMode.DISABLED: Behaviour(blocks=False, modifies=False),
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PluginCondition(_Strict):
    """One condition: every field given must match (AND); a plugin's conditions are ORed."""

    server_ids: set[str] | None = None
    tenant_ids: set[str] | None = None
    tools: set[str] | None = None
    prompts: set[str] | None = None
    resources: set[str] | None = None
    agents: set[str] | None = None
    user_patterns: list[str] | None = None
    content_types: list[str] | None = None

    @field_validator("user_patterns")
    @classmethod
    def _patterns_compile(cls, value: list[str] | None) -> list[str] | None:
        for pattern in value or ():
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{pattern!r} is not a regular expression ({exc})") from None
        return value

    @field_validator("content_types")
    @classmethod
    def _base_types(cls, value: list[str] | None) -> list[str] | None:
        return [item.split(";", 1)[0].strip().lower() for item in value] if value else value


class TLSConfig(_Strict):
    """mTLS towards an external plugin server (files on disk), as for an upstream server.
    cpex's ``keyfile_password`` and ``check_hostname: false`` are refused, not ignored: an
    encrypted key and an unchecked hostname are not supported."""

    ca_bundle: str | None = None
    certfile: str | None = None
    keyfile: str | None = None
    keyfile_password: str | None = None
    verify: bool = True
    check_hostname: bool = True

    @model_validator(mode="after")
    def _supported(self) -> TLSConfig:
        if self.keyfile_password is not None:
            raise ValueError("keyfile_password is not supported: give `keyfile` unencrypted (PEM)")
        if not self.check_hostname and self.verify:
            raise ValueError(
                "check_hostname: false is not supported: the server's name is checked when verify is on"
            )
        return self


class MCPConfig(_Strict):
    """How to reach an external plugin server: ``proto`` in any case (``STDIO``, ``stdio``...).
    ``reconnect_attempts`` and ``reconnect_delay`` are accepted for cpex's files; the server is
    supervised like an upstream (restart with backoff) instead. ``uds`` is refused."""

    proto: str
    url: str | None = None
    script: str | None = None
    cmd: list[str] | None = None
    env: dict[str, str] | None = None
    cwd: str | None = None
    uds: str | None = None
    tls: TLSConfig | None = None
    reconnect_attempts: int = 3
    reconnect_delay: float = 0.1

    @field_validator("proto")
    @classmethod
    def _known_proto(cls, value: str) -> str:
        proto = value.strip().upper()
        if proto not in {"STDIO", "STREAMABLEHTTP", "SSE", "HTTP"}:
            raise ValueError(f"proto {value!r} is not one of STDIO, STREAMABLEHTTP, SSE")
        return proto

    @model_validator(mode="after")
    def _where(self) -> MCPConfig:
        if self.proto == "STDIO" and not (self.script or self.cmd):
            raise ValueError("a STDIO plugin server needs `script` (a path) or `cmd` (a list)")
        if self.proto != "STDIO" and not self.url:
            raise ValueError(f"a {self.proto} plugin server needs `url`")
        if self.uds is not None:
            raise ValueError("uds (HTTP over a Unix socket) is not supported: give the server a `url`")
        return self


class PluginConfig(_Strict):
    """One entry of ``plugins:``: the spec's fields, and those ``cpex`` added. ``namespace``,
    ``applied_to`` and ``capabilities`` are accepted and shown, not acted on: hooks get no
    ``extensions`` here (the argument is None), so there is nothing for capabilities to filter."""

    name: str
    kind: str
    description: str | None = None
    author: str | None = None
    version: str | None = None
    namespace: str | None = None
    hooks: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    mode: PluginMode = PluginMode.ENFORCE
    on_error: OnError | None = None
    priority: int | None = None
    conditions: list[PluginCondition] = Field(default_factory=list)
    config: dict[str, Any] | None = None
    mcp: MCPConfig | None = None
    applied_to: dict[str, Any] | None = None
    capabilities: list[str] = Field(default_factory=list)
    max_content_size: int | None = None

    @model_validator(mode="after")
    def _external_needs_mcp(self) -> PluginConfig:
        if self.kind == "external" and self.mcp is None:
            raise ValueError("an external plugin needs an `mcp:` section (proto and url, script or cmd)")
        return self

    @property
    def behaviour(self) -> Behaviour:
        return BEHAVIOURS[self.mode]

    @property
    def error_policy(self) -> OnError | None:
        """``on_error`` as written, or what the spec's mode implies (None: the global setting)."""
        if self.on_error is not None:
            return self.on_error
        if self.mode is PluginMode.ENFORCE_IGNORE_ERROR or self.mode is PluginMode.PERMISSIVE:
            return OnError.IGNORE
        return None


class PluginSettings(_Strict):
    parallel_execution_within_band: bool = False
    plugin_timeout: float = Field(30, gt=0)
    fail_on_plugin_error: bool = False
    plugin_health_check_interval: float = Field(60, gt=0)


class Config(BaseModel):
    """The whole file. Sections other gateways read (``server_settings``...) are allowed and unused."""

    model_config = ConfigDict(extra="allow")

    plugins: list[PluginConfig] = Field(default_factory=list)
    plugin_dirs: list[str] = Field(default_factory=list)
    plugin_settings: PluginSettings = Field(default_factory=PluginSettings)

    @field_validator("plugins")
    @classmethod
    def _unique_names(cls, plugins: list[PluginConfig]) -> list[PluginConfig]:
        seen: set[str] = set()
        for plugin in plugins:
            if plugin.name in seen:
                raise ValueError(f"two plugins are named {plugin.name!r}: give each a unique name")
            seen.add(plugin.name)
        return plugins


# --- the hook contract ----------------------------------------------------------------------

M = TypeVar("M", bound=BaseModel)


def built(cls: type[M], **values: Any) -> M:
    """An instance of ``cls`` from values the gateway itself made valid, without validating them
    again: what ``model_construct`` does, for a fifth of its cost (a call has several of these).
    Only for the gateway's own payloads and contexts; a plugin's results are validated."""
    instance = cls.__new__(cls)
    object.__setattr__(instance, "__dict__", values)
    object.__setattr__(instance, "__pydantic_fields_set__", set(values))
    object.__setattr__(instance, "__pydantic_extra__", None)
    object.__setattr__(instance, "__pydantic_private__", None)
    return instance


class GlobalContext(BaseModel):
    """What every plugin of one request sees: who, on which server, and state they share."""

    request_id: str
    user: str | dict[str, Any] | None = None
    tenant_id: str | None = None
    server_id: str | None = None
    content_type: str | None = None
    state: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)


class PluginContext(BaseModel):
    """One plugin's context for one request; ``state`` survives from its pre hook to its post hook."""

    state: dict[str, Any] = Field(default_factory=dict)
    global_context: GlobalContext
    metadata: dict[str, Any] = Field(default_factory=dict)

    def get_state(self, key: str, default: Any = None) -> Any:
        return self.state.get(key, default)

    def set_state(self, key: str, value: Any) -> None:
        self.state[key] = value


class PluginViolation(BaseModel):
    """Why a plugin blocked a call. ``plugin_name`` is filled in by the gateway."""

    reason: str
    description: str
    code: str
    details: dict[str, Any] | None = Field(default_factory=dict)
    mcp_error_code: int | None = None
    plugin_name: str | None = None


class PluginResult(BaseModel, Generic[T]):
    """What a hook returns: go on or stop, and the payload to go on with."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    continue_processing: bool = True
    modified_payload: T | None = None
    violation: PluginViolation | None = None
    metadata: dict[str, Any] | None = Field(default_factory=dict)


class PluginPayload(BaseModel):
    """Payloads are plain models: a plugin may return a changed copy or edit one in place."""

    model_config = ConfigDict(arbitrary_types_allowed=True)


class ToolPreInvokePayload(PluginPayload):
    name: str
    args: dict[str, Any] | None = Field(default_factory=dict)
    headers: dict[str, str] | None = None


class ToolPostInvokePayload(PluginPayload):
    name: str
    result: Any


class PromptPrehookPayload(PluginPayload):
    prompt_id: str
    args: dict[str, str] | None = Field(default_factory=dict)

    @property
    def name(self) -> str:
        """The spec's examples say ``name``; cpex says ``prompt_id``: both read the same."""
        return self.prompt_id


class PromptPosthookPayload(PluginPayload):
    prompt_id: str
    result: Any

    @property
    def name(self) -> str:
        return self.prompt_id


class ResourcePreFetchPayload(PluginPayload):
    uri: str
    metadata: dict[str, Any] | None = Field(default_factory=dict)


class ResourcePostFetchPayload(PluginPayload):
    uri: str
    content: Any


class ServerRequestPayload(PluginPayload):
    """Ours: what an upstream asks the client (``sampling/createMessage``, ``elicitation/create``)."""

    method: str
    params: dict[str, Any] = Field(default_factory=dict)


class ServerResponsePayload(PluginPayload):
    """Ours: the client's answer to it, on its way back to the upstream."""

    method: str
    result: dict[str, Any]


class ListPayload(PluginPayload):
    """Our list hooks: the definitions one page of ``tools/list`` (etc.) will show.

    ``owners`` (when a plugin declares ``wants_owners``) gives, item by item, the upstream server
    and the name there; a plugin that hides an item may say why in ``hidden`` (name -> reason),
    which is what a caller of that hidden tool is told."""

    items: list[dict[str, Any]]
    owners: list[tuple[str, str] | None] | None = None
    hidden: dict[str, str] = Field(default_factory=dict)


ToolPreInvokeResult = PluginResult[ToolPreInvokePayload]
ToolPostInvokeResult = PluginResult[ToolPostInvokePayload]
PromptPrehookResult = PluginResult[PromptPrehookPayload]
PromptPosthookResult = PluginResult[PromptPosthookPayload]
ResourcePreFetchResult = PluginResult[ResourcePreFetchPayload]
ResourcePostFetchResult = PluginResult[ResourcePostFetchPayload]
ListResult = PluginResult[ListPayload]
ServerRequestResult = PluginResult[ServerRequestPayload]
ServerResponseResult = PluginResult[ServerResponsePayload]
