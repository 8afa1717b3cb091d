"""Real MCP clients against the gateway: a client matrix.

Each client is a real one, never a hand-rolled request; the upstream behind the gateway is the
reference server ``@modelcontextprotocol/server-everything`` 2026.8.31, configured as server
``everything`` (so its tools and prompts appear as ``everything__<name>`` on ``/mcp``) and run
either over stdio (``node dist/index.js stdio``, a supervised subprocess) or over streamable HTTP
(``PORT=<port> node dist/index.js streamableHttp``, a ``url`` upstream). One gateway per upstream
transport: two instances of the same server on one gateway would collide on resource URIs.

Clients:

- ``inspector``: the MCP Inspector 2.12.0 CLI (``mcp-inspector --cli URL --transport http
  --header "Authorization: Bearer KEY" --stored-auth-only --format json --method ...``), HOME and
  its catalog/config files in a temporary directory. Protocol era ``legacy`` (its default for
  ad-hoc URLs), ``auto`` (probes ``server/discover``, which the gateway answers) and ``modern``
  (2026-07-28 pinned).
- ``mcp-remote``: mcp-remote 0.15.1, the stdio<->HTTP bridge desktop clients use (``mcp-remote URL
  --header "Authorization: Bearer KEY" --transport http-only --silent``, ``MCP_REMOTE_CONFIG_DIR``
  and HOME in a temporary directory; plain HTTP is allowed for 127.0.0.1 without
  ``--allow-http``), driven over stdio by the ``mcp`` SDK client.
- ``sdk``: the ``mcp`` SDK 2.3 client over streamable HTTP, ``mode="legacy"`` and ``"auto"``
  (the default), with sampling, elicitation and roots callbacks.

The matrix, client x upstream transport x feature (every cell passes on both upstreams, stdio and
streamable HTTP, unless said otherwise):

====================  ===========================================================  ===============
client                feature                                                      stdio / http
====================  ===========================================================  ===============
inspector legacy      tools/list (incl. the tools server-everything registers       pass / pass
                      only for clients declaring sampling, elicitation, roots)
inspector legacy      tools/call: echo, get-sum, get-structured-content             pass / pass
inspector legacy      resources/list, resources/templates/list, resources/read      pass / pass
                      (static document, dynamic text and blob templates)
inspector legacy      prompts/list, prompts/get (with arguments)                   pass / pass
inspector legacy      per-server endpoint /servers/everything/mcp (unprefixed)     pass / pass
inspector legacy      no key / bad key: exit 3 ``auth_required``, fault=client     pass / pass
inspector auto        tools/call (server/discover answered: speaks 2026-07-28)     pass / pass
inspector modern      2026-07-28 pinned: tools/list, tools/call, resources/read,   pass / pass
                      prompts/get
mcp-remote            tools/list, tools/call with progress (legacy: initialize;    pass / pass
                      auto: 2026-07-28 on both hops)
mcp-remote            sampling, elicitation (form), roots relayed through the       pass / pass
                      bridge and the gateway
mcp-remote            ``--protocol auto`` (probes server/discover)                  pass / pass
sdk legacy, auto      sampling/createMessage, elicitation/create (form and URL      pass / pass
                      mode), roots/list, progress
sdk legacy            per_client upstream sessions: each client sees its own roots  pass / pass
====================  ===========================================================  ===============

The summary of the cells actually run is printed at the end of the module (``-rA`` or ``-s``
not needed: it goes through the terminal reporter).

A hazard to know (not a gateway bug, and not asserted): server-everything caches the roots it got
per upstream session. With the default ``session_mode = "shared"`` every client shares one
upstream session, so ``get-roots-list`` shows every client the roots of the first client that
answered: stateful servers like this one need ``session_mode = "per_client"``. Shared-mode roots
tests below therefore give every client the same roots.

The Node tools come from tests/tools/install-node-tools.sh, run first as test_conformance.py does;
without the npm registry the module is skipped, except under CI, where it fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import pytest
from mcp import Client, StdioServerParameters, types
from mcp.client.stdio import stdio_client

from tests.conformance import run as conformance
from tests.support import (
    ALICE_KEY,
    BOB_KEY,
    RunningGateway,
    default_settings,
    free_port,
    running_gateway,
    text_of,
)

NODE = conformance.TOOLS / "node" / "bin" / "node"
NODE_MODULES = conformance.TOOLS / "npm" / "node_modules"
INSPECTOR = NODE_MODULES / ".bin" / "mcp-inspector"  # @modelcontextprotocol/inspector 2.12.0
MCP_REMOTE = NODE_MODULES / ".bin" / "mcp-remote"  # mcp-remote 0.15.1
EVERYTHING = NODE_MODULES / "@modelcontextprotocol" / "server-everything" / "dist" / "index.js"

SERVER = "everything"
UPSTREAMS = ("stdio", "http")
ROOTS_URI = "file:///work/project"  # every client of a shared upstream answers the same roots
CLIENT_TIMEOUT = 60.0

# What real clients cannot do through the gateway yet, and why; each is asserted to still fail
# (strict xfail): when a fix lands, the test says which entry to remove.
KNOWN_GATEWAY_GAPS: dict[str, str] = {}


def known_gap(name: str) -> str:
    return f"known gateway gap: {KNOWN_GATEWAY_GAPS[name]} (an XPASS means it is fixed: remove the entry)"


# ---- the matrix ---------------------------------------------------------------------------------


@dataclass
class Matrix:
    cells: dict[tuple[str, str, str], str] = field(default_factory=dict)

    @contextlib.contextmanager
    def cell(self, client: str, upstream: str, feature: str, *, gap: str | None = None) -> Iterator[None]:
        """Record whether the block passed, as the cell client x upstream x feature; ``gap`` names
        the KNOWN_GATEWAY_GAPS entry a failure is expected from."""
        key = (client, upstream, feature)
        try:
            yield
        except pytest.skip.Exception:
            self.cells[key] = "skip"
            raise
        except BaseException:
            self.cells[key] = f"known gap ({gap})" if gap else "FAIL"
            raise
        self.cells[key] = f"pass (fixed: remove gap {gap!r})" if gap else "pass"

    def lines(self) -> list[str]:
        width = max((len(f"{c} x {u}") for c, u, _ in self.cells), default=10)
        return [
            f"{f'{client} x {upstream}':<{width}}  {feature:<52} {outcome}"
            for (client, upstream, feature), outcome in sorted(self.cells.items())
        ]


MATRIX = Matrix()


@pytest.fixture(scope="module", autouse=True)
def matrix_summary(request: pytest.FixtureRequest) -> Iterator[Matrix]:
    """Print the cells that ran once the module is done."""
    yield MATRIX
    plugins = request.config.pluginmanager
    reporter: Any = plugins.get_plugin("terminalreporter")
    capture: Any = plugins.get_plugin("capturemanager")
    if reporter is None or not MATRIX.cells:
        return
    # Fixture teardown runs with output captured: step out of it, as pytest's own live logging does.
    with capture.global_and_fixture_disabled() if capture is not None else contextlib.nullcontext():
        reporter.write_line("")
        reporter.write_sep("-", "real-client matrix (client x upstream, feature, outcome)")
        for line in MATRIX.lines():
            reporter.write_line(line)


# ---- processes ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def node_tools() -> None:
    """Install (or find installed) Node 22, the Inspector, mcp-remote and server-everything."""
    done = conformance.install_tools()
    if done.returncode == conformance.REGISTRY_UNREACHABLE and not os.environ.get("CI"):
        pytest.skip(f"the npm registry is unreachable, so the Node tools cannot be installed:\n{done.stderr}")
    assert done.returncode == 0, (
        f"install-node-tools.sh failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    )
    for path in (NODE, INSPECTOR, MCP_REMOTE, EVERYTHING):
        assert path.exists(), f"{path} is missing after install-node-tools.sh"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """HOME for the Node clients: nothing they store (catalogs, OAuth state) lands in ours."""
    return tmp_path_factory.mktemp("client-home")


def node_env(home: Path, **extra: str) -> dict[str, str]:
    return {
        **conformance.node_env(),
        "HOME": str(home),
        "MCP_CATALOG_PATH": str(home / "inspector-catalog.json"),
        "MCP_CLIENT_CONFIG_PATH": str(home / "inspector-client.json"),
        "MCP_REMOTE_CONFIG_DIR": str(home / "mcp-auth"),
        **extra,
    }


@pytest.fixture(scope="module")
def everything_http(node_tools: None, home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """server-everything on streamable HTTP (its own process group); yields its URL."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("everything-http") / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(NODE), str(EVERYTHING), "streamableHttp"],
            env=node_env(home, PORT=str(port)),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        try:
            conformance.wait_for_port(port, process)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}\n{log_path.read_text(errors='replace')}") from None
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        conformance.stop(process)


