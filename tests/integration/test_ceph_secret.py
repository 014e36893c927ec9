"""cephx on real libvirt: the key lives in one private libvirt secret, and libvirt accepts
an rbd domain that names it, with the key nowhere in the domain's XML."""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import Iterator

import libvirt
import pytest

from activities.hypervisor.base import CephAccess, Disk, DomainSpec
from activities.hypervisor.ceph_secret import ensure_ceph_secret
from activities.hypervisor.disk_xml import secret_uuid
from activities.hypervisor.domain_xml import domain_xml
from launcher.services.libvirtd import LibvirtdHandle

pytestmark = pytest.mark.libvirt


@pytest.fixture
def conn(libvirtd: LibvirtdHandle) -> Iterator[libvirt.virConnect]:
    conn = libvirt.open(libvirtd.uri)
    yield conn
    conn.close()


@pytest.fixture
def ceph(conn: libvirt.virConnect) -> Iterator[CephAccess]:
    """A cephx user of its own; its secret is removed afterwards."""
    key = base64.b64encode(os.urandom(16)).decode()
    access = CephAccess(("127.0.0.1:40100",), f"nimbustest-{uuid.uuid4().hex[:8]}", key)
    yield access
    try:
        conn.secretLookupByUUIDString(secret_uuid(access)).undefine()
    except libvirt.libvirtError:
        pass


def test_secret_is_defined_once_and_keeps_its_uuid(conn: libvirt.virConnect, ceph: CephAccess):
    assert ensure_ceph_secret(conn, ceph) == ensure_ceph_secret(conn, ceph) == secret_uuid(ceph)
    secret = conn.secretLookupByUUIDString(secret_uuid(ceph))
    assert secret.usageType() == libvirt.VIR_SECRET_USAGE_TYPE_CEPH
    assert ceph.user in secret.usageID()
    with pytest.raises(libvirt.libvirtError):
        secret.value()  # private: the key cannot be read back through libvirt


def test_libvirt_accepts_an_rbd_domain_whose_xml_holds_no_key(
    conn: libvirt.virConnect, ceph: CephAccess
):
    ensure_ceph_secret(conn, ceph)
    uid = str(uuid.uuid4())
    root = Disk("vda", "rbd", "vms/server-disk", serial="root")
    spec = DomainSpec(f"nimbustest-{uid}", uid, 1, 128, root, "/tmp/nimbustest.log")
    dom = conn.defineXML(domain_xml(spec, ceph=ceph))  # defined only: no cluster to start on
    try:
        xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_SECURE)
        assert secret_uuid(ceph) in xml and ceph.key not in xml
    finally:
        dom.undefine()
