from __future__ import annotations

from pathlib import Path

import pytest

from nimbus.errors import InvalidSpec
from paas.manifest import AppManifest, load_manifest, manifest_from_file, validate_app_fields

SAMPLES = Path(__file__).resolve().parents[2] / "paas" / "samples"


def app(extra: str) -> str:
    return "applications:\n- name: web\n" + "".join(f"  {line}\n" for line in extra.splitlines())


def refused(text: str) -> str:
    with pytest.raises(InvalidSpec) as info:
        load_manifest(text)
    return str(info.value)


def test_flask_sample_manifest_loads() -> None:
    m = manifest_from_file(SAMPLES / "flask-app" / "manifest.yml")
    assert (m.name, m.memory_mib, m.health_type, m.health_endpoint) == (
        "flask-sample",
        256,
        "http",
        "/health",
    )
    assert m.routes == ("flask-sample.apps.localhost",)


def test_static_sample_manifest_loads_with_defaults() -> None:
    m = manifest_from_file(SAMPLES / "static-site" / "manifest.yml")
    assert (m.name, m.memory_mib, m.instances, m.health_type, m.timeout) == (
        "static-sample",
        64,
        1,
        "port",
        60,
    )


def test_minimal_manifest_gets_the_defaults() -> None:
    assert load_manifest(app("")) == AppManifest(name="web")


def test_json_round_trip_keeps_every_field() -> None:
    m = load_manifest(
        app(
            "instances: 3\nmemory: 1G\ncommand: python3 app.py\nenv: {A: x}\n"
            "routes: [{route: web.apps.localhost}]\nhealth-check-type: http\n"
            "health-check-http-endpoint: /up\ntimeout: 30\nbuildpacks: [python]"
        )
    )
    assert AppManifest.from_json(m.to_json()) == m
    assert m.memory_mib == 1024


@pytest.mark.parametrize(
    ("size", "mib"), [("64M", 64), ("128mb", 128), ("2g", 2048), ("8GB", 8192), (" 300 M", 300)]
)
def test_memory_units_are_case_insensitive(size: str, mib: int) -> None:
    assert load_manifest(app(f"memory: '{size}'")).memory_mib == mib


@pytest.mark.parametrize("size", ["256", "256K", "1T", "63M", "9G", "lots"])
def test_memory_without_unit_or_out_of_range_is_refused(size: str) -> None:
    assert "'memory'" in refused(app(f"memory: '{size}'"))


def test_env_values_become_strings_as_cf_does() -> None:
    m = load_manifest(app("env: {A: 8, B: true, C: 1.5, D: text}"))
    assert m.env == {"A": "8", "B": "true", "C": "1.5", "D": "text"}


def test_unknown_key_is_named_with_the_known_ones() -> None:
    message = refused(app("instanses: 2"))
    assert "unknown key 'instanses' in application 'web'" in message
    assert "did you mean 'instances'" in message


def test_instances_must_be_an_integer_in_range() -> None:
    assert refused(app("instances: two")) == (
        "manifest: 'instances' must be an integer from 0 to 100, not 'two'"
    )
    assert "'instances'" in refused(app("instances: 101"))
    assert "'instances'" in refused(app("instances: true"))


@pytest.mark.parametrize("timeout", ["0", "601", "'60'"])
def test_timeout_out_of_range_is_refused(timeout: str) -> None:
    assert "'timeout'" in refused(app(f"timeout: {timeout}"))


@pytest.mark.parametrize("name", ["Web", "1web", "web_app", "web-", "a" * 64, "''", "[web]"])
def test_bad_app_names_are_refused(name: str) -> None:
    assert "'name'" in refused(f"applications:\n- name: {name}\n")


def test_missing_name_is_refused() -> None:
    assert "'name'" in refused("applications:\n- instances: 1\n")


@pytest.mark.parametrize(
    "key",
    ["PORT", "INSTANCE_INDEX", "PATH", "HOME", "PYTHONPATH", "VCAP_SERVICES", "CF_X", "NIMBUS_Y"],
)
def test_reserved_env_keys_are_refused(key: str) -> None:
    assert f"'env' key '{key}' is reserved" in refused(app(f"env: {{{key}: x}}"))


@pytest.mark.parametrize("env", ["env: {1A: x}", "env: {A-B: x}", "env: [A]", "env: {A: [1]}"])
def test_bad_env_is_refused(env: str) -> None:
    assert "'env" in refused(app(env))


@pytest.mark.parametrize(
    "routes",
    [
        "routes: [{route: localhost}]",
        "routes: [{route: bad_host.apps.localhost}]",
        "routes: [{route: -x.apps.localhost}]",
        "routes: [web.apps.localhost]",
        "routes: [{route: a.b, port: 80}]",
        "routes: {route: a.b}",
        "routes: [{route: a.b}, {route: A.b}]",
    ],
)
def test_bad_routes_are_refused(routes: str) -> None:
    assert "'routes'" in refused(app(routes))


def test_route_host_names_are_lower_cased() -> None:
    assert load_manifest(app("routes: [{route: Web.Apps.Localhost}]")).routes == (
        "web.apps.localhost",
    )


def test_health_check_type_must_be_known() -> None:
    assert "'health-check-type' must be port or process or http" in refused(
        app("health-check-type: tcp")
    )


def test_http_endpoint_needs_the_http_check_and_a_path() -> None:
    assert "applies only to health-check-type http" in refused(
        app("health-check-http-endpoint: /x")
    )
    assert "'health-check-http-endpoint'" in refused(
        app("health-check-type: http\nhealth-check-http-endpoint: health")
    )


def test_buildpacks_accept_one_known_name_or_its_cf_alias() -> None:
    assert load_manifest(app("buildpacks: [staticfile_buildpack]")).buildpack == "static"
    assert "'buildpacks'" in refused(app("buildpacks: [ruby]"))
    assert "'buildpacks'" in refused(app("buildpacks: [python, static]"))
    assert "'buildpacks'" in refused(app("buildpacks: python"))


def test_two_applications_are_refused_naming_the_count() -> None:
    assert "found 2 applications" in refused("applications:\n- name: a\n- name: b\n")


@pytest.mark.parametrize(
    "text", ["", "just text", "- name: a", "applications: []", "applications: {name: a}"]
)
def test_a_document_without_one_application_is_refused(text: str) -> None:
    assert refused(text).startswith("manifest: ")


def test_unknown_top_level_key_is_refused() -> None:
    assert "unknown key 'aplications' at the top level" in refused("aplications: []\n")


def test_broken_yaml_is_refused_with_its_position() -> None:
    assert "not valid YAML" in refused("applications: [\n")


def test_a_key_given_twice_is_refused() -> None:
    assert "key 'A' given twice" in refused(app("env: {A: 1, A: 2}"))


def test_unreadable_manifest_file_is_invalid_spec(tmp_path: Path) -> None:
    with pytest.raises(InvalidSpec, match="cannot read"):
        manifest_from_file(tmp_path / "missing.yml")


def test_rest_body_gets_the_same_rules_under_its_own_source() -> None:
    with pytest.raises(InvalidSpec, match=r"^app: 'instances'"):
        AppManifest.from_json({"name": "web", "instances": -1})
    assert validate_app_fields({"name": "web", "memory": "128M"}).memory_mib == 128