def everything_server(upstream: str, request: pytest.FixtureRequest, **settings: Any) -> dict[str, Any]:
    """The [servers.NAME] table of server-everything over ``upstream``."""
    if upstream == "stdio":
        return {"command": str(NODE), "args": [str(EVERYTHING), "stdio"], **settings}
    url: str = request.getfixturevalue("everything_http")
    return {"url": url, "transport": "streamable-http", **settings}


@dataclass
class Target:
    upstream: str
    gateway: RunningGateway


@pytest.fixture(scope="module", params=UPSTREAMS)
def target(
    request: pytest.FixtureRequest, node_tools: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    """The gateway with server-everything behind it as ``everything``, over stdio or HTTP."""
    upstream: str = request.param
    settings = default_settings({SERVER: everything_server(upstream, request)})
    with running_gateway(tmp_path_factory.mktemp(f"gateway-{upstream}"), settings) as running:
        yield Target(upstream, running)
        log = running.log()
    assert "Traceback" not in log, log[-5000:]


# ---- client 1: the MCP Inspector CLI ------------------------------------------------------------


@dataclass
class InspectorRun:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def result(self) -> dict[str, Any]:
        assert self.returncode == 0, f"inspector {' '.join(self.args)} failed:\n{self.stderr}"
        payload: dict[str, Any] = json.loads(self.stdout)
        return dict(payload["result"])

    @property
    def error(self) -> dict[str, Any]:
        """The CLI's error envelope (on stderr, one JSON line)."""
        assert self.returncode != 0, f"inspector {' '.join(self.args)} succeeded:\n{self.stdout}"
        for line in reversed(self.stderr.splitlines()):
            with contextlib.suppress(ValueError):
                envelope = json.loads(line)
                if isinstance(envelope, dict) and "error" in envelope:
                    return dict(envelope["error"])
        raise AssertionError(f"no error envelope on stderr:\n{self.stderr}")


async def inspector(
    gateway: RunningGateway,
    home: Path,
    *args: str,
    url: str | None = None,
    key: str | None = ALICE_KEY,
    era: str = "legacy",
) -> InspectorRun:
    """One ``mcp-inspector --cli`` run against the gateway over streamable HTTP."""
    auth = ("--header", f"Authorization: Bearer {key}") if key else ()
    command = (
        str(NODE),
        str(INSPECTOR),
        "--cli",
        url or gateway.url,
        "--transport",
        "http",
        *auth,
        "--stored-auth-only",  # never start an interactive OAuth flow
        "--protocol-era",
        era,
        "--connect-timeout",
        "15000",
        "--format",
        "json",
        *args,
    )
    process = await asyncio.create_subprocess_exec(
        *command,
        env=node_env(home),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), CLIENT_TIMEOUT)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError(f"inspector {' '.join(args)} hung for {CLIENT_TIMEOUT} s") from None
    assert process.returncode is not None
    return InspectorRun(args, process.returncode, stdout.decode(), stderr.decode())


