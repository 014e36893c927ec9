"""One contract suite for every HypervisorDriver: the fake, libvirt's test driver, QEMU."""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from activities.hypervisor.base import Disk, DomainSpec, HypervisorDriver, Nic, PowerState
from activities.hypervisor.fake import FakeHypervisor
from activities.hypervisor.libvirt_driver import LibvirtDriver
from activities.storage.qcow2 import QcowDiskDriver
from nimbus.errors import Conflict, InvalidSpec, NotFound
from nimbus.initramfs import READY_MARKER
from tests.support import netlab

PREFIX = "nimbustest-"
SpecFactory = Callable[..., DomainSpec]


@pytest.fixture(params=["fake", "test", pytest.param("qemu", marks=pytest.mark.libvirt)])
def driver(request: pytest.FixtureRequest) -> HypervisorDriver:
    """Each driver in turn; QEMU needs libvirtd and boots the real guest image."""
    if request.param == "fake":
        return FakeHypervisor()
    if request.param == "test":
        return LibvirtDriver("test:///default")
    request.getfixturevalue("libvirtd")
    return LibvirtDriver("qemu:///system")


@pytest.fixture
def make_spec(
    request: pytest.FixtureRequest, driver: HypervisorDriver, tmp_path: Path
) -> Iterator[SpecFactory]:
    """Make specs with unique names; destroy every domain made, even if the test fails."""
    names: list[str] = []
    disks = QcowDiskDriver(tmp_path / "disks")
    real = isinstance(driver, LibvirtDriver) and driver.uri == "qemu:///system"
    image = request.getfixturevalue("guest_image") if real else None

    def make(
        uid: str | None = None, name: str | None = None, nics: tuple[Nic, ...] = ()
    ) -> DomainSpec:
        uid = uid or str(uuid.uuid4())
        name = name or f"{PREFIX}{uid}"
        names.append(name)
        disk = disks.create_overlay(uid, str(image), 0) if image else f"/nonexistent/{uid}"
        root = Disk("vda", "file", disk, "qcow2")
        return DomainSpec(name, uid, 1, 128, root, str(tmp_path / f"{uid}.log"), nics)

    yield make
    for name in names:
        driver.destroy(name)


def test_define_and_start_runs_the_domain(driver: HypervisorDriver, make_spec: SpecFactory):
    spec = make_spec()
    driver.define_and_start(spec)
    assert driver.power_state(spec.name) == PowerState.RUNNING


def test_define_and_start_twice_is_a_no_op(driver: HypervisorDriver, make_spec: SpecFactory):
    spec = make_spec()
    driver.define_and_start(spec)
    driver.define_and_start(spec)
    assert driver.power_states(spec.name) == {spec.name: PowerState.RUNNING}


def test_define_and_start_starts_a_shut_off_domain(
    driver: HypervisorDriver, make_spec: SpecFactory
):
    spec = make_spec()
    driver.define_and_start(spec)
    driver.shutdown(spec.name)
    driver.define_and_start(spec)
    assert driver.power_state(spec.name) == PowerState.RUNNING


def test_power_states_lists_only_names_with_the_prefix(
    driver: HypervisorDriver, make_spec: SpecFactory
):
    group = f"{PREFIX}{uuid.uuid4().hex[:8]}-"
    a, b = make_spec(name=f"{group}a"), make_spec(name=f"{group}b")
    other = make_spec()
    for spec in (a, b, other):
        driver.define_and_start(spec)
    driver.shutdown(b.name)
    assert driver.power_states(group) == {a.name: PowerState.RUNNING, b.name: PowerState.SHUTDOWN}


def test_domain_stats_cover_running_domains_with_the_prefix_only(
    driver: HypervisorDriver, make_spec: SpecFactory
):
    running, stopped = make_spec(), make_spec()
    driver.define_and_start(running)
    driver.define_and_start(stopped)
    driver.shutdown(stopped.name)
    stats = driver.domain_stats(PREFIX)
    assert set(stats) >= {running.name} and stopped.name not in stats
    assert stats[running.name].memory_bytes > 0
    assert stats[running.name].cpu_seconds >= 0
    assert driver.domain_stats("nobody-has-this-prefix-") == {}


