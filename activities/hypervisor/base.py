"""The hypervisor driver contract.

Every method is idempotent: a retried activity finds its own earlier work. Backend errors
are translated into ``nimbus.errors`` at the driver boundary.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

from activities.storage.access import CephAccess
from nimbus.errors import Conflict

__all__ = ["CephAccess"]  # part of the contract: how QEMU reaches Ceph


class PowerState(enum.Enum):
    """A domain's power state, as Nova reports it (``OS-EXT-STS:power_state``)."""

    NOSTATE = 0
    RUNNING = 1
    PAUSED = 3
    SHUTDOWN = 4
    CRASHED = 6
    SUSPENDED = 7


@dataclass(frozen=True)
class Disk:
    """A disk as a guest sees it.

    Attributes:
        target: the guest device, ``vda``, ``vdb``...
        kind: ``file`` (``source`` is a path) or ``rbd`` (``source`` is ``pool/name``).
        source: see ``kind``.
        format: ``raw`` or ``qcow2`` (``rbd`` disks are always raw).
        serial: shown to the guest (``/dev/disk/by-id/virtio-<serial>``); at most 20 chars.
    """

    target: str
    kind: str
    source: str
    format: str = "raw"
    serial: str = ""

    def same_source(self, other: Disk) -> bool:
        """Whether both name the same storage (wherever and however attached)."""
        return (self.kind, self.source) == (other.kind, other.source)


def is_attached(disks: list[Disk], disk: Disk) -> bool:
    """Whether ``disk`` is already among ``disks`` at its target: the shared attach rule.

    Raises ``Conflict`` if its target holds another source or its source sits at another
    target (two writers on one disk, or a guest seeing one disk twice).
    """
    for other in disks:
        if other.target == disk.target and not other.same_source(disk):
            raise Conflict(f"{disk.target} holds {other.source}, not {disk.source}")
        if other.target != disk.target and other.same_source(disk):
            raise Conflict(f"{disk.source} is already attached at {other.target}")
    return any(other.target == disk.target for other in disks)


@dataclass(frozen=True)
class Nic:
    """A guest network interface: a virtio NIC whose tap libvirt plugs into a bridge.

    Attributes:
        mac: the guest's MAC address, ``fa:16:3e:12:34:56``.
        bridge: the host bridge the tap joins (``brq<id11>``); it must exist.
        device: the tap device libvirt creates (``tap<id11>``); at most 15 characters.
        mtu: the tap's MTU, also announced to the guest by the virtio device.
    """

    mac: str
    bridge: str
    device: str
    mtu: int = 1450


@dataclass(frozen=True)
class DomainSpec:
    """What a guest is made of; everything a driver needs to define it.

    Attributes:
        name: the domain name, ``<prefix><server uuid>``.
        uuid: the server's uuid; the domain gets the same uuid.
        vcpus: virtual CPUs.
        memory_mib: guest memory in MiB.
        root: the disk the guest boots from (target ``vda``).
        console_log: file the serial console is written to.
        nics: the guest's NICs, in the order the guest names them (``eth0``, ``eth1``...).
        config_drive: absolute path of an ISO 9660 file on the host, shown to the guest as
            a read-only IDE cdrom (so it never takes a virtio disk name), or ``None``.
        app_log: file the second serial port (the guest's ``ttyS1``) is written to,
            appending, or ``None`` for no second port; an app instance writes its app's
            output there (``paas.launch``).
        volumes: the volumes attached to the server (``vdb`` on), defined with the
            domain, so a domain defined again (rebuild, resize) keeps them.
    """

    name: str
    uuid: str
    vcpus: int
    memory_mib: int
    root: Disk
    console_log: str
    nics: tuple[Nic, ...] = ()
    config_drive: str | None = None
    app_log: str | None = None
    volumes: tuple[Disk, ...] = ()


@dataclass(frozen=True)
class DomainStats:
    """What a running guest has used, as the hypervisor counts it (counters since the
    guest started, except memory).

    Attributes:
        cpu_seconds: CPU time of all its vCPUs.
        memory_bytes: memory given to it now (the balloon's current size).
        disk_read_bytes, disk_write_bytes: over all its disks.
        net_rx_bytes, net_tx_bytes: over all its NICs.
    """

    cpu_seconds: float = 0.0
    memory_bytes: int = 0
    disk_read_bytes: int = 0
    disk_write_bytes: int = 0
    net_rx_bytes: int = 0
    net_tx_bytes: int = 0