def texts(result: dict[str, Any]) -> list[str]:
    return [block["text"] for block in result["content"] if block.get("type") == "text"]


async def test_inspector_tools_list(target: Target, home: Path) -> None:
    with MATRIX.cell("inspector legacy", target.upstream, "tools/list"):
        tools = (await inspector(target.gateway, home, "--method", "tools/list")).result["tools"]
        names = {tool["name"] for tool in tools}
        expected = {"echo", "get-sum", "get-structured-content", "trigger-long-running-operation"}
        # Registered by server-everything only for a client declaring the capability: the
        # gateway declares sampling, elicitation and roots upstream because it relays them.
        expected |= {"trigger-sampling-request", "trigger-elicitation-request", "get-roots-list"}
        assert {f"{SERVER}__{name}" for name in expected} <= names, sorted(names)
        assert all(name.startswith(f"{SERVER}__") for name in names), sorted(names)


async def test_inspector_tools_call(target: Target, home: Path) -> None:
    with MATRIX.cell("inspector legacy", target.upstream, "tools/call"):
        echo, add, weather = await asyncio.gather(
            inspector(
                target.gateway,
                home,
                *("--method", "tools/call", "--tool-name", f"{SERVER}__echo"),
                *("--tool-arg", "message=hello gateway"),
            ),
            inspector(
                target.gateway,
                home,
                *("--method", "tools/call", "--tool-name", f"{SERVER}__get-sum"),
                *("--tool-args-json", '{"a": 2.5, "b": 4}'),
            ),
            inspector(
                target.gateway,
                home,
                *("--method", "tools/call", "--tool-name", f"{SERVER}__get-structured-content"),
                *("--tool-arg", "location=Chicago"),
            ),
        )
        assert texts(echo.result) == ["Echo: hello gateway"]
        assert texts(add.result) == ["The sum of 2.5 and 4 is 6.5."]
        structured = weather.result["structuredContent"]
        assert set(structured) == {"temperature", "conditions", "humidity"}
        assert json.loads(texts(weather.result)[0]) == structured


