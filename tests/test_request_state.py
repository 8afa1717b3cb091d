"""The requestState tokens of multi round-trip requests resist forgery, replay, theft and reuse
on another request."""

from __future__ import annotations

import base64
import time

import pytest

from gateway.front.request_state import PREFIX, InvalidRequestState, RequestStates, request_digest

CALL = request_digest("tools/call", {"name": "deploy", "arguments": {"env": "prod"}})


async def test_a_token_resumes_its_call_once_for_its_principal() -> None:
    states = RequestStates()
    token = states.mint("alice", CALL, {"call": "c7"})
    assert (await states.redeem(token, "alice", CALL)).payload == {"call": "c7"}
    with pytest.raises(InvalidRequestState, match="already used"):
        await states.redeem(token, "alice", CALL)


async def test_another_principal_cannot_use_it() -> None:
    states = RequestStates()
    token = states.mint("alice", CALL, {"call": "c7"})
    with pytest.raises(InvalidRequestState, match="another principal"):
        await states.redeem(token, "bob", CALL)
    assert (await states.redeem(token, "alice", CALL)).payload["call"] == "c7"  # refused: not spent


async def test_it_only_fits_the_request_it_was_issued_for() -> None:
    states = RequestStates()
    token = states.mint("alice", CALL, {"call": "c7"})
    other = request_digest("tools/call", {"name": "deploy", "arguments": {"env": "dev"}})
    with pytest.raises(InvalidRequestState, match="different request"):
        await states.redeem(token, "alice", other)
    # _meta and the retry's own fields are not part of what identifies the request
    retry = {
        "name": "deploy",
        "arguments": {"env": "prod"},
        "_meta": {"progressToken": 3},
        "inputResponses": {"k": {}},
        "requestState": token,
    }
    assert (await states.redeem(token, "alice", request_digest("tools/call", retry))).payload


async def test_a_tampered_token_fails_its_integrity_check() -> None:
    states = RequestStates()
    token = states.mint("alice", CALL, {"call": "c7"})
    raw = bytearray(base64.urlsafe_b64decode(token[len(PREFIX) :] + "=="))
    raw[-5] ^= 0x01
    forged = PREFIX + base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")
    with pytest.raises(InvalidRequestState, match="integrity"):
        await states.redeem(forged, "alice", CALL)
    for junk in ("not-a-token", PREFIX + "!!!", 42, None):
        with pytest.raises(InvalidRequestState):
            await states.redeem(junk, "alice", CALL)


async def test_a_token_from_another_key_is_refused_and_a_shared_key_works_anywhere() -> None:
    token = RequestStates(b"k" * 32).mint("alice", CALL, {"call": "c7"})
    with pytest.raises(InvalidRequestState, match="integrity"):
        await RequestStates(b"x" * 32).redeem(token, "alice", CALL)
    assert (await RequestStates(b"k" * 32).redeem(token, "alice", CALL)).payload == {"call": "c7"}


async def test_an_expired_token_is_refused() -> None:
    states = RequestStates(lifetime=0.01)
    token = states.mint("alice", CALL, {"call": "c7"})
    time.sleep(0.02)
    with pytest.raises(InvalidRequestState, match="expired"):
        await states.redeem(token, "alice", CALL)
