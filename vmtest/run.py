#!/usr/bin/env python3
"""Boot a Debian kernel in QEMU with several NUMA nodes and run one command in it.

    python3 vmtest/run.py [options] -- COMMAND [ARG...]

The guest sees the host's root file system read-only (with a tmpfs layer for
its own writes) and the project directory read-write, and runs COMMAND there
as root. COMMAND's output streams to our stdout; our exit status is COMMAND's.
When the guest cannot boot or report a status, the exit status is 125 and the
end of the kernel console is shown, so a test run that depends on the guest
fails loudly. A guest kernel that panics while booting, before the command
starts, is booted once more (saying so, with its console): TCG has panicked
an early boot now and then, and nothing of the command has run by then.

Default topology: node 0 and node 1 have one vCPU and 1 GiB each, node 2 has
1 GiB and no CPU (a CXL-like expander), and ACPI HMAT describes node 2 as
slower, so a 6.12 kernel puts it in a lower memory tier.

Only the standard library is used: this runs before the project is installed.
"""

from __future__ import annotations

import argparse
import lzma
import os
import re
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent
QBOOT = Path("/usr/share/qemu/qboot.rom")
BUSYBOX = Path("/bin/busybox")
# Modules the guest's init needs for 9p and overlayfs (virtio is built in on Debian).
GUEST_MODULES = ("virtio_pci", "virtio_console", "9pnet_virtio", "9p", "overlay")
# Environment variables passed into the guest; the rest of the host's is noise there.
PASSED_ENV = re.compile(r"^(HOME|LANG|LC_\w+|TERM|TZ|PYTHON\w*|NUMAMOVE_\w+|PYTEST_\w+|CI|COLUMNS)$")
STATUS_NO_REPORT = 125
BOOT_ATTEMPTS = 2
"""Boots tried when the guest's kernel panics before the command starts (an emulator's flake);
a panic once the command runs, a timeout, or a guest that never reports ends the run at once."""
STATUS_TIMEOUT = 124


class VMError(Exception):
    """The guest could not be prepared or booted."""


def kernel_version_key(path: Path) -> list[object]:
    version = path.name.removeprefix("vmlinuz-")
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", version)]


def default_kernel() -> Path:
    kernels = sorted(Path("/boot").glob("vmlinuz-*"), key=kernel_version_key)
    if not kernels:
        raise VMError("no kernel in /boot; run vmtest/install-deps first")
    return kernels[-1]


def uncompressed_kernel(kernel: Path, cache: Path) -> Path:
    """The ELF vmlinux inside a bzImage, extracted once.

    Unpacking a compressed kernel takes ~7 s under TCG; the uncompressed ELF
    boots through its PVH entry point at once.
    """
    target = cache / f"vmlinux-{kernel.name.removeprefix('vmlinuz-')}"
    if target.exists() and target.stat().st_mtime >= kernel.stat().st_mtime:
        return target
    image = kernel.read_bytes()
    for elf in _decompressed_candidates(image):
        if elf[:4] == b"\x7fELF":
            cache.mkdir(parents=True, exist_ok=True)
            partial = target.with_suffix(f".{os.getpid()}")
            partial.write_bytes(elf)
            partial.replace(target)
            return target
    return kernel  # not one we can unpack: QEMU boots it the slow way


def _decompressed_candidates(image: bytes):  # type: ignore[no-untyped-def]
    for match in re.finditer(re.escape(b"\x28\xb5\x2f\xfd"), image):
        run = subprocess.run(
            ["zstd", "-dcq"], input=image[match.start() :], capture_output=True, check=False
        )
        yield run.stdout  # trailing data makes zstd complain; the stream is whole
    for match in re.finditer(re.escape(b"\xfd7zXZ\x00"), image):
        try:
            yield lzma.LZMADecompressor().decompress(image[match.start() :])
        except lzma.LZMAError:
            continue


def module_files(version: str) -> list[Path]:
    """The .ko files (dependencies first) that GUEST_MODULES need, per modprobe."""
    files: list[Path] = []
    for module in GUEST_MODULES:
        shown = subprocess.run(
            ["modprobe", "-S", version, "--show-depends", module],
            capture_output=True, text=True, check=False,
        )
        if shown.returncode != 0:
            raise VMError(f"modprobe cannot resolve {module} for kernel {version}: {shown.stderr.strip()}")
        for line in shown.stdout.splitlines():
            words = line.split()
            if words and words[0] == "insmod" and Path(words[1]) not in files:
                files.append(Path(words[1]))
    return files


