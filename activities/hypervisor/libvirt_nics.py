"""NIC hot-plug on one libvirt domain, run by ``LibvirtDriver`` inside its error mapping.

By the same mechanism as disks (``libvirt_disks``), a NIC is attached or detached live
(if the domain runs) and in the persistent definition, each only where it is still
missing or present, so a retry completes a half-done earlier call; a shut off domain
only has its definition changed. NICs are known by their MAC address. A live detach is
asynchronous (the guest must release the device): ``detach`` polls the live XML until
the NIC is gone.
"""

from __future__ import annotations

import libvirt

from activities.hypervisor.base import Nic
from activities.hypervisor.libvirt_disks import attach_where_missing, detach_everywhere
from activities.hypervisor.nic_xml import is_plugged, nic_elements, parse_nics


def attach(dom: libvirt.virDomain, nic: Nic, xml: str) -> None:
    """Attach ``nic`` (as ``xml``) live and to the definition, wherever it is missing."""
    attach_where_missing(dom, xml, lambda domain: is_plugged(parse_nics(domain), nic))


def detach(dom: libvirt.virDomain, mac: str, timeout: float) -> None:
    """Detach the NIC with ``mac`` from the definition and, once released, the guest."""
    detach_everywhere(dom, mac.lower(), nic_elements, timeout, f"NIC {mac.lower()}")
