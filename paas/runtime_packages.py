"""The Debian packages of a runtime image: its packages' Depends closure, fetched once.

The closure is computed on the host with ``apt-cache depends`` (Depends and PreDepends,
first alternative, first provider of a virtual package), leaving out what a runtime that
never installs packages needs none of (``EXCLUDED``). Downloads are kept in a folder and
reused, so a rebuild needs no registry.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from pathlib import Path

from nimbus.guestimage import GuestImageError, run

ROOT_PACKAGES = ("python3.11",)
#: Package managers, perl and MIME registries: pulled in by maintainer scripts and
#: triggers, which a root file system unpacked with ``dpkg -x`` never runs.
EXCLUDED = (
    "perl",
    "perl-*",
    "libperl*",
    "dpkg",
    "tar",
    "install-info",
    "mailcap",
    "mime-support",
    "debconf",
    "debconf-*",
    "cdebconf",
)
_DEPENDS = re.compile(r"^ (.)(?:Pre)?Depends: (\S+)$")


def excluded(name: str, patterns: Iterable[str] = EXCLUDED) -> bool:
    """Whether the runtime leaves package ``name`` out."""
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def parse_depends(output: str) -> dict[str, list[str]]:
    """Each package's dependencies from ``apt-cache depends --important`` output.

    Of alternatives (``|Depends: a`` then ``Depends: b``) only the first counts; a virtual
    package (``<name>``) is replaced by its first provider, the indented line after it.
    """
    found: dict[str, list[str]] = {}
    current, skip_next, virtual = "", False, False
    for line in output.splitlines():
        if not line.startswith(" "):
            current, skip_next, virtual = line.strip(), False, False
            found[current] = []
        elif line.startswith("    ") and virtual:
            found[current].append(line.strip())
            virtual = False
        elif match := _DEPENDS.match(line):
            alternative, name = match.groups()
            if not skip_next and not name.startswith("<"):
                found[current].append(name)
            virtual = not skip_next and name.startswith("<")
            skip_next = alternative == "|"
    return found


def closure(roots: Iterable[str] = ROOT_PACKAGES, leave_out: Iterable[str] = EXCLUDED) -> list[str]:
    """The packages the runtime unpacks: ``roots`` and what they depend on, minus
    ``leave_out`` patterns (whose own dependencies are not followed), sorted."""
    patterns = tuple(leave_out)
    seen: set[str] = set()
    todo = [name for name in roots if not excluded(name, patterns)]
    while todo:
        seen.update(todo)
        depends = parse_depends(run("apt-cache", "depends", "--important", *todo))
        wanted = {dep.split(":")[0] for deps in depends.values() for dep in deps}
        todo = sorted(name for name in wanted - seen if not excluded(name, patterns))
    return sorted(seen)


def deb_for(deb_dir: Path, name: str) -> Path | None:
    """The downloaded ``.deb`` of package ``name``, if any (the newest by file name)."""
    debs = sorted(deb_dir.glob(f"{name}_*.deb"))
    return debs[-1] if debs else None


def fetch(names: list[str], deb_dir: Path) -> list[Path]:
    """The ``.deb`` of every package in ``names``, downloading only the missing ones."""
    deb_dir.mkdir(parents=True, exist_ok=True)
    missing = [name for name in names if deb_for(deb_dir, name) is None]
    if missing:
        run("apt-get", "download", *missing, cwd=deb_dir)
    debs = [deb_for(deb_dir, name) for name in names]
    absent = [name for name, deb in zip(names, debs, strict=True) if deb is None]
    if absent:
        raise GuestImageError(f"apt-get download left no package for {absent}")
    return [deb for deb in debs if deb is not None]
