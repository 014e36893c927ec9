"""Host-bound compute activities: root disks (RBD clones of images) and domains of one
hypervisor host.

They run on the worker polling ``host-<name>`` and are all idempotent, so that Temporal can
retry them after a crash: create treats "exists and matches" as success, delete treats
"not found" as success.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio import activity

from activities.hypervisor.base import Disk, DomainSpec, HypervisorDriver, PowerState
from activities.storage.block import GIB, BlockStore, RbdRef, root_disk_ref
from nimbus.errors import Conflict, NotFound


@dataclass(frozen=True)
class ServerRef:
    server_id: str


@dataclass(frozen=True)
class CreateRootDiskInput:
    server_id: str
    image_location: str
    size_gib: int


@dataclass(frozen=True)
class StartDomainInput:
    server_id: str
    vcpus: int
    memory_mib: int


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
    def delete_root_disk(self, inp: ServerRef) -> None:
        """Remove the server's root disk; a missing disk is success."""
        self.store.delete(root_disk_ref(inp.server_id))

    @activity.defn
    def start_domain(self, inp: StartDomainInput) -> None:
        """Define and start the server's domain on its root disk (through librbd)."""
        console = self.instances_dir / inp.server_id
        console.mkdir(parents=True, exist_ok=True)
        spec = DomainSpec(
            name=self.domain_name(inp.server_id),
            uuid=inp.server_id,
            vcpus=inp.vcpus,
            memory_mib=inp.memory_mib,
            root=Disk("vda", "rbd", str(root_disk_ref(inp.server_id))),
            console_log=str(console / "console.log"),
        )
        self.hypervisor.define_and_start(spec)

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
            self.delete_root_disk,
            self.start_domain,
            self.wait_running,
            self.destroy_domain,
            self.stop_domain,
            self.restart_domain,
            self.console_output,
        ]
