"""The keys a gateway accepts at start: the configured ones, or a key for this run alone.

With auth on and no way in configured (no key in settings or the tenancy store, no OIDC, no auth
provider), a gateway on loopback makes a fresh local key rather than serving anyone: ``serve``
shows it on the terminal, ``stdio`` hands it to its own bridge and shows it to no one.
"""

from __future__ import annotations

from gateway.settings import Settings
from middleware.auth.keys import new_key as new_api_key

__all__ = ["key_hashes", "new_api_key", "other_ways_in"]


def other_ways_in(settings: Settings) -> bool:
    """Is a caller authenticated some way other than API keys (OIDC tokens, an auth provider)?"""
    return settings.auth.oidc is not None or bool(settings.plugins.providers("auth"))


def key_hashes(settings: Settings) -> tuple[dict[str, str], str | None]:
    """The configured keys by hash, and the local key of this run (None when not needed)."""
    from gateway.tenancy import has_keys
    from middleware.auth.api_key import hash_key

    hashes = {key.sha256: key.principal for key in settings.auth.api_keys}
    if not settings.auth.enabled or hashes or has_keys(settings) is not False or other_ways_in(settings):
        return hashes, None
    local_key = new_api_key()
    hashes[hash_key(local_key)] = "local"
    return hashes, local_key
