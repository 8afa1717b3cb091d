"""Reading a client's file, keeping one backup of it, and replacing it atomically with its mode kept.

A client reading its file while we write must see the old file or the new one, never half of one,
hence a temporary file beside it and ``os.replace``. The file may hold API keys, ours included, so
its mode is kept and a new file is made ``0600``.
"""

from __future__ import annotations

import os
import stat
import tempfile
from contextlib import suppress
from pathlib import Path

from gateway.client_setup.config_files import ConfigError

BACKUP_SUFFIX = ".portcullis-backup"
NEW_FILE_MODE = 0o600


def real_path(path: Path) -> Path:
    """The file a (dotfiles) symlink points at: we replace that file and leave the link alone."""
    return Path(os.path.realpath(path.expanduser()))


def backup_path(path: Path) -> Path:
    return path.with_name(path.name + BACKUP_SUFFIX)


def read_text(path: Path) -> str | None:
    """The file's text with its line endings as they are, or None when it does not exist."""
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            return handle.read()
    except FileNotFoundError:
        return None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text; is this the client's configuration file?") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read it ({error.strerror})") from None


def file_mode(path: Path) -> int | None:
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return None


def write_atomic(path: Path, text: str, mode: int | None) -> None:
    """Replace ``path`` with ``text`` in one step, with ``mode`` (``0600`` for a new file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, NEW_FILE_MODE if mode is None else mode)
        os.replace(temporary, path)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def keep_backup(path: Path, original: str) -> tuple[Path, bool]:
    """Back ``path`` up as it is now, unless a backup of ours is already there: (backup, made now).

    An existing backup is never overwritten. It holds the file as it was before Portcullis first
    touched it, and every install since changed only our own entry, so it is the one state worth
    keeping; a second backup would hold nothing of the user's that the file itself does not.
    """
    backup = backup_path(path)
    if backup.exists():
        return backup, False
    write_atomic(backup, original, file_mode(path))
    return backup, True
