"""Partition math of runtime images and droplets: MiB-aligned, in order, big enough."""

from __future__ import annotations

from paas import disk_layout
from paas.disk_layout import APP_MIN_MIB, MIB, Partition, app_partition, fs_mib, mib_ceil


def test_mib_ceil_rounds_up_to_whole_mib():
    assert [mib_ceil(n) for n in (0, 1, MIB, MIB + 1)] == [0, 1, 1, 2]


def test_a_tiny_app_still_gets_the_minimum_partition():
    assert app_partition(97, 10).size_mib == APP_MIN_MIB


def test_an_app_partition_holds_the_app_with_margin_after_the_runtime():
    part = app_partition(97, 200 * MIB)
    assert part.start_mib == 97
    assert part.size_mib * MIB > 200 * MIB * 1.1


def test_fs_size_grows_with_content():
    assert fs_mib(50 * MIB) > fs_mib(10 * MIB) > 10


def test_runtime_partitions_follow_each_other_from_the_first_mib():
    boot, root = disk_layout.boot_partition(), disk_layout.runtime_partition(64)
    assert boot.start_mib == 1 and root.start_mib == boot.end_mib and root.size_mib == 64


def test_sfdisk_lines_are_in_sectors_and_only_the_boot_partition_is_bootable():
    script = disk_layout.runtime_sfdisk_script(64)
    assert script.splitlines() == [
        "label: dos",
        "start=2048, size=65536, type=c, bootable",
        "start=67584, size=131072, type=83",
    ]
    assert Partition(3, 2).offset == 3 * MIB
