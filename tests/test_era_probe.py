"""The era probe on its own: how ``server/discover`` answers are judged, and the handshake against
real fixture processes (a legacy-only one that never answers the probe, a dual-era one whose
answer comes too late, a modern-only one), without a gateway around it."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from gateway.settings import SettingsError, load_settings
from tests.support import ROOT
from upstream.errors import UpstreamError
from upstream.session.connection import UpstreamConnection
from upstream.session.era import EraMemory, ModernRefusal, NotModern, judge_discover
from upstream.session.handshake import open_session
from upstream.transports.stdio import StdioTransport

MODERN_SERVER = ROOT / "tests" / "fixtures" / "modern_server.py"
CLIENT_INFO = {"name": "portcullis-test", "version": "0"}


def answer(*, result: dict[str, Any] | None = None, error: dict[str, Any] | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": 1}
    if error is not None:
        message["error"] = error
    else:
        message["result"] = result or {}
    return message


# --- judging one answer ------------------------------------------------------------------------


def test_a_discover_result_with_a_modern_version_is_modern() -> None:
    result = {"supportedVersions": ["2026-07-28"], "capabilities": {"tools": {}}}
    assert judge_discover(answer(result=result), "2026-07-28") == ("2026-07-28", result)


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (None, "did not answer server/discover in time"),
        (answer(error={"code": -32601, "message": "Method not found"}), "error -32601"),
        (answer(error={"code": -32602, "message": "not initialized"}), "error -32602"),
        (answer(error={"code": -32012, "message": "HTTP 400", "data": {"status": 400}}), "error -32012"),
        (answer(result={"supportedVersions": ["2025-11-25"]}), "lists no modern version"),
        (
            answer(
                error={"code": -32022, "message": "no", "data": {"supported": ["2025-11-25", "2025-06-18"]}}
            ),
            "supports only",
        ),
    ],
)
def test_anything_else_falls_back_to_initialize(reply: dict[str, Any] | None, reason: str) -> None:
    with pytest.raises(NotModern) as legacy:
        judge_discover(reply, "2026-07-28")
    assert reason in legacy.value.reason


def test_modern_errors_never_fall_back() -> None:
    disjoint = answer(error={"code": -32022, "message": "no", "data": {"supported": ["2099-01-01"]}})
    with pytest.raises(ModernRefusal) as refused:
        judge_discover(disjoint, "2026-07-28")
    assert "2099-01-01" in refused.value.reason
    with pytest.raises(ModernRefusal):
        judge_discover(answer(error={"code": -32020, "message": "Header mismatch"}), "2026-07-28")


def test_an_unsupported_version_error_naming_a_mutual_version_asks_again() -> None:
    error = {"code": -32022, "message": "no", "data": {"supported": ["2026-07-28"]}}
    assert judge_discover(answer(error=error), "2027-01-01") == ("2026-07-28", {})


def test_an_http_origin_remembers_its_era_until_it_fails() -> None:
    memory = EraMemory("auto", remember=True)
    memory.learned(modern=False)
    assert memory.next_era() == "legacy"
    memory.forget()
    assert memory.next_era() == "auto"
    stdio = EraMemory("auto", remember=False)
    stdio.learned(modern=True)
    assert stdio.next_era() == "auto"


# --- against real processes --------------------------------------------------------------------


def connection(tmp: Path, *extra: str) -> tuple[UpstreamConnection, Path]:
    methods = tmp / "methods.log"
    transport = StdioTransport(
        "probe", "python", [str(MODERN_SERVER), *extra], env={"FIXTURE_METHOD_LOG": str(methods)}
    )
    return UpstreamConnection(
        "probe", transport, client_info=CLIENT_INFO, on_notification=lambda *_: None
    ), methods


async def test_a_silent_legacy_server_is_initialized_after_the_probe_times_out(tmp_path: Path) -> None:
    upstream, methods = connection(tmp_path, "--legacy-only")
    try:
        identity = await open_session(upstream, era="auto", client_info=CLIENT_INFO, probe_timeout=0.5)
        assert identity.protocol_version == "2025-11-25"
        assert upstream.modern is None
        echoed = await upstream.request("tools/call", {"name": "echo", "arguments": {"text": "x"}})
        assert echoed["result"]["content"][0]["text"] == "modern:x"
    finally:
        await upstream.close()
    assert methods.read_text().splitlines()[:2] == ["dropped server/discover", "initialize"]


async def test_a_late_discover_answer_makes_the_handshake_probe_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The dual-era server answers the probe after we gave up: that locked its process modern,
    so initialize is refused with -32022, and the handshake settles on modern."""
    caplog.set_level(logging.INFO, "portcullis.upstream")
    upstream, methods = connection(tmp_path)
    try:
        identity = await open_session(upstream, era="auto", client_info=CLIENT_INFO, probe_timeout=0.000_001)
        assert identity.protocol_version == "2026-07-28"
        assert identity.server_info == {"name": "fixture-modern", "version": "1.0"}
        assert upstream.modern is not None
        echoed = await upstream.request("tools/call", {"name": "echo", "arguments": {"text": "y"}})
        assert echoed["result"]["content"][0]["text"] == "modern:y"
    finally:
        await upstream.close()
    # The SDK refuses initialize on a modern process before its handlers (and our log) see it.
    assert methods.read_text().splitlines()[:2] == ["server/discover", "server/discover"]
    assert "refused initialize for a modern version; probing again" in caplog.text


async def test_era_modern_refuses_a_legacy_only_server(tmp_path: Path) -> None:
    upstream, methods = connection(tmp_path, "--legacy-only")
    try:
        with pytest.raises(UpstreamError) as refused:
            await open_session(upstream, era="modern", client_info=CLIENT_INFO, probe_timeout=0.5)
    finally:
        await upstream.close()
    assert "is not a 2026-07-28 server" in refused.value.detail
    assert 'era = "modern"' in refused.value.detail
    assert "initialize" not in methods.read_text()


async def test_era_legacy_against_a_modern_only_server_says_what_it_supports(tmp_path: Path) -> None:
    upstream, _ = connection(tmp_path, "--modern-only")
    try:
        with pytest.raises(UpstreamError) as refused:
            await open_session(upstream, era="legacy", client_info=CLIENT_INFO, probe_timeout=None)
    finally:
        await upstream.close()
    assert "refused initialize" in refused.value.detail
    assert "2026-07-28" in refused.value.detail


# --- settings ----------------------------------------------------------------------------------


def test_check_names_a_bad_era(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text('[servers.one]\ncommand = "python"\nera = "future"\n')
    with pytest.raises(SettingsError) as bad:
        load_settings(path)
    assert any(problem.startswith("servers.one.era:") for problem in bad.value.problems)
    path.write_text('[servers.two]\nurl = "http://127.0.0.1:1/sse"\ntransport = "sse"\nera = "modern"\n')
    with pytest.raises(SettingsError) as sse:
        load_settings(path)
    assert any("servers.two" in problem and "sse" in problem for problem in sse.value.problems)
