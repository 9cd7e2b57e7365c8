"""NUMA topology: nodes, their CPUs, memory, distances and memory tiers; CPU -> node.

Read from /sys/devices/system/node (node states, nodeN/cpulist, meminfo,
distance), /sys/devices/virtual/memory_tiering (memory_tierN/nodelist),
/proc/sys/kernel/numa_balancing and /sys/kernel/mm/numa/demotion_enabled.
:func:`cpu_node_map` keeps the CPU -> node map on the Kernel while no CPU is
added. PFN -> node (which node's memory a page frame is) is in :mod:`.frames`.

May import: :mod:`numamove.kernel`, :mod:`numamove.procfs`, :mod:`numamove.nodemask`,
:mod:`numamove.errors`. No numpy here: ``numamove nodes`` loads none.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from numamove.errors import TopologyError
from numamove.kernel import DEFAULT, NODE_DIR, Kernel, takes_kernel_or_default
from numamove.nodemask import parse_cpulist
from numamove.procfs.sysfs import parse_distance, parse_meminfo, parse_node_meminfo

__all__ = ["Node", "Topology", "cpu_node_map", "cpu_nodes", "nodes", "read_topology"]

CPU_DIR = "sys/devices/system/cpu"

TIER_DIR = "sys/devices/virtual/memory_tiering"


@dataclass(frozen=True)
class Node:
    """One online NUMA node."""

    id: int
    cpus: tuple[int, ...]
    mem_total: int
    """Bytes of memory on the node (MemTotal)."""
    mem_free: int
    """Bytes free (MemFree)."""
    distances: Mapping[int, int]
    """SLIT distance from this node to each online node; 10 is local."""
    tier: int | None
    """Memory tier id (memory_tierN; a larger id is a slower tier), or None without tiering."""
    has_cpu: bool
    has_memory: bool

    @property
    def memory_only(self) -> bool:
        """A node with memory and no CPUs: CXL or PMEM expanders look like this."""
        return self.has_memory and not self.has_cpu

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view; distance keys are node ids as decimal strings."""
        return {
            "id": self.id,
            "cpus": list(self.cpus),
            "mem_total": self.mem_total,
            "mem_free": self.mem_free,
            "distances": {str(node): distance for node, distance in self.distances.items()},
            "tier": self.tier,
            "has_cpu": self.has_cpu,
            "has_memory": self.has_memory,
        }


@dataclass(frozen=True)
class Topology:
    """The nodes and the kernel's automatic NUMA placement settings."""

    nodes: tuple[Node, ...]
    numa_balancing: int | None
    """/proc/sys/kernel/numa_balancing: 0 off, 1 NUMA balancing, 2 memory tiering, 3 both."""
    demotion_enabled: bool | None
    """/sys/kernel/mm/numa/demotion_enabled: reclaim demotes pages to a lower tier."""

    def node(self, node_id: int) -> Node:
        for node in self.nodes:
            if node.id == node_id:
                return node
        raise KeyError(node_id)


@takes_kernel_or_default
def read_topology(kernel: Kernel = DEFAULT) -> Topology:
    """The topology of ``kernel`` (the running one by default)."""
    if not kernel.exists(NODE_DIR):
        return _without_numa(kernel)
    online = sorted(kernel.online_nodes())
    has_cpu = kernel.node_list("has_cpu") if kernel.exists(f"{NODE_DIR}/has_cpu") else frozenset(online)
    has_memory = (kernel.node_list("has_memory") if kernel.exists(f"{NODE_DIR}/has_memory")
                  else frozenset(online))
    tiers = _tiers(kernel)
    result = []
    for node_id in online:
        base = f"{NODE_DIR}/node{node_id}"
        try:
            cpus = parse_cpulist(kernel.read_text(f"{base}/cpulist"))
            meminfo = parse_node_meminfo(kernel.read_text(f"{base}/meminfo"))
            distance_row = parse_distance(kernel.read_text(f"{base}/distance"))
        except OSError as error:
            raise TopologyError(f"cannot read node {node_id}: {error.strerror}: {error.filename}") from None
        if len(distance_row) != len(online):
            raise TopologyError(f"node {node_id} lists {len(distance_row)} distances for "
                                f"{len(online)} online nodes")
        result.append(Node(
            id=node_id,
            cpus=cpus,
            mem_total=meminfo.get("MemTotal", 0),
            mem_free=meminfo.get("MemFree", 0),
            distances=dict(zip(online, distance_row, strict=True)),
            tier=tiers.get(node_id),
            has_cpu=node_id in has_cpu,
            has_memory=node_id in has_memory,
        ))
    return Topology(
        nodes=tuple(result),
        numa_balancing=_read_int(kernel, "proc/sys/kernel/numa_balancing"),
        demotion_enabled=_read_bool(kernel, "sys/kernel/mm/numa/demotion_enabled"),
    )


@takes_kernel_or_default
def nodes(kernel: Kernel = DEFAULT) -> list[Node]:
    """The online NUMA nodes, in id order."""
    return list(read_topology(kernel).nodes)


@takes_kernel_or_default
def cpu_nodes(kernel: Kernel = DEFAULT) -> dict[int, int]:
    """CPU id -> node id, from the online nodes' cpulist files alone (cheaper than read_topology)."""
    if not kernel.exists(NODE_DIR):
        return dict.fromkeys(parse_cpulist(kernel.read_text(f"{CPU_DIR}/online")), 0)
    return {cpu: node for node in sorted(kernel.online_nodes())
            for cpu in parse_cpulist(kernel.read_text(f"{NODE_DIR}/node{node}/cpulist"))}


def cpu_node_map(kernel: Kernel, fresh: bool = False) -> dict[int, int]:
    """:func:`cpu_nodes`, kept on ``kernel`` while no CPU is added: a CPU keeps its node while the
    machine runs. ``fresh`` reads it again (a CPU that came online since)."""
    return kernel.kept("cpu_nodes", lambda: cpu_nodes(kernel), watch=CPU_DIR, fresh=fresh)


def _without_numa(kernel: Kernel) -> Topology:
    """A kernel built without CONFIG_NUMA: one node 0 with every CPU and all memory."""
    try:
        cpus = parse_cpulist(kernel.read_text("sys/devices/system/cpu/online"))
        meminfo = parse_meminfo(kernel.read_text("proc/meminfo"))
    except OSError as error:
        raise TopologyError(f"no NUMA topology and no {error.filename}: {error.strerror}") from None
    node = Node(id=0, cpus=cpus, mem_total=meminfo.get("MemTotal", 0), mem_free=meminfo.get("MemFree", 0),
                distances={0: 10}, tier=None, has_cpu=True, has_memory=True)
    return Topology(nodes=(node,), numa_balancing=None, demotion_enabled=None)


def _tiers(kernel: Kernel) -> dict[int, int]:
    if not kernel.exists(TIER_DIR):
        return {}
    tiers = {}
    for entry in kernel.listdir(TIER_DIR):
        if not entry.startswith("memory_tier") or not entry[len("memory_tier"):].isdigit():
            continue
        for node_id in parse_cpulist(kernel.read_text(f"{TIER_DIR}/{entry}/nodelist")):
            tiers[node_id] = int(entry[len("memory_tier"):])
    return tiers


def _read_int(kernel: Kernel, path: str) -> int | None:
    try:
        return int(kernel.read_text(path).strip())
    except (OSError, ValueError):
        return None


def _read_bool(kernel: Kernel, path: str) -> bool | None:
    try:
        text = kernel.read_text(path).strip()
    except OSError:
        return None
    return {"true": True, "false": False}.get(text)
