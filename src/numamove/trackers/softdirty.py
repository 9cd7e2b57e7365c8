"""The soft-dirty tracker: which pages each process wrote, interval by interval.

Documentation/admin-guide/mm/soft-dirty.rst: writing "4" to /proc/PID/clear_refs
clears the soft-dirty bit of every page of the process and write-protects
them; the next write to a page faults, and the kernel sets the bit again.
Bit 55 of the page's /proc/PID/pagemap entry shows it.

- :meth:`SoftDirtyTracker.start` clears each process's bits.
- :meth:`SoftDirtyTracker.sample` reads /proc/PID/maps and pagemap (through
  the scan's one chunked reader: bounded memory, no per-page Python), turns
  the written pages into runs, then clears again: the interval ends when
  ``sample()`` is called, not when its regions are consumed. Each run of
  written pages is one :class:`~numamove.trackers.Region` of heat 1.0,
  ``written=True``; runs end at every hole between mappings and merge across
  chunk boundaries and between touching mappings. Unwritten pages (heat 0)
  are not reported.
- :meth:`SoftDirtyTracker.stop` has nothing to restore: a clear cannot be
  undone, and it is harmless to the process (CRIU clears the same bits). Its
  only effect is that the next write to each page takes a minor fault.

A process that exits is reported by ``start()`` or ``sample()`` raising
:class:`~numamove.errors.NoSuchProcessError` (a ProcessLookupError), naming
it, before any region of that sample: a zombie (exited, not yet reaped)
counts as exited. Another user's process refuses the write to clear_refs:
:class:`~numamove.errors.NotPermittedError` says so.

Reads /proc/PID/maps, /proc/PID/pagemap and /proc/self/pagemap (the probe);
writes /proc/PID/clear_refs; all through the :class:`~numamove.kernel.Kernel`.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator, Mapping, Sequence
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from numamove._inputs import check_pid
from numamove.errors import (
    InvalidInputError,
    KernelError,
    NoSuchProcessError,
    NotPermittedError,
    kernel_error,
)
from numamove.kernel import Kernel, process_errors
from numamove.model import SPECIAL_MAPPINGS, Vma, VmaKind
from numamove.procfs.maps import parse_maps
from numamove.procfs.pagemap import PM_SOFT_DIRTY, true_runs, written
from numamove.scan.probes import own_written_page_entry
from numamove.scan.reader import Buffers, Chunk, borrow_buffers, read_chunks
from numamove.trackers.base import Region, TrackerInfo, register
from numamove.units import CHUNK_PAGES, PAGE_SIZE

__all__ = ["HEAT_UNIT", "INFO", "SoftDirtyTracker", "clear_soft_dirty", "sees_soft_dirty", "written_runs"]

HEAT_UNIT = "written in the interval (1 = written)"
CLEAR_SOFT_DIRTY = "4"
"""What /proc/PID/clear_refs takes to clear the soft-dirty bits (CLEAR_REFS_SOFT_DIRTY in task_mmu.c)."""

INFO = TrackerInfo(
    name="softdirty",
    heat_unit=HEAT_UNIT,
    sees="which pages each process wrote during the interval (pagemap's soft-dirty bit, 55)",
    cannot_see="reads (a page only read never shows); how many times a page was written within one "
               "interval; which node's CPUs wrote it; hugetlb pages (the kernel keeps no soft-dirty bit "
               "for them); a mapping made during the interval counts all its pages in memory as written",
    cost="each interval writes 4 to /proc/PID/clear_refs: a walk of the process's page tables that "
         "write-protects every page and flushes its TLB, after which the next write to each page takes "
         "a minor fault; then /proc/PID/maps and 8 bytes of pagemap per mapped page are read. Clearing "
         "cannot be undone but is harmless to the process. Needs CONFIG_MEM_SOFT_DIRTY",
    options={},
)

_Pages = npt.NDArray[np.intp]


class SoftDirtyTracker:
    """Pages written by ``pids`` per interval, from soft-dirty bits. Takes no options."""

    info: ClassVar[TrackerInfo] = INFO

    def __init__(self, kernel: Kernel, pids: Sequence[int], options: Mapping[str, str]) -> None:
        if options:
            raise InvalidInputError(f"the softdirty tracker takes no options: not "
                                    f"{', '.join(sorted(map(str, options)))}")
        checked = sorted({check_pid(pid) for pid in pids})
        if not checked:
            raise InvalidInputError("the softdirty tracker needs at least one pid")
        if checked[0] == 0:
            raise InvalidInputError("the softdirty tracker needs real pids, not 0")
        self.kernel = kernel
        self.pids = checked
        self.running = False
        self._known: dict[int, tuple[str, list[Vma]]] = {}
        """Each pid's last /proc/PID/maps text and its VMAs: most intervals find it unchanged."""

    @staticmethod
    def unavailable(kernel: Kernel) -> str | None:
        """Why this kernel cannot track soft-dirty bits, in plain words, or None when it can."""
        for name in ("clear_refs", "pagemap"):
            if not kernel.exists(f"proc/self/{name}"):
                return (f"/proc/self/{name} is missing: the kernel was built without "
                        f"CONFIG_PROC_PAGE_MONITOR, which soft-dirty tracking needs")
        if not sees_soft_dirty(kernel):
            return ("the kernel never sets the soft-dirty bit (pagemap bit 55), not even on a page just "
                    "written: it was built without CONFIG_MEM_SOFT_DIRTY, or this architecture has no "
                    "soft-dirty bit in its page tables")
        return None

    def start(self) -> None:
        """Clear the soft-dirty bits of every process: the first interval starts now."""
        for pid in self.pids:
            clear_soft_dirty(self.kernel, pid)
        self.running = True

    def sample(self) -> Iterator[Region]:
        """The runs of pages written since the last clear, per process; then clear again.

        Every process is read and cleared before this returns, so the next
        interval starts now; the regions are made as the iterator is consumed.
        """
        if not self.running:
            raise InvalidInputError("the softdirty tracker samples between start() and stop()")
        found: list[tuple[int, _Pages, _Pages]] = []
        for pid in self.pids:
            starts, ends = written_runs(self.kernel, pid, self._known)
            clear_soft_dirty(self.kernel, pid)
            found.append((pid, starts, ends))
        return _regions(found)

    def stop(self) -> None:
        """Stop sampling. Nothing to restore: the bits stay cleared, which only costs each page's
        next write a minor fault."""
        self.running = False
        self._known.clear()