def test_shutdown_is_idempotent_and_start_restarts(
    driver: HypervisorDriver, make_spec: SpecFactory
):
    spec = make_spec()
    driver.define_and_start(spec)
    driver.shutdown(spec.name)
    driver.shutdown(spec.name)
    assert driver.power_state(spec.name) == PowerState.SHUTDOWN
    driver.start(spec.name)
    driver.start(spec.name)
    assert driver.power_state(spec.name) == PowerState.RUNNING


def test_destroy_removes_the_definition_and_is_idempotent(
    driver: HypervisorDriver, make_spec: SpecFactory
):
    spec = make_spec()
    driver.define_and_start(spec)
    driver.destroy(spec.name)
    driver.destroy(spec.name)
    assert spec.name not in driver.power_states(PREFIX)
    with pytest.raises(NotFound):
        driver.power_state(spec.name)


@pytest.mark.parametrize(
    "method", ["power_state", "shutdown", "start", "console_output", "disks", "detach_disk"]
)
def test_missing_domain_is_not_found(driver: HypervisorDriver, method: str):
    with pytest.raises(NotFound):
        args = ("vdb",) if method == "detach_disk" else ()
        getattr(driver, method)(f"{PREFIX}missing-{uuid.uuid4()}", *args)


def test_same_name_with_another_uuid_conflicts(driver: HypervisorDriver, make_spec: SpecFactory):
    spec = make_spec()
    driver.define_and_start(spec)
    with pytest.raises(Conflict):
        driver.define_and_start(make_spec(name=spec.name))
    assert driver.power_state(spec.name) == PowerState.RUNNING


def test_same_uuid_under_another_name_conflicts(driver: HypervisorDriver, make_spec: SpecFactory):
    spec = make_spec()
    driver.define_and_start(spec)
    with pytest.raises(Conflict):
        driver.define_and_start(make_spec(uid=spec.uuid, name=f"{spec.name}-again"))


def test_concurrent_define_and_start_of_one_spec_runs_it_once(
    driver: HypervisorDriver, make_spec: SpecFactory
):
    spec = make_spec()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: driver.define_and_start(spec), range(4)))
    assert driver.power_states(spec.name) == {spec.name: PowerState.RUNNING}


# -- disks and hot-plug ------------------------------------------------------------------


@pytest.fixture
def hotplug(driver: HypervisorDriver) -> HypervisorDriver:
    """The driver, for tests of attach and detach, which libvirt's test driver lacks."""
    if isinstance(driver, LibvirtDriver) and driver.uri.startswith("test:"):
        pytest.skip("test:///default does not support device attach/detach")
    return driver


@pytest.fixture
def volume(tmp_path: Path) -> Callable[[str], Disk]:
    """Make a small raw disk file (removed with tmp_path); return it as a Disk at ``target``."""

    def make(target: str = "vdb") -> Disk:
        path = tmp_path / f"vol-{uuid.uuid4().hex[:8]}.raw"
        with path.open("wb") as file:
            file.truncate(1 << 20)
        return Disk(target, "file", str(path), "raw", serial=path.stem[-8:])

    return make


def wait_ready(driver: HypervisorDriver, name: str, timeout: float = 60.0) -> None:
    """Wait until the guest booted: a real guest releases a detached disk only then."""
    deadline = time.monotonic() + timeout
    while READY_MARKER not in driver.console_output(name):
        assert time.monotonic() < deadline, f"{name} did not boot in {timeout}s"
        time.sleep(0.2)


def test_disks_lists_the_root(driver: HypervisorDriver, make_spec: SpecFactory):
    spec = make_spec()
    driver.define_and_start(spec)
    assert driver.disks(spec.name) == [spec.root]


