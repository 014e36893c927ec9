"""libvirt ``<interface>`` and config drive ``<disk>`` elements: pure functions, tested
without libvirt.

Choices that matter:
- A NIC is ``type='bridge'``: libvirt creates the tap named ``Nic.device`` and plugs it
  into an existing bridge that the network driver made; nothing else is asked of libvirt's
  own networks. The model is virtio, and ``<mtu>`` both sets the tap's MTU and tells the
  guest's virtio driver, so the guest is right even before DHCP answers.
- libvirt replaces tap names it reserves for itself (``vnet``, ``vif``, ``macvtap``,
  ``macvlan``) with generated ones, so such names are refused: the network driver must find
  a port's tap by the name it expects.
- The config drive is a read-only cdrom on IDE (``hdd``), so it never takes the virtio name
  (``vdb``...) that the next attached volume gets.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from activities.hypervisor.base import Nic
from activities.hypervisor.disk_xml import sub
from nimbus.errors import Conflict, InvalidSpec

MAC = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}", re.IGNORECASE)
#: Linux interface names: at most 15 characters; these keep them shell- and XML-safe.
IFNAME = re.compile(r"[A-Za-z0-9_.-]{1,15}")
RESERVED_TAP_PREFIXES = ("vnet", "vif", "macvtap", "macvlan")
MTU_RANGE = (68, 65535)
CONFIG_DRIVE_TARGET = "hdd"


def validate_nic(nic: Nic) -> None:
    """Reject a NIC libvirt would refuse or rename."""
    if not MAC.fullmatch(nic.mac):
        raise InvalidSpec(f"MAC address {nic.mac!r} is not six hex pairs like fa:16:3e:00:00:01")
    if int(nic.mac[:2], 16) & 1:
        raise InvalidSpec(f"MAC address {nic.mac} is a multicast address")
    for what, name in (("bridge", nic.bridge), ("device", nic.device)):
        if not IFNAME.fullmatch(name):
            raise InvalidSpec(f"NIC {what} {name!r}: 1 to 15 of [A-Za-z0-9_.-]")
    if nic.device.startswith(RESERVED_TAP_PREFIXES):
        raise InvalidSpec(f"NIC device {nic.device!r}: libvirt renames taps named like that")
    if not MTU_RANGE[0] <= nic.mtu <= MTU_RANGE[1]:
        raise InvalidSpec(f"NIC MTU {nic.mtu} is outside {MTU_RANGE}")


def validate_nics(nics: tuple[Nic, ...]) -> None:
    """Each NIC valid, and no MAC or tap device used twice."""
    for nic in nics:
        validate_nic(nic)
    macs = [nic.mac.lower() for nic in nics]
    devices = [nic.device for nic in nics]
    if len(set(macs)) != len(macs):
        raise InvalidSpec(f"two NICs share a MAC address: {macs}")
    if len(set(devices)) != len(devices):
        raise InvalidSpec(f"two NICs share a device name: {devices}")


def validate_config_drive(path: str | None) -> None:
    """A config drive is an absolute path (or absent)."""
    if path is not None and not path.startswith("/"):
        raise InvalidSpec(f"config drive path {path!r} is not absolute")


def nic_element(nic: Nic) -> ET.Element:
    """The ``<interface>`` element plugging ``nic`` into its bridge."""
    validate_nic(nic)
    el = ET.Element("interface", type="bridge")
    sub(el, "mac", address=nic.mac.lower())
    sub(el, "source", bridge=nic.bridge)
    sub(el, "target", dev=nic.device)
    sub(el, "model", type="virtio")
    sub(el, "mtu", size=str(nic.mtu))
    return el


def config_drive_element(path: str) -> ET.Element:
    """The read-only IDE cdrom holding the config drive ISO at ``path``."""
    validate_config_drive(path)
    el = ET.Element("disk", type="file", device="cdrom")
    sub(el, "driver", name="qemu", type="raw")
    sub(el, "source", file=path)
    sub(el, "target", dev=CONFIG_DRIVE_TARGET, bus="ide")
    sub(el, "readonly")
    return el


def parse_bridges(xml: str) -> list[str]:
    """The bridges a domain XML plugs NICs into, in device order."""
    sources = ET.fromstring(xml).findall("./devices/interface[@type='bridge']/source")
    return [source.get("bridge", "") for source in sources]


def nic_elements(xml: str) -> dict[str, ET.Element]:
    """A domain XML's ``<interface>`` elements by their MAC address (lower case)."""
    found = {}
    for el in ET.fromstring(xml).findall("./devices/interface"):
        mac = el.find("mac")
        if mac is not None and mac.get("address"):
            found[mac.get("address", "").lower()] = el
    return found


def parse_nics(xml: str) -> list[Nic]:
    """A domain XML's bridge NICs, in device order."""
    nics = []
    for mac, el in nic_elements(xml).items():
        source, target, mtu = el.find("source"), el.find("target"), el.find("mtu")
        nics.append(
            Nic(
                mac=mac,
                bridge=source.get("bridge", "") if source is not None else "",
                device=target.get("dev", "") if target is not None else "",
                mtu=int(mtu.get("size", "1450")) if mtu is not None else 1450,
            )
        )
    return nics


def is_plugged(nics: list[Nic], nic: Nic) -> bool:
    """Whether ``nic`` is already among ``nics`` (by MAC): the shared attach rule.

    Raises ``Conflict`` if its MAC is there on another bridge, or its tap device name is
    taken by another MAC: a guest seeing one address twice, or two NICs fighting over a tap.
    """
    mac = nic.mac.lower()
    for other in nics:
        if other.mac.lower() == mac and other.bridge != nic.bridge:
            raise Conflict(f"NIC {nic.mac} is already plugged into {other.bridge}")
        if other.mac.lower() != mac and other.device and other.device == nic.device:
            raise Conflict(f"tap {nic.device} belongs to NIC {other.mac}")
    return any(other.mac.lower() == mac for other in nics)
