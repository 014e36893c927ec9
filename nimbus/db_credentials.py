"""The table of EC2 credentials: S3 key pairs Nimbus issued, each for one user and project.

Keystone keeps the secret and returns it to the credential's owner; so does Nimbus. The
key pair itself lives on the RADOS Gateway user of the project (its id), put there by the
``CreateEc2Credential`` workflow.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from nimbus.db import Base, utcnow


class Ec2Credential(Base):
    __tablename__ = "ec2_credentials"
    access: Mapped[str] = mapped_column(String(64), primary_key=True)
    secret: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class ApplicationCredential(Base):
    """Keystone's application credential: a user's delegation of some of its roles on one
    project to an application, which authenticates with the credential's id (or name) and
    secret. Only a hash of the secret is kept; the secret is shown once, at creation."""

    __tablename__ = "application_credentials"
    __table_args__ = (UniqueConstraint("user_id", "name"),)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    secret_hash: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    #: The ids of the roles delegated (a subset of the user's on the project at creation).
    role_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: Unrestricted credentials may manage application credentials themselves.
    unrestricted: Mapped[bool] = mapped_column(Boolean, default=False)
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
