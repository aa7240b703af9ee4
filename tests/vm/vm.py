#!/usr/bin/env python3
"""Build and boot the small Linux VM that runs ocppfast's GPIO tests (and its aarch64 tests).

The host's kernel has no GPIO support, so the GPIO backend is tested in a QEMU guest running
Debian 12's kernel with the kernel's ``gpio-sim`` driver (built here as an out-of-tree module,
see ``tests/vm/gpio_sim/Kbuild``) driving simulated lines. Everything built lives in a cache
directory (``$OCPPFAST_VM_CACHE/<arch>``, default ``~/.cache/ocppfast-vm/<arch>``), never in the
repository. See ``tests/vm/README.md``.

Commands (each has ``--help``)::

    python3 tests/vm/vm.py build [--arch x86_64|aarch64]
    python3 tests/vm/vm.py packages [--arch A]
    python3 tests/vm/vm.py run [--arch A] [--timeout S] [--memory MiB] [--writable-repo] -- CMD...
    python3 tests/vm/vm.py selftest [--arch A]
    python3 tests/vm/vm.py shell [--arch A]

``run`` exits with the command's exit status, or with 2 when the VM cannot be built or started
or the command does not finish in time. Python 3.10+, standard library only.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import platform
import select
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Iterator, Sequence
from pathlib import Path

# Bump when the way the cache is built changes in a way the hashed inputs below do not show.
RECIPE_VERSION = "1"

HERE = Path(__file__).resolve().parent
MODULE_DIR = HERE / "gpio_sim"

# Exit status of `run` when the VM itself failed (a failing command gives its own status).
EXIT_VM_FAILED = 2

SUITE = "bookworm"
MIRRORS = (
    "deb http://deb.debian.org/debian bookworm main",
    "deb http://deb.debian.org/debian bookworm-updates main",
    # Debian 12's kernel updates arrive through the security archive; the image's kernel and
    # linux-source must come from the same upload for the module to load.
    "deb http://deb.debian.org/debian-security bookworm-security main",
)
# What the guest needs: the kernel (+ headers and sources for the gpio-sim module, built with gcc
# and make inside the root filesystem), kmod (modprobe), python3 (Debian's 3.11), procps,
# iproute2 (to bring `lo` up), util-linux (mount, setsid).
BASE_PACKAGES = (
    "linux-image-{flavour}",
    "linux-headers-{flavour}",
    "linux-source-6.1",
    "kmod",
    "python3",
    "procps",
    "iproute2",
    "util-linux",
    "netbase",
    "gcc",
    "make",
    "libc6-dev",
)
# aarch64 also builds ocppfast's Cython core inside the guest.
EXTRA_PACKAGES = {"aarch64": ("python3-dev",)}

# The guest's Python packages, installed from the host as wheels (see `packages`): pip inside the
# emulated guest takes about a minute per step.
GUEST_PYTHON_PACKAGES = (
    "gpiod==2.5.0",
    "pytest",
    "hypothesis",
    "orjson",
    "msgspec",
    "websockets",
    "uvloop",
    "typer",
    "cryptography",
    "pymodbus[serial]>=3.16,<4",
    "pyserial",
    "pyserial-asyncio-fast",
    "aiohttp",
    "asyncpg",
    # ocppfast's own run-time dependency (pyproject.toml), needed by `ocppfast serve` in tests.
    "prometheus-client",
)
EXTRA_PYTHON_PACKAGES = {"aarch64": ("Cython", "setuptools")}
GUEST_PYTHON_VERSION = "3.11"

# Where things are inside the guest.
# The guest's Python packages are mounted on a folder that Debian's python3 already treats as a
# site directory, so that they are found (and .pth files run) even by a subprocess whose
# PYTHONPATH was replaced (tests/test_build.py does that); PYTHONPATH names it too.
GUEST_SITE = "/usr/local/lib/python3.11/dist-packages"
GUEST_MODULE = "/usr/local/lib/ocppfast-vm/gpio-sim.ko"
GUEST_INIT = "/usr/local/sbin/ocppfast-vm-init"
# 9p: the largest message size the virtio transport of Linux 6.1 accepts is 512 KiB; big
# messages matter because every Python import is a handful of 9p round trips.
P9_OPTS = "trans=virtio,version=9p2000.L,msize=262144"

BOOT_TIMEOUT = float(os.environ.get("OCPPFAST_VM_BOOT_TIMEOUT", "240"))
BEGIN_MARK = "@@ocppfast-vm: begin@@"
END_MARK = "@@ocppfast-vm: exit "


@dataclasses.dataclass(frozen=True)
class Arch:
    """How to build and boot the VM for one guest architecture."""

    name: str  # uname -m
    debian: str  # Debian's architecture name
    qemu: str  # the QEMU binary
    qemu_package: str  # the Debian package that has it
    machine: tuple[str, ...]  # -M/-cpu options
    console: str  # the serial console's device in the guest

    @property
    def flavour(self) -> str:
        return self.debian


ARCHES = {
    # -cpu max: the wheels' compiled code may use anything up to x86-64-v3; TCG emulates it.
    "x86_64": Arch(
        "x86_64", "amd64", "qemu-system-x86_64", "qemu-system-x86", ("-cpu", "max"), "ttyS0"
    ),
    # cortex-a57 rather than max: max adds pointer authentication, which TCG emulates slowly.
    "aarch64": Arch(
        "aarch64",
        "arm64",
        "qemu-system-aarch64",
        "qemu-system-arm",
        ("-M", "virt", "-cpu", "cortex-a57"),
        "ttyAMA0",
    ),
}


class VMError(Exception):
    """The VM could not be built, started or finished; the message says what to do."""


# -- small helpers -------------------------------------------------------------------------------


def progress(message: str) -> None:
    print(f"==> {message}", file=sys.stderr, flush=True)


def note(message: str) -> None:
    print(f"    {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def step(message: str) -> Iterator[None]:
    progress(message)
    start = time.monotonic()
    yield
    note(f"done in {time.monotonic() - start:.1f} s")


def host_arch() -> str:
    machine = platform.machine().lower()
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)


def cache_dir(arch: Arch) -> Path:
    root = os.environ.get("OCPPFAST_VM_CACHE") or str(Path.home() / ".cache" / "ocppfast-vm")
    return Path(root) / arch.name


def sha256(*parts: bytes | str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "big") + data)
    return digest.hexdigest()


def run_checked(cmd: Sequence[str], what: str, **kwargs: object) -> None:
    """Run a build step; on failure raise VMError naming the step and the command."""
    try:
        subprocess.run(list(cmd), check=True, **kwargs)  # type: ignore[call-overload]
    except FileNotFoundError as exc:
        raise VMError(f"{what} failed: {cmd[0]} not found") from exc
    except subprocess.CalledProcessError as exc:
        raise VMError(
            f"{what} failed (exit status {exc.returncode}): {shlex.join(cmd)}; see the output above"
        ) from exc


def is_root() -> bool:
    return os.geteuid() == 0


def as_root(cmd: list[str]) -> list[str]:
    if is_root():
        return cmd
    if shutil.which("sudo"):
        return ["sudo", *cmd]
    raise VMError(f"{shlex.join(cmd)} needs root; run this as root or install sudo")


_apt_updated = False


def apt_install(packages: Sequence[str]) -> None:
    """Install Debian packages on the host (apt-get update once per process)."""
    global _apt_updated
    if not shutil.which("apt-get"):
        raise VMError(
            f"missing {', '.join(packages)} and there is no apt-get: install them by hand"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    with step(f"apt-get install {' '.join(packages)}"):
        if not _apt_updated:
            run_checked(as_root(["apt-get", "update", "-q"]), "apt-get update", env=env)
            _apt_updated = True
        run_checked(
            as_root(["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages]),
            "apt-get install",
            env=env,
        )


@contextlib.contextmanager
def locked(path: Path, shared: bool = False) -> Iterator[None]:
    """Hold a lock on the cache so a build does not replace files that a running VM uses."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def read_stamp(path: Path) -> dict[str, str]:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def write_stamp(path: Path, value: dict[str, str]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(value, indent=1, sort_keys=True) + "\n")
    tmp.replace(path)


