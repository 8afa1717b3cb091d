"""SSE events carry ids; a client that loses a stream resumes it with Last-Event-ID and gets
what it missed on that stream, and nothing of another."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx2

from tests.support import RunningGateway, initialize_raw

PROGRESS_CALL = {
    "jsonrpc": "2.0",
    "id": 7,
    "method": "tools/call",
    "params": {
        "name": "alpha__progress",
        "arguments": {"steps": 6, "delay": 0.15},
        "_meta": {"progressToken": "t"},
    },
}


async def sse_events(response: httpx2.Response) -> AsyncIterator[tuple[str | None, dict[str, Any] | None]]:
    """(event id, message) per SSE event; None for a priming event."""
    event_id: str | None = None
    data: list[str] = []
    async for line in response.aiter_lines():
        if line.startswith("id:"):
            event_id = line[3:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
        elif line == "" and (event_id is not None or data):
            yield event_id, json.loads("\n".join(data)) if any(data) else None
            event_id, data = None, []


async def test_a_dropped_request_stream_resumes_where_it_left_off(gateway: RunningGateway) -> None:
    async with httpx2.AsyncClient(timeout=20) as http:
        headers = gateway.headers()
        session = await initialize_raw(http, gateway.url, headers)
        session_headers = {**headers, "mcp-session-id": session, "mcp-protocol-version": "2025-11-25"}

        seen_before: list[float] = []
        last_id: str | None = None
        async with http.stream(
            "POST",
            gateway.url,
            headers={**session_headers, "content-type": "application/json"},
            json=PROGRESS_CALL,
        ) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            async for event_id, message in sse_events(response):
                assert event_id is not None, "every SSE event carries an id"
                last_id = event_id
                if message is not None:
                    seen_before.append(message["params"]["progress"])
                    break  # drop the connection after the first progress
        assert seen_before == [1]
        await asyncio.sleep(0.4)  # the call goes on while nobody listens

        assert last_id is not None
        seen_after: list[float] = []
        result: dict[str, Any] | None = None
        async with http.stream(
            "GET", gateway.url, headers={**session_headers, "last-event-id": last_id}
        ) as resumed:
            assert resumed.status_code == 200
            async for _, message in sse_events(resumed):
                if message is None:
                    continue
                if "method" in message:
                    assert message["params"]["progressToken"] == "t"
                    seen_after.append(message["params"]["progress"])
                else:
                    result = message
                    break
        assert seen_after == [2, 3, 4, 5, 6]
        assert result is not None
        assert result["id"] == 7
        assert result["result"]["content"][0]["text"] == "6 steps"


async def test_an_unknown_last_event_id_is_refused(gateway: RunningGateway) -> None:
    async with httpx2.AsyncClient(timeout=10) as http:
        headers = gateway.headers()
        session = await initialize_raw(http, gateway.url, headers)
        response = await http.get(
            gateway.url, headers={**headers, "mcp-session-id": session, "last-event-id": "nonsense"}
        )
        assert response.status_code == 400
        assert "Last-Event-ID" in response.json()["error"]["message"]
