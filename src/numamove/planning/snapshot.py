"""A profile and the kernel as they are now -> the snapshot a policy decides on.

Heat, written and accessing nodes come from the profile's report (the mean per
range over the intervals each range was seen in); placement is read NOW, since
the plan moves the pages where they are now (pagemap PFNs, or move_pages(2)
queries). Parts of a process's mappings that no tracker reported become regions
of heat 0, so a policy sees the cold memory too. A pid that exited, or was
reused by another process since the profile, is refused.

Kernel interface, through a Kernel: /proc/PID/stat (start time), /proc/PID/maps,
/proc/PID/pagemap or move_pages(2), /proc/PID/status
(Mems_allowed_list), /sys/devices/system/node (free memory, distances, tiers).
"""

from __future__ import annotations

import errno
from collections.abc import Iterable, Sequence

from numamove.errors import InvalidInputError, NoSuchProcessError
from numamove.kernel import Kernel
from numamove.policy.snapshot import NodeState, PastMove, ProcessState, RegionState, Snapshot, TrackerLimits
from numamove.profile.regions import ProcessReport
from numamove.profile.report import Report
from numamove.scan.regions import mapped_vmas, placement_frames, region_nodes
from numamove.targets import process_identity
from numamove.topology import Topology, read_topology
from numamove.topology.frames import FrameNodes

__all__ = ["WRITES_ONLY", "node_states", "take_snapshot", "with_cold_gaps"]

WRITES_ONLY = frozenset({"softdirty"})
"""Trackers whose heat counts writes only."""

SPECIAL = frozenset({"[vsyscall]", "[vdso]", "[vvar]", "[vvar_vclock]", "[uprobes]"})
"""Mappings of the kernel's own pages: nothing there moves."""

Span = tuple[int, int, str]


def node_states(topology: Topology) -> tuple[NodeState, ...]:
    """The online nodes as a policy sees them: CPUs or not, memory, free bytes, tier, distances."""
    return tuple(NodeState(node.id, node.has_cpu, node.has_memory, node.mem_total, node.mem_free, node.tier,
                           dict(node.distances)) for node in topology.nodes)


def take_snapshot(kernel: Kernel, report: Report, *, pids: Iterable[int] | None = None,
                  history: Sequence[PastMove] = (), interval: int = 0, topology: Topology | None = None,
                  method: str = "auto") -> Snapshot:
    """The snapshot of ``report``'s processes (those of ``pids`` only, when given) for a policy.

    ``history`` and ``interval`` are the caller's (a daemon's earlier moves and
    its cycle count). ``method`` places pages by PFN ("pagemap"), move_pages
    ("query") or whichever works ("auto").
    """
    by_pid = {process.pid: process for process in report.processes}
    wanted = sorted(by_pid) if pids is None else sorted(set(pids))
    missing = [pid for pid in wanted if pid not in by_pid]
    if missing:
        raise InvalidInputError(f"pid {missing[0]} is not in the profile (it holds "
                                f"{', '.join(map(str, sorted(by_pid))) or 'no process'})")
    if not wanted:
        raise InvalidInputError("the profile holds no interval of any process: nothing to plan from")
    topology = topology or read_topology(kernel)
    frames = placement_frames(kernel, method)
    processes, regions = [], []
    for pid in wanted:
        process = by_pid[pid]
        start = _same_process(kernel, pid, report.starts.get(pid), process.name)
        processes.append(ProcessState(pid, start, process.name, kernel.mems_allowed(pid)))
        regions += _regions(kernel, process, frames)
    first = report.trackers[0] if report.trackers else ""
    limits = TrackerLimits(tuple(report.trackers), report.heat_unit, first in WRITES_ONLY)
    seconds = float(report.end.get("time") or 0.0) if report.end else 0.0
    return Snapshot(node_states(topology), tuple(processes), tuple(regions), report.page_size, limits,
                    tuple(history), interval, seconds)


def _same_process(kernel: Kernel, pid: int, profiled: int | None, name: str) -> int:
    """The start time of ``pid`` now; NoSuchProcessError when it exited or is another process now."""
    called = f" ({name})" if name else ""
    found = process_identity(kernel, pid)
    if found is None:
        raise NoSuchProcessError(errno.ESRCH, f"process {pid}{called} has exited since it was profiled", "")
    if profiled is not None and found[1] != profiled:
        why = f"pid {pid} is another process now (started at tick {found[1]}, not {profiled}{called})"
        raise NoSuchProcessError(errno.ESRCH, why, "")
    return found[1]


def _regions(kernel: Kernel, process: ProcessReport, frames: FrameNodes | None) -> list[RegionState]:
    vmas = mapped_vmas(kernel, process.pid)  # maps alone: the pagemap read below places the pages
    reported = sorted(process.regions(), key=lambda region: region.start)
    mappings = [(vma.start, vma.end, vma.path or "[anon]") for vma in vmas if vma.path not in SPECIAL]
    known = {(r.start, r.end): r for r in reported}
    spans = with_cold_gaps([(r.start, r.end, r.vma) for r in reported], mappings)
    if not spans:
        return []
    table = region_nodes(kernel, process.pid, [s[0] for s in spans], [s[1] for s in spans],
                         frames=frames, vmas=vmas)
    found = []
    for (start, end, mapping), row in zip(spans, table.tolist(), strict=True):
        pages = {node: count for node, count in enumerate(row) if count}
        region = known.get((start, end))
        if region is None:
            found.append(RegionState(process.pid, start, end, pages, 0.0, None, None, mapping))
        else:
            found.append(RegionState(process.pid, start, end, pages, region.heat, region.written,
                                     region.accessing_nodes, mapping))
    return found


def with_cold_gaps(reported: Sequence[Span], mappings: Sequence[Span]) -> list[Span]:
    """``reported`` (sorted, not overlapping) and, as further spans, the parts of ``mappings`` that no
    reported span covers, each named by its mapping; sorted by start. Pure."""
    spans = list(reported)
    at = 0
    for low, high, name in sorted(mappings):
        cursor = low
        while at < len(reported) and reported[at][1] <= low:
            at += 1
        index = at
        while index < len(reported) and reported[index][0] < high:
            if reported[index][0] > cursor:
                spans.append((cursor, reported[index][0], name))
            cursor = max(cursor, reported[index][1])
            index += 1
        if cursor < high:
            spans.append((cursor, high, name))
    return sorted(spans)
