"""The default guest's initramfs: a busybox ``/init``, kernel modules, packed as newc cpio.

What the guest does at boot, all with busybox:

- loads its modules, brings up ``lo`` and runs ``udhcpc`` on each NIC (``eth*``) in the
  background; ``/etc/udhcpc.script`` sets the address, the MTU (DHCP option 26), the
  static routes (121: the metadata service at 169.254.169.254) and, for ``eth0``, the
  default route, and prints ``NIMBUS IP <address> <nic>`` on the console;
- in the background, ``/bin/nimbus-instance`` mounts the config drive (the ISO labelled
  ``config-2``, an IDE cdrom) at ``/mnt/config``, names the guest after its
  ``meta_data.json``, serves a page naming the server with ``httpd`` on port 80, and runs
  the user data if it is a script (``#!``), its output on the console;
- the instance script also puts the config drive's ``public_keys`` in root's
  ``authorized_keys`` and starts Debian's dropbear on port 22 (keys only, no passwords),
  when the image carries it;
- prints ``NIMBUS READY <kernel>`` without waiting for either, and keeps a root shell on
  the serial console (``tests.support.guest.GuestShell`` types into it).

Everything here is pure (bytes in, bytes out) except ``module_index``, which lists a
kernel's module folder, so the parts are unit-tested without building a whole image.
"""

from __future__ import annotations

import gzip
import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

#: Modules the guest loads at boot; their dependencies are added and ordered for insmod.
#: virtio_pci finds the devices, virtio_blk serves the root and hot-plugged disks (PCI
#: hot-plug itself is built into the kernel), virtio_net the NICs; ata_piix (the IDE
#: controller of QEMU's ``pc`` machine) and sr_mod (cdroms) find the config drive, and
#: isofs reads it; ext4 mounts the partitions of app droplets (``paas.disk_layout``).
#: Debian's kernel builds all of them, and libata and the SCSI core they need, as modules.
#: ext4 and jbd2 find crc32c through the crypto API (a soft dependency, not in
#: ``depends=``), so crc32c_generic is named and loads first; msdos partition tables are
#: built into the kernel.
GUEST_MODULES = (
    "virtio_pci",
    "virtio_blk",
    "virtio_net",
    "ata_piix",
    "sr_mod",
    "isofs",
    "crc32c_generic",
    "ext4",
)

#: What the guest prints on its serial console once it is up.
READY_MARKER = "NIMBUS READY"

#: A kernel command line word that makes the guest power itself off once it is ready.
POWEROFF_FLAG = "nimbus.poweroff"

#: What the guest prints once DHCP gave a NIC an address: ``NIMBUS IP <address> <nic>``.
IP_MARKER = "NIMBUS IP"

#: What the guest prints when its config drive holds user data: ``... <n> bytes``.
USER_DATA_MARKER = "NIMBUS USER-DATA"

#: What the guest prints once its SSH server listens: ``NIMBUS SSH <n> keys``.
SSH_MARKER = "NIMBUS SSH"
SSH_SERVER = "/usr/sbin/dropbear"

#: The config drive's label, as Nova writes it (``nimbus.configdrive.LABEL``).
CONFIG_DRIVE_LABEL = "config-2"

#: How long the guest looks for its config drive (the cdrom shows up a moment after its
#: module loads) before it serves a page from what the kernel command line says.
CONFIG_DRIVE_WAIT_SECONDS = 5

DHCP_SCRIPT = "/etc/udhcpc.script"
INSTANCE_SCRIPT = "/bin/nimbus-instance"


@dataclass(frozen=True)
class Entry:
    """One cpio member: a file (``data``), a directory, a symlink or a character device."""

    name: str
    mode: int
    data: bytes = b""
    rdev: tuple[int, int] = (0, 0)


def canonical(module: str) -> str:
    """Module names treat ``-`` and ``_`` alike (``virtio-rng`` is ``virtio_rng``)."""
    return module.replace("-", "_")


def module_depends(ko: bytes) -> list[str]:
    """Read the ``depends=`` field of a module's ``.modinfo``; there is no modules.dep in
    the kernel package (depmod writes it on install), so the module itself is the source."""
    start = ko.find(b"\0depends=")
    if start < 0:
        return []
    value = ko[start + len(b"\0depends=") : ko.index(b"\0", start + 1)]
    return [canonical(name) for name in value.decode().split(",") if name]


def module_index(modules_dir: Path) -> dict[str, Path]:
    """Map every module name under ``modules_dir`` to its ``.ko`` file."""
    index: dict[str, Path] = {}
    for folder, _dirs, files in os.walk(modules_dir):
        for file in files:
            if file.endswith(".ko"):
                index[canonical(file[: -len(".ko")])] = Path(folder) / file
    return index


def load_order(wanted: Iterable[str], depends: Mapping[str, list[str]]) -> list[str]:
    """Order ``wanted`` and their dependencies so each loads after what it needs."""
    order: list[str] = []

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in path:
            raise ValueError(f"module dependency cycle: {' -> '.join((*path, name))}")
        if name in order:
            return
        for dep in depends.get(name, []):
            visit(dep, (*path, name))
        order.append(name)

    for name in wanted:
        visit(canonical(name), ())
    return order


