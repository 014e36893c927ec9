"""One contract suite for every BlockStore: the in-memory fake and Ceph RBD."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from activities.storage.block import IMAGES, VMS, VOLUMES, RbdRef
from activities.storage.fake_block import FakeBlockStore
from nimbus.errors import Conflict, InvalidSpec, NotFound

MIB = 1 << 20
#: A few bytes at a few places in an otherwise empty (sparse) 8 MiB disk.
MARKS = {0: b"boot sector", 3 * MIB + 5: b"in the middle", 8 * MIB - 4: b"end!"}
NewRef = Callable[[str], RbdRef]


@pytest.fixture(params=["fake", pytest.param("rbd", marks=pytest.mark.ceph)])
def store(request: pytest.FixtureRequest) -> Iterator[Any]:
    """Each store in turn; RBD runs on the session's throw-away cluster."""
    if request.param == "fake":
        yield FakeBlockStore()
        return
    from activities.storage.rbd_store import RbdBlockStore

    cluster = request.getfixturevalue("ceph_cluster")
    rbd_store = RbdBlockStore(str(cluster.conf), str(cluster.keyring), cluster.client)
    yield rbd_store
    rbd_store.close()


@pytest.fixture
def new_ref(store: Any) -> Iterator[NewRef]:
    """Unique image names; every image made is deleted afterwards, clones first."""
    refs: list[RbdRef] = []

    def new(pool: str = IMAGES) -> RbdRef:
        refs.append(RbdRef(pool, f"t-{uuid.uuid4().hex[:12]}"))
        return refs[-1]

    yield new
    for ref in reversed(refs):
        for clone in store.children(ref.at("snap")):
            store.delete(clone)
        store.delete(ref)


def raw_file(path: Path, marks: dict[int, bytes] = MARKS, size: int = 8 * MIB) -> Path:
    """A sparse raw disk of ``size`` bytes holding ``marks``."""
    with path.open("wb") as file:
        file.truncate(size)
        for offset, data in marks.items():
            file.seek(offset)
            file.write(data)
    return path


def qcow2_file(path: Path) -> Path:
    """The same disk as ``raw_file`` in qcow2."""
    raw = raw_file(path.with_suffix(".raw"))
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, path], check=True)
    return path


def content(store: Any, ref: RbdRef) -> bytes:
    return b"".join(store.read(ref))


def imported(store: Any, new_ref: NewRef, tmp_path: Path) -> RbdRef:
    """An image holding ``raw_file``, with its protected snapshot ``snap``."""
    ref = new_ref(IMAGES)
    store.import_file(ref, str(raw_file(tmp_path / "disk.raw")), "raw")
    store.snapshot(ref.at("snap"))
    return ref.at("snap")


# -- create, size, read ----------------------------------------------------------------


def test_create_makes_an_empty_image_of_that_size(store: Any, new_ref: NewRef):
    ref = new_ref(VOLUMES)
    store.create(ref, 2 * MIB)
    assert store.exists(ref) and store.size(ref) == 2 * MIB
    assert content(store, ref) == bytes(2 * MIB)


def test_create_twice_is_success_but_another_size_conflicts(store: Any, new_ref: NewRef):
    ref = new_ref(VOLUMES)
    store.create(ref, MIB)
    store.create(ref, MIB)
    with pytest.raises(Conflict):
        store.create(ref, 2 * MIB)
    assert store.size(ref) == MIB


def test_missing_image_is_not_found(store: Any, new_ref: NewRef):
    ref = new_ref(VOLUMES)
    assert not store.exists(ref) and not store.exists(ref.at("snap"))
    for call in (store.size, store.read, store.parent):
        with pytest.raises(NotFound):
            call(ref)


# -- import ------------------------------------------------------------------------------


def test_import_raw_reads_back_identically(store: Any, new_ref: NewRef, tmp_path: Path):
    ref, path = new_ref(IMAGES), raw_file(tmp_path / "disk.raw")
    assert store.import_file(ref, str(path), "raw") == 8 * MIB
    assert store.size(ref) == 8 * MIB and content(store, ref) == path.read_bytes()


def test_import_qcow2_reads_back_as_raw_bytes(store: Any, new_ref: NewRef, tmp_path: Path):
    ref, path = new_ref(IMAGES), qcow2_file(tmp_path / "disk.qcow2")
    assert store.import_file(ref, str(path), "qcow2") == 8 * MIB
    assert content(store, ref) == raw_file(tmp_path / "expected.raw").read_bytes()


@pytest.mark.parametrize("declared", ["raw", "qcow2", "vmdk"])
def test_import_of_another_format_is_invalid(
    store: Any, new_ref: NewRef, tmp_path: Path, declared: str
):
    ref = new_ref(IMAGES)
    path = {"raw": qcow2_file, "qcow2": raw_file, "vmdk": raw_file}[declared](tmp_path / "disk")
    with pytest.raises(InvalidSpec):
        store.import_file(ref, str(path), declared)
    assert not store.exists(ref)


