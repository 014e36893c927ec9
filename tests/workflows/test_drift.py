"""The reconciler over fake drivers on a real Temporal server: a domain, a server disk, a
volume image and a network's devices made behind Nimbus's back are found and reported,
never deleted; a volume whose image vanished and a server whose disk vanished are
repaired to say so; a finding that goes away is closed; an operation in flight is not
taken for drift."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from activities.drift import DriftReport
from activities.hypervisor.base import Disk, DomainSpec
from activities.network.base import NetworkSpec
from activities.storage.block import VMS, VOLUMES, RbdRef, root_disk_ref, volume_ref
from nimbus.db import Server, Volume
from nimbus.db_drift import Drift
from tests.support.neutron import Neutron
from tests.support.stack import Stack
from tests.support.twice import RunTwice
from workflows import starter
from workflows.common import server_workflow_id
from workflows.reconcile import RECONCILE_ID, ReconcileCloud, ReconcileInput


def _pass(stack: Stack) -> DriftReport:
    async def run(client: Any) -> DriftReport:
        result: DriftReport = await client.execute_workflow(
            ReconcileCloud.run,
            ReconcileInput(),
            id=f"reconcile-test-{uuid.uuid4()}",
            task_queue="nimbus-control",
            result_type=DriftReport,
        )
        return result

    return stack.bridge.run(run)


def _boot(stack: Stack) -> str:
    body = {"server": {"name": "vm", "flavorRef": "1", "imageRef": stack.image_id()}}
    headers = {"X-Auth-Token": stack.token("alice")}
    response = stack.client.post("/compute/v2.1/servers", json=body, headers=headers)
    assert response.status_code == 202, response.json
    server_id = str(response.json["server"]["id"])
    stack.finish(server_workflow_id(server_id, "boot"))
    return server_id


def _volume(stack: Stack) -> str:
    token = stack.token("alice")
    project = stack.token_info(token)["project"]["id"]
    response = stack.client.post(
        f"/volume/v3/{project}/volumes",
        json={"volume": {"size": 1, "name": "v"}},
        headers={"X-Auth-Token": token},
    )
    assert response.status_code == 202, response.json
    volume_id = str(response.json["volume"]["id"])
    stack.finish(f"volume-{volume_id}-create")
    return volume_id


def _open(stack: Stack) -> set[tuple[str, str]]:
    with stack.db.session() as s:
        rows = s.scalars(select(Drift).where(Drift.resolved_at.is_(None)))
        return {(d.kind, d.subject) for d in rows}


def test_what_is_made_behind_nimbus_s_back_is_reported_and_vanished_objects_repaired(
    stack: Stack, tmp_path: Path
) -> None:
    server_id, volume_id = _boot(stack), _volume(stack)
    # A network of the cloud's own, its devices on the host: not drift.
    kept = Neutron(stack, "alice").network("kept")["id"]
    deadline = time.monotonic() + 30
    while kept not in stack.drivers.network.state().networks:
        assert time.monotonic() < deadline, "the network's devices never came"
        time.sleep(0.05)
    assert _pass(stack).open == {}

    stranger = str(uuid.uuid4())
    prefix = stack.settings.instance_prefix
    stack.store.create(RbdRef(VMS, f"{stranger}_disk"), 1 << 20)
    root = Disk("vda", "rbd", f"vms/{stranger}_disk", "raw")
    stack.hypervisor.define_and_start(
        DomainSpec(f"{prefix}{stranger}", stranger, 1, 64, root, str(tmp_path / "console.log"))
    )
    stack.store.create(RbdRef(VOLUMES, f"volume-{stranger}"), 1 << 20)
    net = str(uuid.uuid4())
    stack.drivers.network.ensure_network(NetworkSpec(network_id=net, segment=4000))
    stack.drivers.network.foreign_bridges.add("brqbyhand0000")
    stack.store.delete(volume_ref(volume_id))

    report = _pass(stack)
    assert report.open == {
        "orphan_domain": 1,
        "orphan_disk": 1,
        "orphan_volume": 1,
        "orphan_network": 1,
        # The network's bridge too (its row is gone), and the one made by hand.
        "orphan_bridge": 2,
    }
    assert report.repaired == (
        f"missing_volume {volume_id}: its image volumes/volume-{volume_id} is gone from Ceph",
    )
    with stack.db.session() as s:
        volume = s.get(Volume, volume_id)
        assert volume is not None and volume.status == "error"
    # Reported, never deleted.
    assert f"{prefix}{stranger}" in stack.hypervisor.domains
    assert stack.store.exists(RbdRef(VMS, f"{stranger}_disk"))
    assert net in stack.drivers.network.state().networks

    # Found again: still one finding each, not a new one.
    again = _pass(stack)
    assert again.found == () and again.open == report.open

    # The stranger's domain and disk go: their findings close. A server's disk vanishes:
    # the server is put in ERROR with the reason.
    stack.hypervisor.destroy(f"{prefix}{stranger}")
    stack.store.delete(RbdRef(VMS, f"{stranger}_disk"))
    stack.store.delete(root_disk_ref(server_id))
    third = _pass(stack)
    assert "orphan_domain" not in third.open and "orphan_disk" not in third.open
    assert third.resolved == 2
    assert third.repaired == (
        f"missing_disk {server_id}: its root disk vms/{server_id}_disk is gone from Ceph",
    )
    with stack.db.session() as s:
        server = s.get(Server, server_id)
        assert server is not None and server.status == "ERROR"
        assert server.fault and "gone from Ceph" in server.fault["message"]
    assert _open(stack) == {
        ("orphan_volume", f"volumes/volume-{stranger}"),
        ("orphan_network", net),
        ("orphan_bridge", f"brq{net[:11]}"),
        ("orphan_bridge", "brqbyhand0000"),
    }


def test_every_reconcile_activity_run_twice_records_each_finding_once(stack: Stack) -> None:
    runs = RunTwice()
    stack.restart_worker([runs])
    stranger = str(uuid.uuid4())
    stack.store.create(RbdRef(VMS, f"{stranger}_disk"), 1 << 20)
    volume_id = _volume(stack)
    stack.store.delete(volume_ref(volume_id))
    report = _pass(stack)
    assert report.open == {"orphan_disk": 1}  # the second run's answer: nothing new
    with stack.db.session() as s:
        kinds = sorted(d.kind for d in s.scalars(select(Drift)))
    assert kinds == ["missing_volume", "orphan_disk"]
    names = {"hosts_to_check", "host_inventory", "store_inventory", "compare"}
    assert names <= set(runs.twice), names - set(runs.twice)


def test_the_schedule_is_made_once_and_takes_a_new_interval(stack: Stack) -> None:
    async def ensure(client: Any, seconds: int) -> Any:
        await starter.ensure_reconcile_schedule(client, timedelta(seconds=seconds))
        handle = client.get_schedule_handle(RECONCILE_ID)
        described = await handle.describe()
        return described.schedule.spec.intervals[0].every

    async def delete(client: Any) -> None:
        await client.get_schedule_handle(RECONCILE_ID).delete()

    try:
        assert stack.bridge.run(lambda c: ensure(c, 600)) == timedelta(seconds=600)
        assert stack.bridge.run(lambda c: ensure(c, 3600)) == timedelta(seconds=3600)
    finally:
        stack.bridge.run(delete)  # the Temporal server is the session's: no pass later
