"""Every identity route, walked with each class of bad input: the answer is a 4xx (never a
5xx) and no identity row changes.

The routes come from the app's URL map; ``test_every_identity_route_is_walked`` fails when
a route is added without an entry in ``ROUTES``, so none can be missed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import select

from nimbus.client import password_auth
from nimbus.db import Domain, Project, Role, RoleAssignment, Token, User
from nimbus.db_credentials import ApplicationCredential, Ec2Credential
from nimbus.db_network import as_dict
from tests.support.identity import IdentityApp, identity_app
from tests.support.postgres import PostgresCluster, database_for

SQL = "x'; DROP TABLE users;--"
HUGE = "x" * 100_000
OVERSIZED = b"{" + b" " * (1024 * 1024) + b"}"


@dataclass(frozen=True)
class Route:
    """How to call a route well, so that each bad input differs in one thing only."""

    body: dict[str, Any] | None = None  # a valid body; mutated into bad ones
    required: tuple[str, ...] = ()  # fields of the body that cannot be left out
    public: bool = False  # needs no token
    reader: bool = False  # a reader may call it on other users' objects
    unsupported: bool = False  # refused with 400 whatever the ids
    subject: bool = False  # the token it acts on is in X-Subject-Token


PROJECT = {"project": {"name": "fresh", "description": "d", "enabled": True}}
USER = {
    "user": {
        "name": "fresh",
        "password": "pw-fresh",
        "enabled": True,
        "description": "d",
        "email": "e@example.org",
    }
}
DOMAIN = {"domain": {"name": "fresh", "description": "d", "enabled": True}}
PASSWORD = {"user": {"password": "pw-new", "original_password": "victim-pw"}}
GRANT = "/identity/v3/projects/<project_id>/users/<user_id>/roles"
DOMAIN_GRANT = "/identity/v3/domains/<domain_id>/users/<user_id>/roles"
EC2 = "/identity/v3/users/<user_id>/credentials/OS-EC2"
APP_CRED = "/identity/v3/users/<user_id>/application_credentials"

#: rule -> method -> how to call it. HEAD goes with GET.
ROUTES: dict[str, dict[str, Route]] = {
    "/identity": {"GET": Route(public=True)},
    "/identity/": {"GET": Route(public=True)},
    "/identity/v3": {"GET": Route(public=True)},
    "/identity/v3/": {"GET": Route(public=True)},
    "/identity/v3/auth/tokens": {
        "POST": Route(
            body=password_auth("victim", "victim-pw", "victim"), required=("identity",), public=True
        ),
        "GET": Route(subject=True),
        "DELETE": Route(subject=True),
    },
    "/identity/v3/auth/catalog": {"GET": Route(reader=True)},
    "/identity/v3/auth/projects": {"GET": Route(reader=True)},
    "/identity/v3/domains": {"GET": Route(), "POST": Route(body=DOMAIN, required=("name",))},
    "/identity/v3/domains/<domain_id>": {
        "GET": Route(reader=True),  # the reader's project is in this (default) domain
        "PATCH": Route(body=DOMAIN),
        "DELETE": Route(),
    },
    "/identity/v3/projects": {"GET": Route(), "POST": Route(body=PROJECT, required=("name",))},
    "/identity/v3/projects/<project_id>": {
        "GET": Route(),
        "PATCH": Route(body=PROJECT),
        "DELETE": Route(),
    },
    "/identity/v3/users": {"GET": Route(), "POST": Route(body=USER, required=("name",))},
    "/identity/v3/users/<user_id>": {"GET": Route(), "PATCH": Route(body=USER), "DELETE": Route()},
    "/identity/v3/users/<user_id>/password": {
        "POST": Route(body=PASSWORD, required=("password", "original_password"))
    },
    "/identity/v3/users/<user_id>/projects": {"GET": Route()},
    "/identity/v3/roles": {
        "GET": Route(),
        "POST": Route(body={"role": {"name": "fresh"}}, required=("name",)),
    },
    "/identity/v3/roles/<role_id>": {"GET": Route(), "DELETE": Route()},
    GRANT: {"GET": Route()},
    GRANT + "/<role_id>": {"GET": Route(), "PUT": Route(), "DELETE": Route()},
    DOMAIN_GRANT: {"GET": Route(unsupported=True)},
    DOMAIN_GRANT + "/<role_id>": {
        "GET": Route(unsupported=True),
        "PUT": Route(unsupported=True),
        "DELETE": Route(unsupported=True),
    },
    "/identity/v3/role_assignments": {"GET": Route()},
    "/identity/v3/services": {"GET": Route()},
    "/identity/v3/services/<service_id>": {"GET": Route()},
    "/identity/v3/endpoints": {"GET": Route()},
    "/identity/v3/endpoints/<endpoint_id>": {"GET": Route()},
    "/identity/v3/regions": {"GET": Route(reader=True)},
    "/identity/v3/regions/<region_id>": {"GET": Route(reader=True)},
    EC2: {"GET": Route(), "POST": Route()},
    EC2 + "/<access>": {"GET": Route(), "DELETE": Route()},
    APP_CRED: {
        "GET": Route(),
        "POST": Route(
            body={"application_credential": {"name": "fresh", "description": "d"}},
            required=("name",),
        ),
    },
    APP_CRED + "/<application_credential_id>": {"GET": Route(), "DELETE": Route()},
}


def _walked() -> list[tuple[str, str, Route]]:
    out = []
    for rule, methods in ROUTES.items():
        for method, route in methods.items():
            out.append((rule, method, route))
            if method == "GET":
                out.append((rule, "HEAD", route))
    return out


WALKED = _walked()
IDS = [f"{method} {rule}" for rule, method, _ in WALKED]


@dataclass
class Walk:
    """The shared app, valid ids for every path parameter, and the admin's token."""

    idp: IdentityApp
    ids: dict[str, str]
    token: str
    reader: str = field(default="")

    def url(self, rule: str, **override: str) -> str:
        path = rule
        for name, value in {**self.ids, **override}.items():
            path = path.replace(f"<{name}>", quote(value, safe=""))
        return path

    def call(self, method: str, path: str, token: str | None = None, **kw: Any) -> Any:
        headers = kw.pop("headers", {})
        if token is not None:
            headers["X-Auth-Token"] = token
        return self.idp.client.open(path, method=method, headers=headers, **kw)


