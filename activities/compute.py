"""Host-bound compute activities: root disks (RBD clones of images) and domains of one
hypervisor host.

They run on the worker polling ``host-<name>`` and are all idempotent, so that Temporal can
retry them after a crash: create treats "exists and matches" as success, delete treats
"not found" as success.
"""

from __future__ import annotations

import base64
import binascii
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from temporalio import activity

from activities.hypervisor.base import Disk, DomainSpec, HypervisorDriver, Nic, PowerState
from activities.network.base import bridge_name, tap_name
from activities.storage.block import GIB, BlockStore, RbdRef, root_disk_ref, volume_ref
from nimbus.configdrive import ConfigDrive, build_config_drive, network_data_json
from nimbus.errors import Conflict, InvalidSpec, NotFound


@dataclass(frozen=True)
class ServerRef:
    server_id: str


@dataclass(frozen=True)
class AttachedVolume:
    """A volume attached to a server, at its device (``/dev/vdb``)."""

    volume_id: str
    device: str


@dataclass(frozen=True)
class CreateRootDiskInput:
    server_id: str
    image_location: str
    size_gib: int


@dataclass(frozen=True)
class RootSnapshotInput:
    server_id: str
    name: str


@dataclass(frozen=True)
class NicInput:
    """A port of the server, plugged in as a NIC: its tap ``tap<id11>`` joins the
    network's bridge ``brq<id11>`` (see ``activities.network.base``)."""

    port_id: str
    mac: str
    network_id: str
    mtu: int = 1450

    def nic(self) -> Nic:
        return Nic(self.mac, bridge_name(self.network_id), tap_name(self.port_id), self.mtu)


@dataclass(frozen=True)
class ConfigDriveInput:
    """What the server's config drive says besides its uuid and NICs.

    ``user_data`` is base64, as the compute API takes it (activity inputs are JSON).
    """

    name: str
    hostname: str
    project_id: str
    metadata: dict[str, str] = field(default_factory=dict)
    user_data: str | None = None
    availability_zone: str = "nova"
    launch_index: int = 0
    public_keys: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StartDomainInput:
    server_id: str
    vcpus: int
    memory_mib: int
    nics: tuple[NicInput, ...] = ()
    config_drive: ConfigDriveInput | None = None
    #: A volume-backed server boots from this Cinder volume instead of its own disk.
    root_volume_id: str | None = None
    #: The volumes attached to the server, defined with its domain.
    volumes: tuple[AttachedVolume, ...] = ()


def volume_disk(volume_id: str, device: str) -> Disk:
    """A volume as the guest sees it: its id as the serial, at its device."""
    return Disk(
        target=device.removeprefix("/dev/"),
        kind="rbd",
        source=str(volume_ref(volume_id)),
        serial=volume_id[:20],
    )


def _root_disk(inp: StartDomainInput) -> Disk:
    """The server's own RBD disk, or its root volume (with the volume id as its serial, as
    a hot-plugged volume has)."""
    if inp.root_volume_id is None:
        return Disk("vda", "rbd", str(root_disk_ref(inp.server_id)))
    source = str(volume_ref(inp.root_volume_id))
    return Disk("vda", "rbd", source, serial=inp.root_volume_id[:20])


def decode_user_data(text: str | None) -> bytes | None:
    """The user data's bytes; ``InvalidSpec`` if it is not base64."""
    if text is None:
        return None
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise InvalidSpec(f"user_data is not base64: {exc}") from exc


def domain_spec(inp: StartDomainInput, folder: Path, name: str) -> DomainSpec:
    """The server's domain, its config drive built first at ``<folder>/config.iso``; its
    console is logged to ``console.log`` and its second serial port to ``app.log`` there."""
    folder.mkdir(parents=True, exist_ok=True)
    drive = config_drive(inp)
    iso = build_config_drive(drive, folder / "config.iso") if drive else None
    return DomainSpec(
        name=name,
        uuid=inp.server_id,
        vcpus=inp.vcpus,
        memory_mib=inp.memory_mib,
        root=_root_disk(inp),
        console_log=str(folder / "console.log"),
        nics=tuple(nic.nic() for nic in inp.nics),
        config_drive=str(iso) if iso else None,
        app_log=str(folder / "app.log"),
        volumes=tuple(volume_disk(v.volume_id, v.device) for v in inp.volumes),
    )


def config_drive(inp: StartDomainInput) -> ConfigDrive | None:
    """The server's config drive, if it has one; network_data.json lists its NICs."""
    cd = inp.config_drive
    if cd is None:
        return None
    return ConfigDrive(
        uuid=inp.server_id,
        name=cd.name,
        hostname=cd.hostname,
        project_id=cd.project_id,
        metadata=dict(cd.metadata),
        user_data=decode_user_data(cd.user_data),
        network_data=network_data_json([nic.nic() for nic in inp.nics]),
        availability_zone=cd.availability_zone,
        launch_index=cd.launch_index,
        public_keys=dict(cd.public_keys),
    )


@dataclass(frozen=True)
class GracefulStopInput:
    server_id: str
    seconds: float


@dataclass(frozen=True)
class PowerStateResult:
    power_state: int


@dataclass(frozen=True)
class ConsoleOutputInput:
    server_id: str
    max_lines: int | None = None


@dataclass(frozen=True)
class ConsoleOutputResult:
    output: str


