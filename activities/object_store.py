"""Object store activities: the S3 key of an EC2 credential on its project's gateway user.

The secret never travels through a workflow (Temporal keeps every input in its history,
which its web UI shows): activities take the access key and read the secret from the
credential's row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from temporalio import activity

from activities.objectstore.base import ObjectStoreAdmin, S3Key
from nimbus.db import Database, Project
from nimbus.db_credentials import Ec2Credential
from nimbus.errors import NotFound


@dataclass(frozen=True)
class Ec2CredentialRef:
    """An EC2 credential by its access key, and the project whose gateway user holds it."""

    access: str
    project_id: str


class ObjectStoreActivities:
    """S3 keys on the object store's users. Host-independent."""

    def __init__(self, admin: ObjectStoreAdmin, db: Database) -> None:
        self.admin = admin
        self.db = db

    @activity.defn
    def add_s3_key(self, inp: Ec2CredentialRef) -> None:
        """Put the credential's key pair on the project's user (made if missing); already
        there is success. ``NotFound`` if the credential's row is gone."""
        with self.db.session() as s:
            row = s.get(Ec2Credential, inp.access)
            if row is None or row.project_id != inp.project_id:
                raise NotFound(f"EC2 credential {inp.access} does not exist")
            project = s.get(Project, row.project_id)
            name = project.name if project is not None else row.project_id
            key = S3Key(row.project_id, row.access, row.secret, name)
        self.admin.add_s3_key(key)

    @activity.defn
    def remove_s3_key(self, inp: Ec2CredentialRef) -> None:
        """Remove the key pair from the project's user; missing is success."""
        self.admin.remove_s3_key(inp.project_id, inp.access)

    def all(self) -> list[Callable[..., Any]]:
        return [self.add_s3_key, self.remove_s3_key]