# -- host tools ----------------------------------------------------------------------------------


def ensure_host_tools(arch: Arch, for_build: bool) -> None:
    missing: list[str] = []
    if not shutil.which(arch.qemu):
        missing.append(arch.qemu_package)
    if for_build:
        if not shutil.which("mmdebstrap"):
            missing.append("mmdebstrap")
        if not shutil.which("xz"):
            missing.append("xz-utils")
        if arch.name != host_arch():
            if not qemu_user_binary(arch):
                missing.append("qemu-user-static")
            # mmdebstrap checks with arch-test that the host can run the foreign architecture.
            if not shutil.which("arch-test"):
                missing.append("arch-test")
    if missing:
        apt_install(missing)
    if for_build and arch.name != host_arch():
        ensure_binfmt(arch)


def qemu_user_binary(arch: Arch) -> str | None:
    for name in (f"qemu-{arch.name}-static", f"qemu-{arch.name}"):
        found = shutil.which(name)
        if found:
            return found
    return None


def ensure_binfmt(arch: Arch) -> None:
    """Let the host run the guest architecture's programs (mmdebstrap runs the packages' scripts).

    Registered by hand through binfmt_misc (Documentation/admin-guide/binfmt-misc.rst): the
    systemd/binfmt-support services that normally do it are often absent or not running in
    containers and CI machines.
    """
    if arch.name != "aarch64":
        raise VMError(f"no foreign-architecture support for {arch.name}")
    binfmt = Path("/proc/sys/fs/binfmt_misc")
    if not (binfmt / "register").exists():
        run_checked(
            as_root(["mount", "-t", "binfmt_misc", "binfmt_misc", str(binfmt)]), "mount binfmt_misc"
        )
    entry = binfmt / "qemu-aarch64"
    if entry.exists():
        if entry.read_text().splitlines()[0].strip() != "enabled":
            raise VMError(f"{entry} is registered but disabled: echo 1 > {entry}")
        return
    interpreter = qemu_user_binary(arch)
    if not interpreter:
        raise VMError("qemu-aarch64-static not found: apt-get install qemu-user-static")
    # Match the ELF header (System V ABI, "ELF header"): e_ident = 0x7f 'ELF', ELFCLASS64 (2),
    # ELFDATA2LSB (1), EV_CURRENT (1), then OS ABI/padding (ignored by the mask at byte 7 only,
    # as Linux binaries use ELFOSABI_NONE or GNU); e_type ET_EXEC (2) or ET_DYN (3) (mask 0xfe);
    # e_machine EM_AARCH64 (183 = 0xb7). Flags: O (open the binary), C (credentials from it),
    # F (open the interpreter now, so it works inside chroots that do not contain it).
    magic = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + b"\x02\x00\xb7\x00"
    mask = b"\xff" * 7 + b"\x00" + b"\xff" * 8 + b"\xfe\xff\xff\xff"

    def escaped(data: bytes) -> str:
        return "".join(f"\\x{byte:02x}" for byte in data)

    rule = f":qemu-aarch64:M::{escaped(magic)}:{escaped(mask)}:{interpreter}:OCF"
    progress(f"registering {interpreter} for aarch64 programs (binfmt_misc)")
    run_checked(
        as_root(["sh", "-c", f"printf '%s' '{rule}' > {binfmt / 'register'}"]),
        "binfmt_misc registration",
    )


