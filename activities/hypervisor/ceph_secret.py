"""The libvirt secret that holds a cephx key, so domain XML names it and never holds it.

QEMU gets the key from libvirt when it opens an ``rbd`` disk. The secret is private (its
value cannot be read back through libvirt) and persistent (it survives a libvirtd
restart); its uuid is ``secret_uuid(ceph)``, so ensuring it again is idempotent.
"""

from __future__ import annotations

import base64
import binascii
import xml.etree.ElementTree as ET

import libvirt

from activities.hypervisor.base import CephAccess
from activities.hypervisor.disk_xml import secret_uuid, sub
from nimbus.errors import InvalidSpec


def secret_xml(ceph: CephAccess) -> str:
    """The secret's definition: uuid and a ceph usage name (unique per usage type, so it
    carries the uuid too)."""
    uid = secret_uuid(ceph)
    secret = ET.Element("secret", ephemeral="no", private="yes")
    sub(secret, "uuid", uid)
    sub(secret, "description", f"Nimbus: cephx key of client.{ceph.user}")
    usage = sub(secret, "usage", type="ceph")
    sub(usage, "name", f"client.{ceph.user} nimbus {uid}")
    return ET.tostring(secret, encoding="unicode")


def key_bytes(ceph: CephAccess) -> bytes:
    """The key as libvirt stores it (decoded); ``InvalidSpec`` that never quotes the key."""
    try:
        return base64.b64decode(ceph.key, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidSpec(f"the cephx key of client.{ceph.user} is not base64") from None


def ensure_ceph_secret(conn: libvirt.virConnect, ceph: CephAccess) -> str:
    """Make sure the secret exists and holds ``ceph.key``; return its uuid.

    Idempotent; the value is set every time, so a rotated key takes effect on the next
    define or attach. libvirt errors propagate (the driver translates them).
    """
    value = key_bytes(ceph)
    uid = secret_uuid(ceph)
    try:
        secret = conn.secretLookupByUUIDString(uid)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() != libvirt.VIR_ERR_NO_SECRET:
            raise
        secret = conn.secretDefineXML(secret_xml(ceph))
    secret.setValue(value)
    return uid
