"""App packages: a deterministic tar.gz of an app folder, named by its sha256.

The same folder always packs to the same bytes (sorted entries, zeroed times and owners,
gzip header without a time or name), so an unchanged app has an unchanged sha256 and a
push uploads nothing. ``unpack`` is the safe inverse for archives from anywhere.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import stat
import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from nimbus.errors import InvalidSpec
from paas.ignore import IgnoreRules, load_rules

DEFAULT_MAX_PACK_BYTES = 512 << 20
DEFAULT_MAX_UNPACK_BYTES = 1 << 30


@dataclass(frozen=True)
class PackageInfo:
    """What ``pack`` wrote: the archive's sha256 and size, and how many files it holds."""

    sha256: str
    size: int
    files: int


@dataclass(frozen=True)
class _Entry:
    rel: PurePosixPath
    path: Path
    kind: str  # "dir", "file" or "link"


def pack(folder: Path, out: Path, max_bytes: int = DEFAULT_MAX_PACK_BYTES) -> PackageInfo:
    """Packs ``folder`` into the tar.gz ``out`` (replaced atomically) and describes it.

    Refuses (InvalidSpec) a folder whose files add up to more than ``max_bytes``.
    """
    if not folder.is_dir():
        raise InvalidSpec(f"package: {folder} is not a folder")
    entries = list(_walk(folder.resolve(), load_rules(folder), out.resolve()))
    total = sum(e.path.lstat().st_size for e in entries if e.kind == "file")
    if total > max_bytes:
        raise InvalidSpec(
            f"package: {folder} holds {total} bytes of files, over the {max_bytes}-byte cap"
            " (list what to leave out in .cfignore)"
        )
    partial = out.with_name(out.name + ".partial")
    _write_archive(entries, partial)
    partial.replace(out)
    files = sum(e.kind == "file" for e in entries)
    return PackageInfo(sha256=sha256_file(out), size=out.stat().st_size, files=files)


def sha256_file(path: Path) -> str:
    """The hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _walk(top: Path, rules: IgnoreRules, out: Path) -> Iterator[_Entry]:
    """Entries under ``top`` in sorted order, skipping ignored ones, the archive being
    written, special files and links that point outside ``top``."""
    for path in sorted(top.iterdir(), key=lambda p: p.name):
        rel = PurePosixPath(path.relative_to(top).as_posix())
        yield from _entries_at(top, path, rel, rules, out)


def _entries_at(
    top: Path, path: Path, rel: PurePosixPath, rules: IgnoreRules, out: Path
) -> Iterator[_Entry]:
    mode = path.lstat().st_mode
    own_output = path in (out, out.with_name(out.name + ".partial"))
    if own_output or rules.ignores(rel, stat.S_ISDIR(mode)):
        return
    if stat.S_ISLNK(mode):
        if _link_stays_inside(top, path):
            yield _Entry(rel, path, "link")
    elif stat.S_ISREG(mode):
        yield _Entry(rel, path, "file")
    elif stat.S_ISDIR(mode):
        yield _Entry(rel, path, "dir")
        for child in sorted(path.iterdir(), key=lambda p: p.name):
            yield from _entries_at(top, child, rel / child.name, rules, out)


def _link_stays_inside(top: Path, link: Path) -> bool:
    # Only relative links can stay inside once the folder is unpacked somewhere else.
    target = os.readlink(link)
    resolved = Path(os.path.normpath(link.parent / target))
    return not os.path.isabs(target) and resolved.is_relative_to(top)


def _write_archive(entries: list[_Entry], out: Path) -> None:
    with (
        out.open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tar,
    ):
        for entry in entries:
            info = _tar_info(entry)
            if entry.kind == "file":
                with entry.path.open("rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)


def _tar_info(entry: _Entry) -> tarfile.TarInfo:
    """A header carrying only what the app needs: name, kind, size, executable bit."""
    info = tarfile.TarInfo(entry.rel.as_posix())
    info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
    st = entry.path.lstat()
    if entry.kind == "dir":
        info.type, info.mode = tarfile.DIRTYPE, 0o755
    elif entry.kind == "link":
        info.type, info.mode, info.linkname = tarfile.SYMTYPE, 0o777, os.readlink(entry.path)
    else:
        info.size = st.st_size
        info.mode = 0o755 if st.st_mode & stat.S_IXUSR else 0o644
    return info


def unpack(archive: Path, dest: Path, max_bytes: int = DEFAULT_MAX_UNPACK_BYTES) -> None:
    """Extracts a package into ``dest`` (replaced whole), refusing anything unsafe.

    InvalidSpec names the member that is absolute, climbs out with '..', links outside
    ``dest``, is a device or other special file, or takes the total past ``max_bytes``.
    """
    partial = dest.with_name(dest.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        with tarfile.open(archive, mode="r:*") as tar:
            members = tar.getmembers()
            _check_members(members, max_bytes)
            partial.mkdir(parents=True)
            tar.extractall(partial, members=members, filter="data")
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        shutil.rmtree(partial, ignore_errors=True)
        raise InvalidSpec(f"package: cannot unpack {archive.name}: {exc}") from exc
    shutil.rmtree(dest, ignore_errors=True)
    partial.rename(dest)


def _check_members(members: list[tarfile.TarInfo], max_bytes: int) -> None:
    total = 0
    for m in members:
        _check_member(m)
        total += m.size if m.isreg() else 0
        if total > max_bytes:
            raise InvalidSpec(f"package: member {m.name!r} takes it past {max_bytes} bytes")


def _check_member(m: tarfile.TarInfo) -> None:
    name = PurePosixPath(m.name)
    if name.is_absolute() or ".." in name.parts:
        raise InvalidSpec(f"package: member {m.name!r} has a path outside the app folder")
    if not (m.isreg() or m.isdir() or m.issym() or m.islnk()):
        raise InvalidSpec(f"package: member {m.name!r} is a device or special file")
    if m.issym() or m.islnk():
        base = name.parent if m.issym() else PurePosixPath()
        target = PurePosixPath(os.path.normpath(base / m.linkname))
        if os.path.isabs(m.linkname) or target.parts[:1] == ("..",):
            raise InvalidSpec(f"package: member {m.name!r} links outside the app folder")
