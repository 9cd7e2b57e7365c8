"""The "idlepage" tracker: which pages of a process were accessed, from /sys/kernel/mm/page_idle/bitmap.

Idle page tracking (Documentation/admin-guide/mm/idle_page_tracking.rst,
CONFIG_IDLE_PAGE_TRACKING) keeps one bit per page frame: the bitmap file is
an array of 64-bit words, bit ``pfn % 64`` of word ``pfn // 64`` for frame
``pfn``, read and written at 8-byte aligned offsets. Writing a 1 marks that
frame idle (and clears its accessed bits in the page tables); any access
since clears the mark, and a read shows 1 only for frames still idle.
Writing 0 changes nothing, so a run of words is written at once, zeros between.

Each interval this tracker takes the present pages of a process and their
frames from /proc/PID/pagemap (frames are shown to CAP_SYS_ADMIN only), reads
which of them stayed idle since they were marked, reports the others as
accessed (heat 1 per interval; runs of adjacent accessed pages are one region),
and marks them all idle again. Frames are grouped by bitmap word with numpy:
no per-page Python loop.

Reads /proc/PID/maps and /proc/PID/pagemap, reads and writes the bitmap, all
through the Kernel. May import: numpy, :mod:`numamove.kernel`,
:mod:`numamove.procfs`, :mod:`numamove.scan` (the PFN probes), :mod:`.base`.
"""

from __future__ import annotations

import errno
import itertools
from collections.abc import Iterator, Mapping, Sequence
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from numamove.errors import NotPermittedError
from numamove.kernel import Kernel
from numamove.kernel.process import process_errors
from numamove.procfs.maps import parse_maps
from numamove.procfs.pagemap import frame_numbers, present
from numamove.trackers.base import Region, TrackerInfo, register
from numamove.trackers.threads import check_pids
from numamove.units import CHUNK_PAGES, PAGE_SIZE

__all__ = ["BITMAP", "IdlePageTracker", "accessed_runs", "mark_idle", "present_frames", "still_idle"]

BITMAP = "sys/kernel/mm/page_idle/bitmap"
HEAT_UNIT = "accessed in the interval (idle page tracking)"
SPECIAL = frozenset({"[vvar]", "[vvar_vclock]", "[vdso]", "[vsyscall]", "[uprobes]"})
"""Mappings of kernel pages that idle page tracking cannot follow: they would always look accessed."""
GAP_WORDS = 64
"""Bitmap words at most this far apart are read or written in one call (the zeros between are harmless)."""

_U64 = npt.NDArray[np.uint64]
_BOOL = npt.NDArray[np.bool_]


def present_frames(kernel: Kernel, pid: int, skip: _U64 | None = None) -> tuple[_U64, _U64]:
    """The virtual page numbers of ``pid``'s present pages and their frames (PFNs), in address order.

    Read chunk by chunk from /proc/PID/pagemap. Pages without a frame (a reader
    without CAP_SYS_ADMIN sees 0) and frames in ``skip`` (the zero pages) are
    left out.
    """
    with process_errors(pid, "maps"):
        vmas = [vma for vma in parse_maps(kernel.read_text(f"proc/{pid}/maps")) if vma.path not in SPECIAL]
    pages: list[_U64] = []
    frames: list[_U64] = []
    entries = np.empty(CHUNK_PAGES, dtype=np.uint64)
    with process_errors(pid, "pagemap"), kernel.open(f"proc/{pid}/pagemap") as pagemap:
        for vma in vmas:
            first, end = vma.start // PAGE_SIZE, vma.end // PAGE_SIZE
            for offset in range(first, end, CHUNK_PAGES):
                got = kernel.read_into(pagemap, entries[:min(CHUNK_PAGES, end - offset)], offset * 8) // 8
                raw = entries[:got]
                where = np.flatnonzero(present(raw))
                pfns = frame_numbers(raw[where])
                keep = pfns != 0
                if skip is not None and len(skip):
                    keep &= ~np.isin(pfns, skip)
                pages.append(where[keep].astype(np.uint64) + np.uint64(offset))
                frames.append(pfns[keep])
    if not pages:
        return np.empty(0, dtype=np.uint64), np.empty(0, dtype=np.uint64)
    return np.concatenate(pages), np.concatenate(frames)


def _words(pfns: _U64) -> tuple[_U64, _U64, npt.NDArray[np.intp]]:
    """The distinct bitmap words of ``pfns``, each word's bits of them, and each pfn's word index."""
    words = pfns >> np.uint64(6)
    unique, index = np.unique(words, return_inverse=True)
    bits = np.zeros(len(unique), dtype=np.uint64)
    order = np.argsort(index, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(index[order]) != 0])
    if len(order):
        bits = np.bitwise_or.reduceat(np.uint64(1) << (pfns[order] & np.uint64(63)), starts)
    return unique, bits, index


def _runs(words: _U64) -> list[tuple[int, int]]:
    """Index ranges [i, j) of ``words`` (sorted) whose neighbours are at most GAP_WORDS apart."""
    if not len(words):
        return []
    cuts = np.flatnonzero(np.diff(words) > GAP_WORDS) + 1
    bounds = np.r_[0, cuts, len(words)]
    return [(int(a), int(b)) for a, b in itertools.pairwise(bounds)]