def test_import_of_a_missing_file_is_not_found(store: Any, new_ref: NewRef, tmp_path: Path):
    with pytest.raises(NotFound):
        store.import_file(new_ref(IMAGES), str(tmp_path / "nope.raw"), "raw")


def test_import_replaces_an_image_left_by_an_earlier_attempt(
    store: Any, new_ref: NewRef, tmp_path: Path
):
    ref, path = new_ref(IMAGES), raw_file(tmp_path / "disk.raw")
    store.create(ref, 3 * MIB)
    store.write(ref, MIB, b"junk")
    store.import_file(ref, str(path), "raw")
    assert content(store, ref) == path.read_bytes()


# -- snapshots and clones ------------------------------------------------------------------


def test_snapshot_twice_is_success_and_keeps_the_old_data(
    store: Any, new_ref: NewRef, tmp_path: Path
):
    snap = imported(store, new_ref, tmp_path)
    store.snapshot(snap)
    store.write(snap.image(), 0, b"changed")
    assert store.exists(snap)
    assert content(store, snap) == raw_file(tmp_path / "expected.raw").read_bytes()


def test_clone_records_its_parent_and_reads_its_data(store: Any, new_ref: NewRef, tmp_path: Path):
    snap, child = imported(store, new_ref, tmp_path), new_ref(VMS)
    store.clone(snap, child)
    assert store.parent(child) == snap and store.children(snap) == [child]
    assert content(store, child) == content(store, snap)


def test_writes_to_a_clone_leave_the_parent_alone(store: Any, new_ref: NewRef, tmp_path: Path):
    snap, child = imported(store, new_ref, tmp_path), new_ref(VMS)
    store.clone(snap, child)
    store.write(child, 3 * MIB + 5, b"IN THE MIDDLE")
    assert content(store, child)[3 * MIB + 5 :][:13] == b"IN THE MIDDLE"
    assert content(store, snap) == raw_file(tmp_path / "expected.raw").read_bytes()


def test_clone_is_grown_to_a_larger_size(store: Any, new_ref: NewRef, tmp_path: Path):
    snap, child = imported(store, new_ref, tmp_path), new_ref(VMS)
    store.clone(snap, child, 16 * MIB)
    data = content(store, child)
    assert store.size(child) == 16 * MIB and data[8 * MIB :] == bytes(8 * MIB)
    assert data[: 8 * MIB] == content(store, snap)


def test_clone_is_never_smaller_than_its_parent(store: Any, new_ref: NewRef, tmp_path: Path):
    snap, child = imported(store, new_ref, tmp_path), new_ref(VMS)
    store.clone(snap, child, MIB)
    assert store.size(child) == 8 * MIB


def test_clone_twice_of_the_same_parent_is_success(store: Any, new_ref: NewRef, tmp_path: Path):
    snap, child = imported(store, new_ref, tmp_path), new_ref(VMS)
    store.clone(snap, child, 10 * MIB)
    store.clone(snap, child, 10 * MIB)
    assert store.children(snap) == [child] and store.size(child) == 10 * MIB


def test_clone_over_another_parent_or_a_plain_image_conflicts(
    store: Any, new_ref: NewRef, tmp_path: Path
):
    snap, other = imported(store, new_ref, tmp_path), imported(store, new_ref, tmp_path)
    child, plain = new_ref(VMS), new_ref(VMS)
    store.clone(snap, child)
    store.create(plain, MIB)
    store.write(plain, 0, b"data of its own")
    for target in (child, plain):
        with pytest.raises(Conflict):
            store.clone(other, target)
    assert store.parent(child) == snap and store.parent(plain) is None


def test_a_blank_parentless_leftover_is_replaced_by_the_clone(
    store: Any, new_ref: NewRef, tmp_path: Path
):
    """What a clone killed between creating the image and linking it leaves behind."""
    snap, child = imported(store, new_ref, tmp_path), new_ref(VMS)
    store.create(child, MIB)
    store.clone(snap, child)
    assert store.parent(child) == snap


def test_is_blank_until_written_and_a_clone_is_not(store: Any, new_ref: NewRef, tmp_path: Path):
    snap, child, plain = imported(store, new_ref, tmp_path), new_ref(VMS), new_ref(VMS)
    store.create(plain, MIB)
    assert store.is_blank(plain)
    store.write(plain, 4096, b"data")
    assert not store.is_blank(plain)
    store.clone(snap, child)
    assert not store.is_blank(child)  # it reads its parent's data
    store.flatten(child)
    assert not store.is_blank(child)


