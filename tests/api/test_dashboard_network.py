"""The dashboard's network pages over the fake drivers: networks and subnets, routers,
floating IPs, security groups and the topology picture, each change made through the
pages and read back through the networking API; what a reader and another project see;
the API's refusals shown next to the form that caused them."""

from __future__ import annotations

import html
import re
from typing import Any

from flask.testing import FlaskClient

from dashboard.network_topology import COLUMN, HEIGHT, Item, Topology, layout
from tests.api.test_dashboard_app import csrf, sign_in, web
from tests.support.neutron import Neutron
from tests.support.paas import stack
from tests.support.stack import Stack
from workflows.common import server_workflow_id

__all__ = ["stack", "web"]


def post(web: FlaskClient, url: str, **form: str) -> Any:
    """Send a page's form (with the session's CSRF token); answers a redirect."""
    response = web.post(url, data={"csrf": csrf(web), **form})
    assert response.status_code == 302, response.get_data(as_text=True)
    return response


def alert(web: FlaskClient, response: Any) -> str:
    """The refusal the page a form went back to shows (empty if none)."""
    page = web.get(response.headers["Location"]).get_data(as_text=True)
    found = re.search(r'<p class="error" role="alert">(.*?)</p>', page, re.S)
    return html.unescape(found.group(1)) if found else ""


def main(web: FlaskClient, url: str) -> str:
    """The page's own content, without the header's and the navigation's forms."""
    response = web.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return response.get_data(as_text=True).split("<main>", 1)[1]


def public(stack: Stack) -> dict[str, Any]:
    """The cloud's external network, made by the admin, with a subnet for addresses."""
    admin = Neutron(stack, "admin")
    external = admin.network("public", **{"router:external": True})
    admin.subnet(external["id"], "172.24.4.0/24", enable_dhcp=False)
    return external


def boot_on(stack: Stack, name: str, network_id: str) -> str:
    """A server of alice's with a port on the network."""
    spec = {"name": name, "flavorRef": "1", "imageRef": stack.image_id()}
    body = {"server": {**spec, "networks": [{"uuid": network_id}]}}
    headers = {"X-Auth-Token": stack.token("alice")}
    response = stack.client.post("/compute/v2.1/servers", json=body, headers=headers)
    assert response.status_code == 202, response.json
    server_id = str(response.json["server"]["id"])
    stack.finish(server_workflow_id(server_id, "boot"))
    return server_id


def named(api: Neutron, collection: str, name: str) -> list[dict[str, Any]]:
    key = collection.replace("-", "_")
    return [i for i in api.get(collection).json[key] if i["name"] == name]


# -- networks and subnets ----------------------------------------------------------------


def test_a_network_made_with_its_first_subnet_gets_another_and_is_deleted(
    web: FlaskClient, stack: Stack
) -> None:
    alice = Neutron(stack, "alice")
    sign_in(web, "alice")
    made = post(
        web, "/networks", name="blue", subnet_name="first", cidr="10.1.0.0/24", no_gateway="1"
    )  # no "dhcp": its box left unticked
    (network,) = named(alice, "networks", "blue")
    assert made.headers["Location"] == f"/networks/{network['id']}"
    (subnet,) = alice.get("subnets", network_id=network["id"]).json["subnets"]
    assert (subnet["name"], subnet["cidr"]) == ("first", "10.1.0.0/24")
    assert subnet["gateway_ip"] is None and subnet["enable_dhcp"] is False
    listed = main(web, "/networks")
    assert "blue" in listed and "10.1.0.0/24" in listed

    post(
        web,
        f"/networks/{network['id']}/subnets",
        subnet_name="second",
        cidr="10.1.1.0/24",
        gateway_ip="10.1.1.254",
        dhcp="1",
    )
    second = alice.get("subnets", name="second").json["subnets"][0]
    assert second["gateway_ip"] == "10.1.1.254" and second["enable_dhcp"] is True
    page = main(web, f"/networks/{network['id']}")
    assert "10.1.1.0/24" in page and "10.1.1.254" in page
    assert "DHCP" in page  # the network's DHCP port, listed among its ports

    post(web, f"/networks/{network['id']}/subnets/{subnet['id']}/delete")
    left = alice.get("subnets", network_id=network["id"]).json["subnets"]
    assert [s["cidr"] for s in left] == ["10.1.1.0/24"]
    post(web, f"/networks/{network['id']}/delete")
    assert alice.get(f"networks/{network['id']}").status_code == 404
    assert "blue" not in main(web, "/networks")


