"""A reference PFN -> node lookup, frame by frame, for tests of the scan's frame runs.

numamove's scan maps PFNs to nodes through runs of frames
(:class:`numamove.topology.frames.FrameNodes`); this per-frame table lookup is
the plain definition those runs must agree with.
"""

from __future__ import annotations

import operator
from typing import Any, SupportsIndex

import numpy as np
import numpy.typing as npt

from numamove.errors import InputTypeError, InvalidInputError


def pfn_nodes(
    pfns: npt.NDArray[np.integer[Any]], block_pages: SupportsIndex, block_node: npt.NDArray[np.integer[Any]]
) -> npt.NDArray[np.int32]:
    """The node of each page frame number, through the memory-block table.

    ``block_node[i]`` is the node of memory block i (from
    ``/sys/devices/system/node/nodeN/memoryI``), -1 when unknown;
    ``block_pages`` is the block size in pages. A PFN in an unknown block,
    beyond the table, or equal to 0 gives -1: pagemap writes PFN 0 for a
    page that is absent or that the reader may not see, and no user page
    lives in frame 0.
    """
    try:
        per_block = operator.index(block_pages)  # numpy integers too, but no floats
    except TypeError:
        raise InputTypeError(f"block_pages must be an integer, not {type(block_pages).__name__}") from None
    if per_block <= 0:
        raise InvalidInputError(f"block_pages must be positive, not {per_block}")
    frames = np.asarray(pfns)
    table = np.asarray(block_node)
    if frames.dtype.kind not in "iu":
        raise InputTypeError(f"PFNs must be an integer array, not {frames.dtype}")
    if table.ndim != 1 or table.dtype.kind not in "iu":
        raise InputTypeError(
            f"block_node must be a 1-D integer array, not {table.dtype} of shape {table.shape}"
        )

    # Negative PFNs wrap to huge values and so fall beyond the table.
    frames64 = frames.astype(np.uint64, copy=False)
    if per_block & (per_block - 1) == 0:  # always so in practice: a shift beats a division
        blocks = frames64 >> np.uint64(per_block.bit_length() - 1)
    else:
        blocks = frames64 // np.uint64(per_block)
    # One extra -1 slot at the end catches every block index beyond the table.
    lookup = np.full(table.shape[0] + 1, -1, dtype=np.int32)
    lookup[:-1] = table
    np.minimum(blocks, np.uint64(table.shape[0]), out=blocks)
    # Every index now fits in int64: take() with a signed view skips a conversion pass.
    nodes: npt.NDArray[np.int32] = np.take(lookup, blocks.view(np.int64))
    nodes[frames64 == 0] = -1
    return nodes

