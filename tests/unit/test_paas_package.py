from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from nimbus.errors import InvalidSpec
from paas.package import pack, sha256_file, unpack


def make_app(root: Path) -> Path:
    (root / "lib").mkdir(parents=True)
    (root / "app.py").write_text("print('hi')\n")
    (root / "lib" / "util.py").write_text("X = 1\n")
    (root / "run.sh").write_text("#!/bin/sh\n")
    (root / "run.sh").chmod(0o755)
    (root / "link.py").symlink_to("lib/util.py")
    return root


def names(archive: Path) -> list[str]:
    with tarfile.open(archive) as tar:
        return tar.getnames()


def crafted(tmp_path: Path, *members: tuple[tarfile.TarInfo, bytes]) -> Path:
    path = tmp_path / "crafted.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            info.size = len(data) if info.isreg() else 0
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return path


def member(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    return info


def test_same_folder_packs_to_the_same_sha256_whatever_the_times(tmp_path: Path) -> None:
    app = make_app(tmp_path / "app")
    first = pack(app, tmp_path / "1.tar.gz")
    for path in app.rglob("*"):
        os.utime(path, (1_000_000, 1_000_000), follow_symlinks=False)
    second = pack(app, tmp_path / "2.tar.gz")
    assert first == second
    assert first.sha256 == sha256_file(tmp_path / "2.tar.gz")
    assert first.files == 3


def test_a_changed_file_changes_the_sha256(tmp_path: Path) -> None:
    app = make_app(tmp_path / "app")
    before = pack(app, tmp_path / "p.tar.gz").sha256
    (app / "app.py").write_text("print('bye')\n")
    assert pack(app, tmp_path / "p.tar.gz").sha256 != before


def test_entries_are_sorted_with_zeroed_owner_and_time(tmp_path: Path) -> None:
    archive = tmp_path / "p.tar.gz"
    pack(make_app(tmp_path / "app"), archive)
    assert names(archive) == ["app.py", "lib", "lib/util.py", "link.py", "run.sh"]
    with tarfile.open(archive) as tar:
        infos = tar.getmembers()
    assert {(i.mtime, i.uid, i.gid, i.uname) for i in infos} == {(0, 0, 0, "")}
    assert archive.read_bytes()[4:8] == b"\0\0\0\0"  # gzip header mtime


def test_build_litter_and_cfignore_patterns_stay_out(tmp_path: Path) -> None:
    app = make_app(tmp_path / "app")
    for litter in [
        ".git/HEAD",
        "__pycache__/a.pyc",
        "lib/b.pyc",
        ".venv/x",
        "venv/y",
        ".nimbus/z",
        "docs/a.md",
        "secret.env",
        "tmp/keep",
    ]:
        (app / litter).parent.mkdir(parents=True, exist_ok=True)
        (app / litter).write_text("x")
    (app / ".cfignore").write_text("# local files\n*.env\n/docs\ntmp/\n")
    archive = tmp_path / "p.tar.gz"
    pack(app, archive)
    assert names(archive) == [".cfignore", "app.py", "lib", "lib/util.py", "link.py", "run.sh"]


def test_links_leaving_the_folder_and_special_files_stay_out(tmp_path: Path) -> None:
    app = make_app(tmp_path / "app")
    (app / "abs").symlink_to("/etc/passwd")
    (app / "up").symlink_to("../outside")
    os.mkfifo(app / "fifo")
    archive = tmp_path / "p.tar.gz"
    pack(app, archive)
    assert not {"abs", "up", "fifo"} & set(names(archive))


def test_archive_written_inside_the_folder_is_not_packed_into_itself(tmp_path: Path) -> None:
    app = make_app(tmp_path / "app")
    pack(app, app / "p.tar.gz")
    assert "p.tar.gz" not in names(app / "p.tar.gz")


def test_folder_over_the_cap_is_refused(tmp_path: Path) -> None:
    app = make_app(tmp_path / "app")
    (app / "big.bin").write_bytes(b"x" * 2000)
    with pytest.raises(InvalidSpec, match="over the 1000-byte cap"):
        pack(app, tmp_path / "p.tar.gz", max_bytes=1000)


def test_pack_then_unpack_gives_back_the_files(tmp_path: Path) -> None:
    app = make_app(tmp_path / "app")
    pack(app, tmp_path / "p.tar.gz")
    unpack(tmp_path / "p.tar.gz", tmp_path / "out")
    out = tmp_path / "out"
    assert (out / "lib" / "util.py").read_text() == "X = 1\n"
    assert os.readlink(out / "link.py") == "lib/util.py"
    assert os.access(out / "run.sh", os.X_OK) and not os.access(out / "app.py", os.X_OK)


def test_unpack_twice_replaces_the_folder(tmp_path: Path) -> None:
    app = make_app(tmp_path / "app")
    pack(app, tmp_path / "p.tar.gz")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "stale").write_text("x")
    unpack(tmp_path / "p.tar.gz", tmp_path / "out")
    unpack(tmp_path / "p.tar.gz", tmp_path / "out")
    assert not (tmp_path / "out" / "stale").exists()
    assert (tmp_path / "out" / "app.py").exists()


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        (member("/etc/cron.d/x"), "outside the app folder"),
        (member("a/../../x"), "outside the app folder"),
        (member("l", tarfile.SYMTYPE, "/etc"), "links outside"),
        (member("d/l", tarfile.SYMTYPE, "../../etc"), "links outside"),
        (member("h", tarfile.LNKTYPE, "../x"), "links outside"),
        (member("dev", tarfile.CHRTYPE), "device or special file"),
        (member("fifo", tarfile.FIFOTYPE), "device or special file"),
    ],
)
def test_unsafe_members_are_refused_by_name(tmp_path: Path, bad: tarfile.TarInfo, why: str) -> None:
    archive = crafted(tmp_path, (member("ok.txt"), b"fine"), (bad, b"evil"))
    with pytest.raises(InvalidSpec, match=why) as info:
        unpack(archive, tmp_path / "out")
    assert repr(bad.name) in str(info.value)
    assert not (tmp_path / "out").exists()
    assert not (tmp_path.parent / "x").exists()


def test_links_that_stay_inside_are_extracted(tmp_path: Path) -> None:
    archive = crafted(
        tmp_path,
        (member("d", tarfile.DIRTYPE), b""),
        (member("d/a.txt"), b"a"),
        (member("d/l", tarfile.SYMTYPE, "a.txt"), b""),
        (member("h", tarfile.LNKTYPE, "d/a.txt"), b""),
    )
    unpack(archive, tmp_path / "out")
    assert (tmp_path / "out" / "d" / "l").read_text() == "a"
    assert (tmp_path / "out" / "h").read_text() == "a"


def test_archive_past_the_size_cap_is_refused(tmp_path: Path) -> None:
    archive = crafted(tmp_path, (member("a"), b"x" * 600), (member("b"), b"x" * 600))
    with pytest.raises(InvalidSpec, match="member 'b' takes it past 1000 bytes"):
        unpack(archive, tmp_path / "out", max_bytes=1000)


def test_a_file_that_is_not_an_archive_is_refused(tmp_path: Path) -> None:
    (tmp_path / "junk.tar.gz").write_bytes(b"not a tar")
    with pytest.raises(InvalidSpec, match="cannot unpack junk.tar.gz"):
        unpack(tmp_path / "junk.tar.gz", tmp_path / "out")