def test_an_invalid_cidr_is_refused_with_the_apis_message_and_leaves_no_network(
    web: FlaskClient, stack: Stack
) -> None:
    alice = Neutron(stack, "alice")
    sign_in(web, "alice")
    refused = post(web, "/networks", name="bad", cidr="10.1.0.0/33", dhcp="1")
    message = alert(web, refused)
    assert "10.1.0.0/33" in message and "The network was not kept." in message
    assert named(alice, "networks", "bad") == []


def test_an_overlapping_subnet_is_refused_with_the_apis_message(
    web: FlaskClient, stack: Stack
) -> None:
    alice = Neutron(stack, "alice")
    network = alice.network("blue")
    alice.subnet(network["id"], "10.2.0.0/24")
    sign_in(web, "alice")
    refused = post(web, f"/networks/{network['id']}/subnets", cidr="10.2.0.128/25", dhcp="1")
    assert refused.headers["Location"].startswith(f"/networks/{network['id']}?error=")
    assert "overlaps with another subnet" in alert(web, refused)
    assert len(alice.get("subnets", network_id=network["id"]).json["subnets"]) == 1


def test_deleting_a_network_in_use_shows_the_apis_message_and_keeps_it(
    web: FlaskClient, stack: Stack
) -> None:
    alice = Neutron(stack, "alice")
    network = alice.network("busy")
    alice.subnet(network["id"])
    alice.port(network["id"])
    sign_in(web, "alice")
    refused = post(web, f"/networks/{network['id']}/delete")
    assert "ports still in use on the network" in alert(web, refused)
    assert alice.get(f"networks/{network['id']}").status_code == 200


def test_another_projects_external_network_is_listed_without_a_delete_button(
    web: FlaskClient, stack: Stack
) -> None:
    external = public(stack)
    own = Neutron(stack, "alice").network("blue")
    sign_in(web, "alice")
    listed = main(web, "/networks")
    assert "public" in listed and "blue" in listed
    assert f"/networks/{own['id']}/delete" in listed
    assert f"/networks/{external['id']}/delete" not in listed
    assert "<form" not in main(web, f"/networks/{external['id']}")


# -- routers -----------------------------------------------------------------------------


def test_a_router_is_made_joined_to_a_subnet_its_gateway_changed_and_deleted(
    web: FlaskClient, stack: Stack
) -> None:
    external, alice = public(stack), Neutron(stack, "alice")
    network = alice.network("blue")
    subnet = alice.subnet(network["id"], "10.3.0.0/24")
    sign_in(web, "alice")
    made = post(web, "/routers", name="edge", network_id=external["id"])
    (router,) = named(alice, "routers", "edge")
    assert made.headers["Location"] == f"/routers/{router['id']}"
    assert router["external_gateway_info"]["network_id"] == external["id"]
    path = f"/routers/{router['id']}"

    assert subnet["id"] in main(web, path)  # offered to join
    post(web, f"{path}/interfaces", subnet_id=subnet["id"])
    (port,) = alice.get("ports", device_id=router["id"]).json["ports"]
    assert port["fixed_ips"][0]["ip_address"] == "10.3.0.1"
    interfaces = main(web, path).split('id="interfaces"', 1)[1]
    assert "10.3.0.1" in interfaces and "10.3.0.0/24" in interfaces
    assert "10.3.0.1 on" in main(web, "/routers")

    post(web, f"{path}/gateway/clear")
    assert alice.get(f"routers/{router['id']}").json["router"]["external_gateway_info"] is None
    post(web, f"{path}/gateway", network_id=external["id"])
    gateway = alice.get(f"routers/{router['id']}").json["router"]["external_gateway_info"]
    assert gateway["network_id"] == external["id"]
    assert "172.24.4." in main(web, path).split('id="gateway"', 1)[1].split("</dd>", 1)[0]

    refused = post(web, f"{path}/delete")
    assert "still has ports" in alert(web, refused)
    post(web, f"{path}/interfaces/{port['id']}/remove")
    assert alice.get("ports", device_id=router["id"]).json["ports"] == []
    post(web, f"{path}/delete")
    assert alice.get(f"routers/{router['id']}").status_code == 404