def _regions(found: list[tuple[int, _Pages, _Pages]]) -> Iterator[Region]:
    # A fragmented process gives tens of thousands of runs, each valid by construction (start < end,
    # heat 1): filling the instance's __dict__ skips the dataclass __init__ and its checks, 2.4 times
    # faster. tests/unit/test_softdirty.py checks that these regions equal checked ones.
    make, fill = object.__new__, object.__setattr__
    for pid, starts, ends in found:
        for start, end in zip((starts * PAGE_SIZE).tolist(), (ends * PAGE_SIZE).tolist(), strict=True):
            region = make(Region)
            fill(region, "__dict__", {"pid": pid, "start": start, "end": end, "heat": 1.0,
                                      "heat_unit": HEAT_UNIT, "written": True, "accessing_nodes": None})
            yield region


def clear_soft_dirty(kernel: Kernel, pid: int) -> None:
    """Write "4" to /proc/``pid``/clear_refs: clear every soft-dirty bit of the process."""
    try:
        kernel.write(f"proc/{pid}/clear_refs", CLEAR_SOFT_DIRTY)
    except OSError as error:
        raise _clear_error(error, pid) from None


def _clear_error(error: OSError, pid: int) -> KernelError:
    if error.errno in (errno.ENOENT, errno.ESRCH):
        return NoSuchProcessError(errno.ESRCH, f"no such process: pid {pid} has exited", "")
    if error.errno in (errno.EACCES, errno.EPERM):
        return NotPermittedError(errno.EPERM, f"cannot write /proc/{pid}/clear_refs: pid {pid} belongs to "
                                 f"another user; soft-dirty tracking runs as its user or as root", "")
    return kernel_error(error.errno or errno.EIO, "",
                        f"cannot write /proc/{pid}/clear_refs: {error.strerror or error}")