# -- root filesystem -----------------------------------------------------------------------------

# initramfs-tools: MODULES=list keeps the initramfs to the modules named by hooks (the default,
# MODULES=most, copies hundreds of drivers, and mkinitramfs then takes ~11 minutes under arm64
# emulation). Our hook adds just what is needed to mount a 9p root over virtio-pci.
INITRAMFS_CONF = """\
# ocppfast test VM (tests/vm/vm.py): only the modules our hook names.
MODULES=list
"""
INITRAMFS_HOOK = """\
#!/bin/sh
# ocppfast test VM (tests/vm/vm.py): the root filesystem is a 9p share over virtio-pci.
PREREQ=""
prereqs() { echo "$PREREQ"; }
case "$1" in prereqs) prereqs; exit 0 ;; esac
. /usr/share/initramfs-tools/hook-functions
for module in virtio_pci virtio_mmio 9pnet_virtio 9p; do
    force_load "$module"
done
"""
# PID 1 in the guest: mount the job's share and hand over to the script vm.py wrote there, so
# that changing how a job runs does not need a new root filesystem.
GUEST_INIT_SCRIPT = f"""\
#!/bin/sh
# PID 1 of the ocppfast test VM (tests/vm/vm.py).
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH
if mount -t 9p -o {P9_OPTS} job /job && [ -f /job/init.sh ]; then
    exec /bin/sh /job/init.sh
fi
echo "ocppfast-vm-init: no job share with an init.sh; powering off"
echo o > /proc/sysrq-trigger
while :; do sleep 60; done
"""
HOSTS = """\
127.0.0.1\tlocalhost ocppfast-vm
::1\tlocalhost ip6-localhost ip6-loopback
"""


# After the packages: the hostname, and the mount points (the root filesystem is read-only).
CUSTOMIZE_HOOKS = (
    'echo ocppfast-vm > "$1/etc/hostname"',
    f'mkdir -p "$1/job" "$1/repo" "$1/mnt/repo-ro" "$1/usr/local/lib/ocppfast-vm" "$1{GUEST_SITE}"',
)


def packages_for(arch: Arch) -> list[str]:
    names = [name.format(flavour=arch.flavour) for name in BASE_PACKAGES]
    return names + list(EXTRA_PACKAGES.get(arch.name, ()))


def rootfs_recipe(arch: Arch) -> str:
    return sha256(
        RECIPE_VERSION,
        arch.debian,
        SUITE,
        *MIRRORS,
        *packages_for(arch),
        INITRAMFS_CONF,
        INITRAMFS_HOOK,
        GUEST_INIT_SCRIPT,
        HOSTS,
        *CUSTOMIZE_HOOKS,
    )


def module_recipe(arch: Arch, rootfs_hash: str) -> str:
    sources = [
        f"{path.name}\0{path.read_text()}"
        for path in sorted(MODULE_DIR.iterdir())
        if path.is_file() and not path.name.startswith(".")
    ]
    return sha256(RECIPE_VERSION, rootfs_hash, IRQ_SIM_PATCH[0], IRQ_SIM_PATCH[1], *sources)


def build_rootfs(arch: Arch, cache: Path) -> None:
    """Debian 12 root filesystem with mmdebstrap (about 70 s for amd64, 6 min for arm64)."""
    target = cache / "rootfs"
    new = cache / "rootfs.new"
    for path in (new, target):
        remove_tree(path)
    stage = Path(tempfile.mkdtemp(prefix="ocppfast-vm-stage-"))
    try:
        files = {
            "etc/initramfs-tools/conf.d/ocppfast-vm": (INITRAMFS_CONF, 0o644),
            "etc/initramfs-tools/hooks/ocppfast-vm": (INITRAMFS_HOOK, 0o755),
            GUEST_INIT.lstrip("/"): (GUEST_INIT_SCRIPT, 0o755),
        }
        for name, (text, mode) in files.items():
            path = stage / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            path.chmod(mode)
        hosts = stage.parent / (stage.name + ".hosts")
        hosts.write_text(HOSTS)
        cmd = [
            "mmdebstrap",
            "--mode=root",
            "--variant=minbase",
            f"--architectures={arch.debian}",
            "--aptopt=APT::Install-Recommends false",
            # Documentation and translations are of no use in a test VM and slow every step.
            "--dpkgopt=path-exclude=/usr/share/doc/*",
            "--dpkgopt=path-exclude=/usr/share/man/*",
            "--dpkgopt=path-exclude=/usr/share/locale/*",
            "--dpkgopt=path-exclude=/usr/share/info/*",
            f"--include={','.join(packages_for(arch))}",
            # Before any package: initramfs-tools must see our configuration when the kernel's
            # postinst first builds the initramfs.
            f'--setup-hook=cp -a "{stage}/." "$1/"',
            f'--customize-hook=cp "{hosts}" "$1/etc/hosts"',
            *(f"--customize-hook={hook}" for hook in CUSTOMIZE_HOOKS),
            SUITE,
            str(new),
            *MIRRORS,
        ]
        with step(f"root filesystem: mmdebstrap {arch.debian} {SUITE} into {new}"):
            run_checked(as_root(cmd), "mmdebstrap")
        new.rename(target)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        with contextlib.suppress(OSError):
            (stage.parent / (stage.name + ".hosts")).unlink()


