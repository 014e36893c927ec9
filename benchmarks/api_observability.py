"""What observability costs the API: request latency with metrics and log collection on
against the same API with them off, in one run.

    on   request metrics (counter and histogram per route), the JSON access log written
         to a rotated file, and ``/metrics`` scraped once a second (the cloud's own
         metrics read from the database at each scrape, as Prometheus does every 10 s)
    off  none of it

Both apps serve the same throw-away SQLite database (WAL, like the cloud's) through
Flask's test client, so the figures are the API's own work, without HTTP. Requests
alternate between the two, one of each kind at a time, so that drift hits both alike.
Prints the median and 99th percentile of each route and their ratios.
Usage: ``python benchmarks/api_observability.py [--count N]``.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from activities.storage.fake_block import FakeBlockStore  # noqa: E402
from api import create_app  # noqa: E402
from launcher import bootstrap  # noqa: E402
from nimbus.client import password_auth  # noqa: E402
from nimbus.config import Settings  # noqa: E402
from nimbus.db import Database  # noqa: E402
from observability.logs import configure  # noqa: E402

ROUTES = (
    "/compute/v2.1/flavors/detail",
    "/compute/v2.1/servers/detail",
    "/networking/v2.0/networks",
    "/identity/v3/projects",
)


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--count", type=int, default=400, help="requests per route and app")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="nimbus-bench-") as tmp:
        settings = Settings(data_dir=Path(tmp))
        db = Database(settings.db_url)
        creds = bootstrap.bootstrap(db, settings)
        assert creds is not None
        configure("api", settings.log_dir)  # the JSON access log of the "on" app
        logging.getLogger("nimbus.api.access").setLevel(logging.INFO)
        store = FakeBlockStore()
        on = create_app(settings, db, block_store=store).test_client()
        off = create_app(settings, db, block_store=store, observe=False).test_client()
        auth = password_auth(creds.username, creds.password, creds.project_name)
        token = on.post("/identity/v3/auth/tokens", json=auth).headers["X-Subject-Token"]
        headers = {"X-Auth-Token": token}
        stop = threading.Event()

        def scrape() -> None:  # Prometheus, faster than it really scrapes
            scraper = create_app(settings, db, block_store=store).test_client()
            while not stop.wait(1.0):
                assert scraper.get("/metrics").status_code == 200

        scraper = threading.Thread(target=scrape, daemon=True)
        scraper.start()
        times: dict[tuple[str, str], list[float]] = {}
        for route in ROUTES:
            for client in (on, off):  # warm both up
                assert client.get(route, headers=headers).status_code == 200
            for _ in range(args.count):
                for name, client in (("on", on), ("off", off)):
                    began = time.perf_counter()
                    response = client.get(route, headers=headers)
                    times.setdefault((route, name), []).append(time.perf_counter() - began)
                    assert response.status_code == 200, response.data
        stop.set()
        scraper.join(5)
        lines = sum(1 for _ in (settings.log_dir / "api.jsonl").open())
    print(f"API latency with and without observability, {args.count} requests per route each")
    print(f"{'route':<32} {'off p50':>9} {'on p50':>9} {'ratio':>6} {'off p99':>9} {'on p99':>9}")
    all_on: list[float] = []
    all_off: list[float] = []
    for route in ROUTES:
        on_t, off_t = times[(route, "on")], times[(route, "off")]
        all_on += on_t
        all_off += off_t
        m_on, m_off = statistics.median(on_t) * 1000, statistics.median(off_t) * 1000
        p_on, p_off = percentile(on_t, 0.99) * 1000, percentile(off_t, 0.99) * 1000
        print(
            f"{route:<32} {m_off:8.2f}ms {m_on:8.2f}ms {m_on / m_off:6.2f}"
            f" {p_off:8.2f}ms {p_on:8.2f}ms"
        )
    m_on, m_off = statistics.median(all_on) * 1000, statistics.median(all_off) * 1000
    print(f"{'all':<32} {m_off:8.2f}ms {m_on:8.2f}ms {m_on / m_off:6.2f}")
    print(f"access log lines written: {lines}")


if __name__ == "__main__":
    main()
