"""libvirt domain XML from a ``DomainSpec``: a pure function, so it is tested without libvirt.

Choices that matter:
- ``type='qemu'`` (TCG) with the translation cache capped; ``kvm`` only where a probe
  showed KVM boots guests (see ``activities.hypervisor.probe``).
- The serial console is a pty whose output virtlogd also writes to ``spec.console_log``:
  the whole console stays readable as a file, and ``virsh console`` still works.
- An optional second serial port (the guest's ``ttyS1``) is logged the same way to
  ``spec.app_log``, appending, so an app's output survives the instance's restarts.
- ``on_poweroff=destroy`` so a guest that powers itself off shows as shut off.
- The root disk is built by ``disk_xml`` (a file, or an RBD image through librbd).
- NICs (virtio taps on existing bridges) and the config drive (a read-only IDE cdrom) are
  built by ``nic_xml``; NICs keep the spec's order, so the first is the guest's ``eth0``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from activities.hypervisor.base import CephAccess, DomainSpec
from activities.hypervisor.disk_xml import disk_element, sub, validate_disk
from activities.hypervisor.nic_xml import (
    config_drive_element,
    nic_element,
    validate_config_drive,
    validate_nics,
)
from nimbus.errors import InvalidSpec

DOMAIN_TYPES = ("qemu", "kvm")
#: Per guest: QEMU's default translation cache (up to 1 GiB) makes an idle guest cost
#: hundreds of MiB.
TCG_CACHE_MIB = 32


def validate(spec: DomainSpec, domain_type: str, ceph: CephAccess | None = None) -> None:
    """Reject specs libvirt would refuse (or misread) before any call is made."""
    if domain_type not in DOMAIN_TYPES:
        raise InvalidSpec(f"domain type {domain_type!r} is not one of {DOMAIN_TYPES}")
    if spec.vcpus < 1 or spec.memory_mib < 16:
        raise InvalidSpec(f"{spec.vcpus} vCPUs and {spec.memory_mib} MiB is too small")
    if not spec.name:
        raise InvalidSpec("a domain needs a name")
    validate_disk(spec.root, ceph)
    for volume in spec.volumes:
        validate_disk(volume, ceph)
    targets = [spec.root.target, *(v.target for v in spec.volumes)]
    if len(set(targets)) != len(targets):
        raise InvalidSpec(f"two disks share a target: {targets}")
    if not spec.console_log.startswith("/"):
        raise InvalidSpec("the console log path must be absolute")
    if spec.app_log is not None and not spec.app_log.startswith("/"):
        raise InvalidSpec("the app log path must be absolute")
    validate_nics(spec.nics)
    validate_config_drive(spec.config_drive)


def _features(domain: ET.Element, domain_type: str) -> None:
    """ACPI (for power buttons), and the TCG cache cap when emulating."""
    features = sub(domain, "features")
    sub(features, "acpi")
    if domain_type == "qemu":
        tcg = sub(features, "tcg")
        sub(tcg, "tb-cache", str(TCG_CACHE_MIB), unit="MiB")


def _devices(domain: ET.Element, spec: DomainSpec, ceph: CephAccess | None) -> None:
    """Root disk and attached volumes on virtio, the config drive, NICs, serial console to
    a pty and the log."""
    devices = sub(domain, "devices")
    devices.append(disk_element(spec.root, ceph))
    for volume in spec.volumes:
        devices.append(disk_element(volume, ceph))
    if spec.config_drive is not None:
        devices.append(config_drive_element(spec.config_drive))
    for nic in spec.nics:
        devices.append(nic_element(nic))
    _serial(devices, 0, spec.console_log, append=False)
    if spec.app_log is not None:
        _serial(devices, 1, spec.app_log, append=True)
    console = sub(devices, "console", type="pty")
    sub(console, "target", type="serial", port="0")
    sub(devices, "memballoon", model="none")


def _serial(devices: ET.Element, port: int, log: str, append: bool) -> None:
    """A serial port on a pty whose output virtlogd also writes to ``log``."""
    serial = sub(devices, "serial", type="pty")
    sub(serial, "log", file=log, append="on" if append else "off")
    sub(serial, "target", port=str(port))


def domain_xml(spec: DomainSpec, domain_type: str = "qemu", ceph: CephAccess | None = None) -> str:
    """The libvirt XML defining ``spec`` as a ``domain_type`` guest.

    ``ceph`` is how this host reaches Ceph, needed for an ``rbd`` root disk. Raises
    ``InvalidSpec`` for a spec that cannot be a domain.
    """
    validate(spec, domain_type, ceph)
    domain = ET.Element("domain", type=domain_type)
    sub(domain, "name", spec.name)
    sub(domain, "uuid", spec.uuid)
    sub(domain, "memory", str(spec.memory_mib), unit="MiB")
    sub(domain, "vcpu", str(spec.vcpus))
    os_el = sub(domain, "os")
    sub(os_el, "type", "hvm", arch="x86_64", machine="pc")
    sub(os_el, "boot", dev="hd")
    _features(domain, domain_type)
    sub(domain, "clock", offset="utc")
    for event, action in (("poweroff", "destroy"), ("reboot", "restart"), ("crash", "destroy")):
        sub(domain, f"on_{event}", action)
    _devices(domain, spec, ceph)
    ET.indent(domain)
    return ET.tostring(domain, encoding="unicode")


def console_log_path(xml: str) -> str | None:
    """Where a defined domain's serial console is logged, read back from its XML."""
    root = ET.fromstring(xml)
    log = root.find("./devices/serial/log")  # port 0 comes first
    if log is not None:
        return log.get("file")
    source = root.find("./devices/serial[@type='file']/source")
    return source.get("path") if source is not None else None
