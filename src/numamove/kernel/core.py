"""The I/O seam: a :class:`Kernel` reads and writes /proc and /sys under its root and owns the syscalls.

Every read and write of a kernel file and every NUMA syscall in numamove goes
through a ``Kernel``. Tests point ``root`` at a fixture tree and pass fake
syscalls; everything above this layer is then exercised without a NUMA
machine. Writes are recorded in ``Kernel.log`` (path, data, offset), and a
``dry_run`` kernel records them without writing, so a test (or a dry-run
daemon) asserts what would have been written. A ``Kernel`` also keeps what is
costly to rebuild and the same from scan to scan (:meth:`Kernel.kept`): the
CPU and memory-block maps, the zero pages' frames, reusable buffers.

Files read here: /sys/devices/system/node/{online,possible,has_*} and
/proc/PID/status. May import: :mod:`numamove.errors`, :mod:`numamove.nodemask`,
:mod:`numamove.procfs` (pure parsers); ctypes only through :mod:`.syscalls`,
on the first syscall.
"""

from __future__ import annotations

import functools
import os
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Final, ParamSpec, TypeVar, cast

from numamove.errors import TopologyError
from numamove.nodemask import parse_cpulist
from numamove.procfs.stat import parse_status

if TYPE_CHECKING:
    import numpy.typing as npt

    from numamove.kernel.syscalls import CallFacts, Syscalls

__all__ = ["DEFAULT", "NODE_DIR", "Kernel", "Write", "default_kernel", "set_default_kernel",
           "takes_kernel_or_default"]

T = TypeVar("T")
P = ParamSpec("P")
LOG_LIMIT = 10_000
"""Writes a Kernel's log keeps (the latest), so a long-running owner never grows without bound."""

NODE_DIR = "sys/devices/system/node"
CAP_SYS_NICE = 23  # include/uapi/linux/capability.h


@dataclass(frozen=True)
class Write:
    """One write through a :class:`Kernel`: the file (relative to the root), the bytes, the offset.

    ``offset`` None is a plain write from the start (sysfs and /proc control files).
    """

    path: str
    data: bytes
    offset: int | None = None