def written_runs(kernel: Kernel, pid: int, known: dict[int, tuple[str, list[Vma]]] | None = None,
                 ) -> tuple[_Pages, _Pages]:
    """The pages ``pid`` wrote since its last clear, as runs of page numbers: ``starts``, ``ends``.

    Reads /proc/PID/maps, then /proc/PID/pagemap chunk by chunk. Runs are in
    address order, end at every hole between mappings, and join when they
    touch. A process with no memory map (exited, a zombie) raises
    :class:`NoSuchProcessError`. ``known`` keeps each pid's last maps and
    VMAs, so that an unchanged maps file is not parsed again.
    """
    with process_errors(pid, "maps"):
        text = kernel.read_text(f"proc/{pid}/maps")
    if not text:
        raise NoSuchProcessError(errno.ESRCH, f"no such process: pid {pid} has exited (no memory left)", "")
    seen = known.get(pid) if known is not None else None
    if seen is not None and seen[0] == text:
        vmas = seen[1]
        for vma in vmas:
            vma.gone = False
    else:
        vmas = [Vma(entry.start, entry.end, entry.perms, entry.offset, entry.path, VmaKind.OTHER, "",
                    PAGE_SIZE, {}) for entry in parse_maps(text) if entry.path not in SPECIAL_MAPPINGS]
        if known is not None:
            known[pid] = (text, vmas)
    runs = _Runs()
    with process_errors(pid, "pagemap"):
        pagemap = kernel.open(f"proc/{pid}/pagemap")
    with process_errors(pid, "pagemap"), pagemap, borrow_buffers(kernel) as buffers:
        for chunk in read_chunks(kernel, pagemap, vmas, buffers):
            runs.add(chunk, buffers)
    return runs.joined()


class _Runs:
    """Runs of written pages gathered chunk by chunk, as page numbers."""

    def __init__(self) -> None:
        self.starts: list[_Pages] = []
        self.ends: list[_Pages] = []
        self.mask = np.zeros(CHUNK_PAGES + 2, dtype=np.bool_)
        """The chunk's written pages between two False guards (true_runs then copies nothing)."""

    def add(self, chunk: Chunk, buffers: Buffers) -> None:
        raw = chunk.raw
        size = len(raw)
        if size == 0:
            return
        guarded = self.mask[:size + 2]
        guarded[size + 1] = False
        mask = written(raw, out=guarded[1:size + 1], scratch=buffers.scratch[:size])
        pieces = chunk.pieces
        if len(pieces) > 1 or pieces[0][1] != 0 or pieces[0][2] != size:
            done = 0  # the holes between the mappings read together: no page of ours, whatever they say
            for _vma, at, count, _first in pieces:
                mask[done:at] = False
                done = at + count
            mask[done:] = False
        reads = chunk.reads
        if len(reads) == 1:  # one VMA's chunk, or VMAs that follow each other
            starts, ends = true_runs(guarded, guarded=True)
            if len(starts):
                shift = reads[0][0]
                starts += shift
                ends += shift
        else:
            counts = np.array([count for _, count in reads], dtype=np.intp)
            offsets = np.concatenate([np.zeros(1, dtype=np.intp), np.cumsum(counts)[:-1]])
            starts, ends = true_runs(guarded, offsets[1:], guarded=True)
            if len(starts):
                firsts = np.array([first for first, _ in reads], dtype=np.intp)
                shifts = (firsts - offsets)[np.searchsorted(offsets, starts, side="right") - 1]  # by read
                starts = starts + shifts
                ends = ends + shifts
        if len(starts):
            self.starts.append(starts)
            self.ends.append(ends)

    def joined(self) -> tuple[_Pages, _Pages]:
        """All runs in address order, those that touch joined."""
        if not self.starts:
            empty = np.empty(0, dtype=np.intp)
            return empty, empty.copy()
        if len(self.starts) == 1:
            starts, ends = self.starts[0], self.ends[0]
        else:
            starts, ends = np.concatenate(self.starts), np.concatenate(self.ends)
            if np.any(starts[1:] < starts[:-1]):  # a mapping re-read after it changed under the reader
                order = np.argsort(starts, kind="stable")
                starts, ends = starts[order], ends[order]
        touching = (starts[1:] == ends[:-1]).nonzero()[0]
        if len(touching) == 0:
            return starts, ends
        return np.delete(starts, touching + 1), np.delete(ends, touching)


def sees_soft_dirty(kernel: Kernel) -> bool:
    """Whether the kernel sets the soft-dirty bit: a page of our own, just written, must show it.

    A write sets the bit on any kernel that tracks soft-dirty (a write fault
    after a clear, or the bit still set before any), so this clears nothing.
    Reads /proc/self/pagemap.
    """
    entry = own_written_page_entry(kernel)
    return entry is not None and bool(entry & PM_SOFT_DIRTY)


register("softdirty", SoftDirtyTracker)
