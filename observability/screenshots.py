"""Screenshots of the console dashboards, with Debian's Chromium in headless mode.

    python -m observability.screenshots [--prometheus URL] [--out DIR]

takes one picture of each dashboard of the Prometheus that ``nimbus up`` runs (its pages
fill in their graphs with JavaScript, given a few seconds of virtual time). The README's
pictures are made this way from a cloud with servers, volumes and an app.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

from nimbus.config import CHECKOUT, load_settings
from nimbus.errors import BackendUnavailable

WINDOW = "1400,1100"


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        if found := shutil.which(name):
            return found
    raise BackendUnavailable("Chromium is missing (Debian's chromium package): make install")


def _first_label(prometheus: str, query: str, label: str) -> str | None:
    url = f"{prometheus}/api/v1/query?{urllib.parse.urlencode({'query': query})}"
    with urllib.request.urlopen(url, timeout=10) as answer:
        result = json.loads(answer.read())["data"]["result"]
    return str(result[0]["metric"][label]) if result else None


def pages(prometheus: str) -> dict[str, str]:
    """Each dashboard's name and path, for the first host, busiest project and app."""
    found = {"cloud": "index.html", "projects": "projects.html", "apps": "apps.html"}
    if host := _first_label(prometheus, "nimbus_host_vcpus", "host"):
        found["host"] = f"host.html?host={host}"
    busiest = "topk(1, sum by (project_id) (nimbus_resources))"
    if project := _first_label(prometheus, busiest, "project_id"):
        found["project"] = f"project.html?project_id={project}"
    app_query = "topk(1, nimbus_app_request_rate)"
    if (app := _first_label(prometheus, app_query, "app")) is not None:
        owner = _first_label(prometheus, app_query, "project_id")
        found["app"] = f"app.html?{urllib.parse.urlencode({'project_id': owner, 'app': app})}"
    return found


def capture(prometheus: str, out: Path, minutes: int = 15) -> list[Path]:
    """One PNG per dashboard in ``out``, its graphs over the last ``minutes``; the paths."""
    window = "#pctc" + urllib.parse.quote(json.dumps({"duration": minutes * 60, "endTime": 0}))
    out.mkdir(parents=True, exist_ok=True)
    made = []
    with tempfile.TemporaryDirectory(prefix="nimbus-chromium-") as profile:
        for name, path in pages(prometheus).items():
            target = out / f"dashboard-{name}.png"
            subprocess.run(
                [
                    chromium(), "--headless", "--no-sandbox", "--disable-gpu",
                    "--hide-scrollbars", f"--user-data-dir={profile}",
                    f"--window-size={WINDOW}", "--virtual-time-budget=8000",
                    f"--screenshot={target}", f"{prometheus}/consoles/{path}{window}",
                ],
                check=True, capture_output=True, timeout=120,
            )  # fmt: skip
            made.append(target)
    return made


def main() -> int:
    settings = load_settings()
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--prometheus", default=f"http://127.0.0.1:{settings.prometheus_port}")
    parser.add_argument("--out", type=Path, default=CHECKOUT / "docs" / "screenshots")
    parser.add_argument("--minutes", type=int, default=15, help="the graphs' time range")
    args = parser.parse_args()
    for path in capture(args.prometheus, args.out, args.minutes):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
