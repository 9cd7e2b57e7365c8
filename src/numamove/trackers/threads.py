"""The "threads" tracker: where a process's threads run, and how much, per interval.

Each thread's last CPU is field 39 ("processor") of /proc/PID/task/TID/stat,
and so its node (the CPU -> node map of /sys/devices/system/node/nodeN/cpulist);
its CPU time is utime + stime (fields 14 and 15, USER_HZ ticks). Memory a
thread touches is most likely touched from its node, so the CPU time per node
is a cheap guess at the accessing nodes of the whole process.

- :func:`read_thread_nodes`: each thread's (tid, cpu, node, cpu seconds) now,
  for thread placement over time.
- :func:`mapped_span`: a process's address space, lowest VMA start to highest
  end (/proc/PID/maps; the [vsyscall] gate page is no VMA of the process).
- :class:`ThreadsTracker`, registered as "threads": per interval and per
  process one region spanning its address space, heat = CPU seconds per
  second of all its threads, accessing nodes = the CPU time's share per node.

Reads through the Kernel only. May import: :mod:`numamove.kernel`,
:mod:`numamove.procfs`, :mod:`numamove.topology`, :mod:`.base`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

from numamove.errors import InvalidInputError
from numamove.kernel import Kernel
from numamove.kernel.process import process_errors
from numamove.procfs.maps import parse_maps
from numamove.procfs.sched import USER_HZ
from numamove.procfs.stat import parse_task_stat
from numamove.topology import cpu_node_map
from numamove.trackers.base import Region, TrackerInfo, register

__all__ = ["ThreadNode", "ThreadsTracker", "check_pids", "mapped_span", "mapped_span_if_alive",
           "read_thread_nodes", "shares", "thread_ids"]

HEAT_UNIT = "CPU seconds per second (threads)"


@dataclass(frozen=True)
class ThreadNode:
    """One thread: the CPU it last ran on, that CPU's node (None if unknown), its CPU time so far."""

    tid: int
    cpu: int
    node: int | None
    cpu_seconds: float


def thread_ids(kernel: Kernel, pid: int) -> list[int]:
    """The ids of a process's threads (/proc/PID/task); [] when the process is gone."""
    try:
        return [int(name) for name in kernel.listdir(f"proc/{pid}/task") if name.isdigit()]
    except OSError:
        return []


def read_thread_nodes(kernel: Kernel, pid: int) -> list[ThreadNode]:
    """Each thread of ``pid`` now: (tid, cpu, node, cpu seconds), from /proc/PID/task/TID/stat.

    A thread that exits while we read is left out; a process that is gone gives [].
    """
    cpu_node = cpu_node_map(kernel)
    refreshed = False
    found = []
    for tid in thread_ids(kernel, pid):
        text = kernel.read_if_alive(f"proc/{pid}/task/{tid}/stat")
        if text is None:
            continue
        stat = parse_task_stat(text)
        if stat.processor not in cpu_node and not refreshed:
            cpu_node, refreshed = cpu_node_map(kernel, fresh=True), True  # a CPU that came online since
        seconds = (stat.utime + stat.stime) / USER_HZ
        found.append(ThreadNode(tid, stat.processor, cpu_node.get(stat.processor), seconds))
    return found


def mapped_span(kernel: Kernel, pid: int) -> tuple[int, int] | None:
    """[lowest VMA start, highest VMA end) of ``pid`` (/proc/PID/maps), None when it maps nothing.

    Raises :class:`~numamove.errors.NoSuchProcessError` when the process is gone,
    :class:`~numamove.errors.NotPermittedError` when we may not read its maps.
    """
    with process_errors(pid, "maps"):
        return _span(kernel.read_text(f"proc/{pid}/maps"))


def mapped_span_if_alive(kernel: Kernel, pid: int) -> tuple[int, int] | None:
    """:func:`mapped_span`, or None when the process is gone or unreadable."""
    text = kernel.read_if_alive(f"proc/{pid}/maps")
    return None if text is None else _span(text)