# -- floating IPs ------------------------------------------------------------------------


def test_a_floating_ip_is_allocated_associated_disassociated_and_released(
    web: FlaskClient, stack: Stack
) -> None:
    external, alice = public(stack), Neutron(stack, "alice")
    network = alice.network("blue")
    subnet = alice.subnet(network["id"], "10.4.0.0/24")
    router = alice.make("router", name="r", external_gateway_info={"network_id": external["id"]})
    assert alice.put(f"routers/{router['id']}/add_router_interface", {"subnet_id": subnet["id"]})
    server_id = boot_on(stack, "web-1", network["id"])
    sign_in(web, "alice")

    post(web, "/floating-ips", network_id=external["id"])
    (fip,) = alice.get("floatingips").json["floatingips"]
    page = main(web, "/floating-ips")
    assert fip["floating_ip_address"] in page
    target = re.search(r'<option value="([^"|]+\|10\.4\.0\.\d+)">web-1 ', page)
    assert target, page
    post(web, f"/floating-ips/{fip['id']}/associate", target=target.group(1))
    (port,) = alice.get("ports", device_id=server_id).json["ports"]
    assert alice.get(f"floatingips/{fip['id']}").json["floatingip"]["port_id"] == port["id"]
    page = main(web, "/floating-ips")
    assert f'<a href="/servers/{server_id}">web-1</a>' in page
    assert port["fixed_ips"][0]["ip_address"] in page

    post(web, f"/floating-ips/{fip['id']}/disassociate")
    assert alice.get(f"floatingips/{fip['id']}").json["floatingip"]["port_id"] is None
    post(web, f"/floating-ips/{fip['id']}/release")
    assert alice.get("floatingips").json["floatingips"] == []


def test_a_refused_association_shows_the_apis_message(web: FlaskClient, stack: Stack) -> None:
    external, alice = public(stack), Neutron(stack, "alice")
    network = alice.network("unrouted")
    alice.subnet(network["id"], "10.5.0.0/24")
    boot_on(stack, "lonely", network["id"])
    fip = alice.make("floatingip", floating_network_id=external["id"])
    sign_in(web, "alice")
    target = re.search(r'<option value="([^"]+)">lonely ', main(web, "/floating-ips"))
    assert target
    refused = post(web, f"/floating-ips/{fip['id']}/associate", target=target.group(1))
    assert "is not reachable from subnet" in alert(web, refused)
    assert alice.get(f"floatingips/{fip['id']}").json["floatingip"]["port_id"] is None


# -- security groups ---------------------------------------------------------------------


def test_a_security_group_and_its_rules_are_made_and_deleted(
    web: FlaskClient, stack: Stack
) -> None:
    alice = Neutron(stack, "alice")
    sign_in(web, "alice")
    made = post(web, "/security-groups", name="web", description="for the web servers")
    (group,) = named(alice, "security-groups", "web")
    path = f"/security-groups/{group['id']}"
    assert made.headers["Location"] == path
    (default,) = named(alice, "security-groups", "default")

    post(
        web,
        f"{path}/rules",
        direction="ingress",
        protocol="tcp",
        port_range_min="22",
        port_range_max="22",
        remote_ip_prefix="10.0.0.0/8",
    )
    post(
        web,
        f"{path}/rules",
        direction="ingress",
        protocol="udp",
        port_range_min="5000",
        port_range_max="5010",
        remote_group_id=default["id"],
    )
    rules = alice.get("security-group-rules", security_group_id=group["id"]).json
    ssh = [r for r in rules["security_group_rules"] if r["protocol"] == "tcp"]
    assert [(r["port_range_min"], r["remote_ip_prefix"]) for r in ssh] == [(22, "10.0.0.0/8")]
    table = main(web, path).split('id="rules"', 1)[1].split("</table>", 1)[0]
    assert re.search(r"<td>ingress</td>\s*<td>IPv4</td>\s*<td>tcp</td>\s*<td>22</td>", table)
    assert "<code>10.0.0.0/8</code>" in table and "5000-5010" in table
    assert f'group <a href="/security-groups/{default["id"]}">default</a>' in table

    post(web, f"{path}/rules/{ssh[0]['id']}/delete")
    assert alice.get(f"security-group-rules/{ssh[0]['id']}").status_code == 404
    post(web, f"{path}/delete")
    assert alice.get(f"security-groups/{group['id']}").status_code == 404


