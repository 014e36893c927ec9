"""Disk hot-plug on one libvirt domain, run by ``LibvirtDriver`` inside its error mapping.

A disk is attached or detached live (if the domain runs) and in the persistent
definition, each only where it is still missing or present, so a retry completes a
half-done earlier call. libvirt's live detach is asynchronous (the guest must release the
device): ``detach`` polls the live XML until the disk is gone.
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections.abc import Callable

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
    attach_where_missing(dom, xml, lambda domain: is_attached(parse_disks(domain), disk))


def detach(dom: libvirt.virDomain, target: str, timeout: float) -> None:
    """Detach the disk at ``target`` from the definition and, once released, the guest."""
    detach_everywhere(dom, target, disk_elements, timeout, target)


def attach_where_missing(dom: libvirt.virDomain, xml: str, present: Callable[[str], bool]) -> None:
    """Attach a device (``xml``) live and to the definition, wherever ``present`` (given
    the domain's XML) says it is missing: a retry completes a half-done earlier call."""
    flags = 0
    live = live_xml(dom)
    if live is not None and not present(live):
        flags |= LIVE
    if not present(dom.XMLDesc(INACTIVE)):
        flags |= CONFIG
    if flags:
        dom.attachDeviceFlags(xml, flags)


def detach_everywhere(
    dom: libvirt.virDomain,
    key: str,
    elements: Callable[[str], dict[str, ET.Element]],
    timeout: float,
    label: str,
) -> None:
    """Detach the device that ``elements`` (a domain XML's devices by key) holds at ``key``
    from the definition and then the guest, polling the live XML until the guest released
    it; ``label`` names it in the error when it does not within ``timeout``."""
    config = elements(dom.XMLDesc(INACTIVE)).get(key)
    if config is not None:
        request_detach(dom, ET.tostring(config, encoding="unicode"), CONFIG)
    live = live_xml(dom)
    element = elements(live).get(key) if live is not None else None
    if element is None:
        return
    request_detach(dom, ET.tostring(element, encoding="unicode"), LIVE)
    deadline = time.monotonic() + timeout
    while (live := live_xml(dom)) is not None and key in elements(live):
        if time.monotonic() >= deadline:
            raise BackendUnavailable(f"guest {dom.name()} did not release {label} in {timeout}s")
        time.sleep(POLL_SECONDS)


def request_detach(dom: libvirt.virDomain, xml: str, flags: int) -> None:
    """One detach request (of a disk or a NIC); a device gone meanwhile or an unplug
    already pending is fine."""
    try:
        dom.detachDeviceFlags(xml, flags)
    except libvirt.libvirtError as exc:
        pending = "already in the process of unplug" in (exc.get_error_message() or "")
        if exc.get_error_code() != libvirt.VIR_ERR_DEVICE_MISSING and not pending:
            raise
