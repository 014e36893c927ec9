"""Files only their owner may read (passwords, tokens, keys, keyrings, the databases that
hold secrets) and the folders that hold them.

A private file is made with mode 0600 from its creation (``os.open`` with that mode, which
a umask can only narrow), never written first and narrowed after: a reader racing the
write would get the secret. A new content is written beside the file and renamed over it,
so a reader sees the old file or the new one, whole.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

FILE_MODE, DIR_MODE = 0o600, 0o700
#: The umask of a program that makes files holding secrets itself (a daemon's store).
PRIVATE_UMASK = 0o077


def write_private(path: Path, data: str | bytes) -> Path:
    """Write ``path`` (atomically) as a file only its owner may read; returns it."""
    raw = data.encode() if isinstance(data, str) else data
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)  # a crash's leftover, whatever its mode
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)
    with os.fdopen(fd, "wb") as file:
        file.write(raw)
        file.flush()
        os.fsync(file.fileno())
    os.replace(tmp, path)
    return path


def create_private(path: Path) -> Path:
    """Make ``path`` an empty private file unless it exists, for a program that fills it
    (SQLite gives its journal and WAL files the database file's mode); returns it."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE))
    except FileExistsError:
        pass
    return path


def private_dir(path: Path) -> Path:
    """Make ``path`` a folder only its owner may enter (its missing parents as usual), or
    narrow an existing one to that; returns it."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    if stat.S_IMODE(path.stat().st_mode) != DIR_MODE:
        path.chmod(DIR_MODE)
    return path


def is_private(path: Path) -> bool:
    """Whether neither the group nor others may read, write or enter ``path``."""
    return not path.stat().st_mode & 0o077
