"""Where each page's node comes from: PFN -> node, or a move_pages(2) query.

:func:`place_pages` reads the VMAs' pagemap entries through the one chunked
reader (:mod:`.reader`) and gives each present page its node, one of two ways:

- "pagemap": the PFN in the entry (shown to CAP_SYS_ADMIN only) is looked up
  in the memory-block map (:mod:`numamove.topology.frames`); the zero pages'
  frames are left out, as numa_maps leaves them out.
- "query": move_pages(2) without target nodes, for the present pages alone.

Then it keeps per VMA: counts only (memory bounded whatever the mappings'
size), the present pages' addresses and nodes, or every page's node.

Reads /proc/PID/pagemap, /proc/self/pagemap (probes), /sys/devices/system/memory
and node directories; calls move_pages(2). May import: numpy, :mod:`numamove.kernel`,
:mod:`numamove.procfs`, :mod:`numamove.topology`, :mod:`numamove.model`, :mod:`numamove.units`,
and the move_pages wrapper.
"""

from __future__ import annotations

import errno
from collections.abc import Iterable
from typing import BinaryIO

import numpy as np
import numpy.typing as npt

from numamove._format import human_bytes
from numamove.errors import InvalidInputError, NotPermittedError
from numamove.kernel import Kernel, process_errors
from numamove.model import SPECIAL_MAPPINGS, PagePlacement, Vma
from numamove.move.pages import move_pages
from numamove.procfs.pagemap import count_swapped, frame_numbers, present, swapped
from numamove.procfs.sysfs import parse_meminfo
from numamove.scan.probes import sees_pfns, zero_page_pfns
from numamove.scan.reader import PAGE_OFFSETS, Buffers, Chunk, borrow_buffers, read_chunks, span
from numamove.topology.frames import FrameNodes, frame_nodes
from numamove.units import NOT_PRESENT, PAGE_SIZE

__all__ = ["KEPT_BYTES_PER_PAGE", "METHODS", "add_counts", "check_kept_size", "place_pages", "place_with"]

METHODS = ("auto", "pagemap", "query")
KEPT_BYTES_PER_PAGE = 48
"""Peak bytes per page of address space while per-page arrays are built (the arrays kept:
address 8, node 4, swapped 1, PFN 8; the rest is pagemap's entries and their decoding)."""
_U64 = npt.NDArray[np.uint64]
_I32 = npt.NDArray[np.int32]


def place_pages(kernel: Kernel, pid: int, vmas: list[Vma], method: str, keep: str) -> str:
    """Fill each VMA's pages_by_node and swapped count from pagemap; returns the method used,
    "pagemap" or "query".

    ``keep`` "all" gives each VMA its per-page arrays, "present" arrays of its
    present pages; "" counts pagemap chunk by chunk, so memory stays bounded
    whatever the size of the mappings.
    """
    if method not in METHODS:
        raise InvalidInputError(f"method must be auto, pagemap or query, not {method!r}")
    privileged = method != "query" and sees_pfns(kernel)  # a query scan has no use for PFNs
    if method == "pagemap" and not privileged:
        raise NotPermittedError(errno.EPERM, "reading PFNs from pagemap needs CAP_SYS_ADMIN (in the "
                                "initial user namespace); use method 'query' (move_pages) instead", "")
    wanted = [vma for vma in vmas if not vma.gone and vma.path not in SPECIAL_MAPPINGS]
    if keep == "all":
        check_kept_size(kernel, pid, wanted)
    frames = frame_nodes(kernel, lambda: zero_page_pfns(kernel)) if privileged else None
    place_with(kernel, pid, wanted, frames, keep)
    return "query" if frames is None else "pagemap"


def place_with(kernel: Kernel, pid: int, vmas: list[Vma], frames: FrameNodes | None, keep: str) -> None:
    """:func:`place_pages` with the PFN -> node map given: ``frames`` None queries move_pages(2).

    Every VMA given is read (none skipped): the caller chose them.
    """
    with process_errors(pid, "pagemap"):
        pagemap = kernel.open(f"proc/{pid}/pagemap")
    with pagemap, borrow_buffers(kernel) as buffers:
        _Placer(kernel, pid, frames, buffers).place(pagemap, vmas, keep)


