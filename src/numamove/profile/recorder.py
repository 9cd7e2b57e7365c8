"""The recorder: trackers sampled once per interval, each region placed, all of it written to a profile log.

:func:`record` is the loop behind ``numamove profile`` (and the daemon's): it
starts the trackers (``trackers.tracking``, so they are stopped on every way
out), sleeps an interval (waking early when ``stop()`` says so), samples them,
and for each process still running reads its mappings and present pages per
node (numa_maps, as ``where`` counts them) and each region's placement
(:func:`numamove.scan.regions.region_nodes`: pagemap PFNs or move_pages
queries, vectorised per chunk). The writer merges adjacent equal regions and
bounds the file. It ends when ``duration`` is reached, when ``stop()`` says so,
or when every target has exited, and closes the log with an end record saying
which. :func:`build_header` makes the log's first line.

Reads, through the Kernel: /proc/PID/stat (start time), comm, maps, numa_maps,
pagemap, task/*/stat, /proc/sys/kernel/osrelease, /sys/devices/system/node;
calls move_pages(2) without targets when PFNs are hidden.
May import: :mod:`numamove.kernel`, :mod:`numamove.scan`, :mod:`numamove.topology`,
:mod:`numamove.trackers`, :mod:`.log`.
"""

from __future__ import annotations

import errno
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from numamove.errors import InvalidInputError, NoSuchProcessError, NumaMoveError
from numamove.kernel import Kernel
from numamove.procfs.maps import parse_maps
from numamove.profile.log import REASONS, Header, IntervalRecord, ProfileWriter, RegionRecord, VmasRecord
from numamove.scan.regions import placement_frames, region_nodes, resident_nodes
from numamove.targets import process_identity
from numamove.topology import read_topology
from numamove.topology.frames import FrameNodes
from numamove.trackers.base import Region, Tracker, TrackerInfo, tracking
from numamove.trackers.combine import Combined
from numamove.units import PAGE_SIZE

__all__ = ["Progress", "Recording", "build_header", "record", "replay", "start_ticks"]

NAP = 0.1
"""Longest sleep between two looks at ``stop()``: a stop request waits at most this long."""


@dataclass(frozen=True)
class Progress:
    """What :func:`record` tells ``on_interval`` after writing each interval."""

    index: int
    time: float
    """Seconds since the recording started."""
    pids: tuple[int, ...]
    """The processes still tracked."""
    regions: int
    """Region records written for this interval (after merging)."""
    total_regions: int
    bytes: int
    """Bytes written to the log so far, every part."""
    parts: int


@dataclass(frozen=True)
class Recording:
    """How a recording ended: intervals written, region records, why it ended, when, who exited."""

    intervals: int
    regions: int
    reason: str
    time: float
    exited: tuple[int, ...]
    bytes: int
    parts: int


def start_ticks(kernel: Kernel, pid: int) -> int | None:
    """The process's start time in clock ticks since boot, None when it is gone (see
    :func:`numamove.targets.process_identity`: a reused pid has another start time)."""
    found = process_identity(kernel, pid)
    return None if found is None else found[1]


def build_header(kernel: Kernel, pids: Sequence[int], infos: Sequence[TrackerInfo], *, spec: str,
                 interval: float, started: float | None = None) -> Header:
    """The log's header: the trackers (what each sees, misses and costs), the kernel release, the page
    size, the topology and the target processes (pid, start time, name). The heat unit is the first
    tracker's (what its ``sees`` says, for a tracker that names none)."""
    try:
        release = kernel.read_text("proc/sys/kernel/osrelease").strip()
    except OSError:
        release = "unknown"
    nodes = [{**node.to_dict(), "memory_only": node.memory_only} for node in read_topology(kernel).nodes]
    processes = []
    for pid in pids:
        name = kernel.read_if_alive(f"proc/{pid}/comm")
        processes.append({"pid": pid, "start": start_ticks(kernel, pid),
                          "name": (name or "").rstrip("\n")})
    return Header(
        trackers=[info.name for info in infos],
        heat_unit=(infos[0].heat_unit or infos[0].sees) if infos else "",
        tracker_info={info.name: {"sees": info.sees, "cannot_see": info.cannot_see, "cost": info.cost}
                      for info in infos},
        kernel=release, page_size=PAGE_SIZE, topology={"nodes": nodes},
        target={"spec": spec, "processes": processes}, interval=interval,
        started=time.time() if started is None else started)


