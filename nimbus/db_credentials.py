"""The table of EC2 credentials: S3 key pairs Nimbus issued, each for one user and project.

Keystone keeps the secret and returns it to the credential's owner; so does Nimbus. The
key pair itself lives on the RADOS Gateway user of the project (its id), put there by the
``CreateEc2Credential`` workflow.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from nimbus.db import Base, utcnow


class Ec2Credential(Base):
    __tablename__ = "ec2_credentials"
    access: Mapped[str] = mapped_column(String(64), primary_key=True)
    secret: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
