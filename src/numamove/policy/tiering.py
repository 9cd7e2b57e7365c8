"""The tiering policy: the hot set on the fast tier, cold memory below it.

The fast tier is the memory nodes of the lowest memory tier (NodeState.tier);
without tier data, the nodes with CPUs, memory-only nodes being slower. Regions
are ranked by heat, and the hot set is the hottest of them whose bytes fit the
fast tier for this plan: its free memory less the headroom, plus what the
processes already hold there (Memtis's idea: size the hot set to the tier,
rather than promote whatever was touched last). Memory already on the fast
tier ranks as if ``margin`` (a share, default 0.5) hotter than it read: a
region below takes its place only when it is hotter by more than that, so
regions of about equal heat, whose readings differ by noise from one profile
to the next, are not swapped in and out. Hot-set pages on a slow node
are promoted; pages outside the hot set are demoted from the fast tier,
coldest first (cold, then hot memory that did not fit), only as much as the
promotions and the headroom need (option ``demote=needed``), or every cold
page (``demote=cold``).

Pure: no kernel interface. May import: numamove.errors and its own package.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import ClassVar

from numamove.errors import InvalidInputError
from numamove.policy.base import Settings, fraction, read_settings, register
from numamove.policy.plan import Move, Plan
from numamove.policy.rules import FAR, finish, heat_text, hot_rule, nodes_text, part, prefix_with, size_text
from numamove.policy.snapshot import NodeState, RegionState, Snapshot

__all__ = ["TieringPolicy", "tiers"]

def tiers(snapshot: Snapshot) -> tuple[list[NodeState], list[NodeState]]:
    """The fast tier's memory nodes and the slower memory nodes."""
    memory = list(snapshot.memory_nodes)
    tier_ids = [n.tier for n in memory if n.tier is not None]
    if memory and len(tier_ids) == len(memory):
        fast = [n for n in memory if n.tier == min(tier_ids)]
    else:
        fast = [n for n in memory if n.has_cpu]
    return fast, [n for n in memory if n not in fast]


def _distance(node: NodeState | None, other: int) -> int:
    return FAR if node is None else node.distances.get(other, FAR)


class _Planner:
    """One plan's state: room left per node, the cold memory still on each fast node, the moves."""

    def __init__(self, snapshot: Snapshot, settings: Settings, fast: list[NodeState],
                 slow: list[NodeState], hot_set: set[int]) -> None:
        self.snapshot = snapshot
        self.page = snapshot.page_size
        self.fast, self.slow = fast, slow
        self.room = {n.id: n.free_bytes - math.ceil(settings.headroom * n.total_bytes)
                     for n in snapshot.memory_nodes}
        self.moves: list[Move] = []
        self.cold: dict[int, deque[tuple[RegionState, Move]]] = {n.id: deque() for n in fast}
        self.cold_pages = dict.fromkeys(self.cold, 0)
        # Outside the hot set is cold to the fast tier: a hot region that did not fit makes room
        # too (after the cold ones), or a new hot set could never displace the last one.
        regions = sorted((r for i, r in enumerate(snapshot.regions) if i not in hot_set),
                         key=lambda r: (r.heat, r.pid, r.start))
        self.settings = settings
        for region in regions:
            for node in fast:
                pages = region.pages.get(node.id, 0)
                if pages > 0:
                    self.cold_pages[node.id] += pages
                    self.cold[node.id].append((region, Move(region.pid, region.start, region.end, node.id,
                                                            node.id, pages, "demote", "", 0.0)))

    def add(self, move: Move) -> None:
        self.moves.append(move)
        self.room[move.target] = self.room.get(move.target, 0) - move.pages * self.page
        self.room[move.source] = self.room.get(move.source, 0) + move.pages * self.page

    def could_free(self, node: int) -> int:
        """The room on fast ``node`` once all its cold memory is demoted."""
        return self.room.get(node, 0) + self.cold_pages[node] * self.page

    def nearest_with_room(self, source: int, choices: Sequence[NodeState], size: int, *,
                          demoting: bool = False) -> int:
        """The node of ``choices`` nearest ``source`` with room for ``size`` bytes (once its cold memory
        is demoted, with ``demoting``); the nearest when none has room (the rules then drop the move)."""
        node = self.snapshot.node(source)
        ordered = sorted(choices, key=lambda n: (_distance(node, n.id), n.tier or 0, n.id))
        fitting = [n for n in ordered
                   if (self.could_free(n.id) if demoting else self.room.get(n.id, 0)) >= size]
        return (fitting or ordered)[0].id

    def demote(self, node: int, need: int, purpose: str) -> None:
        """Cold memory off fast ``node``, coldest first, until ``need`` bytes are freed (all: need < 0)."""
        queue = self.cold[node]
        while queue and need != 0:
            if need < 0 and self.settings.is_hot(queue[0][0].heat):
                break  # demote=cold: the cold ones only; warm memory leaves only to make room
            region, pending = queue.popleft()
            taken = pending if need < 0 else prefix_with(pending, math.ceil(need / self.page), self.page)
            rest = part(pending, taken.end, pending.end, self.page) if taken.pages < pending.pages else None
            if rest is not None:
                queue.appendleft((region, replace(rest, pages=pending.pages - taken.pages)))
            self.cold_pages[node] -= taken.pages
            size = taken.pages * self.page
            target = self.nearest_with_room(node, self.slow, size)
            self.add(replace(taken, target=target, gain=float(size),
                             reason=f"{self._cold_words(region)}, {purpose}"))
            if need > 0:
                need = max(0, need - size)

    def _cold_words(self, region: RegionState) -> str:
        if self.settings.is_hot(region.heat):
            return f"warm: {heat_text(region.heat, self.snapshot)}, outside the hot set that fits the tier"
        if region.heat > 0:
            return f"cold: {heat_text(region.heat, self.snapshot)}, below the hot threshold"
        seconds = self.snapshot.seconds
        return f"cold: no access in {seconds:.3g} s" if seconds > 0 else "cold: no access seen"


