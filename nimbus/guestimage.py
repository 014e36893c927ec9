"""Build the default guest image offline from Debian packages.

The product is one raw disk that a plain BIOS boots on its own, as a user's uploaded cloud
image would be: a FAT file system over the whole disk (no partition table) with syslinux
in its boot sector, a Debian kernel and a busybox initramfs (see ``nimbus.initramfs``).
Everything is written into image files with mtools and syslinux: no mount, no loop device.

    python -m nimbus.guestimage OUT [--work DIR]

Needs the Debian packages ``syslinux syslinux-common mtools dosfstools`` and apt sources.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import subprocess
import time
from pathlib import Path

from nimbus import initramfs

IMAGE_MIB = 24
KERNEL_META = "linux-image-amd64"
KERNEL_PACKAGE = re.compile(r"linux-image-6\.1\.0-\d+-amd64")
#: quiet and no i8042 probing keep the boot short under TCG; mitigations cost TCG time
#: and guard nothing a throwaway busybox guest has. ``no_timer_check``, as cloud images
#: have it: the kernel's early check of the timer interrupt counts ticks over a busy
#: loop, and an emulated CPU starved by a loaded host (several guests starting at once
#: on two cores) fails it and panics ("IO-APIC + timer doesn't work!").
BASE_CMDLINE = (
    "console=ttyS0 quiet loglevel=1 mitigations=off i8042.noaux i8042.nokbd no_timer_check"
)
#: Debian's dropbear and the packages of the shared libraries it loads (glibc's loader
#: among them): busybox is static, dropbear is not. Its NEEDED list is the library list.
SSH_PACKAGES = (
    "dropbear-bin", "libtomcrypt1", "libtommath1", "libgmp10", "libc6", "libcrypt1", "zlib1g",
)  # fmt: skip
SSH_LIBRARIES = (
    "ld-linux-x86-64.so.2",
    "libc.so.6",
    "libcrypt.so.1",
    "libtomcrypt.so.1",
    "libtommath.so.1",
    "libgmp.so.10",
    "libz.so.1",
)
LIB_DIR = "lib/x86_64-linux-gnu"
STAMP_FILE = "nimbus.txt"
STAMP_VERSION = 1


class GuestImageError(RuntimeError):
    """The image could not be built (a tool failed or a package is missing)."""


def run(*args: str | Path, cwd: Path | None = None) -> str:
    """Run a tool; raise ``GuestImageError`` carrying its stderr if it fails."""
    proc = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise GuestImageError(f"{' '.join(map(str, args))}: {proc.stderr.strip()}")
    return proc.stdout


def kernel_package() -> str:
    """The current ``linux-image-6.1.0-N-amd64``, as the meta package depends on it."""
    out = run("apt-cache", "depends", "--important", KERNEL_META)
    found = KERNEL_PACKAGE.search(out)
    if not found:
        raise GuestImageError(f"{KERNEL_META} names no 6.1 kernel; run apt-get update")
    return found.group(0)


def find_deb(work_dir: Path, prefix: str) -> Path | None:
    """A downloaded ``.deb`` whose name starts with ``prefix``, if there is one."""
    debs = sorted(work_dir.glob(f"{prefix}*.deb"))
    return debs[-1] if debs else None


def download(work_dir: Path) -> tuple[Path, Path]:
    """Fetch the kernel and busybox-static packages into ``work_dir`` unless already there.

    Reusing earlier downloads lets a rebuild run with no registry at all.
    """
    kernel = find_deb(work_dir, "linux-image-6.1.0-")
    busybox = find_deb(work_dir, "busybox-static_")
    if kernel is None or busybox is None:
        run("apt-get", "download", kernel_package(), "busybox-static", cwd=work_dir)
        kernel = find_deb(work_dir, "linux-image-6.1.0-")
        busybox = find_deb(work_dir, "busybox-static_")
    if kernel is None or busybox is None:
        raise GuestImageError(f"apt-get download left no packages in {work_dir}")
    return kernel, busybox


def ssh_server(work_dir: Path) -> dict[str, bytes]:
    """Dropbear and its libraries, as paths in the initramfs -> contents; the packages are
    downloaded into ``work_dir`` once and reused."""
    missing = [name for name in SSH_PACKAGES if find_deb(work_dir, f"{name}_") is None]
    if missing:
        run("apt-get", "download", *missing, cwd=work_dir)
    root = work_dir / "ssh"
    for name in SSH_PACKAGES:
        deb = find_deb(work_dir, f"{name}_")
        if deb is None:
            raise GuestImageError(f"apt-get download left no {name} package in {work_dir}")
        extract(deb, root / name)
    dropbear = root / "dropbear-bin" / initramfs.SSH_SERVER.lstrip("/")
    files = {initramfs.SSH_SERVER.lstrip("/"): dropbear.read_bytes()}
    for library in SSH_LIBRARIES:
        files[f"{LIB_DIR}/{library}"] = _library(root, library).read_bytes()
    return files


def _library(root: Path, name: str) -> Path:
    """The shared library ``name`` in the extracted packages (``lib`` or ``usr/lib``)."""
    found = sorted(root.glob(f"*/**/x86_64-linux-gnu/{name}"))
    if not found:
        raise GuestImageError(f"no package under {root} holds {name}")
    return found[0]


def extract(deb: Path, dest: Path) -> Path:
    """``dpkg -x`` the package once; a finished extraction is marked and reused."""
    done = dest / ".extracted"
    if not done.exists():
        dest.mkdir(parents=True, exist_ok=True)
        run("dpkg", "-x", deb, dest)
        done.touch()
    return dest


def guest_modules(modules_dir: Path) -> dict[str, bytes]:
    """The guest's modules and their dependencies, in load order, as file contents."""
    index = initramfs.module_index(modules_dir)
    depends = dependency_map(index)
    order = initramfs.load_order(initramfs.GUEST_MODULES, depends)
    return {name: index[name].read_bytes() for name in order}


