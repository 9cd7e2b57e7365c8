"""The locality policy: hot memory goes to the node of the threads that access it.

A hot region whose accesses come mostly (``dominant``, default 60%) from one
node's threads goes to that node; when several nodes share its accesses, it is
cut into contiguous page-aligned parts sized by their shares, each part to its
node. Cold memory stays. Shared memory (MAP_SHARED anonymous, SysV, shmem,
memfd) counts like private memory: the kernel's AutoNUMA leaves such memory where
it is, this policy does not. Only nodes with memory and CPUs are targets.

Pure: no kernel interface. May import: numamove.errors and its own package.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from numamove.policy.base import Settings, fraction, read_settings, register
from numamove.policy.plan import Move, Plan
from numamove.policy.rules import finish, heat_text, hot_rule, part
from numamove.policy.snapshot import RegionState, Snapshot

__all__ = ["LocalityPolicy"]

SPREAD_TOLERANCE = 0.1
"""A region already spread within this share of its accesses' split is left alone."""


class LocalityPolicy:
    """Hot memory to the node of the threads that use it, weighted when several nodes do."""

    name: ClassVar[str] = "locality"
    description: ClassVar[str] = ("hot memory to the node of the threads that access it, split by share "
                                  "when several nodes do; shared memory too; cold memory stays")
    options: ClassVar[Mapping[str, str]] = {
        "dominant": "the share of a region's accesses from one node that sends all of it there "
                    "(default 0.6; below it, the region is split by share)",
    }

    def __init__(self, options: Mapping[str, str] | None = None) -> None:
        self.given = dict(options or {})
        self.settings: Settings = read_settings(self.given, self.name)
        self.dominant = fraction(self.given.get("dominant", "0.6"), "locality option dominant", 0.0, 1.0)

    def plan(self, snapshot: Snapshot) -> Plan:
        targets = {n.id for n in snapshot.nodes if n.has_memory and n.has_cpu}
        hot = [r for r in snapshot.regions if self.settings.is_hot(r.heat) and r.resident > 0]
        known = [r for r in hot if r.accessing_nodes]
        why = ""
        if not any(r.resident > 0 for r in snapshot.regions):
            why = "no region of the snapshot has resident pages"
        elif not hot:
            why = f"no region is hot ({hot_rule(self.settings)})"
        elif not known:
            why = "no tracker said which nodes access the memory: add the threads tracker (damon,threads)"
        scored: list[tuple[float, int, Move]] = []
        for region in known:
            for move in self._region_moves(region, snapshot, targets):
                scored.append((region.heat * move.gain, len(scored), move))
        scored.sort(key=lambda item: (-item[0], item[1]))
        candidates = [move for _, _, move in scored]
        if known and not candidates:
            why = "all hot memory is already local"
        notes = []
        if 0 < len(known) < len(hot):
            notes.append(f"{len(hot) - len(known)} hot regions have no accessing nodes and stay")
        return finish(self.name, self.given, snapshot, candidates, self.settings, notes, why)

    def _region_moves(self, region: RegionState, snapshot: Snapshot, targets: set[int]) -> list[Move]:
        assert region.accessing_nodes is not None
        shares = {n: s for n, s in region.accessing_nodes.items() if n in targets and s > 0}
        if not shares:
            return []
        top = max(shares, key=lambda n: (shares[n], -n))
        if shares[top] >= self.dominant:
            return self._to_one(region, snapshot, top, region.accessing_nodes)
        return self._by_share(region, snapshot, shares, region.accessing_nodes)

    def _to_one(self, region: RegionState, snapshot: Snapshot, target: int,
                accesses: Mapping[int, float]) -> list[Move]:
        reason = (f"hot: {heat_text(region.heat, snapshot)}, {accesses[target]:.0%} from node {target}'s "
                  "threads")
        moves = []
        for source, pages in sorted(region.pages.items()):
            if source == target or pages <= 0:
                continue
            gain = pages * snapshot.page_size * (accesses[target] - accesses.get(source, 0.0))
            if gain > 0:
                moves.append(Move(region.pid, region.start, region.end, source, target, pages, "locality",
                                  reason, gain))
        return moves

    def _by_share(self, region: RegionState, snapshot: Snapshot, shares: Mapping[int, float],
                  accesses: Mapping[int, float]) -> list[Move]:
        total = sum(shares.values())
        weights = {n: s / total for n, s in sorted(shares.items())}
        resident = region.resident
        if all(abs(region.pages.get(n, 0) / resident - w) <= SPREAD_TOLERANCE for n, w in weights.items()):
            return []
        split = ", ".join(f"{accesses[n]:.0%} from node {n}" for n in weights)
        page = snapshot.page_size
        size_pages = region.size // page
        moves = []
        cursor, cumulative = 0, 0.0
        for target, weight in weights.items():
            cumulative += weight
            stop = size_pages if target == list(weights)[-1] else round(cumulative * size_pages)
            start, end = region.start + cursor * page, region.start + stop * page
            cursor = stop
            if end <= start:
                continue
            reason = (f"hot: {heat_text(region.heat, snapshot)}, accessed {split}: the part for node "
                      f"{target} (weighted)")
            for source, pages in sorted(region.pages.items()):
                if source == target or pages <= 0:
                    continue
                gain = pages * page * (accesses.get(target, 0.0) - accesses.get(source, 0.0))
                whole = Move(region.pid, region.start, region.end, source, target, pages, "locality",
                             reason, gain)
                piece = part(whole, start, end, page)
                if piece is not None:
                    moves.append(piece)
        return moves


register(LocalityPolicy.name, LocalityPolicy)
