"""Scores of a placement over time, for the evaluation against the kernel (bench/evaluate.py).

- ``awr``: access-weighted residency: the share of the accesses (a weight per
  page) that hit pages on a wanted node;
- ``convergence_time``: the first time a series reaches a target, from a start;
- ``node_changes`` and ``ping_pong``: how often each page's node changed between
  placement samples, and how many pages changed more than ``limit`` times
  within a window (seconds);
- ``minimum_moves``: the pages an oracle placement has to move from a start.

Pure: numpy arrays in, numbers out; no kernel interface. Negative nodes (a
page not present, a move_pages error status) are never "where it should be"
and never count as a change. May import: numpy.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["awr", "convergence_time", "minimum_moves", "node_changes", "ping_pong"]

IntArray = npt.NDArray[np.integer]
FloatArray = npt.NDArray[np.floating]


def awr(nodes: IntArray, weights: FloatArray, wanted: IntArray | Iterable[int]) -> float:
    """Sum of ``weights`` over pages whose node is wanted, over the sum of all ``weights``.

    ``wanted`` is either a set of nodes (for every page) or an array of one
    wanted node per page. 0.0 when the weights sum to 0.
    """
    nodes = np.asarray(nodes)
    weights = np.asarray(weights, dtype=np.float64)
    if nodes.shape != weights.shape:
        raise ValueError(f"{nodes.shape[0]} nodes for {weights.shape[0]} weights")
    if isinstance(wanted, np.ndarray) and wanted.shape == nodes.shape:
        where = (nodes == wanted) & (nodes >= 0)
    else:
        where = np.isin(nodes, np.fromiter(wanted, dtype=np.int64)) & (nodes >= 0)
    total = float(weights.sum())
    return 0.0 if total <= 0 else float(weights[where].sum()) / total


def convergence_time(times: Sequence[float], values: Sequence[float], target: float,
                     start: float = 0.0) -> float | None:
    """Seconds from ``start`` to the first sample at or after it whose value reaches ``target``;
    None when none does."""
    for time, value in zip(times, values, strict=True):
        if time >= start and value >= target:
            return float(time - start)
    return None


def node_changes(samples: IntArray) -> npt.NDArray[np.bool_]:
    """(samples - 1) x pages: True where a page's node differs from the previous sample's,
    both being real nodes (not negative)."""
    samples = np.asarray(samples)
    if samples.ndim != 2:
        raise ValueError("samples must be a 2-D array: one row of nodes per sample")
    before, after = samples[:-1], samples[1:]
    changed: npt.NDArray[np.bool_] = (before != after) & (before >= 0) & (after >= 0)
    return changed


def ping_pong(times: Sequence[float], samples: IntArray, window: float = 60.0, limit: int = 2) -> int:
    """Pages whose node changed more than ``limit`` times within some ``window`` seconds.

    A change is seen between two samples (at the later one's time), so changes
    faster than the sampling are undercounted: a lower bound.
    """
    changes = node_changes(samples)
    if changes.shape[0] == 0:
        return 0
    at = np.asarray(times, dtype=np.float64)[1:]
    if at.shape[0] != changes.shape[0]:
        raise ValueError(f"{len(times)} times for {samples.shape[0]} samples")
    counts = np.vstack([np.zeros((1, changes.shape[1]), dtype=np.int64), np.cumsum(changes, axis=0)])
    # changes in (at[i] - window, at[i]] are counts[i + 1] - counts[first[i]]
    first = np.searchsorted(at, at - window, side="right")
    within = counts[1:] - counts[first]
    return int((within > limit).any(axis=0).sum())


def minimum_moves(start: IntArray, oracle: IntArray) -> int:
    """Pages whose node in the ``oracle`` placement differs from the ``start`` one (both present)."""
    start, oracle = np.asarray(start), np.asarray(oracle)
    if start.shape != oracle.shape:
        raise ValueError(f"{start.shape[0]} start nodes for {oracle.shape[0]} oracle nodes")
    return int(((start != oracle) & (start >= 0) & (oracle >= 0)).sum())
