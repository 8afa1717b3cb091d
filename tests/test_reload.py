"""SIGHUP and ``portcullis reload``: new settings apply in place, sessions still valid stay,
a principal who lost access is refused on the next call, and invalid settings change nothing."""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx2

from gateway.cli import main
from tests.support import (
    BOB_KEY,
    RunningGateway,
    default_settings,
    fixture_server,
    running_gateway,
    to_toml,
)
from tests.test_drain import _final, open_session

IDS = itertools.count(10)


async def rpc(
    http: httpx2.AsyncClient, gateway: RunningGateway, headers: dict[str, str], method: str, **params: Any
) -> Any:
    body = {"jsonrpc": "2.0", "id": next(IDS), "method": method, "params": params}
    response = await http.post(gateway.url, headers=headers, json=body)
    if response.status_code != 200:
        return response
    return _final(response)


async def tool_text(
    http: httpx2.AsyncClient, gateway: RunningGateway, headers: dict[str, str], tool: str
) -> str:
    message = await rpc(http, gateway, headers, "tools/call", name=tool, arguments={})
    text: str = message["result"]["content"][0]["text"]
    return text


def wait_for_log(gateway: RunningGateway, text: str, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log = gateway.log()
        if text in log:
            return log
        time.sleep(0.05)
    raise AssertionError(f"{text!r} never logged:\n{gateway.log()}")


def portcullis(*args: str) -> tuple[int, str]:
    """``portcullis ARGS`` in this process (as the CLI runs it, without a second interpreter's start)."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(list(args))
    return code, err.getvalue()


async def test_reload_applies_servers_keys_and_keeps_valid_sessions(tmp_path: Path) -> None:
    steady = fixture_server("gamma", start="eager")  # unchanged by the reload: calls to it run through
    settings = default_settings({"alpha": fixture_server("alpha", start="eager"), "gamma": steady})
    with running_gateway(tmp_path, settings) as gateway:
        pid_file = gateway.settings_path.parent / "portcullis.pid"
        assert pid_file.read_text().strip() == str(gateway.process.pid)
        async with httpx2.AsyncClient(timeout=httpx2.Timeout(30.0)) as http:
            alice = await open_session(http, gateway.url, gateway.headers())
            bob = await open_session(http, gateway.url, gateway.headers(BOB_KEY))
            alpha_before = await tool_text(http, gateway, alice, "alpha__pid")
            assert await tool_text(http, gateway, bob, "alpha__whoami") == "alpha"

            changed = default_settings(
                {
                    "alpha": fixture_server("alpha", start="eager", env={"RELOADED": "1"}),
                    "beta": fixture_server("beta"),
                    "gamma": steady,
                },
                http={"max_body_bytes": 123456},  # not reloadable: said to need a restart
            )
            changed["auth"]["api_keys"] = changed["auth"]["api_keys"][:1]  # bob's key is revoked
            changed["policies"] = [
                {"name": "everyone", "effect": "allow"},
                {"name": "no-adding", "effect": "deny", "principals": ["alice"], "tools": ["add"]},
            ]
            under_way = [  # under load: calls started before the reload finish after it
                asyncio.create_task(
                    rpc(http, gateway, alice, "tools/call", name="gamma__slow", arguments={"seconds": 2})
                )
                for _ in range(8)
            ]
            await asyncio.sleep(0.5)
            gateway.settings_path.write_text(to_toml(changed))
            code, err = portcullis("reload", "--settings", str(gateway.settings_path))
            assert code == 0, err
            assert not any(call.done() for call in under_way)  # the reload meets them in flight
            log = wait_for_log(gateway, "reload: applied")
            assert "http changed; restart the gateway to apply it" in log, log
            assert "server 'beta' added" in log, log
            assert "server 'alpha' changed: restarted" in log, log

            for finished in await asyncio.wait_for(asyncio.gather(*under_way), 20):
                assert finished["result"]["content"][0]["text"] == "done", finished
            listed = await rpc(http, gateway, alice, "tools/list")
            names = {tool["name"] for tool in listed["result"]["tools"]}
            assert {"alpha__echo", "beta__echo"} <= names
            assert await tool_text(http, gateway, alice, "beta__whoami") == "beta"  # same session
            assert await tool_text(http, gateway, alice, "alpha__pid") != alpha_before
            refused = await rpc(http, gateway, bob, "tools/call", name="alpha__whoami", arguments={})
            assert refused.status_code == 401
            denied = await rpc(
                http, gateway, alice, "tools/call", name="beta__add", arguments={"a": 1, "b": 2}
            )
            assert "no-adding" in str(denied), denied  # the new policy applies to the open session

            gateway.settings_path.write_text(to_toml({**changed, "bogus_key": 1}))
            os.kill(gateway.process.pid, signal.SIGHUP)
            log = wait_for_log(gateway, "reload refused, the running settings stay")
            assert "bogus_key" in log
            await asyncio.sleep(0.1)
            assert await tool_text(http, gateway, alice, "beta__whoami") == "beta"
        assert gateway.stop() == 0
    assert not pid_file.exists()
    assert "Traceback" not in gateway.log(), gateway.log()


def test_reload_without_a_running_gateway_says_so(tmp_path: Path) -> None:
    settings_path = tmp_path / "settings.toml"
    settings_path.write_text(to_toml(default_settings({})))
    code, err = portcullis("reload", "--settings", str(settings_path))
    assert code == 1
    assert "portcullis.pid" in err and "--pid" in err


async def test_a_reload_turns_traces_on_and_opens_the_audit_file_again(tmp_path: Path) -> None:
    """What logrotate does (move the trail, then SIGHUP) starts a new file; traces turned on by a
    reload record the next call, in both tiers."""
    from tests.fixtures.otlp_receiver import otlp_receiver

    trail = tmp_path / "audit.jsonl"
    deny = [{"name": "no-fail", "effect": "deny", "servers": ["alpha"], "tools": ["fail"]}]
    with otlp_receiver() as receiver:
        before = default_settings(
            {"alpha": fixture_server("alpha")}, policies=deny, telemetry={"audit": {"sink": str(trail)}}
        )
        traces = {"enabled": True, "endpoint": receiver.endpoint, "sample_ratio": 1.0}
        after = {**before, "telemetry": {"audit": {"sink": str(trail)}, "traces": traces}}
        with running_gateway(tmp_path, before) as gateway:
            async with httpx2.AsyncClient(timeout=httpx2.Timeout(30.0)) as http:
                alice = await open_session(http, gateway.url, gateway.headers())
                await rpc(http, gateway, alice, "tools/call", name="alpha__fail", arguments={})
                assert "no-fail" in trail.read_text()
                trail.rename(tmp_path / "audit.jsonl.1")
                gateway.settings_path.write_text(to_toml(after))
                os.kill(gateway.process.pid, signal.SIGHUP)
                log = wait_for_log(gateway, "reload: applied")
                assert "restart the gateway" not in log, log
                await rpc(http, gateway, alice, "tools/call", name="alpha__fail", arguments={})
                await rpc(http, gateway, alice, "tools/call", name="alpha__echo", arguments={"text": "x"})
            assert gateway.stop() == 0
        assert len((tmp_path / "audit.jsonl.1").read_text().splitlines()) == 1
        assert "no-fail" in trail.read_text()  # the trail went on in a new file
        (echo,) = receiver.wait_for("tools/call alpha__echo")
        http_spans = [s for s in receiver.spans if s.span_id == echo.parent_span_id]
        assert http_spans and http_spans[0].name.startswith("POST")
