"""One router: namespace ``qrouter-<router>`` forwarding between its interfaces (``qr-``),
its gateway (``qg-``) with a default route out of it, and NAT in the namespace's own
``ip nat`` table. Each interface is a veth whose host end ``tap<id11>`` is on the bridge of
the interface's network."""

from __future__ import annotations

import ipaddress

from pyroute2 import IPRoute

from activities.network import devices, netns, nft
from activities.network.base import RouterPort, RouterSpec, bridge_name, router_namespace, tap_name
from activities.network.nft_nat import gateway_device, interface_device, nat_script

PREFIXES = ("qr-", "qg-")


def wanted_devices(spec: RouterSpec) -> dict[str, RouterPort]:
    """The namespace end of every port, by device name."""
    wanted = {interface_device(p.port_id): p for p in spec.interfaces}
    if spec.gateway is not None:
        wanted[gateway_device(spec.gateway.port_id)] = spec.gateway
    return wanted


def addresses(spec: RouterSpec, port: RouterPort) -> list[devices.Interface]:
    """A port's address, plus each floating IP as a /32 on the gateway (the router answers
    ARP for them on the external bridge)."""
    found: list[devices.Interface] = [ipaddress.ip_interface(port.address)]
    if port is spec.gateway:
        found += [ipaddress.ip_interface(f"{nat.floating_ip}/32") for nat in spec.floating]
    return found


def ensure(spec: RouterSpec) -> None:
    """Converge the namespace to ``spec``; the networks' bridges must exist."""
    namespace = router_namespace(spec.router_id)
    netns.create(namespace)
    netns.write_sysctl("net/ipv4/ip_forward", "1", namespace)
    wanted = wanted_devices(spec)
    netns.run_in(namespace, lambda: _drop_unwanted(set(wanted)))
    mtus: dict[str, int] = {}
    with IPRoute() as ipr:
        for name, port in wanted.items():
            bridge = ipr.link("get", ifname=bridge_name(port.network_id))[0]
            mtus[name] = int(bridge.get_attr("IFLA_MTU"))
            tap = tap_name(port.port_id)
            devices.ensure_veth(ipr, tap, name, namespace)
            devices.no_ipv6(tap)
            devices.plug(ipr, tap, int(bridge["index"]), mtus[name])
    netns.run_in(namespace, lambda: _inside(spec, wanted, mtus))
    nft.run(nat_script(spec), namespace)


def _drop_unwanted(wanted: set[str]) -> None:
    with IPRoute() as ipr:
        for name in devices.names(ipr):
            if name.startswith(PREFIXES) and name not in wanted:
                devices.delete(ipr, name)


def _inside(spec: RouterSpec, wanted: dict[str, RouterPort], mtus: dict[str, int]) -> None:
    with IPRoute() as ipr:
        for name, port in wanted.items():
            devices.configure(ipr, name, port.mac, mtus[name], addresses(spec, port))
        devices.sync_default_route(ipr, spec.gateway_ip if spec.gateway else None)


def delete(router_id: str) -> None:
    """Delete the router's veths (both ends) and its namespace; missing is success."""
    namespace = router_namespace(router_id)
    if netns.exists(namespace):
        netns.run_in(namespace, lambda: _drop_unwanted(set()))
        nft.forget(namespace)
        netns.remove(namespace)
