"""Placement of address ranges: how many present pages of each range live on each node.

A tracker reports regions (address ranges) and a profile records, per interval,
where each region's pages are. :func:`region_nodes` answers that for many
ranges at once: the process's VMAs are clipped to the ranges they overlap, read
by the one chunked pagemap reader (:mod:`.reader`), and each present page's
node comes from its PFN (:mod:`numamove.topology.frames`, needs CAP_SYS_ADMIN)
or from a move_pages(2) query, as in :mod:`.placement`. Pages are given their
range with one ``searchsorted`` per chunk: no per-page Python.
:func:`resident_nodes` is the process's present pages per node, as ``where``
counts them (numa_maps).

Reads /proc/PID/maps, /proc/PID/numa_maps, /proc/PID/pagemap, /proc/self/pagemap
(probes), /sys/devices/system/memory; calls move_pages(2) without target nodes.
May import: numpy, :mod:`numamove.kernel`, :mod:`numamove.procfs`, :mod:`numamove.topology`,
:mod:`numamove.model`, :mod:`numamove.units`, the scan's own modules and the move_pages wrapper.
"""

from __future__ import annotations

import dataclasses
import errno
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from numamove.errors import InvalidInputError, NotPermittedError
from numamove.kernel import Kernel, process_errors
from numamove.model import SPECIAL_MAPPINGS, ProcessMemory, Vma, VmaKind
from numamove.move.pages import move_pages
from numamove.procfs import parse_maps
from numamove.procfs.pagemap import frame_numbers
from numamove.scan.placement import METHODS
from numamove.scan.probes import sees_pfns, zero_page_pfns
from numamove.scan.process import ScanOptions, scan
from numamove.scan.reader import borrow_buffers, read_chunks
from numamove.topology.frames import FrameNodes, frame_nodes
from numamove.units import PAGE_SIZE

__all__ = ["mapped_vmas", "placement_frames", "region_nodes", "resident_nodes"]

_I64 = npt.NDArray[np.int64]


def placement_frames(kernel: Kernel, method: str = "auto") -> FrameNodes | None:
    """The PFN -> node map when pagemap shows PFNs (and ``method`` allows them), else None: query.

    Ask once per run and pass the answer to :func:`region_nodes`: the probe reads our own pagemap.
    """
    if method not in METHODS:
        raise InvalidInputError(f"method must be auto, pagemap or query, not {method!r}")
    privileged = method != "query" and sees_pfns(kernel)
    if method == "pagemap" and not privileged:
        raise NotPermittedError(errno.EPERM, "reading PFNs from pagemap needs CAP_SYS_ADMIN (in the "
                                "initial user namespace); use method 'query' (move_pages) instead", "")
    return frame_nodes(kernel, lambda: zero_page_pfns(kernel)) if privileged else None


def region_nodes(kernel: Kernel, pid: int, starts: Sequence[int] | _I64, ends: Sequence[int] | _I64, *,
                 frames: FrameNodes | str | None = "auto", vmas: Sequence[Vma] | None = None) -> _I64:
    """Present base pages per node of each range ``[starts[i], ends[i])`` of process ``pid``.

    Returns an int64 array of shape (ranges, node limit): row i, column n
    counts the pages of range i on node n. The ranges are sorted and do not
    overlap. ``frames`` is a PFN -> node map, None to ask move_pages(2), or
    "auto" (:func:`placement_frames`). ``vmas`` are the process's mappings when
    the caller has just read them (a scan); otherwise /proc/PID/maps is read.
    Parts of ranges outside every VMA, the kernel's own mappings ([vdso]...),
    zero pages and pages the kernel would not place count nowhere.
    """
    low = np.asarray(starts, dtype=np.int64).reshape(-1)
    high = np.asarray(ends, dtype=np.int64).reshape(-1)
    if len(low) != len(high):
        raise InvalidInputError(f"{len(low)} range starts but {len(high)} ends")
    if len(low) and (bool((low >= high).any()) or bool((low[1:] < high[:-1]).any()) or int(low[0]) < 0):
        raise InvalidInputError("ranges must be sorted, each [start, end) with start < end, none overlapping")
    width = kernel.node_limit()
    table = np.zeros((len(low), width), dtype=np.int64)
    if not len(low):
        return table
    if isinstance(frames, str):
        frames = placement_frames(kernel, frames)
    if vmas is None:
        vmas = mapped_vmas(kernel, pid)
    clipped = _clip(vmas, low, high)
    if not clipped:
        return table
    with process_errors(pid, "pagemap"):
        pagemap = kernel.open(f"proc/{pid}/pagemap")
    flat = table.reshape(-1)
    with pagemap, borrow_buffers(kernel) as buffers:
        for chunk in read_chunks(kernel, pagemap, clipped, buffers):
            where = np.flatnonzero(chunk.raw.view(np.int64) < 0)  # PM_PRESENT is the sign bit
            if not len(where):
                continue
            addresses = chunk.page_numbers()[where] * np.uint64(PAGE_SIZE)
            if frames is not None:
                nodes = frames.lookup(frame_numbers(chunk.raw[where]))
            else:
                nodes = move_pages(pid, addresses, kernel=kernel)
            signed = addresses.view(np.int64)
            owner = np.searchsorted(low, signed, "right") - 1
            inside = (owner >= 0) & (nodes >= 0) & (nodes < width)
            inside &= signed < high[np.maximum(owner, 0)]
            keys, counts = np.unique(owner[inside] * width + nodes[inside], return_counts=True)
            flat[keys] += counts
    return table


def _clip(vmas: Sequence[Vma], low: _I64, high: _I64) -> list[Vma]:
    """Each VMA that some range overlaps, clipped to the pages from the first such range's start to
    the last one's end (the ranges in between are read with it): one loop per VMA, not per range."""
    clipped = []
    for vma in vmas:
        if vma.gone or vma.path in SPECIAL_MAPPINGS:
            continue
        first = int(np.searchsorted(high, vma.start, "right"))
        last = int(np.searchsorted(low, vma.end, "left"))
        if first >= last:
            continue
        start = max(vma.start, int(low[first])) // PAGE_SIZE * PAGE_SIZE
        end = -(-min(vma.end, int(high[last - 1])) // PAGE_SIZE) * PAGE_SIZE
        if start < end:
            clipped.append(dataclasses.replace(vma, pages_by_node={}, pages=None, scanned=(start, end)))
    return clipped


def mapped_vmas(kernel: Kernel, pid: int) -> list[Vma]:
    """The process's mappings from /proc/PID/maps alone (no page-table walk): bounds, permissions and
    paths, without kinds or placement."""
    with process_errors(pid, "maps"):
        text = kernel.read_text(f"proc/{pid}/maps")
    return [Vma(e.start, e.end, e.perms, e.offset, e.path, VmaKind.OTHER, "", PAGE_SIZE, {})
            for e in parse_maps(text)]


def resident_nodes(kernel: Kernel, pid: int) -> ProcessMemory:
    """The process's VMAs and present pages per node (``.pages_by_node``), from numa_maps and maps,
    as ``numamove where`` counts them, without smaps (one page-table walk)."""
    return scan(kernel, pid, ScanOptions(detail=False))
