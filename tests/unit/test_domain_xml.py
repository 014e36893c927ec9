"""The domain XML says what the driver promises: TCG cache, console log, virtio, no NICs."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from activities.hypervisor.base import Disk, DomainSpec
from activities.hypervisor.domain_xml import console_log_path, domain_xml
from nimbus.errors import InvalidSpec

SPEC = DomainSpec(
    name="nimbus-1f0c",
    uuid="6c1b1a3e-0f6a-4d0e-9a51-0d7c3e1c2b11",
    vcpus=2,
    memory_mib=256,
    root=Disk("vda", "file", "/var/lib/nimbus/disks/1f0c/disk", "qcow2"),
    console_log="/var/lib/nimbus/instances/1f0c/console.log",
)


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


def test_serial_console_is_logged_to_the_console_log():
    root = parse()
    assert root.find("devices/serial/log").get("file") == SPEC.console_log
    assert console_log_path(domain_xml(SPEC)) == SPEC.console_log


def test_guest_power_off_destroys_and_there_are_no_nics():
    root = parse()
    assert root.findtext("on_poweroff") == "destroy"
    assert root.find("devices/interface") is None


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
    ],
)
def test_bad_specs_are_invalid(change: dict):
    with pytest.raises(InvalidSpec):
        domain_xml(DomainSpec(**{**SPEC.__dict__, **change}))


def test_unknown_domain_type_is_invalid():
    with pytest.raises(InvalidSpec):
        domain_xml(SPEC, "xen")
