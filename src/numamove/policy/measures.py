"""Measures of a placement: how much of the hot memory is where it should be.

``hot_shares(snapshot)`` answers two shares of the hot memory of a snapshot,
each weighted by heat x bytes (a region twice as hot counts twice):

- local: the share on the node that makes most of the region's accesses
  (of those regions whose accessing nodes a tracker knew);
- top tier: the share on the fastest memory tier (the lowest tier id among
  the memory nodes; without tier data, the nodes with CPUs).

The daemon exports them as gauges after each cycle; an evaluation compares
them before and after a policy ran. Pure: a Snapshot in, two numbers out.

May import: its own package.
"""

from __future__ import annotations

from numamove.policy.snapshot import NodeState, RegionState, Snapshot

__all__ = ["fast_nodes", "hot_shares", "local_nodes"]


def fast_nodes(nodes: tuple[NodeState, ...]) -> frozenset[int]:
    """The memory nodes of the fastest tier: the lowest tier id when every memory node has a tier,
    else the memory nodes with CPUs (the kernel without memory tiers: memory-only nodes are slow)."""
    memory = [node for node in nodes if node.has_memory]
    tiers = [node.tier for node in memory]
    if memory and all(tier is not None for tier in tiers):
        fastest = min(tier for tier in tiers if tier is not None)
        return frozenset(node.id for node in memory if node.tier == fastest)
    return frozenset(node.id for node in memory if node.has_cpu)


def local_nodes(region: RegionState) -> frozenset[int]:
    """The node(s) making the largest share of ``region``'s accesses (ties: all of them); empty when
    no tracker knew who accesses it."""
    shares = region.accessing_nodes
    if not shares:
        return frozenset()
    top = max(shares.values())
    if top <= 0:
        return frozenset()
    return frozenset(node for node, share in shares.items() if share == top)


def hot_shares(snapshot: Snapshot, min_heat: float = 0.0) -> tuple[float | None, float | None]:
    """(local share, top-tier share) of the hot resident memory, each from 0 to 1.

    Hot is a heat above 0 and at least ``min_heat`` (a policy's ``min_heat``
    setting, numamove.policy.base.Settings.is_hot). Each region weighs heat x
    its resident bytes. The local share is None when no hot resident region
    has known accessing nodes; the top-tier share is None when nothing hot is
    resident. A loop over regions, not pages.
    """
    fast = fast_nodes(snapshot.nodes)
    local_hot = local_all = tier_hot = tier_all = 0.0
    for region in snapshot.regions:
        if not (region.heat > 0 and region.heat >= min_heat):
            continue
        resident = region.resident
        if resident <= 0:
            continue
        weight = region.heat * snapshot.page_size
        tier_all += weight * resident
        tier_hot += weight * sum(pages for node, pages in region.pages.items() if node in fast)
        local = local_nodes(region)
        if local:
            local_all += weight * resident
            local_hot += weight * sum(pages for node, pages in region.pages.items() if node in local)
    return (_share(local_hot, local_all), _share(tier_hot, tier_all))


def _share(part: float, whole: float) -> float | None:
    if whole <= 0:
        return None
    return min(1.0, max(0.0, part / whole))
