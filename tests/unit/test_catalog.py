from __future__ import annotations

from api.catalog import build_catalog
from nimbus.config import Settings


def test_catalog_has_every_interface_and_the_legacy_region_key() -> None:
    catalog = build_catalog(Settings(api_port=8770), "proj")
    compute = next(s for s in catalog if s["type"] == "compute")
    assert {e["interface"] for e in compute["endpoints"]} == {"public", "internal", "admin"}
    assert all(e["region"] == e["region_id"] == "RegionOne" for e in compute["endpoints"])
    assert compute["endpoints"][0]["url"] == "http://127.0.0.1:8770/compute/v2.1"


def test_catalog_ids_are_stable() -> None:
    assert build_catalog(Settings(), "a") == build_catalog(Settings(), "a")


def test_catalog_publishes_networking_without_a_version() -> None:
    catalog = build_catalog(Settings(api_port=8770), "proj")
    network = next(s for s in catalog if s["type"] == "network")
    assert network["name"] == "neutron"
    assert network["endpoints"][0]["url"] == "http://127.0.0.1:8770/networking"