def _victims(idp: IdentityApp) -> dict[str, str]:
    """A project, a user with a role on it, and the ids every path parameter takes."""
    project = idp.call("POST", "/projects", json={"project": {"name": "victim"}}).json
    user_body = {"user": {"name": "victim", "password": "victim-pw"}}
    user = idp.call("POST", "/users", json=user_body).json
    reader = idp.call("GET", "/roles?name=reader").json["roles"][0]["id"]
    ids = {
        "project_id": project["project"]["id"],
        "user_id": user["user"]["id"],
        "role_id": reader,
        "domain_id": "default",
    }
    grant = f"/projects/{ids['project_id']}/users/{ids['user_id']}/roles/{reader}"
    assert idp.call("PUT", grant).status_code == 204
    service = idp.call("GET", "/services").json["services"][0]["id"]
    endpoint = idp.call("GET", "/endpoints").json["endpoints"][0]["id"]
    ids.update(service_id=service, endpoint_id=endpoint, region_id=idp.settings.region)
    with idp.db.session() as s:  # a credential row to name (made without its workflow)
        s.add(
            Ec2Credential(
                access="victimaccess",
                secret="victim-secret",
                user_id=ids["user_id"],
                project_id=ids["project_id"],
            )
        )
        s.add(
            ApplicationCredential(
                id="victimappcred",
                name="victim-app",
                secret_hash="not-a-hash",
                user_id=ids["user_id"],
                project_id=ids["project_id"],
                role_ids=[reader],
            )
        )
    ids["access"] = "victimaccess"
    ids["application_credential_id"] = "victimappcred"
    return ids


@pytest.fixture(scope="module")
def walk(
    tmp_path_factory: pytest.TempPathFactory, database_cluster: PostgresCluster | None
) -> Iterator[Walk]:
    """One app for the module: bad input must change nothing, so the tests can share it."""
    folder = tmp_path_factory.mktemp("identity")
    with database_for(database_cluster, folder) as url:
        for idp in identity_app(folder, database_url=url):
            ids = _victims(idp)
            yield Walk(idp, ids, idp.token("admin"), idp.token("rita"))


def _rows(walk: Walk) -> list[Any]:
    """Every identity row, comparable before and after a request."""
    models: list[Any] = [Domain, Project, User, Role, RoleAssignment, Token, Ec2Credential]
    models.append(ApplicationCredential)
    with walk.idp.db.session() as s:
        return [sorted(map(str, map(as_dict, s.scalars(select(m))))) for m in models]


def _unchanged(walk: Walk, request: Callable[[], Any]) -> Any:
    before = _rows(walk)
    response = request()
    assert response.status_code < 500, response.data[:300]
    assert _rows(walk) == before, "a refused request changed identity rows"
    return response


def test_every_identity_route_is_walked(walk: Walk) -> None:
    served = {
        (rule.rule, method)
        for rule in walk.idp.app.url_map.iter_rules()
        if rule.rule.startswith("/identity")
        for method in (rule.methods or set()) - {"OPTIONS"}
    }
    assert served == {(rule, method) for rule, method, _ in WALKED}


def _subject(walk: Walk, route: Route, subject: str) -> dict[str, str]:
    return {"X-Subject-Token": subject} if route.subject else {}


@pytest.mark.parametrize(("rule", "method", "route"), WALKED, ids=IDS)
def test_no_token_is_401(walk: Walk, rule: str, method: str, route: Route) -> None:
    response = _unchanged(walk, lambda: walk.call(method, walk.url(rule)))
    if not route.public:
        assert response.status_code == 401


