"""NIC hot-plug on one libvirt domain, run by ``LibvirtDriver`` inside its error mapping.

Like disks (``libvirt_disks``), a NIC is attached or detached live (if the domain runs)
and in the persistent definition, each only where it is still missing or present, so a
retry completes a half-done earlier call; a shut off domain only has its definition
changed. NICs are known by their MAC address. A live detach is asynchronous (the guest
must release the device): ``detach`` polls the live XML until the NIC is gone.
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET

import libvirt

from activities.hypervisor.base import Nic
from activities.hypervisor.libvirt_disks import (
    CONFIG,
    INACTIVE,
    LIVE,
    POLL_SECONDS,
    live_xml,
    request_detach,
)
from activities.hypervisor.nic_xml import is_plugged, nic_elements, parse_nics
from nimbus.errors import BackendUnavailable


def attach(dom: libvirt.virDomain, nic: Nic, xml: str) -> None:
    """Attach ``nic`` (as ``xml``) live and to the definition, wherever it is missing."""
    flags = 0
    live = live_xml(dom)
    if live is not None and not is_plugged(parse_nics(live), nic):
        flags |= LIVE
    if not is_plugged(parse_nics(dom.XMLDesc(INACTIVE)), nic):
        flags |= CONFIG
    if flags:
        dom.attachDeviceFlags(xml, flags)


def detach(dom: libvirt.virDomain, mac: str, timeout: float) -> None:
    """Detach the NIC with ``mac`` from the definition and, once released, the guest."""
    mac = mac.lower()
    config = nic_elements(dom.XMLDesc(INACTIVE)).get(mac)
    if config is not None:
        request_detach(dom, ET.tostring(config, encoding="unicode"), CONFIG)
    live = live_xml(dom)
    element = nic_elements(live).get(mac) if live is not None else None
    if element is None:
        return
    request_detach(dom, ET.tostring(element, encoding="unicode"), LIVE)
    deadline = time.monotonic() + timeout
    while (live := live_xml(dom)) is not None and mac in nic_elements(live):
        if time.monotonic() >= deadline:
            raise BackendUnavailable(f"guest {dom.name()} did not release NIC {mac} in {timeout}s")
        time.sleep(POLL_SECONDS)
