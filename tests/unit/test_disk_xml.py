"""Disk XML: file and rbd disks, cephx by secret reference only, and parsing back."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from activities.hypervisor.base import CephAccess, Disk, DomainSpec, is_attached
from activities.hypervisor.ceph_secret import secret_xml
from activities.hypervisor.disk_xml import disk_xml, parse_disks, secret_uuid
from activities.hypervisor.domain_xml import domain_xml
from nimbus.errors import Conflict, InvalidSpec

KEY = "AQBzYWNyZXQta2V5LW5ldmVyLWluLXhtbA=="
CEPH = CephAccess(("10.0.0.1:6789", "[fd00::2]:3300"), user="nimbus", key=KEY)
ANON = CephAccess(("127.0.0.1:40100",))
RBD = Disk("vda", "rbd", "vms/server-1f0c_disk", serial="1f0c")


def rbd_spec() -> DomainSpec:
    return DomainSpec("nimbus-1f0c", "6c1b1a3e-0f6a-4d0e-9a51-0d7c3e1c2b11", 1, 128, RBD, "/c")


def test_rbd_disk_is_a_network_disk_with_every_monitor():
    el = ET.fromstring(disk_xml(RBD, CEPH))
    assert el.attrib == {"type": "network", "device": "disk"}
    assert el.find("driver").attrib == {
        "name": "qemu", "type": "raw", "cache": "writeback", "discard": "unmap"
    }  # fmt: skip
    assert el.find("source").attrib == {"protocol": "rbd", "name": "vms/server-1f0c_disk"}
    hosts = [h.attrib for h in el.findall("source/host")]
    assert hosts == [{"name": "10.0.0.1", "port": "6789"}, {"name": "fd00::2", "port": "3300"}]
    assert el.find("target").attrib == {"dev": "vda", "bus": "virtio"}
    assert el.findtext("serial") == "1f0c"


def test_cephx_names_the_secret_and_the_key_is_nowhere_in_the_xml():
    xml = domain_xml(rbd_spec(), ceph=CEPH)
    auth = ET.fromstring(xml).find("devices/disk/auth")
    assert auth.get("username") == "nimbus"
    assert auth.find("secret").attrib == {"type": "ceph", "uuid": secret_uuid(CEPH)}
    assert KEY not in xml and KEY not in secret_xml(CEPH) and KEY not in repr(CEPH)


def test_without_a_cephx_user_there_is_no_auth():
    assert ET.fromstring(disk_xml(RBD, ANON)).find("auth") is None


def test_secret_uuid_is_stable_per_user_and_cluster():
    assert secret_uuid(CEPH) == secret_uuid(CephAccess(CEPH.monitors, "nimbus", "other"))
    assert secret_uuid(CEPH) != secret_uuid(CephAccess(CEPH.monitors, "admin", KEY))


@pytest.mark.parametrize(
    "disk, ceph",
    [
        (RBD, None),  # no Ceph access on this host
        (Disk("vdb", "rbd", "no-pool-name"), CEPH),
        (Disk("vdb", "rbd", "vms/x", format="qcow2"), CEPH),
        (Disk("vdb", "file", "/v", serial="x" * 21), None),
        (Disk("hdb", "file", "/v"), None),
    ],
)
def test_bad_disks_are_invalid(disk: Disk, ceph: CephAccess | None):
    with pytest.raises(InvalidSpec):
        disk_xml(disk, ceph)


def test_disks_parse_back_from_domain_xml():
    xml = domain_xml(rbd_spec(), ceph=CEPH)
    assert parse_disks(xml) == [RBD]
    file_disk = Disk("vdb", "file", "/v/disk", "qcow2", "vol1")
    assert parse_disks(f"<domain><devices>{disk_xml(file_disk)}</devices></domain>") == [file_disk]


def test_attach_rule_same_source_same_target_only():
    vdb = Disk("vdb", "file", "/v/a")
    assert is_attached([vdb], vdb) and not is_attached([], vdb)
    with pytest.raises(Conflict):
        is_attached([vdb], Disk("vdb", "file", "/v/b"))
    with pytest.raises(Conflict):
        is_attached([vdb], Disk("vdc", "file", "/v/a"))