def remove_tree(path: Path) -> None:
    """Delete an old root filesystem, refusing if anything is mounted inside it."""
    if not path.exists():
        return
    resolved = str(path.resolve())
    with open("/proc/mounts") as mounts:
        for line in mounts:
            mountpoint = line.split()[1]
            if mountpoint == resolved or mountpoint.startswith(resolved + "/"):
                raise VMError(f"{mountpoint} is mounted inside {path}; unmount it first")
    if is_root():
        shutil.rmtree(path)
    else:
        run_checked(as_root(["rm", "-rf", "--one-file-system", str(path)]), f"removing {path}")


def kernel_version(rootfs: Path) -> str:
    versions = sorted(p.name for p in (rootfs / "lib/modules").iterdir() if p.is_dir())
    if len(versions) != 1:
        raise VMError(f"expected one kernel in {rootfs}/lib/modules, found {versions}")
    return versions[0]


def dpkg_versions(rootfs: Path) -> dict[str, str]:
    """Installed packages' versions, from the root filesystem's dpkg status file."""
    versions: dict[str, str] = {}
    text = (rootfs / "var/lib/dpkg/status").read_text(errors="replace")
    for paragraph in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in paragraph.splitlines() if ": " in line[:40])
        if "Package" in fields and "Version" in fields:
            versions[fields["Package"]] = fields["Version"]
    return versions


# The one change irq_sim.c needs to build as a module: irq_to_desc() is not exported to modules
# (kernel/irq/irqdesc.c), while generic_handle_irq_safe() is and does the same here: look up the
# descriptor and run its flow handler (handle_simple_irq, set by irq_sim's domain map), safely
# from the irq_work context this runs in.
IRQ_SIM_PATCH = (
    "handle_simple_irq(irq_to_desc(irqnum));",
    "generic_handle_irq_safe(irqnum);",
)
KERNEL_SOURCES = {
    "drivers/gpio/gpio-sim.c": "gpio-sim-drv.c",
    "drivers/gpio/gpiolib.h": "gpiolib.h",
    "kernel/irq/irq_sim.c": "irq_sim.c",
}


def build_module(arch: Arch, cache: Path) -> str:
    """Build gpio-sim.ko for the image's kernel inside its root filesystem; returns the version."""
    rootfs = cache / "rootfs"
    kver = kernel_version(rootfs)
    src = cache / "kernel-src"
    tarballs = sorted((rootfs / "usr/src").glob("linux-source-*.tar.xz"))
    if tarballs:
        # Debian's linux-source package is the exact source of the image's kernel (same upload).
        tarball = tarballs[-1]
        top = tarball.name.removesuffix(".tar.xz")
        versions = dpkg_versions(rootfs)
        source_version = versions.get(top)
        image_version = versions.get(f"linux-image-{kver}")
        if source_version != image_version:
            raise VMError(
                f"{top} {source_version} is not the source of linux-image-{kver} {image_version}"
                " (the archive was caught mid-update?): run `python3 tests/vm/vm.py build` again"
            )
        remove_tree(src)
        src.mkdir(parents=True)
        with step(f"kernel sources: {', '.join(KERNEL_SOURCES)} from {tarball.name}"):
            run_checked(
                [
                    "tar",
                    "-xJf",
                    str(tarball),
                    "-C",
                    str(src),
                    "--strip-components=1",
                    *(f"{top}/{name}" for name in KERNEL_SOURCES),
                ],
                "extracting the kernel sources",
            )
        # 130 MB that nothing else needs: the three files are kept in the cache instead.
        tarball.unlink()
    missing = [name for name in KERNEL_SOURCES if not (src / name).is_file()]
    if missing:
        raise VMError(
            f"kernel sources {missing} missing from {src}: delete {cache} and run "
            "`python3 tests/vm/vm.py build` again"
        )
    build = rootfs / "usr/local/src/ocppfast-gpio-sim"
    if build.exists():
        shutil.rmtree(build)
    build.mkdir(parents=True)
    for path in MODULE_DIR.iterdir():
        if path.is_file() and not path.name.startswith("."):
            shutil.copy2(path, build / path.name)
    for name, dest in KERNEL_SOURCES.items():
        text = (src / name).read_text()
        if dest == "irq_sim.c":
            old, new = IRQ_SIM_PATCH
            if old not in text:
                raise VMError(
                    f"kernel/irq/irq_sim.c of {kver} does not contain {old!r}; update "
                    "IRQ_SIM_PATCH in tests/vm/vm.py for this kernel"
                )
            text = text.replace(old, new)
        (build / dest).write_text(text)
    # A chroot has no /dev; make and gcc write to /dev/null.
    devnull = rootfs / "dev/null"
    if not devnull.exists():
        devnull.parent.mkdir(exist_ok=True)
        os.mknod(devnull, 0o666 | 0o020000, os.makedev(1, 3))
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "LC_ALL": "C"}
    with step(f"gpio-sim module for {kver}"):
        run_checked(
            as_root(
                [
                    "chroot",
                    str(rootfs),
                    "make",
                    "-s",
                    "-C",
                    "/usr/local/src/ocppfast-gpio-sim",
                    f"KVER={kver}",
                    "modules",
                ]
            ),
            "building gpio-sim.ko",
            env=env,
        )
    built = build / "gpio-sim.ko"
    shutil.copy2(built, cache / "gpio-sim.ko")
    shutil.copy2(built, rootfs / GUEST_MODULE.lstrip("/"))
    return kver


