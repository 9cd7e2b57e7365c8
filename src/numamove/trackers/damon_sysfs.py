"""numamove's own small writer of DAMON's sysfs interface, /sys/kernel/mm/damon/admin (not damo).

The files (Documentation/admin-guide/mm/damon/usage.rst, mm/damon/sysfs*.c)::

    kdamonds/nr_kdamonds                 writing N re-creates kdamonds/0..N-1 (every one's settings
                                         are lost); EBUSY while any kdamond runs
    kdamonds/K/state                     on, off, commit, update_schemes_tried_regions (waits for
                                         the kdamond to fill tried_regions), ...; reads on or off
    kdamonds/K/pid                       the kdamond thread's pid, -1 while off
    kdamonds/K/contexts/nr_contexts      0 or 1
    kdamonds/K/contexts/0/avail_operations, operations         vaddr, fvaddr, paddr
    .../0/monitoring_attrs/intervals/{sample_us,aggr_us,update_us}
    .../0/monitoring_attrs/nr_regions/{min,max}
    .../0/targets/nr_targets, targets/T/pid_target, targets/T/regions/{nr_regions,R/start,R/end}
    .../0/schemes/nr_schemes, schemes/S/action (stat: count only),
        schemes/S/access_pattern/{sz,nr_accesses,age}/{min,max},
        schemes/S/tried_regions/R/{start,end,nr_accesses,age}

Every read and write goes through the :class:`~numamove.kernel.Kernel`.
"""

from __future__ import annotations

import errno
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from numamove.errors import KernelError, kernel_error
from numamove.kernel import Kernel
from numamove.procfs.damon import parse_signed, parse_unsigned

__all__ = ["ADMIN", "KDAMONDS", "Attributes", "DamonSysfs", "damon_error"]

ADMIN = "sys/kernel/mm/damon/admin"
KDAMONDS = f"{ADMIN}/kdamonds"
TRIED_FIELDS = ("start", "end", "nr_accesses", "age")
"""The files of a tried region, in the order :meth:`DamonSysfs.tried_regions` gives them."""
T = TypeVar("T")
LOCKED_FOR = 5.0
"""Seconds a read or write waits for DAMON's sysfs lock, which a user's blocking command (another
numamove's update_schemes_tried_regions, which waits for its kdamond) holds meanwhile."""
UINT_MAX = (1 << 32) - 1
"""The largest nr_accesses and age a scheme's access pattern takes: they are unsigned int in the kernel."""


@dataclass(frozen=True)
class Attributes:
    """A context's monitoring attributes: intervals in microseconds, and the bounds on its region count."""

    sample_us: int
    aggr_us: int
    update_us: int
    min_regions: int
    max_regions: int


def damon_error(error: OSError, what: str) -> KernelError:
    """A failed DAMON sysfs read or write as a numamove error naming ``what`` and the cause."""
    err = error.errno or errno.EIO
    causes = {errno.EBUSY: "a kdamond is running, or another DAMON user holds its sysfs lock",
              errno.EPERM: "this needs CAP_SYS_ADMIN", errno.EACCES: "this needs CAP_SYS_ADMIN",
              errno.ENOENT: "the file is gone"}
    cause = causes.get(err, error.strerror or "")
    return kernel_error(err, "", f"DAMON refused {what}: {cause}")


