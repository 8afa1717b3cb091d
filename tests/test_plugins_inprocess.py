"""The plugin framework in process: the configuration file, then the hooks' semantics (order,
chaining, modes, conditions, failures, state) around a fake router.

The same plugins run through the real gateway in ``test_plugins_gateway.py``.
"""

from __future__ import annotations

import asyncio
import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from middleware.plugins import (
    PluginConfigError,
    PluginManager,
    Plugins,
    Resolved,
    load_config,
    render_env,
)
from middleware.protocol import (
    CLIENT_RESPONSE,
    RESPONSE,
    SERVER_REQUEST,
    Event,
    MCPScope,
    Principal,
    Receive,
    Send,
    result_message,
)
from middleware.protocol.testing import call, make_test_scope

FIXTURES = "tests.fixtures.sample_plugins"
ALICE = Principal("alice", project="acme")


def entry(name: str, kind: str, hooks: list[str], **fields: Any) -> dict[str, Any]:
    """One plugin entry of the file, for the tests that build their configuration."""
    return {"name": name, "kind": f"{FIXTURES}.{kind}", "hooks": hooks, **fields}


def plugins(*entries: dict[str, Any], **settings: Any) -> str:
    return yaml.safe_dump({"plugins": list(entries), **({"plugin_settings": settings} if settings else {})})


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "plugins.yaml"
    path.write_text(textwrap.dedent(text))
    return path


# --- the configuration file -------------------------------------------------------------------

SPEC_EXAMPLE = """
plugins:
  - name: "PIIFilterPlugin"
    kind: "tests.fixtures.sample_plugins.RedactEmails"
    description: "Detects and masks PII"
    version: "1.0.0"
    author: "Security Team"
    hooks: ["tool_post_invoke"]
    tags: ["security", "pii", "compliance"]
    mode: "enforce"
    priority: 50
    conditions:
      - server_ids: ["prod-server"]
        tenant_ids: ["enterprise"]
        tools: ["sensitive-tool"]
    config:
      detect_ssn: true
      mask_strategy: "partial"
  - name: "Moderation"
    kind: "external"
    mode: "disabled"
    mcp:
      proto: "STREAMABLEHTTP"
      url: "http://openai-plugin:3000/mcp"
plugin_settings:
  parallel_execution_within_band: false
  plugin_timeout: 30
  fail_on_plugin_error: false
  plugin_health_check_interval: 60
plugin_dirs: ["plugins"]
"""


def test_the_spec_example_and_cpex_fields_load_unchanged(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, SPEC_EXAMPLE))
    first, second = config.plugins
    assert (first.name, first.priority, first.mode.value, first.tags) == (
        "PIIFilterPlugin",
        50,
        "enforce",
        ["security", "pii", "compliance"],
    )
    assert first.conditions[0].server_ids == {"prod-server"}
    assert first.config == {"detect_ssn": True, "mask_strategy": "partial"}
    assert second.mcp is not None and second.mcp.proto == "STREAMABLEHTTP"
    assert config.plugin_settings.plugin_timeout == 30
    assert config.plugin_dirs == ["plugins"]
    cpex = write(
        tmp_path,
        f"""
        plugins:
          - name: a
            kind: {FIXTURES}.Shout
            hooks: [tool_pre_invoke]
            mode: fire_and_forget
            on_error: disable
            namespace: team
            capabilities: [read_headers]
            mcp: null
        """,
    )
    entry = load_config(cpex).plugins[0]
    assert (entry.mode.value, entry.error_policy.value if entry.error_policy else None) == (
        "fire_and_forget",
        "disable",
    )


def test_env_references_render_as_cpex_renders_them_without_html_escaping() -> None:
    environ = {"TOKEN": "a&b<c>", "EMPTY": ""}
    text = (
        "{{ env.TOKEN }}|{{ env['TOKEN'] }}|{{ env.get('MISSING', 'd') }}"
        "|{{ env.EMPTY | default('x') }}|{{ env.NOPE }}"
    )
    assert render_env(text, environ) == "a&b<c>|a&b<c>|d|x|"


