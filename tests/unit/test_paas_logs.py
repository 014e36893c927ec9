"""The app log store and the shipper that fills it from instances' log files."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from temporalio.testing import ActivityEnvironment

from activities.paas_logs import LogShipper, parse_exit
from activities.paas_records import AppEventInput, AppLogInput, PaasRecords
from nimbus.db import Database
from nimbus.db_paas import App, AppEvent, Instance, LogOffset
from paas import logstore


@pytest.fixture
def db(database_url: str) -> Database:
    database = Database(database_url)
    database.create_schema()
    with database.session() as s:
        s.add(App(id="a1", project_id="p", name="web"))
        s.add(Instance(id="i0", app_id="a1", index=0, release_id="r", server_id="s0"))
    return database


def _write(tmp_path: Path, server: str, text: str) -> None:
    folder = tmp_path / "instances" / server
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "app.log").open("a") as f:
        f.write(text)


def test_lines_come_back_in_order_with_their_source(db: Database) -> None:
    logstore.append(db, "a1", "STG", ["one", "two"])
    logstore.append(db, "a1", "APP/0", ["three"])
    lines = logstore.read(db, "a1", after=0)
    assert [(x.source, x.line) for x in lines] == [
        ("STG", "one"),
        ("STG", "two"),
        ("APP/0", "three"),
    ]
    assert [x.line for x in logstore.read(db, "a1", after=lines[1].seq)] == ["three"]


def test_recent_reads_the_newest_lines(db: Database) -> None:
    logstore.append(db, "a1", "APP/0", [f"l{i}" for i in range(10)])
    assert [x.line for x in logstore.read(db, "a1", after=-1, limit=3)] == ["l7", "l8", "l9"]


def test_past_the_bound_the_oldest_go_and_are_counted(db: Database) -> None:
    logstore.append(db, "a1", "APP/0", [f"l{i}" for i in range(8)], cap=5)
    assert [x.line for x in logstore.read(db, "a1", after=0)] == ["l3", "l4", "l5", "l6", "l7"]
    with db.session() as s:
        assert s.get(App, "a1").log_dropped == 3  # type: ignore[union-attr]


def test_the_shipper_stores_whole_lines_once(db: Database, tmp_path: Path) -> None:
    shipper = LogShipper(db, tmp_path / "instances")
    _write(tmp_path, "s0", "NIMBUS APP STARTED 0\r\nhello\npart")
    assert shipper.ship_all() == 2
    assert shipper.ship_all() == 0
    _write(tmp_path, "s0", "ial\n")
    assert shipper.ship_all() == 1
    lines = logstore.read(db, "a1", after=0)
    assert [(x.source, x.line) for x in lines] == [
        ("APP/0", "NIMBUS APP STARTED 0"),
        ("APP/0", "hello"),
        ("APP/0", "partial"),
    ]


def test_the_shipper_notes_start_and_exit(db: Database, tmp_path: Path) -> None:
    shipper = LogShipper(db, tmp_path / "instances")
    _write(tmp_path, "s0", "NIMBUS APP STARTED 0\nboom\nNIMBUS APP EXITED 3\n")
    shipper.ship_all()
    with db.session() as s:
        offset = s.get(LogOffset, "s0")
        assert offset is not None and offset.started and offset.exit_status == 3


def test_files_of_servers_that_are_no_instances_are_left_alone(
    db: Database, tmp_path: Path
) -> None:
    _write(tmp_path, "stranger", "secret\n")
    assert LogShipper(db, tmp_path / "instances").ship_all() == 0


def test_exit_lines_parse() -> None:
    assert parse_exit("NIMBUS APP EXITED 137") == 137
    assert parse_exit("NIMBUS APP EXITED") is None
    assert parse_exit("app says NIMBUS APP EXITED 1") is None


def _info(activity_id: str) -> Any:
    return dataclasses.replace(
        ActivityEnvironment().info, workflow_run_id="run-1", activity_id=activity_id
    )


def test_a_retried_event_or_log_step_records_once(db: Database) -> None:
    """A step retried after it committed (same run, same activity id) adds nothing; the
    same words from another step are recorded again."""
    records = PaasRecords(db)
    event = AppEventInput("a1", "crash", "instance 0 exited")
    lines = AppLogInput("a1", "STG", ["Staging failed: no Procfile"])
    for activity_id in ("7", "7", "8"):
        env = ActivityEnvironment()
        env.info = _info(activity_id)
        env.run(records.event, event)
        env.run(records.log, lines)
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(AppEvent)) == 2
    assert [x.line for x in logstore.read(db, "a1", after=0)] == [lines.lines[0]] * 2
