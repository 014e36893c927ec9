"""``FakeObjectStoreAdmin``: the ``ObjectStoreAdmin`` contract in memory, for tests."""

from __future__ import annotations

import threading

from activities.faults import Faults
from activities.objectstore.base import S3Key
from nimbus.errors import Conflict


class FakeObjectStoreAdmin:
    """Users (uid -> display name) and their keys; thread-safe; checks injected failures
    (``faults.fail("add_s3_key", error)``) before anything else."""

    def __init__(self) -> None:
        self.users: dict[str, str] = {}
        self.keys: dict[str, S3Key] = {}
        #: bucket -> the uid that owns it
        self.buckets: dict[str, str] = {}
        self.faults = Faults()
        self._lock = threading.Lock()

    def add_s3_key(self, key: S3Key) -> None:
        self.faults.check("add_s3_key")
        with self._lock:
            held = self.keys.get(key.access)
            if held is not None and (held.uid, held.secret) != (key.uid, key.secret):
                raise Conflict(f"S3 access key {key.access} is taken")
            self.users.setdefault(key.uid, key.display_name)
            self.keys[key.access] = key

    def remove_s3_key(self, uid: str, access: str) -> None:
        self.faults.check("remove_s3_key")
        with self._lock:
            held = self.keys.get(access)
            if held is not None and held.uid == uid:
                del self.keys[access]

    def s3_keys(self, uid: str) -> dict[str, str]:
        self.faults.check("s3_keys")
        with self._lock:
            return {k.access: k.secret for k in self.keys.values() if k.uid == uid}

    def create_bucket(self, key: S3Key, bucket: str) -> None:
        self.faults.check("create_bucket")
        with self._lock:
            held = self.keys.get(key.access)
            if held is None or (held.uid, held.secret) != (key.uid, key.secret):
                raise Conflict(f"S3 access key {key.access} is not {key.uid}'s")
            owner = self.buckets.setdefault(bucket, key.uid)
            if owner != key.uid:
                raise Conflict(f"bucket {bucket} belongs to another user")

    def remove_user(self, uid: str) -> None:
        self.faults.check("remove_user")
        with self._lock:
            self.users.pop(uid, None)
            self.keys = {a: k for a, k in self.keys.items() if k.uid != uid}
            self.buckets = {b: owner for b, owner in self.buckets.items() if owner != uid}
