"""Which event store keeps the SSE events of resumable streams: the composition root asks here,
so that its choice follows the session store's (a session shared by every replica needs its
streams' events shared too, or a client could resume only on the replica it left)."""

from __future__ import annotations

from gateway.front.events import EventStore
from gateway.settings import Settings
from gateway.state.memory import InMemoryEventStore
from gateway.state.redis_events import RedisEventStore


def event_store(settings: Settings) -> EventStore:
    """Events in Redis when replicas share sessions (``[sessions] store``), else here."""
    if settings.shared_sessions:
        assert settings.redis.url is not None
        return RedisEventStore(
            settings.redis.url, prefix=settings.redis.prefix, idle_timeout=settings.sessions.idle_timeout
        )
    return InMemoryEventStore()


async def close_event_store(store: EventStore) -> None:
    """Let go of its connections (a shared store has some; the in-memory one nothing)."""
    if isinstance(store, RedisEventStore):
        await store.close()