def test_every_bad_field_hook_and_class_is_named_with_its_fix(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"""
        plugins:
          - name: typo
            kind: {FIXTURES}.Shout
            hooks: [tool_pre_invoke, tool_pre_invok]
            priorty: 5
            mode: strict
            conditions: [{{user_patterns: ["(unclosed"]}}]
        """,
    )
    with pytest.raises(PluginConfigError) as caught:
        load_config(path)
    problems = "\n".join(caught.value.problems)
    assert "plugins[0] (typo).priorty: unknown field" in problems
    assert "plugins[0] (typo).mode" in problems and "enforce" in problems
    assert "user_patterns" in problems and "(unclosed" in problems
    path = write(
        tmp_path,
        f"""
        plugins:
          - {{name: nohook, kind: {FIXTURES}.Shout, hooks: [tool_pre_invok]}}
        """,
    )
    with pytest.raises(PluginConfigError) as caught:
        load_config(path)
    assert "'tool_pre_invok' is not a hook; use one of" in caught.value.problems[0]
    path = write(
        tmp_path,
        f"""
        plugins:
          - {{name: missing, kind: {FIXTURES}.DoesNotExist, hooks: [tool_pre_invoke]}}
          - {{name: method, kind: {FIXTURES}.Shout, hooks: [prompt_pre_fetch]}}
          - {{name: sync, kind: {FIXTURES}.NotAsync, hooks: [tool_pre_invoke]}}
        """,
    )
    with pytest.raises(PluginConfigError) as caught:
        PluginManager.from_file(path)
    problems = "\n".join(caught.value.problems)
    assert "(missing).kind: cannot import" in problems and "DoesNotExist" in problems
    assert "(method).kind: Shout has no prompt_pre_fetch method" in problems
    assert "(sync).kind: NotAsync.tool_pre_invoke must be `async def`" in problems


# --- the hooks, around a fake router --------------------------------------------------------


class Upstream:
    """Stands for the router: records what it was asked, answers each tool call with text."""

    def __init__(self, text: str = "ok") -> None:
        self.asked: list[dict[str, Any]] = []
        self.text = text

    async def __call__(self, scope: MCPScope, receive: Receive, send: Send) -> None:
        self.asked.append(scope["params"])
        if scope["method"] == "tools/list":
            tools = [{"name": "files__read", "inputSchema": {}}, {"name": "files__delete", "inputSchema": {}}]
            result: dict[str, Any] = {"tools": tools}
        else:
            result = {"content": [{"type": "text", "text": self.text}], "isError": False}
        await send({"type": RESPONSE, "message": result_message(scope["id"], result)})


async def resolver(scope: MCPScope, kind: str, name: str) -> Resolved | None:
    server, _, original = name.partition("__")
    return Resolved(server, original, {"name": name, "inputSchema": {}}) if original else None


async def run(
    tmp_path: Path,
    yaml: str,
    method: str = "tools/call",
    params: dict[str, Any] | None = None,
    upstream: Upstream | None = None,
) -> tuple[list[Event], Upstream, PluginManager]:
    manager = PluginManager.from_file(write(tmp_path, yaml))
    await manager.initialize()
    upstream = upstream or Upstream()
    app = Plugins(upstream, manager.executor, resolver)
    params = params if params is not None else {"name": "files__read", "arguments": {"text": "hi"}}
    events = await call(app, make_test_scope(method, params, principal=ALICE))
    return events, upstream, manager


def answer(events: list[Event]) -> dict[str, Any]:
    message: dict[str, Any] = events[-1]["message"]
    return message


async def test_a_blocked_tool_call_is_an_error_result_naming_the_code_reason_and_plugin(
    tmp_path: Path,
) -> None:
    yaml = f"plugins: [{{name: deny, kind: {FIXTURES}.DenySecrets, hooks: [tool_pre_invoke]}}]"
    events, upstream, _ = await run(
        tmp_path, yaml, params={"name": "files__read", "arguments": {"q": "AKIAIOSFODNN7EXAMPLE"}}
    )
    result = answer(events)["result"]
    assert result["isError"] is True
    assert result["content"][0]["text"] == "Blocked by plugin deny: SECRET_DETECTED: Secret in arguments"
    assert upstream.asked == []  # the upstream never saw it
    events, upstream, _ = await run(tmp_path, yaml)
    assert answer(events)["result"]["isError"] is False and len(upstream.asked) == 1


