"""The real drivers a worker runs with, chosen from the settings."""

from __future__ import annotations

from dataclasses import dataclass

from activities.hypervisor.base import HypervisorDriver
from activities.hypervisor.libvirt_driver import LibvirtDriver
from activities.storage.base import DiskDriver
from activities.storage.block import BlockStore
from activities.storage.qcow2 import QcowDiskDriver
from nimbus.config import Settings


def domain_type(settings: Settings) -> str:
    """``kvm`` only where ``nimbus up`` saw KVM really boot a guest, else ``qemu`` (TCG)."""
    if settings.domain_type != "auto":
        return settings.domain_type
    probed = settings.data_dir / "domain-type"
    return probed.read_text().strip() if probed.exists() else "qemu"


@dataclass(frozen=True)
class HostDrivers:
    """The drivers one host's activities work through."""

    hypervisor: HypervisorDriver
    disks: DiskDriver
    store: BlockStore


def real_drivers(settings: Settings) -> HostDrivers:
    hypervisor = LibvirtDriver(settings.libvirt_uri, domain_type(settings))
    return HostDrivers(
        hypervisor, QcowDiskDriver(settings.instances_dir), real_block_store(settings)
    )


def real_block_store(settings: Settings) -> BlockStore:
    """The Ceph RBD store: Nimbus's own cluster, or the one ``NIMBUS_CEPH_CONF`` names."""
    from activities.storage.rbd_store import RbdBlockStore

    return RbdBlockStore(settings.ceph_conf_path, settings.ceph_keyring_path, settings.ceph_client)