async def test_inspector_resources(target: Target, home: Path) -> None:
    document = "demo://resource/static/document/features.md"
    with MATRIX.cell("inspector legacy", target.upstream, "resources/list, templates/list, read"):
        listed, templates, static, text, blob = await asyncio.gather(
            inspector(target.gateway, home, "--method", "resources/list"),
            inspector(target.gateway, home, "--method", "resources/templates/list"),
            inspector(target.gateway, home, "--method", "resources/read", "--uri", document),
            inspector(
                target.gateway, home, "--method", "resources/read", "--uri", "demo://resource/dynamic/text/3"
            ),
            inspector(
                target.gateway, home, "--method", "resources/read", "--uri", "demo://resource/dynamic/blob/2"
            ),
        )
        assert document in {resource["uri"] for resource in listed.result["resources"]}
        assert {template["uriTemplate"] for template in templates.result["resourceTemplates"]} >= {
            "demo://resource/dynamic/text/{resourceId}",
            "demo://resource/dynamic/blob/{resourceId}",
        }
        [content] = static.result["contents"]
        assert content["uri"] == document
        assert content["text"].startswith("# Everything Server - Features")
        [content] = text.result["contents"]
        assert content["text"].startswith("Resource 3: This is a plaintext resource")
        [content] = blob.result["contents"]
        assert content["uri"] == "demo://resource/dynamic/blob/2" and content["blob"]


async def test_inspector_prompts(target: Target, home: Path) -> None:
    with MATRIX.cell("inspector legacy", target.upstream, "prompts/list, prompts/get"):
        listed, simple, with_args = await asyncio.gather(
            inspector(target.gateway, home, "--method", "prompts/list"),
            inspector(
                target.gateway, home, "--method", "prompts/get", "--prompt-name", f"{SERVER}__simple-prompt"
            ),
            inspector(
                target.gateway,
                home,
                *("--method", "prompts/get", "--prompt-name", f"{SERVER}__args-prompt"),
                *("--prompt-args", "city=Paris", "state=Texas"),
            ),
        )
        names = {prompt["name"] for prompt in listed.result["prompts"]}
        assert {f"{SERVER}__simple-prompt", f"{SERVER}__args-prompt", f"{SERVER}__resource-prompt"} <= names
        [message] = simple.result["messages"]
        assert message["content"]["text"] == "This is a simple prompt without arguments."
        [message] = with_args.result["messages"]
        assert message == {
            "role": "user",
            "content": {"type": "text", "text": "What's weather in Paris, Texas?"},
        }


