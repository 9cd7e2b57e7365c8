"""One process's part of a profile report: its ranked regions and its figures over time.

:func:`finish_process` turns what :mod:`numamove.profile.report` gathered of
one process (a segment table of per-byte sums, per-interval figures) into a
:class:`ProcessReport`: pieces seen in no interval are dropped, each piece's
sums become means over the intervals it was seen in, adjacent pieces of one
mapping that read alike are joined, and the result is ranked hottest first.

Pure: imports numpy; no I/O, no kernel interface.
"""

from __future__ import annotations

import bisect
import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from numamove.profile.gather import ProcessGatherer

__all__ = ["ProcessReport", "RankedRegion", "TimelineInterval", "finish_process"]

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
VmaShare = tuple[int, int, str, float, float | None]
_JSON_WRITTEN = {1: "true", 0: "false", -1: "null"}


@dataclass(frozen=True)
class RankedRegion:
    """A range ``[start, end)`` of one process and what the profile says of it."""

    start: int
    end: int
    heat: float
    """Mean heat per page over the intervals this range was seen in, in the report's heat unit."""
    written: bool | None
    nodes: dict[int, int]
    """Mean resident pages per memory node over the intervals a region record covered it."""
    accessing_nodes: dict[int, float] | None
    """Share of the accesses per accessing node (heat-weighted mean), None when no tracker told."""
    vma: str
    intervals_seen: int

    @property
    def size(self) -> int:
        return self.end - self.start

    def to_dict(self, heat_unit: str) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "size": self.size, "heat": round(self.heat, 6),
                "heat_unit": heat_unit, "written": self.written,
                "nodes": {str(node): pages for node, pages in sorted(self.nodes.items())},
                "accessing_nodes": None if self.accessing_nodes is None else
                {str(node): round(share, 4) for node, share in sorted(self.accessing_nodes.items())},
                "vma": self.vma, "intervals_seen": self.intervals_seen}


@dataclass(frozen=True)
class TimelineInterval:
    """One interval's regions, for a heatmap: seconds since the start, and (start, end, heat) arrays."""

    index: int
    begin: float
    end: float
    starts: Ints
    ends: Ints
    heat: Floats