def module_bytes(path: Path) -> bytes:
    """A module, decompressed here so the guest's busybox insmod needs no codec."""
    data = path.read_bytes()
    if path.suffix == ".xz":
        return lzma.decompress(data)
    if path.suffix == ".zst":
        return subprocess.run(["zstd", "-dcq"], input=data, capture_output=True, check=True).stdout
    return data


class Cpio:
    """An initramfs in the "newc" cpio format the kernel unpacks."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.inode = 1

    def add(self, name: str, mode: int, data: bytes = b"", rdev: tuple[int, int] = (0, 0)) -> None:
        encoded = name.encode() + b"\0"
        fields = (self.inode, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(encoded), 0)
        self.inode += 1
        header = b"070701" + b"".join(b"%08x" % value for value in fields)
        self.chunks += [header, encoded, _pad(len(header) + len(encoded)), data, _pad(len(data))]

    def directory(self, name: str) -> None:
        self.add(name, stat.S_IFDIR | 0o755)

    def file(self, name: str, data: bytes, executable: bool = False) -> None:
        self.add(name, stat.S_IFREG | (0o755 if executable else 0o644), data)

    def pack(self) -> bytes:
        self.add("TRAILER!!!", 0)
        return b"".join(self.chunks)


def _pad(length: int) -> bytes:
    return b"\0" * (-length % 4)


def initramfs(version: str) -> bytes:
    archive = Cpio()
    for directory in ("bin", "dev", "proc", "sys", "modules"):
        archive.directory(directory)
    archive.add("dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1))
    archive.file("bin/busybox", BUSYBOX.read_bytes(), executable=True)
    archive.file("init", (HERE / "init").read_bytes(), executable=True)
    order = []
    for path in module_files(version):
        name = path.name.split(".ko")[0] + ".ko"
        archive.file(f"modules/{name}", module_bytes(path))
        order.append(name)
    archive.file("modules/order", "".join(f"{name}\n" for name in order).encode())
    return archive.pack()


def guest_path() -> str:
    """PATH for the guest, without pyenv's shims: each shim call costs seconds under TCG."""
    parts = os.environ.get("PATH", "/usr/bin:/bin").split(":")
    return ":".join(p for p in parts if "/.pyenv/shims" not in p)


def command_script(command: list[str], workdir: Path) -> str:
    lines = ["#!/bin/sh"]
    for name, value in sorted(os.environ.items()):
        if PASSED_ENV.match(name):
            lines.append(f"export {name}={shlex.quote(value)}")
    lines.append(f"export PATH={shlex.quote(guest_path())}")
    lines.append("export NUMAMOVE_IN_VM=1")
    lines.append(": > /run/vmtest/started")  # the host tells a boot that failed from a command that did
    lines.append(f"cd {shlex.quote(str(workdir))} || exit {STATUS_NO_REPORT}")
    lines.append("exec " + " ".join(shlex.quote(arg) for arg in command))
    return "\n".join(lines) + "\n"


def parse_nodes(spec: str, default_mem: str) -> list[tuple[int, int]]:
    """'1,1,0' or '1:512M,1,0:2G' -> [(vcpus, MiB), ...]."""
    nodes = []
    for entry in spec.split(","):
        cpus, _, size = entry.partition(":")
        if not cpus.isdigit():
            raise VMError(f"bad --nodes entry {entry!r}: expected VCPUS or VCPUS:SIZE")
        nodes.append((int(cpus), mebibytes(size or default_mem)))
    if not any(cpus for cpus, _ in nodes):
        raise VMError("--nodes needs at least one node with a vCPU")
    if nodes[0][0] == 0:
        raise VMError("--nodes: node 0 needs a vCPU (Linux numbers CPU nodes first)")
    return nodes


def mebibytes(size: str) -> int:
    match = re.fullmatch(r"(\d+)([MmGg]?)", size)
    if not match:
        raise VMError(f"bad memory size {size!r}: expected e.g. 512M or 1G")
    return int(match[1]) * (1024 if match[2].lower() == "g" else 1)