def record(kernel: Kernel, pids: Sequence[int], trackers: Sequence[Tracker], *, interval: float,
           duration: float | None, writer: ProfileWriter, stop: Callable[[], object] | None = None,
           on_interval: Callable[[Progress], None] | None = None, method: str = "auto", place: bool = True,
           clock: Callable[[], float] = time.monotonic,
           sleep: Callable[[float], None] = time.sleep) -> Recording:
    """Track ``pids`` with ``trackers`` (several run as one, :class:`Combined`) every ``interval``
    seconds for ``duration`` seconds (None: until stopped or every target exits), writing to ``writer``.

    ``stop()`` is asked at least every :data:`NAP` seconds: a true answer
    ends the run after sampling the interval so far; a reason from
    :data:`~numamove.profile.log.REASONS` ("terminated") is recorded as
    given, anything else true as "interrupted". A KeyboardInterrupt closes
    the log with an "interrupted" end record and goes on up. Processes that
    exit are dropped; when none is left the run ends with "target exited".
    A tracker whose sample fails once one of its processes exited cannot go
    on without it: that ends the run with "target exited" too.
    ``method`` places pages by PFN ("pagemap"), move_pages ("query") or
    whichever works ("auto"); ``place=False`` records no placement (regions
    and mappings only), for a caller that reads it once afterwards.
    ``clock`` and ``sleep`` are for tests.
    """
    if not (math.isfinite(interval) and interval > 0):
        raise InvalidInputError(f"the interval is a positive number of seconds, not {interval}")
    if duration is not None and not (math.isfinite(duration) and duration > 0):
        raise InvalidInputError(f"the duration is a positive number of seconds, not {duration}")
    if not trackers:
        raise InvalidInputError("a recording needs at least one tracker")
    alive = {}
    for pid in pids:
        ticks = start_ticks(kernel, pid)
        if ticks is None:
            raise NoSuchProcessError(errno.ESRCH, f"no such process: pid {pid}", "")
        alive[pid] = ticks
    tracker = trackers[0] if len(trackers) == 1 else Combined(trackers)
    loop = _Loop(kernel, alive, writer, placement_frames(kernel, method) if place else None)
    loop.place = place
    begun = previous = clock()
    try:
        with tracking(tracker):
            reason = ""
            while not reason:
                # The next tick of the interval's grid: a late sample skips the ticks it missed, no burst.
                deadline = begun + (math.floor((previous - begun) / interval + 1e-9) + 1) * interval
                if duration is not None:
                    deadline = min(deadline, begun + duration)
                asked = _wait(deadline, stop, clock, sleep)
                now = clock()
                try:
                    regions = list(tracker.sample())
                except (NumaMoveError, OSError):
                    if not loop.drop_exited():
                        raise
                    regions = None  # a tracker cannot go on without the process it tracked
                if regions is not None:
                    loop.write(regions, now - begun, now - previous)
                    if on_interval is not None and loop.alive:
                        on_interval(Progress(loop.index - 1, now - begun, tuple(loop.alive), loop.last,
                                             writer.regions, writer.total, writer.parts))
                previous = now
                if asked:
                    reason = asked if isinstance(asked, str) and asked in REASONS else "interrupted"
                elif regions is None or not loop.alive:
                    reason = "target exited"
                elif duration is not None and now - begun >= duration - 1e-9:
                    reason = "duration"
            writer.end(reason, loop.index, clock() - begun)
    except KeyboardInterrupt:
        writer.end("interrupted", loop.index, clock() - begun)
        raise
    finally:
        writer.close()
    return Recording(loop.index, writer.regions, reason, clock() - begun, tuple(loop.exited),
                     writer.total, writer.parts)


def replay(kernel: Kernel, intervals: Sequence[Sequence[Region]], *, interval: float,
           writer: ProfileWriter, place: bool = True, method: str = "auto") -> Recording:
    """Write intervals sampled before (an access log's regions, per interval) as a profile log.

    With ``place``, the regions of processes running now get their placement
    and resident pages as they are NOW (an access log does not say where the
    pages were then); other regions get none ({}). The end reason is "duration".
    """
    pids = sorted({region.pid for regions in intervals for region in regions})
    alive = {pid: ticks for pid in pids if place and (ticks := start_ticks(kernel, pid)) is not None}
    loop = _Loop(kernel, alive, writer, placement_frames(kernel, method) if alive else None)
    loop.unplaced = True
    try:
        for index, regions in enumerate(intervals):
            loop.write(list(regions), index * interval, interval)
        writer.end("duration", loop.index, len(intervals) * interval)
    finally:
        writer.close()
    return Recording(loop.index, writer.regions, "duration", len(intervals) * interval, (),
                     writer.total, writer.parts)


