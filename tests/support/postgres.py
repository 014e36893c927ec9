"""A throw-away PostgreSQL cluster for the tests, and an empty database for each test.

Debian's PostgreSQL 15 server runs from a temporary folder, listening only on a unix
socket there; as root, the cluster belongs to the ``postgres`` system user (``initdb``
refuses root). A database with Nimbus's schema is made once; each test's database is a
copy of it, or an earlier test's emptied and renamed (see ``PostgresCluster.lease``). A
test that changes the schema itself takes a database of its own (``empty``), dropped
after it.
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, make_url, text
from sqlalchemy.pool import NullPool

from launcher.services.process import wait_until
from nimbus.db import Database

BIN = Path("/usr/lib/postgresql/15/bin")
SUPERUSER = "postgres"
TEMPLATE = "nimbus_template"
#: The socket's name carries a port number even though nothing listens on TCP.
PORT = 5432
#: A server for tests: nothing needs to survive a crash, so nothing waits for the disk.
SERVER_SETTINGS = {
    "listen_addresses": "",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "400",
    "shared_buffers": "64MB",
    "log_min_messages": "warning",
}

#: Deletes every row (but the schema's revision) and restarts every sequence of the public
#: schema, in one statement.
#: A DELETE of a few rows beats TRUNCATE, which makes new files for each table and index;
#: the replica role skips foreign-key checks, so the order of the tables does not matter.
EMPTY = """
DO $$
DECLARE name text;
BEGIN
  SET LOCAL session_replication_role = replica;
  FOR name IN SELECT tablename FROM pg_tables
              WHERE schemaname = 'public' AND tablename <> 'alembic_version' LOOP
    EXECUTE format('DELETE FROM %I', name);
  END LOOP;
  FOR name IN SELECT sequencename FROM pg_sequences WHERE schemaname = 'public' LOOP
    EXECUTE format('ALTER SEQUENCE %I RESTART', name);
  END LOOP;
END $$
"""


def _owner() -> dict[str, Any]:
    """``subprocess`` arguments that run the server's programs as a user other than root."""
    if os.geteuid() != 0:
        return {}
    return {"user": SUPERUSER, "group": SUPERUSER}


class PostgresCluster:
    """A running server and the databases made in it."""

    def __init__(self, base: Path, process: subprocess.Popen[bytes]) -> None:
        self.base, self.process = base, process
        self._numbers = itertools.count(1)
        self._idle: list[str] = []
        self._admin = create_engine(self.url("postgres"), isolation_level="AUTOCOMMIT")

    def url(self, database: str) -> str:
        """The SQLAlchemy URL of one of its databases, through the socket."""
        return f"postgresql+psycopg://{SUPERUSER}@/{database}?host={self.base}&port={PORT}"

    def make_template(self) -> None:
        """The database every test's is made from: Nimbus's schema, no rows."""
        self._execute(f"CREATE DATABASE {TEMPLATE}")
        db = Database(self.url(TEMPLATE))
        db.create_schema()
        db.engine.dispose()

    def lease(self) -> str:
        """The URL of a database with the schema and no rows, under a name never used
        before, so that nothing left connected to an earlier one can reach it.

        A released database is emptied and renamed (about twice as fast as copying the
        template); only when none is idle is a new one copied."""
        name = f"test_{os.getpid()}_{next(self._numbers)}"
        if not self._idle:
            self._execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE} STRATEGY FILE_COPY")
            return self.url(name)
        old = self._idle.pop()
        self._disconnect(old)
        self._execute(f"ALTER DATABASE {old} RENAME TO {name}")
        engine = create_engine(self.url(name), poolclass=NullPool)
        with engine.begin() as conn:
            conn.execute(text(EMPTY))
        engine.dispose()
        return self.url(name)

    def release(self, url: str) -> None:
        """Give back a database ``lease`` handed out, for a later lease to empty."""
        self._idle.append(str(make_url(url).database))

    def empty(self) -> str:
        """The URL of a new database without even the schema (to build old ones in)."""
        name = f"empty_{os.getpid()}_{next(self._numbers)}"
        self._execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def drop(self, url: str) -> None:
        """Drop a database, closing what is still connected to it."""
        self._execute(f"DROP DATABASE IF EXISTS {make_url(url).database} WITH (FORCE)")

    def _disconnect(self, name: str) -> None:
        """End every session still connected to ``name`` (the pools of an earlier test's
        engines) and return once they are gone. ``pg_terminate_backend`` with a timeout
        waits in steps of 100 ms, which cost every PostgreSQL test 0.2 s; the sessions
        end within a few milliseconds of the signal."""
        sessions = f"FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()"
        with self._admin.connect() as conn:
            conn.execute(text(f"SELECT pg_terminate_backend(pid) {sessions}"))
            deadline = time.monotonic() + 10
            while conn.execute(text(f"SELECT count(*) {sessions}")).scalar():
                if time.monotonic() > deadline:
                    raise RuntimeError(f"sessions of {name} still open after 10 s")
                time.sleep(0.002)

    def _execute(self, sql: str) -> None:
        with self._admin.connect() as conn:
            conn.execute(text(sql))

    def stop(self) -> None:
        """Fast shutdown (clients are disconnected), then remove every file."""
        self._admin.dispose()
        self.process.send_signal(signal.SIGINT)
        self.process.wait(timeout=60)
        shutil.rmtree(self.base, ignore_errors=True)


def _ready(data: Path) -> bool:
    """The server accepts connections: the last line of its pid file says so."""
    try:
        return (data / "postmaster.pid").read_text().split("\n")[7].strip() == "ready"
    except (OSError, IndexError):
        return False


@contextmanager
def postgres_cluster() -> Iterator[PostgresCluster]:
    """Start a cluster in a new temporary folder; yield it with its template made; stop
    it and remove the folder. Not under pytest's tmp: as root that is closed to others."""
    base = Path(tempfile.mkdtemp(prefix="nimbus-pg-"))
    data, log = base / "data", base / "server.log"
    if os.geteuid() == 0:
        shutil.chown(base, SUPERUSER, SUPERUSER)
    initdb = [str(BIN / "initdb"), "-D", str(data), "-U", SUPERUSER, "-A", "trust", "-E", "UTF8"]
    subprocess.run(
        [*initdb, "--locale=C", "--no-sync"], check=True, capture_output=True, **_owner()
    )
    argv = [str(BIN / "postgres"), "-D", str(data), "-k", str(base), "-p", str(PORT)]
    for key, value in SERVER_SETTINGS.items():
        argv += ["-c", f"{key}={value}"]
    with open(log, "wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, **_owner())
    try:
        if not wait_until(lambda: _ready(data), 30, interval=0.02):
            raise RuntimeError(f"postgres did not start; see {log}")
        cluster = PostgresCluster(base, process)
        cluster.make_template()
    except BaseException:
        process.kill()
        process.wait()
        shutil.rmtree(base, ignore_errors=True)
        raise
    try:
        yield cluster
    finally:
        cluster.stop()


@contextmanager
def database_for(
    cluster: PostgresCluster | None, folder: Path, empty: bool = False
) -> Iterator[str]:
    """The URL of one test's database: a SQLite file in ``folder`` without a cluster, else
    a leased database of the cluster (a new one without the schema when ``empty``)."""
    if cluster is None:
        yield f"sqlite:///{folder / ('empty.db' if empty else 'nimbus.db')}"
        return
    url = cluster.empty() if empty else cluster.lease()
    try:
        yield url
    finally:
        if empty:
            cluster.drop(url)
        else:
            cluster.release(url)
