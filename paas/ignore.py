"""Which files of an app folder stay out of its package: build litter and ``.cfignore``."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

#: Never worth uploading: version control, caches, local virtualenvs, Nimbus's own state.
ALWAYS_IGNORED = (".git", "__pycache__", "*.pyc", ".venv", "venv", ".nimbus")


@dataclass(frozen=True)
class IgnoreRules:
    """Glob patterns as ``.cfignore`` writes them.

    A pattern without '/' matches any file or folder of that name at any depth; one with
    '/' matches the path from the app folder's top. A trailing '/' limits it to folders.
    """

    patterns: tuple[str, ...] = ALWAYS_IGNORED

    def ignores(self, rel: PurePosixPath, is_dir: bool) -> bool:
        """Whether the entry at ``rel`` (relative to the app folder) stays out."""
        return any(_matches(p, rel, is_dir) for p in self.patterns)


def load_rules(folder: Path) -> IgnoreRules:
    """The built-in rules plus the folder's ``.cfignore`` lines (``#`` starts a comment)."""
    path = folder / ".cfignore"
    lines = path.read_text(errors="replace").splitlines() if path.is_file() else []
    extra = tuple(s for s in (line.strip() for line in lines) if s and not s.startswith("#"))
    return IgnoreRules(ALWAYS_IGNORED + extra)


def _matches(pattern: str, rel: PurePosixPath, is_dir: bool) -> bool:
    if pattern.endswith("/"):
        if not is_dir:
            return False
        pattern = pattern.rstrip("/")
    if "/" in pattern:
        return fnmatch.fnmatchcase(rel.as_posix(), pattern.lstrip("/"))
    return fnmatch.fnmatchcase(rel.name, pattern)