def init_script(modules: list[str]) -> str:
    """The guest's ``/init``: mount, load modules, start DHCP on each NIC and the instance
    script in the background, say ready, stay up.

    Modules are loaded with insmod in the given order (busybox modprobe would need
    modules.dep). A NIC exists once virtio_net is loaded: a driver probes the devices
    already there when it registers. The shell loop keeps PID 1 alive: if init exits the
    kernel panics.
    """
    inserts = "\n".join(f"insmod /lib/modules/{name}.ko" for name in modules)
    return f"""#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/pts && mount -t devpts devpts /dev/pts
{inserts}
ip link set lo up
for nic in /sys/class/net/eth*; do
    [ -e "$nic" ] || continue
    ip link set "${{nic##*/}}" up
    udhcpc -f -i "${{nic##*/}}" -s {DHCP_SCRIPT} -O mtu -O staticroutes -A 5 > /dev/null 2>&1 &
done
{INSTANCE_SCRIPT} < /dev/null > /dev/console 2>&1 &
echo "{READY_MARKER} $(uname -r)" > /dev/console
case " $(cat /proc/cmdline) " in *" {POWEROFF_FLAG} "*) poweroff -f ;; esac
while true; do setsid cttyhack sh; sleep 1; done
"""


def dhcp_script() -> str:
    """What ``udhcpc`` runs on each lease event, the lease in its environment.

    The address is replaced only when it changed, so a renewal cuts no connection; only
    ``eth0`` sets the default route, so a second NIC cannot take it over. Classless static
    routes (option 121: the metadata service's, the subnet's host routes) replace the
    router option when present, as RFC 3442 says.
    """
    return f"""#!/bin/sh
case "$1" in
deconfig)
    ip -4 addr flush dev "$interface"
    ip link set "$interface" up
    ;;
bound|renew)
    [ -n "$mtu" ] && ip link set dev "$interface" mtu "$mtu"
    if ! ip -4 addr show dev "$interface" | grep -q "inet $ip/$mask "; then
        ip -4 addr flush dev "$interface"
        ip addr add "$ip/$mask" dev "$interface"
        echo "{IP_MARKER} $ip $interface" > /dev/console
    fi
    if [ -n "$staticroutes" ]; then
        set -- $staticroutes
        while [ $# -ge 2 ]; do
            if [ "$1" != 0.0.0.0/0 ]; then
                ip route replace "$1" via "$2" dev "$interface"
            elif [ "$interface" = eth0 ]; then
                ip route replace default via "$2" dev "$interface"
            fi
            shift 2
        done
    elif [ "$interface" = eth0 ] && [ -n "$router" ]; then
        ip route replace default via "${{router%% *}}" dev "$interface"
    fi
    if [ -n "$dns" ]; then
        for server in $dns; do echo "nameserver $server"; done > /etc/resolv.conf
    fi
    ;;
esac
"""


def instance_script() -> str:
    """The guest's ``/bin/nimbus-instance``: config drive, web page, user data.

    The page names the server from ``meta_data.json`` (its ``uuid`` and ``hostname`` keys
    come before the user's metadata, so the first match is theirs), else from
    ``nimbus.uuid=`` / ``nimbus.hostname=`` on the kernel command line, else ``unknown``.
    Values are cut down to safe characters before they reach the page or the shell.
    """
    tries = CONFIG_DRIVE_WAIT_SECONDS * 5
    return f"""#!/bin/sh
field() {{
    grep -o "\\"$1\\": *\\"[^\\"]*\\"" "$2" 2>/dev/null | head -n 1 | cut -d '"' -f 4
}}
cmdline() {{
    for word in $(cat /proc/cmdline); do
        case "$word" in "nimbus.$1="*) echo "${{word#*=}}" ;; esac
    done
}}
i=0
while [ $i -lt {tries} ]; do
    drive=$(findfs LABEL={CONFIG_DRIVE_LABEL} 2>/dev/null) && break
    sleep 0.2
    i=$((i + 1))
done
if [ -n "$drive" ]; then
    mount -t iso9660 -o ro "$drive" /mnt/config
fi
meta=/mnt/config/openstack/latest/meta_data.json
uuid=$(field uuid "$meta" | tr -cd 'A-Za-z0-9-')
host=$(field hostname "$meta" | tr -cd 'A-Za-z0-9.-')
[ -n "$uuid" ] || uuid=$(cmdline uuid | tr -cd 'A-Za-z0-9-')
[ -n "$host" ] || host=$(cmdline hostname | tr -cd 'A-Za-z0-9.-')
[ -n "$host" ] && hostname "$host"
cat > /www/index.html <<EOF
<!DOCTYPE html>
<title>${{host:-unknown}}</title>
<p>server ${{host:-unknown}}</p>
<p>uuid ${{uuid:-unknown}}</p>
EOF
httpd -p 80 -h /www
if [ -x {SSH_SERVER} ]; then
    grep -oE '"(ssh-[a-z0-9-]+|ecdsa-sha2-nistp[0-9]+) [A-Za-z0-9+/=]+[^"]*"' "$meta" 2>/dev/null \
        | tr -d '"' | sort -u > /root/.ssh/authorized_keys
    chmod 600 /root/.ssh/authorized_keys
    {SSH_SERVER} -R -E -s -p 22
    echo "{SSH_MARKER} $(grep -c . /root/.ssh/authorized_keys) keys"
fi
data=/mnt/config/openstack/latest/user_data
if [ -f "$data" ]; then
    echo "{USER_DATA_MARKER} $(wc -c < "$data") bytes"
    if [ "$(head -c 2 "$data")" = "#!" ]; then
        cp "$data" /tmp/user-data
        chmod 700 /tmp/user-data
        /tmp/user-data
    fi
fi
"""


