"""Hand-made snapshots for the policy tests: the test VM's shape (nodes 0-1 with CPUs, node 2 memory only)."""

from __future__ import annotations

from collections.abc import Mapping

from numamove.policy.snapshot import NodeState, PastMove, ProcessState, RegionState, Snapshot, TrackerLimits

P = 4096
MiB = 1 << 20
GiB = 1 << 30
BASE = 0x7F0000000000
PID = 4242
DISTANCES = {0: {0: 10, 1: 20, 2: 17}, 1: {0: 20, 1: 10, 2: 28}, 2: {0: 17, 1: 28, 2: 10}}


def node(node_id: int, *, free: int = 512 * MiB, total: int = GiB, cpu: bool | None = None,
         tier: int | None = None) -> NodeState:
    return NodeState(node_id, node_id != 2 if cpu is None else cpu, True, total, free, tier,
                     DISTANCES.get(node_id, {}))


def region(first_page: int, pages: Mapping[int, int], heat: float = 0.0,
           accessing: Mapping[int, float] | None = None, *, size: int | None = None, pid: int = PID,
           mapping: str = "[anon]") -> RegionState:
    """A region ``first_page`` pages after BASE, ``size`` pages long (default: its resident pages)."""
    length = size if size is not None else sum(pages.values())
    return RegionState(pid, BASE + first_page * P, BASE + (first_page + length) * P, dict(pages), heat, None,
                       None if accessing is None else dict(accessing), mapping)


def snapshot(*regions: RegionState, nodes: tuple[NodeState, ...] | None = None,
             mems: frozenset[int] | None = None, history: tuple[PastMove, ...] = (), interval: int = 10,
             unit: str = "accesses/s", seconds: float = 8.0, writes_only: bool = False) -> Snapshot:
    pids = sorted({r.pid for r in regions} | {PID})
    return Snapshot(nodes if nodes is not None else (node(0), node(1), node(2)),
                    tuple(ProcessState(pid, 1000 + pid, "worker", mems) for pid in pids), tuple(regions), P,
                    TrackerLimits(("damon", "threads"), unit, writes_only), history, interval, seconds)
