"""Our calls in flight on one upstream connection: the ids we mint, and who a message is for.

Pure bookkeeping, no I/O: the connection sends and reads; this table says which call an
answer, a progress notification or a server request belongs to. Our ids count up from 1, so
an answer to a lower id that is no longer here is late (dropped), and one to an id we never
minted breaks the protocol.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from middleware.protocol import Message
from upstream.errors import ProtocolViolation, UpstreamError
from upstream.session.calls import CallChannel, Pending

log = logging.getLogger("portcullis.upstream")


class CallTable:
    """One connection's calls in flight, by our id (the front's ``InFlight`` is another thing:
    the client calls a stopping gateway must still answer)."""

    def __init__(self, server: str) -> None:
        self.server = server
        self.pending: dict[int, Pending] = {}
        self._next_id = 1

    def open(
        self,
        method: str,
        params: dict[str, Any] | None,
        channel: CallChannel | None,
        loop_future: Any,
        headers: Mapping[str, str] | None,
    ) -> tuple[int, Pending]:
        """Mint our id for a request and keep it; its progress token becomes that same id, so
        progress from a shared upstream reaches the right call and clients' tokens never clash."""
        upstream_id = self._next_id
        self._next_id += 1
        client_token = None
        if params is not None:
            meta = params.get("_meta")
            if isinstance(meta, dict) and "progressToken" in meta:
                client_token = meta["progressToken"]
                params = {**params, "_meta": {**meta, "progressToken": upstream_id}}
        message: Message = {"jsonrpc": "2.0", "id": upstream_id, "method": method}
        if params is not None:
            message["params"] = params
        listen = method == "subscriptions/listen"
        pending = Pending(loop_future, channel, client_token, listen, message, headers)
        self.pending[upstream_id] = pending
        return upstream_id, pending

    def answered(self, message: Message) -> None:
        """Hand a response to its call. One to an id we never sent breaks the protocol; one to a
        call we already gave up on (cancelled, timed out) is late, and dropped quietly."""
        request_id = message.get("id")
        pending = self.pending.pop(request_id, None)  # type: ignore[arg-type]
        if pending is not None:
            if not pending.future.done():
                pending.future.set_result(message)
        elif type(request_id) is int and 0 < request_id < self._next_id:
            log.debug("[%s] late answer to request %d dropped", self.server, request_id)
        else:
            raise ProtocolViolation(f"answered request id {request_id!r}, which the gateway never sent")

    def fail(self, request_id: Any, error: UpstreamError) -> None:
        """Answer a call in flight with ``error`` (the connection stays usable)."""
        pending = self.pending.pop(request_id, None) if request_id is not None else None
        if pending is not None and not pending.future.done():
            pending.future.set_result(error.to_message(request_id))

    def fail_all(self, error: UpstreamError) -> None:
        """Every call in flight fails with ``error`` at once (the session ended)."""
        pending, self.pending = self.pending, {}
        for call in pending.values():
            if not call.future.done():
                call.future.set_exception(error)

    def call_of(self, related: Any) -> Pending | None:
        """The call in flight under our id ``related``, if it has a client to tell."""
        pending = self.pending.get(related)
        return pending if pending is not None and pending.channel is not None else None

    def lone_modern_call(self) -> Pending | None:
        """The one call in flight, if it is a modern client's; listen streams do not count."""
        calls = [p for p in self.pending.values() if p.channel is not None and not p.listen]
        channel = calls[0].channel if len(calls) == 1 else None
        if channel is not None and channel.speaks_mrtr and not channel.waiting_on_client:
            return calls[0]
        return None

    def channel_for(self, related: Any, default: CallChannel | None) -> CallChannel | None:
        """The client a server request is for: the call whose stream carried it (HTTP), else
        the only call in flight, else ``default`` (the connection's own client, per-client)."""
        if related is not None:
            call = self.call_of(related)
            return call.channel if call is not None else None
        in_flight = [
            p.channel
            for p in self.pending.values()
            if p.channel is not None and not p.channel.waiting_on_client
        ]
        if len(in_flight) == 1:
            return in_flight[0]
        return default

    def progress(self, message: Message) -> tuple[Pending, Message] | None:
        """The call a progress notification is for, and the notification with its client's own
        token back; None when no call with a client has that token."""
        params = message.get("params") or {}
        token = params.get("progressToken")
        pending = self.pending.get(token) if isinstance(token, int) else None
        if pending is None or pending.channel is None:
            return None
        return pending, {**message, "params": {**params, "progressToken": pending.client_token}}