def build(arch: Arch) -> Path:
    """Make sure the cache holds an up-to-date VM for arch; a no-op when nothing changed."""
    cache = cache_dir(arch)
    cache.mkdir(parents=True, exist_ok=True)
    stamp_path = cache / "stamp.json"
    rootfs_hash = rootfs_recipe(arch)
    module_hash = module_recipe(arch, rootfs_hash)

    def up_to_date() -> tuple[bool, bool]:
        stamp = read_stamp(stamp_path)
        rootfs_ok = stamp.get("rootfs") == rootfs_hash and (cache / "rootfs").is_dir()
        module_ok = rootfs_ok and stamp.get("module") == module_hash
        return rootfs_ok, module_ok and (cache / "vmlinuz").is_file()

    # A shared lock to check: VMs that are running hold it too and need not wait for each other.
    with locked(cache / ".lock", shared=True):
        if all(up_to_date()):
            if not shutil.which(arch.qemu):
                ensure_host_tools(arch, for_build=False)
            return cache
    with locked(cache / ".lock"):
        rootfs_ok, module_ok = up_to_date()
        if rootfs_ok and module_ok:
            return cache
        start = time.monotonic()
        progress(f"building the {arch.name} VM in {cache} (recipe changed or first build)")
        ensure_host_tools(arch, for_build=True)
        if not rootfs_ok:
            write_stamp(stamp_path, {})
            build_rootfs(arch, cache)
        kver = build_module(arch, cache)
        rootfs = cache / "rootfs"
        for name, dest in (
            (f"boot/vmlinuz-{kver}", "vmlinuz"),
            (f"boot/initrd.img-{kver}", "initrd.img"),
        ):
            shutil.copyfile(rootfs / name, cache / dest)
        stamp = {
            "rootfs": rootfs_hash,
            "module": module_hash,
            "kernel": kver,
            "built": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        write_stamp(stamp_path, stamp)
        progress(f"the {arch.name} VM is built ({time.monotonic() - start:.0f} s), kernel {kver}")
    return cache


# -- guest Python packages -----------------------------------------------------------------------


def python_packages_for(arch: Arch) -> list[str]:
    return list(GUEST_PYTHON_PACKAGES) + list(EXTRA_PYTHON_PACKAGES.get(arch.name, ()))


def pip_platforms(arch: Arch) -> list[str]:
    # Debian 12 has glibc 2.36: every manylinux tag up to that is fine.
    tags = [f"manylinux_2_{minor}_{arch.name}" for minor in range(36, 16, -1)]
    return [*tags, f"manylinux2014_{arch.name}"]


def host_pip() -> list[str]:
    for python in (sys.executable, "/usr/bin/python3"):
        probe = subprocess.run(
            [python, "-m", "pip", "--version"], capture_output=True, text=True, check=False
        )
        if probe.returncode == 0:
            return [python, "-m", "pip"]
    apt_install(["python3-pip"])
    return ["/usr/bin/python3", "-m", "pip"]


def install_packages(arch: Arch) -> Path:
    """Install the guest's Python packages into <cache>/site-packages; cached by their list."""
    cache = cache_dir(arch)
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / "site-packages"
    stamp_path = cache / "site-packages.stamp.json"
    wanted = python_packages_for(arch)
    recipe = sha256(
        RECIPE_VERSION,
        GUEST_PYTHON_VERSION,
        *pip_platforms(arch),
        *wanted,
        REPO_FINDER,
        REPO_FINDER_PTH,
    )
    with locked(cache / ".lock", shared=True):
        if read_stamp(stamp_path).get("recipe") == recipe and target.is_dir():
            return target
    with locked(cache / ".lock"):
        if read_stamp(stamp_path).get("recipe") == recipe and target.is_dir():
            return target
        pip = host_pip()
        new = cache / "site-packages.new"
        shutil.rmtree(new, ignore_errors=True)
        common = [
            "--disable-pip-version-check",
            "--quiet",
            # The host's own packages are not the guest's: their conflicts are not ours.
            "--no-warn-conflicts",
            "--root-user-action=ignore",
            "--target",
            str(new),
            "--python-version",
            GUEST_PYTHON_VERSION,
            "--implementation",
            "cp",
            "--abi",
            "cp" + GUEST_PYTHON_VERSION.replace(".", ""),
            "--only-binary=:all:",
            *(f"--platform={tag}" for tag in pip_platforms(arch)),
        ]
        base = [*pip, "install", *common]
        left_out: list[str] = []
        with step(f"guest Python packages for {arch.name} into {target}"):
            if subprocess.run([*base, *wanted], check=False).returncode != 0:
                # Find which ones have no wheel for the guest and install the others.
                note("pip failed for the whole list; trying the packages one by one")
                shutil.rmtree(new, ignore_errors=True)
                installable = []
                for name in wanted:
                    probe = subprocess.run(
                        [*pip, "install", "--dry-run", *common, name],
                        capture_output=True,
                        text=True,
                        check=False,
                    )
                    if probe.returncode == 0:
                        installable.append(name)
                    else:
                        left_out.append(name)
                for name in left_out:
                    note(f"NOTE: {name} has no cp311 wheel for {arch.name}; left out of the guest")
                run_checked([*base, *installable], "pip install (guest packages)")
        (new / "_ocppfast_vm_repo.py").write_text(REPO_FINDER)
        (new / "_ocppfast_vm_repo.pth").write_text(REPO_FINDER_PTH)
        shutil.rmtree(target, ignore_errors=True)
        new.rename(target)
        write_stamp(stamp_path, {"recipe": recipe, "left_out": " ".join(left_out)})
    return target


# The repository is used in place (PYTHONPATH=/repo), not installed: this makes the packages that
# pyproject.toml's [tool.setuptools] package-dir maps elsewhere (ocppfast.cli is cli/)
# importable too, as an editable install would. A .pth file in the site directory imports it at
# start-up (the "import" lines of .pth files, see the site module's documentation).
REPO_FINDER_PTH = "import _ocppfast_vm_repo\n"
REPO_FINDER = """\
\"\"\"ocppfast test VM (tests/vm/vm.py): /repo's packages as pyproject.toml lays them out.\"\"\"

import importlib.abc
import importlib.util
import os
import sys


def _package_dirs(repo):
    try:
        import tomllib

        with open(os.path.join(repo, "pyproject.toml"), "rb") as handle:
            table = tomllib.load(handle)
        mapping = table["tool"]["setuptools"]["package-dir"]
    except (OSError, KeyError, ValueError, ImportError):
        return {}
    return {name: os.path.join(repo, path) for name, path in mapping.items() if name != path}


class _RepoPackages(importlib.abc.MetaPathFinder):
    def __init__(self, dirs):
        self.dirs = dirs

    def find_spec(self, fullname, path=None, target=None):
        where = self.dirs.get(fullname)
        init = where and os.path.join(where, "__init__.py")
        if not init or not os.path.isfile(init):
            return None
        return importlib.util.spec_from_file_location(
            fullname, init, submodule_search_locations=[where]
        )


_dirs = _package_dirs(os.environ.get("OCPPFAST_VM_REPO", "/repo"))
if _dirs:
    sys.meta_path.insert(0, _RepoPackages(_dirs))
"""


# -- booting -------------------------------------------------------------------------------------

JOB_SCRIPT = r"""#!/bin/sh
# Written by tests/vm/vm.py for one run; executed as PID 1 by {init}.
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH
fail() {{
    echo "ocppfast-vm: $*"; echo 125 > /job/status
    echo o > /proc/sysrq-trigger; while :; do sleep 60; done
}}
mnt() {{ mountpoint -q "$4" || mount -t "$1" -o "$3" "$2" "$4" || fail "cannot mount $4"; }}
# initramfs-tools moved /proc, /sys, /dev and /run here already; mount whatever is missing.
mnt proc proc nosuid,nodev,noexec /proc
mnt sysfs sysfs nosuid,nodev,noexec /sys
mnt devtmpfs devtmpfs mode=0755 /dev
mkdir -p /dev/pts /dev/shm
# devpts: os.openpty() (the serial tests use pty pairs).
mnt devpts devpts gid=5,mode=620,ptmxmode=666 /dev/pts
mnt tmpfs tmpfs mode=1777 /dev/shm
mnt tmpfs tmpfs mode=1777 /tmp
mnt tmpfs tmpfs mode=0755 /run
# gpio-sim is configured through configfs (Documentation/admin-guide/gpio/gpio-sim.rst).
modprobe configfs 2>/dev/null
mnt configfs configfs rw /sys/kernel/config
# Keep the kernel's informational messages off the console the command's output goes to.
dmesg -n 4 2>/dev/null
ip link set lo up || fail "cannot bring lo up"
hostname ocppfast-vm 2>/dev/null
insmod {module} || fail "cannot load {module}"
mnt 9p site ro,{p9},cache=loose {site}
if [ "$OCPPFAST_VM_WRITABLE_REPO" = yes ]; then
    mnt 9p repo ro,{p9},cache=loose /mnt/repo-ro
    # A copy-on-write view: writes (e.g. a Cython build) go to a tmpfs, never to the host.
    mkdir -p /tmp/.repo-upper /tmp/.repo-work
    if ! mount -t overlay overlay \
        -o lowerdir=/mnt/repo-ro,upperdir=/tmp/.repo-upper,workdir=/tmp/.repo-work /repo 2>/dev/null
    then
        echo "ocppfast-vm: overlayfs unavailable; copying the repository to /tmp/repo"
        cp -a /mnt/repo-ro /tmp/repo && mount --bind /tmp/repo /repo || fail "cannot copy the repo"
    fi
else
    mnt 9p repo ro,{p9},cache=loose /repo
fi
export PYTHONPATH={site}:/repo PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 HOME=/tmp TMPDIR=/tmp
export LANG=C.UTF-8 TERM={term} USER=root LOGNAME=root
cd /repo || fail "no /repo"
{run}
"""
RUN_BATCH = r"""printf '\n%s\n' '{begin}'
/bin/sh -c "$(cat /job/command)" </dev/null
status=$?
echo "$status" > /job/status
sync
printf '\n%s%s@@\n' '{end}' "$status"
# The kernel writes its own messages (the power-off's) straight to the UART, past what is still
# queued in the tty: wait until the console has sent everything (stty sets its settings with
# TCSADRAIN, tcsetattr(3)), or the end of the output could be lost.
stty "$(stty -g </dev/console)" </dev/console 2>/dev/null
echo o > /proc/sysrq-trigger
while :; do sleep 60; done
"""
RUN_SHELL = r"""printf '\n%s\n' '{begin}'
echo "ocppfast-vm: interactive shell; exit it (or Ctrl-D) to power off, Ctrl-A X kills QEMU"
setsid -c /bin/sh -i
echo 0 > /job/status
stty "$(stty -g </dev/console)" </dev/console 2>/dev/null
echo o > /proc/sysrq-trigger
while :; do sleep 60; done
"""


def qemu_command(
    arch: Arch, cache: Path, job: Path, repo: Path, site: Path, memory: int
) -> list[str]:
    qemu = shutil.which(arch.qemu)
    if not qemu:
        raise VMError(
            f"the VM did not start: {arch.qemu} not found; run `python3 tests/vm/vm.py build"
            f" --arch {arch.name}`"
        )
    append = " ".join(
        [
            f"console={arch.console}",
            "root=rootfs",
            "rootfstype=9p",
            f"rootflags={P9_OPTS},cache=loose",
            "ro",
            f"init={GUEST_INIT}",
            # On a kernel panic reboot at once, which -no-reboot turns into QEMU exiting; the
            # initramfs's own panic() does the same instead of waiting at a rescue shell.
            "panic=-1",
            "fsck.mode=skip",
            "quiet",
            "mitigations=off",
        ]
    )
    shares = [
        ("rootfs", cache / "rootfs", True),
        ("job", job, False),
        ("repo", repo, True),
        ("site", site, True),
    ]
    cmd = [
        qemu,
        "-accel",
        "tcg",
        *arch.machine,
        "-smp",
        "2",
        "-m",
        str(memory),
        "-nographic",
        "-no-reboot",
        "-nic",
        "none",
        "-kernel",
        str(cache / "vmlinuz"),
        "-initrd",
        str(cache / "initrd.img"),
        "-append",
        append,
    ]
    for tag, path, readonly in shares:
        # security_model=none: the files are used with the host's ownership; nothing maps them.
        fsdev = f"local,id=fs_{tag},path={path},security_model=none"
        cmd += ["-fsdev", fsdev + (",readonly=on" if readonly else "")]
        cmd += ["-device", f"virtio-9p-pci,fsdev=fs_{tag},mount_tag={tag}"]
    return cmd


class Console:
    """The guest's serial console: keeps the last lines, streams the job's part to stdout."""

    def __init__(self, verbose: bool = False) -> None:
        self.verbose = verbose
        self.lines: deque[str] = deque(maxlen=40)
        self.partial = ""
        self.begun = False
        self.ended = False
        self.panic: str | None = None
        self.boot_log: list[str] = []
        self.at_line_start = True
        self._blank = 0  # empty lines not yet written (the last one may precede the end mark)

    def feed(self, data: bytes) -> None:
        text = data.decode("utf-8", "replace").replace("\r\n", "\n").replace("\r", "")
        pieces = (self.partial + text).split("\n")
        self.partial = pieces.pop()
        for line in pieces:
            self.lines.append(line)
            if "Kernel panic - not syncing" in line and self.panic is None:
                self.panic = line.strip()
            if not self.begun:
                self.boot_log.append(line)
                if self.verbose:
                    print(f"    boot| {line}", file=sys.stderr, flush=True)
                if line.strip() == BEGIN_MARK:
                    self.begun = True
                continue
            if self.ended:
                continue
            if line.startswith(END_MARK):
                # The guest prints a newline before the mark, in case the output did not end
                # with one: that empty line is not the command's.
                self.ended = True
                self._blank = max(self._blank - 1, 0)
                self._write("")
                continue
            if not line:
                self._blank += 1
                continue
            self._write(line + "\n")
        if (
            self.begun
            and not self.ended
            and self.partial
            and not END_MARK.startswith(self.partial[: len(END_MARK)])
        ):
            # Progress output without a newline yet (pytest's dots): show it now.
            self._write(self.partial)
            self.lines.append(self.partial)
            self.partial = ""

    def _write(self, text: str) -> None:
        text, self._blank = "\n" * self._blank + text, 0
        if text:
            self.at_line_start = text.endswith("\n")
        sys.stdout.write(text)
        sys.stdout.flush()

    def tail(self, count: int = 15) -> str:
        lines = [line for line in list(self.lines)[-count:] if line.strip()]
        return "\n".join(f"    | {line}" for line in lines) or "    (no console output)"


def boot(
    arch: Arch,
    command: str | None,
    timeout: float,
    memory: int,
    writable_repo: bool,
) -> int:
    """Boot the VM and run command (None: an interactive shell); returns its exit status."""
    cache = build(arch)
    site = install_packages(arch)
    repo = Path.cwd()
    jobs = cache / "jobs"
    jobs.mkdir(exist_ok=True)
    with locked(cache / ".lock", shared=True):
        job = Path(tempfile.mkdtemp(prefix="job-", dir=jobs))
        try:
            return _boot(arch, cache, job, repo, site, command, timeout, memory, writable_repo)
        finally:
            shutil.rmtree(job, ignore_errors=True)


def _boot(
    arch: Arch,
    cache: Path,
    job: Path,
    repo: Path,
    site: Path,
    command: str | None,
    timeout: float,
    memory: int,
    writable_repo: bool,
) -> int:
    run = (RUN_SHELL if command is None else RUN_BATCH).format(begin=BEGIN_MARK, end=END_MARK)
    script = JOB_SCRIPT.format(
        init=GUEST_INIT,
        module=GUEST_MODULE,
        p9=P9_OPTS,
        site=GUEST_SITE,
        term="dumb" if command is not None else os.environ.get("TERM", "vt100"),
        run=run,
    )
    if writable_repo:
        script = script.replace("#!/bin/sh\n", "#!/bin/sh\nOCPPFAST_VM_WRITABLE_REPO=yes\n", 1)
    (job / "init.sh").write_text(script)
    (job / "command").write_text((command or "") + "\n")
    os.chmod(job, 0o777)  # the guest's root writes its status through security_model=none
    cmd = qemu_command(arch, cache, job, repo, site, memory)
    if command is None:
        progress(f"booting the {arch.name} VM (interactive; Ctrl-A X quits QEMU)")
        return subprocess.run(cmd, check=False).returncode

    progress(f"booting the {arch.name} VM (TCG, 2 CPUs, {memory} MiB)")
    start = time.monotonic()
    stderr_path = job / "qemu.stderr"
    console = Console(verbose=bool(os.environ.get("OCPPFAST_VM_VERBOSE")))
    with open(stderr_path, "wb") as stderr:
        try:
            proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr
            )
        except OSError as exc:
            raise VMError(f"the VM did not start: {cmd[0]}: {exc}") from exc
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    begun_at: float | None = None
    timed_out: str | None = None
    try:
        while True:
            now = time.monotonic()
            if console.begun and begun_at is None:
                begun_at = now
                shown = command.strip().splitlines()[0] if command and command.strip() else ""
                if len(shown) > 120 or shown != (command or "").strip():
                    shown = shown[:120] + " ..."
                progress(f"booted in {now - start:.1f} s; running: {shown}")
            if begun_at is None and now - start > BOOT_TIMEOUT:
                timed_out = f"the VM did not start within {BOOT_TIMEOUT:.0f} s"
                break
            if begun_at is not None and not console.ended and now - begun_at > timeout:
                timed_out = f"no exit status after {timeout:.0f} s"
                break
            ready, _, _ = select.select([fd], [], [], 1.0)
            if ready:
                data = os.read(fd, 65536)
                if not data:
                    break
                console.feed(data)
        if timed_out:
            stop(proc)
        else:
            # The console closed: QEMU is exiting (the guest powered off or panicked).
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                stop(proc)
    except KeyboardInterrupt:
        stop(proc)
        print(file=sys.stderr)
        progress("interrupted: QEMU killed")
        return 130
    finally:
        if proc.poll() is None:
            stop(proc)
    if console.partial:
        console.feed(b"\n")
    if console.begun and not console.ended and not console.at_line_start:
        sys.stdout.write("\n")  # the output stopped mid-line
        sys.stdout.flush()
    elapsed = time.monotonic() - start
    status_file = job / "status"
    if timed_out:
        raise VMError(f"{timed_out}; last console lines:\n{console.tail()}")
    if console.panic:
        raise VMError(f"kernel panic: {console.panic}; last console lines:\n{console.tail()}")
    if not status_file.exists():
        qemu_err = stderr_path.read_text(errors="replace").strip()
        where = "did not start" if not console.begun else "stopped without an exit status"
        detail = f"; QEMU said: {qemu_err}" if qemu_err else ""
        raise VMError(
            f"the VM {where} (QEMU exit status {proc.returncode}){detail}; last console lines:\n"
            f"{console.tail()}"
        )
    text = status_file.read_text().strip()
    if not text.isdigit():
        raise VMError(f"unreadable exit status {text!r} in {status_file}")
    status = int(text)
    if status == 125 and not console.ended:
        raise VMError(f"the VM's job setup failed; last console lines:\n{console.tail()}")
    progress(f"exit status {status} after {elapsed:.1f} s")
    return status


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# -- command line --------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 tests/vm/vm.py",
        description="Build and boot the QEMU VM that runs ocppfast's GPIO (gpio-sim) tests.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument(
            "--arch",
            choices=sorted(ARCHES),
            default=host_arch(),
            help="guest architecture (default: the host's, %(default)s)",
        )
        return sub

    add("build", "build (or check) the cached root filesystem, kernel and gpio-sim module")
    add("packages", "install the guest's Python packages (wheels) into the cache")
    run = add("run", "boot the VM and run COMMAND in /repo (the current directory) as root")
    run.add_argument(
        "--timeout", type=float, default=600, help="seconds COMMAND may run (default 600)"
    )
    run.add_argument("--memory", type=int, default=1536, help="guest memory, MiB (default 1536)")
    run.add_argument(
        "--writable-repo",
        action="store_true",
        help="give the guest a copy-on-write view of the repository (writes stay in the VM)",
    )
    run.add_argument(
        "cmd",
        nargs=argparse.REMAINDER,
        metavar="-- COMMAND...",
        help="run with /bin/sh -c: one argument is used as a shell command line, several are "
        "quoted as separate words",
    )
    selftest = add("selftest", "run tests/vm/smoke.py in the VM (gpio-sim + gpiod check)")
    selftest.add_argument("--timeout", type=float, default=600, help="seconds (default 600)")
    add("shell", "boot the VM with an interactive shell on the console (for debugging)")
    args = parser.parse_args(argv)
    arch = ARCHES[args.arch]

    def terminated(signum: int, frame: object) -> None:
        # Unwind like Ctrl-C does, so that a running QEMU is killed (the finally in _boot).
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminated)
    try:
        if args.command == "build":
            build(arch)
            progress(f"the {arch.name} VM is ready in {cache_dir(arch)}")
            return 0
        if args.command == "packages":
            target = install_packages(arch)
            progress(f"guest Python packages are in {target}")
            return 0
        if args.command == "run":
            words = list(args.cmd)
            if words and words[0] == "--":
                words = words[1:]
            if not words:
                parser.error("run needs a command after --")
            command = words[0] if len(words) == 1 else shlex.join(words)
            return boot(arch, command, args.timeout, args.memory, args.writable_repo)
        if args.command == "selftest":
            return boot(arch, "python3 tests/vm/smoke.py", args.timeout, 1536, False)
        if args.command == "shell":
            return boot(arch, None, 0, 1536, False)
    except VMError as exc:
        print(f"vm.py: error: {exc}", file=sys.stderr)
        return EXIT_VM_FAILED
    except KeyboardInterrupt:
        print("\nvm.py: interrupted", file=sys.stderr)
        return 130
    return EXIT_VM_FAILED


if __name__ == "__main__":
    sys.exit(main())
