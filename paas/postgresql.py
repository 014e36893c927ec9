"""The PostgreSQL service's database server: its image, its boot script, its markers.

A PostgreSQL service instance is a Nimbus server in the project's app network, booted
from ``nimbus-paas-postgresql``: the runtime image layout (``paas.runtime``) with
Debian's PostgreSQL 15 as its read-only root, and the service's Cinder volume attached
for the data. The user-data script (``server_script``) mounts the root, waits for the
volume (found by its serial, the volume id), formats it only when it is blank, makes the
cluster on first boot, reads the password from the metadata service's
``vendor_data2.json`` (never from user data, which the API and workflow histories show),
sets it on the app's role, starts PostgreSQL and prints ``READY`` on the console::

    NIMBUS POSTGRESQL READY
    NIMBUS POSTGRESQL FAILED <reason>

The service's workflow waits for one of them through the compute API's console output.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from nimbus.guestimage import run
from paas.runtime import RootRecipe
from paas.runtime_packages import EXCLUDED

IMAGE_NAME = "nimbus-paas-postgresql"
MAJOR = "15"
PORT = 5432
#: The role and database apps use; the ``postgres`` superuser is reachable only from
#: inside the server (``local ... trust``).
APP_ROLE = "app"
APP_DATABASE = "app"
DATA_LABEL = "nimbus-pgdata"
READY = "NIMBUS POSTGRESQL READY"
FAILED = "NIMBUS POSTGRESQL FAILED"
EXITED = "NIMBUS POSTGRESQL EXITED"
#: The vendor-data key the server's password is under (hex only: read with ``sed``).
PASSWORD_KEY = "POSTGRES_PASSWORD"
BIN = f"/usr/lib/postgresql/{MAJOR}/bin"
DATA_DIR = f"/var/lib/postgresql/{MAJOR}/main"
SOCKET_DIR = "/run/postgresql"
#: Seconds the script waits for its data volume to be attached.
VOLUME_WAIT_SECONDS = 600
_FAILED_LINE = re.compile(re.escape(FAILED) + r" (.*)")

#: Left out beyond the Python runtime's exclusions: the cluster wrapper scripts (perl; the
#: script calls the binaries directly), LLVM (only JIT needs it; jit is off), locales (the
#: cluster uses the C locale with UTF-8) and packaging helpers.
PG_EXCLUDED = (
    "postgresql-common",
    "postgresql-client-common",
    "libllvm*",
    "locales",
    "locales-all",
    "ssl-cert",
    "adduser",
    "passwd",
    "lsb-base",
    "sensible-utils",
    "ucf",
    "logrotate",
    "cron",
    "procps",
    "openssl",
    "init-system-helpers",
    "netbase",
    "debianutils",
)
POSTGRES_UID = 999
ETC_FILES = {
    "passwd": (
        "root:x:0:0:root:/root:/bin/sh\n"
        f"postgres:x:{POSTGRES_UID}:{POSTGRES_UID}:PostgreSQL:/var/lib/postgresql:/bin/sh\n"
    ),
    "group": f"root:x:0:\npostgres:x:{POSTGRES_UID}:\n",
    "hosts": "127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n",
    "nsswitch.conf": "passwd: files\ngroup: files\nhosts: files dns\n",
    "shells": "/bin/sh\n",
    "resolv.conf": "",
}
ROOT_DIRS = ("bin", "proc", "sys", "dev", "tmp", "run", "root", "var/lib/postgresql")


def verify_postgresql(root: Path) -> None:
    """Every program the script runs loads in the root, and ``initdb`` makes a cluster
    there as the ``postgres`` user (so libraries, time zones and encodings are all in)."""
    for program in ("postgres", "initdb", "pg_isready", "psql"):
        run("chroot", root, f"{BIN}/{program}", "--version")
    run("chroot", root, "/sbin/mke2fs", "-V")
    check = root / "tmp" / "verify-cluster"
    run("rm", "-rf", check)
    check.mkdir(parents=True)
    os_chown = f"{POSTGRES_UID}:{POSTGRES_UID}"
    run("chown", os_chown, check)
    null = root / "dev" / "null"
    run("mknod", "-m", "666", null, "c", "1", "3")  # initdb's child processes use it
    try:
        run(
            "chroot",
            f"--userspec={os_chown}",
            root,
            f"{BIN}/initdb",
            "-D",
            "/tmp/verify-cluster/main",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        )
    finally:
        run("rm", "-rf", check, null)


POSTGRESQL = RootRecipe(
    image_name=IMAGE_NAME,
    version=1,
    packages=(f"postgresql-{MAJOR}", "e2fsprogs"),
    excluded=EXCLUDED + PG_EXCLUDED,
    root_dirs=ROOT_DIRS,
    etc_files=ETC_FILES,
    drop=(f"usr/lib/postgresql/{MAJOR}/lib/llvmjit*", f"usr/lib/postgresql/{MAJOR}/lib/bitcode"),
    verify=verify_postgresql,
    deb_folder="postgresql-debs",
)

#: Settings appended to the new cluster's ``postgresql.conf``: a small server in a small
#: guest, listening on its network for the app network's apps.
SERVER_SETTINGS = f"""
listen_addresses = '*'
port = {PORT}
unix_socket_directories = '{SOCKET_DIR}'
max_connections = 40
shared_buffers = 32MB
jit = off
password_encryption = scram-sha-256
"""
HBA = """local all all trust
host all all 0.0.0.0/0 scram-sha-256
"""


def setup_sql(password: str) -> str:
    """The statements that make the app's role and database and set its password; safe
    to run on every boot (the password may have been rotated). Terse errors name no
    statement, so the password never reaches the console."""
    return f"""\\set ON_ERROR_STOP on
