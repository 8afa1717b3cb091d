"""Plugins on the MCP tier, compatible with ContextForge's plugin framework.

A native plugin extends :class:`Plugin` and implements hooks by method name (or ``@hook``);
``[plugins] config = "plugins/config.yaml"`` in settings.toml names the ContextForge
configuration file that lists them. The names and shapes here are the specification's.
"""

from middleware.plugins.base import Plugin, hook
from middleware.plugins.config_file import PluginConfigError, load_config, render_env
from middleware.plugins.manager import PluginManager
from middleware.plugins.middleware import Plugins, Resolved, Resolver
from middleware.plugins.models import (
    Config,
    GlobalContext,
    HookType,
    ListPayload,
    ListResult,
    MCPConfig,
    OnError,
    PluginCondition,
    PluginConfig,
    PluginContext,
    PluginMode,
    PluginPayload,
    PluginResult,
    PluginSettings,
    PluginViolation,
    PromptPosthookPayload,
    PromptPosthookResult,
    PromptPrehookPayload,
    PromptPrehookResult,
    ResourcePostFetchPayload,
    ResourcePostFetchResult,
    ResourcePreFetchPayload,
    ResourcePreFetchResult,
    ToolPostInvokePayload,
    ToolPostInvokeResult,
    ToolPreInvokePayload,
    ToolPreInvokeResult,
)

__all__ = [
    "Config",
    "GlobalContext",
    "HookType",
    "ListPayload",
    "ListResult",
    "MCPConfig",
    "OnError",
    "Plugin",
    "PluginCondition",
    "PluginConfig",
    "PluginConfigError",
    "PluginContext",
    "PluginManager",
    "PluginMode",
    "PluginPayload",
    "PluginResult",
    "PluginSettings",
    "PluginViolation",
    "Plugins",
    "PromptPosthookPayload",
    "PromptPosthookResult",
    "PromptPrehookPayload",
    "PromptPrehookResult",
    "Resolved",
    "Resolver",
    "ResourcePostFetchPayload",
    "ResourcePostFetchResult",
    "ResourcePreFetchPayload",
    "ResourcePreFetchResult",
    "ToolPostInvokePayload",
    "ToolPostInvokeResult",
    "ToolPreInvokePayload",
    "ToolPreInvokeResult",
    "hook",
    "load_config",
    "render_env",
]