class ComputeActivities:
    """Activities of one host, over its hypervisor and the block store."""

    def __init__(
        self,
        hypervisor: HypervisorDriver,
        store: BlockStore,
        instances_dir: Path,
        instance_prefix: str,
        poll_seconds: float = 0.2,
    ) -> None:
        self.hypervisor = hypervisor
        self.store = store
        self.instances_dir = instances_dir
        self.prefix = instance_prefix
        self.poll_seconds = poll_seconds

    def domain_name(self, server_id: str) -> str:
        return f"{self.prefix}{server_id}"

    @activity.defn
    def create_root_disk(self, inp: CreateRootDiskInput) -> None:
        """Create the root disk as a copy-on-write clone of the image's protected snapshot,
        grown to the flavor's disk size: fast whatever the image's size."""
        parent = RbdRef.parse(inp.image_location)
        self.store.clone(parent, root_disk_ref(inp.server_id), inp.size_gib * GIB)

    @activity.defn
    def snapshot_root_disk(self, inp: RootSnapshotInput) -> None:
        """Snapshot the root disk as ``<disk>@<name>``, to roll back to (twice is once)."""
        self.store.snapshot(root_disk_ref(inp.server_id).at(inp.name))

    @activity.defn
    def rollback_root_disk(self, inp: RootSnapshotInput) -> None:
        """Put the root disk back as it was at that snapshot (the domain must be down)."""
        self.store.rollback(root_disk_ref(inp.server_id).at(inp.name))

    @activity.defn
    def drop_root_snapshot(self, inp: RootSnapshotInput) -> None:
        """Remove that snapshot; a missing one is success."""
        self.store.remove_snapshot(root_disk_ref(inp.server_id).at(inp.name))

    @activity.defn
    def delete_root_disk(self, inp: ServerRef) -> None:
        """Remove the server's root disk; a missing disk is success."""
        self.store.delete(root_disk_ref(inp.server_id))

    @activity.defn
    def start_domain(self, inp: StartDomainInput) -> None:
        """Define and start the server's domain on its root disk (through librbd), with its
        NICs and its config drive, built first at ``<instances_dir>/<server id>/config.iso``;
        its second serial port is logged to ``app.log`` in the same folder.
        """
        spec = domain_spec(inp, self.instances_dir / inp.server_id, self.domain_name(inp.server_id))
        self.hypervisor.define_and_start(spec)

    @activity.defn
    def launch_domain(self, inp: StartDomainInput) -> PowerStateResult:
        """``start_domain`` then ``wait_running`` in one activity, which saves a boot the
        round trips through the Temporal server between them. Heartbeats while it waits."""
        self.start_domain(inp)
        return self.wait_running(ServerRef(inp.server_id))

    @activity.defn
    def wait_running(self, inp: ServerRef) -> PowerStateResult:
        """Wait until the domain runs; fail if it stopped or crashed instead."""
        name = self.domain_name(inp.server_id)
        while True:
            state = self.hypervisor.power_state(name)
            if state is PowerState.RUNNING:
                return PowerStateResult(state.value)
            if state in (PowerState.SHUTDOWN, PowerState.CRASHED):
                raise Conflict(f"domain {name} stopped while booting ({state.name})")
            activity.heartbeat(state.name)
            time.sleep(self.poll_seconds)

    @activity.defn
    def destroy_domain(self, inp: ServerRef) -> None:
        """Stop and undefine the server's domain, and drop its console log; a missing domain
        is success."""
        self.hypervisor.destroy(self.domain_name(inp.server_id))
        shutil.rmtree(self.instances_dir / inp.server_id, ignore_errors=True)

    @activity.defn
    def stop_domain(self, inp: ServerRef) -> None:
        """Power the server's domain off."""
        self.hypervisor.shutdown(self.domain_name(inp.server_id))

    @activity.defn
    def stop_gracefully(self, inp: GracefulStopInput) -> bool:
        """Ask the guest to power off and wait up to ``seconds``; whether it did. Asking
        again on a retry is harmless (an off domain ignores it)."""
        name = self.domain_name(inp.server_id)
        self.hypervisor.request_shutdown(name)
        deadline = time.monotonic() + inp.seconds
        while self.hypervisor.power_state(name) is not PowerState.SHUTDOWN:
            if time.monotonic() >= deadline:
                return False
            activity.heartbeat("waiting for the guest to power off")
            time.sleep(self.poll_seconds)
        return True

    @activity.defn
    def pause_domain(self, inp: ServerRef) -> None:
        """Freeze the running domain in memory (already paused is success)."""
        self.hypervisor.pause(self.domain_name(inp.server_id))

    @activity.defn
    def unpause_domain(self, inp: ServerRef) -> None:
        """Let the paused domain run again (already running is success)."""
        self.hypervisor.unpause(self.domain_name(inp.server_id))

    @activity.defn
    def save_domain(self, inp: ServerRef) -> None:
        """Suspend the domain to disk (already saved is success)."""
        self.hypervisor.save(self.domain_name(inp.server_id))

    @activity.defn
    def restart_domain(self, inp: ServerRef) -> None:
        """Start the server's shut off domain again."""
        self.hypervisor.start(self.domain_name(inp.server_id))

    @activity.defn
    def console_output(self, inp: ConsoleOutputInput) -> ConsoleOutputResult:
        """The server's serial console log; empty if the domain is gone."""
        try:
            text = self.hypervisor.console_output(self.domain_name(inp.server_id), inp.max_lines)
        except NotFound:
            text = ""
        return ConsoleOutputResult(text)

    def all(self) -> list[Callable[..., Any]]:
        """Every activity of this class, for a worker to register."""
        return [
            self.create_root_disk,
            self.snapshot_root_disk,
            self.rollback_root_disk,
            self.drop_root_snapshot,
            self.delete_root_disk,
            self.start_domain,
            self.launch_domain,
            self.wait_running,
            self.destroy_domain,
            self.stop_domain,
            self.stop_gracefully,
            self.pause_domain,
            self.unpause_domain,
            self.save_domain,
            self.restart_domain,
            self.console_output,
        ]
