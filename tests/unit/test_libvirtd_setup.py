"""Host setup helpers: qemu.conf edits and PID files that name one process exactly."""

from __future__ import annotations

import os
from pathlib import Path

from launcher.services.libvirtd import QEMU_SETTINGS, set_conf_keys
from nimbus import pidfile

CONF = '# user = "libvirt-qemu"\nuser = "libvirt-qemu"\nvnc_listen = "0.0.0.0"\n'


def test_set_conf_keys_replaces_and_appends_and_keeps_the_rest():
    text = set_conf_keys(CONF, QEMU_SETTINGS)
    assert '# user = "libvirt-qemu"' in text and 'vnc_listen = "0.0.0.0"' in text
    assert 'user = "root"' in text.splitlines() and 'user = "libvirt-qemu"' not in text.splitlines()
    assert text.count('security_driver = "none"') == 1


def test_set_conf_keys_is_idempotent():
    once = set_conf_keys(CONF, QEMU_SETTINGS)
    assert set_conf_keys(once, QEMU_SETTINGS) == once
    assert set_conf_keys("", QEMU_SETTINGS).startswith('user = "root"\n')


def test_pidfile_names_a_live_process_only_while_it_is_the_same(tmp_path: Path):
    path = tmp_path / "me.pid"
    pidfile.write(path, os.getpid())
    assert pidfile.read_live(path) == os.getpid()
    path.write_text(f"{os.getpid()} 1\n")  # same PID, another start time: a stranger
    assert pidfile.read_live(path) is None
    assert pidfile.read_live(tmp_path / "none.pid") is None