def numa_arguments(nodes: list[tuple[int, int]], hmat: bool) -> list[str]:
    args: list[str] = []
    first_cpu = 0
    for node, (cpus, mib) in enumerate(nodes):
        args += ["-object", f"memory-backend-ram,id=ram{node},size={mib}M"]
        spec = f"node,nodeid={node},memdev=ram{node}"
        if cpus:
            spec += f",cpus={first_cpu}-{first_cpu + cpus - 1}"
            first_cpu += cpus
        elif hmat:
            spec += ",initiator=0"
        args += ["-numa", spec]
    if hmat:
        # Local memory is fastest, another CPU node's slower, a memory-only node slowest.
        for initiator, (initiator_cpus, _) in enumerate(nodes):
            if not initiator_cpus:
                continue
            for target, (target_cpus, _) in enumerate(nodes):
                if target == initiator:
                    latency, bandwidth = 10, "20G"
                elif target_cpus:
                    latency, bandwidth = 20, "10G"
                else:
                    latency, bandwidth = 40, "5G"
                base = f"hmat-lb,initiator={initiator},target={target},hierarchy=memory"
                args += ["-numa", f"{base},data-type=access-latency,latency={latency}"]
                args += ["-numa", f"{base},data-type=access-bandwidth,bandwidth={bandwidth}"]
    return args


def stream(path: Path, done: threading.Event) -> None:
    """Copy what the guest writes to PATH to our stdout as it arrives."""
    out = sys.stdout.buffer
    while not path.exists() and not done.is_set():
        time.sleep(0.05)
    if not path.exists():
        return
    with path.open("rb") as source:
        while True:
            chunk = source.read(65536)
            if chunk:
                out.write(chunk)
                out.flush()
            elif done.is_set():
                out.write(source.read())
                out.flush()
                return
            else:
                time.sleep(0.05)


def run(args: argparse.Namespace) -> int:
    kernel = Path(args.kernel) if args.kernel else default_kernel()
    version = kernel.name.removeprefix("vmlinuz-")
    for tool, package in ((QBOOT, "qemu-system-data"), (BUSYBOX, "busybox-static")):
        if not tool.exists():
            raise VMError(f"{tool} is missing ({package}); run vmtest/install-deps")
    if shutil.which("qemu-system-x86_64") is None:
        raise VMError("qemu-system-x86_64 is missing; run vmtest/install-deps")
    nodes = parse_nodes(args.nodes, args.mem)
    cache = Path(os.environ.get("NUMAMOVE_VM_CACHE", Path.home() / ".cache" / "numamove-vmtest"))
    vmlinux = uncompressed_kernel(kernel, cache)
    workdir = Path.cwd().resolve()

    with tempfile.TemporaryDirectory(prefix="numamove-vm.") as scratch_name:
        scratch = Path(scratch_name)
        control = scratch / "control"
        control.mkdir()
        (control / "project").write_text(str(workdir))
        (control / "command.sh").write_text(command_script(args.command, workdir))
        (scratch / "initramfs").write_bytes(initramfs(version))
        output, console = scratch / "output", scratch / "console"

        append = "console=ttyS0 panic=-1 mitigations=off quiet loglevel=1"
        if args.append:
            append += " " + " ".join(args.append)
        if args.hugepages:
            append += f" hugepages={args.hugepages}"
        accel = args.accel
        qemu = [
            "qemu-system-x86_64", "-nodefaults", "-no-user-config", "-display", "none",
            "-no-reboot", "-machine", "q35" + (",hmat=on" if args.hmat else ""),
            "-accel", accel,
            # TCG emulates "rep movsb" byte by byte, so hide ERMS/FSRM from the guest's memcpy;
            # and QEMU 7.2's AVX2 emulation breaks numpy's AVX2 argsort (wrong orders, crashes).
            "-cpu", "host" if accel == "kvm" else "max,-erms,-fsrm,-avx2",
            "-smp", str(sum(cpus for cpus, _ in nodes)),
            "-m", f"{sum(mib for _, mib in nodes)}M",
            *numa_arguments(nodes, args.hmat),
            "-bios", str(QBOOT),
            "-kernel", str(vmlinux), "-initrd", str(scratch / "initramfs"), "-append", append,
            "-chardev", f"file,id=console,path={console}", "-serial", "chardev:console",
            "-virtfs", "local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap",
            "-virtfs", f"local,path={_escape(workdir)},mount_tag=project,security_model=none,multidevs=remap",
            "-virtfs", f"local,path={_escape(control)},mount_tag=control,security_model=none",
            "-device", "virtio-serial-pci",
            "-chardev", f"file,id=output,path={output}",
            "-device", "virtserialport,chardev=output,name=output",
            *shlex.split(os.environ.get("NUMAMOVE_VM_QEMU_OPTS", "")),
        ]
        for attempt in range(1, BOOT_ATTEMPTS + 1):
            for stale in (output, console, control / "started", control / "status"):
                stale.unlink(missing_ok=True)
            guest, timed_out, elapsed = boot(qemu, scratch, output, args.timeout)
            status_file = control / "status"
            if status_file.exists() and status_file.read_text().strip().isdigit():
                status = int(status_file.read_text())
                if args.verbose:
                    print(f"vmtest: guest ran for {elapsed:.1f} s, command exit {status}", file=sys.stderr)
                return status
            panic = console.exists() and b"Kernel panic" in console.read_bytes()
            if (timed_out or not panic or (control / "started").exists()) or attempt == BOOT_ATTEMPTS:
                break
            # The emulated guest's kernel died before the command began (TCG has panicked a boot
            # now and then): nothing of the command ran, so booting again repeats nothing.
            tail = console.read_bytes()[-1500:].decode(errors="replace")
            print(f"vmtest: the guest kernel panicked while booting, before the command started; "
                  f"booting again (attempt {attempt + 1} of {BOOT_ATTEMPTS})\n--- console (end) ---\n{tail}",
                  file=sys.stderr)
        if timed_out:
            print(f"vmtest: the guest timed out after {args.timeout} s", file=sys.stderr)
        else:
            print(f"vmtest: the guest did not report an exit status (QEMU exit {guest.returncode})",
                  file=sys.stderr)
        for log in (scratch / "qemu.log", console):
            if log.exists():
                tail = log.read_bytes()[-4000:].decode(errors="replace")
                print(f"--- {log.name} (end) ---\n{tail}", file=sys.stderr)
        return STATUS_TIMEOUT if timed_out else STATUS_NO_REPORT


