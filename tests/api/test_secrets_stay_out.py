"""No secret in a log line or a workflow's history: what an operator reads in the logs and
the Temporal UI holds none of the passwords logins carry (right or wrong), the tokens,
the EC2 and application credential secrets, or an object-storage service's key pair."""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

import pytest
from sqlalchemy import select

from nimbus.client import password_auth
from nimbus.db import Project, User
from nimbus.db_paas import ServiceInstance
from tests.support.leaks import histories, leaks
from tests.support.paas import h, stack
from tests.support.stack import Stack

__all__ = ["stack"]

TOKENS = "/identity/v3/auth/tokens"


def _ids(stack: Stack) -> tuple[str, str]:
    with stack.db.session() as s:
        user = s.scalars(select(User.id).where(User.name == "alice")).one()
        project = s.scalars(select(Project.id).where(Project.name == "demo")).one()
    return user, project


def _post(stack: Stack, path: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
    response = stack.client.post(path, json=body, headers=headers)
    assert response.status_code in (201, 202, 204), response.json
    return response.json


def _service_secrets(stack: Stack) -> dict[str, str]:
    """The object-storage service's key pair, once it is made."""
    _post(stack, "/paas/v1/services", {"service": {"name": "photos", "offering": "object-storage"}},
          h(stack))  # fmt: skip
    deadline = dt.datetime.now() + dt.timedelta(seconds=30)
    while dt.datetime.now() < deadline:
        with stack.db.session() as s:
            row = s.scalars(select(ServiceInstance).where(ServiceInstance.name == "photos")).one()
            if row.status == "AVAILABLE":
                creds = dict(row.credentials or {})
                return {"the service's S3 secret": creds["secret_access_key"]}
    raise AssertionError("the service never became AVAILABLE")


def _log_texts(records: list[logging.LogRecord]) -> dict[str, str]:
    """Each record as the JSON log file has it: the message, its extra fields, its error."""
    return {
        f"log line {i} ({r.name})": json.dumps(vars(r) | {"message": r.getMessage()}, default=str)
        for i, r in enumerate(records)
    }


def test_no_log_line_or_history_holds_a_secret(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    user_id, project_id = _ids(stack)
    guess = "not-alices-password-7f3a"
    refused = stack.client.post(TOKENS, json=password_auth("alice", guess, "demo"))
    assert refused.status_code == 401
    token = stack.token("alice")
    headers = {"X-Auth-Token": token}
    ec2 = _post(stack, f"/identity/v3/users/{user_id}/credentials/OS-EC2",
                {"tenant_id": project_id}, headers)["credential"]  # fmt: skip
    app_cred = _post(stack, f"/identity/v3/users/{user_id}/application_credentials",
                     {"application_credential": {"name": "ci"}}, headers)  # fmt: skip
    secret = app_cred["application_credential"]["secret"]
    by_credential = stack.client.post(TOKENS, json={"auth": {"identity": {
        "methods": ["application_credential"],
        "application_credential": {"id": app_cred["application_credential"]["id"],
                                   "secret": secret}}}})  # fmt: skip
    assert by_credential.status_code == 201
    secrets = {
        "alice's password": "alice-secret",
        "a wrong password": guess,
        "alice's token": token,
        "the EC2 secret": ec2["secret"],
        "the application credential's secret": secret,
        "the application credential's token": by_credential.headers["X-Subject-Token"],
        **_service_secrets(stack),
    }
    change = {"user": {"original_password": "alice-secret", "password": "alice-new-password"}}
    _post(stack, f"/identity/v3/users/{user_id}/password", change, headers)
    secrets["alice's new password"] = "alice-new-password"
    query = f'StartTime >= "{since:%Y-%m-%dT%H:%M:%SZ}"'
    runs = stack.bridge.run(lambda client: histories(client, query))
    assert any("ec2" in where for where in runs) and len(runs) >= 2
    assert leaks(secrets, _log_texts(caplog.records) | runs) == []