async def test_inspector_per_server_endpoint(target: Target, home: Path) -> None:
    with MATRIX.cell("inspector legacy", target.upstream, "/servers/everything/mcp, unprefixed"):
        url = target.gateway.server_url(SERVER)
        tools, echo = await asyncio.gather(
            inspector(target.gateway, home, "--method", "tools/list", url=url),
            inspector(
                target.gateway,
                home,
                *("--method", "tools/call", "--tool-name", "echo", "--tool-arg", "message=sidecar"),
                url=url,
            ),
        )
        assert "echo" in {tool["name"] for tool in tools.result["tools"]}
        assert texts(echo.result) == ["Echo: sidecar"]


async def test_inspector_without_a_valid_key(target: Target, home: Path) -> None:
    with MATRIX.cell("inspector legacy", target.upstream, "no key / bad key -> auth_required"):
        missing, wrong = await asyncio.gather(
            inspector(target.gateway, home, "--method", "tools/list", key=None),
            inspector(target.gateway, home, "--method", "tools/list", key="pcs_not_a_key"),
        )
        for run, reason in ((missing, "no API key was presented"), (wrong, "the API key is not valid")):
            assert run.returncode == 3, run.stderr  # the CLI's exit code for auth_required
            error = run.error
            assert error["code"] == "auth_required"
            assert reason in error["message"] and '"fault":"client"' in error["message"]


async def test_inspector_auto_era_discovers_and_speaks_2026_07_28(target: Target, home: Path) -> None:
    with MATRIX.cell("inspector auto", target.upstream, "tools/call (server/discover answered: modern)"):
        run = await inspector(
            target.gateway,
            home,
            *("--method", "tools/call", "--tool-name", f"{SERVER}__get-sum", "--tool-arg", "a=2", "b=3"),
            era="auto",
        )
        assert texts(run.result) == ["The sum of 2 and 3 is 5."]


async def test_inspector_pinned_to_2026_07_28(target: Target, home: Path) -> None:
    with MATRIX.cell(
        "inspector modern", target.upstream, "tools/list, tools/call, resources/read, prompts/get"
    ):
        listed, summed, read, prompt = await asyncio.gather(
            inspector(target.gateway, home, "--method", "tools/list", era="modern"),
            inspector(
                target.gateway,
                home,
                *("--method", "tools/call", "--tool-name", f"{SERVER}__get-sum", "--tool-arg", "a=2", "b=3"),
                era="modern",
            ),
            inspector(
                target.gateway,
                home,
                *("--method", "resources/read", "--uri", "demo://resource/dynamic/text/3"),
                era="modern",
            ),
            inspector(
                target.gateway,
                home,
                *("--method", "prompts/get", "--prompt-name", f"{SERVER}__simple-prompt"),
                era="modern",
            ),
        )
        assert f"{SERVER}__get-sum" in {tool["name"] for tool in listed.result["tools"]}
        assert texts(summed.result) == ["The sum of 2 and 3 is 5."]
        [content] = read.result["contents"]
        assert content["text"].startswith("Resource 3: This is a plaintext resource")
        [message] = prompt.result["messages"]
        assert message["content"]["text"] == "This is a simple prompt without arguments."


# ---- client 2: mcp-remote, the stdio bridge, driven by the SDK client over stdio ---------------