\\set VERBOSITY terse
SELECT 'CREATE ROLE {APP_ROLE} LOGIN' WHERE NOT EXISTS
    (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}')\\gexec
ALTER ROLE {APP_ROLE} PASSWORD '{password}';
SELECT 'CREATE DATABASE {APP_DATABASE} OWNER {APP_ROLE}' WHERE NOT EXISTS
    (SELECT FROM pg_database WHERE datname = '{APP_DATABASE}')\\gexec
"""


def vendor_password_command(url: str) -> str:
    """Shell that prints the password from the metadata service's vendor data at ``url``."""
    return (
        f"timeout 5 wget -q -O - {url} 2>/dev/null"
        f""" | sed -n 's/.*"{PASSWORD_KEY}": *"\\([0-9a-f]*\\)".*/\\1/p'"""
    )


def server_script(volume_id: str, password_command: str) -> str:
    """The ``#!/bin/sh`` user data of the database server whose data is on ``volume_id``.

    Nothing in it is secret: ``password_command`` (``vendor_password_command`` in the
    cloud) prints the password at boot; it is kept in a shell variable and given to
    ``psql`` on its standard input.
    """
    serial = volume_id[:20]
    rt = "/rt"
    pg = f"chroot {rt} su postgres -c"
    settings = shlex.quote(SERVER_SETTINGS)
    hba = shlex.quote(HBA)
    sql = setup_sql("$password").replace("\\", "\\\\").replace("`", "\\`")
    return f"""#!/bin/sh
say() {{ echo "NIMBUS POSTGRESQL $*"; }}
fail() {{ say "FAILED $*"; exit 1; }}
mkdir -p {rt}
mount -t ext4 -o ro "$(findfs LABEL=nimbus-rt)" {rt} || fail "the image has no runtime partition"
mount -t proc proc {rt}/proc
mount -t sysfs sys {rt}/sys
mount -t devtmpfs dev {rt}/dev
mount -t tmpfs tmp {rt}/tmp
mount -t tmpfs run {rt}/run
say "waiting for the data volume {volume_id}"
dev=''
i=0
while [ $i -lt {VOLUME_WAIT_SECONDS} ]; do
    for f in /sys/block/vd*/serial; do
        [ "$(cat "$f" 2>/dev/null)" = "{serial}" ] && dev="/dev/$(basename "$(dirname "$f")")"
    done
    [ -n "$dev" ] && [ -b "$dev" ] && break
    dev=''
    sleep 1
    i=$((i + 1))
done
[ -n "$dev" ] || fail "the data volume was not attached within {VOLUME_WAIT_SECONDS} s"
if [ "$(head -c 1048576 "$dev" | tr -d '\\000' | wc -c)" -eq 0 ]; then
    say "formatting the blank data volume"
    chroot {rt} /sbin/mke2fs -q -t ext4 -L {DATA_LABEL} "$dev" || fail "mke2fs failed"
fi
[ "$(findfs LABEL={DATA_LABEL} 2>/dev/null)" = "$dev" ] \\
    || fail "the data volume holds no {DATA_LABEL} file system: left untouched"
mount -t ext4 "$dev" {rt}/var/lib/postgresql || fail "the data volume cannot be mounted"
mkdir -p {rt}{SOCKET_DIR} {rt}/var/lib/postgresql/{MAJOR}
chroot {rt} chown postgres:postgres {SOCKET_DIR} /var/lib/postgresql /var/lib/postgresql/{MAJOR}
if [ ! -f {rt}{DATA_DIR}/PG_VERSION ]; then
    say "making the database cluster"
    rm -rf {rt}{DATA_DIR}.new
    {pg} "{BIN}/initdb -D {DATA_DIR}.new -U postgres -E UTF8 --locale=C" >/dev/null \\
        || fail "initdb failed"
    printf '%s' {settings} >> {rt}{DATA_DIR}.new/postgresql.conf
    printf '%s' {hba} > {rt}{DATA_DIR}.new/pg_hba.conf
    sync
    mv {rt}{DATA_DIR}.new {rt}{DATA_DIR} || fail "the new cluster could not be moved in place"
    sync
fi
password=''
i=0
while [ $i -lt 60 ]; do
    password="$({password_command})"
    [ -n "$password" ] && break
    sleep 2
    i=$((i + 1))
done
[ -n "$password" ] || fail "the metadata service gave no password"
{pg} "exec {BIN}/postgres -D {DATA_DIR}" &
server=$!
until chroot {rt} {BIN}/pg_isready -q -h {SOCKET_DIR}; do
    kill -0 $server 2>/dev/null || fail "postgres exited while starting"
    sleep 1
done
{pg} "{BIN}/psql -q -h {SOCKET_DIR} -d postgres" >/dev/null <<EOF || fail "no app role"
{sql}EOF
password=''
say "READY"
wait $server
say "EXITED $?"
sync
poweroff -f
"""


def console_state(console: str) -> tuple[bool, str | None]:
    """From the server's console: whether the database said it is ready, and the reason
    it gave if it failed (the latest of either wins)."""
    ready, reason = False, None
    for line in console.splitlines():
        if READY in line:
            ready, reason = True, None
        elif found := _FAILED_LINE.search(line):
            ready, reason = False, found.group(1).strip()
        elif EXITED in line:
            ready, reason = False, line.strip()
    return ready, reason