class HypervisorDriver(Protocol):
    """Runs guests on one host."""

    def define_and_start(self, spec: DomainSpec) -> None:
        """Define the domain and start it.

        Idempotent: a domain of that name that exists is started if it is shut off and left
        alone if it runs. Raises ``Conflict`` if a domain of that name exists with another
        uuid, ``InvalidSpec`` for a spec that cannot be a domain (a malformed MAC, a device
        name over 15 characters, two NICs with one MAC or device), ``NotFound`` naming the
        bridge if a NIC's bridge does not exist on the host, ``BackendUnavailable`` if the
        hypervisor cannot be reached. On failure to start, the definition it made is
        removed again.
        """
        ...

    def power_state(self, name: str) -> PowerState:
        """Return the domain's power state; ``NotFound`` if there is no such domain."""
        ...

    def power_states(self, prefix: str) -> dict[str, PowerState]:
        """Return the power state of every domain whose name starts with ``prefix``."""
        ...

    def domain_stats(self, prefix: str) -> dict[str, DomainStats]:
        """Return the usage of every running domain whose name starts with ``prefix``, in
        one call; a domain that goes away meanwhile is left out."""
        ...

    def shutdown(self, name: str) -> None:
        """Power the domain off (hard). Idempotent: an already shut off domain is fine;
        ``NotFound`` if there is no such domain."""
        ...

    def request_shutdown(self, name: str) -> None:
        """Ask the guest to power off (ACPI power button); it may ignore the request.
        A shut off domain is fine; ``NotFound`` if there is no such domain."""
        ...

    def pause(self, name: str) -> None:
        """Freeze a running domain in memory (PAUSED). Idempotent; ``Conflict`` if it is
        not running; ``NotFound`` if there is no such domain."""
        ...

    def unpause(self, name: str) -> None:
        """Let a paused domain run again. Idempotent (a running one is fine)."""
        ...

    def save(self, name: str) -> None:
        """Suspend the domain to disk (libvirt's managed save: SUSPENDED, shut off with
        its memory kept); ``start`` resumes it where it was. Idempotent; ``Conflict`` if
        it is shut off without a saved state."""
        ...

    def start(self, name: str) -> None:
        """Start a defined, shut off domain. Idempotent; ``NotFound`` if undefined or if a
        NIC's bridge does not exist on the host (the message names the bridge)."""
        ...

    def destroy(self, name: str) -> None:
        """Stop the domain and remove its definition. A missing domain is success."""
        ...

    def console_output(self, name: str, max_lines: int | None = None) -> str:
        """Return the serial console log (the last ``max_lines`` lines if given).

        ``NotFound`` if there is no such domain.
        """
        ...

    def attach_disk(self, name: str, disk: Disk) -> None:
        """Attach ``disk`` to the domain: live if it runs, and in its definition, so it
        is still there after a stop and start.

        Idempotent: the same source already on ``disk.target`` is success (and a disk
        attached only live or only in the definition is completed). Raises ``Conflict`` if
        the target holds another source or the source is attached at another target,
        ``NotFound`` if there is no such domain, ``InvalidSpec`` for a disk that cannot be
        attached (e.g. ``rbd`` on a host without Ceph access).
        """
        ...

    def detach_disk(self, name: str, target: str) -> None:
        """Detach the disk at ``target`` (live and from the definition).

        Returns only once the guest has released it, so the disk can be attached elsewhere
        right after; a guest that does not let go in time raises ``BackendUnavailable``
        (retried: the request stays pending in the guest). A missing disk is success;
        ``NotFound`` if there is no such domain.
        """
        ...

    def disks(self, name: str) -> list[Disk]:
        """The domain's disks, root included, as it runs (as defined if shut off).

        ``NotFound`` if there is no such domain.
        """
        ...

    def attach_interface(self, name: str, nic: Nic) -> None:
        """Plug ``nic`` into the domain: live if it runs (or is paused), and in its
        definition, so it is still there after a stop and start; a shut off (or suspended)
        domain only has its definition changed and shows the NIC at its next start.

        Idempotent: a NIC with that MAC already there is success (and one plugged only
        live or only in the definition is completed). Raises ``Conflict`` if the MAC is
        plugged into another bridge or the tap name is another NIC's, ``NotFound`` if
        there is no such domain or (live) the bridge does not exist on the host,
        ``InvalidSpec`` for a NIC libvirt would refuse.
        """
        ...

    def detach_interface(self, name: str, mac: str) -> None:
        """Unplug the NIC with MAC ``mac`` (live and from the definition).

        Returns only once the guest has released it, so its tap is gone and the port can
        be plugged elsewhere; a guest that does not let go in time raises
        ``BackendUnavailable`` (retried). A missing NIC is success; ``NotFound`` if there is
        no such domain.
        """
        ...

    def interfaces(self, name: str) -> list[Nic]:
        """The domain's NICs in device order, as it runs (as defined if shut off).

        ``NotFound`` if there is no such domain.
        """
        ...
