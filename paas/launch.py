"""The user-data script that starts an app in its instance, and the markers it prints.

The guest runs a ``#!`` user-data script from its config drive at boot (see
``nimbus.initramfs.instance_script``). This one mounts the droplet's partitions by label
(``paas.disk_layout``), runs the app's command with a clean environment, chrooted into the
Python runtime or, for a static site, in the guest itself with busybox's ``httpd``, and
sends all the app's output to the second serial port, which the host logs to ``app.log``::

    NIMBUS APP STARTED <index>
    ...the app's stdout and stderr...
    NIMBUS APP EXITED <status>

Then it powers the guest off, so the host sees the domain shut off when the app ends.
Every value that comes from the user is single-quoted for the shell; environment names
must be shell identifiers.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field

from nimbus.errors import InvalidSpec
from paas.disk_layout import APP_LABEL, RUNTIME_LABEL

APP_STARTED = "NIMBUS APP STARTED"
APP_EXITED = "NIMBUS APP EXITED"
RUNTIMES = ("python", "static")
#: The exit status reported when the droplet's partitions cannot be mounted (the line
#: before it in the app log says why); the app itself never ran.
MOUNT_FAILED_STATUS = 125
#: The guest's second serial port: the host logs it to the instance's ``app.log``.
APP_PORT = "/dev/ttyS1"
#: Where the runtime is mounted in the guest; the app is ``/app`` inside it.
RUNTIME_ROOT = "/rt"
PATH = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"
#: How long the script looks for the droplet's partitions (they appear with virtio_blk,
#: loaded before the script runs, so this is a safety margin).
DISK_WAIT_TRIES = 50
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_EXITED = re.compile(re.escape(APP_EXITED) + r" (\d+)")


@dataclass(frozen=True)
class LaunchSpec:
    """One app instance to start.

    Attributes:
        app_name: the app's name (shown to the app in ``VCAP_APPLICATION``).
        index: the instance's index among the app's instances.
        command: a shell command line, run in ``/app`` (e.g. ``python3 app.py``).
        runtime: ``python`` (chrooted into the runtime) or ``static`` (busybox only).
        port: the port the app should listen on, given as ``PORT``.
        env: the release's environment; names must be shell identifiers.
    """

    app_name: str
    index: int
    command: str
    runtime: str
    port: int = 8080
    env: dict[str, str] = field(default_factory=dict)


def validate(spec: LaunchSpec) -> None:
    """Raise ``InvalidSpec`` for a spec the script cannot carry safely."""
    if spec.runtime not in RUNTIMES:
        raise InvalidSpec(f"runtime {spec.runtime!r} is not one of {RUNTIMES}")
    if not spec.command.strip():
        raise InvalidSpec("an app needs a start command")
    if spec.index < 0 or not 0 < spec.port < 65536:
        raise InvalidSpec(f"bad instance index {spec.index} or port {spec.port}")
    bad = [name for name in spec.env if not _NAME.match(name)]
    if bad:
        raise InvalidSpec(f"environment names must be shell identifiers: {bad!r}")


def environment(spec: LaunchSpec) -> dict[str, str]:
    """The app's whole environment: the release's, then the platform's, which wins."""
    vcap = {"application_name": spec.app_name, "instance_index": spec.index, "port": spec.port}
    platform = {
        "PATH": PATH,
        "HOME": "/app",
        "PORT": str(spec.port),
        "INSTANCE_INDEX": str(spec.index),
        "CF_INSTANCE_INDEX": str(spec.index),
        "VCAP_APPLICATION": json.dumps(vcap, sort_keys=True),
    }
    if spec.runtime == "python":
        platform |= {"PYTHONUNBUFFERED": "1", "PYTHONPATH": "/app/.deps"}
    return {**spec.env, **platform}


def env_words(env: dict[str, str]) -> str:
    """``NAME='value'`` words for ``env -i``, each value quoted as one shell word."""
    return " ".join(f"{name}={shlex.quote(value)}" for name, value in env.items())


