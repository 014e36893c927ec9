"""The real drivers a worker runs with, chosen from the settings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from activities.network.base import NetworkDriver
from activities.objectstore.base import ObjectStoreAdmin
from activities.storage.block import BlockStore
from launcher.services.ceph_conf import ceph_access
from nimbus.config import Settings
from paas.droplets import DropletWriter, RuntimeDropletWriter
from paas.router.base import Router

if TYPE_CHECKING:  # libvirt is loaded by the processes that drive a hypervisor only
    from activities.hypervisor.base import HypervisorDriver


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
    store: BlockStore
    network: NetworkDriver
    #: The object store's users and S3 keys.
    object_store: ObjectStoreAdmin
    #: The PaaS router, on the host that runs it (its worker polls the router's queue).
    router: Router | None = None
    #: Writes droplets into bootable disks, on hosts that stage apps.
    droplets: DropletWriter | None = None


def real_drivers(settings: Settings) -> HostDrivers:
    """libvirt with QEMU reaching Ceph through librbd (cephx key in a libvirt secret), and
    the Linux network data plane."""
    from activities.hypervisor.libvirt_driver import LibvirtDriver

    access = ceph_access(
        Path(settings.ceph_conf_path), Path(settings.ceph_keyring_path), settings.ceph_client
    )
    hypervisor = LibvirtDriver(settings.libvirt_uri, domain_type(settings), ceph=access)
    return HostDrivers(
        hypervisor,
        real_block_store(settings),
        real_network(settings),
        real_object_store(settings),
        # A compute-only host neither routes apps nor stages them.
        real_router(settings) if settings.control_worker else None,
        RuntimeDropletWriter(lambda: runtime_image(settings)) if settings.control_worker else None,
    )


def real_router(settings: Settings) -> Router:
    """The HAProxy that ``nimbus up`` runs from the PaaS folder."""
    from paas.router.haproxy import HaproxyRouter

    return HaproxyRouter(settings.paas_dir / "router")


def runtime_image_path(settings: Settings) -> Path:
    """Where this host keeps the PaaS runtime image it builds droplets from."""
    return settings.data_dir / "cache" / "paas-runtime.raw"


def postgresql_image_path(settings: Settings) -> Path:
    """Where this host keeps the PostgreSQL service's image."""
    return settings.data_dir / "cache" / "paas-postgresql.raw"


def runtime_image(settings: Settings) -> Path:
    """The PaaS runtime image, built offline from Debian packages the first time."""
    from paas.runtime import build_runtime_image

    cache = settings.data_dir / "cache"
    return build_runtime_image(runtime_image_path(settings), cache / "guest-build")


def real_object_store(settings: Settings) -> ObjectStoreAdmin:
    """The RADOS Gateway users of the configured Ceph cluster, through ``radosgw-admin``."""
    from activities.objectstore.radosgw_admin import RadosGatewayAdmin

    return RadosGatewayAdmin(
        settings.ceph_conf_path,
        settings.ceph_keyring_path,
        settings.ceph_client,
        s3_endpoint=settings.s3_endpoint,
    )


def real_network(settings: Settings) -> NetworkDriver:
    """Linux bridges, VXLAN, namespaces, dnsmasq and nftables on this host."""
    from activities.network.linux import LinuxNetworkDriver
    from activities.network.metadata_proxy import MetadataProxy

    return LinuxNetworkDriver(
        settings.network_dir,
        table=settings.nft_table,
        metadata=MetadataProxy(settings.metadata_socket),
    )


def real_block_store(settings: Settings) -> BlockStore:
    """The Ceph RBD store: Nimbus's own cluster, or the one ``NIMBUS_CEPH_CONF`` names."""
    from activities.storage.rbd_store import RbdBlockStore

    return RbdBlockStore(settings.ceph_conf_path, settings.ceph_keyring_path, settings.ceph_client)