class DamonSysfs:
    """DAMON's sysfs files as numbers and words, read and written through ``kernel``."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel

    def present(self) -> bool:
        return self.kernel.exists(KDAMONDS)

    @staticmethod
    def _locked(action: Callable[[], T]) -> T:
        """``action()``, tried again while it fails with EBUSY, for up to LOCKED_FOR seconds.

        DAMON's sysfs files take one lock with a trylock and fail with EBUSY
        while anyone holds it, reads included.
        """
        deadline = time.monotonic() + LOCKED_FOR
        while True:
            try:
                return action()
            except OSError as error:
                if error.errno != errno.EBUSY or time.monotonic() > deadline:
                    raise
            time.sleep(0.005)

    def _read(self, relative: str) -> str:
        try:
            return self._locked(lambda: self.kernel.read_text(f"{KDAMONDS}/{relative}"))
        except OSError as error:
            raise damon_error(error, f"a read of kdamonds/{relative}") from None

    def write(self, relative: str, value: str | int) -> None:
        """Write one value to kdamonds/``relative``; a refusal is a numamove error naming the file.

        EBUSY is tried again for a while (the lock), except on ``nr_kdamonds``,
        where it means a kdamond runs.
        """
        path = f"{KDAMONDS}/{relative}"
        try:
            if relative == "nr_kdamonds":
                self.kernel.write(path, f"{value}\n")
            else:
                self._locked(lambda: self.kernel.write(path, f"{value}\n"))
        except OSError as error:
            raise damon_error(error, f"{value} in kdamonds/{relative}") from None

    def count(self) -> int:
        """``nr_kdamonds``: how many kdamond directories exist."""
        return parse_unsigned(self._read("nr_kdamonds"), "nr_kdamonds")

    def state(self, kdamond: int) -> str:
        """"on" or "off" (kdamonds/K/state)."""
        return self._read(f"{kdamond}/state").strip()

    def thread(self, kdamond: int) -> int:
        """The kdamond thread's pid, -1 while it is off (kdamonds/K/pid)."""
        return parse_signed(self._read(f"{kdamond}/pid"), f"kdamonds/{kdamond}/pid")

    def operations(self, kdamond: int) -> tuple[str, list[str]]:
        """The context's operations and what this kernel offers (avail_operations); ("", []) without one."""
        base = f"{kdamond}/contexts"
        if parse_unsigned(self._read(f"{base}/nr_contexts"), "nr_contexts") < 1:
            return "", []
        return (self._read(f"{base}/0/operations").strip(),
                self._read(f"{base}/0/avail_operations").split())

    def targets(self, kdamond: int) -> list[int]:
        """The pids of context 0's targets."""
        base = f"{kdamond}/contexts/0/targets"
        count = parse_unsigned(self._read(f"{base}/nr_targets"), "nr_targets")
        return [parse_signed(self._read(f"{base}/{t}/pid_target"), "pid_target") for t in range(count)]

    def scheme_sz_max(self, kdamond: int, scheme: int) -> int | None:
        """A scheme's access_pattern/sz/max, None when the scheme does not exist."""
        base = f"{kdamond}/contexts/0/schemes"
        if parse_unsigned(self._read(f"{base}/nr_schemes"), "nr_schemes") <= scheme:
            return None
        return parse_unsigned(self._read(f"{base}/{scheme}/access_pattern/sz/max"), "sz/max")

    def configure(self, kdamond: int, pid: int, attrs: Attributes, marker: int,
                  regions: Sequence[tuple[int, int]] = ()) -> None:
        """Set up kdamond K's context (made by writing its nr_contexts): vaddr, ``attrs``, ``pid`` as its
        one target, and one stat scheme that takes every region (its access pattern spans all, with
        ``marker`` as the size bound). ``regions`` are the target's initial regions
        (targets/0/regions): DAMON keeps them and adapts from there, where without
        them it starts from three spans of the whole address space.

        One kdamond per process, not one target each in a shared context: a
        tried region does not say its target, and the "target" filter that
        would tell them apart changed between kernels.
        """
        context = f"{kdamond}/contexts/0"
        self.write(f"{context}/operations", "vaddr")
        intervals = f"{context}/monitoring_attrs/intervals"
        self.write(f"{intervals}/sample_us", attrs.sample_us)
        self.write(f"{intervals}/aggr_us", attrs.aggr_us)
        self.write(f"{intervals}/update_us", attrs.update_us)
        self.write(f"{context}/monitoring_attrs/nr_regions/min", attrs.min_regions)
        self.write(f"{context}/monitoring_attrs/nr_regions/max", attrs.max_regions)
        self.write(f"{context}/targets/nr_targets", 1)
        self.write(f"{context}/targets/0/pid_target", pid)
        if regions:
            self.write(f"{context}/targets/0/regions/nr_regions", len(regions))
            for index, (start, end) in enumerate(regions):
                self.write(f"{context}/targets/0/regions/{index}/start", start)
                self.write(f"{context}/targets/0/regions/{index}/end", end)
        self.write(f"{context}/schemes/nr_schemes", 1)
        scheme = f"{context}/schemes/0"
        self.write(f"{scheme}/action", "stat")
        for name, top in (("sz", marker), ("nr_accesses", UINT_MAX), ("age", UINT_MAX)):
            self.write(f"{scheme}/access_pattern/{name}/min", 0)
            self.write(f"{scheme}/access_pattern/{name}/max", top)

    def tried_regions(self, kdamond: int) -> list[tuple[int, int, int, int]]:
        """(start, end, nr_accesses, age) of each region scheme 0 tried at the last update, in address
        order; age counts aggregation intervals.

        The hot path: four small files per region per sample, read with
        :meth:`Kernel.read_files <numamove.kernel.Kernel.read_files>` (one openat(2)
        and one read(2) each, below the directory opened once).
        """
        base = f"{KDAMONDS}/{kdamond}/contexts/0/schemes/0/tried_regions"
        try:
            names = [f"{name}/{field}" for name in self.kernel.listdir(base) if name.isdigit()
                     for field in TRIED_FIELDS]
            words = self.kernel.read_files(base, names, 32)
        except OSError as error:
            raise damon_error(error, "a read of the tried regions") from None
        numbers = [parse_unsigned(word.decode(errors="replace"), f"{base}/{name}")
                   for name, word in zip(names, words, strict=True)]
        regions = [(numbers[i], numbers[i + 1], numbers[i + 2], numbers[i + 3])
                   for i in range(0, len(numbers), len(TRIED_FIELDS))]
        regions.sort()
        return regions