@contextlib.asynccontextmanager
async def mcp_remote(
    gateway: RunningGateway, home: Path, log: TextIO, *flags: str, **options: Any
) -> AsyncIterator[Client]:
    """The SDK client speaking stdio to ``mcp-remote <gateway /mcp>`` with the API key header."""
    params = StdioServerParameters(
        command=str(NODE),
        args=[
            str(MCP_REMOTE),
            gateway.url,
            *("--header", f"Authorization: Bearer {gateway.key}"),
            *("--transport", "http-only"),
            "--silent",
            *flags,
        ],
        env=node_env(home),
    )
    async with Client(
        stdio_client(params, errlog=log), read_timeout_seconds=CLIENT_TIMEOUT, **options
    ) as client:
        yield client


@pytest.fixture
def remote_log(tmp_path: Path) -> Iterator[TextIO]:
    with (tmp_path / "mcp-remote.log").open("w+") as log:
        yield log


def log_text(log: TextIO) -> str:
    log.flush()
    log.seek(0)
    return log.read()[-3000:]


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_mcp_remote_tools_and_progress(
    target: Target, home: Path, remote_log: TextIO, mode: str
) -> None:
    seen: list[tuple[float, float | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total))

    with MATRIX.cell(f"mcp-remote ({mode})", target.upstream, "initialize, tools/list, call + progress"):
        async with mcp_remote(target.gateway, home, remote_log, mode=mode) as client:
            assert client.server_info is not None and client.server_info.name == "portcullis"
            # In auto mode both hops discover the 2026-07-28 era: the gateway answers server/discover.
            assert client.protocol_version == ("2026-07-28" if mode == "auto" else "2025-11-25")
            names = {tool.name for tool in (await client.list_tools()).tools}
            assert f"{SERVER}__trigger-long-running-operation" in names, (sorted(names), log_text(remote_log))
            result = await client.call_tool(
                f"{SERVER}__trigger-long-running-operation",
                {"duration": 0.5, "steps": 5},
                progress_callback=on_progress,
            )
            assert text_of(result) == "Long running operation completed. Duration: 0.5 seconds, Steps: 5."
            assert seen == [(float(step), 5.0) for step in range(1, 6)], log_text(remote_log)


