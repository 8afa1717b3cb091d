"""The conformance fixture: an MCP server exposing what the conformance suite's server scenarios call.

Run it over stdio (the default; how the gateway runs it as an upstream) or over streamable HTTP::

    python tests/conformance/fixture_server.py                # stdio
    python tests/conformance/fixture_server.py --http 3001    # http://127.0.0.1:3001/mcp
    python tests/conformance/fixture_server.py --legacy-only  # initialize handshake only

It serves both protocol eras, as the SDK does by default: the ``initialize`` handshake
(2025-11-25 and before) and 2026-07-28 (stateless, every request with its own ``_meta``;
``server/discover``, ``subscriptions/listen``). Asking the client for input (sampling,
elicitation, roots) follows the era of the request: JSON-RPC requests to the client on the
handshake era, an InputRequiredResult (MRTR) on 2026-07-28. ``--legacy-only`` makes it a pre-2026
server: on stdio ``server/discover`` is -32601 and a request before ``initialize`` is refused; on
HTTP an ``MCP-Protocol-Version`` it does not know is 400.

The names and behaviours are fixed by ``@modelcontextprotocol/conformance`` (0.1.16 and
0.2.0-alpha.12, spec 2025-11-25): each scenario calls one tool, resource or prompt by its exact
name and checks the shape of the answer. In short:

- tools: ``test_simple_text``, ``test_image_content``, ``test_audio_content``,
  ``test_embedded_resource``, ``test_multiple_content_types``, ``test_error_handling``
  (``isError``), ``test_tool_with_logging`` (three ``notifications/message`` 50 ms apart),
  ``test_tool_with_progress`` (progress 0, 50, 100 of 100), ``test_sampling`` and
  ``test_elicitation`` (server-to-client requests), ``test_elicitation_sep1034_defaults`` and
  ``test_elicitation_sep1330_enums`` (elicitation schemas with defaults / every enum form),
  ``json_schema_2020_12_tool`` (an input schema with ``$schema``, ``$defs``, ``$anchor``,
  ``allOf``/``anyOf``, ``if``/``then``/``else``, which nothing may strip), ``test_reconnection``
  (closes its SSE stream mid-call so the client resumes with ``Last-Event-ID``; HTTP only);
- resources ``test://static-text``, ``test://static-binary``, ``test://watched-resource``
  (subscribable), template ``test://template/{id}/data``; an unknown URI is error -32602 with
  ``data.uri``;
- prompts ``test_simple_prompt``, ``test_prompt_with_arguments`` (arg1, arg2),
  ``test_prompt_with_embedded_resource`` (resourceUri), ``test_prompt_with_image``;
- ``completion/complete``, ``logging/setLevel`` (filters the tool logs), ``resources/subscribe``
  and ``resources/unsubscribe``, ``ping``.

For 2026-07-28 (0.2.0-alpha.12 ``--requirements 2026-07-28``) also the tools
``test_input_required_result_{elicitation,sampling,list_roots,request_state,multiple_inputs,
multi_round,tampered_state,capabilities}`` and the prompt ``test_input_required_result_prompt``
(MRTR, SEP-2322), ``test_missing_capability`` (-32021 without the sampling capability),
``test_streaming_elicitation``, ``test_logging_tool`` (logs only at the request's ``logLevel``),
``test_trigger_tool_change`` and ``test_trigger_prompt_change`` (list-changed notifications on
``subscriptions/listen`` streams) and ``test_custom_headers`` (an ``x-mcp-header`` parameter,
SEP-2243).

It is written on the SDK's low-level ``Server`` so every schema goes out exactly as written here.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import re
import sys
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel.server import NotificationOptions, Server
from mcp.server.models import InitializationOptions
from mcp.server.request_state import RequestStateBoundary, RequestStateSecurity
from mcp.server.streamable_http import EventCallback, EventId, EventMessage, EventStore, StreamId
from mcp.server.subscriptions import (
    InMemorySubscriptionBus,
    ListenHandler,
    PromptsListChanged,
    ToolsListChanged,
)
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError
from mcp.shared.message import ServerMessageMetadata
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS

# Logging, sampling and elicitation are deprecated in the 2026-07-28 revision; the scenarios that
# use them are of 2025-11-25, where they are current.
warnings.filterwarnings("ignore", category=MCPDeprecationWarning)

# A 1x1 PNG and a minimal WAV (44-byte header, one silent sample).
PNG_1X1 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
WAV_SILENT = base64.b64encode(
    b"RIFF" + (38).to_bytes(4, "little") + b"WAVEfmt " + (16).to_bytes(4, "little")
    + (1).to_bytes(2, "little") + (1).to_bytes(2, "little") + (8000).to_bytes(4, "little")
    + (16000).to_bytes(4, "little") + (2).to_bytes(2, "little") + (16).to_bytes(2, "little")
    + b"data" + (2).to_bytes(4, "little") + b"\x00\x00"
).decode()  # fmt: skip

LEVELS = ["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"]

EMPTY_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}

JSON_SCHEMA_2020_12: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "$defs": {
        "address": {
            "$anchor": "addressDef",
            "type": "object",
            "properties": {"street": {"type": "string"}, "city": {"type": "string"}},
        }
    },
    "properties": {
        "name": {"type": "string"},
        "address": {"$ref": "#/$defs/address"},
        "contactMethod": {"type": "string", "enum": ["phone", "email"]},
        "phone": {"type": "string"},
        "email": {"type": "string"},
    },
    "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
    "if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
    "then": {"required": ["phone"]},
    "else": {"required": ["email"]},
    "additionalProperties": False,
}

SEP1034_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "description": "User name", "default": "John Doe"},
        "age": {"type": "integer", "description": "User age", "default": 30},
        "score": {"type": "number", "description": "User score", "default": 95.5},
        "status": {
            "type": "string",
            "description": "User status",
            "enum": ["active", "inactive", "pending"],
            "default": "active",
        },
        "verified": {"type": "boolean", "description": "Verification status", "default": True},
    },
}

SEP1330_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "untitledSingle": {"type": "string", "enum": ["option1", "option2", "option3"]},
        "titledSingle": {
            "type": "string",
            "oneOf": [
                {"const": "value1", "title": "First Option"},
                {"const": "value2", "title": "Second Option"},
                {"const": "value3", "title": "Third Option"},
            ],
        },
        "legacyEnum": {
            "type": "string",
            "enum": ["opt1", "opt2", "opt3"],
            "enumNames": ["Option One", "Option Two", "Option Three"],
        },
        "untitledMulti": {
            "type": "array",
            "items": {"type": "string", "enum": ["option1", "option2", "option3"]},
        },
        "titledMulti": {
            "type": "array",
            "items": {
                "anyOf": [
                    {"const": "value1", "title": "First Choice"},
                    {"const": "value2", "title": "Second Choice"},
                    {"const": "value3", "title": "Third Choice"},
                ]
            },
        },
    },
}


def _tool(name: str, description: str, schema: dict[str, Any] | None = None) -> types.Tool:
    return types.Tool(name=name, description=description, input_schema=schema or EMPTY_SCHEMA)


def _string_args(*names: str) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {name: {"type": "string"} for name in names},
        "required": list(names),
    }


TOOLS = [
    _tool("test_simple_text", "Returns one text block"),
    _tool("test_image_content", "Returns a 1x1 PNG image"),
    _tool("test_audio_content", "Returns a short WAV audio clip"),
    _tool("test_embedded_resource", "Returns an embedded text resource"),
    _tool("test_multiple_content_types", "Returns text, an image and an embedded resource"),
    _tool("test_error_handling", "Always fails with isError: true"),
    _tool("test_tool_with_logging", "Sends three log notifications while it runs"),
    _tool("test_tool_with_progress", "Reports progress 0, 50 and 100 of 100"),
    _tool("test_sampling", "Asks the client to sample an LLM", _string_args("prompt")),
    _tool("test_elicitation", "Asks the client for user input", _string_args("message")),
    _tool("test_elicitation_sep1034_defaults", "Elicitation whose schema has defaults (SEP-1034)"),
    _tool("test_elicitation_sep1330_enums", "Elicitation with every enum form (SEP-1330)"),
    _tool("json_schema_2020_12_tool", "Tool with JSON Schema 2020-12 features", JSON_SCHEMA_2020_12),
    _tool("test_reconnection", "Closes its SSE stream mid-call; the result comes after the client resumes"),
]

# ---- 2026-07-28 (conformance 0.2.0-alpha.12 --requirements 2026-07-28) ---------------------------
#
# Tools that need something from the client (an elicitation, a sampling, the roots) ask for it in
# the era of the request: on a 2026-07-28 request they answer with an InputRequiredResult (MRTR,
# SEP-2322) and complete when the client retries with ``inputResponses`` (and the echoed
# ``requestState``, sealed by the SDK's RequestStateBoundary so a tampered one is refused); on a
# handshake-era connection they send the same requests to the client as JSON-RPC requests, as a
# pre-2026 server does (the requests of one round concurrently). So a gateway that fronts the
# legacy fixture has to turn those requests into an InputRequiredResult itself.


def _elicitation(message: str, field_name: str, field_type: str = "string") -> dict[str, Any]:
    return {
        "method": "elicitation/create",
        "params": {
            "message": message,
            "requestedSchema": {
                "type": "object",
                "properties": {field_name: {"type": field_type}},
                "required": [field_name],
            },
        },
    }


def _sampling(text: str, max_tokens: int) -> dict[str, Any]:
    return {
        "method": "sampling/createMessage",
        "params": {
            "messages": [{"role": "user", "content": {"type": "text", "text": text}}],
            "maxTokens": max_tokens,
        },
    }


ROOTS: dict[str, Any] = {"method": "roots/list", "params": {}}

# The rounds of input each MRTR tool (or prompt) asks for, by name: one dict of keyed requests per
# round; and whether its first InputRequiredResult carries a requestState.
MRTR_ROUNDS: dict[str, tuple[list[dict[str, dict[str, Any]]], bool]] = {
    "test_input_required_result_elicitation": (
        [{"user_name": _elicitation("What is your name?", "name")}],
        False,
    ),
    "test_input_required_result_sampling": (
        [{"capital_question": _sampling("What is the capital of France?", 100)}],
        False,
    ),
    "test_input_required_result_list_roots": ([{"client_roots": ROOTS}], False),
    "test_input_required_result_request_state": (
        [{"confirm": _elicitation("Please confirm", "ok", "boolean")}],
        True,
    ),
    "test_input_required_result_multiple_inputs": (
        [
            {
                "user_name": _elicitation("What is your name?", "name"),
                "greeting": _sampling("Generate a greeting", 50),
                "client_roots": ROOTS,
            }
        ],
        True,
    ),
    "test_input_required_result_multi_round": (
        [
            {"step1": _elicitation("Step 1: What is your name?", "name")},
            {"step2": _elicitation("Step 2: What is your favorite color?", "color")},
        ],
        True,
    ),
    "test_input_required_result_tampered_state": (
        [{"confirm": _elicitation("Please confirm (integrity-protected state)", "ok", "boolean")}],
        True,
    ),
    "test_streaming_elicitation": ([{"user_name": _elicitation("What is your name?", "name")}], False),
    "test_missing_capability": ([{"sample": _sampling("Say hello", 20)}], False),
    "test_input_required_result_prompt": (
        [{"user_context": _elicitation("What context should the prompt use?", "context")}],
        False,
    ),
}

# The client capability each embedded request needs, and how a handshake-era server sends it.
INPUT_METHODS: dict[str, tuple[str, type[types.ServerRequest], type[types.Result]]] = {
    "elicitation/create": ("elicitation", types.ElicitRequest, types.ElicitResult),
    "sampling/createMessage": ("sampling", types.CreateMessageRequest, types.CreateMessageResult),
    "roots/list": ("roots", types.ListRootsRequest, types.ListRootsResult),
}

CUSTOM_HEADER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "region": {"type": "string", "description": "Mirrored in Mcp-Param-Region", "x-mcp-header": "Region"},
        "query": {"type": "string"},
    },
}

MODERN_TOOLS = [
    _tool("test_input_required_result_elicitation", "MRTR: asks for the user's name (elicitation)"),
    _tool("test_input_required_result_sampling", "MRTR: asks the client's LLM a question (sampling)"),
    _tool("test_input_required_result_list_roots", "MRTR: asks for the client's roots"),
    _tool("test_input_required_result_request_state", "MRTR: round-trips a requestState"),
    _tool("test_input_required_result_multiple_inputs", "MRTR: elicitation, sampling and roots at once"),
    _tool("test_input_required_result_multi_round", "MRTR: two rounds, the requestState changes"),
    _tool("test_input_required_result_tampered_state", "MRTR: refuses a tampered requestState"),
    _tool("test_input_required_result_capabilities", "MRTR: asks only for what the client declared"),
    _tool("test_missing_capability", "Needs the client's sampling capability (-32021 without it)"),
    _tool("test_streaming_elicitation", "Asks for input: an InputRequiredResult, never a request"),
    _tool("test_logging_tool", "Logs while it runs (sent only at the level the request asked for)"),
    _tool("test_trigger_tool_change", "Announces that the tool list changed"),
    _tool("test_trigger_prompt_change", "Announces that the prompt list changed"),
    _tool(
        "test_custom_headers", "A parameter mirrored in an Mcp-Param header (SEP-2243)", CUSTOM_HEADER_SCHEMA
    ),
]
TOOLS += MODERN_TOOLS

RESOURCES = {
    "test://static-text": ("Static text", "text/plain", "This is the content of the static text resource."),
    "test://static-binary": ("Static binary", "image/png", None),
    "test://watched-resource": ("Watched resource", "text/plain", "Watched resource content"),
}
TEMPLATE = re.compile(r"^test://template/(?P<id>[^/]+)/data$")

PROMPTS = [
    types.Prompt(name="test_simple_prompt", description="A prompt without arguments"),
    types.Prompt(
        name="test_prompt_with_arguments",
        description="A prompt with two required arguments",
        arguments=[
            types.PromptArgument(name="arg1", description="First test argument", required=True),
            types.PromptArgument(name="arg2", description="Second test argument", required=True),
        ],
    ),
    types.Prompt(
        name="test_prompt_with_embedded_resource",
        description="A prompt embedding a resource",
        arguments=[types.PromptArgument(name="resourceUri", description="URI to embed", required=True)],
    ),
    types.Prompt(name="test_prompt_with_image", description="A prompt with an image"),
    types.Prompt(
        name="test_input_required_result_prompt", description="MRTR: asks for context before it renders"
    ),
]
COMPLETIONS = {"arg1": ["paris", "park", "party", "test", "testing"], "arg2": ["world", "wide"]}


# Until the client sends logging/setLevel, only warnings and worse are sent (the spec lets a
# server choose): so ``tools-call-with-logging``, which asks for ``debug`` first, also proves that
# a proxy in between relays logging/setLevel rather than answering it itself.
DEFAULT_LEVEL = "warning"


@dataclass
class State:
    """What one client connection asked for: its log level and its subscriptions."""

    min_level: str = DEFAULT_LEVEL
    subscriptions: set[str] = field(default_factory=set)


STATES: dict[str, State] = {}


def state(ctx: ServerRequestContext[Any]) -> State:
    """The state of this connection: per HTTP session, or the one stdio connection."""
    headers = getattr(ctx.request, "headers", None)
    key = (headers.get("mcp-session-id") if headers is not None else None) or "stdio"
    return STATES.setdefault(key, State())


def _text(text: str) -> types.TextContent:
    return types.TextContent(type="text", text=text)


async def _log(ctx: ServerRequestContext[Any], level: str, message: str) -> None:
    # A 2026-07-28 request carries its own log level (the SDK filters); a connection has one.
    if not is_modern(ctx) and LEVELS.index(level) < LEVELS.index(state(ctx).min_level):
        return
    await ctx.session.send_log_message(level, message, logger="fixture", related_request_id=ctx.request_id)  # type: ignore[arg-type]


async def list_tools(
    ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
) -> types.ListToolsResult:
    return types.ListToolsResult(tools=TOOLS)


async def call_tool(
    ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
) -> types.CallToolResult | types.InputRequiredResult:
    args = params.arguments or {}
    name = params.name
    if name == "test_simple_text":
        return types.CallToolResult(content=[_text("This is a simple text response for testing.")])
    if name == "test_image_content":
        return types.CallToolResult(
            content=[types.ImageContent(type="image", data=PNG_1X1, mime_type="image/png")]
        )
    if name == "test_audio_content":
        return types.CallToolResult(
            content=[types.AudioContent(type="audio", data=WAV_SILENT, mime_type="audio/wav")]
        )
    if name == "test_embedded_resource":
        resource = types.TextResourceContents(
            uri="test://embedded-resource",
            mime_type="text/plain",
            text="This is an embedded resource content.",
        )
        return types.CallToolResult(content=[types.EmbeddedResource(type="resource", resource=resource)])
    if name == "test_multiple_content_types":
        resource = types.TextResourceContents(
            uri="test://mixed-content-resource",
            mime_type="application/json",
            text=json.dumps({"test": "data", "value": 123}),
        )
        return types.CallToolResult(
            content=[
                _text("Multiple content types test:"),
                types.ImageContent(type="image", data=PNG_1X1, mime_type="image/png"),
                types.EmbeddedResource(type="resource", resource=resource),
            ]
        )
    if name == "test_error_handling":
        return types.CallToolResult(
            is_error=True, content=[_text("This tool intentionally returns an error for testing")]
        )
    if name == "test_tool_with_logging":
        await _log(ctx, "info", "Tool execution started")
        await asyncio.sleep(0.05)
        await _log(ctx, "info", "Tool processing data")
        await asyncio.sleep(0.05)
        await _log(ctx, "info", "Tool execution completed")
        return types.CallToolResult(content=[_text("Tool with logging executed successfully")])
    if name == "test_tool_with_progress":
        for step, progress in enumerate((0, 50, 100)):
            if step:
                await asyncio.sleep(0.05)
            await ctx.session.report_progress(progress, 100, f"Completed step {progress} of 100")
        meta: dict[str, Any] = dict(ctx.meta or {})
        token = meta.get("progress_token", meta.get("progressToken"))
        return types.CallToolResult(content=[_text(f"Progress reported (token {token!r})")])
    if name == "test_sampling":
        prompt = str(args.get("prompt", ""))
        got = await gather_input(ctx, params, [{"sampling": _sampling(prompt, 100)}], stateful=False)
        if isinstance(got, types.InputRequiredResult):
            return got
        content = got["sampling"].get("content")
        reply = content.get("text", "(no text)") if isinstance(content, dict) else "(no text)"
        return types.CallToolResult(content=[_text(f"LLM response: {reply}")])
    if name == "test_elicitation":
        schema = {
            "type": "object",
            "properties": {
                "username": {"type": "string", "description": "User's response"},
                "email": {"type": "string", "description": "User's email address"},
            },
            "required": ["username", "email"],
        }
        return await _elicit(ctx, params, str(args.get("message", "")), schema, "User response")
    if name == "test_elicitation_sep1034_defaults":
        return await _elicit(
            ctx, params, "Please review the default values", SEP1034_SCHEMA, "Elicitation completed"
        )
    if name == "test_elicitation_sep1330_enums":
        return await _elicit(
            ctx, params, "Please pick values of every enum form", SEP1330_SCHEMA, "Elicitation completed"
        )
    if name == "json_schema_2020_12_tool":
        return types.CallToolResult(content=[_text(f"Received: {json.dumps(args, sort_keys=True)}")])
    if name == "test_reconnection":
        # At warning, which passes the default level: a notification before the result is also
        # what makes a proxy answer on an SSE stream rather than with plain JSON.
        await _log(ctx, "warning", "Closing the SSE stream: reconnect with Last-Event-ID")
        if ctx.close_sse_stream is not None:
            await asyncio.sleep(0.05)  # let the priming event (id + retry) reach the client first
            await ctx.close_sse_stream()
            await asyncio.sleep(0.2)  # let the client reconnect with Last-Event-ID
        await _log(ctx, "info", "After reconnect")
        return types.CallToolResult(content=[_text("Reconnection test completed")])
    if name in MODERN_TOOL_NAMES:
        return await call_modern_tool(ctx, params)
    raise MCPError(types.INVALID_PARAMS, f"Unknown tool: {name}")


MODERN_TOOL_NAMES = {tool.name for tool in MODERN_TOOLS}

# Change notifications of the 2026-07-28 era go to the subscriptions/listen streams of this bus.
BUS = InMemorySubscriptionBus()


def is_modern(ctx: ServerRequestContext[Any]) -> bool:
    """Whether this request is of the 2026-07-28 era (its own _meta envelope, no handshake)."""
    return ctx.protocol_version in MODERN_PROTOCOL_VERSIONS


def _declared(ctx: ServerRequestContext[Any], capability: str) -> bool:
    declared = ctx.session.client_capabilities
    return declared is not None and getattr(declared, capability, None) is not None


def _require(ctx: ServerRequestContext[Any], requests: list[dict[str, Any]]) -> None:
    """-32021 when the client did not declare a capability these requests need (2026-07-28)."""
    missing = sorted(
        {INPUT_METHODS[r["method"]][0] for r in requests}
        - {c for c in INPUT_METHODS_CAPS if _declared(ctx, c)}
    )
    if missing:
        raise MCPError(
            types.MISSING_REQUIRED_CLIENT_CAPABILITY,
            f"this request needs the client capabilities {', '.join(missing)}",
            {"requiredCapabilities": {capability: {} for capability in missing}},
        )


INPUT_METHODS_CAPS = {capability for capability, _, _ in INPUT_METHODS.values()}


async def _ask(ctx: ServerRequestContext[Any], request: dict[str, Any]) -> dict[str, Any]:
    """Send one input request to the client as a JSON-RPC request (handshake era)."""
    _, request_type, result_type = INPUT_METHODS[request["method"]]
    result = await ctx.session.send_request(
        request_type.model_validate(request),
        result_type,
        metadata=ServerMessageMetadata(related_request_id=ctx.request_id),
    )
    dumped: dict[str, Any] = result.model_dump(by_alias=True, mode="json", exclude_none=True)
    return dumped


def _input_required(
    requests: dict[str, dict[str, Any]], state: dict[str, Any] | None
) -> types.InputRequiredResult:
    return types.InputRequiredResult.model_validate(
        {
            "resultType": "input_required",
            "inputRequests": requests,
            **({"requestState": json.dumps(state)} if state is not None else {}),
        }
    )


async def gather_input(
    ctx: ServerRequestContext[Any],
    params: types.InputResponseRequestParams,
    rounds: list[dict[str, dict[str, Any]]],
    *,
    stateful: bool,
) -> dict[str, dict[str, Any]] | types.InputRequiredResult:
    """The client's answers to every round, or the InputRequiredResult that asks for the next one.

    2026-07-28: the round in progress and the answers so far travel in ``requestState`` (sealed and
    verified by the SDK's RequestStateBoundary); answers missing from ``inputResponses`` are asked
    for again and unknown keys are ignored. Handshake era: each round's requests are sent to the
    client at once, and the rounds one after the other.
    """
    if not is_modern(ctx):
        answers: dict[str, dict[str, Any]] = {}
        for needed in rounds:
            keys = list(needed)
            results = await asyncio.gather(*(_ask(ctx, needed[key]) for key in keys))
            answers.update(zip(keys, results, strict=True))
        return answers
    _require(ctx, [request for needed in rounds for request in needed.values()])
    state: dict[str, Any] = {"round": 0, "answers": {}}
    if params.request_state is not None:
        try:
            state = json.loads(params.request_state)
            index = int(state["round"])
            rounds[index]  # out of range: a state this server never minted
        except (ValueError, KeyError, TypeError, IndexError):
            raise MCPError(types.INVALID_PARAMS, "Invalid requestState") from None
    index, answers = int(state["round"]), dict(state["answers"])
    given = {
        key: value.model_dump(by_alias=True, mode="json", exclude_none=True)
        for key, value in (params.input_responses or {}).items()
    }
    needed = rounds[index]
    missing = {key: request for key, request in needed.items() if key not in given}
    if missing:
        return _input_required(missing, state if stateful or index else None)
    answers.update({key: given[key] for key in needed})
    if index + 1 < len(rounds):
        return _input_required(rounds[index + 1], {"round": index + 1, "answers": answers})
    return answers


def _answer_text(answer: dict[str, Any]) -> str:
    """What one answer says: an elicitation's content, a sampling's text, or the roots."""
    if "action" in answer:
        return f"{answer['action']} {json.dumps(answer.get('content') or {}, sort_keys=True)}"
    if "roots" in answer:
        return "roots " + ", ".join(str(root.get("uri")) for root in answer["roots"])
    content = answer.get("content")
    if isinstance(content, dict):
        return str(content.get("text", ""))
    return json.dumps(answer, sort_keys=True)


async def call_modern_tool(
    ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
) -> types.CallToolResult | types.InputRequiredResult:
    name = params.name
    if name in MRTR_ROUNDS:
        rounds, stateful = MRTR_ROUNDS[name]
        got = await gather_input(ctx, params, rounds, stateful=stateful)
        if isinstance(got, types.InputRequiredResult):
            return got
        if name == "test_input_required_result_elicitation":
            user = got["user_name"].get("content") or {}
            return types.CallToolResult(content=[_text(f"Hello, {user.get('name', 'stranger')}!")])
        lines = [f"{key}: {_answer_text(answer)}" for key, answer in got.items()]
        if stateful and is_modern(ctx):
            lines.append("state-ok")  # the RequestStateBoundary verified the echoed requestState
        return types.CallToolResult(content=[_text("\n".join(lines))])
    if name == "test_input_required_result_capabilities":
        # Only what the client declared: on 2026-07-28 this request's envelope, else the handshake.
        wanted = {
            "sampling": {"capital_question": _sampling("What is the capital of France?", 100)},
            "elicitation": {"user_name": _elicitation("What is your name?", "name")},
            "roots": {"client_roots": ROOTS},
        }
        needed = {
            key: request
            for cap, asks in wanted.items()
            if _declared(ctx, cap)
            for key, request in asks.items()
        }
        if not needed:
            return types.CallToolResult(content=[_text("The client declared no capability to ask with")])
        got = await gather_input(ctx, params, [needed], stateful=False)
        if isinstance(got, types.InputRequiredResult):
            return got
        return types.CallToolResult(
            content=[_text("\n".join(f"{key}: {_answer_text(answer)}" for key, answer in got.items()))]
        )
    if name == "test_logging_tool":
        # 2026-07-28: the SDK sends these only at or above the request's _meta logLevel, and none
        # without one; handshake era: at or above the connection's logging/setLevel.
        for level, message in (("info", "Logging tool started"), ("warning", "Logging tool finished")):
            await _log(ctx, level, message)
        return types.CallToolResult(content=[_text("Logging tool executed")])
    if name in ("test_trigger_tool_change", "test_trigger_prompt_change"):
        tools = name == "test_trigger_tool_change"
        if is_modern(ctx):
            await BUS.publish(ToolsListChanged() if tools else PromptsListChanged())
        elif tools:
            await ctx.session.send_tool_list_changed()
        else:
            await ctx.session.send_prompt_list_changed()
        return types.CallToolResult(content=[_text(f"{'Tool' if tools else 'Prompt'} list change announced")])
    if name == "test_custom_headers":
        args = params.arguments or {}
        return types.CallToolResult(content=[_text(f"region={args.get('region')!r}")])
    raise MCPError(types.INVALID_PARAMS, f"Unknown tool: {name}")


async def _elicit(
    ctx: ServerRequestContext[Any],
    params: types.CallToolRequestParams,
    message: str,
    schema: dict[str, Any],
    label: str,
) -> types.CallToolResult | types.InputRequiredResult:
    """One elicitation: a JSON-RPC request on the handshake era, an InputRequiredResult on 2026-07-28."""
    request = {"method": "elicitation/create", "params": {"message": message, "requestedSchema": schema}}
    got = await gather_input(ctx, params, [{"elicitation": request}], stateful=False)
    if isinstance(got, types.InputRequiredResult):
        return got
    answer = got["elicitation"]
    content = json.dumps(answer.get("content") or {}, sort_keys=True)
    return types.CallToolResult(content=[_text(f"{label}: action={answer.get('action')}, content={content}")])


async def list_resources(
    ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
) -> types.ListResourcesResult:
    return types.ListResourcesResult(
        resources=[
            types.Resource(uri=uri, name=name, description=f"{name} resource for conformance", mime_type=mime)
            for uri, (name, mime, _) in RESOURCES.items()
        ]
    )


async def list_resource_templates(
    ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
) -> types.ListResourceTemplatesResult:
    template = types.ResourceTemplate(
        uri_template="test://template/{id}/data",
        name="Template data",
        description="JSON data for an id",
        mime_type="application/json",
    )
    return types.ListResourceTemplatesResult(resource_templates=[template])


async def read_resource(
    ctx: ServerRequestContext[Any], params: types.ReadResourceRequestParams
) -> types.ReadResourceResult:
    uri = str(params.uri)
    if uri == "test://static-binary":
        blob = types.BlobResourceContents(uri=uri, mime_type="image/png", blob=PNG_1X1)
        return types.ReadResourceResult(contents=[blob])
    if uri in RESOURCES:
        _, mime, text = RESOURCES[uri]
        return types.ReadResourceResult(
            contents=[types.TextResourceContents(uri=uri, mime_type=mime, text=text or "")]
        )
    match = TEMPLATE.match(uri)
    if match:
        ident = match["id"]
        text = json.dumps({"id": ident, "templateTest": True, "data": f"Data for ID: {ident}"})
        return types.ReadResourceResult(
            contents=[types.TextResourceContents(uri=uri, mime_type="application/json", text=text)]
        )
    raise MCPError(types.INVALID_PARAMS, "Resource not found", {"uri": uri})


async def subscribe(
    ctx: ServerRequestContext[Any], params: types.SubscribeRequestParams
) -> types.EmptyResult:
    state(ctx).subscriptions.add(str(params.uri))
    return types.EmptyResult()


async def unsubscribe(
    ctx: ServerRequestContext[Any], params: types.UnsubscribeRequestParams
) -> types.EmptyResult:
    state(ctx).subscriptions.discard(str(params.uri))
    return types.EmptyResult()


async def list_prompts(
    ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
) -> types.ListPromptsResult:
    return types.ListPromptsResult(prompts=PROMPTS)


async def get_prompt(
    ctx: ServerRequestContext[Any], params: types.GetPromptRequestParams
) -> types.GetPromptResult | types.InputRequiredResult:
    args = params.arguments or {}
    user = "user"
    if params.name == "test_input_required_result_prompt":
        rounds, stateful = MRTR_ROUNDS[params.name]
        got = await gather_input(ctx, params, rounds, stateful=stateful)
        if isinstance(got, types.InputRequiredResult):
            return got
        context = (got["user_context"].get("content") or {}).get("context", "")
        messages = [types.PromptMessage(role=user, content=_text(f"Answer within this context: {context}"))]
    elif params.name == "test_simple_prompt":
        messages = [types.PromptMessage(role=user, content=_text("This is a simple prompt for testing."))]
    elif params.name == "test_prompt_with_arguments":
        if "arg1" not in args or "arg2" not in args:
            raise MCPError(types.INVALID_PARAMS, "arg1 and arg2 are required")
        text = f"Prompt with arguments: arg1='{args['arg1']}', arg2='{args['arg2']}'"
        messages = [types.PromptMessage(role=user, content=_text(text))]
    elif params.name == "test_prompt_with_embedded_resource":
        if "resourceUri" not in args:
            raise MCPError(types.INVALID_PARAMS, "resourceUri is required")
        resource = types.TextResourceContents(
            uri=args["resourceUri"], mime_type="text/plain", text="Embedded resource content for testing."
        )
        messages = [
            types.PromptMessage(
                role=user, content=types.EmbeddedResource(type="resource", resource=resource)
            ),
            types.PromptMessage(role=user, content=_text("Please process the embedded resource above.")),
        ]
    elif params.name == "test_prompt_with_image":
        messages = [
            types.PromptMessage(
                role=user, content=types.ImageContent(type="image", data=PNG_1X1, mime_type="image/png")
            ),
            types.PromptMessage(role=user, content=_text("Please analyze the image above.")),
        ]
    else:
        raise MCPError(types.INVALID_PARAMS, f"Unknown prompt: {params.name}")
    return types.GetPromptResult(description=f"The {params.name} prompt", messages=messages)


async def complete(
    ctx: ServerRequestContext[Any], params: types.CompleteRequestParams
) -> types.CompleteResult:
    candidates = COMPLETIONS.get(params.argument.name, [])
    values = [value for value in candidates if value.startswith(params.argument.value)]
    return types.CompleteResult(completion=types.Completion(values=values, total=len(values), has_more=False))


async def set_level(ctx: ServerRequestContext[Any], params: types.SetLevelRequestParams) -> types.EmptyResult:
    state(ctx).min_level = params.level
    return types.EmptyResult()


class FixtureServer(Server[Any]):
    """The SDK's low-level Server, announcing ``listChanged`` for tools and prompts on the handshake
    (``test_trigger_*_change`` send those notifications)."""

    def create_initialization_options(
        self,
        notification_options: NotificationOptions | None = None,
        experimental_capabilities: dict[str, dict[str, Any]] | None = None,
        extensions: dict[str, dict[str, Any]] | None = None,
    ) -> InitializationOptions:
        return super().create_initialization_options(
            notification_options or NotificationOptions(prompts_changed=True, tools_changed=True),
            experimental_capabilities,
            extensions,
        )


def build_server(*, legacy_only: bool = False) -> Server[Any]:
    """The fixture. By default it serves both eras (the SDK decides per connection, or per HTTP
    request, from what the client sends first); ``legacy_only`` leaves out what only 2026-07-28
    has (subscriptions/listen), and the transports then refuse 2026-07-28 requests."""
    server = FixtureServer(
        "portcullis-conformance-fixture" + ("-legacy" if legacy_only else ""),
        version="1.0.0",
        instructions="Conformance fixture for the MCP conformance suite's server scenarios.",
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_resources=list_resources,
        on_list_resource_templates=list_resource_templates,
        on_read_resource=read_resource,
        on_subscribe_resource=subscribe,
        on_unsubscribe_resource=unsubscribe,
        on_subscriptions_listen=None if legacy_only else ListenHandler(BUS),
        on_list_prompts=list_prompts,
        on_get_prompt=get_prompt,
        on_completion=complete,
        on_set_logging_level=set_level,
    )
    # Seals every requestState this server mints and refuses one it did not mint unchanged.
    server.middleware.append(
        RequestStateBoundary(RequestStateSecurity.ephemeral(), default_audience=server.name)
    )
    return server


class MemoryEventStore(EventStore):
    """Keeps every SSE event so a client resuming with Last-Event-ID gets what it missed."""

    def __init__(self) -> None:
        self.events: list[tuple[StreamId, EventId, types.JSONRPCMessage | None]] = []

    async def store_event(self, stream_id: StreamId, message: types.JSONRPCMessage | None) -> EventId:
        event_id = str(len(self.events) + 1)
        self.events.append((stream_id, event_id, message))
        return event_id

    async def replay_events_after(
        self, last_event_id: EventId, send_callback: EventCallback
    ) -> StreamId | None:
        stream = next((s for s, e, _ in self.events if e == last_event_id), None)
        if stream is None:
            return None
        for stream_id, event_id, message in self.events:
            if stream_id == stream and int(event_id) > int(last_event_id) and message is not None:
                await send_callback(EventMessage(message, event_id))
        return stream


async def serve_stdio(*, legacy_only: bool = False) -> None:
    from mcp.server.runner import serve_loop
    from mcp.server.stdio import stdio_server

    server = build_server(legacy_only=legacy_only)
    async with stdio_server() as (read_stream, write_stream):
        if not legacy_only:
            # Server.run serves both eras: the client's first request decides.
            await server.run(read_stream, write_stream, server.create_initialization_options())
            return
        # The handshake-only loop, as a pre-2026 server: server/discover is -32601 (not a method of
        # any handshake version) and any other request before `initialize` is refused.
        async with server.lifespan(server) as lifespan_state:
            await serve_loop(
                server,
                read_stream,
                write_stream,
                lifespan_state=lifespan_state,
                init_options=server.create_initialization_options(),
            )


ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


def strip_header_values(app: ASGIApp) -> ASGIApp:
    """Drop the whitespace around header values (RFC 9110 5.5) before the SDK compares
    ``Mcp-Name`` with the body: check ``sep-2243-server-accepts-whitespace-header-value``."""

    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            scope = {**scope, "headers": [(name, value.strip(b" \t")) for name, value in scope["headers"]]}
        await app(scope, receive, send)

    return wrapped


def refuse_modern(app: ASGIApp) -> ASGIApp:
    """A pre-2026 streamable HTTP server: an ``MCP-Protocol-Version`` it does not know is 400
    (as the TypeScript SDK 1.x answers); without a session a request other than ``initialize`` is
    400 too (the SDK's handshake path says so)."""

    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            version = dict(scope["headers"]).get(b"mcp-protocol-version", b"").decode("latin-1")
            if version and version not in HANDSHAKE_PROTOCOL_VERSIONS:
                supported = ", ".join(HANDSHAKE_PROTOCOL_VERSIONS)
                body = json.dumps(
                    {
                        "jsonrpc": "2.0",
                        "id": None,
                        "error": {
                            "code": -32000,
                            "message": f"Bad Request: Unsupported protocol version: {version} "
                            f"(supported versions: {supported})",
                        },
                    }
                ).encode()
                headers = [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ]
                await send({"type": "http.response.start", "status": 400, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await app(scope, receive, send)

    return wrapped


def serve_http(host: str, port: int, *, legacy_only: bool = False) -> None:
    import uvicorn

    server = build_server(legacy_only=legacy_only)
    app: ASGIApp = server.streamable_http_app(event_store=MemoryEventStore(), retry_interval=100, host=host)
    app = strip_header_values(refuse_modern(app) if legacy_only else app)
    era = "handshake era only" if legacy_only else "both eras"
    print(f"conformance fixture ({era}) on http://{host}:{port}/mcp", file=sys.stderr, flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--http", type=int, metavar="PORT", help="serve streamable HTTP on PORT instead of stdio"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--legacy-only",
        action="store_true",
        help="serve only the initialize handshake (2025-11-25 and before), refusing 2026-07-28",
    )
    args = parser.parse_args(argv)
    if args.http is not None:
        serve_http(args.host, args.http, legacy_only=args.legacy_only)
    else:
        asyncio.run(serve_stdio(legacy_only=args.legacy_only))


if __name__ == "__main__":
    main()
