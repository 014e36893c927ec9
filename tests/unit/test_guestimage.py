"""The pure parts of the guest image: module order, init script, cpio, boot config."""

from __future__ import annotations

import gzip
import subprocess
from pathlib import Path

import pytest

from nimbus import guestimage, initramfs


def test_module_depends_reads_the_modinfo_field():
    ko = b"\x7fELF...\0license=GPL\0depends=virtio_ring,virtio-foo\0vermagic=6.1\0"
    assert initramfs.module_depends(ko) == ["virtio_ring", "virtio_foo"]
    assert initramfs.module_depends(b"\0depends=\0") == []


def test_load_order_puts_dependencies_first_once():
    deps = {
        "virtio_net": ["virtio_ring", "net_failover"],
        "net_failover": ["failover"],
        "virtio_blk": ["virtio_ring"],
        "virtio_ring": [],
    }
    order = initramfs.load_order(["virtio_net", "virtio_blk"], deps)
    assert order == ["virtio_ring", "failover", "net_failover", "virtio_net", "virtio_blk"]


def test_load_order_rejects_cycles():
    with pytest.raises(ValueError, match="cycle"):
        initramfs.load_order(["a"], {"a": ["b"], "b": ["a"]})


def test_init_loads_modules_in_order_then_says_ready():
    script = initramfs.init_script(["virtio", "virtio_pci"])
    lines = script.splitlines()
    assert lines.index("insmod /lib/modules/virtio.ko") < lines.index(
        "insmod /lib/modules/virtio_pci.ko"
    )
    assert script.index("ip link set lo up") < script.index(initramfs.READY_MARKER)
    assert initramfs.POWEROFF_FLAG in script


def test_init_starts_dhcp_and_the_instance_script_in_the_background_before_ready():
    lines = initramfs.init_script(["virtio_net"]).splitlines()
    dhcp = next(i for i, line in enumerate(lines) if line.strip().startswith("udhcpc "))
    instance = next(i for i, line in enumerate(lines) if line.startswith(initramfs.INSTANCE_SCRIPT))
    ready = next(i for i, line in enumerate(lines) if initramfs.READY_MARKER in line)
    assert lines[dhcp].endswith("&") and lines[instance].endswith("&")
    assert f"-s {initramfs.DHCP_SCRIPT}" in lines[dhcp] and "-O mtu" in lines[dhcp]
    assert dhcp < ready and instance < ready


def test_dhcp_script_sets_address_mtu_and_route_and_says_so():
    script = initramfs.dhcp_script()
    assert 'ip addr add "$ip/$mask" dev "$interface"' in script
    assert 'ip link set dev "$interface" mtu "$mtu"' in script
    assert '[ "$interface" = eth0 ]' in script and "ip route replace default via" in script
    assert f'echo "{initramfs.IP_MARKER} $ip $interface" > /dev/console' in script


def test_instance_script_reads_the_config_drive_serves_a_page_and_runs_scripts_only():
    script = initramfs.instance_script()
    assert f"findfs LABEL={initramfs.CONFIG_DRIVE_LABEL}" in script
    assert "mount -t iso9660 -o ro" in script
    assert "httpd -p 80 -h /www" in script and "uuid ${uuid:-unknown}" in script
    assert initramfs.USER_DATA_MARKER in script
    assert script.index('= "#!" ]') < script.index("/tmp/user-data\n")


def test_initramfs_holds_the_scripts_executable(tmp_path: Path):
    archive = gzip.decompress(initramfs.build_initramfs(b"busybox", {"isofs": b"ko"}))
    listing = subprocess.run(
        ["cpio", "-tv"], input=archive, capture_output=True, check=True
    ).stdout.decode()
    modes = {line.split()[-1]: line.split()[0] for line in listing.splitlines()}
    for script in ("init", initramfs.DHCP_SCRIPT[1:], initramfs.INSTANCE_SCRIPT[1:]):
        assert modes[script] == "-rwxr-xr-x", script
    assert modes["www"].startswith("d") and modes["mnt/config"].startswith("d")


def test_the_image_stamp_names_the_guest_recipe():
    stamp = guestimage.stamp("console=ttyS0")
    assert f"recipe {guestimage.guest_recipe()}" in stamp
    assert len(guestimage.guest_recipe()) == 16


def test_newc_archive_is_read_by_cpio(tmp_path: Path):
    entries = [initramfs.directory("bin"), initramfs.regular("bin/hello", b"hi\n", 0o755)]
    listing = (
        subprocess.run(
            ["cpio", "-t"], input=initramfs.newc_archive(entries), capture_output=True, check=True
        )
        .stdout.decode()
        .split()
    )
    assert listing == ["bin", "bin/hello"]


def test_syslinux_config_boots_the_kernel_without_waiting():
    cfg = guestimage.syslinux_cfg("console=ttyS0 quiet")
    assert "TIMEOUT 0" in cfg and "APPEND console=ttyS0 quiet" in cfg and "INITRD /initrd" in cfg


def test_a_random_file_is_not_a_valid_image(tmp_path: Path):
    junk = tmp_path / "junk.raw"
    junk.write_bytes(b"\0" * (2 << 20))
    assert not guestimage.is_valid(junk, guestimage.BASE_CMDLINE)
    assert not guestimage.is_valid(tmp_path / "missing.raw", guestimage.BASE_CMDLINE)


def test_the_guest_kernel_skips_its_timer_check() -> None:
    """Under a loaded host an emulated CPU fails the kernel's early timer check and
    panics (seen with three guests starting at once on two cores): the check is off."""
    assert "no_timer_check" in guestimage.BASE_CMDLINE.split()
