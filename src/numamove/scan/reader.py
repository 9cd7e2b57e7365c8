"""The one chunked reader of /proc/PID/pagemap: VMAs in, chunks of entries out.

Every per-page view reads pagemap here. Large VMAs are read chunk by chunk
(:data:`~numamove.units.CHUNK_PAGES` entries, 512 KiB); small VMAs close to
each other are read in one call (the gap too) and several such runs share
one chunk, so a process's hundreds of library mappings cost a few reads and
one numpy pass. A read that comes back short marks the VMA ``gone`` (unmapped
while we read); a run that comes back short is read again VMA by VMA to tell
which. The chunk arrays are reused from scan to scan, kept on the Kernel.

Reads /proc/PID/pagemap through :meth:`Kernel.read_into` (pread).
May import: numpy, :mod:`numamove.kernel`, :mod:`numamove.model`, :mod:`numamove.units`.
"""

from __future__ import annotations

import queue
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import numpy.typing as npt

from numamove.kernel import Kernel
from numamove.model import Vma
from numamove.units import CHUNK_PAGES, PAGE_SIZE

__all__ = ["PAGE_OFFSETS", "Buffers", "Chunk", "batches", "borrow_buffers", "read_chunks", "span"]

NEAR = 256
"""VMAs at most this many pages apart are read from pagemap in one call, the gap too."""
ALONE = 4096
"""A VMA of more pages than this is read on its own, chunk by chunk."""

PAGE_OFFSETS = np.arange(CHUNK_PAGES, dtype=np.uint64) * np.uint64(PAGE_SIZE)
"""The byte offset of each page of a chunk, to pick present pages' addresses from (read-only)."""
PAGE_OFFSETS.setflags(write=False)


@dataclass(frozen=True)
class Buffers:
    """Per-chunk arrays of a scan, CHUNK_PAGES entries each."""

    entries: npt.NDArray[np.uint64]
    scratch: npt.NDArray[np.uint64]
    present: npt.NDArray[np.bool_]
    status: npt.NDArray[np.int32]


@contextmanager
def borrow_buffers(kernel: Kernel) -> Iterator[Buffers]:
    """Buffers kept on ``kernel`` from one scan to the next (one set per scan at a time): fresh
    512 KiB arrays cost a page fault per 4 KiB each time, a tenth of a whole scan's time."""
    idle: queue.SimpleQueue[Buffers] = kernel.kept("scan.buffers", queue.SimpleQueue)
    try:
        buffers = idle.get_nowait()
    except queue.Empty:
        buffers = Buffers(np.empty(CHUNK_PAGES, dtype=np.uint64), np.empty(CHUNK_PAGES, dtype=np.uint64),
                          np.empty(CHUNK_PAGES, dtype=np.bool_), np.empty(CHUNK_PAGES, dtype=np.int32))
    try:
        yield buffers
    finally:
        idle.put(buffers)


def span(vma: Vma) -> tuple[int, int]:
    """The VMA's (or its scanned part's) first page and end page (exclusive), as page numbers."""
    low, high = vma.scanned or (vma.start, vma.end)
    return low // PAGE_SIZE, high // PAGE_SIZE


@dataclass(slots=True)
class Chunk:
    """pagemap entries of one or more VMAs, read at once.

    ``raw`` is a view of a reused buffer, valid until the next chunk is read.
    ``reads`` holds the (first page, pages) of each read it is made of, in
    order; ``pieces`` each VMA's part: (vma, index of its first entry in
    ``raw``, entries, the page number of its first entry). Entries of no
    piece are gaps between nearby VMAs.
    """

    raw: npt.NDArray[np.uint64]
    reads: list[tuple[int, int]]
    pieces: list[tuple[Vma, int, int, int]]

    def page_numbers(self) -> npt.NDArray[np.uint64]:
        """The virtual page number of each entry of ``raw``."""
        return np.concatenate([np.arange(first, first + count, dtype=np.uint64)
                               for first, count in self.reads])


def batches(vmas: list[Vma]) -> list[list[list[Vma]]]:
    """The VMAs as batches of runs: each run is VMAs close together, read from pagemap in one
    call; each batch is runs of at most one chunk of pages in all, handled in one pass.

    A process has hundreds of small VMAs (each library maps four or five): a read
    per run and one numpy pass per batch cost far less than a pass per VMA. A
    large VMA forms a batch of its own.
    """
    found: list[list[list[Vma]]] = []
    filled = CHUNK_PAGES  # pages in the last batch; full: the next VMA opens a new one
    for vma in vmas:
        first, end = span(vma)
        if end - first > ALONE:
            found.append([[vma]])
            filled = CHUNK_PAGES
            continue
        run_end = span(found[-1][-1][-1])[1] if filled < CHUNK_PAGES else 0
        if filled < CHUNK_PAGES and 0 <= first - run_end <= NEAR and filled + end - run_end <= CHUNK_PAGES:
            found[-1][-1].append(vma)  # read with the run before it, the gap too
            filled += end - run_end
        elif filled + end - first <= CHUNK_PAGES:
            found[-1].append([vma])
            filled += end - first
        else:
            found.append([[vma]])
            filled = end - first
    return found


def read_chunks(kernel: Kernel, pagemap: BinaryIO, vmas: list[Vma], buffers: Buffers) -> Iterator[Chunk]:
    """The pagemap entries of ``vmas`` (their scanned parts), as chunks, in address order."""
    for batch in batches(vmas):
        if len(batch) == 1 and len(batch[0]) == 1:
            yield from _alone(kernel, pagemap, batch[0][0], buffers)
            continue
        reads: list[tuple[int, int]] = []
        pieces: list[tuple[Vma, int, int, int]] = []
        broken: list[Vma] = []
        filled = 0
        for run in batch:
            first, end = span(run[0])[0], span(run[-1])[1]
            got = kernel.read_into(pagemap, buffers.entries[filled:filled + end - first], first * 8) // 8
            if got < end - first:  # something was unmapped meanwhile: read VMA by VMA to tell which
                broken += run
                continue
            for vma in run:
                low, high = span(vma)
                pieces.append((vma, filled + low - first, high - low, low))
            reads.append((first, end - first))
            filled += end - first
        if pieces:
            yield Chunk(buffers.entries[:filled], reads, pieces)
        for vma in broken:
            yield from _alone(kernel, pagemap, vma, buffers)


def _alone(kernel: Kernel, pagemap: BinaryIO, vma: Vma, buffers: Buffers) -> Iterator[Chunk]:
    """One VMA's entries, chunk by chunk; a short read marks it gone and ends it."""
    first, end = span(vma)
    for offset in range(first, end, CHUNK_PAGES):
        size = min(CHUNK_PAGES, end - offset)
        got = kernel.read_into(pagemap, buffers.entries[:size], offset * 8) // 8
        if got < size:
            vma.gone = True  # unmapped while we read
        yield Chunk(buffers.entries[:got], [(offset, got)], [(vma, 0, got, offset)])
        if vma.gone:
            return
