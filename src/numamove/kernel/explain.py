"""The plain-words causes of a refused NUMA request: one sentence per cause, defined once.

Error translation (:func:`numamove.kernel.syscalls.translate`, after a syscall failed) and
pre-checks (before anything moves) build their messages from these functions, so a cause
reads the same whichever notices it. Pure: text in, text out; imports only
:mod:`numamove.nodemask` (to print node lists). Touches no kernel file.
"""

from __future__ import annotations

from collections.abc import Iterable

from numamove.nodemask import format_nodemask

__all__ = [
    "another_users_process",
    "cannot_read_memory",
    "move_all_needs_cap_sys_nice",
    "no_such_process",
    "node_not_online",
    "node_without_memory",
    "nodes_phrase",
    "outside_cpuset",
    "who",
]


def who(pid: int) -> str:
    """"the calling process" for pid 0, else "pid N"."""
    return "the calling process" if pid == 0 else f"pid {pid}"


def nodes_phrase(nodes: Iterable[int]) -> str:
    """"node 1 is" or "nodes 1-2 are"."""
    ordered = sorted(set(nodes))
    return f"node {ordered[0]} is" if len(ordered) == 1 else f"nodes {format_nodemask(ordered)} are"


def no_such_process(pid: int) -> str:
    """ESRCH: the process does not exist, or exited."""
    return f"no such process: {who(pid)}"


def node_not_online(nodes: Iterable[int], online: Iterable[int]) -> str:
    """ENODEV: ``nodes`` (those not online) and the nodes that are."""
    return f"{nodes_phrase(nodes)} not online (online: {format_nodemask(sorted(online))})"


def node_without_memory(node: int) -> str:
    """A memory-less node (CPUs only): pages cannot go there."""
    return f"node {node} has no memory to move pages to"


def outside_cpuset(nodes: Iterable[int], pid: int, allowed: Iterable[int]) -> str:
    """EACCES: ``nodes`` are outside the cpuset of ``pid``, whose Mems_allowed is ``allowed``."""
    return (f"{nodes_phrase(nodes)} outside the cpuset of {who(pid)} "
            f"(Mems_allowed {format_nodemask(sorted(allowed))})")


def move_all_needs_cap_sys_nice(flag: str = "MPOL_MF_MOVE_ALL") -> str:
    """EPERM: moving pages that other processes map too needs CAP_SYS_NICE.

    ``flag`` names the option as the caller knows it ("--all (MPOL_MF_MOVE_ALL)" in the command).
    """
    return f"{flag} needs CAP_SYS_NICE"


def another_users_process(pid: int) -> str:
    """EPERM: the process belongs to another user (move_pages(2) checks ptrace access, migrate_pages(2)
    CAP_SYS_NICE)."""
    return (f"{who(pid)} belongs to another user: moving its pages needs CAP_SYS_NICE and "
            "CAP_SYS_PTRACE (root has both)")


def cannot_read_memory(pid: int) -> str:
    """EACCES/EPERM on /proc/PID/{maps,numa_maps,pagemap}: ptrace access mode checks refused."""
    return (f"cannot read the memory of pid {pid}: another user's process needs root (CAP_SYS_PTRACE, and "
            "CAP_DAC_READ_SEARCH for its pagemap)")
