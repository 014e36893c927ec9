"""Build the PaaS runtime images offline from Debian packages.

A raw disk laid out as ``paas.disk_layout`` says: p1 boots the default guest's kernel and
initramfs (``nimbus.guestimage.boot_files``: the same guest, so app instances boot as fast
as plain servers), p2 is a read-only root file system labelled ``nimbus-rt`` that a
user-data script chroots into. What p2 holds is a ``RootRecipe``: ``RUNTIME`` is Python
3.11 for apps (``paas.launch`` starts them; droplets are copies of this image with the app
appended, ``paas.droplet_disk``); ``paas.postgresql`` has the database service's.

    python -m paas.runtime OUT [--work DIR] [--recipe postgresql]

Needs the Debian packages ``syslinux syslinux-common mtools dosfstools e2fsprogs fdisk``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from nimbus import guestimage
from nimbus.guestimage import GuestImageError, run
from paas import disk_layout, diskimage, runtime_packages
from paas.disk_layout import MIB, SECTOR

RUNTIME_IMAGE_NAME = "nimbus-paas-runtime"
RUNTIME_VERSION = 1
#: Imports that fail when a shared library the runtime needs is missing.
VERIFY_IMPORTS = "import ssl, sqlite3, json, http.server, zlib, ctypes"
#: Mount points the launch script uses; the file system itself is mounted read-only.
ROOT_DIRS = ("app", "proc", "sys", "dev", "tmp", "etc", "bin", "usr/bin", "root")
#: The runtime's /etc: a root user whose home is the app, ``localhost`` without DNS, and
#: an empty resolv.conf that the launch script bind-mounts the guest's own over (the
#: file system is read-only; DHCP writes the guest's).
ETC_FILES = {
    "passwd": "root:x:0:0:root:/app:/bin/sh\n",
    "group": "root:x:0:\n",
    "hosts": "127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n",
    "nsswitch.conf": "passwd: files\ngroup: files\nhosts: files dns\n",
    "resolv.conf": "",
}


@dataclass(frozen=True)
class RootRecipe:
    """How one image's root file system is made.

    Attributes:
        image_name: the image's name in the image service (and on its stamp).
        version: raised when the recipe changes in a way its fields do not show.
        packages: the Debian packages whose Depends closure is unpacked.
        excluded: package name patterns left out of the closure (and their dependencies).
        root_dirs: folders made in the root (mount points; the root is read-only).
        etc_files: files written under ``/etc``.
        drop: paths (globs, relative to the root) removed after unpacking.
        verify: checks the root once it is complete; raises ``GuestImageError``.
    """

    image_name: str
    version: int
    packages: tuple[str, ...]
    excluded: tuple[str, ...]
    root_dirs: tuple[str, ...]
    etc_files: dict[str, str]
    drop: tuple[str, ...] = ()
    verify: Callable[[Path], None] = field(default=lambda root: None, compare=False)
    #: The folder under the build folder its packages are downloaded to.
    deb_folder: str = "runtime-debs"

    def digest(self) -> str:
        """A digest of how the root file system is made, so older builds are rebuilt."""
        parts = [
            str(self.version),
            *self.packages,
            *self.excluded,
            *self.root_dirs,
            *(f"{name}={text}" for name, text in sorted(self.etc_files.items())),
            *self.drop,
            repr(disk_layout.boot_partition()),
            disk_layout.RUNTIME_LABEL,
        ]
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def verify_python(root: Path) -> None:
    """Import what needs shared libraries inside the root; ``GuestImageError`` if any fails."""
    run("chroot", root, "/usr/bin/python3", "-c", VERIFY_IMPORTS)


def finish_python(root: Path) -> None:
    """``python3`` is ``python3.11``, as Debian's ``python3`` package would make it."""
    python3 = root / "usr" / "bin" / "python3"
    python3.unlink(missing_ok=True)
    python3.symlink_to("python3.11")
    verify_python(root)


RUNTIME = RootRecipe(
    image_name=RUNTIME_IMAGE_NAME,
    version=RUNTIME_VERSION,
    packages=runtime_packages.ROOT_PACKAGES,
    excluded=runtime_packages.EXCLUDED,
    root_dirs=ROOT_DIRS,
    etc_files=ETC_FILES,
    verify=finish_python,
)


def runtime_recipe(recipe: RootRecipe = RUNTIME) -> str:
    """The recipe's digest (see ``RootRecipe.digest``)."""
    return recipe.digest()


def stamp(recipe: RootRecipe = RUNTIME) -> str:
    """What the image records about itself on its boot partition."""
    return f"{recipe.image_name}\n{guestimage.stamp(guestimage.BASE_CMDLINE)}" + (
        f"runtime {recipe.digest()}\n"
    )


def is_valid(image: Path, recipe: RootRecipe = RUNTIME) -> bool:
    """Whether ``image`` is a complete image built by ``recipe``."""
    return guestimage.has_stamp(image, stamp(recipe), disk_layout.boot_partition().offset)


