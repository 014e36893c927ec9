"""How a host reaches the Ceph cluster: a host's configuration that the hypervisor (QEMU
through librbd) and the services that set Ceph up both use, without either importing the
other."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class CephAccess:
    """How QEMU on this host reaches Ceph for ``rbd`` disks (host configuration).

    Attributes:
        monitors: ``host:port`` of each monitor.
        user: the cephx user without ``client.`` (e.g. ``admin``), or empty with cephx off.
        key: that user's secret key (base64), kept in a libvirt secret, never in the XML.
    """

    monitors: tuple[str, ...]
    user: str = ""
    #: Left out of ``repr`` so that a logged ``CephAccess`` never shows it.
    key: str = field(default="", repr=False)
