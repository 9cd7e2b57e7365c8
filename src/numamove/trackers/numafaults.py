"""The "numafaults" tracker: NUMA balancing's hinting faults, per memory node, as a locality signal.

With automatic NUMA balancing on (/proc/sys/kernel/numa_balancing not 0), the
kernel unmaps a process's pages a range at a time; the next access faults,
and the fault is counted per task and per MEMORY node (the page's node):
/proc/PID/task/TID/sched's ``numa_faults node=N task_private= task_shared=
group_private= group_shared=`` lines (kernel/sched/debug.c). Faults on the
node of the CPU the thread runs on (``current_node``) are local.

Those counts decay: each pass of the NUMA scanner over the address space
(``mm->numa_scan_seq``), the task's placement halves them and adds the faults
buffered since (task_numa_placement). So the faults of one interval are
estimated as ``new - ceil(old / 2)`` for a count that changed (exact when one
placement ran in between), 0 for one that did not; faults the kernel still
buffers show only at the next pass, which under the default scan periods may
be many seconds later.

- :func:`read_numa_faults`: a process's per-thread counts now, and the local share.
- :func:`read_vmstat_numa`: /proc/vmstat's numa_*, pgpromote_* and pgdemote_* counters.
- :class:`NumaFaultsTracker`, registered as "numafaults": per interval and per
  process one region spanning its address space, heat = the hinting faults
  of the interval, accessing nodes = their share by the faulting threads' nodes.

Reads through the Kernel only. May import: :mod:`numamove.kernel`,
:mod:`numamove.procfs`, :mod:`.base`, :mod:`.threads`.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

from numamove.errors import NoSuchProcessError, UnsupportedError
from numamove.kernel import Kernel
from numamove.procfs.sched import TaskNuma, parse_sched
from numamove.procfs.vmstat import numa_counters, parse_vmstat
from numamove.trackers.base import Region, TrackerInfo, register
from numamove.trackers.threads import check_pids, mapped_span, mapped_span_if_alive, shares, thread_ids

__all__ = ["NumaFaults", "NumaFaultsTracker", "faults_since", "read_numa_faults", "read_vmstat_numa"]

HEAT_UNIT = "NUMA hinting faults (pages) per interval"
SWITCH = "/proc/sys/kernel/numa_balancing"
ENABLE = "enable with sysctl kernel.numa_balancing=1"


@dataclass(frozen=True)
class NumaFaults:
    """A process's NUMA hinting fault counts now, per thread and per memory node."""

    pid: int
    threads: Mapping[int, TaskNuma]
    """Thread id -> its NUMA part of /proc/PID/task/TID/sched."""

    @property
    def by_node(self) -> dict[int, int]:
        """Memory node -> the task faults (private + shared) of all threads there."""
        found: dict[int, int] = {}
        for numa in self.threads.values():
            for node, faults in numa.faults.items():
                found[node] = found.get(node, 0) + faults.task
        return found

    @property
    def local_share(self) -> float | None:
        """Faults on memory of each thread's current node / all faults; None when there are none."""
        local = total = 0
        for numa in self.threads.values():
            for node, faults in numa.faults.items():
                total += faults.task
                local += faults.task if node == numa.current_node else 0
        return local / total if total else None


def read_numa_faults(kernel: Kernel, pid: int) -> NumaFaults:
    """``pid``'s threads' NUMA fault counts (/proc/PID/task/TID/sched).

    Threads that exit while we read are left out. Raises
    :class:`~numamove.errors.NoSuchProcessError` for a process that is gone,
    :class:`~numamove.errors.UnsupportedError` when the kernel prints no NUMA
    part (no CONFIG_NUMA_BALANCING).
    """
    found: dict[int, TaskNuma] = {}
    tids = thread_ids(kernel, pid)
    if not tids:
        raise NoSuchProcessError(errno.ESRCH, f"no such process: pid {pid}", "")
    for tid in tids:
        text = kernel.read_if_alive(f"proc/{pid}/task/{tid}/sched")
        if text is None:
            continue
        numa = parse_sched(text).numa
        if numa is None:
            raise UnsupportedError(f"{kernel.path(f'proc/{pid}/task/{tid}/sched')} has no NUMA faults: "
                                   f"the kernel is built without CONFIG_NUMA_BALANCING")
        found[tid] = numa
    return NumaFaults(pid, found)


