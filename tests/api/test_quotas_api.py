"""Quotas and limits in Nova's, Cinder's and Neutron's shapes, and their enforcement:
a create past a limit answers the service's own error and changes nothing."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from nimbus.db import Server, Volume
from nimbus.db_network import FloatingIP, Network, Port
from tests.support.neutron import Neutron, count, error_type
from tests.support.stack import Stack

NOVA = "/compute/v2.1"


class Caller:
    """One user's token and project, with the three services' quota paths."""

    def __init__(self, stack: Stack, user: str) -> None:
        self.stack = stack
        self.h = {"X-Auth-Token": stack.token(user)}
        self.project_id = str(stack.token_info(self.h["X-Auth-Token"])["project"]["id"])
        self.cinder = f"/volume/v3/{self.project_id}"

    def get(self, path: str) -> Any:
        return self.stack.client.get(path, headers=self.h)

    def put(self, path: str, body: dict[str, Any]) -> Any:
        return self.stack.client.put(path, json=body, headers=self.h)

    def delete(self, path: str) -> Any:
        return self.stack.client.delete(path, headers=self.h)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self.stack.client.post(path, json=body, headers=self.h)

    def server(self, flavor: str = "1") -> Any:
        body = {"server": {"name": "vm", "flavorRef": flavor, "imageRef": self.stack.image_id()}}
        return self.post(f"{NOVA}/servers", body)

    def volume(self, size: int = 1) -> Any:
        return self.post(f"{self.cinder}/volumes", {"volume": {"size": size}})


@pytest.fixture
def alice(stack: Stack) -> Caller:
    return Caller(stack, "alice")


@pytest.fixture
def admin(stack: Stack) -> Caller:
    return Caller(stack, "admin")


def _set(admin: Caller, project_id: str, **limits: int) -> None:
    """Set a project's limits through the service each resource belongs to."""
    nova = {k: v for k, v in limits.items() if k in ("instances", "cores", "ram")}
    cinder = {k: v for k, v in limits.items() if k in ("volumes", "gigabytes", "snapshots")}
    neutron = {k: v for k, v in limits.items() if k not in nova and k not in cinder}
    for path, key, values in (
        (f"{NOVA}/os-quota-sets/{project_id}", "quota_set", nova),
        (f"{admin.cinder}/os-quota-sets/{project_id}", "quota_set", cinder),
        (f"/networking/v2.0/quotas/{project_id}", "quota", neutron),
    ):
        if values:
            assert admin.put(path, {key: values}).status_code == 200


def test_nova_quota_set_shows_defaults_with_novas_keys(alice: Caller) -> None:
    r = alice.get(f"{NOVA}/os-quota-sets/{alice.project_id}")
    assert r.status_code == 200
    quota_set = r.json["quota_set"]
    assert quota_set["id"] == alice.project_id
    assert (quota_set["instances"], quota_set["cores"], quota_set["ram"]) == (10, 20, 51200)
    assert quota_set["key_pairs"] == 100 and quota_set["floating_ips"] == 50
    defaults = alice.get(f"{NOVA}/os-quota-sets/{alice.project_id}/defaults").json["quota_set"]
    assert defaults == quota_set


def test_admin_sets_then_reverts_a_nova_quota(admin: Caller, alice: Caller) -> None:
    path = f"{NOVA}/os-quota-sets/{alice.project_id}"
    r = admin.put(path, {"quota_set": {"instances": 3, "cores": "40", "force": True}})
    assert r.status_code == 200 and "id" not in r.json["quota_set"]
    assert (r.json["quota_set"]["instances"], r.json["quota_set"]["cores"]) == (3, 40)
    assert alice.get(path).json["quota_set"]["instances"] == 3
    assert admin.delete(path).status_code == 202
    assert alice.get(path).json["quota_set"]["instances"] == 10


def test_detail_and_limits_count_what_the_project_uses(alice: Caller) -> None:
    assert alice.server(flavor="3").status_code == 202
    detail = alice.get(f"{NOVA}/os-quota-sets/{alice.project_id}/detail").json["quota_set"]
    assert detail["instances"] == {"in_use": 1, "limit": 10, "reserved": 0}
    assert detail["cores"]["in_use"] == 2 and detail["ram"]["in_use"] == 4096
    limits = alice.get(f"{NOVA}/limits").json["limits"]
    assert limits["rate"] == []
    absolute = limits["absolute"]
    assert absolute["maxTotalInstances"] == 10 and absolute["totalInstancesUsed"] == 1
    assert absolute["maxTotalCores"] == 20 and absolute["totalCoresUsed"] == 2
    assert absolute["maxTotalRAMSize"] == 51200 and absolute["totalRAMUsed"] == 4096


