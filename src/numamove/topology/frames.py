"""PFN -> node: which node's memory each page frame is, as runs of frames.

Built from /sys/devices/system/memory/block_size_bytes and the memoryM entries
of each online /sys/devices/system/node/nodeN: a memory block of
``block_size_bytes`` belongs to one node. The frames of the zero pages (no
node's memory, found by :mod:`numamove.scan.probes`) are a run of their own,
marked ZERO_PAGE. The map is kept on the :class:`Kernel` while
/sys/devices/system/memory holds the same number of blocks (memory hotplug
adds or removes one).

May import: numpy, :mod:`numamove.kernel`, :mod:`numamove.procfs`, :mod:`numamove.units`.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from numamove.kernel import NODE_DIR, Kernel
from numamove.procfs.pagemap import PM_PFN_MASK, PM_PRESENT, PM_SWAP
from numamove.procfs.sysfs import memory_blocks, parse_memory_block_size
from numamove.units import PAGE_SIZE, ZERO_PAGE

__all__ = ["MEMORY_DIR", "FrameNodes", "frame_nodes", "frame_runs", "node_memory_blocks"]

MEMORY_DIR = "sys/devices/system/memory"
_SIGN = 1 << 63
_KEPT_BITS = np.uint64(PM_PRESENT | PM_SWAP | PM_PFN_MASK)
_WALK_RUNS = 8
"""Runs of frames counted by comparison per chunk before falling back to a per-frame lookup."""


def node_memory_blocks(kernel: Kernel) -> tuple[int, npt.NDArray[np.int32]]:
    """(pages per memory block, node of each block; -1 for a block of no online node)."""
    block_pages = parse_memory_block_size(kernel.read_text(f"{MEMORY_DIR}/block_size_bytes")) // PAGE_SIZE
    blocks: list[int] = []
    owners: list[int] = []
    for node in sorted(kernel.online_nodes()):
        found = memory_blocks(kernel.listdir(f"{NODE_DIR}/node{node}"))
        blocks += found
        owners += [node] * len(found)
    table = np.full(max(blocks, default=-1) + 1, -1, dtype=np.int32)
    table[np.array(blocks, dtype=np.intp)] = owners
    return block_pages, table


def frame_runs(pfns: npt.NDArray[np.uint64]) -> tuple[tuple[int, int], ...]:
    """Sorted PFNs -> (first, count) of each run of consecutive frames."""
    if len(pfns) == 0:
        return ()
    breaks = np.flatnonzero(np.diff(pfns.astype(np.int64)) != 1) + 1
    starts = np.concatenate([[0], breaks])
    ends = np.concatenate([breaks, [len(pfns)]])
    return tuple((int(pfns[a]), int(b - a)) for a, b in zip(starts, ends, strict=True))


def frame_nodes(kernel: Kernel, zero_pfns: Callable[[], npt.NDArray[np.uint64]]) -> FrameNodes:
    """The PFN -> node map of ``kernel``, kept on it while its set of memory blocks stays the same.

    ``zero_pfns`` gives the frames of the zero pages, asked only when the map is built.
    """
    def build() -> FrameNodes:
        block_pages, block_node = node_memory_blocks(kernel)
        return FrameNodes.build(block_pages, block_node, frame_runs(zero_pfns()))

    return kernel.kept("frame_nodes", build, watch=MEMORY_DIR)


@dataclass(frozen=True)
class FrameNodes:
    """PFN -> node, as runs of frames: run i starts at ``starts[i]`` and ends where the next begins.

    All frames of a run belong to ``nodes[i]``, or to none when it is negative:
    ZERO_PAGE for the zero pages, -1 for frame 0, holes and frames past the
    last memory block. A node's memory is a few long runs, so a chunk of
    pagemap is counted with a few vector comparisons, where a per-frame lookup
    and bincount would stall on one counter for every page.
    """

    starts: npt.NDArray[np.int64]
    nodes: npt.NDArray[np.int32]

    @classmethod
    def build(cls, block_pages: int, block_node: npt.NDArray[np.int32],
              zero_ranges: Sequence[tuple[int, int]]) -> FrameNodes:
        """From the node of each memory block of ``block_pages`` frames and the zero pages' (first, count)."""
        cuts = {0, 1, len(block_node) * block_pages}
        cuts.update(int(block) * block_pages for block in np.flatnonzero(np.diff(block_node)) + 1)
        for first, count in zero_ranges:
            cuts.update((first, first + count))
        starts: list[int] = []
        nodes: list[int] = []
        for start in sorted(cuts):
            block = start // block_pages
            if any(0 <= start - first < count for first, count in zero_ranges):
                node = ZERO_PAGE
            elif start == 0 or block >= len(block_node):
                node = -1  # no user page lives in frame 0 (pagemap's "no PFN")
            else:
                node = int(block_node[block])
            if not nodes or nodes[-1] != node:
                starts.append(start)
                nodes.append(node)
        return cls(np.array(starts, dtype=np.int64), np.array(nodes, dtype=np.int32))

    def lookup(self, pfns: npt.NDArray[np.uint64]) -> npt.NDArray[np.int32]:
        """The node of each PFN; ZERO_PAGE for a zero page, -1 for a frame of no node."""
        runs = np.searchsorted(self.starts, pfns.view(np.int64), "right") - 1
        found: npt.NDArray[np.int32] = self.nodes[runs]
        return found

    def count(self, raw: npt.NDArray[np.uint64], scratch: npt.NDArray[np.uint64],
              per_node: dict[int, int]) -> int:
        """Add the present frames of pagemap entries ``raw`` to ``per_node``; returns the swapped count.

        ``scratch`` is at least as long as ``raw``. Frames of no node are left out.
        """
        if len(raw) == 0:
            return 0
        # As int64 the kept bits order the entries: present frames are negative (PM_PRESENT
        # is the sign bit) and sorted by PFN, swap entries are >= 2**62, untouched pages 0.
        masked = np.bitwise_and(raw, _KEPT_BITS, out=scratch[:len(raw)]).view(np.int64)
        lowest, highest = int(masked.min()), int(masked.max())
        if highest < 0:  # every page present (the common, dense case): the extremes say it all
            swapped, present, top = 0, len(raw), highest + _SIGN
        else:
            swapped = int(np.count_nonzero(masked >= PM_SWAP)) if highest >= PM_SWAP else 0
            if lowest >= 0:
                return swapped
            present, top = int(np.count_nonzero(masked < 0)), None
        starts = self.starts.tolist()
        run = bisect.bisect_right(starts, lowest + _SIGN) - 1
        below = 0  # present frames before the run's start
        for _ in range(_WALK_RUNS):
            last = run + 1 == len(starts)
            if last or (top is not None and top < starts[run + 1]):
                upto = present  # the highest frame is in this run
            else:
                upto = int(np.count_nonzero(masked < starts[run + 1] - _SIGN))
            node = int(self.nodes[run])
            if node >= 0 and upto > below:
                per_node[node] = per_node.get(node, 0) + upto - below
            below = upto
            if below == present:
                return swapped
            run += 1
        # Frames spread over many runs (memory blocks interleaved across nodes): look the rest up.
        later = masked[(masked < 0) & (masked >= starts[run] - _SIGN)]
        found = self.lookup(later.view(np.uint64) & np.uint64(PM_PFN_MASK))
        for node, count in enumerate(np.bincount(found[found >= 0]).tolist()):
            if count:
                per_node[node] = per_node.get(node, 0) + count
        return swapped
