"""Staging the sample apps for real: pip resolves Flask once a session through this host's
pip configuration; every later staging runs with the index closed."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from paas.buildpacks import StageResult, StagingError, stage
from paas.tools import SubprocessRunner

SAMPLES = Path(__file__).resolve().parents[2] / "paas" / "samples"
#: The guest runs Debian's python; the droplet must work with it, not only with ours.
GUEST_PYTHON = "/usr/bin/python3"
#: Loopback requests never go through a proxy named in the environment.
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class Staged:
    result: StageResult
    droplet: Path
    log: list[str]


@pytest.fixture(scope="session")
def wheel_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("wheel-cache")


@pytest.fixture(scope="session")
def flask_staged(tmp_path_factory: pytest.TempPathFactory, wheel_cache: Path) -> Staged:
    """The flask sample staged once, with the package index reachable."""
    out = tmp_path_factory.mktemp("flask") / "droplet"
    log: list[str] = []
    result = stage(SAMPLES / "flask-app", out, wheel_cache, log.append)
    return Staged(result, out, log)


@pytest.fixture
def closed_index(tmp_path: Path) -> Iterator[SubprocessRunner]:
    """A runner whose pip knows one index: a loopback port bound but not listening, so
    any request to it is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        yield SubprocessRunner(
            env={
                "PATH": os.environ["PATH"],
                "HOME": str(tmp_path),
                "PIP_CONFIG_FILE": os.devnull,
                "PIP_INDEX_URL": f"http://127.0.0.1:{port}/simple",
                "PIP_RETRIES": "0",
            }
        )


def test_flask_sample_gets_flask_and_its_start_command(flask_staged: Staged) -> None:
    assert (flask_staged.droplet / ".deps" / "flask" / "__init__.py").is_file()
    assert flask_staged.result.command == "python3 app.py"
    assert flask_staged.result.size_bytes > 1 << 20
    assert any(line.startswith("Successfully installed Flask") for line in flask_staged.log)


def test_droplet_imports_flask_from_its_own_deps(flask_staged: Staged) -> None:
    env = {"PYTHONPATH": ".deps", "PATH": "/usr/bin:/bin"}
    found = subprocess.run(
        [GUEST_PYTHON, "-s", "-c", "import flask; print(flask.__file__)"],
        cwd=flask_staged.droplet,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert found.stdout.startswith(str(flask_staged.droplet / ".deps" / "flask"))


def test_droplet_serves_health_with_the_guest_python(flask_staged: Staged) -> None:
    port = free_port()
    env = {
        "PORT": str(port),
        "INSTANCE_INDEX": "1",
        "HOME": str(flask_staged.droplet),
        "PYTHONPATH": str(flask_staged.droplet / ".deps"),
        "PATH": "/usr/bin:/bin",
    }
    app = subprocess.Popen(
        ["sh", "-c", flask_staged.result.command.replace("python3", GUEST_PYTHON, 1)],
        cwd=flask_staged.droplet,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        assert get(f"http://127.0.0.1:{port}/health") == "ok"
        assert "instance 1" in get(f"http://127.0.0.1:{port}/")
    finally:  # the shell's group: its python3 child too, not only ``sh``
        os.killpg(app.pid, signal.SIGKILL)
        app.wait()


def test_second_staging_needs_no_index(
    flask_staged: Staged, wheel_cache: Path, closed_index: SubprocessRunner, tmp_path: Path
) -> None:
    log: list[str] = []
    result = stage(
        SAMPLES / "flask-app", tmp_path / "d", wheel_cache, log.append, runner=closed_index
    )
    assert result == flask_staged.result
    assert (tmp_path / "d" / ".deps" / "flask").is_dir()
    assert not any("package index" in line for line in log)


def test_missing_requirement_fails_at_install_quoting_pip(
    wheel_cache: Path, closed_index: SubprocessRunner, tmp_path: Path
) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "app.py").write_text("")
    (app / "requirements.txt").write_text("nimbus-no-such-package==1.0\n")
    with pytest.raises(StagingError) as info:
        stage(app, tmp_path / "d", wheel_cache, lambda line: None, runner=closed_index)
    pip_says = "ERROR: No matching distribution found for nimbus-no-such-package==1.0"
    assert info.value.step == "install requirements"
    assert pip_says in str(info.value) and pip_says in info.value.output


def test_static_sample_stages_without_python(tmp_path: Path) -> None:
    result = stage(
        SAMPLES / "static-site",
        tmp_path / "d",
        tmp_path / "cache",
        print,
        python="/nonexistent/python3",
    )
    assert (result.buildpack, result.command) == ("static", "httpd -f -v -p $PORT -h /app/public")
    assert "static-sample" in (tmp_path / "d" / "public" / "index.html").read_text()
    assert not (tmp_path / "d" / "public" / "manifest.yml").exists()


def test_empty_folder_fails_at_detect(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    with pytest.raises(StagingError, match="looked at the top of app for requirements.txt") as info:
        stage(tmp_path / "app", tmp_path / "d", tmp_path / "cache", print)
    assert info.value.step == "detect"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(url: str, wait: float = 20) -> str:
    """The body at ``url``, retrying while the server starts."""
    deadline = time.monotonic() + wait
    while True:
        try:
            with DIRECT.open(url, timeout=2) as response:
                return str(response.read().decode())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
