"""Database activities of the volume workflows: statuses, attachments, devices."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from temporalio import activity

from activities.compute import ServerRef
from activities.volumes import PlugInput, VolumeRef
from nimbus.db import Database, Server, Volume, VolumeAttachment, VolumeSnapshot, utcnow
from nimbus.db_volume import record_failure
from nimbus.errors import Conflict, NotFound

#: Devices a volume may take; vda is the root disk.
DEVICES = [f"/dev/vd{c}" for c in "bcdefghijklmnopqrstuvwxyz"]


@dataclass(frozen=True)
class VolumeStatusInput:
    volume_id: str
    status: str
    fault: str | None = None
    size_gib: int | None = None


@dataclass(frozen=True)
class SnapshotStatusInput:
    snapshot_id: str
    status: str


@dataclass(frozen=True)
class AttachPlan:
    host: str
    device: str


@dataclass(frozen=True)
class Attachment:
    plug: PlugInput
    host: str


@dataclass(frozen=True)
class AttachRef:
    volume_id: str
    server_id: str


def _request_id() -> str | None:
    """The workflow that ran the failed operation: where its history is in Temporal's UI."""
    return activity.info().workflow_id if activity.in_activity() else None


class VolumeRecords:
    """Activities over the volume, snapshot and attachment rows."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @activity.defn
    def set_volume_status(self, inp: VolumeStatusInput) -> None:
        """Move a live volume to a status (and size); a deleted one is left alone. A fault
        that ends an operation (create, extend, attach, detach) leaves a user message, in
        the same transaction: a second run finds the status already moved and adds none."""
        with self.db.session() as s:
            volume = s.get(Volume, inp.volume_id)
            if volume is None or volume.deleted_at is not None:
                return
            if inp.fault is not None and volume.status != inp.status:
                record_failure(
                    s, "VOLUME", volume.id, volume.project_id, volume.status, _request_id()
                )
            volume.status, volume.fault = inp.status, inp.fault
            if inp.size_gib is not None:
                volume.size = inp.size_gib

    @activity.defn
    def mark_volume_deleted(self, inp: VolumeRef) -> None:
        with self.db.session() as s:
            volume = s.get(Volume, inp.volume_id)
            if volume is not None and volume.deleted_at is None:
                volume.status, volume.deleted_at = "deleted", utcnow()

    @activity.defn
    def set_snapshot_status(self, inp: SnapshotStatusInput) -> None:
        """Move a live snapshot to a status; a failed create leaves a user message once."""
        with self.db.session() as s:
            snap = s.get(VolumeSnapshot, inp.snapshot_id)
            if snap is None or snap.deleted_at is not None:
                return
            if inp.status == "error" and snap.status != "error":
                record_failure(
                    s, "VOLUME_SNAPSHOT", snap.id, snap.project_id, snap.status, _request_id()
                )
            snap.status = inp.status
            if inp.status == "deleted":
                snap.deleted_at = utcnow()

    @activity.defn
    def plan_attach(self, inp: AttachRef) -> AttachPlan:
        """The server's host and the first free device; an earlier plan is kept."""
        with self.db.session() as s:
            server = s.get(Server, inp.server_id)
            if server is None or server.deleted_at is not None or not server.host:
                raise NotFound(f"Server {inp.server_id} could not be found.")
            if server.task_state == "deleting":
                raise Conflict(f"Server {inp.server_id} is being deleted.")
            rows = s.scalars(
                select(VolumeAttachment).where(VolumeAttachment.server_id == inp.server_id)
            ).all()
        mine = next((r for r in rows if r.volume_id == inp.volume_id), None)
        if mine is not None:
            return AttachPlan(mine.host, mine.device)
        taken = {r.device for r in rows}
        free = next((d for d in DEVICES if d not in taken), None)
        if free is None:
            raise Conflict(f"Server {inp.server_id} has no free device left.")
        return AttachPlan(server.host, free)

    @activity.defn
    def record_attachment(self, inp: PlugInput) -> None:
        """The attachment row and the volume in-use (idempotent)."""
        with self.db.session() as s:
            server = s.get(Server, inp.server_id)
            exists = s.scalars(
                select(VolumeAttachment).where(VolumeAttachment.volume_id == inp.volume_id)
            ).first()
            if exists is None:
                s.add(
                    VolumeAttachment(
                        volume_id=inp.volume_id,
                        server_id=inp.server_id,
                        device=inp.device,
                        host=server.host if server else "",
                        tag=inp.tag,
                        delete_on_termination=inp.delete_on_termination,
                    )
                )
            volume = s.get(Volume, inp.volume_id)
            if volume is not None:
                volume.status = "in-use"

    @activity.defn
    def attachment_of(self, inp: VolumeRef) -> Attachment:
        """Where the volume is plugged in; ``NotFound`` if it is not."""
        with self.db.session() as s:
            row = s.scalars(
                select(VolumeAttachment).where(VolumeAttachment.volume_id == inp.volume_id)
            ).first()
        if row is None:
            raise NotFound(f"Volume {inp.volume_id} is not attached.")
        return Attachment(PlugInput(row.server_id, row.volume_id, row.device), row.host)

    @activity.defn
    def remove_attachment(self, inp: VolumeRef) -> None:
        """Drop the attachment row; the volume becomes available."""
        with self.db.session() as s:
            s.execute(delete(VolumeAttachment).where(VolumeAttachment.volume_id == inp.volume_id))
            volume = s.get(Volume, inp.volume_id)
            if volume is not None and volume.deleted_at is None:
                volume.status = "available"

    @activity.defn
    def release_server_volumes(self, inp: ServerRef) -> None:
        """A deleted server's volumes become available again, as Nova leaves them."""
        with self.db.session() as s:
            rows = s.scalars(
                select(VolumeAttachment).where(VolumeAttachment.server_id == inp.server_id)
            ).all()
            for row in rows:
                volume = s.get(Volume, row.volume_id)
                if volume is not None and volume.deleted_at is None:
                    volume.status = "available"
                s.delete(row)

    def all(self) -> list[Callable[..., Any]]:
        return [
            self.set_volume_status,
            self.mark_volume_deleted,
            self.set_snapshot_status,
            self.plan_attach,
            self.record_attachment,
            self.attachment_of,
            self.remove_attachment,
            self.release_server_volumes,
        ]