def mark_idle(kernel: Kernel, pfns: _U64) -> int:
    """Mark the frames ``pfns`` idle: one bitmap write per run of nearby words. Returns the writes made."""
    words, bits, _ = _words(pfns)
    runs = _runs(words)
    for a, b in runs:
        first = int(words[a])
        buffer = np.zeros(int(words[b - 1]) - first + 1, dtype=np.uint64)
        buffer[(words[a:b] - np.uint64(first)).astype(np.intp)] = bits[a:b]
        kernel.write(BITMAP, buffer.tobytes(), offset=first * 8)
    return len(runs)


def still_idle(kernel: Kernel, pfns: _U64) -> _BOOL:
    """Whether each frame of ``pfns`` is still idle (not accessed since it was marked)."""
    words, _, index = _words(pfns)
    values = np.zeros(len(words), dtype=np.uint64)
    with kernel.open(BITMAP) as bitmap:
        for a, b in _runs(words):
            first = int(words[a])
            buffer = np.zeros(int(words[b - 1]) - first + 1, dtype=np.uint64)
            kernel.read_into(bitmap, buffer, first * 8)
            values[a:b] = buffer[(words[a:b] - np.uint64(first)).astype(np.intp)]
    idle: _BOOL = ((values[index] >> (pfns & np.uint64(63))) & np.uint64(1)) != 0
    return idle


def accessed_runs(pages: _U64) -> list[tuple[int, int]]:
    """Sorted virtual page numbers -> [start, end) address ranges of runs of adjacent pages."""
    if not len(pages):
        return []
    cuts = np.flatnonzero(np.diff(pages) != 1) + 1
    starts = pages[np.r_[0, cuts]]
    ends = pages[np.r_[cuts - 1, len(pages) - 1]] + np.uint64(1)
    return [(int(s) * PAGE_SIZE, int(e) * PAGE_SIZE) for s, e in zip(starts, ends, strict=True)]


class IdlePageTracker:
    """Accessed pages per interval, from idle page tracking."""

    info: ClassVar[TrackerInfo] = TrackerInfo(
        name="idlepage",
        heat_unit=HEAT_UNIT,
        sees="which present pages were accessed (read or written) in each interval",
        cannot_see="writes apart from reads; how often a page was accessed; which node accessed it; "
                   "pages the kernel does not track (hugetlb, kernel pages), which look accessed",
        cost="a pagemap read and a bitmap write and read per interval; marking pages idle clears "
             "their accessed bits (TLB flushes); needs CAP_SYS_ADMIN",
    )

    def __init__(self, kernel: Kernel, pids: Sequence[int], options: Mapping[str, str]) -> None:
        self.kernel = kernel
        self.pids = check_pids(pids, options)
        self._zero: _U64 | None = None

    @staticmethod
    def unavailable(kernel: Kernel) -> str | None:
        """Why idle page tracking cannot run here (not built, no PFNs for us), or None."""
        if not kernel.exists(BITMAP):
            return ("page_idle is not built into this kernel (CONFIG_IDLE_PAGE_TRACKING): "
                    f"{kernel.path(BITMAP)} is missing")
        from numamove.scan.probes import sees_pfns

        if not sees_pfns(kernel):
            return "pagemap shows us no page frame numbers: idle page tracking needs CAP_SYS_ADMIN"
        return None

    def _frames(self, pid: int) -> tuple[_U64, _U64]:
        if self._zero is None:
            try:
                from numamove.scan.probes import zero_page_pfns

                self._zero = zero_page_pfns(self.kernel)
            except OSError:
                self._zero = np.empty(0, dtype=np.uint64)
        return present_frames(self.kernel, pid, self._zero)

    def start(self) -> None:
        """Mark every present page of the processes idle."""
        for pid in self.pids:
            pages, pfns = self._frames(pid)
            if len(pages) == 0 and self._sees_no_frames(pid):
                raise NotPermittedError(errno.EPERM, "pagemap shows no page frame numbers: idle page "
                                                     "tracking needs CAP_SYS_ADMIN", "")
            mark_idle(self.kernel, pfns)

    def _sees_no_frames(self, pid: int) -> bool:
        """Whether the process has present pages but pagemap hides their frames."""
        with process_errors(pid, "pagemap"), self.kernel.open(f"proc/{pid}/pagemap") as pagemap:
            for vma in parse_maps(self.kernel.read_text(f"proc/{pid}/maps")):
                count = min((vma.end - vma.start) // PAGE_SIZE, CHUNK_PAGES)
                entries = np.zeros(count, dtype=np.uint64)
                got = self.kernel.read_into(pagemap, entries, vma.start // PAGE_SIZE * 8) // 8
                if present(entries[:got]).any():
                    return True
        return False

    def sample(self) -> Iterator[Region]:
        """The runs of pages accessed since the last mark, per process; then mark them all idle again."""
        for pid in self.pids:
            try:
                pages, pfns = self._frames(pid)
            except OSError:
                continue  # the process exited
            accessed = pages[~still_idle(self.kernel, pfns)] if len(pfns) else pages
            for start, end in accessed_runs(accessed):
                yield Region(pid, start, end, 1.0, HEAT_UNIT)
            mark_idle(self.kernel, pfns)

    def stop(self) -> None:
        """Nothing to undo: an idle mark is cleared by the page's next access and costs nothing."""


register("idlepage", IdlePageTracker)
