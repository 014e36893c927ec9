"""Database activities of a volume-backed server: its plan, its root attachment, and the
volumes that go with it when it is deleted (``delete_on_termination``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from temporalio import activity

from activities.compute import ServerRef
from activities.placement import claim
from activities.records import BootPlan, _building, boot_plan
from nimbus.db import Database, Server, Volume, VolumeAttachment
from nimbus.db_compute import server_flavor
from nimbus.errors import Conflict, NotFound

#: The root disk's device, as on an image-backed server.
ROOT_DEVICE = "vda"


@dataclass(frozen=True)
class RootVolumeInput:
    server_id: str
    volume_id: str
    host: str
    delete_on_termination: bool = False


@dataclass(frozen=True)
class VolumeIds:
    volume_ids: tuple[str, ...]


class VolumeBootRecords:
    def __init__(self, db: Database) -> None:
        self.db = db

    @activity.defn
    def plan_volume_boot(self, inp: ServerRef) -> BootPlan:
        """Place the server as ``plan_boot`` does; its root is a volume, not an image."""
        with self.db.session() as s:
            server = _building(s.get(Server, inp.server_id), inp.server_id)
            flavor = server_flavor(s, server.id, server.flavor_id)
            if flavor is None:
                raise NotFound("the server's flavor no longer exists")
            decision = claim(s, server, flavor)
            server.task_state = "spawning"
            return boot_plan(server, flavor, "", decision.summary())

    @activity.defn
    def attach_root(self, inp: RootVolumeInput) -> None:
        """The root attachment (``vda``, boot index 0) and the volume in-use; an attachment
        this server already has is kept, another server's is a ``Conflict``."""
        with self.db.session() as s:
            volume = s.get(Volume, inp.volume_id)
            if volume is None or volume.deleted_at is not None:
                raise NotFound(f"Volume {inp.volume_id} could not be found.")
            found = s.scalars(
                select(VolumeAttachment).where(VolumeAttachment.volume_id == inp.volume_id)
            ).first()
            if found is not None and found.server_id != inp.server_id:
                raise Conflict(f"Volume {inp.volume_id} is attached to another server.")
            if found is None:
                s.add(
                    VolumeAttachment(
                        volume_id=inp.volume_id,
                        server_id=inp.server_id,
                        device=ROOT_DEVICE,
                        host=inp.host,
                        boot_index=0,
                        delete_on_termination=inp.delete_on_termination,
                    )
                )
            volume.status = "in-use"

    @activity.defn
    def volumes_deleted_with(self, inp: ServerRef) -> VolumeIds:
        """The server's volumes mapped with ``delete_on_termination``."""
        with self.db.session() as s:
            rows = s.scalars(
                select(VolumeAttachment.volume_id).where(
                    VolumeAttachment.server_id == inp.server_id,
                    VolumeAttachment.delete_on_termination.is_(True),
                )
            ).all()
        return VolumeIds(tuple(sorted(rows)))

    def all(self) -> list[Callable[..., Any]]:
        return [self.plan_volume_boot, self.attach_root, self.volumes_deleted_with]