def _header(entry: Entry, ino: int, namesize: int) -> bytes:
    """The 110-byte ASCII header of a newc member."""
    fields = [ino, entry.mode, 0, 0, 1, 0, len(entry.data), 0, 0, *entry.rdev, namesize, 0]
    return b"070701" + b"".join(f"{value:08x}".encode() for value in fields)


def _pad(data: bytes) -> bytes:
    """newc aligns headers and file data to 4 bytes."""
    return data + b"\0" * (-len(data) % 4)


def newc_archive(entries: Iterable[Entry]) -> bytes:
    """Pack entries as a newc cpio archive, the format the kernel unpacks into rootfs.

    Written here rather than with ``cpio`` so that device nodes need no root and the
    output is byte-for-byte reproducible.
    """
    parts: list[bytes] = []
    for ino, entry in enumerate([*entries, Entry("TRAILER!!!", 0)], start=1):
        name = entry.name.encode() + b"\0"
        parts.append(_pad(_header(entry, ino, len(name)) + name))
        parts.append(_pad(entry.data))
    return b"".join(parts)


def directory(name: str) -> Entry:
    """A directory member."""
    return Entry(name, stat.S_IFDIR | 0o755)


def regular(name: str, data: bytes, mode: int = 0o644) -> Entry:
    """A regular file member."""
    return Entry(name, stat.S_IFREG | mode, data)


#: The root user as the SSH server looks it up (no password: keys only).
PASSWD = "root:x:0:0:root:/root:/bin/sh\n"
GROUP = "root:x:0:\n"
SHELLS = "/bin/sh\n"


def symlink(name: str, target: str) -> Entry:
    """A symbolic link member (its data is the target)."""
    return Entry(name, stat.S_IFLNK | 0o777, target.encode())


def _parents(paths: Iterable[str]) -> list[str]:
    """Every folder above ``paths``, parents first (the kernel makes none itself)."""
    found: list[str] = []
    for path in paths:
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            folder = "/".join(parts[:i])
            if folder not in found:
                found.append(folder)
    return found


def ssh_entries(files: Mapping[str, bytes]) -> list[Entry]:
    """The SSH server's binaries and libraries, the loader's link, root's account."""
    names = [*files, "lib64/ld-linux-x86-64.so.2", "root/.ssh/x", "etc/dropbear/x"]
    entries = [directory(folder) for folder in _parents(names)]
    entries += [regular(name, data, 0o755) for name, data in files.items()]
    entries.append(
        symlink("lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
    )
    entries += [regular("etc/passwd", PASSWD.encode()), regular("etc/group", GROUP.encode())]
    entries.append(regular("etc/shells", SHELLS.encode()))
    return entries


def build_initramfs(
    busybox: bytes, modules: Mapping[str, bytes], ssh_files: Mapping[str, bytes] | None = None
) -> bytes:
    """A gzip'd initramfs with busybox, the modules (in load order) and ``/init``; with
    ``ssh_files`` (path -> contents: dropbear and its libraries), an SSH server too."""
    folders = ["bin", "dev", "proc", "sys", "tmp", "etc", "lib", "lib/modules", "mnt"]
    entries = [directory(name) for name in [*folders, "mnt/config", "www"]]
    if ssh_files:
        entries += [e for e in ssh_entries(ssh_files) if e.name not in folders]
    entries.append(Entry("dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1)))
    entries.append(regular("bin/busybox", busybox, 0o755))
    entries += [regular(f"lib/modules/{name}.ko", ko) for name, ko in modules.items()]
    entries.append(regular(DHCP_SCRIPT[1:], dhcp_script().encode(), 0o755))
    entries.append(regular(INSTANCE_SCRIPT[1:], instance_script().encode(), 0o755))
    entries.append(regular("init", init_script(list(modules)).encode(), 0o755))
    # mtime 0 keeps the output reproducible; level 6 decompresses fast under TCG.
    return gzip.compress(newc_archive(entries), compresslevel=6, mtime=0)