def test_policy_member_reads_own_reader_too_but_only_admin_sets_or_sees_others(
    stack: Stack, alice: Caller, admin: Caller
) -> None:
    rita, bob = Caller(stack, "rita"), Caller(stack, "bob")
    own = f"{NOVA}/os-quota-sets/{alice.project_id}"
    assert rita.get(own).status_code == 200
    other = bob.get(own)
    assert other.status_code == 403 and "forbidden" in other.json
    assert bob.get(f"/networking/v2.0/quotas/{alice.project_id}").status_code == 403
    assert bob.get(f"{NOVA}/limits?tenant_id={alice.project_id}").status_code == 403
    refused = alice.put(own, {"quota_set": {"instances": 50}})
    assert refused.status_code == 403
    assert alice.delete(own).status_code == 403
    assert admin.get(own).status_code == 200
    assert alice.get(own).json["quota_set"]["instances"] == 10


@pytest.mark.parametrize(
    "values",
    [
        {"instances": "many"},
        {"instances": -2},
        {"instances": 2**31},
        {"instances": 1.5},
        {"instances": True},
        {"bogus": 1},
        {"key_pairs": 5},
        {"volumes": 5},
    ],
)
def test_bad_quota_updates_are_400_and_change_nothing(
    admin: Caller, alice: Caller, values: dict[str, Any]
) -> None:
    path = f"{NOVA}/os-quota-sets/{alice.project_id}"
    r = admin.put(path, {"quota_set": values})
    assert r.status_code == 400 and "badRequest" in r.json
    assert alice.get(path).json["quota_set"]["instances"] == 10


def test_limit_below_usage_is_refused_unless_forced(admin: Caller, alice: Caller) -> None:
    assert alice.server().status_code == 202
    path = f"{NOVA}/os-quota-sets/{alice.project_id}"
    r = admin.put(path, {"quota_set": {"instances": 0}})
    assert r.status_code == 400 and "already used and reserved 1" in r.json["badRequest"]["message"]
    assert admin.put(path, {"quota_set": {"instances": 0, "force": True}}).status_code == 200


def test_unknown_project_cannot_get_a_quota(admin: Caller) -> None:
    r = admin.put(f"{NOVA}/os-quota-sets/nope", {"quota_set": {"instances": 1}})
    assert r.status_code == 400


def _servers(stack: Stack) -> int:
    return count(stack, Server)[0]


@pytest.mark.parametrize(
    ("limits", "flavor", "message"),
    [
        ({"instances": 1}, "1", "Requested 1, but already used 1 of 1 instances"),
        ({"cores": 2}, "3", "Requested 2, but already used 2 of 2 cores"),
        ({"ram": 512}, "1", "Requested 512, but already used 512 of 512 ram"),
    ],
)
def test_server_over_quota_is_novas_403_and_changes_nothing(
    admin: Caller, alice: Caller, limits: dict[str, int], flavor: str, message: str
) -> None:
    _set(admin, alice.project_id, **limits)
    assert alice.server(flavor).status_code == 202
    before = _servers(alice.stack)
    r = alice.server(flavor)
    assert r.status_code == 403
    assert r.json["forbidden"]["message"].endswith(message)
    assert _servers(alice.stack) == before


def test_instances_message_is_novas_exactly(admin: Caller, alice: Caller) -> None:
    _set(admin, alice.project_id, instances=0)
    r = alice.server()
    assert r.json == {
        "forbidden": {
            "code": 403,
            "message": "Quota exceeded for instances: Requested 1, but already used 0 of 0"
            " instances",
        }
    }


def test_server_ports_count_against_the_port_quota(admin: Caller, alice: Caller) -> None:
    neutron = Neutron(alice.stack, "alice")
    network = neutron.network("n")
    neutron.subnet(network["id"])
    _set(admin, alice.project_id, port=0)
    body = {
        "server": {
            "name": "vm",
            "flavorRef": "1",
            "imageRef": alice.stack.image_id(),
            "networks": [{"uuid": network["id"]}],
        }
    }
    before = count(alice.stack, Server, Port)
    r = alice.post(f"{NOVA}/servers", body)
    assert r.status_code == 403 and "port" in r.json["forbidden"]["message"]
    with alice.stack.db.session() as s:
        live = s.query(Server).filter(Server.deleted_at.is_(None)).count()
    assert live == 0 and count(alice.stack, Port) == before[1:]