def test_volumes_in_the_spec_are_defined_with_the_domain(
    hotplug: HypervisorDriver, make_spec: SpecFactory, volume: Callable[[str], Disk]
):
    """A domain defined again (rebuild, resize) gets its attached volumes in its spec."""
    vdb, vdc = volume("vdb"), volume("vdc")
    spec = dataclasses.replace(make_spec(), volumes=(vdb, vdc))
    hotplug.define_and_start(spec)
    assert hotplug.disks(spec.name) == [spec.root, vdb, vdc]
    wait_ready(hotplug, spec.name)
    hotplug.detach_disk(spec.name, "vdc")
    assert hotplug.disks(spec.name) == [spec.root, vdb]


def test_attach_disk_twice_attaches_it_once(
    hotplug: HypervisorDriver, make_spec: SpecFactory, volume: Callable[[str], Disk]
):
    spec, vdb = make_spec(), volume("vdb")
    hotplug.define_and_start(spec)
    hotplug.attach_disk(spec.name, vdb)
    hotplug.attach_disk(spec.name, vdb)
    assert hotplug.disks(spec.name) == [spec.root, vdb]


def test_attach_conflicts_on_a_taken_target_or_an_attached_source(
    hotplug: HypervisorDriver, make_spec: SpecFactory, volume: Callable[[str], Disk]
):
    spec, vdb = make_spec(), volume("vdb")
    hotplug.define_and_start(spec)
    hotplug.attach_disk(spec.name, vdb)
    with pytest.raises(Conflict):
        hotplug.attach_disk(spec.name, volume("vdb"))
    with pytest.raises(Conflict):
        hotplug.attach_disk(spec.name, Disk("vdc", "file", vdb.source, "raw"))
    assert hotplug.disks(spec.name) == [spec.root, vdb]


def test_attached_disk_survives_stop_and_start(
    hotplug: HypervisorDriver, make_spec: SpecFactory, volume: Callable[[str], Disk]
):
    spec, vdb = make_spec(), volume("vdb")
    hotplug.define_and_start(spec)
    hotplug.attach_disk(spec.name, vdb)
    hotplug.shutdown(spec.name)
    hotplug.start(spec.name)
    assert hotplug.disks(spec.name) == [spec.root, vdb]


def test_a_disk_attached_while_stopped_is_there_at_the_next_start(
    hotplug: HypervisorDriver, make_spec: SpecFactory, volume: Callable[[str], Disk]
):
    spec, vdb = make_spec(), volume("vdb")
    hotplug.define_and_start(spec)
    hotplug.shutdown(spec.name)
    hotplug.attach_disk(spec.name, vdb)
    assert hotplug.disks(spec.name) == [spec.root, vdb]
    hotplug.start(spec.name)
    assert hotplug.disks(spec.name) == [spec.root, vdb]


def test_detach_disk_removes_it_and_is_idempotent(
    hotplug: HypervisorDriver, make_spec: SpecFactory, volume: Callable[[str], Disk]
):
    spec, vdb = make_spec(), volume("vdb")
    hotplug.define_and_start(spec)
    wait_ready(hotplug, spec.name)
    hotplug.attach_disk(spec.name, vdb)
    hotplug.detach_disk(spec.name, "vdb")
    hotplug.detach_disk(spec.name, "vdb")
    assert hotplug.disks(spec.name) == [spec.root]
    hotplug.shutdown(spec.name)
    hotplug.start(spec.name)
    assert hotplug.disks(spec.name) == [spec.root]


def test_attach_to_a_missing_domain_is_not_found(
    hotplug: HypervisorDriver, volume: Callable[[str], Disk]
):
    with pytest.raises(NotFound):
        hotplug.attach_disk(f"{PREFIX}missing-{uuid.uuid4()}", volume("vdb"))


def test_rbd_disk_without_ceph_access_is_invalid(driver: HypervisorDriver, make_spec: SpecFactory):
    spec = make_spec()
    driver.define_and_start(spec)
    with pytest.raises(InvalidSpec):
        driver.attach_disk(spec.name, Disk("vdb", "rbd", "volumes/volume-1"))
    assert driver.disks(spec.name) == [spec.root]