@dataclass
class ProcessReport:
    """One process of a profile. Region arrays are ranked hottest first (ties: larger, then lower)."""

    pid: int
    name: str
    times: list[tuple[int, float | None, float | None]]
    """(index, time at the interval's end in seconds since the start, its length) per interval."""
    working_set: list[int]
    """Bytes with heat > 0, per interval of ``times``."""
    resident: list[tuple[int, dict[int, int]]]
    """(index, resident pages per node) per interval record."""
    starts: Ints
    ends: Ints
    heat: Floats
    written: npt.NDArray[np.int8]
    """1 written, 0 not, -1 unknown."""
    pages: Ints
    """Mean resident pages per node (a column per node id)."""
    accessing: Floats
    """Share per accessing node (a column per node id); NaN rows where unknown."""
    vma_names: list[str]
    seen: Ints
    pairs: Floats
    """Access weight (heat x bytes) per (accessing node, memory node); rows accessing, columns memory."""
    vma_remote: list[VmaShare]
    """(start, end, name, share of all accesses, remote share or None) per mapping that was accessed."""
    accessing_known: bool
    timeline: list[TimelineInterval] | None
    vmas: list[tuple[int, int, str]]
    """Every mapping the log listed, (start, end, name)."""

    @property
    def intervals(self) -> int:
        return len(self.times)

    @property
    def remote_share(self) -> float | None:
        """The share of accesses whose accessing node is not the memory node, None when unknown."""
        total = float(self.pairs.sum())
        if not self.accessing_known or total <= 0:
            return None
        return float((total - np.trace(self.pairs)) / total)

    def region(self, rank: int) -> RankedRegion:
        """The region at ``rank`` (0 is the hottest)."""
        access = self.accessing[rank]
        return RankedRegion(
            int(self.starts[rank]), int(self.ends[rank]), float(self.heat[rank]),
            None if self.written[rank] < 0 else bool(self.written[rank]),
            {node: int(pages) for node, pages in enumerate(self.pages[rank]) if pages},
            None if np.isnan(access).all() else {node: float(s) for node, s in enumerate(access) if s > 0},
            self.vma_names[rank], int(self.seen[rank]))

    def regions(self, limit: int | None = None) -> list[RankedRegion]:
        """The regions ranked hottest first, the first ``limit`` of them (all without)."""
        count = len(self.starts) if limit is None else min(limit, len(self.starts))
        return [self.region(rank) for rank in range(count)]

    def region_json(self, heat_unit: str, first: int, stop: int) -> list[str]:
        """The JSON text of regions ``first`` to ``stop`` (ranks), as ``region(rank).to_dict()`` gives it,
        made from the arrays' rows directly: a million regions in seconds."""
        unit = json.dumps(heat_unit)
        names: dict[str, str] = {}
        lines = []
        rows = zip(self.starts[first:stop].tolist(), self.ends[first:stop].tolist(),
                   self.heat[first:stop].tolist(), self.written[first:stop].tolist(),
                   self.pages[first:stop].tolist(), self.accessing[first:stop].tolist(),
                   self.vma_names[first:stop], self.seen[first:stop].tolist(), strict=True)
        for start, end, heat, written, pages, access, vma, seen in rows:
            nodes = ", ".join(f'"{node}": {count}' for node, count in enumerate(pages) if count)
            if not access or math.isnan(access[0]):
                accessing = "null"
            else:
                shares = (f'"{node}": {round(share, 4)!r}' for node, share in enumerate(access) if share > 0)
                accessing = "{" + ", ".join(shares) + "}"
            name = names.get(vma)
            if name is None:
                name = names[vma] = json.dumps(vma)
            lines.append(f'{{"start": {start}, "end": {end}, "size": {end - start}, '
                         f'"heat": {round(heat, 6)!r}, "heat_unit": {unit}, '
                         f'"written": {_JSON_WRITTEN[written]}, "nodes": {{{nodes}}}, '
                         f'"accessing_nodes": {accessing}, "vma": {name}, "intervals_seen": {seen}}}')
        return lines

    def cold(self) -> tuple[int, int]:
        """(bytes, resident pages) of the ranges whose heat stayed 0."""
        cold = self.heat <= 0
        return int((self.ends[cold] - self.starts[cold]).sum()), int(self.pages[cold].sum())

    def to_dict(self, heat_unit: str, page_size: int, regions: Any = None) -> dict[str, Any]:
        """The JSON object of this process; ``regions`` stands in for the list of regions when given."""
        cold_bytes, cold_pages = self.cold()
        working = [{"interval": index, "time": time, "bytes": size}
                   for (index, time, _), size in zip(self.times, self.working_set, strict=True)]
        sizes = np.array(self.working_set or [0])
        times = {index: time for index, time, _ in self.times}
        pairs = [{"accessing_node": str(a), "memory_node": str(m), "remote": bool(a != m),
                  "share": round(float(self.pairs[a, m] / self.pairs.sum()), 6)}
                 for a, m in np.argwhere(self.pairs > 0).tolist()] \
            if self.accessing_known else []
        return {
            "pid": self.pid, "name": self.name, "intervals": self.intervals,
            "duration": max((t for _, t, _ in self.times if t is not None), default=None),
            "regions": regions if regions is not None else [r.to_dict(heat_unit) for r in self.regions()],
            "cold": {"bytes": cold_bytes, "resident_pages": cold_pages},
            "working_set": working,
            "working_set_bytes": {"min": int(sizes.min()), "median": float(np.median(sizes)),
                                  "max": int(sizes.max())},
            "resident_by_node": [{"interval": index, "time": times.get(index),
                                  "pages": {str(n): p for n, p in sorted(pages.items())},
                                  "bytes": {str(n): p * page_size for n, p in sorted(pages.items())}}
                                 for index, pages in self.resident],
            "remote": {"share": _rounded(self.remote_share), "accessing_known": self.accessing_known,
                       "pairs": pairs,
                       "vmas": [{"start": s, "end": e, "name": name, "access_share": round(share, 6),
                                 "remote_share": _rounded(remote)}
                                for s, e, name, share, remote in self.vma_remote]},
        }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def finish_process(process: ProcessGatherer, keep_timeline: bool) -> ProcessReport:
    """The ranked report of one process from what was gathered of it."""
    table = process.table
    vmas = _distinct_vmas(process.vma_epochs)
    if vmas:
        table.split(np.array([bound for s, e, _ in vmas for bound in (s, e)], dtype=np.int64))
    indices = sorted(process.times)
    epochs = sorted(process.vma_epochs, key=lambda epoch: epoch[0])
    for k, (first, listed) in enumerate(epochs):
        stop = epochs[k + 1][0] if k + 1 < len(epochs) else None
        seen = (len(indices) if stop is None else bisect.bisect_left(indices, stop)) - bisect.bisect_left(
            indices, first)
        if seen > 0 and listed:
            table.add(np.array([s for s, _, _ in listed], dtype=np.int64),
                      np.array([e for _, e, _ in listed], dtype=np.int64),
                      {"vma_cover": np.full(len(listed), seen, dtype=np.float64)})
    columns = max([total.shape[1] for total in table.sums.values() if total.ndim == 2] + [0])
    low, high = table.bounds[:-1], table.bounds[1:]
    cover = table.get("cover")
    live = np.maximum(cover, table.get("vma_cover"))
    keep = np.flatnonzero(live > 0.5)
    low, high, cover, live = low[keep], high[keep], cover[keep], live[keep]
    size = (high - low).astype(np.float64)
    sums = {name: table.get(name, columns if name in ("pages", "access", "access_heat") else None)[keep]
            for name in ("hot", "heat", "written", "unwritten", "known", "known_heat", "pages", "access",
                         "access_heat", "remote", "counted")}
    heat = np.where(sums["hot"] > 0.5, sums["heat"] / live, 0.0)
    written = np.where(sums["written"] > 0.5, 1, np.where(sums["unwritten"] > 0.5, 0, -1)).astype(np.int8)
    pages = np.divide(sums["pages"], cover[:, None], out=np.zeros_like(sums["pages"]),
                      where=cover[:, None] > 0.5) * size[:, None]
    by_heat = np.divide(sums["access_heat"], sums["known_heat"][:, None], out=np.zeros_like(sums["access"]),
                        where=sums["known_heat"][:, None] > 0)
    by_count = np.divide(sums["access"], sums["known"][:, None], out=np.zeros_like(sums["access"]),
                         where=sums["known"][:, None] > 0.5)
    access = np.where(sums["known_heat"][:, None] > 0, by_heat, by_count)
    access[sums["known"] < 0.5] = np.nan
    vma_of = np.full(len(low), -1, dtype=np.int64)
    for number, (s, e, _) in enumerate(vmas):  # later mappings win where they overlap earlier ones
        vma_of[np.searchsorted(low, s):np.searchsorted(low, e)] = number
    vma_remote = _vma_remote(vmas, vma_of, size, heat * live, sums["remote"], sums["counted"],
                             process.accessing_known)

    # Join neighbours of one mapping that read alike, then rank.
    rounded = np.round(access, 3)
    same_access = (rounded[1:] == rounded[:-1]) | (np.isnan(rounded[1:]) & np.isnan(rounded[:-1]))
    alike = ((low[1:] == high[:-1]) & np.isclose(heat[1:], heat[:-1], rtol=1e-9, atol=0)
             & (written[1:] == written[:-1]) & (vma_of[1:] == vma_of[:-1]) & np.all(same_access, axis=1))
    firsts = np.flatnonzero(np.concatenate([[True], ~alike])) if len(low) else np.empty(0, dtype=np.intp)
    lasts = np.concatenate([firsts[1:], [len(low)]])[:len(firsts)].astype(np.intp) - 1  # none for no region
    joined = _group_sum(size, firsts)
    region_heat = _group_sum(heat * size, firsts) / np.maximum(joined, 1)
    unknown_marked = np.nan_to_num(access, nan=-1.0) * size[:, None]
    region_access = _group_sum(unknown_marked, firsts) / np.maximum(joined, 1)[:, None]
    region_access[region_access < 0] = np.nan
    region_pages = np.rint(_group_sum(pages, firsts)).astype(np.int64)
    region_seen = (np.maximum.reduceat(live, firsts) if len(firsts) else live).astype(np.int64)
    order = np.lexsort((low[firsts], -joined, -region_heat))
    starts, ends = low[firsts][order], high[lasts][order]
    names = [vmas[v][2] if v >= 0 else "" for v in vma_of[firsts][order]]
    times = [(index, *_interval_time(process.times[index], index)) for index in indices]
    return ProcessReport(
        pid=process.pid, name=process.name,
        times=[(index, process.times[index][0], process.times[index][1]) for index in indices],
        working_set=[process.working.get(index, 0) for index in indices],
        resident=sorted(process.resident.items()),
        starts=starts.astype(np.int64), ends=ends.astype(np.int64), heat=region_heat[order],
        written=written[firsts][order], pages=region_pages[order], accessing=region_access[order],
        vma_names=names, seen=region_seen[order], pairs=process.pairs, vma_remote=vma_remote,
        accessing_known=process.accessing_known,
        timeline=_timeline(process, times) if keep_timeline else None, vmas=sorted(vmas))