class _Placer:
    """One scan's way to a page's node, and what it keeps of each VMA."""

    def __init__(self, kernel: Kernel, pid: int, frames: FrameNodes | None, buffers: Buffers) -> None:
        self.kernel, self.pid, self.frames, self.buffers = kernel, pid, frames, buffers

    def query(self, addresses: _U64, out: _I32 | None = None) -> _I32:
        """move_pages(2) statuses of present pages; a vanished process is the caller's to report."""
        if len(addresses) == 0:
            return np.empty(0, dtype=np.int32)
        return move_pages(self.pid, addresses, kernel=self.kernel, out=out)

    def place(self, pagemap: BinaryIO, vmas: list[Vma], keep: str) -> None:
        for vma in vmas:
            vma.pages_by_node, vma.swapped = {}, 0
        if keep == "":
            for chunk in read_chunks(self.kernel, pagemap, vmas, self.buffers):
                if len(chunk.pieces) == 1:
                    self.count_one(chunk)
                else:
                    self.count_many(chunk)
            for vma in vmas:
                vma.pages_by_node = dict(sorted(vma.pages_by_node.items()))
            return
        parts: dict[int, list[tuple[_U64, _U64 | None]]] = {id(vma): [] for vma in vmas}
        for chunk in read_chunks(self.kernel, pagemap, vmas, self.buffers):
            for vma, at, count, first in chunk.pieces:
                raw = chunk.raw[at:at + count]
                if keep == "all":
                    parts[id(vma)].append((raw.copy(), None))
                    continue
                vma.swapped = (vma.swapped or 0) + count_swapped(raw)
                mask = present(raw, out=self.buffers.present[:count])
                addresses = PAGE_OFFSETS[:count][mask] + np.uint64(first * PAGE_SIZE)
                parts[id(vma)].append((addresses, frame_numbers(raw[mask]) if self.frames else None))
        for vma in vmas:
            (self.keep_all if keep == "all" else self.keep_present)(vma, parts[id(vma)])

    def count_one(self, chunk: Chunk) -> None:
        """Count the present pages of one VMA's chunk per node (by PFN runs, or a query)."""
        vma, at, size, first = chunk.pieces[0]
        raw = chunk.raw[at:at + size]
        per_node = vma.pages_by_node
        buffers = self.buffers
        if self.frames is not None:
            vma.swapped = (vma.swapped or 0) + self.frames.count(raw, buffers.scratch, per_node)
            return
        vma.swapped = (vma.swapped or 0) + count_swapped(raw)
        mask = present(raw, out=buffers.present[:len(raw)])
        count = int(np.count_nonzero(mask))
        addresses = buffers.scratch[:count]
        if count == len(raw):  # all present: no selection, whose index array would cost page faults
            np.copyto(addresses, PAGE_OFFSETS[:count])
        else:
            np.compress(mask, PAGE_OFFSETS[:len(raw)], out=addresses)
        np.add(addresses, np.uint64(first * PAGE_SIZE), out=addresses)
        add_counts(self.query(addresses, buffers.status[:count]), per_node)

    def count_many(self, chunk: Chunk) -> None:
        """Count the pages of several small VMAs per node in one pass: their owners run-length coded."""
        raw, pieces = chunk.raw, chunk.pieces
        bins = len(pieces) + 1  # the last bin: gaps between the VMAs of a run
        owners: list[int] = []
        lengths: list[int] = []
        at = 0
        for index, (_, start, count, _) in enumerate(pieces):
            owners += (bins - 1, index)
            lengths += (start - at, count)
            at = start + count
        owners.append(bins - 1)
        lengths.append(len(raw) - at)
        owner = np.repeat(np.array(owners, dtype=np.intp), lengths)
        entries = raw.view(np.int64)
        swaps = (np.bincount(owner[swapped(raw)], minlength=bins) if count_swapped(raw)
                 else np.zeros(bins, dtype=np.intp))
        where = np.flatnonzero(entries < 0)
        if self.frames is not None:
            nodes = self.frames.lookup(frame_numbers(raw[where]))
        else:
            nodes = self.query(chunk.page_numbers()[where] * np.uint64(PAGE_SIZE))
        lowest = int(nodes.min()) if len(nodes) else -1
        if lowest == int(nodes.max(initial=-1)):  # one node for all (the usual case), or none counted
            per_vma = np.bincount(owner[where], minlength=bins) if lowest >= 0 else np.zeros(bins, np.intp)
            rows = [{lowest: count} if count else {} for count in per_vma.tolist()]
        else:
            counted = nodes >= 0
            nodes = nodes[counted].astype(np.intp)
            width = int(nodes.max()) + 1 if len(nodes) else 1
            table = np.bincount(owner[where[counted]] * width + nodes, minlength=bins * width)
            rows = [{node: count for node, count in enumerate(row) if count}
                    for row in table.reshape(bins, width).tolist()]
        for (vma, _, _, _), row, swaps_of in zip(pieces, rows, swaps.tolist(), strict=False):
            _add(row.items(), vma.pages_by_node)
            vma.swapped = (vma.swapped or 0) + swaps_of

    def keep_present(self, vma: Vma, parts: list[tuple[_U64, _U64 | None]]) -> None:
        """The present pages of ``vma`` with their nodes (and PFNs)."""
        where = np.concatenate([a for a, _ in parts]) if parts else np.empty(0, dtype=np.uint64)
        pfns = None
        if self.frames is not None:
            pfns = np.concatenate([p for _, p in parts if p is not None]) if parts else np.empty(0, np.uint64)
            nodes = self.frames.lookup(pfns)
        else:
            nodes = self.query(where)
        add_counts(nodes, vma.pages_by_node)
        vma.pages_by_node = dict(sorted(vma.pages_by_node.items()))
        vma.pages = PagePlacement(where, nodes, np.zeros(len(where), dtype=np.bool_), pfns, present_only=True)

    def keep_all(self, vma: Vma, parts: list[tuple[_U64, _U64 | None]]) -> None:
        """Every page of ``vma``: its address, node (or NOT_PRESENT, ZERO_PAGE), swapped bit, PFN."""
        raw = np.concatenate([r for r, _ in parts]) if parts else np.empty(0, dtype=np.uint64)
        low = (vma.scanned or (vma.start, vma.end))[0]
        mask, swaps = present(raw), swapped(raw)
        pfns = frame_numbers(raw) * mask
        addresses = np.uint64(low) + np.arange(len(raw), dtype=np.uint64) * np.uint64(PAGE_SIZE)
        nodes = np.full(len(raw), NOT_PRESENT, dtype=np.int32)
        if self.frames is not None:
            nodes[mask] = self.frames.lookup(pfns[mask])
        elif mask.any():
            nodes[mask] = self.query(addresses[mask])
        counts = np.bincount(nodes[nodes >= 0]) if (nodes >= 0).any() else np.empty(0, np.intp)
        vma.pages_by_node = {node: int(c) for node, c in enumerate(counts) if c}
        vma.swapped = int(swaps.sum())
        vma.pages = PagePlacement(addresses, nodes, swaps, pfns if self.frames else None)


