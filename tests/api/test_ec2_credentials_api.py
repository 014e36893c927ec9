"""Keystone's EC2 credentials over the fake object store: the key pair is on the project's
gateway user once the API answers 201, and gone once it answers 204."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from nimbus.db import Project, Role, User
from nimbus.db_credentials import Ec2Credential
from nimbus.errors import Conflict
from tests.support.stack import Stack


class Ec2:
    """One user's calls to its (or another user's) EC2 credentials."""

    def __init__(self, stack: Stack, user: str) -> None:
        self.stack = stack
        self.headers = {"X-Auth-Token": stack.token(user)}

    def url(self, user: str, access: str = "") -> str:
        path = f"/identity/v3/users/{user_id(self.stack, user)}/credentials/OS-EC2"
        return f"{path}/{access}" if access else path

    def create(self, user: str, project: str) -> Any:
        body = {"tenant_id": project_id(self.stack, project)}
        return self.stack.client.post(self.url(user), json=body, headers=self.headers)

    def list(self, user: str) -> Any:
        return self.stack.client.get(self.url(user), headers=self.headers)

    def delete(self, user: str, access: str) -> Any:
        return self.stack.client.delete(self.url(user, access), headers=self.headers)


def user_id(stack: Stack, name: str) -> str:
    with stack.db.session() as s:
        return str(s.scalars(select(User.id).where(User.name == name)).one())


def project_id(stack: Stack, name: str) -> str:
    with stack.db.session() as s:
        return str(s.scalars(select(Project.id).where(Project.name == name)).one())


@pytest.fixture
def alice(stack: Stack) -> Ec2:
    return Ec2(stack, "alice")


def test_a_credential_puts_its_key_on_the_projects_gateway_user(stack: Stack, alice: Ec2):
    created = alice.create("alice", "demo")
    assert created.status_code == 201, created.json
    cred = created.json["credential"]
    assert cred["tenant_id"] == project_id(stack, "demo") and cred["trust_id"] is None
    assert stack.drivers.object_store.s3_keys(cred["tenant_id"]) == {cred["access"]: cred["secret"]}
    assert [c["access"] for c in alice.list("alice").json["credentials"]] == [cred["access"]]
    shown = stack.client.get(alice.url("alice", cred["access"]), headers=alice.headers)
    assert shown.json["credential"]["secret"] == cred["secret"]


def test_deleting_a_credential_removes_its_key(stack: Stack, alice: Ec2):
    cred = alice.create("alice", "demo").json["credential"]
    assert alice.delete("alice", cred["access"]).status_code == 204
    assert stack.drivers.object_store.s3_keys(cred["tenant_id"]) == {}
    assert alice.list("alice").json["credentials"] == []
    assert alice.delete("alice", cred["access"]).status_code == 404


def test_a_user_manages_only_its_own_credentials_and_an_admin_anyones(stack: Stack, alice: Ec2):
    assert alice.create("bob", "other").status_code == 403
    assert alice.list("bob").status_code == 403
    admin = Ec2(stack, "admin")
    assert admin.create("alice", "demo").status_code == 201
    assert len(admin.list("alice").json["credentials"]) == 1


def test_only_a_member_of_the_project_gets_a_credential_for_it(stack: Stack, alice: Ec2):
    assert alice.create("alice", "other").status_code == 403
    assert Ec2(stack, "rita").create("rita", "demo").status_code == 403
    assert stack.drivers.object_store.keys == {}


def test_a_failed_key_leaves_no_credential_and_no_key(stack: Stack, alice: Ec2):
    stack.drivers.object_store.faults.fail("add_s3_key", Conflict("access key taken"))
    assert alice.create("alice", "demo").status_code == 409
    assert alice.list("alice").json["credentials"] == []
    assert stack.drivers.object_store.keys == {}


def test_a_key_that_cannot_be_removed_keeps_its_credential(stack: Stack, alice: Ec2):
    cred = alice.create("alice", "demo").json["credential"]
    stack.drivers.object_store.faults.fail("remove_s3_key", Conflict("refused"))
    assert alice.delete("alice", cred["access"]).status_code == 409
    assert [c["access"] for c in alice.list("alice").json["credentials"]] == [cred["access"]]


def _role_id(stack: Stack, name: str) -> str:
    with stack.db.session() as s:
        return str(s.scalars(select(Role.id).where(Role.name == name)).one())


def _keys_and_rows(stack: Stack, project: str) -> tuple[dict[str, str], int]:
    with stack.db.session() as s:
        rows = len(s.scalars(select(Ec2Credential)).all())
    return stack.drivers.object_store.s3_keys(project_id(stack, project)), rows


def test_losing_the_last_writing_role_takes_the_key_off(stack: Stack, alice: Ec2) -> None:
    admin = {"X-Auth-Token": stack.token("admin")}
    cred = alice.create("alice", "demo").json["credential"]
    grant = (
        f"/identity/v3/projects/{project_id(stack, 'demo')}/users/{user_id(stack, 'alice')}/roles"
    )
    reader = _role_id(stack, "reader")
    assert stack.client.put(f"{grant}/{reader}", headers=admin).status_code == 204
    assert stack.client.delete(f"{grant}/{reader}", headers=admin).status_code == 204
    assert _keys_and_rows(stack, "demo") == ({cred["access"]: cred["secret"]}, 1)
    member = _role_id(stack, "member")
    assert stack.client.delete(f"{grant}/{member}", headers=admin).status_code == 204
    assert _keys_and_rows(stack, "demo") == ({}, 0)


@pytest.mark.parametrize("change", ["disable user", "delete user", "disable project"])
def test_a_disabled_or_deleted_holder_loses_its_keys(stack: Stack, alice: Ec2, change: str) -> None:
    admin = {"X-Auth-Token": stack.token("admin")}
    alice.create("alice", "demo")
    user = f"/identity/v3/users/{user_id(stack, 'alice')}"
    project = f"/identity/v3/projects/{project_id(stack, 'demo')}"
    response = {
        "disable user": lambda: stack.client.patch(
            user, json={"user": {"enabled": False}}, headers=admin
        ),
        "delete user": lambda: stack.client.delete(user, headers=admin),
        "disable project": lambda: stack.client.patch(
            project, json={"project": {"enabled": False}}, headers=admin
        ),
    }[change]()
    assert response.status_code in (200, 204), response.json
    assert _keys_and_rows(stack, "demo") == ({}, 0)


def test_a_project_with_only_credentials_is_deleted_with_its_keys(stack: Stack) -> None:
    admin = {"X-Auth-Token": stack.token("admin")}
    bob = Ec2(stack, "bob")
    bob.create("bob", "other")
    other = project_id(stack, "other")
    assert stack.drivers.object_store.s3_keys(other) != {}
    # bob's default security group is made when the project is first used; it goes too.
    response = stack.client.delete(f"/identity/v3/projects/{other}", headers=admin)
    assert response.status_code == 204, response.json
    assert stack.drivers.object_store.s3_keys(other) == {}
