"""One network's DHCP server: namespace ``qdhcp-<network>``, a veth from it into the bridge,
and dnsmasq inside serving static leases from files under the driver's state directory."""

from __future__ import annotations

import ipaddress
import os
import shutil
import stat
from pathlib import Path

from pyroute2 import IPRoute

from activities.network import devices, dnsmasq, metadata_proxy, netns
from activities.network import dhcp_config as config
from activities.network.base import (
    METADATA_CIDR,
    DhcpSpec,
    bridge_name,
    dhcp_namespace,
    tap_name,
)
from activities.network.metadata_proxy import MetadataProxy, ProxyFiles


def dnsmasq_user(state_dir: Path) -> str:
    """dnsmasq drops to ``nobody``, which must re-read its files on SIGHUP: possible only if
    every directory above them lets others through; otherwise it keeps running as root."""
    directory = state_dir.resolve()
    for folder in (directory, *directory.parents):
        if not folder.stat().st_mode & stat.S_IXOTH:
            return "root"
    return "nobody"


def _write_if_changed(path: Path, text: str) -> bool:
    if path.exists() and path.read_text() == text:
        return False
    temporary = path.with_suffix(".tmp")
    temporary.write_text(text)
    temporary.chmod(0o644)
    os.replace(temporary, path)
    return True


def _inside(spec: DhcpSpec, mtu: int, metadata: bool) -> None:
    """In the namespace: the port's device (and no other ``ns-`` device) configured, with
    the metadata address too when the network has a metadata proxy."""
    wanted = config.device(spec.port_id)
    addresses = [ipaddress.ip_interface(a) for a in spec.addresses]
    if metadata:
        addresses.append(ipaddress.ip_interface(METADATA_CIDR))
    with IPRoute() as ipr:
        for name in devices.names(ipr):
            if name.startswith("ns-") and name != wanted:
                devices.delete(ipr, name)
        devices.configure(ipr, wanted, spec.mac, mtu, addresses)


def ensure(
    spec: DhcpSpec,
    files: config.DnsmasqFiles,
    binary: str,
    user: str,
    proxy: MetadataProxy | None = None,
) -> None:
    """Converge the namespace, the veth, dnsmasq and (with ``proxy``) the metadata proxy;
    reload dnsmasq if only its files changed, restart it if its command line changed or it
    is not running."""
    namespace = dhcp_namespace(spec.network_id)
    netns.create(namespace)
    tap = tap_name(spec.port_id)
    with IPRoute() as ipr:
        bridge = ipr.link("get", ifname=bridge_name(spec.network_id))[0]
        mtu = int(bridge.get_attr("IFLA_MTU"))
        devices.ensure_veth(ipr, tap, config.device(spec.port_id), namespace)
        devices.no_ipv6(tap)
        devices.plug(ipr, tap, int(bridge["index"]), mtu)
    netns.run_in(namespace, lambda: _inside(spec, mtu, proxy is not None))
    files.directory.mkdir(mode=0o755, parents=True, exist_ok=True)
    if proxy is not None:
        metadata_proxy.ensure(namespace, spec.network_id, proxy_files(files), proxy)
    else:
        metadata_proxy.stop(proxy_files(files))
    before = files.hosts.read_text() if files.hosts.exists() else ""
    changed = _write_if_changed(files.hosts, config.hosts_file(spec))
    opts = config.opts_file(spec, metadata=proxy is not None)
    changed = _write_if_changed(files.opts, opts) or changed
    argv = config.argv(spec, binary, files, user)
    pid = dnsmasq.running_pid(files)
    if pid is not None and (dnsmasq.cmdline(pid) != argv or _dropped(before, files.hosts)):
        dnsmasq.stop(files)
        pid = None
    if pid is None:
        dnsmasq.start(namespace, argv, files)
    elif changed:
        dnsmasq.reload(pid)


def proxy_files(files: config.DnsmasqFiles) -> ProxyFiles:
    """The metadata proxy's files, beside dnsmasq's."""
    return ProxyFiles(files.directory)


def _dropped(before: str, hosts: Path) -> bool:
    """Whether a lease left the hosts file. dnsmasq keeps the leases it handed out in memory
    across a reload, and will not give an address leased to a MAC that is gone to the new
    port that now has it: a restart (its leases are all static) forgets them."""
    return bool(set(before.splitlines()) - set(hosts.read_text().splitlines()))


def delete(network_id: str, files: config.DnsmasqFiles) -> None:
    """Stop dnsmasq and the metadata proxy, delete the veth (both ends) and the namespace,
    remove the files."""
    dnsmasq.stop(files)
    metadata_proxy.stop(proxy_files(files))
    namespace = dhcp_namespace(network_id)
    if netns.exists(namespace):
        netns.run_in(namespace, _delete_ports)
        netns.remove(namespace)
    shutil.rmtree(files.directory, ignore_errors=True)


def _delete_ports() -> None:
    with IPRoute() as ipr:
        for name in devices.names(ipr):
            if name.startswith("ns-"):
                devices.delete(ipr, name)


def running(network_id: str, files: config.DnsmasqFiles, metadata: bool = False) -> bool:
    """Whether the namespace exists and dnsmasq runs, and the metadata proxy when wanted."""
    return (
        netns.exists(dhcp_namespace(network_id))
        and dnsmasq.running_pid(files) is not None
        and (not metadata or metadata_proxy.running_pid(proxy_files(files)) is not None)
    )
