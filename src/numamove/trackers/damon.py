"""The DAMON tracker: per-region access frequency of processes' virtual address spaces (DAMON vaddr).

DAMON's kernel thread (a kdamond) checks one page per region for an access
each sampling interval and adapts its regions to the access pattern; we read
its regions through a "stat" scheme (counts only, does nothing to memory),
whose tried_regions directory the kernel fills on request
(``update_schemes_tried_regions``). :mod:`.damon_sysfs` writes the files.

One kdamond per process: a tried region does not say which target it is of.

Ownership, because a kdamond outlives the process that started it: before it
makes its kdamonds, the tracker writes a record of them (:mod:`.damon_owner`:
run/numamove-damon.json under the kernel's root: our pid and start time, the
first kdamond's index, the target pids, and the marker written into the
kdamonds' schemes). ``stop()``
turns them off, removes them (``nr_kdamonds`` back to what it was) and
clears the record; it runs with SIGINT and SIGTERM blocked, is harmless twice,
and undoes a half-done ``start()``. A later ``start()`` finds the record of a
numamove that was killed (its pid gone, or reused by another process), checks
that the kdamonds are still the ones it describes, stops them and says so in
:attr:`DamonTracker.warnings`. Kdamonds numamove did not make are never
touched: writing ``nr_kdamonds`` would erase their settings, so their presence
makes ``start()`` refuse ("DAMON is busy").

Files: /sys/kernel/mm/damon/admin/kdamonds/..., /proc/self/stat, /proc/PID/stat,
/proc/self/status (CapEff), /proc/config.gz or /boot/config-RELEASE, run/numamove-damon.json.
"""

from __future__ import annotations

import errno
import gzip
import signal
from collections.abc import Iterator, Mapping, Sequence

from numamove._inputs import parse_duration
from numamove.errors import InvalidInputError, KernelError, NumaMoveError, UnsupportedError, kernel_error
from numamove.kernel import Kernel
from numamove.procfs.damon import CLEARED, OwnerRecord, config_option
from numamove.procfs.maps import parse_maps
from numamove.targets import process_identity
from numamove.trackers.base import Region, TrackerInfo, register
from numamove.trackers.damon_owner import RECORD, busy_reason, recover, write_record
from numamove.trackers.damon_sysfs import Attributes, DamonSysfs

__all__ = ["HEAT_UNIT", "RECORD", "DamonTracker", "initial_regions", "join_smallest_gaps"]

HEAT_UNIT = "accesses per second (DAMON checks that saw an access)"
CAP_SYS_ADMIN = 21
ABSENT = ("DAMON is absent: /sys/kernel/mm/damon/admin is missing (a kernel built without "
          "CONFIG_DAMON_SYSFS, or sysfs not mounted)")

OPTIONS: dict[str, str] = {
    "sample": "DAMON's sampling interval: how often it checks a page per region (default 5ms; 100us to 1s)",
    "aggregation": ("DAMON's aggregation interval: the span its access counts cover, and the freshest "
                    "data a sample gets (default 100ms; 1ms to 60s, at least the sampling interval)"),
    "update": "how often DAMON re-reads the targets' mappings (default 1s; 1ms to 1h)",
    "min_regions": "the fewest regions DAMON splits the address space into (default 10; 3 to 10000)",
    "max_regions": "the most regions: finer, and costlier per sample (default 1000; min_regions to 100000)",
}


def _count(text: str, what: str, low: int, high: int) -> int:
    if not (text.isascii() and text.isdigit()) or not low <= int(text) <= high:
        raise InvalidInputError(f"damon option {what} must be a whole number from {low} to {high}, "
                                f"not {text!r}")
    return int(text)


def parse_options(options: Mapping[str, str]) -> Attributes:
    """The tracker's options (see :data:`OPTIONS`) as DAMON's monitoring attributes."""
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise InvalidInputError(f"the damon tracker has no option {unknown[0]!r}; its options: "
                                f"{', '.join(OPTIONS)}")
    sample = parse_duration(options.get("sample", "5ms"), "damon option sample", low=1e-4, high=1.0)
    aggregation = parse_duration(options.get("aggregation", "100ms"), "damon option aggregation",
                                 low=1e-3, high=60.0)
    update = parse_duration(options.get("update", "1s"), "damon option update", low=1e-3, high=3600.0)
    if aggregation < sample:
        raise InvalidInputError(f"damon's aggregation interval ({options.get('aggregation', '100ms')}) must "
                                f"be at least its sampling interval ({options.get('sample', '5ms')})")
    low = _count(options.get("min_regions", "10"), "min_regions", 3, 10_000)
    high = _count(options.get("max_regions", "1000"), "max_regions", low, 100_000)
    return Attributes(round(sample * 1e6), round(aggregation * 1e6), round(update * 1e6), low, high)


