"""The balance policy: spread each process's resident pages over the memory nodes by weight.

Weights as numactl writes them ("0:1,1:2"), or by each node's free memory
("free", the default) or capacity ("total"). Pages move from nodes over their
share to nodes under it, the coldest regions first, a region cut at a page
boundary when only part of it is needed; each page goes to the nearest node
still short of its share.

Pure: no kernel interface. May import: numamove.errors and its own package.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from typing import ClassVar

from numamove.errors import InvalidInputError
from numamove.policy.base import Settings, number, read_settings, register
from numamove.policy.plan import Move, Plan
from numamove.policy.rules import FAR, finish, nodes_text, part, prefix_with
from numamove.policy.snapshot import ProcessState, RegionState, Snapshot

__all__ = ["BalancePolicy", "parse_node_weights"]

TOLERANCE = 0.01
"""A node within this share of the process's pages of its target counts as balanced."""


def parse_node_weights(text: str) -> dict[int, float] | str:
    """ "free", "total", or "0:1,1:2" -> {node: weight}; a bare node weighs 1."""
    if text in ("free", "total"):
        return text
    weights: dict[int, float] = {}
    for entry in text.split(","):
        node_text, colon, weight_text = entry.partition(":")
        if not (node_text.isascii() and node_text.isdigit()) or int(node_text) > 1023:
            raise InvalidInputError(f"balance option weights: {entry[:30]!r} is not node:weight "
                                    "(like 0:1,1:2), free or total")
        weight = number(weight_text, "balance option weights: a weight", 0.0, 1e12) if colon else 1.0
        weights[int(node_text)] = weight
    if not any(w > 0 for w in weights.values()):
        raise InvalidInputError("balance option weights gives no node a weight above 0")
    return weights


class BalancePolicy:
    """Spread each process over the memory nodes by capacity, free memory, or weights."""

    name: ClassVar[str] = "balance"
    description: ClassVar[str] = ("spread each process's pages over the memory nodes by weights, free "
                                  "memory or capacity, moving the coldest pages first")
    options: ClassVar[Mapping[str, str]] = {
        "weights": "node:weight pairs like 0:1,1:2, or free (default: by free memory) or total (by capacity)",
    }

    def __init__(self, options: Mapping[str, str] | None = None) -> None:
        self.given = dict(options or {})
        self.settings: Settings = read_settings(self.given, self.name)
        self.weights = parse_node_weights(self.given.get("weights", "free"))

    def plan(self, snapshot: Snapshot) -> Plan:
        notes: list[str] = []
        memory = {n.id: n for n in snapshot.memory_nodes}
        if isinstance(self.weights, dict):
            missing = sorted(set(self.weights) - set(memory))
            if missing:
                notes.append(f"weights name node {nodes_text(missing)}, which has no memory here: left out")
        candidates: list[Move] = []
        for process in snapshot.processes:
            weights = self._weights(snapshot, process)
            if not weights:
                notes.append(f"pid {process.pid}: no memory node of its cpuset has a weight above 0")
                continue
            regions = [r for r in snapshot.regions if r.pid == process.pid]
            candidates.extend(self._spread(snapshot, regions, weights))
        why = "each process is already spread by its weights" if not candidates else ""
        return finish(self.name, self.given, snapshot, candidates, self.settings, notes, why)

    def _weights(self, snapshot: Snapshot, process: ProcessState) -> dict[int, float]:
        allowed = process.mems_allowed
        found = {}
        for node in snapshot.memory_nodes:
            if allowed is not None and node.id not in allowed:
                continue
            if self.weights == "free":
                weight = float(max(node.free_bytes, 0))
            elif self.weights == "total":
                weight = float(node.total_bytes)
            else:
                assert isinstance(self.weights, dict)
                weight = self.weights.get(node.id, 0.0)
            if weight > 0:
                found[node.id] = weight
        total = sum(found.values())
        return {n: w / total for n, w in found.items()}

    def _spread(self, snapshot: Snapshot, regions: list[RegionState],
                shares: Mapping[int, float]) -> list[Move]:
        counts: dict[int, int] = {}
        for region in regions:
            for node, pages in region.pages.items():
                counts[node] = counts.get(node, 0) + max(pages, 0)
        total = sum(counts.values())
        if total == 0:
            return []
        slack = max(1.0, TOLERANCE * total)
        excess = {n: counts.get(n, 0) - total * shares.get(n, 0.0) for n in set(counts) | set(shares)}
        short = {n: -e for n, e in excess.items() if e < -slack and n in shares}
        over = sorted((n for n, e in excess.items() if e > slack), key=lambda n: (-excess[n], n))
        moves: list[Move] = []
        page = snapshot.page_size
        for source in over:
            reason = (f"balance: node {source} holds {counts[source] / total:.0%} of the pages, its share is "
                      f"{shares.get(source, 0.0):.0%}")
            to_move = math.floor(excess[source])
            for region in sorted(regions, key=lambda r: (r.heat, r.start)):
                pages = region.pages.get(source, 0)
                pending: Move | None = Move(region.pid, region.start, region.end, source, source, pages,
                                            "balance", reason, 0.0) if pages > 0 else None
                while pending is not None and to_move > 0:
                    target = self._nearest_short(snapshot, source, short)
                    if target is None:
                        return moves
                    want = min(to_move, math.floor(short[target]))
                    taken = prefix_with(pending, max(want, 1), page)
                    rest = None
                    if taken.pages < pending.pages:
                        rest = part(pending, taken.end, pending.end, page)
                    pending = None if rest is None else replace(rest, pages=pending.pages - taken.pages)
                    moves.append(replace(taken, target=target, gain=float(taken.pages * page)))
                    to_move -= taken.pages
                    short[target] -= taken.pages
                    if short[target] < 1:
                        del short[target]
                if to_move <= 0:
                    break
        return moves

    @staticmethod
    def _nearest_short(snapshot: Snapshot, source: int, short: Mapping[int, float]) -> int | None:
        if not short:
            return None
        node = snapshot.node(source)
        distances = node.distances if node is not None else {}
        return min(short, key=lambda n: (distances.get(n, FAR), -short[n], n))


register(BalancePolicy.name, BalancePolicy)