def _wait(deadline: float, stop: Callable[[], object] | None, clock: Callable[[], float],
          sleep: Callable[[float], None]) -> object:
    """Sleep until ``deadline``, looking at ``stop()`` every NAP seconds; its answer if true, else None."""
    while True:
        asked = stop() if stop is not None else None
        if asked:
            return asked
        left = deadline - clock()
        if left <= 0:
            return None
        sleep(min(left, NAP))


class _Loop:
    """One recording's state: the processes still running, their last mappings, the interval count."""

    def __init__(self, kernel: Kernel, alive: dict[int, int], writer: ProfileWriter,
                 frames: FrameNodes | None) -> None:
        self.kernel, self.alive, self.writer, self.frames = kernel, alive, writer, frames
        self.index = 0
        self.last = 0
        self.exited: list[int] = []
        self.mappings: dict[int, list[tuple[int, int, str]]] = {}
        self.unplaced = False
        self.place = True
        """Read each region's pages per node every interval (False: the mappings only, for a caller
        that reads placement itself afterwards, as planning does)."""
        """Write the regions of processes not running too, without placement (a replayed log)."""

    def drop_exited(self) -> bool:
        """Forget the processes that exited (or whose pid a new process took); whether any did."""
        gone = [pid for pid, ticks in self.alive.items() if start_ticks(self.kernel, pid) != ticks]
        for pid in gone:
            del self.alive[pid]
            self.exited.append(pid)
        return bool(gone)

    def write(self, regions: list[Region], elapsed: float, seconds: float) -> None:
        """One interval: per process still running, its mappings if changed, the interval, its regions."""
        self.drop_exited()
        if not self.alive and not self.unplaced:
            return  # every target exited before this interval could be read: it is not one
        by_pid: dict[int, list[Region]] = {pid: [] for pid in self.alive}
        for region in regions:
            if region.pid in by_pid:
                by_pid[region.pid].append(region)
            elif self.unplaced:
                by_pid[region.pid] = [region]
        self.last = 0
        for pid, found in by_pid.items():
            try:
                self.last += self._one(pid, sorted(found, key=lambda r: r.start), elapsed, seconds)
            except NoSuchProcessError:
                self.drop_exited()  # it exited while we read it: its interval is lost, not half-written
        self.index += 1

    def _one(self, pid: int, regions: list[Region], elapsed: float, seconds: float) -> int:
        if pid not in self.alive:  # a replayed log's process that is not running: no placement
            rows: list[list[int]] = [[] for _ in regions]
            interval = IntervalRecord(self.index, elapsed, seconds, pid, {})
            return self.writer.interval(interval, self._records(pid, regions, rows))
        if not self.place:
            return self._unplaced(pid, regions, elapsed, seconds)
        memory = resident_nodes(self.kernel, pid)
        table = region_nodes(self.kernel, pid, [r.start for r in regions], [r.end for r in regions],
                             frames=self.frames, vmas=memory.vmas)
        mappings = [(vma.start, vma.end, vma.path or "[anon]") for vma in memory.vmas]
        changed = None
        if mappings != self.mappings.get(pid):
            self.mappings[pid] = mappings
            changed = VmasRecord(self.index, pid, mappings)
        interval = IntervalRecord(self.index, elapsed, seconds, pid, dict(memory.pages_by_node))
        return self.writer.interval(interval, self._records(pid, regions, table.tolist()), changed)

    def _unplaced(self, pid: int, regions: list[Region], elapsed: float, seconds: float) -> int:
        """One interval without placement: the regions and, when they changed, the mappings."""
        text = self.kernel.read_if_alive(f"proc/{pid}/maps")
        if text is None:
            raise NoSuchProcessError(errno.ESRCH, f"no such process: pid {pid}", "")
        mappings = [(entry.start, entry.end, entry.path or "[anon]") for entry in parse_maps(text)]
        changed = None
        if mappings != self.mappings.get(pid):
            self.mappings[pid] = mappings
            changed = VmasRecord(self.index, pid, mappings)
        interval = IntervalRecord(self.index, elapsed, seconds, pid, {})
        return self.writer.interval(interval, self._records(pid, regions, [[] for _ in regions]), changed)

    def _records(self, pid: int, regions: list[Region], rows: list[list[int]]) -> list[RegionRecord]:
        return [RegionRecord(self.index, pid, region.start, region.end, float(region.heat), region.written,
                             None if region.accessing_nodes is None else {
                                 int(node): float(share) for node, share in region.accessing_nodes.items()},
                             {node: count for node, count in enumerate(row) if count}, region.age)
                for region, row in zip(regions, rows, strict=True)]
