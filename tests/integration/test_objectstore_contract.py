"""One contract for the object store admin: the in-memory fake and the RADOS Gateway.

On the real gateway the keys are also used: an S3 client signs with a key that was
added, and is refused once it is removed.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from activities.objectstore.base import ObjectStoreAdmin, S3Key
from activities.objectstore.fake import FakeObjectStoreAdmin
from nimbus.errors import Conflict


@pytest.fixture(params=["fake", pytest.param("rgw", marks=pytest.mark.ceph)])
def admin(request: pytest.FixtureRequest) -> ObjectStoreAdmin:
    if request.param == "fake":
        return FakeObjectStoreAdmin()
    from activities.objectstore.radosgw_admin import RadosGatewayAdmin

    cluster = request.getfixturevalue("ceph_cluster")
    gateway = request.getfixturevalue("rgw_gateway")
    return RadosGatewayAdmin(
        str(cluster.conf), str(cluster.keyring), cluster.client, s3_endpoint=gateway.url
    )


def new_key(uid: str | None = None) -> S3Key:
    return S3Key(uid or uuid.uuid4().hex, uuid.uuid4().hex[:20].upper(), uuid.uuid4().hex)


def test_a_key_creates_its_user_once_and_repeats_harmlessly(admin: ObjectStoreAdmin):
    first = new_key()
    admin.add_s3_key(first)
    admin.add_s3_key(first)
    second = new_key(first.uid)
    admin.add_s3_key(second)
    assert admin.s3_keys(first.uid) == {first.access: first.secret, second.access: second.secret}


def test_an_access_key_of_another_user_or_secret_is_a_conflict(admin: ObjectStoreAdmin):
    key = new_key()
    admin.add_s3_key(key)
    with pytest.raises(Conflict):
        admin.add_s3_key(S3Key(uuid.uuid4().hex, key.access, key.secret))
    with pytest.raises(Conflict):
        admin.add_s3_key(S3Key(key.uid, key.access, "another-secret"))
    assert admin.s3_keys(key.uid) == {key.access: key.secret}


def test_removing_keeps_other_keys_and_missing_is_success(admin: ObjectStoreAdmin):
    kept = new_key()
    removed = new_key(kept.uid)
    admin.add_s3_key(kept)
    admin.add_s3_key(removed)
    admin.remove_s3_key(kept.uid, removed.access)
    admin.remove_s3_key(kept.uid, removed.access)
    admin.remove_s3_key(uuid.uuid4().hex, "NOSUCHKEY")
    assert admin.s3_keys(kept.uid) == {kept.access: kept.secret}


def test_a_user_without_keys_has_none(admin: ObjectStoreAdmin):
    assert admin.s3_keys(uuid.uuid4().hex) == {}


def test_a_bucket_is_made_once_for_its_owner_and_is_no_one_elses(admin: ObjectStoreAdmin):
    owner, stranger = new_key(), new_key()
    admin.add_s3_key(owner)
    admin.add_s3_key(stranger)
    bucket = f"contract-{uuid.uuid4().hex[:12]}"
    admin.create_bucket(owner, bucket)
    admin.create_bucket(owner, bucket)
    with pytest.raises(Conflict):
        admin.create_bucket(stranger, bucket)


def test_removing_a_user_takes_its_keys_and_buckets_and_repeats_harmlessly(
    admin: ObjectStoreAdmin,
):
    key = new_key()
    admin.add_s3_key(key)
    bucket = f"contract-{uuid.uuid4().hex[:12]}"
    admin.create_bucket(key, bucket)
    admin.remove_user(key.uid)
    admin.remove_user(key.uid)
    assert admin.s3_keys(key.uid) == {}
    again = new_key()  # the bucket's name is free again
    admin.add_s3_key(again)
    admin.create_bucket(again, bucket)
    admin.remove_user(again.uid)


def s3(gateway: Any, key: S3Key) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(signature_version="s3v4", s3={"addressing_style": "path"})
    return boto3.client(
        "s3",
        endpoint_url=gateway.url,
        aws_access_key_id=key.access,
        aws_secret_access_key=key.secret,
        region_name="nimbus",
        config=config,
    )


@pytest.mark.ceph
def test_an_added_key_signs_s3_requests_until_removed(ceph_cluster: Any, rgw_gateway: Any):
    from botocore.exceptions import ClientError

    from activities.objectstore.radosgw_admin import RadosGatewayAdmin

    admin = RadosGatewayAdmin(str(ceph_cluster.conf), str(ceph_cluster.keyring))
    key = new_key()
    admin.add_s3_key(key)
    client = s3(rgw_gateway, key)
    client.create_bucket(Bucket="contract")
    client.put_object(Bucket="contract", Key="k", Body=b"hello")
    assert client.get_object(Bucket="contract", Key="k")["Body"].read() == b"hello"
    client.delete_object(Bucket="contract", Key="k")
    client.delete_bucket(Bucket="contract")
    admin.remove_s3_key(key.uid, key.access)
    with pytest.raises(ClientError) as refused:
        client.list_buckets()
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


@pytest.mark.ceph
def test_a_removed_user_takes_its_objects_with_it(ceph_cluster: Any, rgw_gateway: Any):
    """``remove_user`` on the real gateway: the bucket with an object in it goes too."""
    from botocore.exceptions import ClientError

    from activities.objectstore.radosgw_admin import RadosGatewayAdmin

    admin = RadosGatewayAdmin(
        str(ceph_cluster.conf), str(ceph_cluster.keyring), s3_endpoint=rgw_gateway.url
    )
    key = new_key()
    admin.add_s3_key(key)
    admin.create_bucket(key, "full-bucket")
    client = s3(rgw_gateway, key)
    client.put_object(Bucket="full-bucket", Key="k", Body=b"data")
    admin.remove_user(key.uid)
    with pytest.raises(ClientError) as refused:
        client.list_buckets()
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    again = new_key()
    admin.add_s3_key(again)
    admin.create_bucket(again, "full-bucket")  # gone with its object, so free again
    assert s3(rgw_gateway, again).list_objects_v2(Bucket="full-bucket")["KeyCount"] == 0
    admin.remove_user(again.uid)


@pytest.mark.ceph
def test_the_bucket_samples_own_s3_signing_is_what_the_gateway_accepts(
    ceph_cluster: Any, rgw_gateway: Any
):
    """The sample app signs S3 requests with the standard library alone (its runtime has
    no boto3): a note it stores on the real gateway reads back, and a wrong secret is 403."""
    import importlib.util
    import urllib.error

    from activities.objectstore.radosgw_admin import RadosGatewayAdmin
    from nimbus.config import CHECKOUT

    path = CHECKOUT / "paas" / "samples" / "notes-app" / "notes.py"
    spec = importlib.util.spec_from_file_location("bucket_sample", path)
    assert spec is not None and spec.loader is not None
    sample = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sample)
    admin = RadosGatewayAdmin(
        str(ceph_cluster.conf), str(ceph_cluster.keyring), s3_endpoint=rgw_gateway.url
    )
    key = new_key()
    admin.add_s3_key(key)
    admin.create_bucket(key, "notes")
    creds = {
        "endpoint": rgw_gateway.url,
        "bucket": "notes",
        "access_key_id": key.access,
        "secret_access_key": key.secret,
        "region": "RegionOne",
    }
    sample.s3_request(creds, "PUT", "hello note", b"kept in the bucket")
    assert sample.s3_request(creds, "GET", "hello note") == b"kept in the bucket"
    with pytest.raises(urllib.error.HTTPError) as refused:
        sample.s3_request({**creds, "secret_access_key": "wrong"}, "GET", "hello note")
    assert refused.value.code == 403
    admin.remove_user(key.uid)
