"""Parsers of ``/proc/PID/sched`` (and ``/proc/PID/task/TID/sched``) and of a task's CPU times. Pure.

``/proc/PID/sched`` exists with CONFIG_SCHED_DEBUG. Its NUMA part, printed by
kernel/sched/debug.c (sched_show_numa, print_numa_stats) when the kernel has
CONFIG_NUMA_BALANCING, reads in 6.12::

    mm->numa_scan_seq                            :                    3
    numa_pages_migrated                          :                 1104
    numa_preferred_nid                           :                    1
    total_numa_faults                            :                 1161
    current_node=1, numa_group_id=0
    numa_faults node=0 task_private=0 task_shared=0 group_private=0 group_shared=0
    numa_faults node=1 task_private=1161 task_shared=0 group_private=0 group_shared=0

The ``numa_faults`` counts are by MEMORY node (the node of the faulting page),
and they are not running totals: each time the task's NUMA placement runs
(once per pass of the mm's scanner, ``mm->numa_scan_seq``), the kernel halves
them and adds the faults buffered since (kernel/sched/fair.c,
task_numa_placement). A hugepage fault counts its base pages (512).

utime and stime (fields 14 and 15 of ``/proc/PID/task/TID/stat``, in USER_HZ
ticks) are read by :func:`numamove.procfs.stat.parse_task_stat`.
May import: :mod:`numamove.errors`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from numamove.procfs._text import malformed as _malformed

__all__ = ["USER_HZ", "NodeFaults", "TaskNuma", "TaskSched", "parse_sched"]

USER_HZ: Final = 100
"""Ticks per second of the times in /proc/PID/stat: the kernel exports them in USER_HZ, 100 on every
architecture Linux still supports (alpha, at 1024, is the exception)."""

_HEADER: Final = re.compile(r"(.*) \((\d+), #threads: (\d+)\)")
_FIELD: Final = re.compile(r"(\S(?:.*\S)?)\s*:\s*(-?[0-9]+(?:\.[0-9]+)?)")
_CURRENT: Final = re.compile(r"current_node=(-?\d+), numa_group_id=(\d+)")
_FAULTS: Final = re.compile(r"numa_faults node=(\d+) task_private=(\d+) task_shared=(\d+) "
                            r"group_private=(\d+) group_shared=(\d+)")


@dataclass(frozen=True)
class NodeFaults:
    """NUMA hinting faults on one memory node (the kernel's decaying counts, see the module doc)."""

    task_private: int
    task_shared: int
    group_private: int
    group_shared: int

    @property
    def task(self) -> int:
        """The task's own faults on this node, private and shared."""
        return self.task_private + self.task_shared


@dataclass(frozen=True)
class TaskNuma:
    """The NUMA balancing part of one task's ``sched`` file."""

    current_node: int
    """The node of the CPU the task is on now (task_node)."""
    preferred_node: int
    """numa_preferred_nid: where NUMA balancing wants the task, -1 for none yet."""
    group_id: int
    """numa_group_id: 0 when the task shares no NUMA group."""
    pages_migrated: int
    """numa_pages_migrated: pages NUMA balancing moved for this task (a running total)."""
    total_faults: int
    """total_numa_faults: the sum of the per-node task counts (decaying, like them)."""
    scan_seq: int | None
    """mm->numa_scan_seq: passes of the scanner over the address space; None for a task without mm."""
    faults: Mapping[int, NodeFaults]
    """Memory node -> this task's faults there."""


@dataclass(frozen=True)
class TaskSched:
    """What numamove reads of ``/proc/PID/sched``: the task's name and id, and its NUMA part."""

    comm: str
    tid: int
    threads: int
    exec_runtime: float | None
    """se.sum_exec_runtime: the task's CPU time in milliseconds (ns resolution), None when absent."""
    numa: TaskNuma | None
    """None when the kernel prints no NUMA part (built without CONFIG_NUMA_BALANCING)."""


def parse_sched(text: str) -> TaskSched:
    """``/proc/PID/sched`` or ``/proc/PID/task/TID/sched`` -> :class:`TaskSched`.

    Raises :class:`~numamove.errors.InvalidInputError` naming the line for a
    header or a NUMA line that does not read as the kernel prints it.
    """
    kind = "/proc/PID/sched"
    lines = text.split("\n")
    header = _HEADER.fullmatch(lines[0])
    if header is None:
        raise _malformed(kind, 1, lines[0], "not 'comm (pid, #threads: N)'")
    fields: dict[str, str] = {}
    current: re.Match[str] | None = None
    faults: dict[int, NodeFaults] = {}
    for number, line in enumerate(lines[1:], start=2):
        if not line or line.startswith("---"):
            continue
        if line.startswith("numa_faults "):
            found = _FAULTS.fullmatch(line)
            if found is None:
                raise _malformed(kind, number, line, "not 'numa_faults node=N task_private=N ...'")
            node, tp, ts, gp, gs = (int(value) for value in found.groups())
            faults[node] = NodeFaults(tp, ts, gp, gs)
        elif line.startswith("current_node="):
            current = _CURRENT.fullmatch(line)
            if current is None:
                raise _malformed(kind, number, line, "not 'current_node=N, numa_group_id=N'")
        else:
            field = _FIELD.fullmatch(line)
            if field is not None:
                fields[field.group(1)] = field.group(2)
    runtime = fields.get("se.sum_exec_runtime")
    numa = None
    if current is not None:
        wanted = ("numa_pages_migrated", "numa_preferred_nid", "total_numa_faults")
        missing = [name for name in wanted if name not in fields]
        if missing:
            raise _malformed(kind, 1, lines[0], f"a NUMA part without {', '.join(missing)}")
        seq = fields.get("mm->numa_scan_seq")
        numa = TaskNuma(current_node=int(current.group(1)), preferred_node=int(fields["numa_preferred_nid"]),
                        group_id=int(current.group(2)), pages_migrated=int(fields["numa_pages_migrated"]),
                        total_faults=int(fields["total_numa_faults"]),
                        scan_seq=None if seq is None else int(seq), faults=faults)
    return TaskSched(comm=header.group(1), tid=int(header.group(2)), threads=int(header.group(3)),
                     exec_runtime=None if runtime is None else float(runtime), numa=numa)