def test_rollback_puts_back_the_data_and_size_of_the_snapshot(
    store: Any, new_ref: NewRef, tmp_path: Path
):
    snap, child = imported(store, new_ref, tmp_path), new_ref(VMS)
    store.clone(snap, child)
    before = content(store, child)
    store.snapshot(child.at("resize"))
    store.resize(child, 16 * MIB)
    store.write(child, 12 * MIB, b"written after")
    store.write(child, 0, b"over the start")
    store.rollback(child.at("resize"))
    store.rollback(child.at("resize"))  # twice is the same
    assert store.size(child) == 8 * MIB and content(store, child) == before
    store.remove_snapshot(child.at("resize"))
    with pytest.raises(NotFound):
        store.rollback(child.at("resize"))


def test_clone_of_a_missing_snapshot_is_not_found(store: Any, new_ref: NewRef):
    parent, child = new_ref(IMAGES), new_ref(VMS)
    store.create(parent, MIB)
    with pytest.raises(NotFound):
        store.clone(parent.at("snap"), child)
    assert not store.exists(child)


def test_concurrent_clones_of_one_child_make_one(store: Any, new_ref: NewRef, tmp_path: Path):
    snap, child = imported(store, new_ref, tmp_path), new_ref(VMS)
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: store.clone(snap, child), range(4)))
    assert store.children(snap) == [child]


def test_remove_snapshot_with_clones_conflicts(store: Any, new_ref: NewRef, tmp_path: Path):
    snap, child = imported(store, new_ref, tmp_path), new_ref(VMS)
    store.clone(snap, child)
    with pytest.raises(Conflict):
        store.remove_snapshot(snap)
    assert store.exists(snap) and content(store, child) == content(store, snap)


def test_remove_snapshot_twice_is_success(store: Any, new_ref: NewRef, tmp_path: Path):
    snap = imported(store, new_ref, tmp_path)
    store.remove_snapshot(snap)
    store.remove_snapshot(snap)
    assert not store.exists(snap) and store.exists(snap.image())


def test_flatten_copies_the_data_so_the_snapshot_can_go(
    store: Any, new_ref: NewRef, tmp_path: Path
):
    snap, child = imported(store, new_ref, tmp_path), new_ref(VMS)
    store.clone(snap, child, 12 * MIB)
    expected = content(store, child)
    store.flatten(child)
    store.flatten(child)
    assert store.parent(child) is None and store.children(snap) == []
    store.remove_snapshot(snap)
    store.delete(snap.image())
    assert content(store, child) == expected


# -- delete and resize ---------------------------------------------------------------------


def test_delete_with_clones_conflicts_and_removes_nothing(
    store: Any, new_ref: NewRef, tmp_path: Path
):
    snap, child = imported(store, new_ref, tmp_path), new_ref(VMS)
    store.snapshot(snap.image().at("other"))
    store.clone(snap, child)
    with pytest.raises(Conflict):
        store.delete(snap.image())
    assert store.exists(snap) and store.exists(snap.image().at("other"))
    assert content(store, child) == content(store, snap)


def test_delete_removes_snapshots_and_missing_is_success(
    store: Any, new_ref: NewRef, tmp_path: Path
):
    snap = imported(store, new_ref, tmp_path)
    store.delete(snap.image())
    store.delete(snap.image())
    assert not store.exists(snap.image()) and not store.exists(snap)


def test_resize_grows_keeps_same_and_refuses_to_shrink(store: Any, new_ref: NewRef):
    ref = new_ref(VOLUMES)
    store.create(ref, MIB)
    store.write(ref, 0, b"data")
    store.resize(ref, 4 * MIB)
    store.resize(ref, 4 * MIB)
    with pytest.raises(InvalidSpec):
        store.resize(ref, 2 * MIB)
    data = content(store, ref)
    assert len(data) == 4 * MIB and data[:4] == b"data" and data[4:] == bytes(4 * MIB - 4)


def test_a_ten_gib_clone_is_cheap(store: Any, new_ref: NewRef):
    parent, child = new_ref(IMAGES), new_ref(VMS)
    store.create(parent, 10 << 30)
    store.write(parent, 5 << 30, b"far away")
    store.snapshot(parent.at("snap"))
    store.clone(parent.at("snap"), child, 20 << 30)
    assert store.size(child) == 20 << 30
    assert next(store.read(child, chunk_bytes=1))  # readable; a full read is not needed


# -- listing ---------------------------------------------------------------------------


def test_names_lists_a_pool_s_images_and_a_missing_pool_is_not_found(
    store: Any, new_ref: NewRef
) -> None:
    made = sorted(str(new_ref(VOLUMES).name) for _ in range(2))
    for name in made:
        store.create(RbdRef(VOLUMES, name), MIB)
    listed = store.names(VOLUMES)
    assert listed == sorted(listed) and set(made) <= set(listed)
    store.delete(RbdRef(VOLUMES, made[0]))
    assert made[0] not in store.names(VOLUMES) and made[1] in store.names(VOLUMES)
    with pytest.raises(NotFound):
        store.names("no-such-pool")