def test_cinder_quota_set_usage_and_limits(admin: Caller, alice: Caller) -> None:
    assert alice.volume(size=2).status_code == 202
    base = f"{alice.cinder}/os-quota-sets/{alice.project_id}"
    plain = alice.get(base).json["quota_set"]
    assert (plain["volumes"], plain["gigabytes"], plain["snapshots"]) == (10, 1000, 10)
    assert plain["backups"] == 10 and plain["id"] == alice.project_id
    used = alice.get(f"{base}?usage=true").json["quota_set"]
    assert used["gigabytes"]["in_use"] == 2 and used["volumes"]["limit"] == 10
    assert alice.get(f"{base}/defaults").json["quota_set"]["volumes"] == 10
    r = admin.put(f"{admin.cinder}/os-quota-sets/{alice.project_id}", {"quota_set": {"volumes": 4}})
    assert r.status_code == 200 and r.json["quota_set"]["volumes"] == 4
    absolute = alice.get(f"{alice.cinder}/limits").json["limits"]["absolute"]
    assert absolute["maxTotalVolumes"] == 4 and absolute["totalVolumesUsed"] == 1
    assert absolute["totalGigabytesUsed"] == 2 and absolute["maxTotalVolumeGigabytes"] == 1000
    assert admin.delete(f"{admin.cinder}/os-quota-sets/{alice.project_id}").status_code == 200
    assert alice.get(base).json["quota_set"]["volumes"] == 10


@pytest.mark.parametrize(
    ("limits", "size", "words"),
    [
        ({"volumes": 1}, 1, "VolumeLimitExceeded: Maximum number of volumes allowed (1)"),
        ({"gigabytes": 3}, 2, "Requested 2G, quota is 3G and 2G has been consumed."),
    ],
)
def test_volume_over_quota_is_cinders_413_and_changes_nothing(
    admin: Caller, alice: Caller, limits: dict[str, int], size: int, words: str
) -> None:
    _set(admin, alice.project_id, **limits)
    assert alice.volume(size=2 if "gigabytes" in limits else 1).status_code == 202
    before = count(alice.stack, Volume)
    r = alice.volume(size=size)
    assert r.status_code == 413 and words in r.json["overLimit"]["message"]
    assert count(alice.stack, Volume) == before


def test_neutron_quota_show_default_details_update_list_delete(
    stack: Stack, admin: Caller, alice: Caller
) -> None:
    base = f"/networking/v2.0/quotas/{alice.project_id}"
    Neutron(stack, "alice").network("n")
    assert alice.get(base).json["quota"]["network"] == 100
    assert alice.get(f"{base}/default").json["quota"]["port"] == 500
    details = alice.get(f"{base}/details").json["quota"]
    assert details["network"] == {"limit": 100, "used": 1, "reserved": 0}
    r = admin.put(base, {"quota": {"network": 3, "floatingip": 2, "check_limit": True}})
    assert r.status_code == 200 and r.json["quota"]["network"] == 3
    listed = admin.get("/networking/v2.0/quotas").json["quotas"]
    assert [(q["project_id"], q["network"]) for q in listed] == [(alice.project_id, 3)]
    assert alice.get("/networking/v2.0/quotas").status_code == 403
    assert admin.put(base, {"quota": {"network": 0, "check_limit": True}}).status_code == 400
    assert admin.put(base, {"quota": {"instances": 1}}).status_code == 400
    assert admin.delete(base).status_code == 204
    assert alice.get(base).json["quota"]["network"] == 100


def test_quotas_extension_is_listed(stack: Stack) -> None:
    aliases = {e["alias"] for e in Neutron(stack, "alice").get("extensions").json["extensions"]}
    assert {"quotas", "quota_details"} <= aliases


def test_network_and_port_over_quota_are_neutrons_409(admin: Caller, alice: Caller) -> None:
    neutron = Neutron(alice.stack, "alice")
    network = neutron.network("n")
    neutron.subnet(network["id"])
    _set(admin, alice.project_id, network=1, port=0)
    r = neutron.create("network", name="second")
    assert r.status_code == 409
    assert r.json == {
        "NeutronError": {
            "type": "OverQuota",
            "message": "Quota exceeded for resources: ['network'].",
            "detail": "",
        }
    }
    before = count(alice.stack, Network, Port)
    r = neutron.create("port", network_id=network["id"])
    assert r.status_code == 409 and error_type(r) == "OverQuota"
    assert count(alice.stack, Network, Port) == before


