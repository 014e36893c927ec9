"""Quota benchmark: what the quota check adds to admitting a server, the transaction that
inserts its BUILD row, on an SQLite database in WAL mode like the cloud's.

    without  insert the server row
    with     take the project's quota lock, count instances, cores and ram from the rows
             (a join with the flavors), then insert the row

Runs ``--count`` admissions of each kind one after another in a project that already has
``--existing`` servers, in a throw-away database, and prints the medians and their ratio.
Usage: ``python benchmarks/quota.py [--count N] [--existing N]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from launcher import bootstrap  # noqa: E402
from nimbus import quota  # noqa: E402
from nimbus.config import QUOTA_DEFAULTS  # noqa: E402
from nimbus.db import Database, Server  # noqa: E402

PROJECT = "bench-project"
AMOUNTS = {"instances": 1, "cores": 1, "ram": 512}


def _server() -> Server:
    return Server(project_id=PROJECT, user_id="bench", name="vm", flavor_id="1", image_id="i")


def _plain(db: Database) -> None:
    with db.session() as s:
        s.add(_server())


def _checked(db: Database) -> None:
    with db.session() as s:
        quota.claim(s, quota.Claim(PROJECT, AMOUNTS), QUOTA_DEFAULTS)
        s.add(_server())


def _median_ms(admit: Callable[[Database], None], db: Database, count: int) -> float:
    times = []
    for _ in range(count):
        began = time.perf_counter()
        admit(db)
        times.append(time.perf_counter() - began)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--existing", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'nimbus.db'}")
        db.create_schema()
        bootstrap.ensure_flavors(db)
        with db.session() as s:
            s.add_all(_server() for _ in range(args.existing))
            # Limits high enough never to refuse, but finite: every resource is counted.
            limits = {"instances": 10**6, "cores": 10**6, "ram": 10**9}
            quota.update(s, PROJECT, limits, force=True)
        plain = _median_ms(_plain, db, args.count)
        checked = _median_ms(_checked, db, args.count)
    print(f"median of {args.count} sequential admissions ({args.existing}+ servers in the project)")
    print(f"{'':24}{'without':>10}{'with quota':>12}{'ratio':>8}")
    print(f"{'insert a server row':24}{plain:>8.2f}ms{checked:>10.2f}ms{checked / plain:>8.2f}")


if __name__ == "__main__":
    main()
