"""Volume activities: volume data in the block store, and hot-plug on a server's host."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from temporalio import activity

from activities.compute import volume_disk
from activities.hypervisor.base import Disk, HypervisorDriver
from activities.storage.block import GIB, BlockStore, image_ref, volume_ref


@dataclass(frozen=True)
class VolumeRef:
    volume_id: str


@dataclass(frozen=True)
class CreateVolumeDataInput:
    """A blank volume, or a clone of an image or of a volume snapshot."""

    volume_id: str
    size_gib: int
    image_id: str | None = None
    source_volume_id: str | None = None
    snapshot_id: str | None = None


@dataclass(frozen=True)
class ExtendVolumeDataInput:
    volume_id: str
    size_gib: int


@dataclass(frozen=True)
class SnapshotRef:
    volume_id: str
    snapshot_id: str


def snapshot_ref_of(volume_id: str, snapshot_id: str) -> Any:
    return volume_ref(volume_id).at(f"snapshot-{snapshot_id}")


class VolumeActivities:
    """Volume data: ``volumes/volume-<id>`` and its snapshots. Host-independent."""

    def __init__(self, store: BlockStore) -> None:
        self.store = store

    @activity.defn
    def create_volume_data(self, inp: CreateVolumeDataInput) -> None:
        """Create the volume: blank, or a copy-on-write clone of its source."""
        ref, size = volume_ref(inp.volume_id), inp.size_gib * GIB
        if inp.image_id:
            self.store.clone(image_ref(inp.image_id), ref, size)
        elif inp.snapshot_id and inp.source_volume_id:
            self.store.clone(snapshot_ref_of(inp.source_volume_id, inp.snapshot_id), ref, size)
        else:
            self.store.create(ref, size)

    @activity.defn
    def delete_volume_data(self, inp: VolumeRef) -> None:
        """Remove the volume; missing is success."""
        self.store.delete(volume_ref(inp.volume_id))

    @activity.defn
    def extend_volume_data(self, inp: ExtendVolumeDataInput) -> None:
        self.store.resize(volume_ref(inp.volume_id), inp.size_gib * GIB)

    @activity.defn
    def create_snapshot_data(self, inp: SnapshotRef) -> None:
        self.store.snapshot(snapshot_ref_of(inp.volume_id, inp.snapshot_id))

    @activity.defn
    def delete_snapshot_data(self, inp: SnapshotRef) -> None:
        """Remove the snapshot; ``Conflict`` while volumes cloned from it exist."""
        self.store.remove_snapshot(snapshot_ref_of(inp.volume_id, inp.snapshot_id))

    @activity.defn
    def revert_volume_data(self, inp: SnapshotRef) -> None:
        """Put the volume back as it was at the snapshot, its size included (RBD rollback;
        a second run is the same rollback); ``NotFound`` if the snapshot is missing."""
        self.store.rollback(snapshot_ref_of(inp.volume_id, inp.snapshot_id))

    def all(self) -> list[Callable[..., Any]]:
        return [
            self.create_volume_data,
            self.delete_volume_data,
            self.extend_volume_data,
            self.create_snapshot_data,
            self.delete_snapshot_data,
            self.revert_volume_data,
        ]


@dataclass(frozen=True)
class PlugInput:
    server_id: str
    volume_id: str
    device: str
    #: What the attachment records (Nova's 2.49 ``tag``, 2.79 ``delete_on_termination``).
    tag: str | None = None
    delete_on_termination: bool = False


class AttachActivities:
    """Hot-plug of volumes into the domains of one host."""

    def __init__(self, hypervisor: HypervisorDriver, instance_prefix: str) -> None:
        self.hypervisor = hypervisor
        self.prefix = instance_prefix

    @staticmethod
    def disk(inp: PlugInput) -> Disk:
        """The volume as the guest sees it: its id as the serial, at the planned device."""
        return volume_disk(inp.volume_id, inp.device)

    @activity.defn
    def plug_volume(self, inp: PlugInput) -> None:
        """Attach the volume to the running domain; already attached there is success."""
        self.hypervisor.attach_disk(self.prefix + inp.server_id, self.disk(inp))

    @activity.defn
    def unplug_volume(self, inp: PlugInput) -> None:
        """Detach it and wait until the guest let it go; already gone is success."""
        self.hypervisor.detach_disk(self.prefix + inp.server_id, inp.device.removeprefix("/dev/"))

    def all(self) -> list[Callable[..., Any]]:
        return [self.plug_volume, self.unplug_volume]
