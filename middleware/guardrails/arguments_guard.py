"""Dangerous tool arguments: SSRF, path traversal, command injection, arguments that do not match
the tool's ``inputSchema``, and arguments too big, too deep or too wide.

Every string at any depth is read (URLs nested in query strings included). Host names in URLs
are resolved (bounded in time, cached) and refused when they lead to private, loopback,
link-local or metadata addresses. A refusal is a tool execution error (``isError: true``) whose
text says what to fix, as the MCP specification wants for input errors.

``config:``: ``arguments``: ``block`` (default), ``flag``, ``off``; ``schema``: ``block``
(default), ``flag``, ``off``; ``allowed_hosts``; ``roots`` (absolute paths the server may touch;
any other absolute path is refused); ``resolve_hosts`` (default true); ``dns_timeout`` (seconds,
default 1); ``max_depth`` (32), ``max_width`` (10000 items in one object or array),
``max_string`` (1 MiB); ``servers``: ``{name: {allowed_hosts, roots}}`` per server.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from typing import Any

from middleware.guardrails.argument_limits import shape_problem, validator_for
from middleware.guardrails.base import Action, BuiltinGuard, Noted
from middleware.guardrails.detectors.findings import Finding
from middleware.guardrails.walk import strings
from middleware.plugins import PluginContext, PluginResult

_DNS_CACHE_SECONDS = 60.0
_URI_PATH_KINDS = frozenset({"traversal", "encoded_traversal", "nul_byte", "outside_root"})


class ArgumentGuard(BuiltinGuard):
    """Judges each argument before the call leaves the gateway."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._resolved: dict[str, tuple[float, list[str]]] = {}

    def _for_server(self, server: str | None, key: str) -> tuple[str, ...]:
        per_server = (self.config.get("servers") or {}).get(server or "", {})
        return (*(self.config.get(key) or ()), *(per_server.get(key) or ()))

    def _scan(self, args: Any, server: str | None) -> tuple[list[tuple[str, Finding]], set[str]]:
        from middleware.guardrails.detectors.arguments import (
            find_command_injection,
            find_path_traversal,
            find_ssrf,
            hostnames_to_resolve,
        )

        hosts = (*self.services.allowed_hosts, *self._for_server(server, "allowed_hosts"))
        roots = self._for_server(server, "roots")
        found: list[tuple[str, Finding]] = []
        names: set[str] = set()
        for path, text in strings(args):
            for finding in (
                *find_ssrf(text, hosts),
                *find_path_traversal(text, roots),
                *find_command_injection(text),
            ):
                found.append((path, finding))
            if "://" in text or "." in text:
                names.update(hostnames_to_resolve(text))
        return found, names - {h for h in hosts if not h.startswith("*.")}

    async def _addresses(self, host: str) -> list[str]:
        cached = self._resolved.get(host)
        now = time.monotonic()
        if cached is not None and now - cached[0] < _DNS_CACHE_SECONDS:
            return cached[1]
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(host, None, type=socket.SOCK_STREAM),
                float(self.config.get("dns_timeout", 1.0)),
            )
            addresses = sorted({str(info[4][0]) for info in infos})
        except (OSError, TimeoutError, UnicodeError):
            addresses = []  # does not resolve here: nothing to connect to from this network either
        if len(self._resolved) > 10_000:
            self._resolved.clear()
        self._resolved[host] = (now, addresses)
        return addresses

    async def _resolved_findings(self, names: set[str]) -> list[tuple[str, Finding]]:
        from middleware.guardrails.detectors.arguments import check_resolved

        if not names or not self.config.get("resolve_hosts", True):
            return []
        results = await asyncio.gather(*(self._addresses(name) for name in sorted(names)[:16]))
        found = []
        for name, addresses in zip(sorted(names)[:16], results, strict=True):
            finding = check_resolved(name, addresses)
            if finding is not None:
                found.append((f"host {name}", finding))
        return found

    def _schema_findings(self, args: Any, context: PluginContext) -> list[tuple[str, Finding]]:
        definition = context.global_context.metadata.get("definition")
        schema = definition.get("inputSchema") if isinstance(definition, dict) else None
        validator = validator_for(schema) if isinstance(schema, dict) else None
        if validator is None:
            return []
        found = []
        for error in list(validator.iter_errors(args))[:3]:
            where = "$" + "".join(f"[{p!r}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
            reason = f"arguments do not match the tool's inputSchema at {where}: {error.message[:200]}"
            found.append((where, Finding("schema", str(error.validator), 0, 0, reason)))
        return found

    async def tool_pre_invoke(self, payload: Any, context: PluginContext) -> PluginResult[Any]:
        args = payload.args or {}
        shape = shape_problem(args, self.config)
        if shape is not None:
            noted = self.note(context, [Noted(shape, "arguments", Action.BLOCK)], f"tool {payload.name}")
            return PluginResult(
                continue_processing=False, violation=self.violation(noted, "ARGUMENTS_TOO_LARGE")
            )
        noted = await self._noted(args, context, f"tool {payload.name}")
        blocked = [n for n in noted if n.action is Action.BLOCK]
        if blocked:
            code = "INVALID_ARGUMENTS" if blocked[0].finding.detector == "schema" else "DANGEROUS_ARGUMENT"
            return PluginResult(continue_processing=False, violation=self.violation(blocked, code))
        return PluginResult()

    async def _noted(
        self, args: Any, context: PluginContext, tool: str, keep: Callable[[Finding], bool] | None = None
    ) -> list[Noted]:
        server = context.global_context.server_id
        found: list[Noted] = []
        schema_action = self.action("schema", Action.BLOCK)
        if schema_action is not Action.OFF:
            found += [Noted(f, where, schema_action) for where, f in self._schema_findings(args, context)]
        action = self.action("arguments", Action.BLOCK)
        if action is not Action.OFF:
            scanned, names = self._scan(args, server)
            scanned += await self._resolved_findings(names)
            found += [Noted(f, where, action) for where, f in scanned]
        if keep is not None:
            found = [n for n in found if keep(n.finding)]
        return self.note(context, found, f"{tool} arguments")

    async def resource_pre_fetch(self, payload: Any, context: PluginContext) -> PluginResult[Any]:
        """A resource URI is an argument too, read as a URI: its scheme is the server's own
        (``file://``, ``db://``...), so only traversal in it and, for an ``http(s)`` URI, the
        addresses it targets are judged."""
        web = payload.uri.lower().startswith(("http://", "https://"))

        def judged(finding: Finding) -> bool:
            if finding.detector == "path":
                return finding.kind in _URI_PATH_KINDS
            return web and finding.detector == "ssrf" and finding.kind not in ("scheme", "internal_name")

        noted = await self._noted({"uri": payload.uri}, context, "resources/read", judged)
        blocked = [n for n in noted if n.action is Action.BLOCK]
        if blocked:
            return PluginResult(continue_processing=False, violation=self.violation(blocked, "DANGEROUS_URI"))
        return PluginResult()

    async def prompt_pre_fetch(self, payload: Any, context: PluginContext) -> PluginResult[Any]:
        noted = await self._noted(payload.args or {}, context, f"prompt {payload.prompt_id}")
        blocked = [n for n in noted if n.action is Action.BLOCK]
        if blocked:
            return PluginResult(
                continue_processing=False, violation=self.violation(blocked, "DANGEROUS_ARGUMENT")
            )
        return PluginResult()
