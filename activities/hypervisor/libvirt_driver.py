"""``HypervisorDriver`` on libvirt: ``qemu:///system`` on hosts, ``test:///default`` in tests.

libvirt errors become ``nimbus.errors`` in one place, ``translate``. The connection is
opened on first use and reopened when it died (a libvirtd restart); a call that failed on a
dead connection is retried once on a new one, which is safe because every method is
idempotent. libvirt connections are thread-safe, so activity threads share one; a lock
guards only opening it.

``rbd`` disks need the host's ``CephAccess``; with a cephx user the driver keeps the key
in a libvirt secret (``ceph_secret``) before any domain XML refers to it.

A guest NIC needs its bridge on the host. libvirt reports a missing one only as a system
error when the domain starts; the driver then looks at the host's bridges itself and
raises ``NotFound`` naming the bridge.
"""

from __future__ import annotations

import contextlib
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import libvirt

from activities.hypervisor import libvirt_disks, libvirt_nics
from activities.hypervisor.base import (
    CephAccess,
    Disk,
    DomainSpec,
    DomainStats,
    Nic,
    PowerState,
)
from activities.hypervisor.ceph_secret import ensure_ceph_secret
from activities.hypervisor.console import last_lines
from activities.hypervisor.disk_xml import disk_xml, parse_disks
from activities.hypervisor.domain_xml import console_log_path, domain_xml
from activities.hypervisor.nic_xml import nic_element, parse_bridges, parse_nics
from nimbus.errors import BackendUnavailable, Conflict, InvalidSpec, NimbusError, NotFound

T = TypeVar("T")

#: libvirt's domain states as Nova maps them to power states.
POWER_STATES = {
    libvirt.VIR_DOMAIN_NOSTATE: PowerState.NOSTATE,
    libvirt.VIR_DOMAIN_RUNNING: PowerState.RUNNING,
    libvirt.VIR_DOMAIN_BLOCKED: PowerState.RUNNING,
    libvirt.VIR_DOMAIN_PAUSED: PowerState.PAUSED,
    libvirt.VIR_DOMAIN_SHUTDOWN: PowerState.SHUTDOWN,
    libvirt.VIR_DOMAIN_SHUTOFF: PowerState.SHUTDOWN,
    libvirt.VIR_DOMAIN_CRASHED: PowerState.CRASHED,
    libvirt.VIR_DOMAIN_PMSUSPENDED: PowerState.SUSPENDED,
}


def _state(dom: libvirt.virDomain) -> PowerState:
    """The domain's power state; a domain shut off by a managed save is SUSPENDED."""
    state, why = dom.state()
    if state == libvirt.VIR_DOMAIN_SHUTOFF and why == libvirt.VIR_DOMAIN_SHUTOFF_SAVED:
        return PowerState.SUSPENDED
    return POWER_STATES[state]


NOT_FOUND = {libvirt.VIR_ERR_NO_DOMAIN}
CONFLICT = {libvirt.VIR_ERR_OPERATION_INVALID, libvirt.VIR_ERR_DOM_EXIST}
INVALID = {
    libvirt.VIR_ERR_XML_ERROR,
    libvirt.VIR_ERR_XML_DETAIL,
    libvirt.VIR_ERR_INVALID_ARG,
    libvirt.VIR_ERR_CONFIG_UNSUPPORTED,
    libvirt.VIR_ERR_NO_SUPPORT,  # e.g. hot-plug on test:///: retrying cannot help
}
#: Errors that mean the connection itself is gone: drop it and reconnect.
CONNECTION_LOST = {
    libvirt.VIR_ERR_SYSTEM_ERROR,
    libvirt.VIR_ERR_NO_CONNECT,
    libvirt.VIR_ERR_INVALID_CONN,
    libvirt.VIR_ERR_RPC,
    libvirt.VIR_ERR_AUTH_FAILED,
}
#: Undefine even with saved state or snapshot metadata left over (the test driver accepts
#: no other flags).
UNDEFINE_FLAGS = (
    libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
)


def _stats(raw: dict[str, Any]) -> DomainStats:
    """libvirt's flat ``block.<n>.rd.bytes``-style record, summed over disks and NICs."""

    def total(kind: str, field: str) -> int:
        count = int(raw.get(f"{kind}.count", 0))
        return sum(int(raw.get(f"{kind}.{i}.{field}", 0)) for i in range(count))

    return DomainStats(
        cpu_seconds=int(raw.get("cpu.time", 0)) / 1e9,
        memory_bytes=int(raw.get("balloon.current", 0)) * 1024,
        disk_read_bytes=total("block", "rd.bytes"),
        disk_write_bytes=total("block", "wr.bytes"),
        net_rx_bytes=total("net", "rx.bytes"),
        net_tx_bytes=total("net", "tx.bytes"),
    )


