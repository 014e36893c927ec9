"""libvirt ``<disk>`` elements from ``Disk`` and back: pure functions, tested without libvirt.

Choices that matter:
- ``file`` disks keep QEMU's default cache mode: O_DIRECT (``cache='none'``) fails on
  tmpfs-backed instance folders.
- ``rbd`` disks go through librbd inside QEMU (the host kernel has no rbd module), raw,
  ``cache='writeback'`` (librbd's own cache, flushed on the guest's flushes) and
  ``discard='unmap'`` so blocks the guest frees return to the pool.
- cephx auth names a libvirt secret by uuid; the key itself is never in the XML. The uuid
  is derived from the user and monitors, so every define and attach names the same secret.
"""

from __future__ import annotations

import re
import uuid
import xml.etree.ElementTree as ET

from activities.hypervisor.base import CephAccess, Disk
from nimbus.errors import InvalidSpec

DISK_KINDS = ("file", "rbd")
DISK_FORMATS = ("qcow2", "raw")
TARGET = re.compile(r"vd[a-z]{1,2}")
SERIAL = re.compile(r"[A-Za-z0-9_.-]{0,20}")
RBD_SOURCE = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.@-]+")
#: Namespace of the uuids of Nimbus' libvirt secrets (any fixed uuid would do).
SECRET_NAMESPACE = uuid.UUID("6a3f0b52-1d4e-4c8a-9a57-3c0f2b7e9d11")


def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    """Append a child element; keeps the builders below one line per element."""
    child = ET.SubElement(parent, tag, attrs)
    if text is not None:
        child.text = text
    return child


def secret_uuid(ceph: CephAccess) -> str:
    """The uuid of the libvirt secret holding ``ceph``'s key: stable for a user and
    cluster, so defining it again is idempotent and every host names it alike."""
    return str(uuid.uuid5(SECRET_NAMESPACE, f"client.{ceph.user}@{','.join(ceph.monitors)}"))


def validate_disk(disk: Disk, ceph: CephAccess | None) -> None:
    """Reject disks libvirt would refuse (or misread) before any call is made."""
    if not TARGET.fullmatch(disk.target):
        raise InvalidSpec(f"disk target {disk.target!r} is not a virtio name like vdb")
    if disk.kind not in DISK_KINDS or disk.format not in DISK_FORMATS:
        raise InvalidSpec(f"disk kind {disk.kind!r} / format {disk.format!r} not supported")
    if not SERIAL.fullmatch(disk.serial):
        raise InvalidSpec(f"disk serial {disk.serial!r}: at most 20 of [A-Za-z0-9_.-]")
    if disk.kind == "file" and not disk.source.startswith("/"):
        raise InvalidSpec(f"file disk source {disk.source!r} is not an absolute path")
    if disk.kind == "rbd":
        _validate_rbd(disk, ceph)


def _validate_rbd(disk: Disk, ceph: CephAccess | None) -> None:
    """An rbd disk needs Ceph access on this host, a ``pool/name`` source and raw format."""
    if ceph is None:
        raise InvalidSpec(f"rbd disk {disk.source!r} on a host without Ceph access")
    if not RBD_SOURCE.fullmatch(disk.source):
        raise InvalidSpec(f"rbd disk source {disk.source!r} is not pool/name")
    if disk.format != "raw":
        raise InvalidSpec("rbd disks are raw")


def _host(parent: ET.Element, monitor: str) -> None:
    """One ``<host>`` from ``host:port`` (``[v6]:port`` too); the port is optional."""
    host, sep, port = monitor.rpartition(":")
    if not sep or not port.isdigit():
        host, port = monitor, ""
    attrs = {"name": host.strip("[]")} | ({"port": port} if port else {})
    sub(parent, "host", **attrs)


def _rbd_parts(disk_el: ET.Element, disk: Disk, ceph: CephAccess) -> None:
    """Driver, source with the monitors, and auth by secret uuid when cephx is on."""
    sub(disk_el, "driver", name="qemu", type="raw", cache="writeback", discard="unmap")
    source = sub(disk_el, "source", protocol="rbd", name=disk.source)
    for monitor in ceph.monitors:
        _host(source, monitor)
    if ceph.user:
        auth = sub(disk_el, "auth", username=ceph.user)
        sub(auth, "secret", type="ceph", uuid=secret_uuid(ceph))


def disk_element(disk: Disk, ceph: CephAccess | None = None) -> ET.Element:
    """The ``<disk>`` element for ``disk``; ``InvalidSpec`` if it cannot be one."""
    validate_disk(disk, ceph)
    if disk.kind == "rbd":
        assert ceph is not None  # checked by validate_disk
        el = ET.Element("disk", type="network", device="disk")
        _rbd_parts(el, disk, ceph)
    else:
        el = ET.Element("disk", type="file", device="disk")
        sub(el, "driver", name="qemu", type=disk.format)
        sub(el, "source", file=disk.source)
    sub(el, "target", dev=disk.target, bus="virtio")
    if disk.serial:
        sub(el, "serial", disk.serial)
    return el


def disk_xml(disk: Disk, ceph: CephAccess | None = None) -> str:
    """``disk_element`` as a string, for attaching."""
    return ET.tostring(disk_element(disk, ceph), encoding="unicode")


def parse_disk(el: ET.Element) -> Disk | None:
    """The ``Disk`` a domain's ``<disk>`` element describes; ``None`` for other kinds."""
    source, target = el.find("source"), el.find("target")
    if source is None or target is None:
        return None  # e.g. an empty cdrom drive
    if el.get("type") == "file":
        kind, path = "file", source.get("file", "")
    elif el.get("type") == "network" and source.get("protocol") == "rbd":
        kind, path = "rbd", source.get("name", "")
    else:
        return None
    driver = el.find("driver")
    fmt = driver.get("type", "raw") if driver is not None else "raw"
    serial = el.findtext("serial") or ""
    return Disk(target.get("dev", ""), kind, path, fmt, serial)


def disk_elements(xml: str) -> dict[str, ET.Element]:
    """A domain's ``<disk device='disk'>`` elements by target device."""
    found = {}
    for el in ET.fromstring(xml).findall("./devices/disk[@device='disk']"):
        target = el.find("target")
        if target is not None:
            found[target.get("dev", "")] = el
    return found


def parse_disks(xml: str) -> list[Disk]:
    """The disks a domain XML describes, in device order."""
    disks = (parse_disk(el) for el in disk_elements(xml).values())
    return [disk for disk in disks if disk is not None]
