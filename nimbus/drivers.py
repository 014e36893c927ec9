"""The real drivers a worker runs with, chosen from the settings."""

from __future__ import annotations

from activities.hypervisor.base import HypervisorDriver
from activities.hypervisor.libvirt_driver import LibvirtDriver
from activities.storage.base import DiskDriver
from activities.storage.qcow2 import QcowDiskDriver
from nimbus.config import Settings


def domain_type(settings: Settings) -> str:
    """``kvm`` only where ``nimbus up`` saw KVM really boot a guest, else ``qemu`` (TCG)."""
    if settings.domain_type != "auto":
        return settings.domain_type
    probed = settings.data_dir / "domain-type"
    return probed.read_text().strip() if probed.exists() else "qemu"


def real_drivers(settings: Settings) -> tuple[HypervisorDriver, DiskDriver]:
    hypervisor = LibvirtDriver(settings.libvirt_uri, domain_type(settings))
    return hypervisor, QcowDiskDriver(settings.instances_dir)
