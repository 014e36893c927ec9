"""Cinder's user messages: why an operation on a volume or snapshot failed.

Written by the activity that marks the volume or snapshot failed, in the same transaction,
and only on the transition out of the operation's status, so a retried activity writes one
message. Kept for Cinder's default 30 days (``guaranteed_until``); a user may delete them.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, DateTime, String
from sqlalchemy.orm import Mapped, Session, mapped_column

from nimbus.db import Base, new_id, utcnow

#: Cinder's ``message_ttl``.
MESSAGE_TTL = dt.timedelta(days=30)

#: (resource type, status the failed operation left) -> Cinder's action and detail: ids
#: and words, from Cinder's ``message_field``.
_EVENTS: dict[tuple[str, str], tuple[tuple[str, str], tuple[str, str]]] = {
    ("VOLUME", "creating"): (
        ("008", "create volume from backend storage"),
        ("012", "Driver failed to create the volume."),
    ),
    ("VOLUME", "extending"): (
        ("007", "extend volume"),
        ("010", "Volume Driver failed to extend volume."),
    ),
    ("VOLUME", "attaching"): (("002", "attach volume"), ("021", "Failed to attach volume.")),
    ("VOLUME", "detaching"): (("004", "update attachment"), ("022", "Failed to detach volume.")),
    ("VOLUME_SNAPSHOT", "creating"): (
        ("009", "create snapshot"),
        ("013", "Snapshot failed to create."),
    ),
}


class VolumeMessage(Base):
    """One user message about a failed volume or snapshot operation."""

    __tablename__ = "volume_messages"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    request_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    resource_type: Mapped[str] = mapped_column(String(32))
    resource_uuid: Mapped[str] = mapped_column(String(36), index=True)
    event_id: Mapped[str] = mapped_column(String(64))
    user_message: Mapped[str] = mapped_column(String(255))
    message_level: Mapped[str] = mapped_column(String(16), default="ERROR")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)


def record_failure(
    s: Session,
    resource_type: str,
    resource_id: str,
    project_id: str,
    left_status: str,
    request_id: str | None,
) -> VolumeMessage | None:
    """Add the message for an operation that failed while the resource was ``left_status``
    (None when that status names no operation with a message)."""
    event = _EVENTS.get((resource_type, left_status))
    if event is None:
        return None
    (action_id, action), (detail_id, detail) = event
    now = utcnow()
    message = VolumeMessage(
        project_id=project_id,
        request_id=request_id,
        resource_type=resource_type,
        resource_uuid=resource_id,
        event_id=f"VOLUME_{resource_type}_{action_id}_{detail_id}",
        user_message=f"{action}:{detail}",
        created_at=now,
        expires_at=now + MESSAGE_TTL,
    )
    s.add(message)
    return message


class VolumeTransfer(Base):
    """An offer to hand a volume (and, unless ``no_snapshots``, its snapshots) to whichever
    project accepts it with the auth key; only the key's salted hash is kept. Accepted or
    cancelled, the row is soft-deleted and keeps its history (Cinder's 3.57 fields)."""

    __tablename__ = "volume_transfers"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    volume_id: Mapped[str] = mapped_column(String(36), index=True)
    name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    salt: Mapped[str] = mapped_column(String(32))
    crypt_hash: Mapped[str] = mapped_column(String(128))
    no_snapshots: Mapped[bool] = mapped_column(Boolean, default=False)
    destination_project_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    accepted: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True, index=True)
