"""Who a stdio client is: the credential the bridge sends with every request.

A client that spawns its servers passes them settings in the environment, so the first source
is ``PORTCULLIS_API_KEY``. A JWT can come from a file (re-read when it changes: a sidecar renews
it) or from a command (run again when the gateway refuses the token it printed). The gateway
checks the credential exactly as it checks an HTTP client's; the bridge only carries it.
"""

from __future__ import annotations

import asyncio
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import aiohttp

from upstream.transports.http_auth import CredentialsUnavailable
from upstream.transports.http_support import status_detail
from upstream.transports.streamable import StreamableHttpTransport

KEY_VARIABLE: Final = "PORTCULLIS_API_KEY"
HINT: Final = f"set {KEY_VARIABLE} (or --token-file / --token-command) to a credential this gateway accepts"
COMMAND_PATIENCE: Final = 30.0


@dataclass
class StdioCredential:
    """An :class:`~upstream.transports.http_auth.HttpAuth` over one source: a key, a token
    file or a token command (or none: the gateway decides whether that is enough)."""

    key: str | None = None
    token_file: Path | None = None
    token_command: str | None = None
    _token: str | None = None

    @property
    def hint(self) -> str:
        return HINT

    @property
    def renews(self) -> bool:
        """Can a refused credential be replaced by a fresh one (a file, a command)?"""
        return self.key is None and self.given

    @property
    def given(self) -> bool:
        return any((self.key, self.token_file, self.token_command))

    async def headers(self) -> Mapping[str, str]:
        token = await self._current()
        return {"Authorization": f"Bearer {token}"} if token else {}

    async def refused(self, sent: Mapping[str, str]) -> bool:
        """A refused key stays refused; a file or a command may have a fresh token."""
        if not self.renews:
            return False
        self._token = None
        return dict(await self.headers()) != dict(sent)

    async def _current(self) -> str | None:
        if self.key is not None:
            return self.key
        if self._token is None and self.token_file is not None:
            self._token = _read(self.token_file)
        elif self._token is None and self.token_command is not None:
            self._token = await _run(self.token_command)
        return self._token


def from_environment(
    environ: Mapping[str, str], token_file: str | None, token_command: str | None
) -> StdioCredential:
    """The credential the command line or the environment names (the command line wins)."""
    if token_file:
        return StdioCredential(token_file=Path(token_file).expanduser())
    if token_command:
        return StdioCredential(token_command=token_command)
    key = environ.get(KEY_VARIABLE, "").strip()
    return StdioCredential(key=key or None)


def _read(path: Path) -> str:
    try:
        token = path.read_text().strip()
    except OSError as exc:
        raise CredentialsUnavailable(f"cannot read the token file {path} ({exc.strerror})") from None
    if not token:
        raise CredentialsUnavailable(f"the token file {path} is empty")
    return token


async def _run(command: str) -> str:
    """The token a command prints on stdout (its stderr passes through to ours)."""
    try:
        process = await asyncio.create_subprocess_exec(
            *shlex.split(command), stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE
        )
        async with asyncio.timeout(COMMAND_PATIENCE):
            output, _ = await process.communicate()
    except (OSError, ValueError) as exc:
        raise CredentialsUnavailable(f"cannot run --token-command ({exc})") from None
    except TimeoutError:
        process.kill()
        raise CredentialsUnavailable(f"--token-command printed nothing in {COMMAND_PATIENCE:.0f} s") from None
    token = output.decode(errors="replace").strip()
    if process.returncode != 0 or not token:
        raise CredentialsUnavailable(f"--token-command exited {process.returncode} without a token")
    return token


class GatewayTransport(StreamableHttpTransport):
    """The bridge's client: a refusal names the stdio command's credential options, and says
    "after renewing" only of a credential that can be renewed."""

    def __init__(self, credential: StdioCredential, url: str, **options: Any) -> None:
        super().__init__("portcullis", url, auth=credential if credential.given else None, **options)
        self._credential = credential

    def refusal(self, response: aiohttp.ClientResponse, url: str) -> str:
        return status_detail(response, url, HINT, renewed=self._credential.renews)