async def test_modified_payloads_chain_in_priority_order_and_state_reaches_the_post_hook(
    tmp_path: Path,
) -> None:
    config = plugins(
        entry("remember", "Remember", ["tool_pre_invoke", "tool_post_invoke"], priority=20),
        entry("shout", "Shout", ["tool_pre_invoke"], priority=10),
        entry("redact", "RedactEmails", ["tool_post_invoke"], config={"mask": "<hidden>"}),
    )
    events, upstream, _ = await run(tmp_path, config, upstream=Upstream("write to bob@example.com"))
    assert upstream.asked[0]["arguments"] == {"text": "HI"}  # shout (10) ran before remember (20)
    texts = [block["text"] for block in answer(events)["result"]["content"]]
    assert texts == ["write to <hidden>", "asked: HI"]


async def test_modes_decide_who_may_block_and_who_may_change(tmp_path: Path) -> None:
    def record(name: str, mode: str, priority: int, **config: Any) -> dict[str, Any]:
        return entry(name, "Record", ["tool_pre_invoke"], mode=mode, priority=priority, config=config)

    yaml = plugins(
        record("audit", "audit", 1, tag=True),
        record("permissive", "permissive", 2, block=True),
        record("transform", "transform", 3, tag=True),
        record("enforce", "enforce", 4, block=True),
        record("after", "sequential", 5),
    )
    events, upstream, _ = await run(tmp_path, yaml)
    result = answer(events)["result"]
    assert result["isError"] and "enforce: RECORDED" in result["content"][0]["text"]
    assert upstream.asked == []
    yaml = yaml.replace("block: true", "block: false")
    events, upstream, _ = await run(tmp_path, yaml)
    assert upstream.asked[0]["arguments"]["tags"] == ["transform"]  # audit's change was discarded


