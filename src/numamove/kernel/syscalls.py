"""The thin ctypes layer: NUMA syscalls through ``syscall(2)``, errno translated once.

Holds the raw calls (move_pages, migrate_pages, mbind, get_mempolicy,
set_mempolicy; x86_64 and aarch64 numbers), the MPOL_MF_* flags, kernel
nodemask words, and :func:`translate`, the one place an errno becomes a
:class:`KernelError` with a cause in plain words (:mod:`.explain`'s sentences).
Nothing here validates input or reads files. Each raw call returns the
kernel's result, or ``-errno`` on failure (the kernel's own convention).

May import: ctypes, :mod:`numamove.errors`, :mod:`numamove.nodemask`, :mod:`.explain`.
Loaded on the first syscall only (``import numamove`` stays free of ctypes).
"""

from __future__ import annotations

import ctypes
import errno
import platform
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from numamove.errors import InvalidInputError, KernelError, UnsupportedError, kernel_error
from numamove.kernel import explain

__all__ = [
    "MPOL_MF_MOVE",
    "MPOL_MF_MOVE_ALL",
    "MPOL_MF_STRICT",
    "CallFacts",
    "LinuxSyscalls",
    "Syscalls",
    "nodemask_words",
    "nodes_from_words",
    "translate",
]

MPOL_MF_STRICT = 1 << 0
MPOL_MF_MOVE = 1 << 1
MPOL_MF_MOVE_ALL = 1 << 2

# include/uapi/asm-generic/unistd.h serves aarch64; x86_64 has its own table.
SYSCALL_NUMBERS: dict[str, dict[str, int]] = {
    "x86_64": {"mbind": 237, "set_mempolicy": 238, "get_mempolicy": 239,
               "migrate_pages": 256, "move_pages": 279},
    "aarch64": {"mbind": 235, "get_mempolicy": 236, "set_mempolicy": 237,
                "migrate_pages": 238, "move_pages": 239},
}
_ARCH_ALIASES = {"amd64": "x86_64", "arm64": "aarch64"}

BITS_PER_WORD = ctypes.sizeof(ctypes.c_ulong) * 8
# The kernel rejects masks longer than a page of bits (get_nodes() in mm/mempolicy.c).
MAX_MASK_BITS = 4096 * 8


class Syscalls(Protocol):
    """The raw NUMA syscalls. Each returns the kernel's result, or ``-errno``.

    Pointers are plain integers (addresses of caller-owned buffers).
    """

    def move_pages(self, pid: int, count: int, pages: int, nodes: int, status: int, flags: int) -> int: ...

    def migrate_pages(self, pid: int, maxnode: int, old_nodes: int, new_nodes: int) -> int: ...

    def mbind(self, addr: int, length: int, mode: int, nodemask: int, maxnode: int, flags: int) -> int: ...

    def get_mempolicy(self, mode: int, nodemask: int, maxnode: int, addr: int, flags: int) -> int: ...

    def set_mempolicy(self, mode: int, nodemask: int, maxnode: int) -> int: ...


class LinuxSyscalls:
    """The real calls, through libc's ``syscall(2)``, for x86_64 and aarch64."""

    def __init__(self, machine: str | None = None) -> None:
        arch = machine or platform.machine()
        arch = _ARCH_ALIASES.get(arch, arch)
        self.numbers = SYSCALL_NUMBERS.get(arch)
        self.arch = arch
        libc = ctypes.CDLL(None, use_errno=True)
        self._syscall = libc.syscall
        self._syscall.restype = ctypes.c_long

    def _call(self, name: str, *args: ctypes._SimpleCData) -> int:  # type: ignore[type-arg]
        if self.numbers is None:
            raise UnsupportedError(
                errno.ENOSYS, f"NUMA syscall numbers are not known for the {self.arch} architecture"
            )
        result: int = self._syscall(ctypes.c_long(self.numbers[name]), *args)
        return -ctypes.get_errno() if result == -1 else result

    def move_pages(self, pid: int, count: int, pages: int, nodes: int, status: int, flags: int) -> int:
        return self._call("move_pages", ctypes.c_int(pid), ctypes.c_ulong(count), ctypes.c_void_p(pages),
                          ctypes.c_void_p(nodes or None), ctypes.c_void_p(status), ctypes.c_int(flags))

    def migrate_pages(self, pid: int, maxnode: int, old_nodes: int, new_nodes: int) -> int:
        return self._call("migrate_pages", ctypes.c_int(pid), ctypes.c_ulong(maxnode),
                          ctypes.c_void_p(old_nodes), ctypes.c_void_p(new_nodes))

    def mbind(self, addr: int, length: int, mode: int, nodemask: int, maxnode: int, flags: int) -> int:
        return self._call("mbind", ctypes.c_void_p(addr), ctypes.c_ulong(length), ctypes.c_int(mode),
                          ctypes.c_void_p(nodemask or None), ctypes.c_ulong(maxnode), ctypes.c_uint(flags))

    def get_mempolicy(self, mode: int, nodemask: int, maxnode: int, addr: int, flags: int) -> int:
        return self._call("get_mempolicy", ctypes.c_void_p(mode), ctypes.c_void_p(nodemask or None),
                          ctypes.c_ulong(maxnode), ctypes.c_void_p(addr or None), ctypes.c_ulong(flags))

    def set_mempolicy(self, mode: int, nodemask: int, maxnode: int) -> int:
        return self._call("set_mempolicy", ctypes.c_int(mode), ctypes.c_void_p(nodemask or None),
                          ctypes.c_ulong(maxnode))