def read_vmstat_numa(kernel: Kernel) -> dict[str, int]:
    """/proc/vmstat's NUMA counters: numa_* (allocation and balancing), pgpromote_*, pgdemote_*."""
    return numa_counters(parse_vmstat(kernel.read_text("proc/vmstat")))


def faults_since(before: TaskNuma | None, now: TaskNuma) -> int:
    """The faults (pages) a thread took between two readings, from the kernel's decaying counts.

    A count that changed was halved and added to once (task_numa_placement):
    ``now - ceil(before / 2)``, never below 0. One that did not change saw no placement.
    """
    added = 0
    for node, faults in now.faults.items():
        old = before.faults.get(node) if before is not None else None
        for new_count, old_count in ((faults.task_private, old.task_private if old else 0),
                                     (faults.task_shared, old.task_shared if old else 0)):
            if new_count != old_count:
                added += max(new_count - (old_count - old_count // 2), 0)
    return added


class NumaFaultsTracker:
    """NUMA hinting faults per interval and where the faulting threads ran."""

    info: ClassVar[TrackerInfo] = TrackerInfo(
        name="numafaults",
        heat_unit=HEAT_UNIT,
        sees="NUMA balancing's hinting faults (pages) of each process per interval, and the nodes of "
             "the faulting threads; read_numa_faults gives them per memory node",
        cannot_see="which addresses faulted (one region spans the address space); faults the kernel "
                   "has not yet folded in (once per scanner pass, seconds apart); anything while "
                   "numa_balancing is off",
        cost="one /proc/PID/task/TID/sched read per thread per interval; the faults themselves are "
             "NUMA balancing's cost, paid whether or not this tracker runs",
    )

    def __init__(self, kernel: Kernel, pids: Sequence[int], options: Mapping[str, str]) -> None:
        self.kernel = kernel
        self.pids = check_pids(pids, options)
        self._last: dict[int, Mapping[int, TaskNuma]] = {}

    @staticmethod
    def unavailable(kernel: Kernel) -> str | None:
        """Why NUMA hinting faults cannot be counted here (balancing off or not built), or None."""
        try:
            mode = kernel.read_text(SWITCH.lstrip("/")).strip()
        except FileNotFoundError:
            return (f"{SWITCH} is missing: the kernel is built without automatic NUMA balancing "
                    f"(CONFIG_NUMA_BALANCING)")
        if mode == "0":
            return f"automatic NUMA balancing is off ({SWITCH} is 0): {ENABLE}"
        text = kernel.read_if_alive("proc/self/sched")
        if text is None:
            return "/proc/self/sched is missing: the kernel is built without CONFIG_SCHED_DEBUG"
        if parse_sched(text).numa is None:
            return "/proc/self/sched has no NUMA faults: the kernel is built without CONFIG_NUMA_BALANCING"
        return None

    def start(self) -> None:
        """Read each thread's counts so far; raises NoSuchProcessError for a pid that is gone."""
        for pid in self.pids:
            mapped_span(self.kernel, pid)
            self._last[pid] = read_numa_faults(self.kernel, pid).threads

    def sample(self) -> Iterator[Region]:
        """One region per live process whose threads faulted in the interval."""
        for pid in self.pids:
            before = self._last.get(pid, {})
            try:
                now = read_numa_faults(self.kernel, pid).threads
            except OSError:
                continue  # the process exited
            self._last[pid] = now
            span = mapped_span_if_alive(self.kernel, pid)
            if span is None:
                continue
            by_node: dict[int, float] = {}
            for tid, numa in now.items():
                added = faults_since(before.get(tid), numa)
                by_node[numa.current_node] = by_node.get(numa.current_node, 0) + added
            total = sum(by_node.values())
            yield Region(pid, span[0], span[1], total, HEAT_UNIT, accessing_nodes=shares(by_node))

    def stop(self) -> None:
        """Nothing to undo: this tracker only reads (it never switches NUMA balancing on or off)."""
        self._last.clear()


register("numafaults", NumaFaultsTracker)
