"""``portcullis stdio --url``: a stdio client reaching a remote gateway (what ``mcp-remote``
does, without Node), and the MCP Inspector CLI driving the stdio front."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

from tests.support import (
    ALICE_KEY,
    RunningGateway,
    default_settings,
    fixture_server,
    running_gateway,
    start_gateway,
    text_of,
)
from tests.test_real_clients import INSPECTOR, NODE, node_env, node_tools  # noqa: F401 (a fixture)
from tests.test_stdio_front import PORTCULLIS, mcp_error_in, settings_file, stdio_env


@pytest.fixture(scope="module")
def remote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    settings = default_settings({"fx": fixture_server("fx")})
    with running_gateway(tmp_path_factory.mktemp("remote"), settings) as running:
        yield running


def thin_client(url: str, key: str | None = ALICE_KEY, **options: Any) -> Client:
    params = StdioServerParameters(command=str(PORTCULLIS), args=["stdio", "--url", url], env=stdio_env(key))
    return Client(stdio_client(params), **options)


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_the_thin_mode_reaches_a_remote_gateway(remote: RunningGateway, mode: str) -> None:
    async with thin_client(remote.url, mode=mode) as client:
        assert "fx__add" in {tool.name for tool in (await client.list_tools()).tools}
        assert text_of(await client.call_tool("fx__add", {"a": 40, "b": 2})) == "42"
        resource = await client.read_resource("fixture://fx/info")
        assert "fx" in str(resource.contents[0])
    assert "principal=alice" in remote.log()


async def test_the_remote_gateway_checks_the_key(remote: RunningGateway) -> None:
    with pytest.raises(Exception) as raised:
        async with thin_client(remote.url, key="pcs_wrong_key_000000000000000000", mode="legacy") as client:
            await client.list_tools()
    refused = mcp_error_in(raised.value)
    assert refused.error.code == -32010 and "PORTCULLIS_API_KEY" in refused.error.message


def test_a_key_is_not_sent_in_clear_text_across_the_network() -> None:
    done = subprocess.run(
        [str(PORTCULLIS), "stdio", "--url", "http://gateway.example.com/mcp"],
        env=stdio_env(),
        input=b"",
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert b"use https" in done.stderr and done.stdout == b""


async def test_a_restarted_gateway_is_invisible_to_the_client(tmp_path: Path) -> None:
    """The remote gateway forgets the session (in-memory state, restarted): the bridge opens a
    new one with the client's own handshake and sends the refused request again."""
    settings = default_settings({"fx": fixture_server("fx")})
    first = start_gateway(tmp_path, settings)
    try:
        async with thin_client(first.url, mode="legacy") as client:
            assert text_of(await client.call_tool("fx__add", {"a": 1, "b": 1})) == "2"
            first.stop()
            second = start_gateway(tmp_path, settings, port=first.port)
            try:
                assert text_of(await client.call_tool("fx__add", {"a": 2, "b": 2})) == "4"
                assert "method=initialize" in second.log()
            finally:
                second.stop()
    finally:
        first.stop()


# ---- the MCP Inspector CLI over stdio --------------------------------------------------------------


async def inspect_stdio(settings: Path, home: Path, era: str, *args: str) -> dict[str, Any]:
    command = (
        str(NODE),
        str(INSPECTOR),
        "--cli",
        str(PORTCULLIS),
        "stdio",
        "--settings",
        str(settings),
        "--transport",
        "stdio",
        "-e",
        f"PORTCULLIS_API_KEY={ALICE_KEY}",
        "-e",
        f"PATH={os.environ['PATH']}",
        "--protocol-era",
        era,
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
        cwd=settings.parent,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, stderr.decode()[-3000:]
    result: dict[str, Any] = json.loads(stdout)["result"]
    return result


@pytest.mark.usefixtures("node_tools")
@pytest.mark.parametrize("era", ["legacy", "modern"])
async def test_the_inspector_cli_drives_the_stdio_front(tmp_path: Path, era: str) -> None:
    settings = settings_file(tmp_path)
    listed = await inspect_stdio(settings, tmp_path, era, "--method", "tools/list")
    assert "fx__add" in {tool["name"] for tool in listed["tools"]}
    call = ("--method", "tools/call", "--tool-name", "fx__add", "--tool-arg", "a=5", "b=6")
    called = await inspect_stdio(settings, tmp_path, era, *call)
    assert called["structuredContent"] == {"result": 11}


# ---- a JWT from a command, renewed when refused ---------------------------------------------------

TOKEN_COMMAND = """
import sys, httpx2
url, client, secret, resource = sys.argv[1:5]
form = {"grant_type": "client_credentials", "scope": "mcp", "resource": resource}
answer = httpx2.post(url, data=form, auth=(client, secret), timeout=10)
answer.raise_for_status()
print(answer.json()["access_token"])
"""


async def test_a_jwt_from_a_token_command_is_the_credential(tmp_path: Path) -> None:
    """``--token-command`` against a real OAuth issuer (client credentials); the gateway checks
    the JWT as it checks an HTTP client's, and names its subject as the principal."""
    from tests.fixtures.oauth_issuer import running_issuer

    with running_issuer(clients=[("desktop", "s3cret")]) as issuer:
        settings = default_settings({"fx": fixture_server("fx")})
        settings["auth"]["oidc"] = {"issuer": issuer.url, "required_scopes": ["mcp"]}
        with running_gateway(tmp_path, settings) as gateway:
            script = tmp_path / "mint_token.py"
            script.write_text(TOKEN_COMMAND)
            command = f"{sys.executable} {script} {issuer.token_url} desktop s3cret {gateway.url}"
            params = StdioServerParameters(
                command=str(PORTCULLIS),
                args=["stdio", "--url", gateway.url, "--token-command", command],
                env=stdio_env(key=None),
            )
            async with Client(stdio_client(params), mode="auto") as client:
                assert text_of(await client.call_tool("fx__add", {"a": 3, "b": 4})) == "7"
            assert "principal=desktop" in gateway.log()