def test_floating_ip_over_quota_is_409(stack: Stack, admin: Caller, alice: Caller) -> None:
    public = Neutron(stack, "admin").network("public", **{"router:external": True})
    Neutron(stack, "admin").subnet(public["id"], "172.24.4.0/24", enable_dhcp=False)
    _set(admin, alice.project_id, floatingip=1)
    neutron = Neutron(stack, "alice")
    neutron.make("floatingip", floating_network_id=public["id"])
    r = neutron.create("floatingip", floating_network_id=public["id"])
    assert r.status_code == 409 and "['floatingip']" in r.json["NeutronError"]["message"]
    assert count(stack, FloatingIP) == (1,)


def test_concurrent_network_creates_stop_exactly_at_the_quota(
    stack: Stack, admin: Caller, alice: Caller
) -> None:
    _set(admin, alice.project_id, network=5)
    neutron = Neutron(stack, "alice")
    with ThreadPoolExecutor(10) as pool:
        codes = list(
            pool.map(lambda i: neutron.create("network", name=f"n{i}").status_code, range(30))
        )
    assert sorted(codes) == [201] * 5 + [409] * 25
    with stack.db.session() as s:
        assert s.query(Network).filter_by(project_id=alice.project_id).count() == 5


def _pinned(caller: Caller, path: str, version: str) -> Any:
    headers = {**caller.h, "OpenStack-API-Version": f"compute {version}"}
    return caller.stack.client.get(path, headers=headers)


NETWORK_QUOTAS = {"fixed_ips", "floating_ips", "security_groups", "security_group_rules"}
PERSONALITY = {"injected_files", "injected_file_content_bytes", "injected_file_path_bytes"}


@pytest.mark.parametrize("suffix", ["", "/detail", "/defaults"])
def test_quota_sets_drop_network_keys_at_2_36_and_personality_at_2_57(
    alice: Caller, suffix: str
) -> None:
    path = f"{NOVA}/os-quota-sets/{alice.project_id}{suffix}"
    keys = {v: set(_pinned(alice, path, v).json["quota_set"]) for v in ("2.35", "2.36", "2.57")}
    assert keys["2.35"] >= NETWORK_QUOTAS | PERSONALITY
    assert keys["2.36"] == keys["2.35"] - NETWORK_QUOTAS
    assert keys["2.57"] == keys["2.36"] - PERSONALITY
    assert {"instances", "cores", "ram", "key_pairs", "metadata_items"} <= keys["2.57"]


def test_limits_drop_fields_as_novas_view_does_per_version(alice: Caller) -> None:
    def names(version: str) -> set[str]:
        return set(_pinned(alice, f"{NOVA}/limits", version).json["limits"]["absolute"])

    network = {
        "maxTotalFloatingIps",
        "maxSecurityGroups",
        "maxSecurityGroupRules",
        "totalFloatingIpsUsed",
        "totalSecurityGroupsUsed",
    }
    assert network | {"maxImageMeta", "maxPersonality", "maxPersonalitySize"} <= names("2.35")
    assert names("2.36") == names("2.35") - network
    assert names("2.39") == names("2.36") - {"maxImageMeta"}
    assert names("2.57") == names("2.39") - {"maxPersonality", "maxPersonalitySize"}
    assert names("2.57") == {
        "maxServerMeta",
        "maxTotalKeypairs",
        "maxServerGroups",
        "maxServerGroupMembers",
        "maxTotalInstances",
        "maxTotalCores",
        "maxTotalRAMSize",
        "totalInstancesUsed",
        "totalCoresUsed",
        "totalRAMUsed",
        "totalServerGroupsUsed",
    }


def test_unknown_quota_and_limit_parameters_are_400_from_2_75(alice: Caller) -> None:
    for path in (f"{NOVA}/limits", f"{NOVA}/os-quota-sets/{alice.project_id}"):
        assert _pinned(alice, f"{path}?colour=red", "2.74").status_code == 200
        assert _pinned(alice, f"{path}?colour=red", "2.75").status_code == 400
    assert _pinned(alice, f"{NOVA}/limits?tenant_id={alice.project_id}", "2.75").status_code == 200
