"""Several trackers run as one: heat from the first, accessing nodes from the others.

No one tracker sees everything: DAMON and soft-dirty say which memory is hot
but not which node's CPUs touched it; thread placement and NUMA hinting faults
say which nodes access a process, as one region spanning its whole address
space. :class:`Combined` starts them all, and each interval takes the first
tracker's regions (heat, written) and fills in ``accessing_nodes`` where the
first left it None: the shares of the other trackers' regions that overlap it,
weighted by the bytes they overlap. The overlap of all regions is found with
``searchsorted`` over numpy arrays, one pass per process, so per-page regions
(an access log) cost no Python per pair.

This module touches no kernel interface itself: the trackers it holds do.
May import: numpy, :mod:`.base`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import numpy.typing as npt

from numamove.errors import InvalidInputError
from numamove.trackers.base import Region, Tracker, TrackerInfo

__all__ = ["Combined", "combine_info", "fill_accessing_nodes"]

_F64 = npt.NDArray[np.float64]


def combine_info(infos: Sequence[TrackerInfo]) -> TrackerInfo:
    """One description of trackers run together: every part named, the first one's heat."""
    if not infos:
        raise InvalidInputError("combining trackers needs at least one")
    if len(infos) == 1:
        return infos[0]
    first, rest = infos[0], infos[1:]
    return TrackerInfo(
        name="+".join(info.name for info in infos),
        sees=f"{first.sees} ({first.name}); accessing nodes from " + "; ".join(
            f"{info.sees} ({info.name})" for info in rest),
        cannot_see="; ".join(f"{info.name}: {info.cannot_see}" for info in infos),
        cost="; ".join(f"{info.name}: {info.cost}" for info in infos),
        options={f"{info.name}.{key}": text for info in infos for key, text in info.options.items()},
        heat_unit=first.heat_unit,
    )


class Combined:
    """Trackers of the same processes run together as one :class:`~numamove.trackers.Tracker`.

    ``parts[0]`` gives the regions and their heat; the others only their
    accessing nodes. ``start()`` starts them in order and, when one fails,
    stops those already started; ``stop()`` stops every part even when one
    fails, then raises the first failure.
    """

    def __init__(self, parts: Sequence[Tracker]) -> None:
        if not parts:
            raise InvalidInputError("combining trackers needs at least one")
        self.parts = list(parts)
        self._info = combine_info([part.info for part in self.parts])
        self._started: list[Tracker] = []

    @property
    def info(self) -> TrackerInfo:
        return self._info

    def start(self) -> None:
        try:
            for part in self.parts:
                self._started.append(part)  # a half-started part is stopped too, as tracking() does
                part.start()
        except BaseException:
            self.stop()
            raise

    def sample(self) -> Iterator[Region]:
        heat = list(self.parts[0].sample())
        others = [region for part in self.parts[1:] for region in part.sample()
                  if region.accessing_nodes is not None]
        return iter(fill_accessing_nodes(heat, others))

    def stop(self) -> None:
        failure: BaseException | None = None
        while self._started:
            part = self._started.pop()
            try:
                part.stop()
            except BaseException as error:  # the others are stopped all the same
                failure = failure or error
        if failure is not None:
            raise failure


def fill_accessing_nodes(regions: Sequence[Region], sources: Sequence[Region]) -> list[Region]:
    """``regions`` with ``accessing_nodes`` filled where None, from the ``sources`` that overlap them.

    A region's shares are the sources' shares weighted by the bytes each
    overlaps it (sources of the same pid, not overlapping one another). A
    region no source overlaps keeps None.
    """
    by_pid: dict[int, list[Region]] = {}
    for source in sources:
        if source.accessing_nodes is not None:
            by_pid.setdefault(source.pid, []).append(source)
    if not by_pid:
        return list(regions)
    filled = list(regions)
    wanted: dict[int, list[int]] = {}
    for index, region in enumerate(regions):
        if region.accessing_nodes is None and region.pid in by_pid:
            wanted.setdefault(region.pid, []).append(index)
    for pid, indexes in wanted.items():
        shares = _overlap_shares([regions[i] for i in indexes], sorted(by_pid[pid], key=lambda r: r.start))
        for index, found in zip(indexes, shares, strict=True):
            if found is not None:
                filled[index] = _with_nodes(regions[index], found)
    return filled


def _overlap_shares(targets: list[Region], sources: list[Region]) -> list[dict[int, float] | None]:
    """Each target's byte-weighted shares from the overlapping ``sources`` (sorted, not overlapping)."""
    node_ids = sorted({node for source in sources for node in (source.accessing_nodes or {})})
    column = {node: at for at, node in enumerate(node_ids)}
    share = np.zeros((len(sources), len(node_ids)), dtype=np.float64)
    for row, source in enumerate(sources):
        for node, value in (source.accessing_nodes or {}).items():
            share[row, column[node]] = value
    source_start = np.array([s.start for s in sources], dtype=np.float64)
    source_end = np.array([s.end for s in sources], dtype=np.float64)
    start = np.array([t.start for t in targets], dtype=np.float64)
    end = np.array([t.end for t in targets], dtype=np.float64)
    # Sources overlapping target i: from the first ending after its start to the last starting before its end.
    first = np.searchsorted(source_end, start, "right")
    last = np.searchsorted(source_start, end, "left")
    count = np.maximum(last - first, 0)
    owner = np.repeat(np.arange(len(targets)), count)
    pair = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count) + np.repeat(first, count)
    overlap = np.minimum(end[owner], source_end[pair]) - np.maximum(start[owner], source_start[pair])
    weighted: _F64 = np.zeros((len(targets), len(node_ids)), dtype=np.float64)
    np.add.at(weighted, owner, share[pair] * overlap[:, None])
    totals = weighted.sum(axis=1)
    found: list[dict[int, float] | None] = []
    for row, total in zip(weighted.tolist(), totals.tolist(), strict=True):
        found.append({node: value / total for node, value in zip(node_ids, row, strict=True) if value > 0}
                     if total > 0 else None)
    return found


def _with_nodes(region: Region, nodes: Mapping[int, float]) -> Region:
    # The constructor, not dataclasses.replace: a third of the cost, and an access log has 100,000s.
    return Region(region.pid, region.start, region.end, region.heat, region.heat_unit, region.written, nodes,
                  region.age)