class Kernel:
    """One kernel's files and NUMA syscalls.

    ``root`` is where /proc and /sys are found ("/" on a live system).
    ``syscalls`` defaults to the real ones, made on first use. With
    ``dry_run`` writes are recorded in :attr:`log` and not made.
    """

    def __init__(self, root: str | Path = "/", syscalls: Syscalls | None = None, *,
                 dry_run: bool = False) -> None:
        self.root = Path(root)
        # Plain strings, not Path objects: a scan opens dozens of files and pathlib's joins add up.
        self._prefix = str(self.root).rstrip("/") + "/"
        self._syscalls = syscalls
        self.dry_run = dry_run
        self.log: deque[Write] = deque(maxlen=LOG_LIMIT)
        """Every write asked of this kernel, in order (the latest LOG_LIMIT), made or not (dry run)."""
        self._kept: dict[str, tuple[int, Any]] = {}

    def __repr__(self) -> str:
        return f"Kernel(root={str(self.root)!r})"

    @property
    def syscalls(self) -> Syscalls:
        if self._syscalls is None:
            from numamove.kernel.syscalls import LinuxSyscalls  # ctypes: loaded by the first syscall

            self._syscalls = LinuxSyscalls()
        return self._syscalls

    def path(self, relative: str) -> Path:
        return self.root / relative.lstrip("/")

    def _join(self, relative: str) -> str:
        return self._prefix + relative.lstrip("/")

    def read_text(self, relative: str) -> str:
        """The text of a file under the root, e.g. ``read_text("proc/self/status")``."""
        with open(self._join(relative), encoding="utf-8", errors="replace") as file:
            return file.read()

    def read_bytes(self, relative: str) -> bytes:
        with open(self._join(relative), "rb") as file:
            return file.read()

    def read_if_alive(self, relative: str) -> str | None:
        """The text of a file under /proc/PID, or None when it cannot be read.

        The one place for the race every walk of /proc meets: a process or a
        thread listed a moment ago has exited (its directory is gone, ENOENT or
        ESRCH), or became unreadable. The caller skips it, as ``ps`` does.
        """
        try:
            return self.read_text(relative)
        except OSError:
            return None

    def write(self, relative: str, data: str | bytes, *, offset: int | None = None) -> None:
        """Write ``data`` to a file under the root, in one write(2), and record it in :attr:`log`.

        Text is written as UTF-8. ``offset`` writes at that byte offset
        (pwrite(2): /sys/kernel/mm/page_idle/bitmap); without it the file is
        written from the start (/proc/PID/clear_refs, DAMON's sysfs files).
        In a ``dry_run`` kernel the write is only recorded.
        """
        payload = data.encode() if isinstance(data, str) else bytes(data)
        self.log.append(Write(relative.lstrip("/"), payload, offset))
        if self.dry_run:
            return
        flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if offset is None else 0)
        descriptor = os.open(self._join(relative), flags, 0o644)
        try:
            done = 0
            while True:  # sysfs takes the whole value in the first write(2); a short one is retried
                view = payload[done:]
                done += (os.write(descriptor, view) if offset is None
                         else os.pwrite(descriptor, view, offset + done))
                if done >= len(payload):
                    break
        finally:
            os.close(descriptor)

    def kept(self, key: str, build: Callable[[], T], *, watch: str | None = None, fresh: bool = False) -> T:
        """``build()``, made once for this kernel and kept under ``key``.

        With ``watch`` (a directory under the root), rebuilt whenever that
        directory holds a different number of subdirectories: the CPU and
        memory-block maps change only when a CPU or a memory block is added
        or removed, which adds or removes a directory under /sys (hotplug: a
        CXL device coming online, say). Without a link count to go by, built
        each time. ``fresh`` rebuilds now.
        """
        count = 0
        if watch is not None:
            try:
                count = self.subdirectories(watch)
            except OSError:
                count = -1
        cached = self._kept.get(key)
        if cached is None or fresh or count < 0 or cached[0] != count:
            cached = self._kept[key] = (count, build())
        return cast(T, cached[1])

    def exists(self, relative: str) -> bool:
        return os.path.exists(self._join(relative))

    def subdirectories(self, relative: str) -> int:
        """How many directories a directory holds, from its link count (sysfs keeps it exact).

        A cheap way to notice that /sys/devices/system/memory gained or lost blocks.
        """
        return os.stat(self._join(relative)).st_nlink - 2

    def listdir(self, relative: str) -> list[str]:
        return sorted(os.listdir(self._join(relative)))

    def node_list(self, name: str) -> frozenset[int]:
        """A node state list from /sys/devices/system/node: "online", "has_cpu", "has_memory"..."""
        try:
            return frozenset(parse_cpulist(self.read_text(f"{NODE_DIR}/{name}")))
        except FileNotFoundError:
            if name == "online" and not self.exists(NODE_DIR):
                # A kernel without CONFIG_NUMA has no node directory: one node, node 0.
                return frozenset({0})
            raise TopologyError(f"{self.path(NODE_DIR)}/{name} is missing") from None

    def online_nodes(self) -> frozenset[int]:
        return self.node_list("online")

    def possible_nodes(self) -> frozenset[int]:
        """The nodes this kernel could ever bring online (/sys/devices/system/node/possible).

        Without that file (a kernel without NUMA, or an old captured tree), the online nodes.
        """
        try:
            return self.node_list("possible")
        except TopologyError:
            return self.online_nodes()

    def node_limit(self) -> int:
        """One past the highest node id this kernel can have: the bound of any node mask."""
        return max(self.possible_nodes(), default=0) + 1

    def process_status(self, pid: int) -> dict[str, str]:
        """/proc/PID/status as fields (pid 0 means the caller)."""
        return parse_status(self.read_text(f"proc/{pid or 'self'}/status"))

    def mems_allowed(self, pid: int) -> frozenset[int] | None:
        """The nodes of a process's cpuset (Mems_allowed_list), or None when unreadable."""
        try:
            return frozenset(parse_cpulist(self.process_status(pid)["Mems_allowed_list"]))
        except (OSError, KeyError):
            return None

    def has_capability(self, bit: int) -> bool:
        """Whether the caller's effective capabilities (CapEff) hold capability ``bit``."""
        try:
            effective = int(self.process_status(0)["CapEff"], 16)
        except (OSError, KeyError, ValueError):
            return False
        return bool(effective >> bit & 1)

    def has_cap_sys_nice(self) -> bool:
        """Whether the caller may use MPOL_MF_MOVE_ALL and move other users' pages."""
        return self.has_capability(CAP_SYS_NICE)

    def read_files(self, directory: str, names: Sequence[str], size: int = 64) -> list[bytes]:
        """The first ``size`` bytes of each of ``names``, paths relative to ``directory`` (under the root).

        The directory is opened once and each file with openat(2): the kernel walks
        the directory's long path once, not once per file (DAMON's tried regions,
        four files a region each sample, read in half the time of a full open).
        """
        directory_fd = os.open(self._join(directory), os.O_RDONLY | os.O_DIRECTORY)
        try:
            found = []
            for name in names:
                fd = os.open(name, os.O_RDONLY, dir_fd=directory_fd)
                try:
                    found.append(os.read(fd, size))
                finally:
                    os.close(fd)
            return found
        finally:
            os.close(directory_fd)

    def open(self, relative: str) -> BinaryIO:
        """A file under the root, opened unbuffered for reading at offsets (pagemap)."""
        return open(self._join(relative), "rb", buffering=0)

    def read_into(self, file: BinaryIO, buffer: npt.NDArray[Any], offset: int) -> int:
        """Fill ``buffer`` from ``file`` at ``offset`` with pread(2); returns the bytes read.

        Fewer than the buffer's size means the file ended there (for pagemap: the
        range is no longer mapped or is past the end of user space).
        """
        view = buffer.data.cast("B")
        done = 0
        while done < len(view):
            got = os.preadv(file.fileno(), [view[done:]], offset + done)
            if got == 0:
                break
            done += got
        return done

    def call_facts(self, pid: int = 0, flags: int = 0, nodes: frozenset[int] = frozenset()) -> CallFacts:
        """What a NUMA call was asked, with lookups that explain its failure on demand."""
        from numamove.kernel.syscalls import CallFacts

        return CallFacts(pid=pid, flags=flags, nodes=nodes, online_nodes=self.online_nodes,
                         allowed_nodes=self.mems_allowed, can_move_all=self.has_cap_sys_nice)