def mounts(runtime: str) -> list[str]:
    """Shell lines that mount the droplet's partitions read-only where the app will see
    them and, in the runtime, proc, sys, dev, a writable /tmp and the guest's resolv.conf
    (DHCP may write it later: the bind keeps the same file)."""
    if runtime == "static":
        return ["mkdir -p /app", f'mount -t ext4 -o ro "$(disk LABEL={APP_LABEL})" /app']
    root = RUNTIME_ROOT
    return [
        f"mkdir -p {root}",
        f'mount -t ext4 -o ro "$(disk LABEL={RUNTIME_LABEL})" {root}',
        f'mount -t ext4 -o ro "$(disk LABEL={APP_LABEL})" {root}/app',
        f"mount -t proc proc {root}/proc",
        f"mount -t sysfs sys {root}/sys",
        f"mount -t devtmpfs dev {root}/dev",
        f"mount -t tmpfs tmp {root}/tmp",
        f"touch /etc/resolv.conf && mount --bind /etc/resolv.conf {root}/etc/resolv.conf",
    ]


def run_line(spec: LaunchSpec) -> str:
    """The shell line that runs the command with only the app's environment (and, in the
    Python runtime, ``VCAP_SERVICES`` as the script fetched it)."""
    inner = shlex.quote(f"cd /app && {spec.command}")
    chroot = f"chroot {RUNTIME_ROOT} " if spec.runtime == "python" else ""
    services = ' VCAP_SERVICES="$services"' if spec.runtime == "python" else ""
    return f"env -i {env_words(environment(spec))}{services} {chroot}/bin/sh -c {inner}"


#: Where the instance asks for its ``VCAP_SERVICES`` (Nova's dynamic vendor data, which
#: Nimbus's metadata service fills in for app instances from their app's bindings).
VENDOR_DATA_URL = "http://169.254.169.254/openstack/latest/vendor_data2.json"
#: Reads Nimbus's ``VCAP_SERVICES`` out of ``vendor_data2.json`` on stdin.
_READ_VCAP = (
    'import json, sys; print(json.load(sys.stdin).get("nimbus", {}).get("VCAP_SERVICES", "{}"))'
)


def services_lines(spec: LaunchSpec) -> str:
    """Shell that sets ``services`` to the instance's ``VCAP_SERVICES`` (``{}`` after five
    failed tries, said on the app log). The credentials stay in shell variables: never in
    a file, never printed."""
    if spec.runtime != "python":
        return ""
    read = f"chroot {RUNTIME_ROOT} python3 -c {shlex.quote(_READ_VCAP)}"
    return f"""    services='{{}}'
    tries=0
    while [ $tries -lt 5 ]; do
        if vendor="$(timeout 5 wget -q -O - {VENDOR_DATA_URL} 2>/dev/null)"; then
            got="$(printf '%s' "$vendor" | {read})" && services="$got" && break
        fi
        tries=$((tries + 1))
        sleep 1
    done
    vendor=''
    [ $tries -lt 5 ] || echo "the metadata service did not answer: VCAP_SERVICES is empty" >&3
"""


def launch_script(spec: LaunchSpec) -> str:
    """The ``#!/bin/sh`` user data that starts ``spec``'s app; ``InvalidSpec`` if bad.

    If the droplet cannot be mounted the app log gets the error and ``APP_EXITED`` with
    ``MOUNT_FAILED_STATUS``, and no ``APP_STARTED``. The app port stays open on fd 3 for
    the whole script; closing it at the end waits for the serial port to drain, so the
    exit line is out before the power goes.
    """
    validate(spec)
    mount_lines = "".join(f"    {line} || return 1\n" for line in mounts(spec.runtime))
    return f"""#!/bin/sh
disk() {{
    i=0
    while [ $i -lt {DISK_WAIT_TRIES} ]; do
        findfs "$1" 2>/dev/null && return 0
        sleep 0.1
        i=$((i + 1))
    done
    echo "no disk $1" >&2
    return 1
}}
mount_droplet() {{
{mount_lines}}}
stty -F {APP_PORT} 115200 -opost -echo 2>/dev/null
exec 3>{APP_PORT}
if mount_droplet 2>&3; then
{services_lines(spec)}    echo "{APP_STARTED} {spec.index}" >&3
    {run_line(spec)} </dev/null >&3 2>&3
    status=$?
else
    echo "the droplet's disks could not be mounted" >&3
    status={MOUNT_FAILED_STATUS}
fi
echo "{APP_EXITED} $status" >&3
echo "{APP_EXITED} $status"
exec 3>&-
sleep 1
poweroff -f
"""


def parse_exit(line: str) -> int | None:
    """The exit status an ``APP_EXITED`` line reports, or ``None`` for any other line."""
    found = _EXITED.search(line)
    return int(found.group(1)) if found else None
