"""The domain XML says what the driver promises: TCG cache, console log, virtio disks,
NICs on bridges in order, the config drive as a read-only IDE cdrom."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from activities.hypervisor.base import Disk, DomainSpec, Nic
from activities.hypervisor.disk_xml import parse_disks
from activities.hypervisor.domain_xml import console_log_path, domain_xml
from activities.hypervisor.nic_xml import is_plugged, parse_bridges, parse_nics
from nimbus.errors import Conflict, InvalidSpec

SPEC = DomainSpec(
    name="nimbus-1f0c",
    uuid="6c1b1a3e-0f6a-4d0e-9a51-0d7c3e1c2b11",
    vcpus=2,
    memory_mib=256,
    root=Disk("vda", "file", "/var/lib/nimbus/disks/1f0c/disk", "qcow2"),
    console_log="/var/lib/nimbus/instances/1f0c/console.log",
)


ETH0 = Nic("fa:16:3e:00:00:01", "brq1234567890a", "tap1234567890a", 1450)
ETH1 = Nic("FA:16:3E:00:00:02", "brq9876543210b", "tap9876543210b", 9000)


def with_(**change: object) -> DomainSpec:
    return DomainSpec(**{**SPEC.__dict__, **change})


def parse(spec: DomainSpec = SPEC, domain_type: str = "qemu") -> ET.Element:
    return ET.fromstring(domain_xml(spec, domain_type))


def test_identity_and_size_come_from_the_spec():
    root = parse()
    assert root.get("type") == "qemu"
    assert (root.findtext("name"), root.findtext("uuid")) == (SPEC.name, SPEC.uuid)
    assert root.findtext("vcpu") == "2"
    assert root.find("memory").attrib == {"unit": "MiB"} and root.findtext("memory") == "256"


def test_tcg_caps_the_translation_cache_and_kvm_does_not():
    assert parse().find("features/tcg/tb-cache").text == "32"
    kvm = parse(domain_type="kvm")
    assert kvm.get("type") == "kvm" and kvm.find("features/tcg") is None


def test_root_disk_is_virtio_with_the_spec_format():
    disk = parse().find("devices/disk")
    assert disk.find("source").get("file") == SPEC.root.source
    assert disk.find("driver").get("type") == "qcow2"
    assert disk.find("target").attrib == {"dev": "vda", "bus": "virtio"}


def test_attached_volumes_are_virtio_disks_after_the_root():
    volumes = (Disk("vdb", "file", "/v/b", serial="vol-b"), Disk("vdc", "file", "/v/c"))
    disks = parse(with_(volumes=volumes)).findall("devices/disk[@device='disk']")
    assert [d.find("target").get("dev") for d in disks] == ["vda", "vdb", "vdc"]
    assert disks[1].findtext("serial") == "vol-b" and disks[2].find("source").get("file") == "/v/c"
    assert [d.target for d in parse_disks(domain_xml(with_(volumes=volumes)))] == [
        "vda",
        "vdb",
        "vdc",
    ]


def test_serial_console_is_logged_to_the_console_log():
    root = parse()
    assert root.find("devices/serial/log").get("file") == SPEC.console_log
    assert console_log_path(domain_xml(SPEC)) == SPEC.console_log


def test_without_an_app_log_there_is_one_serial_port():
    serials = parse().findall("devices/serial")
    assert [serial.find("target").get("port") for serial in serials] == ["0"]


def test_app_log_is_a_second_serial_port_logged_appending():
    app_log = "/var/lib/nimbus/instances/1f0c/app.log"
    xml = domain_xml(with_(app_log=app_log))
    first, second = ET.fromstring(xml).findall("devices/serial")
    assert first.find("log").attrib == {"file": SPEC.console_log, "append": "off"}
    assert second.find("target").get("port") == "1"
    assert second.find("log").attrib == {"file": app_log, "append": "on"}
    assert console_log_path(xml) == SPEC.console_log


def test_guest_power_off_destroys_and_there_are_no_nics_unless_asked():
    root = parse()
    assert root.findtext("on_poweroff") == "destroy"
    assert root.find("devices/interface") is None
    assert root.find("devices/disk[@device='cdrom']") is None


def test_nics_are_virtio_taps_on_their_bridges_in_order():
    nics = parse(with_(nics=(ETH0, ETH1))).findall("devices/interface")
    assert [nic.get("type") for nic in nics] == ["bridge", "bridge"]
    first, second = nics
    assert first.find("mac").get("address") == ETH0.mac
    assert first.find("source").get("bridge") == ETH0.bridge
    assert first.find("target").get("dev") == ETH0.device
    assert first.find("model").get("type") == "virtio"
    assert first.find("mtu").get("size") == "1450"
    assert second.find("mac").get("address") == "fa:16:3e:00:00:02"
    assert second.find("mtu").get("size") == "9000"


def test_bridges_are_read_back_from_the_xml():
    assert parse_bridges(domain_xml(with_(nics=(ETH0, ETH1)))) == [ETH0.bridge, ETH1.bridge]


def test_config_drive_is_a_read_only_ide_cdrom_and_not_a_disk():
    xml = domain_xml(with_(config_drive="/var/lib/nimbus/instances/1f0c/config.iso"))
    cdrom = ET.fromstring(xml).find("devices/disk[@device='cdrom']")
    assert cdrom.find("source").get("file") == "/var/lib/nimbus/instances/1f0c/config.iso"
    assert cdrom.find("target").attrib == {"dev": "hdd", "bus": "ide"}
    assert cdrom.find("readonly") is not None
    assert cdrom.find("driver").get("type") == "raw"
    assert parse_disks(xml) == [SPEC.root]


def test_names_are_escaped():
    spec = DomainSpec(**{**SPEC.__dict__, "name": "a<b>&c"})
    assert parse(spec).findtext("name") == "a<b>&c"


@pytest.mark.parametrize(
    "change",
    [
        {"root": Disk("vda", "file", "/d", "vmdk")},
        {"root": Disk("vda", "file", "relative/disk")},
        {"root": Disk("sda", "file", "/d")},
        {"root": Disk("vda", "nbd", "/d")},
        {"vcpus": 0},
        {"name": ""},
        {"nics": (Nic("fa:16:3e:00:00", "br0", "tap0"),)},
        {"nics": (Nic("fa-16-3e-00-00-01", "br0", "tap0"),)},
        {"nics": (Nic("01:00:5e:00:00:01", "br0", "tap0"),)},
        {"nics": (Nic("fa:16:3e:00:00:01", "br0", "tap0123456789abc"),)},
        {"nics": (Nic("fa:16:3e:00:00:01", "br 0", "tap0"),)},
        {"nics": (Nic("fa:16:3e:00:00:01", "br0", "vnet0"),)},
        {"nics": (Nic("fa:16:3e:00:00:01", "br0", "tap0", mtu=0),)},
        {"nics": (ETH0, Nic(ETH0.mac.upper(), "br0", "tap1"))},
        {"nics": (ETH0, Nic("fa:16:3e:00:00:09", "br0", ETH0.device))},
        {"config_drive": "config.iso"},
        {"app_log": "app.log"},
        {"volumes": (Disk("vda", "file", "/v"),)},
        {"volumes": (Disk("vdb", "file", "/v"), Disk("vdb", "file", "/w"))},
        {"volumes": (Disk("vdb", "file", "relative"),)},
    ],
)
def test_bad_specs_are_invalid(change: dict):
    with pytest.raises(InvalidSpec):
        domain_xml(DomainSpec(**{**SPEC.__dict__, **change}))


def test_unknown_domain_type_is_invalid():
    with pytest.raises(InvalidSpec):
        domain_xml(SPEC, "xen")


def test_nics_read_back_from_the_xml_as_they_were_plugged() -> None:
    nics = parse_nics(domain_xml(with_(nics=(ETH0, ETH1))))
    assert nics == [ETH0, Nic(ETH1.mac.lower(), ETH1.bridge, ETH1.device, ETH1.mtu)]


def test_a_nic_is_plugged_by_its_mac_and_never_twice_over() -> None:
    plugged = [ETH0]
    assert is_plugged(plugged, Nic(ETH0.mac.upper(), ETH0.bridge, ETH0.device))
    assert not is_plugged(plugged, ETH1)
    with pytest.raises(Conflict):
        is_plugged(plugged, Nic(ETH0.mac, ETH1.bridge, ETH0.device))  # one MAC, two bridges
    with pytest.raises(Conflict):
        is_plugged(plugged, Nic(ETH1.mac, ETH1.bridge, ETH0.device))  # one tap, two MACs
