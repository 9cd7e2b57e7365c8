"""The counting behind both pictures: VMAs folded into bands, a band's pages counted per slice.

A band is one VMA with per-page data (``Vma.pages``), or neighbouring VMAs
folded together: the mappings of one file, then runs of neighbours smaller
than ``min_size``. A band's pages are counted per slice (a character of a
text strip, a cell of a picture) and per category, in a table whose columns
are the node ids 0..max_node, then swapped (max_node + 1), zero page
(max_node + 2) and not present (max_node + 3); :func:`majority` names a
slice's winner, max_node + 4 standing for "several nodes".

Counting is vectorised and done in chunks, so a VMA of millions of pages costs
a few bincounts and a bounded amount of memory.

Pure: imports numpy, :mod:`numamove.errors` and (for types) the scan's data
model; touches no kernel interface.
"""

from __future__ import annotations

import errno
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from numamove.errors import InvalidInputError

if TYPE_CHECKING:
    from numamove.model import ProcessMemory, Vma

__all__ = ["DEFAULT_MIN_SIZE", "Band", "fold_bands", "highest_node", "majority", "parse_size", "slice_table"]

DEFAULT_MIN_SIZE = 64 * 1024
"""Neighbouring VMAs smaller than this (bytes) fold into one band by default."""
_ZERO_PAGE = -errno.EFAULT
"""The status of a page mapped to the shared zero page; any other negative status is "not present"."""
# Pages counted per numpy pass: bounds the temporaries for VMAs of millions of pages.
_CHUNK = 1 << 20


def parse_size(text: str) -> int:
    """ "64K", "64KiB", "1.5M", "4096" -> bytes (binary units: K = 1024); "0" is 0."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*", text, re.IGNORECASE | re.ASCII)
    if match is None:
        raise InvalidInputError(f"size {text!r} is not a number of bytes with an optional K, M, G or T")
    return int(float(match[1]) * 1024 ** " KMGT".index(match[2].upper() or " "))


@dataclass(frozen=True)
class Band:
    """One VMA, or a run of neighbouring small VMAs folded together, with the range their pages cover."""

    vmas: tuple[Vma, ...]
    low: int
    high: int
    size: int
    """Bytes the band stands for: the sum of its VMAs' scanned ranges."""

    def pages(self) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.bool_]]:
        """The band's per-page nodes and swapped flags, in address order."""
        placements = [vma.pages for vma in self.vmas if vma.pages is not None]
        if len(placements) == 1:
            return placements[0].nodes, placements[0].swapped
        return np.concatenate([p.nodes for p in placements]), np.concatenate([p.swapped for p in placements])

    def kind_text(self) -> str:
        """Its VMA's kind ("anon", "file THP", ...), or "N VMAs" for a folded band."""
        if len(self.vmas) > 1:
            return f"{len(self.vmas)} VMAs"
        vma = self.vmas[0]
        return f"{vma.kind.value} THP" if vma.thp_pages else vma.kind.value


def fold_bands(memory: ProcessMemory, min_size: int) -> list[Band]:
    """The VMAs with per-page data in address order, folded unless ``min_size`` is 0.

    Folding: neighbouring mappings of one file (a library's code, data, ...)
    make one band, then runs of neighbouring bands under ``min_size`` bytes.
    """
    found = []
    for vma in memory.vmas:
        if vma.pages is None or len(vma.pages.nodes) == 0:
            continue
        low, high = vma.scanned or (vma.start, vma.end)
        if len(vma.pages.addresses) and not vma.pages.present_only:
            low = int(vma.pages.addresses[0])
            high = int(vma.pages.addresses[-1]) + memory.page_size
        found.append(Band((vma,), low, high, high - low))
    found.sort(key=lambda band: band.low)
    if min_size <= 0:
        return found
    by_file: list[list[Band]] = []
    for band in found:
        vma = band.vmas[0]
        previous = by_file[-1][-1].vmas[0] if by_file else None
        same_file = (previous is not None and vma.kind.value == "file" and previous.kind == vma.kind
                     and previous.path == vma.path)
        if same_file:
            by_file[-1].append(band)
        else:
            by_file.append([band])
    runs: list[list[Band]] = []
    for group in map(_merge, by_file):
        if runs and group.size < min_size and runs[-1][-1].size < min_size:
            runs[-1].append(group)
        else:
            runs.append([group])
    return [_merge(run) for run in runs]


def _merge(parts: Sequence[Band]) -> Band:
    if len(parts) == 1:
        return parts[0]
    return Band(tuple(vma for part in parts for vma in part.vmas), parts[0].low, parts[-1].high,
                sum(part.size for part in parts))


def highest_node(bands: Sequence[Band]) -> int:
    """The highest node id any page of ``bands`` is on; -1 when none is on a node."""
    highest = -1
    for band in bands:
        for vma in band.vmas:
            assert vma.pages is not None
            highest = max(highest, int(vma.pages.nodes.max()))
    return highest


def slice_table(nodes: npt.NDArray[np.int32], swapped: npt.NDArray[np.bool_], slices: int, max_node: int,
                 per_slice: int = 0) -> npt.NDArray[np.int64]:
    """Pages per slice (rows) and category (columns) for ``slices`` slices of the pages in order.

    Categories: node ids 0..max_node, then swapped, zero page, not present
    (max_node + 1, + 2, + 3). Slices hold ``per_slice`` pages each (the last
    the rest) or, without it, as equal shares as whole pages allow.
    """
    count = len(nodes)
    kinds = max_node + 4
    swap_cat, zero_cat, absent_cat = max_node + 1, max_node + 2, max_node + 3
    counts = np.zeros(slices * kinds, dtype=np.int64)
    for low in range(0, count, _CHUNK):
        high = min(low + _CHUNK, count)
        part = nodes[low:high]
        category = np.where(part >= 0, part, absent_cat).astype(np.int64)
        category[part == _ZERO_PAGE] = zero_cat
        category[swapped[low:high]] = swap_cat
        pages = np.arange(low, high, dtype=np.int64)
        # Without per_slice, page i belongs to slice i * slices // count: slices differ by at most one page.
        index = pages // per_slice if per_slice else pages * slices // count
        counts += np.bincount(index * kinds + category, minlength=slices * kinds)
    return counts.reshape(slices, kinds)


def majority(table: npt.NDArray[np.int64], max_node: int) -> npt.NDArray[np.intp]:
    """The winning category of each slice; max_node + 4 where a node wins with under 3/4 of the node pages."""
    zero_cat = max_node + 2
    contest = table.copy()
    # The zero page is "read but never written": show it only where it is most of the slice.
    contest[contest[:, zero_cat] * 2 <= table.sum(axis=1), zero_cat] = -1
    winner: npt.NDArray[np.intp] = np.argmax(contest, axis=1).astype(np.intp)
    on_nodes = table[:, :max_node + 1].sum(axis=1)
    won = table[np.arange(len(table)), winner]
    winner[(winner <= max_node) & (won * 4 < on_nodes * 3)] = max_node + 4
    return winner