def unpack(debs: list[Path], root: Path) -> None:
    """``dpkg -x`` every package into a fresh ``root``."""
    if root.exists():
        run("rm", "-rf", root)
    root.mkdir(parents=True)
    for deb in debs:
        run("dpkg", "-x", deb, root)


def install_busybox(root: Path, busybox: Path) -> None:
    """busybox as ``/bin/sh`` and every applet a package did not already provide."""
    target = root / "bin" / "busybox"
    target.write_bytes(busybox.read_bytes())
    target.chmod(0o755)
    for applet in run(busybox, "--list-full").split():
        link = root / applet
        if not link.exists() and not link.is_symlink():
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to("/bin/busybox")


def finish_root(root: Path, recipe: RootRecipe = RUNTIME) -> None:
    """Mount points and the recipe's ``/etc`` files; what it drops removed."""
    for pattern in recipe.drop:
        for path in root.glob(pattern):
            run("rm", "-rf", path)
    for folder in recipe.root_dirs:
        (root / folder).mkdir(parents=True, exist_ok=True)
    for name, text in recipe.etc_files.items():
        (root / "etc" / name).write_text(text)


def build_root(work_dir: Path, recipe: RootRecipe = RUNTIME) -> Path:
    """Unpack, complete and check the recipe's root file system under ``work_dir``."""
    names = runtime_packages.closure(recipe.packages, recipe.excluded)
    debs = runtime_packages.fetch(names, work_dir / recipe.deb_folder)
    root = work_dir / f"{recipe.image_name}-root"
    unpack(debs, root)
    finish_root(root, recipe)
    guestimage.busybox(work_dir)  # downloads and extracts it if needed
    install_busybox(root, work_dir / "busybox" / "bin" / "busybox")
    recipe.verify(root)
    return root


def write_boot_partition(disk: Path, files: dict[str, Path]) -> None:
    """A FAT p1 that syslinux boots, holding ``files`` (name on disk -> source)."""
    boot = disk_layout.boot_partition()
    sectors = boot.offset // SECTOR
    size_kib = boot.size_mib * MIB // 1024
    fat = ["mkfs.fat", "-n", disk_layout.BOOT_FAT_LABEL, "-h", str(sectors)]
    run(*fat, f"--offset={sectors}", disk, str(size_kib))
    run("syslinux", "--install", "--offset", str(boot.offset), disk)
    for name, source in files.items():
        run("mcopy", "-o", "-i", f"{disk}@@{boot.offset}", source, f"::{name}")


def assemble(out: Path, root: Path, boot_files: dict[str, Path], work_dir: Path) -> None:
    """Write the partitioned image at ``out`` from the root folder and the boot files."""
    root_mib = disk_layout.fs_mib(diskimage.tree_bytes(root))
    fs = diskimage.make_ext4(root, work_dir / "runtime.ext4", disk_layout.RUNTIME_LABEL, root_mib)
    out.unlink(missing_ok=True)
    diskimage.grow(out, disk_layout.runtime_partition(root_mib).end_mib)
    diskimage.partition(out, disk_layout.runtime_sfdisk_script(root_mib))
    diskimage.install_mbr(out)
    write_boot_partition(out, boot_files)
    diskimage.write_at(fs, out, disk_layout.runtime_partition(root_mib))
    fs.unlink()


def build_runtime_image(out: Path, work_dir: Path, recipe: RootRecipe = RUNTIME) -> Path:
    """Build the recipe's image at ``out`` and return ``out``.

    Idempotent: a valid image already at ``out`` is returned untouched. ``work_dir`` keeps
    the downloaded packages (shared with ``build_guest_image``), so rebuilds need no
    network. The image is written beside ``out`` and renamed into place when complete.
    """
    if is_valid(out, recipe):
        return out
    root = build_root(work_dir, recipe)
    files = guestimage.boot_files(work_dir, guestimage.BASE_CMDLINE)
    stamp_file = work_dir / "staging" / f"{recipe.image_name}.stamp"
    stamp_file.write_text(stamp(recipe))
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    assemble(partial, root, {**files, guestimage.STAMP_FILE: stamp_file}, work_dir)
    run("rm", "-rf", root)
    os.replace(partial, out)
    if not is_valid(out, recipe):
        raise GuestImageError(f"{out} was built but does not read back as {recipe.image_name}")
    return out


def main(argv: list[str] | None = None) -> int:
    """CLI: build the image and say how long it took."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--work", type=Path, default=Path("guest/build"))
    parser.add_argument("--recipe", choices=("python", "postgresql"), default="python")
    args = parser.parse_args(argv)
    recipe = RUNTIME
    if args.recipe == "postgresql":
        from paas.postgresql import POSTGRESQL

        recipe = POSTGRESQL
    started = time.monotonic()
    image = build_runtime_image(args.out.resolve(), args.work.resolve(), recipe)
    print(f"{image} ({image.stat().st_size >> 20} MiB) in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
