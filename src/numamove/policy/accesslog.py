"""The log policy: move what an access log says is accessed mostly from another node.

A region with accessing nodes (an access log's samples, or the threads and
NUMA fault trackers) whose largest share (at least ``mostly``, default 50%)
names a node other than where its pages are goes whole to that node. Any heat
above 0 counts; regions are not split.

Pure: no kernel interface. May import: numamove.errors and its own package.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from numamove.policy.base import Settings, fraction, read_settings, register
from numamove.policy.plan import Move, Plan
from numamove.policy.rules import finish, heat_text
from numamove.policy.snapshot import Snapshot

__all__ = ["AccessLogPolicy"]


class AccessLogPolicy:
    """Each accessed region to the node its accesses mostly come from."""

    name: ClassVar[str] = "log"
    description: ClassVar[str] = "move what an access log says is accessed mostly from another node"
    options: ClassVar[Mapping[str, str]] = {
        "mostly": "the least share of a region's accesses from one node that moves it there (default 0.5)",
    }

    def __init__(self, options: Mapping[str, str] | None = None) -> None:
        self.given = dict(options or {})
        self.settings: Settings = read_settings(self.given, self.name)
        self.mostly = fraction(self.given.get("mostly", "0.5"), "log option mostly", 0.0, 1.0)

    def plan(self, snapshot: Snapshot) -> Plan:
        memory = {n.id for n in snapshot.memory_nodes}
        accessed = [r for r in snapshot.regions if r.heat > 0 and r.accessing_nodes and r.resident > 0]
        scored: list[tuple[float, int, Move]] = []
        for region in accessed:
            assert region.accessing_nodes is not None
            shares = region.accessing_nodes
            top = max(shares, key=lambda n: (shares[n], -n))
            if shares[top] < self.mostly or top not in memory:
                continue
            reason = f"access log: {shares[top]:.0%} of {heat_text(region.heat, snapshot)} from node {top}"
            for source, pages in sorted(region.pages.items()):
                if source == top or pages <= 0:
                    continue
                gain = pages * snapshot.page_size * (shares[top] - shares.get(source, 0.0))
                move = Move(region.pid, region.start, region.end, source, top, pages, "locality", reason,
                            gain)
                scored.append((region.heat * gain, len(scored), move))
        scored.sort(key=lambda item: (-item[0], item[1]))
        why = ""
        if not scored:
            if not snapshot.accessing_known:
                why = ("no access log said which nodes access the memory: profile with one (perf mem "
                       "samples), or add the threads tracker")
            elif not accessed:
                why = "no region with accessing nodes was accessed (heat > 0)"
            else:
                why = (f"no accessed region is accessed mostly (>= {self.mostly:.0%}) from a node other "
                       "than where it is")
        return finish(self.name, self.given, snapshot, [m for _, _, m in scored], self.settings, (), why)


register(AccessLogPolicy.name, AccessLogPolicy)