async def sampling(context: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
    first = params.messages[0].content
    prompt = first.text if isinstance(first, types.TextContent) else "?"
    return types.CreateMessageResult(
        role="assistant", content=types.TextContent(type="text", text=f"echo of {prompt}"), model="test-model"
    )


async def elicitation(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
    if isinstance(params, types.ElicitRequestURLParams):
        return types.ElicitResult(action="decline")
    assert params.requested_schema["required"] == ["name"]
    return types.ElicitResult(action="accept", content={"name": "Ada Lovelace", "check": True, "integer": 7})


def roots_answering(uri: str) -> Any:
    async def roots(context: Any) -> types.ListRootsResult:
        return types.ListRootsResult(roots=[types.Root(uri=uri, name="project")])

    return roots


CALLBACKS: dict[str, Any] = {
    "sampling_callback": sampling,
    "elicitation_callback": elicitation,
    "list_roots_callback": roots_answering(ROOTS_URI),
}


async def check_sampling(client: Client) -> None:
    result = await client.call_tool(
        f"{SERVER}__trigger-sampling-request", {"prompt": "hello", "maxTokens": 20}
    )
    assert not result.is_error
    assert '"text": "echo of Resource trigger-sampling-request context: hello"' in text_of(result)
    assert '"model": "test-model"' in text_of(result)


async def check_elicitation(client: Client) -> None:
    result = await client.call_tool(f"{SERVER}__trigger-elicitation-request", {})
    assert not result.is_error
    lines = [block.text for block in result.content if isinstance(block, types.TextContent)]
    assert lines[0] == "✅ User provided the requested information!"
    assert "- Name: Ada Lovelace" in lines[1] and "- Favorite Integer: 7" in lines[1]


async def check_url_elicitation(client: Client) -> None:
    result = await client.call_tool(
        f"{SERVER}__trigger-url-elicitation",
        {"url": "https://auth.example.com/consent", "elicitationId": "e-1"},
    )
    assert text_of(result) == "❌ User declined to open the URL (Elicitation ID: e-1)."


async def check_roots(client: Client) -> None:
    result = await client.call_tool(f"{SERVER}__get-roots-list", {})
    assert text_of(result).startswith("Current MCP Roots (1 total):")
    assert f"URI: {ROOTS_URI}" in text_of(result)


async def test_mcp_remote_relays_server_requests(target: Target, home: Path, remote_log: TextIO) -> None:
    """Sampling, elicitation and roots asked by the upstream cross the gateway and the bridge."""
    async with mcp_remote(target.gateway, home, remote_log, mode="legacy", **CALLBACKS) as client:
        for feature, check in (
            ("sampling", check_sampling),
            ("elicitation (form)", check_elicitation),
            ("roots", check_roots),
        ):
            with MATRIX.cell("mcp-remote (legacy)", target.upstream, feature):
                await check(client)


async def test_mcp_remote_protocol_auto(target: Target, home: Path, remote_log: TextIO) -> None:
    """``--protocol auto`` spends one server/discover towards the gateway; a legacy client on
    the other side of the bridge is still served."""
    with MATRIX.cell("mcp-remote --protocol auto", target.upstream, "tools/call, legacy client behind it"):
        async with mcp_remote(
            target.gateway, home, remote_log, "--protocol", "auto", mode="legacy"
        ) as client:
            result = await client.call_tool(f"{SERVER}__echo", {"message": "bridged"})
            assert text_of(result) == "Echo: bridged", log_text(remote_log)


# ---- client 3: the mcp SDK client with sampling, elicitation and roots callbacks ---------------


@pytest.mark.parametrize("mode", ["legacy", "auto"])
@pytest.mark.parametrize(
    ("feature", "check"),
    [
        ("sampling", check_sampling),
        ("elicitation (form)", check_elicitation),
        ("elicitation (url)", check_url_elicitation),
        ("roots", check_roots),
    ],
)
async def test_sdk_client_features(target: Target, mode: str, feature: str, check: Any) -> None:
    with MATRIX.cell(f"sdk ({mode})", target.upstream, feature):
        async with target.gateway.client(mode=mode, **CALLBACKS) as client:
            await check(client)


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_sdk_client_progress(target: Target, mode: str) -> None:
    seen: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(progress)

    with MATRIX.cell(f"sdk ({mode})", target.upstream, "progress"):
        async with target.gateway.client(mode=mode) as client:
            result = await client.call_tool(
                f"{SERVER}__trigger-long-running-operation",
                {"duration": 0.3, "steps": 3},
                progress_callback=on_progress,
            )
            assert text_of(result) == "Long running operation completed. Duration: 0.3 seconds, Steps: 3."
            assert seen == [1.0, 2.0, 3.0]


@pytest.fixture(scope="module")
def per_client(
    node_tools: None, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningGateway]:
    """server-everything over both transports, each with one upstream session per client."""
    servers = {
        f"own-{upstream}": everything_server(upstream, request, session_mode="per_client")
        for upstream in UPSTREAMS
    }
    with running_gateway(tmp_path_factory.mktemp("per-client"), default_settings(servers)) as running:
        yield running


@pytest.mark.parametrize("upstream", UPSTREAMS)
async def test_sdk_per_client_sessions_keep_roots_apart(per_client: RunningGateway, upstream: str) -> None:
    """Alice, then Bob, each with their own roots: with per_client sessions, Bob sees his own."""
    tool = f"own-{upstream}__get-roots-list"
    with MATRIX.cell("sdk (legacy)", upstream, "per_client: each client its own roots"):
        for key, uri in ((ALICE_KEY, "file:///home/alice"), (BOB_KEY, "file:///home/bob")):
            async with per_client.client(
                key=key, mode="legacy", list_roots_callback=roots_answering(uri)
            ) as client:
                assert f"URI: {uri}" in text_of(await client.call_tool(tool, {}))