def _vaddr_missing(kernel: Kernel) -> bool:
    """Whether the kernel's build configuration says CONFIG_DAMON_VADDR is not set (False if unknown)."""
    try:
        text = gzip.decompress(kernel.read_bytes("proc/config.gz")).decode(errors="replace")
    except (OSError, EOFError, ValueError):
        try:
            release = kernel.read_text("proc/sys/kernel/osrelease").strip()
            text = kernel.read_text(f"boot/config-{release}")
        except OSError:
            return False
    damon = config_option(text, "CONFIG_DAMON")
    return damon is not None and config_option(text, "CONFIG_DAMON_VADDR") is None


class DamonTracker:
    """DAMON vaddr on some processes: one kdamond per process, with one target and one stat scheme.

    ``heat`` is :data:`HEAT_UNIT`: a region's nr_accesses over the last
    aggregation interval (how many of DAMON's checks saw an access), divided by
    that interval in seconds; at most 1 / sampling interval. ``age`` is DAMON's
    age in seconds: how long the region's nr_accesses has stayed about the same.
    ``written`` and ``accessing_nodes`` are None: DAMON sees Accessed bits only.
    """

    info = TrackerInfo(
        name="damon",
        heat_unit=HEAT_UNIT,
        sees="how often each region of the address space is accessed (DAMON checks the Accessed bit of "
             "one page per region each sampling interval; regions adapt to the access pattern)",
        cannot_see="reads from writes; which node's CPUs made the accesses; detail finer than DAMON's "
                   "regions (max_regions bounds it); aggregation intervals other than the last before "
                   "each sample",
        cost="a kernel thread (kdamond) per process, sampling every sampling interval; per sample and "
             "process one sysfs update that waits up to two aggregation intervals, and four small file "
             "reads per region",
        options=OPTIONS,
    )

    def __init__(self, kernel: Kernel, pids: Sequence[int], options: Mapping[str, str]) -> None:
        if not pids:
            raise InvalidInputError("the damon tracker needs at least one pid")
        if any(type(pid) is not int or pid <= 0 for pid in pids):
            raise InvalidInputError(f"pids are positive whole numbers, not {list(pids)!r}")
        self.kernel = kernel
        self.pids = tuple(sorted(set(pids)))
        self.attributes = parse_options(options)
        self.warnings: list[str] = []
        """What ``start()`` did that the caller should show (a killed numamove's kdamond stopped)."""
        self._sysfs = DamonSysfs(kernel)
        self._first = 0
        self._record: OwnerRecord | None = None
        self._created = False
        self._on = False
        self._starts: dict[int, int] = {}

    @staticmethod
    def unavailable(kernel: Kernel) -> str | None:
        """Why DAMON vaddr cannot run here, in plain words; None when it can. Writes nothing."""
        if not DamonSysfs(kernel).present():
            return ABSENT
        if not kernel.has_capability(CAP_SYS_ADMIN):
            return "DAMON needs CAP_SYS_ADMIN (run as root)"
        if _vaddr_missing(kernel):
            return "DAMON here cannot watch processes: the kernel is built without CONFIG_DAMON_VADDR"
        return busy_reason(kernel, DamonSysfs(kernel))

    def start(self) -> None:
        """Claim a kdamond (record first), set it up on the pids, and turn it on."""
        if self._record is not None or self._on:
            raise InvalidInputError("this damon tracker is already started")
        sysfs = self._sysfs
        if not sysfs.present():
            raise UnsupportedError(ABSENT)
        self.warnings.extend(recover(self.kernel))
        busy = busy_reason(self.kernel, sysfs)
        if busy is not None:
            raise kernel_error(errno.EBUSY, "", busy)
        for pid in self.pids:
            found = process_identity(self.kernel, pid)
            if found is None:
                raise kernel_error(errno.ESRCH, "", f"process {pid} does not exist (or exited)")
            self._starts[pid] = found[1]
        me = process_identity(self.kernel, "self")
        assert me is not None
        marker = (1 << 62) | (me[1] & 0xFFFF_FFFF) << 22 | (me[0] & 0x3F_FFFF)
        self._first = sysfs.count()
        self._record = OwnerRecord(me[0], me[1], self._first, self.pids, marker, self._first)
        write_record(self.kernel, self._record.to_text())
        sysfs.write("nr_kdamonds", self._first + len(self.pids))
        self._created = True
        for kdamond, pid in self._kdamond_pids():
            sysfs.write(f"{kdamond}/contexts/nr_contexts", 1)
            _, offered = sysfs.operations(kdamond)
            if "vaddr" not in offered:
                offers = " ".join(offered) or "none"
                raise UnsupportedError(f"DAMON here cannot watch processes: its operations are {offers}, "
                                       "not vaddr (CONFIG_DAMON_VADDR is not set)")
            limit = max(self.attributes.min_regions, self.attributes.max_regions // 2)
            sysfs.configure(kdamond, pid, self.attributes, marker, initial_regions(self.kernel, pid, limit))
        for kdamond, _ in self._kdamond_pids():
            try:
                sysfs.write(f"{kdamond}/state", "on")
            except KernelError:
                self._check_targets()
                raise
        self._on = True

    def _kdamond_pids(self) -> list[tuple[int, int]]:
        return [(self._first + index, pid) for index, pid in enumerate(self.pids)]

    def _check_targets(self) -> list[int]:
        """The pids still running (same start time); NoSuchProcessError when none is."""
        alive = [pid for pid in self.pids
                 if (process_identity(self.kernel, pid) or (0, -1))[1] == self._starts[pid]]
        if not alive:
            gone = ",".join(map(str, self.pids))
            raise kernel_error(errno.ESRCH, "", f"process {gone} exited; DAMON stopped")
        return alive

    def sample(self) -> Iterator[Region]:
        """Ask DAMON for its regions now (waits for the kdamond, up to two aggregation intervals).

        Raises NoSuchProcessError once every target has exited, after stopping
        the kdamond (some kernels stop it themselves then, others keep it on).
        """
        if not self._on:
            raise InvalidInputError("sample() needs a started damon tracker")
        sysfs = self._sysfs
        regions: list[Region] = []
        per_second = 1e6 / self.attributes.aggr_us
        aggregation = self.attributes.aggr_us / 1e6
        try:
            alive = self._check_targets()
            for kdamond, pid in self._kdamond_pids():
                if pid not in alive:
                    continue
                # An update fills nothing when the kdamond did not apply its scheme before the update's
                # timeout (two aggregation intervals of wall time; a slow or busy machine): ask again.
                for _ in range(3):
                    try:
                        sysfs.write(f"{kdamond}/state", "update_schemes_tried_regions")
                    except KernelError:
                        if self._state(kdamond) == "on":
                            raise
                        break  # DAMON stopped it: its target exited since the check
                    tried = sysfs.tried_regions(kdamond)
                    if tried:
                        regions.extend(Region(pid, start, end, accesses * per_second, HEAT_UNIT,
                                              age=age * aggregation)
                                       for start, end, accesses, age in tried if start < end)
                        break
            if not regions:
                self._check_targets()
        except NumaMoveError:
            self.stop()
            raise
        return iter(regions)

    def stop(self) -> None:
        """Turn our kdamond off, remove it, clear the record; with SIGINT and SIGTERM held off meanwhile."""
        held = {signal.SIGINT, signal.SIGTERM}
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
        try:
            self._stop()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)

    def _state(self, kdamond: int) -> str:
        """A kdamond's state; "gone" when its directory is (someone wrote nr_kdamonds)."""
        try:
            return self._sysfs.state(kdamond)
        except KernelError as error:
            if error.errno == errno.ENOENT:
                return "gone"
            raise

    def _stop(self) -> None:
        sysfs = self._sysfs
        self._on = False
        if self._created:
            for kdamond, _ in self._kdamond_pids():
                if self._state(kdamond) == "on":
                    try:
                        sysfs.write(f"{kdamond}/state", "off")
                    except KernelError:
                        if self._state(kdamond) == "on":
                            raise  # still running: keep the record, so a later start can stop it
            assert self._record is not None
            try:
                if sysfs.count() == self._first + len(self.pids):
                    sysfs.write("nr_kdamonds", self._record.before)
            except KernelError as error:
                self.warnings.append(f"numamove's kdamonds are off but left set up: {error}")
            self._created = False
        if self._record is not None:
            write_record(self.kernel, CLEARED)
            self._record = None


