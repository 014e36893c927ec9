"""What only the fakes do: failure injection and guests that power themselves off."""

from __future__ import annotations

import pytest

from activities.hypervisor.base import Disk, DomainSpec, Nic, PowerState
from activities.hypervisor.console import last_lines
from activities.hypervisor.fake import FakeHypervisor
from nimbus.errors import BackendUnavailable, InvalidSpec, NotFound

ROOT = Disk("vda", "file", "/d", "qcow2")
SPEC = DomainSpec("nimbus-a", "6c1b1a3e-0f6a-4d0e-9a51-0d7c3e1c2b11", 1, 128, ROOT, "/c")


def test_injected_failure_raises_before_acting_then_clears():
    hv = FakeHypervisor()
    hv.fail("define_and_start", BackendUnavailable("libvirtd down"), times=2)
    for _ in range(2):
        with pytest.raises(BackendUnavailable):
            hv.define_and_start(SPEC)
        assert hv.power_states("") == {}
    hv.define_and_start(SPEC)
    assert hv.power_state(SPEC.name) == PowerState.RUNNING


def test_guest_power_off_shows_shutdown_and_start_boots_again():
    hv = FakeHypervisor()
    hv.define_and_start(SPEC)
    hv.power_off(SPEC.name)
    assert hv.power_state(SPEC.name) == PowerState.SHUTDOWN
    hv.start(SPEC.name)
    assert "NIMBUS READY" in hv.console_output(SPEC.name)


def test_last_lines_keeps_the_tail():
    assert last_lines("a\nb\nc\n", 2) == "b\nc\n"
    assert last_lines("a\nb\n", None) == "a\nb\n" and last_lines("a\n", 0) == ""


def test_a_guest_that_does_not_release_a_disk_keeps_it():
    hv = FakeHypervisor()
    hv.define_and_start(SPEC)
    vdb = Disk("vdb", "file", "/v", "raw")
    hv.attach_disk(SPEC.name, vdb)
    hv.fail("detach_disk", BackendUnavailable("guest did not release vdb"))
    with pytest.raises(BackendUnavailable):
        hv.detach_disk(SPEC.name, "vdb")
    assert hv.disks(SPEC.name) == [ROOT, vdb]


def test_a_nic_on_a_missing_bridge_does_not_start_and_leaves_nothing():
    hv = FakeHypervisor(bridges={"brqa"})
    spec = DomainSpec(**{**SPEC.__dict__, "nics": (Nic("fa:16:3e:00:00:01", "brqb", "tapb"),)})
    with pytest.raises(NotFound, match="brqb"):
        hv.define_and_start(spec)
    assert hv.power_states("") == {}
    hv.bridges = {"brqa", "brqb"}
    hv.define_and_start(spec)
    assert hv.power_state(SPEC.name) == PowerState.RUNNING


def test_the_fake_validates_nics_like_the_real_driver():
    nic = Nic("fa:16:3e:00:00:01", "brqa", "tapa")
    spec = DomainSpec(**{**SPEC.__dict__, "nics": (nic, nic)})
    with pytest.raises(InvalidSpec):
        FakeHypervisor().define_and_start(spec)