def _ignore_libvirt_error(_ctx: object, _err: object) -> None:
    """libvirt prints every error to stderr by default; ours are raised, not printed."""


libvirt.registerErrorHandler(_ignore_libvirt_error, None)


def host_has_bridge(name: str) -> bool:
    """Whether this host has a bridge called ``name`` (libvirt's QEMU driver is local)."""
    return (Path("/sys/class/net") / name / "bridge").is_dir()


def translate(exc: libvirt.libvirtError) -> NimbusError:
    """The one mapping of libvirt errors onto the Nimbus error tree.

    Anything not known to be the caller's fault is ``BackendUnavailable`` (retried).
    """
    code = exc.get_error_code()
    message = exc.get_error_message() or str(exc)
    if code in NOT_FOUND:
        return NotFound(message)
    if code in CONFLICT:
        return Conflict(message)
    if code in INVALID:
        return InvalidSpec(message)
    if code == libvirt.VIR_ERR_OPERATION_FAILED and "already" in message:
        return Conflict(message)  # a domain with this uuid but another name
    return BackendUnavailable(message)


class LibvirtDriver:
    """Runs guests through one libvirt URI."""

    def __init__(
        self,
        uri: str,
        domain_type: str = "qemu",
        ceph: CephAccess | None = None,
        detach_timeout: float = 30.0,
        bridge_exists: Callable[[str], bool] = host_has_bridge,
    ) -> None:
        self.uri = uri
        self.domain_type = domain_type
        self.ceph = ceph
        self.detach_timeout = detach_timeout
        self.bridge_exists = bridge_exists
        self._conn: libvirt.virConnect | None = None
        self._lock = threading.Lock()

    # -- connection ------------------------------------------------------------------

    def _connection(self) -> libvirt.virConnect:
        """The open connection, opening it first if needed or if it died."""
        with self._lock:
            if self._conn is not None and not self._is_alive(self._conn):
                self._conn = None
            if self._conn is None:
                try:
                    self._conn = libvirt.open(self.uri)
                except libvirt.libvirtError as exc:
                    raise BackendUnavailable(f"{self.uri}: {exc}") from exc
            return self._conn

    @staticmethod
    def _is_alive(conn: libvirt.virConnect) -> bool:
        """``isAlive`` itself raises on some dead connections; count that as dead."""
        try:
            return bool(conn.isAlive())
        except libvirt.libvirtError:
            return False

    def _drop(self, conn: libvirt.virConnect) -> None:
        """Forget ``conn`` (if still current) so the next call opens a fresh one."""
        with self._lock:
            if self._conn is conn:
                self._conn = None
        with contextlib.suppress(libvirt.libvirtError):
            conn.close()

    def _call(self, op: Callable[[libvirt.virConnect], T]) -> T:
        """Run ``op`` on the connection, translating errors; retry once if it died."""
        for attempt in (1, 2):
            conn = self._connection()
            try:
                return op(conn)
            except libvirt.libvirtError as exc:
                if exc.get_error_code() in CONNECTION_LOST:
                    self._drop(conn)
                    if attempt == 1:
                        continue
                raise translate(exc) from exc
        raise AssertionError("unreachable")

    # -- helpers run inside _call ------------------------------------------------------

    @staticmethod
    def _lookup(conn: libvirt.virConnect, name: str) -> libvirt.virDomain | None:
        """The domain called ``name``, or ``None``."""
        try:
            return conn.lookupByName(name)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                return None
            raise

    def _get(self, conn: libvirt.virConnect, name: str) -> libvirt.virDomain:
        """The domain called ``name``; ``NotFound`` if there is none."""
        dom = self._lookup(conn, name)
        if dom is None:
            raise NotFound(f"no domain {name}")
        return dom

    @staticmethod
    def _ensure_running(dom: libvirt.virDomain) -> None:
        """Start ``dom`` unless it is active; losing a start race to another caller is fine."""
        if dom.isActive():
            return
        try:
            dom.create()
        except libvirt.libvirtError:
            # Drivers word a lost race differently (operation invalid, internal error): what
            # counts is that the domain runs now.
            if not dom.isActive():
                raise

    @staticmethod
    def _ensure_stopped(dom: libvirt.virDomain) -> None:
        """Hard-stop ``dom`` unless it is already off."""
        if not dom.isActive():
            return
        try:
            dom.destroy()
        except libvirt.libvirtError as exc:
            if exc.get_error_code() != libvirt.VIR_ERR_OPERATION_INVALID or dom.isActive():
                raise

    def _start(self, dom: libvirt.virDomain) -> None:
        """Start a defined domain; a start that failed on a missing bridge says so."""
        try:
            self._ensure_running(dom)
        except libvirt.libvirtError as exc:
            self._raise_if_bridge_missing(parse_bridges(dom.XMLDesc(0)), exc)
            raise

    def _raise_if_bridge_missing(self, bridges: list[str], exc: libvirt.libvirtError) -> None:
        """``NotFound`` naming the first of ``bridges`` the host lacks, if any."""
        for bridge in bridges:
            if not self.bridge_exists(bridge):
                raise NotFound(f"bridge {bridge} does not exist on this host") from exc

    def _prepare(self, conn: libvirt.virConnect, disk: Disk) -> None:
        """Put the cephx key into its libvirt secret before XML naming it reaches libvirt."""
        if disk.kind == "rbd" and self.ceph is not None and self.ceph.user:
            ensure_ceph_secret(conn, self.ceph)

    # -- HypervisorDriver ----------------------------------------------------------------

    def define_and_start(self, spec: DomainSpec) -> None:
        """See ``HypervisorDriver.define_and_start``."""
        xml = domain_xml(spec, self.domain_type, self.ceph)
        self._call(lambda conn: self._define_and_start(conn, spec, xml))

    def _define_and_start(self, conn: libvirt.virConnect, spec: DomainSpec, xml: str) -> None:
        """Reuse a matching domain, or define one and undefine it again if it won't start."""
        dom = self._lookup(conn, spec.name)
        if dom is not None:
            if dom.UUIDString() != spec.uuid:
                raise Conflict(f"domain {spec.name} exists with uuid {dom.UUIDString()}")
            self._start(dom)
            return
        Path(spec.console_log).parent.mkdir(parents=True, exist_ok=True)
        self._prepare(conn, spec.root)
        dom = conn.defineXML(xml)
        try:
            # Another caller may have defined and started the same spec meanwhile.
            self._ensure_running(dom)
        except libvirt.libvirtError as exc:
            with contextlib.suppress(libvirt.libvirtError):
                dom.undefine()
            self._raise_if_bridge_missing([nic.bridge for nic in spec.nics], exc)
            raise

    def power_state(self, name: str) -> PowerState:
        """See ``HypervisorDriver.power_state``."""
        return self._call(lambda conn: _state(self._get(conn, name)))

    def power_states(self, prefix: str) -> dict[str, PowerState]:
        """See ``HypervisorDriver.power_states``."""
        return self._call(lambda conn: self._power_states(conn, prefix))

    @staticmethod
    def _power_states(conn: libvirt.virConnect, prefix: str) -> dict[str, PowerState]:
        """One listing; domains that vanish while being read are left out."""
        states = {}
        for dom in conn.listAllDomains(0):
            try:
                name = dom.name()
                if name.startswith(prefix):
                    states[name] = _state(dom)
            except libvirt.libvirtError as exc:
                if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                    raise
        return states

    def domain_stats(self, prefix: str) -> dict[str, DomainStats]:
        """See ``HypervisorDriver.domain_stats``: one ``getAllDomainStats`` call."""
        return self._call(lambda conn: self._domain_stats(conn, prefix))

    @staticmethod
    def _domain_stats(conn: libvirt.virConnect, prefix: str) -> dict[str, DomainStats]:
        kinds = (
            libvirt.VIR_DOMAIN_STATS_CPU_TOTAL
            | libvirt.VIR_DOMAIN_STATS_BALLOON
            | libvirt.VIR_DOMAIN_STATS_BLOCK
            | libvirt.VIR_DOMAIN_STATS_INTERFACE
        )
        running = libvirt.VIR_CONNECT_GET_ALL_DOMAINS_STATS_RUNNING
        found = {}
        for dom, raw in conn.getAllDomainStats(kinds, running):
            try:
                name = dom.name()
            except libvirt.libvirtError:
                continue
            if not name.startswith(prefix):
                continue
            if "balloon.current" not in raw:  # no balloon driver: what it was given
                with contextlib.suppress(libvirt.libvirtError):
                    raw = {**raw, "balloon.current": dom.info()[2]}
            found[name] = _stats(raw)
        return found

    def shutdown(self, name: str) -> None:
        """See ``HypervisorDriver.shutdown``."""
        self._call(lambda conn: self._ensure_stopped(self._get(conn, name)))

    def request_shutdown(self, name: str) -> None:
        """See ``HypervisorDriver.request_shutdown``."""
        self._call(lambda conn: self._request_shutdown(self._get(conn, name)))

    @staticmethod
    def _request_shutdown(dom: libvirt.virDomain) -> None:
        if not dom.isActive():
            return
        try:
            dom.shutdown()
        except libvirt.libvirtError as exc:
            if exc.get_error_code() != libvirt.VIR_ERR_OPERATION_INVALID or dom.isActive():
                raise

    def pause(self, name: str) -> None:
        """See ``HypervisorDriver.pause``."""
        self._call(lambda conn: self._pause(self._get(conn, name)))

    @staticmethod
    def _pause(dom: libvirt.virDomain) -> None:
        state = _state(dom)
        if state is PowerState.PAUSED:
            return
        if state is not PowerState.RUNNING:
            raise Conflict(f"domain {dom.name()} is {state.name}: cannot pause it")
        dom.suspend()

    def unpause(self, name: str) -> None:
        """See ``HypervisorDriver.unpause``."""
        self._call(lambda conn: self._unpause(self._get(conn, name)))

    @staticmethod
    def _unpause(dom: libvirt.virDomain) -> None:
        if _state(dom) is PowerState.PAUSED:
            dom.resume()

    def save(self, name: str) -> None:
        """See ``HypervisorDriver.save``."""
        self._call(lambda conn: self._save(self._get(conn, name)))

    @staticmethod
    def _save(dom: libvirt.virDomain) -> None:
        state = _state(dom)
        if state is PowerState.SUSPENDED:
            return
        if state not in (PowerState.RUNNING, PowerState.PAUSED):
            raise Conflict(f"domain {dom.name()} is {state.name}: cannot suspend it")
        dom.managedSave(0)

    def start(self, name: str) -> None:
        """See ``HypervisorDriver.start``."""
        self._call(lambda conn: self._start(self._get(conn, name)))

    def destroy(self, name: str) -> None:
        """See ``HypervisorDriver.destroy``."""
        self._call(lambda conn: self._destroy(conn, name))

    def _destroy(self, conn: libvirt.virConnect, name: str) -> None:
        """Stop and undefine; a domain that vanishes meanwhile counts as destroyed."""
        dom = self._lookup(conn, name)
        if dom is None:
            return
        try:
            self._ensure_stopped(dom)
            dom.undefineFlags(UNDEFINE_FLAGS)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                raise

    def console_output(self, name: str, max_lines: int | None = None) -> str:
        """See ``HypervisorDriver.console_output``. Empty if the guest wrote nothing yet
        (or the backend, like ``test:///``, has no real console)."""
        xml = self._call(lambda conn: self._get(conn, name).XMLDesc(0))
        path = console_log_path(xml)
        try:
            text = Path(path).read_text(errors="replace") if path else ""
        except FileNotFoundError:
            return ""
        return last_lines(text, max_lines)

    def attach_disk(self, name: str, disk: Disk) -> None:
        """See ``HypervisorDriver.attach_disk``."""
        xml = disk_xml(disk, self.ceph)
        self._call(lambda conn: self._attach_disk(conn, name, disk, xml))

    def _attach_disk(self, conn: libvirt.virConnect, name: str, disk: Disk, xml: str) -> None:
        """Look up, make the secret ready, attach where missing."""
        dom = self._get(conn, name)
        self._prepare(conn, disk)
        libvirt_disks.attach(dom, disk, xml)

    def detach_disk(self, name: str, target: str) -> None:
        """See ``HypervisorDriver.detach_disk``; waits up to ``detach_timeout`` seconds."""
        self._call(
            lambda conn: libvirt_disks.detach(self._get(conn, name), target, self.detach_timeout)
        )

    def disks(self, name: str) -> list[Disk]:
        """See ``HypervisorDriver.disks``."""
        return parse_disks(self._call(lambda conn: self._get(conn, name).XMLDesc(0)))

    def attach_interface(self, name: str, nic: Nic) -> None:
        """See ``HypervisorDriver.attach_interface``."""
        xml = ET.tostring(nic_element(nic), encoding="unicode")
        self._call(lambda conn: self._attach_interface(self._get(conn, name), nic, xml))

    def _attach_interface(self, dom: libvirt.virDomain, nic: Nic, xml: str) -> None:
        """Attach where missing; a live attach that failed on a missing bridge says so."""
        try:
            libvirt_nics.attach(dom, nic, xml)
        except libvirt.libvirtError as exc:
            self._raise_if_bridge_missing([nic.bridge], exc)
            raise

    def detach_interface(self, name: str, mac: str) -> None:
        """See ``HypervisorDriver.detach_interface``; waits up to ``detach_timeout`` seconds."""
        self._call(
            lambda conn: libvirt_nics.detach(self._get(conn, name), mac, self.detach_timeout)
        )

    def interfaces(self, name: str) -> list[Nic]:
        """See ``HypervisorDriver.interfaces``."""
        return parse_nics(self._call(lambda conn: self._get(conn, name).XMLDesc(0)))