class TieringPolicy:
    """Promote the hot set to the fast tier, demote cold memory to slower tiers, keep headroom."""

    name: ClassVar[str] = "tiering"
    description: ClassVar[str] = ("the hottest memory that fits to the fast tier, cold memory to slower "
                                  "(memory-only) nodes, keeping headroom on the fast tier")
    options: ClassVar[Mapping[str, str]] = {
        "demote": "needed (default): demote cold memory only to make room for promotions and restore "
                  "the headroom; cold: demote every cold page on the fast tier",
        "margin": "how much hotter, as a share, memory on a slower node must be than memory on the fast "
                  "tier to take its place (default 0.5; 0 to 100): equally warm regions, whose heat "
                  "differs by noise between profiles, are not swapped back and forth",
    }

    def __init__(self, options: Mapping[str, str] | None = None) -> None:
        self.given = dict(options or {})
        self.settings: Settings = read_settings(self.given, self.name)
        self.demote = self.given.get("demote", "needed")
        if self.demote not in ("needed", "cold"):
            raise InvalidInputError(f"tiering option demote must be needed or cold, not {self.demote[:40]!r}")
        self.margin = fraction(self.given.get("margin", "0.5"), "tiering option margin", 0.0, 100.0)

    def plan(self, snapshot: Snapshot) -> Plan:
        fast, slow = tiers(snapshot)
        if not fast or not slow:
            why = (f"every memory node ({nodes_text(n.id for n in fast + slow)}) is in one tier: "
                   "there is no slower tier to promote from or demote to")
            return finish(self.name, self.given, snapshot, [], self.settings, (), why)
        fast_ids = {n.id for n in fast}
        page = snapshot.page_size
        held = sum(r.pages.get(f, 0) for r in snapshot.regions for f in fast_ids) * page
        capacity = sum(n.free_bytes - math.ceil(self.settings.headroom * n.total_bytes) for n in fast) + held
        hot = sorted((i for i, r in enumerate(snapshot.regions)
                      if self.settings.is_hot(r.heat) and r.resident > 0),
                     key=lambda i: -self._rank(snapshot.regions[i], fast_ids))
        hot_set: list[int] = []
        used = 0
        for index in hot:
            size = snapshot.regions[index].resident * page
            if used + size > capacity:
                break
            hot_set.append(index)
            used += size
        coolest = min((snapshot.regions[i].heat for i in hot_set), default=math.inf)
        held_back = {i for i in hot[len(hot_set):] if snapshot.regions[i].heat > coolest}
        planner = _Planner(snapshot, self.settings, fast, slow, set(hot_set))
        words = f"in the hottest {size_text(used)} that fit the fast tier"
        for index in hot_set:
            self._promote(planner, snapshot.regions[index], fast, fast_ids, words)
        for node in fast:
            if planner.room[node.id] < 0:
                planner.demote(node.id, -planner.room[node.id], f"restores node {node.id}'s headroom")
            if self.demote == "cold":
                planner.demote(node.id, -1, "off the fast tier")
        notes = []
        if held_back:
            size = sum(snapshot.regions[i].resident for i in held_back) * page
            notes.append(f"{len(held_back)} regions below ({size_text(size)}) read hotter than memory on the "
                         f"fast tier, but by less than the margin ({self.margin:g}), and stay where they are")
        unfit = [i for i in hot[len(hot_set):] if i not in held_back]
        if unfit:
            left = sum(snapshot.regions[i].resident for i in unfit) * page
            notes.append(f"{len(unfit)} hot regions ({size_text(left)}) do not fit the fast "
                         f"tier's {size_text(max(capacity, 0))} for these processes and stay where they are")
        why = ""
        if not planner.moves:
            why = (f"no region is hot ({hot_rule(self.settings)}) and the fast tier keeps its headroom"
                   if not hot else f"the hot set ({size_text(used)}) is already on the fast tier (nodes "
                   f"{nodes_text(fast_ids)}) and the fast tier keeps its headroom")
        return finish(self.name, self.given, snapshot, planner.moves, self.settings, notes, why)

    def _rank(self, region: RegionState, fast_ids: set[int]) -> float:
        """The heat a region ranks by: raised by the margin for the share of it already on the fast tier."""
        on_fast = sum(pages for node, pages in region.pages.items() if node in fast_ids)
        return region.heat * (1 + self.margin * on_fast / region.resident)

    def _promote(self, planner: _Planner, region: RegionState, fast: list[NodeState], fast_ids: set[int],
                 words: str) -> None:
        accesses = region.accessing_nodes or {}
        preferred = max(accesses, key=lambda n: (accesses[n], -n)) if accesses else None
        for source, pages in sorted(region.pages.items()):
            if source in fast_ids or pages <= 0:
                continue
            size = pages * planner.page
            if preferred is not None and preferred in fast_ids and planner.could_free(preferred) >= size:
                target = preferred
            else:
                target = planner.nearest_with_room(source, fast, size, demoting=True)
            if planner.room.get(target, 0) < size:
                planner.demote(target, size - planner.room.get(target, 0), f"makes room on node {target}")
            reason = f"hot: {heat_text(region.heat, planner.snapshot)}, {words}"
            planner.add(Move(region.pid, region.start, region.end, source, target, pages, "promote", reason,
                             float(size)))


register(TieringPolicy.name, TieringPolicy)