def dependency_map(index: dict[str, Path]) -> dict[str, list[str]]:
    """What each module the guest needs depends on, read from the modules themselves."""
    todo, depends = list(initramfs.GUEST_MODULES), {}
    while todo:
        name = todo.pop()
        if name in depends:
            continue
        if name not in index:
            raise GuestImageError(f"kernel has no module {name}")
        depends[name] = initramfs.module_depends(index[name].read_bytes())
        todo += depends[name]
    return depends


def syslinux_cfg(cmdline: str) -> str:
    """Boot straight into the kernel: no prompt, no timeout."""
    return (
        "DEFAULT nimbus\nPROMPT 0\nTIMEOUT 0\n"
        f"LABEL nimbus\n  LINUX /vmlinuz\n  INITRD /initrd\n  APPEND {cmdline}\n"
    )


def guest_recipe() -> str:
    """A digest of what the guest runs at boot (its scripts and modules), so an image
    built by older code is rebuilt without anyone remembering to bump a version."""
    parts = [
        initramfs.init_script(list(initramfs.GUEST_MODULES)),
        initramfs.dhcp_script(),
        initramfs.instance_script(),
        *SSH_LIBRARIES,
    ]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def stamp(cmdline: str) -> str:
    """What the image records about itself, so a stale or different image is rebuilt."""
    return f"nimbus-guest {STAMP_VERSION}\ncmdline {cmdline}\nrecipe {guest_recipe()}\n"


def is_valid(image: Path, cmdline: str) -> bool:
    """Whether ``image`` is a complete build for this command line."""
    return has_stamp(image, stamp(cmdline))


def has_stamp(image: Path, text: str, fat_offset: int = 0) -> bool:
    """Whether ``image`` boots (MBR signature) and its FAT file system, ``fat_offset``
    bytes in, holds the stamp file ``text``.

    Builds are renamed into place only when finished, so a boot signature plus the
    matching stamp file means the whole image is there.
    """
    if not image.is_file() or image.stat().st_size < 1 << 20:
        return False
    with image.open("rb") as disk:
        disk.seek(510)
        if disk.read(2) != b"\x55\xaa":
            return False
    fat = f"{image}@@{fat_offset}" if fat_offset else str(image)
    proc = subprocess.run(["mtype", "-i", fat, f"::{STAMP_FILE}"], capture_output=True)
    return proc.returncode == 0 and proc.stdout.decode() == text


def write_fat_image(image: Path, files: dict[str, Path]) -> None:
    """Make a bootable FAT disk at ``image`` holding ``files`` (name on disk -> source)."""
    image.unlink(missing_ok=True)
    with image.open("wb") as disk:
        disk.truncate(IMAGE_MIB << 20)
    run("mkfs.fat", "-n", "NIMBUS", image)
    run("syslinux", "--install", image)
    for name, source in files.items():
        run("mcopy", "-o", "-i", image, source, f"::{name}")


def boot_files(work_dir: Path, cmdline: str) -> dict[str, Path]:
    """Download and stage what syslinux boots: the kernel, the initramfs and the config.

    Returns name on the boot file system -> staged file. ``work_dir`` keeps the downloaded
    and extracted packages, so later calls need no network.
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    kernel_deb, busybox_deb = download(work_dir)
    root = extract(kernel_deb, work_dir / "kernel")
    (vmlinuz,) = (root / "boot").glob("vmlinuz-*")
    modules = guest_modules(root / "lib" / "modules")
    staging = work_dir / "staging"
    staging.mkdir(exist_ok=True)
    initrd = initramfs.build_initramfs(busybox(work_dir), modules, ssh_server(work_dir))
    (staging / "initrd").write_bytes(initrd)
    (staging / "syslinux.cfg").write_text(syslinux_cfg(cmdline))
    return {"vmlinuz": vmlinuz, **{n: staging / n for n in ("initrd", "syslinux.cfg")}}


def busybox(work_dir: Path) -> bytes:
    """The static busybox binary, from the package ``download`` fetched."""
    _kernel_deb, busybox_deb = download(work_dir)
    return (extract(busybox_deb, work_dir / "busybox") / "bin" / "busybox").read_bytes()


def build_guest_image(out: Path, work_dir: Path, extra_cmdline: str = "") -> Path:
    """Build the default guest image at ``out`` and return ``out``.

    Idempotent: a valid image already at ``out`` is returned untouched. ``work_dir`` keeps
    the downloaded and extracted packages, so later builds need no network.
    ``extra_cmdline`` is appended to the kernel command line (e.g. ``nimbus.poweroff``).
    """
    cmdline = f"{BASE_CMDLINE} {extra_cmdline}".strip()
    if is_valid(out, cmdline):
        return out
    files = boot_files(work_dir, cmdline)
    stamp_file = work_dir / "staging" / STAMP_FILE
    stamp_file.write_text(stamp(cmdline))
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    write_fat_image(partial, {**files, STAMP_FILE: stamp_file})
    os.replace(partial, out)
    return out


def main(argv: list[str] | None = None) -> int:
    """CLI: build the image and say how long it took."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--work", type=Path, default=Path("guest/build"))
    parser.add_argument("--cmdline", default="", help="extra kernel command line words")
    args = parser.parse_args(argv)
    started = time.monotonic()
    image = build_guest_image(args.out.resolve(), args.work.resolve(), args.cmdline)
    print(f"{image} ({image.stat().st_size >> 20} MiB) in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