def initial_regions(kernel: Kernel, pid: int, limit: int) -> list[tuple[int, int]]:
    """DAMON's first regions for ``pid``: its mappings (/proc/PID/maps), at most ``limit`` of them.

    DAMON alone starts from three spans of the whole address space and splits
    them at random, which can take many seconds to find a hot mapping among
    gigabytes of cold ones. Starting from the mappings it begins where they
    differ. Over ``limit``, neighbours join across the smallest gaps first
    (mappings that touch before any apart). [] when maps cannot be read: DAMON's own start.
    """
    text = kernel.read_if_alive(f"proc/{pid}/maps")
    if text is None:
        return []
    try:
        spans = [(entry.start, entry.end) for entry in parse_maps(text) if entry.path != "[vsyscall]"]
    except NumaMoveError:
        return []
    return join_smallest_gaps(sorted(spans), limit)


def join_smallest_gaps(spans: Sequence[tuple[int, int]], limit: int) -> list[tuple[int, int]]:
    """Sorted, non-overlapping ``spans`` cut into at most ``limit`` runs at the largest gaps."""
    if len(spans) <= limit:
        return list(spans)
    gaps = sorted(range(1, len(spans)), key=lambda at: spans[at][0] - spans[at - 1][1], reverse=True)
    cuts = sorted(gaps[:max(limit - 1, 0)])
    runs, first = [], 0
    for cut in [*cuts, len(spans)]:
        runs.append((spans[first][0], spans[cut - 1][1]))
        first = cut
    return runs


register("damon", DamonTracker)
