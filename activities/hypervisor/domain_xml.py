"""libvirt domain XML from a ``DomainSpec``: a pure function, so it is tested without libvirt.

Choices that matter:
- ``type='qemu'`` (TCG) with the translation cache capped; ``kvm`` only where a probe
  showed KVM boots guests (see ``activities.hypervisor.probe``).
- The serial console is a pty whose output virtlogd also writes to ``spec.console_log``:
  the whole console stays readable as a file, and ``virsh console`` still works.
- ``on_poweroff=destroy`` so a guest that powers itself off shows as shut off.
- No network devices yet.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from activities.hypervisor.base import DomainSpec
from nimbus.errors import InvalidSpec

DOMAIN_TYPES = ("qemu", "kvm")
DISK_FORMATS = ("qcow2", "raw")
#: Per guest: QEMU's default translation cache (up to 1 GiB) makes an idle guest cost
#: hundreds of MiB.
TCG_CACHE_MIB = 32


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    """Append a child element; keeps the builder below one line per element."""
    child = ET.SubElement(parent, tag, attrs)
    if text is not None:
        child.text = text
    return child


def validate(spec: DomainSpec, domain_type: str) -> None:
    """Reject specs libvirt would refuse (or misread) before any call is made."""
    if domain_type not in DOMAIN_TYPES:
        raise InvalidSpec(f"domain type {domain_type!r} is not one of {DOMAIN_TYPES}")
    if spec.disk_format not in DISK_FORMATS:
        raise InvalidSpec(f"disk format {spec.disk_format!r} is not one of {DISK_FORMATS}")
    if spec.vcpus < 1 or spec.memory_mib < 16:
        raise InvalidSpec(f"{spec.vcpus} vCPUs and {spec.memory_mib} MiB is too small")
    if not spec.name or not spec.disk_path.startswith("/"):
        raise InvalidSpec("a domain needs a name and an absolute disk path")
    if not spec.console_log.startswith("/"):
        raise InvalidSpec("the console log path must be absolute")


def _features(domain: ET.Element, domain_type: str) -> None:
    """ACPI (for power buttons), and the TCG cache cap when emulating."""
    features = _sub(domain, "features")
    _sub(features, "acpi")
    if domain_type == "qemu":
        tcg = _sub(features, "tcg")
        _sub(tcg, "tb-cache", str(TCG_CACHE_MIB), unit="MiB")


def _devices(domain: ET.Element, spec: DomainSpec) -> None:
    """Root disk on virtio, serial console to a pty and the log file, nothing else."""
    devices = _sub(domain, "devices")
    disk = _sub(devices, "disk", type="file", device="disk")
    # Default cache mode: O_DIRECT (cache='none') fails on tmpfs-backed instance folders.
    _sub(disk, "driver", name="qemu", type=spec.disk_format)
    _sub(disk, "source", file=spec.disk_path)
    _sub(disk, "target", dev="vda", bus="virtio")
    serial = _sub(devices, "serial", type="pty")
    _sub(serial, "log", file=spec.console_log, append="off")
    _sub(serial, "target", port="0")
    console = _sub(devices, "console", type="pty")
    _sub(console, "target", type="serial", port="0")
    _sub(devices, "memballoon", model="none")


def domain_xml(spec: DomainSpec, domain_type: str = "qemu") -> str:
    """The libvirt XML defining ``spec`` as a ``domain_type`` guest.

    Raises ``InvalidSpec`` for a spec that cannot be a domain.
    """
    validate(spec, domain_type)
    domain = ET.Element("domain", type=domain_type)
    _sub(domain, "name", spec.name)
    _sub(domain, "uuid", spec.uuid)
    _sub(domain, "memory", str(spec.memory_mib), unit="MiB")
    _sub(domain, "vcpu", str(spec.vcpus))
    os_el = _sub(domain, "os")
    _sub(os_el, "type", "hvm", arch="x86_64", machine="pc")
    _sub(os_el, "boot", dev="hd")
    _features(domain, domain_type)
    _sub(domain, "clock", offset="utc")
    for event, action in (("poweroff", "destroy"), ("reboot", "restart"), ("crash", "destroy")):
        _sub(domain, f"on_{event}", action)
    _devices(domain, spec)
    ET.indent(domain)
    return ET.tostring(domain, encoding="unicode")


def console_log_path(xml: str) -> str | None:
    """Where a defined domain's serial console is logged, read back from its XML."""
    root = ET.fromstring(xml)
    log = root.find("./devices/serial/log")
    if log is not None:
        return log.get("file")
    source = root.find("./devices/serial[@type='file']/source")
    return source.get("path") if source is not None else None
