"""``FakeHypervisor``: the ``HypervisorDriver`` contract in memory, for tests.

It passes the same contract suite as ``LibvirtDriver`` and adds what a real host cannot be
told to do on demand: ``fail`` (inject an error into the next call of a method) and
``power_off`` (a guest that powers itself off). Hot-plugged disks are released at once;
``fail("detach_disk", BackendUnavailable(...))`` stands for a guest that does not let go.
Host bridges are modelled only when given (``bridges``): then a NIC on any other bridge
fails to start, as on a real host.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from activities.faults import Faults
from activities.hypervisor.base import (
    CephAccess,
    Disk,
    DomainSpec,
    DomainStats,
    Nic,
    PowerState,
    is_attached,
)
from activities.hypervisor.console import last_lines
from activities.hypervisor.disk_xml import validate_disk
from activities.hypervisor.nic_xml import (
    is_plugged,
    validate_config_drive,
    validate_nic,
    validate_nics,
)
from nimbus.errors import Conflict, NotFound


@dataclass
class FakeDomain:
    """One defined domain: its spec, state, what its console shows, and its disks."""

    spec: DomainSpec
    state: PowerState = PowerState.SHUTDOWN
    console: str = ""
    disks: list[Disk] = field(default_factory=list)
    nics: list[Nic] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.disks = self.disks or [self.spec.root, *self.spec.volumes]
        self.nics = self.nics or list(self.spec.nics)


class FakeHypervisor:
    """In-memory guests; every method is thread-safe and checks injected failures first."""

    #: What a started fake guest "prints", like the real default guest image.
    BOOT_CONSOLE = "NIMBUS READY fake\n"

    def __init__(self, ceph: CephAccess | None = None, bridges: set[str] | None = None) -> None:
        #: As for ``LibvirtDriver``: without it ``rbd`` disks are ``InvalidSpec``.
        self.ceph = ceph
        #: The host's bridges; ``None`` means any bridge a NIC names exists.
        self.bridges = bridges
        self.domains: dict[str, FakeDomain] = {}
        self.faults = Faults()
        #: What ``domain_stats`` reports for a domain, by name (a test sets it).
        self.stats: dict[str, DomainStats] = {}
        #: Whether guests power off when asked (``request_shutdown``); a guest with no
        #: ACPI handler ignores it, as the default busybox guest does.
        self.acpi_shutdown = True
        self._lock = threading.RLock()

    def fail(self, method: str, error: BaseException, times: int = 1) -> None:
        """Make the next ``times`` calls of ``method`` raise ``error`` before doing anything."""
        self.faults.fail(method, error, times)

    def power_off(self, name: str) -> None:
        """Simulate the guest powering itself off (``on_poweroff=destroy``)."""
        with self._lock:
            self._get(name).state = PowerState.SHUTDOWN

    def _get(self, name: str) -> FakeDomain:
        """The domain called ``name``; ``NotFound`` if there is none."""
        domain = self.domains.get(name)
        if domain is None:
            raise NotFound(f"no domain {name}")
        return domain

    def _boot(self, domain: FakeDomain) -> None:
        """Run a shut off domain; each boot starts a fresh console, as the real log does.

        A NIC on a bridge the host lacks keeps it from starting, as libvirt's tap would.
        """
        if domain.state in (PowerState.RUNNING, PowerState.PAUSED):
            return
        for nic in domain.nics:
            self._check_bridge(nic)
        domain.state = PowerState.RUNNING
        domain.console = self.BOOT_CONSOLE

    def _check_bridge(self, nic: Nic) -> None:
        if self.bridges is not None and nic.bridge not in self.bridges:
            raise NotFound(f"bridge {nic.bridge} of NIC {nic.device} does not exist")

    def define_and_start(self, spec: DomainSpec) -> None:
        """See ``HypervisorDriver.define_and_start``."""
        self.faults.check("define_and_start")
        validate_disk(spec.root, self.ceph)
        for volume in spec.volumes:
            validate_disk(volume, self.ceph)
        validate_nics(spec.nics)
        validate_config_drive(spec.config_drive)
        with self._lock:
            domain = self.domains.get(spec.name)
            if domain is not None and domain.spec.uuid != spec.uuid:
                raise Conflict(f"domain {spec.name} exists with uuid {domain.spec.uuid}")
            if domain is None and any(d.spec.uuid == spec.uuid for d in self.domains.values()):
                raise Conflict(f"a domain with uuid {spec.uuid} exists under another name")
            # A new domain that fails to boot is not kept: its definition is undone.
            domain = domain or FakeDomain(spec)
            self._boot(domain)
            self.domains[spec.name] = domain

    def power_state(self, name: str) -> PowerState:
        """See ``HypervisorDriver.power_state``."""
        self.faults.check("power_state")
        with self._lock:
            return self._get(name).state

    def power_states(self, prefix: str) -> dict[str, PowerState]:
        """See ``HypervisorDriver.power_states``."""
        self.faults.check("power_states")
        with self._lock:
            return {n: d.state for n, d in self.domains.items() if n.startswith(prefix)}

    def domain_stats(self, prefix: str) -> dict[str, DomainStats]:
        """See ``HypervisorDriver.domain_stats``: ``stats`` of each running domain (set by
        a test), else zeros with the memory the domain was given."""
        self.faults.check("domain_stats")
        with self._lock:
            return {
                name: self.stats.get(name) or DomainStats(memory_bytes=d.spec.memory_mib << 20)
                for name, d in self.domains.items()
                if name.startswith(prefix) and d.state == PowerState.RUNNING
            }

    def shutdown(self, name: str) -> None:
        """See ``HypervisorDriver.shutdown``."""
        self.faults.check("shutdown")
        with self._lock:
            self._get(name).state = PowerState.SHUTDOWN

    def request_shutdown(self, name: str) -> None:
        """See ``HypervisorDriver.request_shutdown``: a fake guest heeds it when
        ``acpi_shutdown`` is set (the default), and ignores it otherwise."""
        self.faults.check("request_shutdown")
        with self._lock:
            domain = self._get(name)
            if self.acpi_shutdown:
                domain.state = PowerState.SHUTDOWN

    def pause(self, name: str) -> None:
        """See ``HypervisorDriver.pause``."""
        self._move(name, "pause", {PowerState.RUNNING, PowerState.PAUSED}, PowerState.PAUSED)

    def unpause(self, name: str) -> None:
        """See ``HypervisorDriver.unpause``."""
        self._move(name, "unpause", {PowerState.PAUSED, PowerState.RUNNING}, PowerState.RUNNING)

    def save(self, name: str) -> None:
        """See ``HypervisorDriver.save``."""
        froms = {PowerState.RUNNING, PowerState.PAUSED, PowerState.SUSPENDED}
        self._move(name, "save", froms, PowerState.SUSPENDED)

    def _move(self, name: str, method: str, froms: set[PowerState], to: PowerState) -> None:
        self.faults.check(method)
        with self._lock:
            domain = self._get(name)
            if domain.state not in froms:
                raise Conflict(f"domain {name} is {domain.state.name}: cannot {method} it")
            domain.state = to

    def start(self, name: str) -> None:
        """See ``HypervisorDriver.start``."""
        self.faults.check("start")
        with self._lock:
            self._boot(self._get(name))

    def destroy(self, name: str) -> None:
        """See ``HypervisorDriver.destroy``."""
        self.faults.check("destroy")
        with self._lock:
            self.domains.pop(name, None)

    def console_output(self, name: str, max_lines: int | None = None) -> str:
        """See ``HypervisorDriver.console_output``."""
        self.faults.check("console_output")
        with self._lock:
            return last_lines(self._get(name).console, max_lines)

    def attach_disk(self, name: str, disk: Disk) -> None:
        """See ``HypervisorDriver.attach_disk``."""
        self.faults.check("attach_disk")
        validate_disk(disk, self.ceph)
        with self._lock:
            domain = self._get(name)
            if not is_attached(domain.disks, disk):
                domain.disks.append(disk)

    def detach_disk(self, name: str, target: str) -> None:
        """See ``HypervisorDriver.detach_disk``."""
        self.faults.check("detach_disk")
        with self._lock:
            domain = self._get(name)
            domain.disks = [disk for disk in domain.disks if disk.target != target]

    def disks(self, name: str) -> list[Disk]:
        """See ``HypervisorDriver.disks``."""
        self.faults.check("disks")
        with self._lock:
            return list(self._get(name).disks)

    def attach_interface(self, name: str, nic: Nic) -> None:
        """See ``HypervisorDriver.attach_interface``: a running or paused guest needs the
        bridge now (its tap joins it), a shut off one only at its next start."""
        self.faults.check("attach_interface")
        validate_nic(nic)
        with self._lock:
            domain = self._get(name)
            if is_plugged(domain.nics, nic):
                return
            if domain.state in (PowerState.RUNNING, PowerState.PAUSED):
                self._check_bridge(nic)
            domain.nics.append(Nic(nic.mac.lower(), nic.bridge, nic.device, nic.mtu))

    def detach_interface(self, name: str, mac: str) -> None:
        """See ``HypervisorDriver.detach_interface``."""
        self.faults.check("detach_interface")
        with self._lock:
            domain = self._get(name)
            domain.nics = [nic for nic in domain.nics if nic.mac.lower() != mac.lower()]

    def interfaces(self, name: str) -> list[Nic]:
        """See ``HypervisorDriver.interfaces``."""
        self.faults.check("interfaces")
        with self._lock:
            return list(self._get(name).nics)
