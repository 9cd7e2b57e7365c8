"""The I/O seam: a :class:`Kernel` reads /proc and /sys under its root and owns the syscalls.

Every read of a kernel file and every NUMA syscall in numamove goes through a
``Kernel``. Tests point ``root`` at a fixture tree and pass fake syscalls;
everything above this layer is then exercised without a NUMA machine.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from numamove._parsers import parse_status
from numamove.errors import TopologyError
from numamove.nodemask import parse_cpulist

if TYPE_CHECKING:
    import numpy.typing as npt

    from numamove._syscalls import CallFacts, Syscalls

__all__ = ["Kernel", "default_kernel"]

NODE_DIR = "sys/devices/system/node"
CAP_SYS_NICE = 23  # include/uapi/linux/capability.h


class Kernel:
    """One kernel's files and NUMA syscalls.

    ``root`` is where /proc and /sys are found ("/" on a live system).
    ``syscalls`` defaults to the real ones, made on first use.
    """

    def __init__(self, root: str | Path = "/", syscalls: Syscalls | None = None) -> None:
        self.root = Path(root)
        # Plain strings, not Path objects: a scan opens dozens of files and pathlib's joins add up.
        self._prefix = str(self.root).rstrip("/") + "/"
        self._syscalls = syscalls

    def __repr__(self) -> str:
        return f"Kernel(root={str(self.root)!r})"

    @property
    def syscalls(self) -> Syscalls:
        if self._syscalls is None:
            from numamove._syscalls import LinuxSyscalls  # ctypes: loaded by the first syscall

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
        from numamove._syscalls import CallFacts

        return CallFacts(pid=pid, flags=flags, nodes=nodes, online_nodes=self.online_nodes,
                         allowed_nodes=self.mems_allowed, can_move_all=self.has_cap_sys_nice)


_DEFAULT: Kernel | None = None


def default_kernel() -> Kernel:
    """The running kernel, made once: building the ctypes syscall layer costs a dlopen."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = Kernel()
    return _DEFAULT
