"""The presets of ``[guardrails] preset``: which built-in guardrails run and what each does.

- ``arguments`` (tool and prompt arguments, resource URIs): SSRF, traversal, command injection,
  schema and size violations are blocked (balanced, strict) or flagged (audit).
- ``pii`` and ``secrets``: in results (server to client) redacted reversibly (balanced, strict);
  in arguments (client to server) flagged (balanced), redacted (strict pii) or blocked (strict
  secrets); placeholders sent back are restored to the server they came from.
- ``injection`` (results, resource contents, prompt messages, sampling requests): flagged, with
  invisible characters stripped and data-carrying links neutralised (balanced); blocked (strict).
- ``poisoning`` (tool, prompt and resource definitions): quarantined (balanced, strict).
- ``pins`` (definitions): pinned at first sight; a changed definition is quarantined until an
  operator approves it (balanced, strict).

``audit`` runs every guardrail in the plugin framework's ``audit`` mode: findings are logged and
nothing is changed or blocked. ``off`` runs none.
"""

from __future__ import annotations

from typing import Any

GUARDRAILS: dict[str, tuple[str, int]] = {
    # name: (class path, priority: lower runs first)
    "arguments": ("middleware.guardrails.arguments_guard:ArgumentGuard", 10),
    "secrets": ("middleware.guardrails.sensitive:SecretsGuard", 20),
    "pii": ("middleware.guardrails.sensitive:PiiGuard", 30),
    "injection": ("middleware.guardrails.injection_guard:InjectionGuard", 40),
    "poisoning": ("middleware.guardrails.poisoning_guard:PoisoningGuard", 50),
    "pins": ("middleware.guardrails.pins:PinGuard", 60),
}

_BALANCED: dict[str, dict[str, Any]] = {
    "arguments": {"arguments": "block", "schema": "block"},
    "secrets": {"results": "redact", "arguments": "flag", "restore": "same_server"},
    "pii": {"results": "redact", "arguments": "flag", "restore": "same_server"},
    "injection": {"results": "flag"},
    "poisoning": {"definitions": "block"},
    "pins": {"definitions": "block", "pin_on": "first_sight"},
}

PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "balanced": _BALANCED,
    "strict": {
        **_BALANCED,
        "secrets": {"results": "redact", "arguments": "block", "restore": "same_server"},
        "pii": {"results": "redact", "arguments": "redact", "restore": "same_server"},
        "injection": {"results": "block"},
    },
    "audit": {
        "arguments": {"arguments": "flag", "schema": "flag"},
        "secrets": {"results": "flag", "arguments": "flag", "restore": "never"},
        "pii": {"results": "flag", "arguments": "flag", "restore": "never"},
        "injection": {"results": "flag"},
        "poisoning": {"definitions": "flag"},
        "pins": {"definitions": "flag", "pin_on": "first_sight"},
    },
    "off": {},
}

HOOKS: dict[str, list[str]] = {
    "arguments": ["tool_pre_invoke", "prompt_pre_fetch", "resource_pre_fetch"],
    "secrets": [
        "tool_pre_invoke",
        "tool_post_invoke",
        "prompt_pre_fetch",
        "prompt_post_fetch",
        "resource_post_fetch",
        "sampling_pre_create",
        "sampling_post_create",
        "elicitation_pre_create",
        "elicitation_post_create",
    ],
    "injection": [
        "tool_post_invoke",
        "prompt_post_fetch",
        "resource_post_fetch",
        "sampling_pre_create",
        "elicitation_pre_create",
    ],
    "poisoning": [
        "tools_post_list",
        "prompts_post_list",
        "resources_post_list",
        "resource_templates_post_list",
    ],
    "pins": ["tools_post_list", "prompts_post_list", "resources_post_list"],
}
HOOKS["pii"] = HOOKS["secrets"]

ACTION_KEYS: dict[str, tuple[str, ...]] = {
    "arguments": ("arguments", "schema"),
    "secrets": ("results", "arguments"),
    "pii": ("results", "arguments"),
    "injection": ("results",),
    "poisoning": ("definitions",),
    "pins": ("definitions",),
}
"""The ``config:`` keys that choose a guardrail's actions (all ``off`` turns it off for a server)."""