def test_a_refused_rule_shows_the_apis_message(web: FlaskClient, stack: Stack) -> None:
    alice = Neutron(stack, "alice")
    group = alice.make("security_group", name="web")
    path = f"/security-groups/{group['id']}"
    sign_in(web, "alice")
    too_high = post(
        web, f"{path}/rules", direction="ingress", protocol="tcp", port_range_min="70000"
    )
    assert "Invalid value for port_range_min: '70000'" in alert(web, too_high)
    both = post(
        web,
        f"{path}/rules",
        direction="ingress",
        protocol="any",
        remote_ip_prefix="10.0.0.0/8",
        remote_group_id=group["id"],
    )
    assert "Only remote_ip_prefix or remote_group_id may be provided." in alert(web, both)
    rules = alice.get("security-group-rules", security_group_id=group["id"]).json
    assert all(r["direction"] == "egress" for r in rules["security_group_rules"])


def test_the_default_groups_rules_change_but_the_group_stays(
    web: FlaskClient, stack: Stack
) -> None:
    alice = Neutron(stack, "alice")
    sign_in(web, "alice")
    listed = main(web, "/security-groups")
    (default,) = named(alice, "security-groups", "default")
    path = f"/security-groups/{default['id']}"
    assert f"{path}/delete" not in listed and f"{path}/delete" not in main(web, path)
    rules = default["security_group_rules"]
    post(web, f"{path}/rules/{rules[0]['id']}/delete")
    post(web, f"{path}/rules", direction="ingress", protocol="icmp")
    after = alice.get(f"security-groups/{default['id']}").json["security_group"]
    ids = {r["id"] for r in after["security_group_rules"]}
    assert rules[0]["id"] not in ids and len(ids) == len(rules)
    assert "icmp" in main(web, path)
    refused = post(web, f"{path}/delete")
    assert "removing default security group" in alert(web, refused)


# -- topology ----------------------------------------------------------------------------


def test_the_topology_draws_routers_joined_to_their_networks_and_servers_under_theirs(
    web: FlaskClient, stack: Stack
) -> None:
    external, alice = public(stack), Neutron(stack, "alice")
    blue, green = alice.network("blue"), alice.network("green")
    alice.network("lone")
    router = alice.make("router", name="r", external_gateway_info={"network_id": external["id"]})
    for network, cidr in ((blue, "10.6.0.0/24"), (green, "10.7.0.0/24")):
        subnet = alice.subnet(network["id"], cidr)
        assert alice.put(
            f"routers/{router['id']}/add_router_interface", {"subnet_id": subnet["id"]}
        )
    on_blue, on_green = boot_on(stack, "app-1", blue["id"]), boot_on(stack, "db-1", green["id"])
    sign_in(web, "alice")
    page = main(web, "/topology")
    assert "<svg" in page and "style=" not in page

    links = re.findall(
        r'class="topo-link topo-interface" data-from="([^"]+)" data-to="([^"]+)"', page
    )
    assert sorted(links) == sorted([(router["id"], blue["id"]), (router["id"], green["id"])])
    gateway = (
        f'class="topo-link topo-gateway" data-from="{router["id"]}" data-to="{external["id"]}"'
    )
    assert gateway in page
    servers = dict(
        re.findall(r'class="topo-node topo-server" data-id="([^"]+)" data-network="([^"]+)"', page)
    )
    assert servers == {on_blue: blue["id"], on_green: green["id"]}
    for href in (
        f"/servers/{on_blue}",
        f"/routers/{router['id']}",
        f"/networks/{blue['id']}",
        f"/networks/{external['id']}",
    ):
        assert f'href="{href}"' in page, href
    assert "10.6.0.0/24" in page and "10.7.0.0/24" in page and "app-1" in page
    # Networks by name, left to right: blue, green, lone.
    xs = re.findall(
        r'topo-network" data-id="([^"]+)" href="[^"]+">\s*<title>[^<]*</title>\s*<rect x="(\d+)"',
        page,
    )
    assert [network_id for network_id, _ in sorted(xs, key=lambda p: int(p[1]))][:2] == [
        blue["id"],
        green["id"],
    ]


