"""Microversion negotiation: the header a client sends, the version a request runs at."""

from __future__ import annotations

import pytest
from flask import Flask

from api.microversion import APIVersion, NotAcceptable, VersionRange, at_least, bind

COMPUTE = VersionRange(
    "compute",
    APIVersion.parse("2.1"),
    APIVersion.parse("2.79"),
    legacy_header="X-OpenStack-Nova-API-Version",
)
app = Flask(__name__)


def negotiated(headers: dict[str, str]) -> str:
    with app.test_request_context(headers=headers):
        return str(bind(COMPUTE))


def test_versions_compare_numerically() -> None:
    assert APIVersion.parse("2.10") > APIVersion.parse("2.9")


def test_no_header_runs_at_the_minimum() -> None:
    assert negotiated({}) == "2.1"


def test_latest_runs_at_the_maximum() -> None:
    assert negotiated({"OpenStack-API-Version": "compute latest"}) == "2.79"


def test_the_service_is_picked_out_of_a_list() -> None:
    assert negotiated({"OpenStack-API-Version": "volume 3.59, compute 2.47"}) == "2.47"


def test_the_legacy_nova_header_is_read() -> None:
    assert negotiated({"X-OpenStack-Nova-API-Version": "2.26"}) == "2.26"


@pytest.mark.parametrize("text", ["2.80", "2.0", "3.1", "two"])
def test_a_version_outside_the_range_is_refused_with_the_range(text: str) -> None:
    with pytest.raises(NotAcceptable, match="Minimum is 2.1 and maximum is 2.79"):
        negotiated({"OpenStack-API-Version": f"compute {text}"})


def test_at_least_follows_the_bound_version() -> None:
    with app.test_request_context(headers={"OpenStack-API-Version": "compute 2.47"}):
        bind(COMPUTE)
        assert at_least("2.47") and not at_least("2.48")
