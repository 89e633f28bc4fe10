"""Writing files so that a crash or a reader never sees half of one, and only where we meant.

Temporary files are named `.<name>.<8 random characters>.tmp` (`TEMP_NAME`), so that the
start-up sweep can tell ours from a person's `notes.tmp`.
"""

from __future__ import annotations

import errno
import os
import re
import tempfile
import tomllib
from pathlib import Path
from typing import Any

from .errors import ConfigError, PathError, StorageError

TEMP_NAME = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")

_UMASK = os.umask(0)
os.umask(_UMASK)


def storage_error(path: Path, exc: OSError) -> StorageError:
    """One line naming the path; a full disk says so in words."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return StorageError(f"{path}: no space left on device")
    return StorageError(f"{path}: {exc.strerror or exc}")


def write_atomic(path: Path, text: str) -> None:
    """Temp file beside `path`, fsync, rename: readers see the old file or the new one.

    Any OSError (a full disk, a folder that is a file) becomes a one-line `StorageError`, and
    the temp file is gone.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise storage_error(path, exc) from exc
    try:
        # mkstemp makes 0600 files; drafts and sidecars are published, so use the usual mode.
        os.fchmod(fd, 0o666 & ~_UMASK)
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise storage_error(path, exc) from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def confined(root: Path, relative: str) -> Path:
    """`root / relative`, or `PathError` when that would lead outside `root` (`..`, a link)."""
    rel = Path(relative)
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise PathError(f"{relative!r} under {root}")
    path = Path(root) / rel
    real_root = Path(root).resolve()
    real = path.resolve()
    if real != real_root and real_root not in real.parents:
        raise PathError(f"{path} leads to {real}, outside {root}")
    return path


def read_toml(path: Path, prefix: str = "", unreadable: str = "") -> dict[str, Any]:
    """A TOML file as a dict; an unreadable or malformed file is a ConfigError naming it."""
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"{prefix}{path}: {unreadable}{exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{prefix}{path}: {exc}") from exc