def test_an_admins_topology_leaves_out_the_servers_it_cannot_name(
    web: FlaskClient, stack: Stack
) -> None:
    admin = Neutron(stack, "admin")
    shared = admin.network("common", shared=True)
    admin.subnet(shared["id"], "10.8.0.0/24")
    alices = boot_on(stack, "alices", shared["id"])
    sign_in(web, "admin")
    page = main(web, "/topology")
    assert f'data-id="{shared["id"]}"' in page and "10.8.0.0/24" in page
    assert alices not in page and "topo-server" not in page


def test_the_layout_places_each_row_by_order_and_joins_what_is_joined() -> None:
    topology = Topology(
        externals=[Item("ext", "public")],
        routers=[Item("r1", "r1")],
        networks=[Item("n1", "a", "10.0.0.0/24"), Item("n2", "b", "10.1.0.0/24")],
        gateways=[("r1", "ext")],
        interfaces=[("r1", "n1"), ("r1", "n2"), ("r1", "gone")],
        servers={"n1": [Item("s1", "one"), Item("s2", "two")]},
    )
    picture = layout(topology)
    nodes = {(n.kind, n.id): n for n in picture.nodes}
    n1, n2 = nodes["network", "n1"], nodes["network", "n2"]
    assert n2.x - n1.x == COLUMN and n1.y == n2.y
    s1, s2 = nodes["server", "s1"], nodes["server", "s2"]
    assert s1.center == s2.center == n1.center and n1.y + HEIGHT < s1.y < s2.y
    interfaces = [(e.target, e.x2, e.y2) for e in picture.edges if e.kind == "interface"]
    assert interfaces == [("n1", n1.center, n1.y), ("n2", n2.center, n2.y)]
    (gateway,) = [e for e in picture.edges if e.kind == "gateway"]
    assert gateway.y2 == nodes["external", "ext"].y + HEIGHT
    assert picture.height > s2.y + s2.height and picture.width >= 2 * COLUMN


# -- who sees what -----------------------------------------------------------------------


def test_a_reader_sees_every_page_but_no_form(web: FlaskClient, stack: Stack) -> None:
    external, alice = public(stack), Neutron(stack, "alice")
    network = alice.network("blue")
    alice.subnet(network["id"])
    router = alice.make("router", name="r", external_gateway_info={"network_id": external["id"]})
    alice.make("floatingip", floating_network_id=external["id"])
    group = alice.make("security_group", name="web")
    sign_in(web, "rita")
    for url in (
        "/networks",
        f"/networks/{network['id']}",
        "/routers",
        f"/routers/{router['id']}",
        "/floating-ips",
        "/security-groups",
        f"/security-groups/{group['id']}",
        "/topology",
    ):
        page = main(web, url)
        assert "<form" not in page and "csrf" not in page, url
    assert "blue" in main(web, "/networks") and "web" in main(web, "/security-groups")


def test_another_projects_network_router_and_group_are_not_found(
    web: FlaskClient, stack: Stack
) -> None:
    alice = Neutron(stack, "alice")
    network = alice.network("blue")
    router = alice.make("router", name="r")
    group = alice.make("security_group", name="web")
    sign_in(web, "bob")
    for url in (
        f"/networks/{network['id']}",
        f"/routers/{router['id']}",
        f"/security-groups/{group['id']}",
    ):
        response = web.get(url)
        assert response.status_code == 404 and "Not found" in response.get_data(as_text=True)
    refused = web.post(f"/networks/{network['id']}/delete", data={"csrf": csrf(web)})
    assert refused.status_code == 404
    assert alice.get(f"networks/{network['id']}").status_code == 200
    assert "blue" not in main(web, "/networks") and "blue" not in main(web, "/topology")