async def test_a_failing_plugin_fails_closed_or_is_ignored_as_configured(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    for kind in ("Raises", "Hangs", "Garbage"):
        yaml = f"""
            plugins: [{{name: bad, kind: {FIXTURES}.{kind}, hooks: [tool_pre_invoke]}}]
            plugin_settings: {{plugin_timeout: 0.2}}
            """
        events, upstream, _ = await run(tmp_path, yaml)
        text = answer(events)["result"]["content"][0]["text"]
        assert answer(events)["result"]["isError"] and "bad: PLUGIN_ERROR" in text, kind
        assert upstream.asked == []
        events, upstream, _ = await run(tmp_path, yaml.replace("hooks:", "on_error: ignore, hooks:"))
        assert not answer(events)["result"]["isError"] and len(upstream.asked) == 1, kind
    assert "AKIAIOSFODNN7EXAMPLE" not in caplog.text  # the plugin's exception text is not logged at warning


async def test_on_error_disable_stops_calling_the_plugin(tmp_path: Path) -> None:
    yaml = f"""
        plugins: [{{name: bad, kind: {FIXTURES}.Raises, hooks: [tool_pre_invoke], on_error: disable}}]
        """
    manager = PluginManager.from_file(write(tmp_path, yaml))
    upstream = Upstream()
    app = Plugins(upstream, manager.executor, resolver)
    for _ in range(3):
        assert not answer(await call(app, make_test_scope("tools/call", {"name": "files__read"})))["result"][
            "isError"
        ]
    assert manager.plugins[0].disabled


async def test_conditions_pick_calls_by_server_tool_tenant_and_user(tmp_path: Path) -> None:
    cases = [
        ("{server_ids: [files]}", True),
        ("{server_ids: [mail]}", False),
        ("{tools: [read]}", True),  # the upstream's own name
        ("{tools: [files__read]}", True),  # the name the client called
        ("{tools: [delete]}", False),
        ("{tenant_ids: [acme], user_patterns: ['ali.*']}", True),
        ("{tenant_ids: [acme], user_patterns: ['bob']}", False),
        ("{server_ids: [mail]}, {tools: [read]}", True),  # OR across entries
        ("{prompts: [read]}", False),
    ]
    for condition, expected in cases:
        yaml = f"""
            plugins:
              - name: deny
                kind: {FIXTURES}.Record
                hooks: [tool_pre_invoke]
                config: {{block: true}}
                conditions: [{condition}]
            """
        events, _, _ = await run(tmp_path, yaml)
        assert answer(events)["result"]["isError"] is expected, condition


async def test_a_payload_over_max_content_size_is_not_given_to_the_plugin(tmp_path: Path) -> None:
    yaml = plugins(entry("small", "DenySecrets", ["tool_pre_invoke"], max_content_size=100))
    events, upstream, _ = await run(
        tmp_path, yaml, params={"name": "files__read", "arguments": {"text": "x" * 500}}
    )
    assert (
        answer(events)["result"]["isError"]
        and "PLUGIN_ERROR" in answer(events)["result"]["content"][0]["text"]
    )
    assert upstream.asked == []


async def test_prompts_and_resources_are_refused_with_a_policy_error(tmp_path: Path) -> None:
    yaml = f"plugins: [{{name: closed, kind: {FIXTURES}.NoPrompts, hooks: [prompt_pre_fetch]}}]"
    events, upstream, _ = await run(
        tmp_path, yaml, "prompts/get", {"name": "files__greet", "arguments": {"name": "x"}}
    )
    assert upstream.asked == []
    error = answer(events)["error"]
    assert error["code"] == -32050 and error["data"]["fault"] == "policy"
    assert error["message"] == "prompts/get refused by plugin closed: NO_PROMPTS: prompts are closed"
    assert "no prompt today" not in str(error)  # the description stays in the log
    yaml = f"plugins: [{{name: private, kind: {FIXTURES}.NoInfo, hooks: [resource_pre_fetch]}}]"
    events, _, _ = await run(tmp_path, yaml, "resources/read", {"uri": "fixture://a/info"})
    assert answer(events)["error"]["data"] == {"fault": "policy", "plugin": "private", "violation": "PRIVATE"}
    events, _, _ = await run(tmp_path, yaml, "resources/read", {"uri": "fixture://a/items/1"})
    assert "result" in answer(events)


async def test_a_tool_hidden_from_the_list_cannot_be_called(tmp_path: Path) -> None:
    yaml = plugins(entry("hide", "HideTools", ["tools_post_list"], config={"hide": ["files__delete"]}))
    events, _, _ = await run(tmp_path, yaml, "tools/list", {})
    assert [tool["name"] for tool in answer(events)["result"]["tools"]] == ["files__read"]
    events, upstream, _ = await run(tmp_path, yaml, params={"name": "files__delete", "arguments": {}})
    assert (
        answer(events)["result"]["isError"]
        and "TOOL_HIDDEN" in answer(events)["result"]["content"][0]["text"]
    )
    assert upstream.asked == []
    events, upstream, _ = await run(tmp_path, yaml)
    assert not answer(events)["result"]["isError"]


async def test_concurrent_plugins_of_one_band_run_together(tmp_path: Path) -> None:
    together = {"mode": "concurrent", "priority": 5, "config": {"sleep": 0.3}}
    yaml = plugins(
        entry("one", "Record", ["tool_pre_invoke"], **together),
        entry("two", "Record", ["tool_pre_invoke"], **together),
    )
    started = asyncio.get_running_loop().time()
    _, upstream, _ = await run(tmp_path, yaml)
    assert asyncio.get_running_loop().time() - started < 0.55  # together, not 0.6 s one after the other
    assert len(upstream.asked) == 1


# --- portcullis plugins list | validate -----------------------------------------------------


def test_plugins_list_shows_what_loads_with_manifest_and_validate_names_problems(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from gateway.cli import main

    conditions = [{"server_ids": ["files"], "tools": ["read"]}]
    good = write(
        tmp_path,
        plugins(entry("deny", "DenySecrets", ["tool_pre_invoke"], priority=5, conditions=conditions)),
    )
    assert main(["plugins", "list", "--config", str(good)]) == 0
    shown = capsys.readouterr().out
    assert "- deny (loaded): tests.fixtures.sample_plugins.DenySecrets" in shown
    assert "hooks: tool_pre_invoke; mode: enforce; priority: 5" in shown
    assert "when: server_ids=['files'], tools=['read']" in shown
    assert "manifest: {'name': 'Sample plugins', 'version': '0.1.0'" in shown
    assert main(["plugins", "validate", str(good)]) == 0
    assert "OK (1 plugins loaded, 1 configured)" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text("plugins:\n  - {name: off, kind: external, mcp: {proto: stdio}}\n")
    assert main(["plugins", "validate", str(bad)]) == 2
    problems = capsys.readouterr().err
    assert (
        "plugins[0].name: Input should be a valid string (YAML read a bare on/off/yes/no as False" in problems
    )
    assert "a STDIO plugin server needs `script` (a path) or `cmd` (a list)" in problems


# --- hooks on what the upstream asks the client ---------------------------------------------


async def asking_upstream(scope: MCPScope, receive: Receive, send: Send) -> None:
    """Asks the client for a sampling, then answers the call with what came back."""
    question = {
        "messages": [{"role": "user", "content": {"type": "text", "text": scope["params"]["arguments"]["q"]}}]
    }
    await send(
        {
            "type": SERVER_REQUEST,
            "message": {
                "jsonrpc": "2.0",
                "id": "q1",
                "method": "sampling/createMessage",
                "params": {**question, "maxTokens": 5},
            },
        }
    )
    while True:
        event = await receive()
        if event["type"] == CLIENT_RESPONSE and event["message"].get("id") == "q1":
            break
    answer = event["message"]
    await send(
        {
            "type": RESPONSE,
            "message": result_message(
                scope["id"], {"content": [{"type": "text", "text": json.dumps(answer)}]}
            ),
        }
    )


async def test_sampling_requests_are_checked_on_the_way_out_and_their_answers_on_the_way_back(
    tmp_path: Path,
) -> None:
    manager = PluginManager.from_file(
        write(
            tmp_path,
            plugins(entry("guard", "SamplingGuard", ["sampling_pre_create", "sampling_post_create"])),
        )
    )
    await manager.initialize()
    app = Plugins(asking_upstream, manager.executor, resolver)
    reply = {
        "jsonrpc": "2.0",
        "id": "q1",
        "result": {"role": "assistant", "content": {"type": "text", "text": "hi"}, "model": "m"},
    }
    events = await call(
        app,
        make_test_scope("tools/call", {"name": "files__ask", "arguments": {"q": "hello"}}),
        client_answers=[reply],
    )
    asked = [e for e in events if e["type"] == SERVER_REQUEST]
    assert asked[0]["message"]["params"]["systemPrompt"] == "Be brief."  # changed before the client saw it
    returned = json.loads(answer(events)["result"]["content"][0]["text"])
    assert returned["result"]["content"]["text"] == "HI"  # changed before the upstream saw it
    events = await call(
        app, make_test_scope("tools/call", {"name": "files__ask", "arguments": {"q": "my secret"}})
    )
    assert not [e for e in events if e["type"] == SERVER_REQUEST]  # the client was never asked
    refused = json.loads(answer(events)["result"]["content"][0]["text"])
    assert refused["error"]["data"]["fault"] == "policy"
    assert (
        refused["error"]["message"] == "refused by plugin guard: NO_SECRET_SAMPLING: no secrets to the model"
    )


async def test_an_elicitation_can_be_refused_before_the_client_sees_it(tmp_path: Path) -> None:
    manager = PluginManager.from_file(
        write(tmp_path, plugins(entry("quiet", "NoElicitation", ["elicitation_pre_create"])))
    )

    async def eliciting(scope: MCPScope, receive: Receive, send: Send) -> None:
        question = {"message": "Your name?", "requestedSchema": {"type": "object", "properties": {}}}
        await send(
            {
                "type": SERVER_REQUEST,
                "message": {"jsonrpc": "2.0", "id": "e1", "method": "elicitation/create", "params": question},
            }
        )
        event = await receive()
        await send(
            {
                "type": RESPONSE,
                "message": result_message(
                    scope["id"], {"content": [{"type": "text", "text": json.dumps(event["message"])}]}
                ),
            }
        )

    events = await call(
        Plugins(eliciting, manager.executor, resolver), make_test_scope("tools/call", {"name": "files__ask"})
    )
    assert not [e for e in events if e["type"] == SERVER_REQUEST]
    refused = json.loads(answer(events)["result"]["content"][0]["text"])
    assert refused["error"]["message"] == "refused by plugin quiet: NO_ELICITATION: no questions to users"


def test_cpex_connection_options_we_do_not_support_are_refused_not_ignored(tmp_path: Path) -> None:
    mcp = {"proto": "STREAMABLEHTTP", "url": "http://127.0.0.1:1/mcp", "uds": "/run/plugin.sock"}
    tls = {"proto": "STREAMABLEHTTP", "url": "https://p/mcp", "tls": {"keyfile_password": "x"}}
    path = write(tmp_path, yaml.safe_dump({"plugins": [
        {"name": "a", "kind": "external", "mcp": mcp}, {"name": "b", "kind": "external", "mcp": tls}
    ]}))  # fmt: skip
    with pytest.raises(PluginConfigError) as refused:
        load_config(path)
    problems = "\n".join(refused.value.problems)
    assert "uds (HTTP over a Unix socket) is not supported" in problems
    assert "keyfile_password is not supported" in problems
