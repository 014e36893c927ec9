"""Disk hot-plug on one libvirt domain, run by ``LibvirtDriver`` inside its error mapping.

A disk is attached or detached live (if the domain runs) and in the persistent
definition, each only where it is still missing or present, so a retry completes a
half-done earlier call. libvirt's live detach is asynchronous (the guest must release the
device): ``detach`` polls the live XML until the disk is gone.
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET

import libvirt

from activities.hypervisor.base import Disk, is_attached
from activities.hypervisor.disk_xml import disk_elements, parse_disks
from nimbus.errors import BackendUnavailable

LIVE = libvirt.VIR_DOMAIN_AFFECT_LIVE
CONFIG = libvirt.VIR_DOMAIN_AFFECT_CONFIG
INACTIVE = libvirt.VIR_DOMAIN_XML_INACTIVE
POLL_SECONDS = 0.1


def live_xml(dom: libvirt.virDomain) -> str | None:
    """The running domain's XML; ``None`` if it is shut off."""
    return dom.XMLDesc(0) if dom.isActive() else None


def attach(dom: libvirt.virDomain, disk: Disk, xml: str) -> None:
    """Attach ``disk`` (as ``xml``) live and to the definition, wherever it is missing."""
    flags = 0
    live = live_xml(dom)
    if live is not None and not is_attached(parse_disks(live), disk):
        flags |= LIVE
    if not is_attached(parse_disks(dom.XMLDesc(INACTIVE)), disk):
        flags |= CONFIG
    if flags:
        dom.attachDeviceFlags(xml, flags)


def detach(dom: libvirt.virDomain, target: str, timeout: float) -> None:
    """Detach the disk at ``target`` from the definition and, once released, the guest."""
    config = disk_elements(dom.XMLDesc(INACTIVE)).get(target)
    if config is not None:
        request_detach(dom, ET.tostring(config, encoding="unicode"), CONFIG)
    live = live_xml(dom)
    element = disk_elements(live).get(target) if live is not None else None
    if element is None:
        return
    request_detach(dom, ET.tostring(element, encoding="unicode"), LIVE)
    _wait_released(dom, target, timeout)


def request_detach(dom: libvirt.virDomain, xml: str, flags: int) -> None:
    """One detach request (of a disk or a NIC); a device gone meanwhile or an unplug
    already pending is fine."""
    try:
        dom.detachDeviceFlags(xml, flags)
    except libvirt.libvirtError as exc:
        pending = "already in the process of unplug" in (exc.get_error_message() or "")
        if exc.get_error_code() != libvirt.VIR_ERR_DEVICE_MISSING and not pending:
            raise


def _wait_released(dom: libvirt.virDomain, target: str, timeout: float) -> None:
    """Poll until ``target`` left the live XML (or the domain stopped)."""
    deadline = time.monotonic() + timeout
    while True:
        live = live_xml(dom)
        if live is None or target not in disk_elements(live):
            return
        if time.monotonic() >= deadline:
            raise BackendUnavailable(f"guest {dom.name()} did not release {target} in {timeout}s")
        time.sleep(POLL_SECONDS)
