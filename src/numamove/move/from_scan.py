"""Scan -> units: the movable units of a per-page scan, huge pages whole.

Turns a ProcessMemory read with per-page placement (numamove.scan.scan_process
with pages=True) into :class:`~numamove.policy.units.Units`. Pure: touches no kernel
interface itself.

May import: numpy, numamove.policy.units, numamove.move.result, and the scan's data types.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from numamove.move.result import HUGE_PAGES, PAGE_SIZE
from numamove.policy.units import Units

if TYPE_CHECKING:
    from numamove.model import ProcessMemory

__all__ = ["units_from_scan"]


def units_from_scan(memory: ProcessMemory) -> Units:
    """The movable units of a per-page scan: huge pages whole, the rest as base pages.

    A hugetlb VMA is cut in units of its page size. In a VMA with transparent
    huge pages, each 2 MiB-aligned block whose 512 pages are present on one
    node (and, where PFNs were read, physically contiguous from an aligned
    head) is one unit, so the kernel moves the THP whole instead of being
    asked for its pages one by one.
    """
    parts: list[Units] = []
    for vma in memory.vmas:
        if vma.pages is None or len(vma.pages.addresses) == 0:
            continue
        addresses, nodes = vma.pages.addresses, vma.pages.nodes
        span = vma.page_size // PAGE_SIZE if vma.kind.value == "hugetlb" else HUGE_PAGES
        if span > 1 and (vma.kind.value == "hugetlb" or vma.thp_pages):
            parts.append(_huge_units(addresses, nodes, vma.pages.pfns, span, vma.kind.value == "hugetlb"))
        else:
            parts.append(Units(addresses, np.ones(len(addresses), dtype=np.int64), nodes))
    if not parts:
        return Units(np.empty(0, np.uint64), np.empty(0, np.int64), np.empty(0, np.int32))
    return Units(np.concatenate([p.addresses for p in parts]), np.concatenate([p.pages for p in parts]),
                 np.concatenate([p.nodes for p in parts]))


def _huge_units(addresses: npt.NDArray[np.uint64], nodes: npt.NDArray[np.int32],
                pfns: npt.NDArray[np.uint64] | None, span: int, always: bool) -> Units:
    """Group aligned blocks of ``span`` pages into one unit each where they form one huge page."""
    span_bytes = np.uint64(span * PAGE_SIZE)
    # Index of the first page of each whole aligned block.
    aligned = np.flatnonzero(addresses % span_bytes == 0)
    aligned = aligned[aligned + span <= len(addresses)]
    # A block is ``span`` pages in a row: with arrays of present pages alone, a gap shows
    # as a last address too far from the first.
    aligned = aligned[addresses[aligned + span - 1] - addresses[aligned] == span_bytes - np.uint64(PAGE_SIZE)]
    blocks = aligned[:, None] + np.arange(span)[None, :]
    block_nodes = nodes[blocks]
    whole = (block_nodes == block_nodes[:, :1]).all(axis=1) & (block_nodes[:, 0] >= 0)
    if pfns is not None and not always:
        block_pfns = pfns[blocks].astype(np.int64)
        whole &= ((block_pfns - block_pfns[:, :1]) == np.arange(span)).all(axis=1)
        whole &= block_pfns[:, 0] % span == 0
    if always:  # hugetlb: the block is one page whatever the statuses say
        whole = block_nodes[:, 0] >= 0
    keep = np.ones(len(addresses), dtype=bool)
    keep[blocks[whole][:, 1:].ravel()] = False  # the tails ride with their head
    sizes = np.ones(len(addresses), dtype=np.int64)
    sizes[aligned[whole]] = span
    return Units(addresses[keep], sizes[keep], nodes[keep])
