"""The hypervisor driver contract.

Every method is idempotent: a retried activity finds its own earlier work. Backend errors
are translated into ``nimbus.errors`` at the driver boundary.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol


class PowerState(enum.Enum):
    """A domain's power state, as Nova reports it (``OS-EXT-STS:power_state``)."""

    NOSTATE = 0
    RUNNING = 1
    PAUSED = 3
    SHUTDOWN = 4
    CRASHED = 6
    SUSPENDED = 7


@dataclass(frozen=True)
class CephAccess:
    """How QEMU on this host reaches Ceph for ``rbd`` disks (host configuration).

    Attributes:
        monitors: ``host:port`` of each monitor.
        user: the cephx user without ``client.`` (e.g. ``admin``), or empty with cephx off.
        key: that user's secret key (base64), kept in a libvirt secret, never in the XML.
    """

    monitors: tuple[str, ...]
    user: str = ""
    key: str = ""


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


@dataclass(frozen=True)
class DomainSpec:
    """What a guest is made of; everything a driver needs to define it.

    Attributes:
        name: the domain name, ``<prefix><server uuid>``.
        uuid: the server's uuid; the domain gets the same uuid.
        vcpus: virtual CPUs.
        memory_mib: guest memory in MiB.
        disk_path: the root disk file.
        disk_format: the root disk's format (``qcow2`` or ``raw``).
        console_log: file the serial console is written to.
    """

    name: str
    uuid: str
    vcpus: int
    memory_mib: int
    disk_path: str
    disk_format: str
    console_log: str


class HypervisorDriver(Protocol):
    """Runs guests on one host."""

    def define_and_start(self, spec: DomainSpec) -> None:
        """Define the domain and start it.

        Idempotent: a domain of that name that exists is started if it is shut off and left
        alone if it runs. Raises ``Conflict`` if a domain of that name exists with another
        uuid, ``BackendUnavailable`` if the hypervisor cannot be reached. On failure to
        start, the definition it made is removed again.
        """
        ...

    def power_state(self, name: str) -> PowerState:
        """Return the domain's power state; ``NotFound`` if there is no such domain."""
        ...

    def power_states(self, prefix: str) -> dict[str, PowerState]:
        """Return the power state of every domain whose name starts with ``prefix``."""
        ...

    def shutdown(self, name: str) -> None:
        """Power the domain off (hard). Idempotent: an already shut off domain is fine;
        ``NotFound`` if there is no such domain."""
        ...

    def start(self, name: str) -> None:
        """Start a defined, shut off domain. Idempotent; ``NotFound`` if undefined."""
        ...

    def destroy(self, name: str) -> None:
        """Stop the domain and remove its definition. A missing domain is success."""
        ...

    def console_output(self, name: str, max_lines: int | None = None) -> str:
        """Return the serial console log (the last ``max_lines`` lines if given).

        ``NotFound`` if there is no such domain.
        """
        ...
