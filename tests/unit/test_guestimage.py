"""The pure parts of the guest image: module order, init script, cpio, boot config."""

from __future__ import annotations

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
