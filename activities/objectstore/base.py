"""The object store admin contract: S3 keys on the gateway's users (a project's, or a
PaaS service's), the buckets of a service's user, and removing such a user."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class S3Key:
    """One S3 key pair of an object store user.

    Attributes:
        uid: the gateway's user, the Keystone project's id (Swift requests of the project
            act as this user, so its S3 keys see the same containers).
        access: the access key id.
        secret: the secret key.
        display_name: the user's display name if it has to be created (the project name).
    """

    uid: str
    access: str
    secret: str
    display_name: str = ""


class ObjectStoreAdmin(Protocol):
    """Manages the S3 keys of the object store's users."""

    def add_s3_key(self, key: S3Key) -> None:
        """Give ``key.uid`` the key pair, creating the user if it does not exist yet.

        Idempotent: the same key already on the same user is success. ``Conflict`` if the
        access key belongs to another user or has another secret.
        ``BackendUnavailable`` if the gateway's cluster does not answer.
        """
        ...

    def remove_s3_key(self, uid: str, access: str) -> None:
        """Remove the key from the user; a missing key or user is success. The user, its
        other keys and its data stay."""
        ...

    def s3_keys(self, uid: str) -> dict[str, str]:
        """The user's S3 keys, access -> secret; empty if the user does not exist."""
        ...

    def create_bucket(self, key: S3Key, bucket: str) -> None:
        """Make ``bucket``, owned by ``key.uid``, with that user's key pair ``key``.

        Idempotent: the bucket already owned by that user is success. ``Conflict`` if
        another user owns a bucket of that name. ``BackendUnavailable`` if the gateway does
        not answer.
        """
        ...

    def remove_user(self, uid: str) -> None:
        """Remove the user with its keys, buckets and objects; a missing user is success.
        Only for users Nimbus made for one purpose (a service's), never a project's."""
        ...