def _span(maps: str) -> tuple[int, int] | None:
    vmas = [vma for vma in parse_maps(maps) if vma.path != "[vsyscall]"]  # the gate page is no VMA
    return (min(vma.start for vma in vmas), max(vma.end for vma in vmas)) if vmas else None


def shares(weights: Mapping[int, float]) -> dict[int, float] | None:
    """Weights per node -> shares summing to 1 (nodes of weight 0 left out); None when all are 0."""
    total = sum(weights.values())
    if total <= 0:
        return None
    return {node: weight / total for node, weight in sorted(weights.items()) if weight > 0}


def check_pids(pids: Sequence[int], options: Mapping[str, str], known: Sequence[str] = ()) -> list[int]:
    """The pids as a list, after refusing bad pids and unknown options (InvalidInputError)."""
    unknown = sorted(set(options) - set(known))
    if unknown:
        takes = f"it takes {', '.join(known)}" if known else "it takes none"
        raise InvalidInputError(f"unknown tracker option{'s' if len(unknown) > 1 else ''}: "
                                f"{', '.join(unknown)} ({takes})")
    checked = list(pids)
    bad = [pid for pid in checked if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0]
    if bad or not checked:
        raise InvalidInputError(f"a tracker watches processes by pid (positive integers), "
                                f"not {bad or checked}")
    return checked


class ThreadsTracker:
    """Thread placement as a tracker: CPU time per node of each process's threads, per interval."""

    info: ClassVar[TrackerInfo] = TrackerInfo(
        name="threads",
        heat_unit=HEAT_UNIT,
        sees="where each thread runs (its CPU's node) and how much CPU it used in the interval: "
             "the process's accessing nodes, weighted by CPU time",
        cannot_see="which memory the threads touch: one region spans the whole address space",
        cost="one /proc/PID/task/TID/stat read per thread per interval",
    )

    def __init__(self, kernel: Kernel, pids: Sequence[int], options: Mapping[str, str]) -> None:
        self.kernel = kernel
        self.pids = check_pids(pids, options)
        self._seconds: dict[int, dict[int, float]] = {}
        self._when = 0.0

    @staticmethod
    def unavailable(kernel: Kernel) -> str | None:
        """None when /proc shows threads (/proc/self/task), else why not."""
        if not kernel.exists("proc/self/task"):
            return f"{kernel.path('proc/self/task')} is missing: /proc is not mounted here"
        return None

    def start(self) -> None:
        """Read each thread's CPU time so far; raises NoSuchProcessError for a pid that is gone."""
        for pid in self.pids:
            mapped_span(self.kernel, pid)  # fails now, with the cause, for a pid we cannot watch
            self._seconds[pid] = {t.tid: t.cpu_seconds for t in read_thread_nodes(self.kernel, pid)}
        self._when = time.monotonic()

    def sample(self) -> Iterator[Region]:
        """One region per live process: its CPU seconds per second, and their share per node."""
        now = time.monotonic()
        elapsed, self._when = max(now - self._when, 1e-9), now
        for pid in self.pids:
            threads = read_thread_nodes(self.kernel, pid)
            before = self._seconds.get(pid, {})
            self._seconds[pid] = {t.tid: t.cpu_seconds for t in threads}
            span = mapped_span_if_alive(self.kernel, pid)
            if not threads or span is None:
                continue  # the process exited
            used: dict[int, float] = {}
            count: dict[int, float] = {}
            total = 0.0
            for thread in threads:
                spent = max(thread.cpu_seconds - before.get(thread.tid, 0.0), 0.0)
                total += spent
                if thread.node is not None:
                    used[thread.node] = used.get(thread.node, 0.0) + spent
                    count[thread.node] = count.get(thread.node, 0.0) + 1
            yield Region(pid, span[0], span[1], total / elapsed, HEAT_UNIT,
                         accessing_nodes=shares(used) or shares(count))

    def stop(self) -> None:
        """Nothing to undo: this tracker only reads."""
        self._seconds.clear()


register("threads", ThreadsTracker)