@pytest.mark.parametrize(("rule", "method", "route"), WALKED, ids=IDS)
def test_reader_is_refused_what_it_does_not_own(
    walk: Walk, rule: str, method: str, route: Route
) -> None:
    headers = _subject(walk, route, walk.token)
    response = _unchanged(
        walk, lambda: walk.call(method, walk.url(rule), walk.reader, headers=headers)
    )
    if not (route.public or route.reader):
        assert response.status_code == 403


@pytest.mark.parametrize(
    "bad_id", ["no-such-id", SQL, "y" * 10_000], ids=["unknown", "sql", "huge"]
)
@pytest.mark.parametrize(("rule", "method", "route"), WALKED, ids=IDS)
def test_unknown_ids_are_404(walk: Walk, rule: str, method: str, route: Route, bad_id: str) -> None:
    names = [name for name in walk.ids if f"<{name}>" in rule]
    if route.subject:
        headers = {"X-Subject-Token": bad_id}
        response = _unchanged(walk, lambda: walk.call(method, rule, walk.token, headers=headers))
        assert response.status_code == 404
    for name in names:
        path = walk.url(rule, **{name: bad_id})
        response = _unchanged(
            walk, lambda p=path: walk.call(method, p, walk.token, json=route.body)
        )
        assert response.status_code == (400 if route.unsupported else 404), (name, response.json)


@pytest.mark.parametrize(("rule", "method", "route"), WALKED, ids=IDS)
def test_oversized_body_is_413(walk: Walk, rule: str, method: str, route: Route) -> None:
    response = _unchanged(
        walk,
        lambda: walk.call(
            method,
            walk.url(rule),
            walk.token,
            data=OVERSIZED,
            content_type="application/json",
            headers=_subject(walk, route, "no-such-token"),
        ),
    )
    assert response.status_code == 413


READS = [(r, m, route) for r, m, route in WALKED if m in ("GET", "HEAD")]


@pytest.mark.parametrize(("rule", "method", "route"), READS, ids=[f"{m} {r}" for r, m, _ in READS])
def test_odd_query_strings_are_plain_filters(
    walk: Walk, rule: str, method: str, route: Route
) -> None:
    query = {
        key: SQL for key in ("name", "domain_id", "user.id", "scope.project.id", "role.id", "type")
    }
    query.update(enabled="maybe", effective="", include_names=HUGE[:5000], interface=SQL)
    response = _unchanged(
        walk,
        lambda: walk.call(
            method,
            walk.url(rule),
            walk.token,
            query_string=query,
            headers=_subject(walk, route, walk.token),
        ),
    )
    if route.unsupported:
        assert response.status_code == 400
    elif method == "GET" and rule.endswith("s") and response.is_json:
        listed = [v for v in response.json.values() if isinstance(v, list)]
        assert listed == [[]] or "role_assignments" not in response.json


def _bad_bodies(route: Route) -> list[tuple[str, Any]]:
    """Bodies that differ from a valid one in one thing, each a malformed request."""
    assert route.body is not None
    key, inner = next(iter(route.body.items()))
    cases: list[tuple[str, Any]] = [
        ("not json", b"{not json"),
        ("deep nesting", b"[" * 100_000 + b"]" * 100_000),
        ("a list", []),
        ("a string", "x"),
        ("a number", 42),
        ("null", None),
        ("empty object", {}),
        ("resource a string", {key: "x"}),
        ("resource a list", {key: [inner]}),
        ("resource null", {key: None}),
        ("extra nesting", {key: {key: inner}}),
    ]
    for name, value in inner.items():
        wrong: list[Any] = [12345, [value], {"x": value}]
        wrong += ["yes"] if isinstance(value, bool) else [True, HUGE]
        cases += [(f"{name}={w!r:.20}", {key: {**inner, name: w}}) for w in wrong]
    for name in route.required:
        cases.append((f"no {name}", {key: {k: v for k, v in inner.items() if k != name}}))
        cases.append((f"{name} null", {key: {**inner, name: None}}))
    if "name" in inner:
        cases.append(("name blank", {key: {**inner, "name": "   "}}))
        cases.append(("name with NUL", {key: {**inner, "name": "a\x00b"}}))
    if "password" in inner:
        cases.append(("password over 4096", {key: {**inner, "password": "p" * 10_000}}))
    return cases


BODY_ROUTES = [(r, m, route) for r, m, route in WALKED if route.body is not None]


@pytest.mark.parametrize(
    ("rule", "method", "route"), BODY_ROUTES, ids=[f"{m} {r}" for r, m, _ in BODY_ROUTES]
)
def test_malformed_bodies_are_400(walk: Walk, rule: str, method: str, route: Route) -> None:
    token = None if route.public else walk.token
    failures = []
    for label, body in _bad_bodies(route):
        data = body if isinstance(body, bytes) else json.dumps(body)
        response = _unchanged(
            walk,
            lambda d=data: walk.call(
                method, walk.url(rule), token, data=d, content_type="application/json"
            ),
        )
        if response.status_code != 400:
            failures.append((label, response.status_code))
    assert failures == []