def boot(qemu: list[str], scratch: Path, output: Path, timeout: float) -> tuple[subprocess.Popen[bytes], bool,
                                                                          float]:
    """Run the guest to its end, streaming its command's output: (QEMU, timed out, seconds)."""
    done = threading.Event()
    copier = threading.Thread(target=stream, args=(output, done), daemon=True)
    copier.start()
    started = time.monotonic()
    with open(scratch / "qemu.log", "wb") as qemu_log:
        guest = subprocess.Popen(qemu, stdin=subprocess.DEVNULL, stdout=qemu_log, stderr=qemu_log)
        try:
            guest.wait(timeout=timeout or None)
            timed_out = False
        except subprocess.TimeoutExpired:
            guest.kill()
            guest.wait()
            timed_out = True
        except BaseException:
            guest.kill()
            guest.wait()
            raise
        finally:
            done.set()
            copier.join()
    return guest, timed_out, time.monotonic() - started


def _escape(path: Path) -> str:
    return str(path).replace(",", ",,")  # QEMU option syntax


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="vmtest/run.py", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--nodes", default="1,1,0",
                        help="vCPUs per NUMA node, 0 = memory-only; VCPUS:SIZE sets its memory "
                             "(default 1,1,0)")
    parser.add_argument("--mem", default="1G", help="memory per node (default 1G)")
    parser.add_argument("--no-hmat", dest="hmat", action="store_false",
                        help="do not describe latencies in ACPI HMAT (all nodes then share one tier)")
    parser.add_argument("--hugepages", type=int, default=0, help="reserve this many 2 MiB hugetlb pages")
    parser.add_argument("--append", action="append", default=[], metavar="PARAM",
                        help="add a kernel command-line parameter (repeatable)")
    parser.add_argument("--kernel", default=os.environ.get("NUMAMOVE_VM_KERNEL"),
                        help="guest kernel (default: newest /boot/vmlinuz-*)")
    parser.add_argument("--accel", default=os.environ.get("NUMAMOVE_VM_ACCEL", "tcg"), choices=("tcg", "kvm"))
    parser.add_argument("--timeout", type=float, default=3600, help="seconds before the guest is killed")
    parser.add_argument("--verbose", action="store_true", help="report the guest's run time")
    parser.add_argument("command", nargs="+", help="what to run in the guest")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        return run(args)
    except VMError as error:
        print(f"vmtest: {error}", file=sys.stderr)
        return STATUS_NO_REPORT


if __name__ == "__main__":
    sys.exit(main())
