"""Make a stock Debian 12 host able to run libvirt's QEMU driver, and start its daemons.

``ensure_libvirtd`` prepares the host (folders, the ``libvirt-qemu`` user and group, the
settings in ``/etc/libvirt/qemu.conf``) and starts ``virtlogd`` and ``libvirtd`` if they
are not running, each under ``launcher.services.reaper``. It records only what it started
in PID files under ``run_dir``; ``stop_libvirtd`` stops exactly those and nothing else.
Guests keep running when libvirtd stops, and libvirtd finds them again when it starts.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import libvirt

from nimbus import pidfile
from nimbus.errors import BackendUnavailable

URI = "qemu:///system"
HOST_DIRS = ("/var/log/libvirt/qemu", "/var/lib/libvirt/images", "/var/run/libvirt")
QEMU_CONF = Path("/etc/libvirt/qemu.conf")
#: Run QEMU as root (files under any folder are readable), with no AppArmor/SELinux
#: labelling: neither is active on these hosts, and the label step only slows starts.
QEMU_SETTINGS = {"user": '"root"', "group": '"root"', "security_driver": '"none"'}
#: The daemons in start order; virtlogd first, since libvirtd writes consoles through it.
DAEMONS = {"virtlogd": ("virtlogd",), "libvirtd": ("libvirtd",)}
SYSTEM_PIDFILES = {"virtlogd": Path("/run/virtlogd.pid"), "libvirtd": Path("/run/libvirtd.pid")}


@dataclass(frozen=True)
class LibvirtdHandle:
    """What ``ensure_libvirtd`` found: the URI to use and which daemons it started."""

    uri: str
    run_dir: Path
    started: tuple[str, ...]


def set_conf_keys(text: str, settings: dict[str, str]) -> str:
    """Set ``key = value`` lines in a libvirt conf text, keeping everything else.

    An existing uncommented setting is replaced in place; a missing one is appended.
    Applying it twice gives the same text.
    """
    for key, value in settings.items():
        line = f"{key} = {value}"
        pattern = re.compile(rf"^[ \t]*{re.escape(key)}[ \t]*=.*$", re.MULTILINE)
        if pattern.search(text):
            text = pattern.sub(line, text, count=1)
        else:
            text = text + ("" if text.endswith("\n") or not text else "\n") + line + "\n"
    return text


def ensure_system_user(name: str) -> None:
    """Create a system group and user ``name``; the QEMU driver refuses to load without."""
    if subprocess.run(["getent", "group", name], capture_output=True).returncode != 0:
        subprocess.run(["groupadd", "--system", name], check=True)
    if subprocess.run(["getent", "passwd", name], capture_output=True).returncode != 0:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--gid",
                name,
                "--home-dir",
                "/var/lib/libvirt",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                name,
            ],
            check=True,
        )


def prepare_host() -> None:
    """Folders, user and qemu.conf settings libvirtd needs; safe to run any number of times."""
    for folder in HOST_DIRS:
        Path(folder).mkdir(parents=True, exist_ok=True)
    ensure_system_user("libvirt-qemu")
    old = QEMU_CONF.read_text() if QEMU_CONF.exists() else ""
    new = set_conf_keys(old, QEMU_SETTINGS)
    if new != old:
        QEMU_CONF.parent.mkdir(parents=True, exist_ok=True)
        QEMU_CONF.write_text(new)


def running(name: str, run_dir: Path) -> bool:
    """Whether the daemon runs, started by us (our PID file) or by anyone (its own)."""
    if pidfile.read_live(run_dir / f"{name}.pid") is not None:
        return True
    try:
        pid = int(SYSTEM_PIDFILES[name].read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return False
    comm = Path(f"/proc/{pid}/comm")
    alive = pidfile.start_time(pid) is not None and comm.exists()
    return alive and comm.read_text().strip() == name


def reaper_env() -> dict[str, str]:
    """Our environment, with this checkout on the path so ``-m nimbus...`` imports it even
    when Nimbus is not installed and the caller's cwd is elsewhere."""
    root = str(Path(__file__).resolve().parents[2])
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{path}" if path else root}


def spawn(name: str, log_dir: Path, run_dir: Path) -> None:
    """Start the daemon in the foreground under the reaper, which records both PIDs."""
    pid_path = run_dir / f"{name}.pid"
    command = [
        sys.executable,
        "-m",
        "launcher.services.reaper",
        "--pidfile",
        str(pid_path),
        "--self-pidfile",
        str(run_dir / f"{name}.reaper.pid"),
        "--",
        *DAEMONS[name],
    ]
    with (log_dir / f"{name}.log").open("ab") as log:
        subprocess.run(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, check=True, env=reaper_env()
        )
    deadline = time.monotonic() + 10
    while pidfile.read_live(pid_path) is None:
        if time.monotonic() > deadline:
            raise BackendUnavailable(f"{name} did not start; see {log_dir / name}.log")
        time.sleep(0.05)


def wait_answering(uri: str, timeout: float, log: Path) -> None:
    """Wait until ``uri`` accepts a connection and answers (the first probe takes ~8 s)."""
    deadline = time.monotonic() + timeout
    # Until it answers, libvirt would print each refusal to stderr: the caller reports.
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    while True:
        try:
            conn = libvirt.open(uri)
            conn.getLibVersion()
            conn.close()
            return
        except libvirt.libvirtError as exc:
            if time.monotonic() > deadline:
                raise BackendUnavailable(
                    f"{uri} not answering after {timeout:.0f} s ({exc}); see {log}"
                ) from exc
            time.sleep(0.2)


def ensure_libvirtd(log_dir: Path, run_dir: Path, timeout: float = 60.0) -> LibvirtdHandle:
    """Prepare the host, start what is not running, and wait until ``qemu:///system``
    answers. Safe to call again: running daemons are left alone and not recorded as ours."""
    log_dir.mkdir(parents=True, exist_ok=True)
    run_dir.mkdir(parents=True, exist_ok=True)
    prepare_host()
    started = []
    for name in DAEMONS:
        if not running(name, run_dir):
            spawn(name, log_dir, run_dir)
            started.append(name)
    wait_answering(URI, timeout, log_dir / "libvirtd.log")
    return LibvirtdHandle(uri=URI, run_dir=run_dir, started=tuple(started))


def stop_libvirtd(run_dir: Path, timeout: float = 10.0) -> list[str]:
    """Stop the daemons our PID files name (libvirtd first), remove the files, and return
    the names stopped. Guests keep running; daemons we did not start are untouched."""
    stopped = []
    for name in reversed(list(DAEMONS)):
        for suffix in (".pid", ".reaper.pid"):
            path = run_dir / f"{name}{suffix}"
            pid = pidfile.read_live(path)
            if pid is not None:
                pidfile.terminate(pid, timeout)
                if suffix == ".pid":
                    stopped.append(name)
            path.unlink(missing_ok=True)
    return stopped