def _add(counts: Iterable[tuple[int, int]], per_node: dict[int, int]) -> None:
    for node, count in counts:
        if count:
            per_node[node] = per_node.get(node, 0) + count


def add_counts(statuses: _I32, per_node: dict[int, int]) -> None:
    """Add how many of ``statuses`` name each node to ``per_node``.

    Comparisons per node, not bincount: a chunk's pages are mostly on one node,
    and bincount then stalls on a single counter for each page.
    """
    if len(statuses) == 0:
        return
    lowest, high = int(statuses.min()), int(statuses.max())
    if high < 0:
        return
    low = max(lowest, 0)
    counts: Iterable[tuple[int, int]]
    if high - low >= 8:
        counts = enumerate(np.bincount(statuses[statuses >= 0]).tolist())
    elif lowest == high:
        counts = [(high, len(statuses))]
    else:
        counts = [(node, int(np.count_nonzero(statuses == node))) for node in range(low, high + 1)]
    _add(counts, per_node)


def check_kept_size(kernel: Kernel, pid: int, vmas: list[Vma]) -> None:
    """Refuse a per-page view that would take more than a quarter of the memory available
    (/proc/meminfo's MemAvailable).

    The arrays cover every page of a VMA, present or not, and a process may
    reserve terabytes it never touches (a JVM heap, AddressSanitizer's shadow).
    """
    spans = [(span(vma), vma) for vma in vmas if not vma.gone and vma.path not in SPECIAL_MAPPINGS]
    pages = sum(end - first for (first, end), _ in spans)
    try:
        available = parse_meminfo(kernel.read_text("proc/meminfo")).get("MemAvailable")
    except OSError:
        available = None
    if not spans or available is None or pages * KEPT_BYTES_PER_PAGE <= available // 4:
        return
    (first, end), largest = max(spans, key=lambda item: item[0][1] - item[0][0])
    raise InvalidInputError(
        f"the per-page view of pid {pid} covers {human_bytes(pages * PAGE_SIZE)} of address space and would "
        f"need {human_bytes(pages * KEPT_BYTES_PER_PAGE)}, over a quarter of the "
        f"{human_bytes(available)} available (the largest VMA: {first * PAGE_SIZE:#x}-{end * PAGE_SIZE:#x} "
        f"{largest.path or largest.kind.value}); narrow it with --range or --vma")