class _Default:
    """The stand-in for "the running kernel" in signatures; see :func:`takes_kernel_or_default`."""

    def __repr__(self) -> str:
        return "DEFAULT"


DEFAULT: Final = cast(Kernel, _Default())
"""The default value of a ``kernel`` parameter: the running kernel, :func:`default_kernel`."""


@functools.cache
def _running() -> list[Kernel]:
    return [Kernel()]


def default_kernel() -> Kernel:
    """The running kernel, made once: its caches and its ctypes syscall layer serve every call."""
    return _running()[0]


def set_default_kernel(kernel: Kernel) -> None:
    """Make ``kernel`` the one that functions called without a ``kernel`` use (a captured tree, say)."""
    _running()[0] = kernel


def takes_kernel_or_default(function: Callable[P, T]) -> Callable[P, T]:
    """Supply :func:`default_kernel` for ``function``'s ``kernel`` parameter when it is missing or None.

    The one place the default kernel is chosen (drgn's ``takes_program_or_default``
    is the model). ``function`` declares ``kernel: Kernel = DEFAULT`` and uses it
    as a Kernel; callers may pass a Kernel, None, or nothing.
    """
    code = function.__code__
    names = code.co_varnames[:code.co_argcount]
    position = names.index("kernel") if "kernel" in names else None
    if position is None and "kernel" not in code.co_varnames[:code.co_argcount + code.co_kwonlyargcount]:
        raise TypeError(f"{function.__qualname__} has no kernel parameter")

    @functools.wraps(function)
    def with_kernel(*args: P.args, **kwargs: P.kwargs) -> T:
        if position is not None and len(args) > position:
            given = args[position]
            if given is None or given is DEFAULT:
                args = (*args[:position], default_kernel(), *args[position + 1:])  # type: ignore[assignment]
        else:
            given = kwargs.get("kernel")
            if given is None or given is DEFAULT:
                kwargs["kernel"] = default_kernel()
        return function(*args, **kwargs)

    return with_kernel
