from __future__ import annotations

from api.catalog import build_catalog
from nimbus.config import Settings


def test_catalog_has_every_interface_and_the_legacy_region_key() -> None:
    catalog = build_catalog(Settings(api_port=8770), "proj")
    compute = next(s for s in catalog if s["type"] == "compute")
    assert {e["interface"] for e in compute["endpoints"]} == {"public", "internal", "admin"}
    assert all(e["region"] == e["region_id"] == "RegionOne" for e in compute["endpoints"])
    assert compute["endpoints"][0]["url"] == "https://127.0.0.1:8770/compute/v2.1"


def test_catalog_ids_are_stable() -> None:
    assert build_catalog(Settings(), "a") == build_catalog(Settings(), "a")


def test_catalog_publishes_networking_without_a_version() -> None:
    catalog = build_catalog(Settings(api_port=8770), "proj")
    network = next(s for s in catalog if s["type"] == "network")
    assert network["name"] == "neutron"
    assert network["endpoints"][0]["url"] == "https://127.0.0.1:8770/networking"


def test_the_object_store_is_the_gateways_swift_account_of_the_project() -> None:
    catalog = build_catalog(Settings(rgw_port=27001), "proj")
    swift = next(s for s in catalog if s["type"] == "object-store")
    assert swift["name"] == "swift"
    assert swift["endpoints"][0]["url"] == "http://127.0.0.1:27001/swift/v1/AUTH_proj"


def test_an_operator_url_for_the_object_store_wins_and_none_means_no_entry() -> None:
    settings = Settings(rgw_port=27001, object_store_url="https://objects.example/swift/v1/")
    swift = next(s for s in build_catalog(settings, "p") if s["type"] == "object-store")
    assert swift["endpoints"][0]["url"] == "https://objects.example/swift/v1/AUTH_p"
    assert not any(s["type"] == "object-store" for s in build_catalog(Settings(), "p"))
