"""The host agent restarts operations whose workflow never started (an API crash between
inserting the row and starting the workflow)."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from launcher.hostagent import HostAgent
from nimbus.db import Host, Server, utcnow
from tests.support.stack import Stack
from workflows.common import server_workflow_id


def _orphan_row(stack: Stack, **fields: object) -> str:
    with stack.db.session() as s:
        row = Server(
            project_id="p1",
            user_id="u1",
            name="orphan",
            flavor_id="1",
            image_id=stack.image_id(),
            status="BUILD",
            updated_at=utcnow() - dt.timedelta(minutes=5),
            **fields,
        )
        s.add(row)
        s.flush()
        return row.id


def _reconcile(stack: Stack) -> None:
    async def run(client: Client) -> None:
        agent = HostAgent(stack.settings, stack.db, stack.hypervisor, client)
        await agent.reconcile()

    stack.bridge.run(run)


def test_build_row_without_workflow_gets_booted(stack: Stack) -> None:
    server_id = _orphan_row(stack)
    _reconcile(stack)
    stack.finish(server_workflow_id(server_id, "boot"))
    assert stack.server(server_id).status == "ACTIVE"  # type: ignore[union-attr]


def test_deleting_row_without_workflow_gets_deleted(stack: Stack) -> None:
    server_id = _orphan_row(stack, task_state="deleting")
    _reconcile(stack)
    stack.finish(server_workflow_id(server_id, "delete"))
    assert stack.server(server_id).deleted_at is not None  # type: ignore[union-attr]


def test_fresh_rows_are_left_to_their_own_workflow(stack: Stack) -> None:
    with stack.db.session() as s:
        row = Server(
            project_id="p1",
            user_id="u1",
            name="new",
            flavor_id="1",
            image_id=stack.image_id(),
            status="BUILD",
        )
        s.add(row)
    _reconcile(stack)
    assert asyncio.run(_never_started(stack, row.id))


async def _never_started(stack: Stack, server_id: str) -> bool:
    client = await Client.connect(stack.settings.temporal_address)
    try:
        await client.get_workflow_handle(server_workflow_id(server_id, "boot")).describe()
    except RPCError as exc:
        return exc.status == RPCStatusCode.NOT_FOUND
    return False


def test_a_new_host_has_the_others_reconciled_so_their_vxlans_flood_to_it(stack: Stack) -> None:
    with stack.db.session() as s:
        s.add(Host(name="h2", vcpus=1, memory_mib=1, vtep_address="10.1.1.2"))
    moved = dataclasses.replace(stack.settings, vtep_address="10.1.1.1")

    async def run(client: Client) -> tuple[bool, bool, list[str]]:
        agent = HostAgent(moved, stack.db, stack.hypervisor, client)
        first, again = agent.heartbeat(), agent.heartbeat()
        return first, again, await agent.announce()

    assert stack.bridge.run(run) == (True, False, ["h2"])

    async def started(client: Client) -> str:
        described = await client.get_workflow_handle("host-h2-network-sync").describe()
        return str(described.workflow_type)

    assert stack.bridge.run(started) == "SyncHostNetworks"
