"""The object store admin contract: S3 keys on the gateway's user of a project."""

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