# -- NICs ----------------------------------------------------------------------------------


def real_host(driver: HypervisorDriver) -> bool:
    return isinstance(driver, LibvirtDriver) and driver.uri == "qemu:///system"


@pytest.fixture
def host_bridge(driver: HypervisorDriver) -> Iterator[str]:
    """A bridge that exists for the driver: made on a real host, declared to the fake."""
    name = netlab.unique_name("brqt")
    if isinstance(driver, FakeHypervisor):
        driver.bridges = {name}
    if not real_host(driver):
        yield name
        return
    with netlab.bridge(name):
        yield name


def nic_on(bridge: str) -> Nic:
    return Nic("fa:16:3e:00:00:01", bridge, netlab.unique_name("tapt"))


def test_a_nic_on_an_existing_bridge_runs(
    driver: HypervisorDriver, make_spec: SpecFactory, host_bridge: str
):
    spec = make_spec(nics=(nic_on(host_bridge),))
    driver.define_and_start(spec)
    assert driver.power_state(spec.name) == PowerState.RUNNING
    if real_host(driver):
        assert Path(f"/sys/class/net/{host_bridge}/brif/{spec.nics[0].device}").exists()
        driver.destroy(spec.name)
        assert not Path(f"/sys/class/net/{spec.nics[0].device}").exists()


def test_a_nic_on_a_missing_bridge_is_not_found_and_leaves_no_domain(
    driver: HypervisorDriver, make_spec: SpecFactory, host_bridge: str
):
    if isinstance(driver, LibvirtDriver) and driver.uri.startswith("test:"):
        pytest.skip("test:///default plugs no taps, so it never misses a bridge")
    spec = make_spec(nics=(nic_on(f"{host_bridge}x"),))
    with pytest.raises(NotFound, match=f"{host_bridge}x"):
        driver.define_and_start(spec)
    assert spec.name not in driver.power_states(PREFIX)


def test_a_shutdown_request_is_harmless_to_repeat_and_to_an_off_domain(
    driver: HypervisorDriver, make_spec: SpecFactory
):
    spec = make_spec()
    driver.define_and_start(spec)
    driver.request_shutdown(spec.name)
    driver.request_shutdown(spec.name)
    driver.shutdown(spec.name)
    driver.request_shutdown(spec.name)
    assert driver.power_state(spec.name) is PowerState.SHUTDOWN
    with pytest.raises(NotFound):
        driver.request_shutdown(f"{PREFIX}missing-{uuid.uuid4()}")


def test_pause_and_unpause_are_idempotent(driver: HypervisorDriver, make_spec: SpecFactory):
    spec = make_spec()
    driver.define_and_start(spec)
    driver.pause(spec.name)
    driver.pause(spec.name)
    assert driver.power_state(spec.name) is PowerState.PAUSED
    driver.start(spec.name)  # a paused domain is left paused by start
    assert driver.power_state(spec.name) is PowerState.PAUSED
    driver.unpause(spec.name)
    driver.unpause(spec.name)
    assert driver.power_state(spec.name) is PowerState.RUNNING
    driver.shutdown(spec.name)
    with pytest.raises(Conflict):
        driver.pause(spec.name)


def test_a_saved_domain_is_suspended_until_started_again(
    hotplug: HypervisorDriver, make_spec: SpecFactory
):
    spec = make_spec()
    hotplug.define_and_start(spec)
    hotplug.save(spec.name)
    hotplug.save(spec.name)
    assert hotplug.power_state(spec.name) is PowerState.SUSPENDED
    assert hotplug.power_states(PREFIX)[spec.name] is PowerState.SUSPENDED
    hotplug.start(spec.name)
    assert hotplug.power_state(spec.name) is PowerState.RUNNING
    hotplug.shutdown(spec.name)
    with pytest.raises(Conflict):
        hotplug.save(spec.name)


# -- NIC hot-plug --------------------------------------------------------------------------


def hot_nic(bridge: str, mac: str = "fa:16:3e:00:00:02") -> Nic:
    return Nic(mac, bridge, netlab.unique_name("tapt"))


