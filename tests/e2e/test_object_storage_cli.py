"""Object storage through the RADOS Gateway: Swift with the unmodified openstack CLI and a
Nimbus token, S3 with boto3 and a key from ``openstack ec2 credentials create``."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest
import requests

from launcher import bootstrap
from launcher.services.rgw import gateway_pid
from nimbus.client import password_auth
from nimbus.db import Database
from tests.support.cloud import Cloud

pytestmark = pytest.mark.e2e

SIZE = 100 << 20
CONTAINER, OBJECT = "backups", "big.bin"


def digests(path: Path) -> tuple[str, str]:
    """md5 and sha256 of a file."""
    md5, sha = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(1 << 20):
            md5.update(chunk)
            sha.update(chunk)
    return md5.hexdigest(), sha.hexdigest()


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("objects") / OBJECT
    with open(path, "wb") as file:
        for _ in range(SIZE >> 20):
            file.write(os.urandom(1 << 20))
    return path


@pytest.fixture(scope="module")
def stored(cloud: Cloud, big_file: Path) -> Path:
    """The file, uploaded by the admin with ``openstack object create``."""
    assert cloud.openstack("container", "create", CONTAINER).returncode == 0
    created = cloud.openstack_json("object", "create", "--name", OBJECT, CONTAINER, str(big_file))
    assert created[0]["object"] == OBJECT
    return big_file


def token_of(cloud: Cloud, user: str, project: str, role: str) -> str:
    """A token of a user made for the test with ``role`` on ``project``."""
    db = Database(cloud.settings.db_url)
    bootstrap.ensure_user(db, user, project, role, f"{user}-secret")
    body = password_auth(user, f"{user}-secret", project)
    response = requests.post(
        f"{cloud.url}/identity/v3/auth/tokens", json=body, timeout=10, verify=cloud.verify
    )
    assert response.status_code == 201, response.text
    return str(response.headers["X-Subject-Token"])


def swift_url(cloud: Cloud) -> str:
    """The admin project's Swift account on the cloud's gateway."""
    project = bootstrap.admin_project_id(Database(cloud.settings.db_url))
    return f"{cloud.settings.object_store_endpoint}/AUTH_{project}"


def test_a_100_mib_object_round_trips_through_swift(
    cloud: Cloud, stored: Path, tmp_path: Path
) -> None:
    listed = cloud.openstack_json("object", "list", CONTAINER)
    assert [o["Name"] for o in listed] == [OBJECT]
    md5, sha = digests(stored)
    shown = cloud.openstack_json("object", "show", CONTAINER, OBJECT)
    assert shown["etag"] == md5 and int(shown["content-length"]) == SIZE
    out = tmp_path / "out.bin"
    saved = cloud.openstack("object", "save", "--file", str(out), CONTAINER, OBJECT)
    assert saved.returncode == 0, saved.stderr
    assert digests(out) == (md5, sha)


def test_another_project_or_a_reader_cannot_list_the_container(cloud: Cloud, stored: Path) -> None:
    url = f"{swift_url(cloud)}/{CONTAINER}"
    token = token_of(cloud, "ops", "admin", "member")
    own = requests.get(url, headers={"X-Auth-Token": token}, timeout=10)
    assert own.status_code == 200 and OBJECT in own.text
    # Another project's member is known but not allowed here; a reader is not accepted
    # by the gateway at all (Ceph 16.2 has no reader roles).
    for user, project, role, status in (
        ("mallory", "other", "member", 403),
        ("rita", "admin", "reader", 401),
    ):
        token = token_of(cloud, user, project, role)
        refused = requests.get(url, headers={"X-Auth-Token": token}, timeout=10)
        assert refused.status_code == status, (user, refused.status_code)
    assert requests.get(url, headers={"X-Auth-Token": "bogus"}, timeout=10).status_code == 401


def test_a_revoked_token_is_refused_by_the_gateway_at_once(cloud: Cloud, stored: Path) -> None:
    url = f"{swift_url(cloud)}/{CONTAINER}"
    token = token_of(cloud, "ops", "admin", "member")
    assert requests.get(url, headers={"X-Auth-Token": token}, timeout=10).status_code == 200
    revoked = requests.delete(
        f"{cloud.url}/identity/v3/auth/tokens",
        headers={"X-Auth-Token": token, "X-Subject-Token": token},
        timeout=10,
        verify=cloud.verify,
    )
    assert revoked.status_code == 204
    assert requests.get(url, headers={"X-Auth-Token": token}, timeout=10).status_code == 401


def s3_client(cloud: Cloud, access: str, secret: str) -> Any:
    """boto3 on the cloud's gateway: path-style addressing, SigV4, any region."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{cloud.settings.rgw_port}",
        aws_access_key_id=access,
        aws_secret_access_key=secret,
        region_name="nimbus",
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )


def test_s3_reads_the_swift_object_with_an_ec2_credential_until_it_is_deleted(
    cloud: Cloud, stored: Path
) -> None:
    from botocore.exceptions import ClientError

    cred = cloud.openstack_json("ec2", "credentials", "create")
    listed = cloud.openstack_json("ec2", "credentials", "list")
    assert cred["access"] in [c["Access"] for c in listed]
    s3 = s3_client(cloud, cred["access"], cred["secret"])
    assert CONTAINER in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    md5 = hashlib.md5(usedforsecurity=False)
    for chunk in s3.get_object(Bucket=CONTAINER, Key=OBJECT)["Body"].iter_chunks(1 << 20):
        md5.update(chunk)
    assert md5.hexdigest() == digests(stored)[0]
    assert cloud.openstack("ec2", "credentials", "delete", cred["access"]).returncode == 0
    with pytest.raises(ClientError) as refused:
        s3.list_buckets()
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_a_second_up_reuses_the_running_gateway_and_its_pools_keep_ceph_healthy(
    cloud: Cloud,
) -> None:
    before = gateway_pid(cloud.settings.run_dir)
    again = cloud.nimbus("up")
    assert again.returncode == 0, again.stderr
    assert before is not None and gateway_pid(cloud.settings.run_dir) == before
    status = cloud.nimbus("status")
    assert f"rgw        running (pid {before})" in status.stdout, status.stdout
    assert "HEALTH_OK" in status.stdout