def nodemask_words(nodes: Iterable[int], bits: int = 0) -> tuple[ctypes.Array[ctypes.c_ulong], int]:
    """A kernel nodemask of ``unsigned long`` words holding ``nodes``, and its ``maxnode``.

    The mask has room for at least ``bits`` nodes and for every node given,
    whatever the node count. ``maxnode`` is one more than the bits passed,
    because the kernel reads only ``maxnode - 1`` of them (get_nodes()).
    """
    node_list = sorted(set(nodes))
    if node_list and node_list[0] < 0:
        raise ValueError(f"node {node_list[0]} is negative")
    if max(bits, node_list[-1] + 1 if node_list else 0) > MAX_MASK_BITS:  # the kernel reads no more
        raise InvalidInputError(f"a node mask of {max(bits, node_list[-1] + 1)} bits is longer than "
                                f"the kernel accepts ({MAX_MASK_BITS})")
    needed = max(bits, node_list[-1] + 1 if node_list else 1)
    words = (ctypes.c_ulong * ((needed + BITS_PER_WORD - 1) // BITS_PER_WORD))()
    for node in node_list:
        words[node // BITS_PER_WORD] |= 1 << (node % BITS_PER_WORD)
    return words, len(words) * BITS_PER_WORD + 1


def nodes_from_words(words: ctypes.Array[ctypes.c_ulong]) -> frozenset[int]:
    """The node ids set in a kernel nodemask."""
    return frozenset(
        index * BITS_PER_WORD + bit
        for index, word in enumerate(words)
        for bit in range(BITS_PER_WORD)
        if word >> bit & 1
    )


@dataclass(frozen=True)
class CallFacts:
    """What a failed call was asked to do, so its error can name the cause.

    The callables do I/O and run only when an error is being explained.
    """

    pid: int = 0
    flags: int = 0
    nodes: frozenset[int] = frozenset()
    online_nodes: Callable[[], frozenset[int]] | None = None
    allowed_nodes: Callable[[int], frozenset[int] | None] | None = None
    can_move_all: Callable[[], bool] | None = None


def translate(err: int, syscall: str, facts: CallFacts, pages_done: int = 0) -> KernelError:
    """The one place an errno from a NUMA syscall becomes an exception."""
    if err == errno.ENOSYS:
        raise UnsupportedError(err, f"{syscall}: this kernel has no NUMA support (ENOSYS)")
    return kernel_error(err, syscall, _cause(err, syscall, facts), pages_done)


def _cause(err: int, syscall: str, facts: CallFacts) -> str | None:
    """The plain-words cause of ``err``, from :mod:`numamove.kernel.explain`'s sentences."""
    if err == errno.ESRCH:
        return explain.no_such_process(facts.pid)
    if err == errno.EPERM:
        if facts.flags & MPOL_MF_MOVE_ALL and facts.can_move_all and not facts.can_move_all():
            return explain.move_all_needs_cap_sys_nice()
        if syscall in ("move_pages", "migrate_pages"):
            return explain.another_users_process(facts.pid)
        return "operation not permitted"
    if err == errno.EACCES and facts.nodes:
        allowed = facts.allowed_nodes(facts.pid) if facts.allowed_nodes else None
        if allowed is not None:
            outside = sorted(facts.nodes - allowed)
            if outside:
                return explain.outside_cpuset(outside, facts.pid, allowed)
        return f"a target node is outside the cpuset of {explain.who(facts.pid)}"
    if err == errno.ENODEV:
        online = facts.online_nodes() if facts.online_nodes else None
        offline = sorted(n for n in facts.nodes if online is None or n not in online)
        if offline and online is not None:
            return explain.node_not_online(offline, online)
        return "a target node is not online"
    if err == errno.EINVAL:
        if syscall == "move_pages" and facts.flags & ~(MPOL_MF_MOVE | MPOL_MF_MOVE_ALL):
            return (f"invalid flags {facts.flags:#x}: move_pages takes only "
                    "MPOL_MF_MOVE and MPOL_MF_MOVE_ALL")
        return "invalid arguments (flags, mode or node mask)"
    if err == errno.E2BIG:
        return "too many pages in one call"
    if err == errno.ENOMEM:
        return "the kernel could not allocate memory for the call itself"
    if err == errno.EFAULT:
        return "the kernel could not access the argument arrays"
    return None