def tap_on_bridge(driver: HypervisorDriver, bridge: str, nic: Nic) -> bool:
    """Whether the NIC's tap is in the bridge; always true off a real host."""
    return not real_host(driver) or Path(f"/sys/class/net/{bridge}/brif/{nic.device}").exists()


def test_attach_interface_twice_plugs_it_once_and_it_survives_a_restart(
    hotplug: HypervisorDriver, make_spec: SpecFactory, host_bridge: str
):
    spec, nic = make_spec(), hot_nic(host_bridge)
    hotplug.define_and_start(spec)
    hotplug.attach_interface(spec.name, nic)
    hotplug.attach_interface(spec.name, nic)
    assert [n.mac for n in hotplug.interfaces(spec.name)] == [nic.mac]
    assert tap_on_bridge(hotplug, host_bridge, nic)
    hotplug.shutdown(spec.name)
    hotplug.start(spec.name)
    assert [n.mac for n in hotplug.interfaces(spec.name)] == [nic.mac]
    assert tap_on_bridge(hotplug, host_bridge, nic)


def test_an_interface_attached_while_stopped_is_there_at_the_next_start(
    hotplug: HypervisorDriver, make_spec: SpecFactory, host_bridge: str
):
    spec, nic = make_spec(), hot_nic(host_bridge)
    hotplug.define_and_start(spec)
    hotplug.shutdown(spec.name)
    hotplug.attach_interface(spec.name, nic)
    assert hotplug.power_state(spec.name) is PowerState.SHUTDOWN
    assert [n.bridge for n in hotplug.interfaces(spec.name)] == [host_bridge]
    hotplug.start(spec.name)
    assert [n.mac for n in hotplug.interfaces(spec.name)] == [nic.mac]
    assert tap_on_bridge(hotplug, host_bridge, nic)


def test_detach_interface_unplugs_it_and_is_idempotent(
    hotplug: HypervisorDriver, make_spec: SpecFactory, host_bridge: str
):
    spec, nic = make_spec(nics=(nic_on(host_bridge),)), hot_nic(host_bridge)
    hotplug.define_and_start(spec)
    wait_ready(hotplug, spec.name)
    hotplug.attach_interface(spec.name, nic)
    hotplug.detach_interface(spec.name, nic.mac)
    hotplug.detach_interface(spec.name, nic.mac)
    assert [n.mac for n in hotplug.interfaces(spec.name)] == [spec.nics[0].mac]
    assert not real_host(hotplug) or not Path(f"/sys/class/net/{nic.device}").exists()
    hotplug.shutdown(spec.name)
    hotplug.start(spec.name)
    assert [n.mac for n in hotplug.interfaces(spec.name)] == [spec.nics[0].mac]


def test_an_interface_on_another_bridge_or_tap_conflicts(
    hotplug: HypervisorDriver, make_spec: SpecFactory, host_bridge: str
):
    spec, nic = make_spec(), hot_nic(host_bridge)
    hotplug.define_and_start(spec)
    hotplug.attach_interface(spec.name, nic)
    with pytest.raises(Conflict):
        hotplug.attach_interface(spec.name, Nic(nic.mac, f"{host_bridge}x", "tapother"))
    with pytest.raises(Conflict):
        hotplug.attach_interface(spec.name, Nic("fa:16:3e:00:00:09", host_bridge, nic.device))
    assert hotplug.interfaces(spec.name) == [nic]


@pytest.mark.parametrize("method", ["attach_interface", "detach_interface", "interfaces"])
def test_interfaces_of_a_missing_domain_are_not_found(hotplug: HypervisorDriver, method: str):
    args: dict[str, tuple[object, ...]] = {
        "attach_interface": (hot_nic("brqmissing"),),
        "detach_interface": ("fa:16:3e:00:00:02",),
        "interfaces": (),
    }
    with pytest.raises(NotFound):
        getattr(hotplug, method)(f"{PREFIX}missing-{uuid.uuid4()}", *args[method])
