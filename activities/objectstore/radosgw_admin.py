"""``RadosGatewayAdmin``: S3 keys of RADOS Gateway users, through ``radosgw-admin``.

``radosgw-admin`` writes users and keys into the cluster's RGW pools and notifies running
gateways, so a key works on the gateway as soon as the call returns. Every call is bounded
by a timeout (a client of a broken cluster can hang) and its failures are turned into the
Nimbus error tree here, in ``_run``.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

from activities.objectstore.base import S3Key
from nimbus.errors import BackendUnavailable, Conflict

#: What ``radosgw-admin`` prints for a user or key that does not exist.
_NO_USER = "no user info saved"
_NO_KEY = "unable to find access key"
_USER_EXISTS = "exists"
#: ``key create`` says the first, ``user create`` the second, for a key another user holds.
_KEY_TAKEN = ("existing S3 key", "duplicate key provided")


class RadosGatewayAdmin:
    """The ``ObjectStoreAdmin`` of a Ceph cluster's gateways (any cluster: ours or not)."""

    def __init__(
        self,
        conf: str,
        keyring: str,
        client: str = "admin",
        timeout: float = 30,
        s3_endpoint: str | None = None,
    ):
        self.base = ["radosgw-admin", "-c", conf, "-n", f"client.{client}", "--keyring", keyring]
        self.base += [f"--rados_mon_op_timeout={int(timeout)}"]
        self.base += [f"--rados_osd_op_timeout={int(timeout)}", "--client_mount_timeout=10"]
        self.timeout = timeout
        #: The gateway's S3 URL, where buckets are made with their owner's key.
        self.s3_endpoint = s3_endpoint

    def add_s3_key(self, key: S3Key) -> None:
        """See ``ObjectStoreAdmin.add_s3_key``."""
        keys = self.s3_keys(key.uid) if self._user(key.uid) is not None else None
        if keys is not None and key.access in keys:
            if keys[key.access] != key.secret:
                raise Conflict(f"S3 access key {key.access} has another secret")
            return
        pair = ["--key-type=s3", f"--access-key={key.access}", f"--secret-key={key.secret}"]
        if keys is None:
            name = key.display_name or key.uid
            proc = self._call("user", "create", f"--uid={key.uid}", f"--display-name={name}", *pair)
            if proc.returncode == 0:
                return
            self._check_taken(proc, key.access)
            if _USER_EXISTS not in proc.stderr:  # else made meanwhile: add the key below
                self._fail(proc)
        proc = self._call("key", "create", f"--uid={key.uid}", *pair)
        self._check_taken(proc, key.access)
        if proc.returncode != 0:
            self._fail(proc)

    def remove_s3_key(self, uid: str, access: str) -> None:
        """See ``ObjectStoreAdmin.remove_s3_key``."""
        if access not in self.s3_keys(uid):
            return
        proc = self._call("key", "rm", f"--uid={uid}", "--key-type=s3", f"--access-key={access}")
        if proc.returncode != 0 and _NO_KEY not in proc.stderr:
            self._fail(proc)

    def s3_keys(self, uid: str) -> dict[str, str]:
        """See ``ObjectStoreAdmin.s3_keys``."""
        info = self._user(uid)
        if info is None:
            return {}
        return {k["access_key"]: k["secret_key"] for k in info.get("keys", [])}

    def create_bucket(self, key: S3Key, bucket: str) -> None:
        """See ``ObjectStoreAdmin.create_bucket``: an S3 ``CreateBucket`` as the owner
        (``radosgw-admin`` cannot make one). Imported here: only this call needs boto3."""
        import boto3
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError, ClientError

        if not self.s3_endpoint:
            raise BackendUnavailable("the object store has no S3 endpoint configured")
        s3 = boto3.client(
            "s3",
            endpoint_url=self.s3_endpoint,
            aws_access_key_id=key.access,
            aws_secret_access_key=key.secret,
            region_name="us-east-1",
            config=Config(
                connect_timeout=self.timeout,
                read_timeout=self.timeout,
                retries={"max_attempts": 1},
                s3={"addressing_style": "path"},
            ),
        )
        try:
            s3.create_bucket(Bucket=bucket)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code == "BucketAlreadyOwnedByYou":
                return
            if code == "BucketAlreadyExists":
                raise Conflict(f"bucket {bucket} belongs to another user") from exc
            raise BackendUnavailable(f"S3 CreateBucket {bucket}: {code or exc}") from exc
        except BotoCoreError as exc:
            raise BackendUnavailable(f"S3 CreateBucket {bucket}: {exc}") from exc

    def remove_user(self, uid: str) -> None:
        """See ``ObjectStoreAdmin.remove_user``: ``user rm --purge-data`` (its buckets and
        objects go with it)."""
        if self._user(uid) is None:
            return
        proc = self._call("user", "rm", f"--uid={uid}", "--purge-data")
        if proc.returncode != 0 and self._user(uid) is not None:
            self._fail(proc)

    @staticmethod
    def _check_taken(proc: subprocess.CompletedProcess[str], access: str) -> None:
        if any(words in proc.stderr for words in _KEY_TAKEN):
            raise Conflict(f"S3 access key {access} belongs to another user")

    def _user(self, uid: str) -> dict[str, Any] | None:
        """The user's info, ``None`` if there is no such user."""
        proc = self._call("user", "info", f"--uid={uid}")
        if proc.returncode != 0:
            if _NO_USER in proc.stderr:
                return None
            self._fail(proc)
        info: dict[str, Any] = json.loads(proc.stdout)
        return info

    def _call(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run one ``radosgw-admin`` command; a hang or a missing tool is
        ``BackendUnavailable``."""
        try:
            return subprocess.run(
                [*self.base, *args], capture_output=True, text=True, timeout=self.timeout
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise BackendUnavailable(f"radosgw-admin {' '.join(args[:2])}: {exc}") from exc

    def _fail(self, proc: subprocess.CompletedProcess[str]) -> None:
        """Any other failure: the cluster may be unwell, so it is retried. Only the command
        words are named, never its arguments (they may hold a secret)."""
        command = " ".join(proc.args[len(self.base) : len(self.base) + 2])
        message = (proc.stderr or proc.stdout).strip()[-500:]
        raise BackendUnavailable(f"radosgw-admin failed ({command}): {message}")