def _distinct_vmas(epochs: list[tuple[int, list[tuple[int, int, str]]]]) -> list[tuple[int, int, str]]:
    """Every mapping seen, the most recently listed last."""
    last: dict[tuple[int, int, str], int] = {}
    for number, (_, listed) in enumerate(sorted(epochs, key=lambda epoch: epoch[0])):
        for vma in listed:
            last[vma] = number
    return sorted(last, key=lambda vma: (last[vma], vma[0]))


def _group_sum(values: Floats, firsts: npt.NDArray[np.intp]) -> Floats:
    """Sums of consecutive groups of rows, each starting at one of ``firsts``."""
    return np.add.reduceat(values, firsts, axis=0) if len(firsts) else values[:0]


def _vma_remote(vmas: list[tuple[int, int, str]], vma_of: Ints, size: Floats, heat_sum: Floats,
                remote: Floats, counted: Floats, known: bool) -> list[VmaShare]:
    if not len(vma_of):
        return []
    slots = vma_of + 1  # slot 0: outside every mapping listed
    count = len(vmas) + 1
    accesses = np.bincount(slots, weights=heat_sum * size, minlength=count)
    remote_sum = np.bincount(slots, weights=remote * size, minlength=count)
    counted_sum = np.bincount(slots, weights=counted * size, minlength=count)
    total = accesses.sum()
    found = []
    for slot in np.flatnonzero(accesses > 0):
        start, end, name = vmas[slot - 1] if slot else (0, 0, "(outside the listed mappings)")
        share = None if not known or counted_sum[slot] <= 0 else float(remote_sum[slot] / counted_sum[slot])
        found.append((start, end, name, float(accesses[slot] / total), share))
    return sorted(found, key=lambda row: -row[3])


def _interval_time(time_and_length: tuple[float | None, float | None], index: int) -> tuple[float, float]:
    time, length = time_and_length
    end = float(index + 1) if time is None else time
    return max(end - (1.0 if length is None else length), 0.0), end


def _timeline(process: ProcessGatherer, times: list[tuple[int, float, float]]) -> list[TimelineInterval]:
    empty = np.empty(0, dtype=np.int64)
    regions: dict[int, list[tuple[Ints, Ints, Floats]]] = {}
    for index, starts, ends, heat in process.timeline or []:
        regions.setdefault(index, []).append((starts, ends, heat))
    found = []
    for index, begin, end in times:
        parts = regions.get(index, [])
        starts = np.concatenate([p[0] for p in parts]) if parts else empty
        ends = np.concatenate([p[1] for p in parts]) if parts else empty
        heat = np.concatenate([p[2] for p in parts]) if parts else np.empty(0)
        order = np.argsort(starts, kind="stable")
        found.append(TimelineInterval(index, begin, end, starts[order], ends[order], heat[order]))
    return found
