"""What a policy is given: a snapshot of processes' memory, its heat, who touches it, and the nodes.

Pure data, built elsewhere (numamove.planning reads the kernel and a profile);
a policy reads it and returns a plan. Nothing here reads a file.

May import: numamove.errors and its own package.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["NodeState", "PastMove", "ProcessState", "RegionState", "Snapshot", "TrackerLimits"]


@dataclass(frozen=True)
class NodeState:
    """One online node as a policy sees it."""

    id: int
    has_cpu: bool
    has_memory: bool
    total_bytes: int
    free_bytes: int
    tier: int | None = None
    """Memory tier (a larger id is slower), None where the kernel has no tiers."""
    distances: Mapping[int, int] = field(default_factory=dict)
    """SLIT distance to each node; 10 is local."""

    @property
    def memory_only(self) -> bool:
        return self.has_memory and not self.has_cpu


@dataclass(frozen=True)
class ProcessState:
    """A target process: its pid, start time (clock ticks after boot) and the nodes its cpuset allows."""

    pid: int
    start: int
    name: str = ""
    mems_allowed: frozenset[int] | None = None
    """None when unknown (every node is allowed then)."""


@dataclass(frozen=True)
class RegionState:
    """A range ``[start, end)`` of one process: its pages per node, heat and accessing nodes."""

    pid: int
    start: int
    end: int
    pages: Mapping[int, int]
    """Resident pages per memory node."""
    heat: float
    """In the snapshot's heat unit; 0 is not accessed."""
    written: bool | None = None
    accessing_nodes: Mapping[int, float] | None = None
    """Share of the accesses per accessing node (summing to 1), None when no tracker knew."""
    mapping: str = ""
    """The mapping it lies in ("[heap]", a file, "[anon]")."""

    @property
    def size(self) -> int:
        return self.end - self.start

    @property
    def resident(self) -> int:
        return sum(self.pages.values())


@dataclass(frozen=True)
class PastMove:
    """A move carried out before: which range of which process went where, and in which interval."""

    pid: int
    start: int
    end: int
    source: int
    target: int
    interval: int


@dataclass(frozen=True)
class TrackerLimits:
    """What the trackers behind the heat see: a policy says when its decision leans on a blind spot."""

    names: tuple[str, ...] = ()
    heat_unit: str = ""
    writes_only: bool = False
    """The heat counts writes only (soft-dirty): memory only read looks cold."""


@dataclass(frozen=True)
class Snapshot:
    """Everything a policy decides on. ``interval`` counts the decisions made so far (a daemon's
    cycles); ``history`` holds the moves of earlier intervals, for hysteresis."""

    nodes: tuple[NodeState, ...]
    processes: tuple[ProcessState, ...]
    regions: tuple[RegionState, ...]
    page_size: int = 4096
    trackers: TrackerLimits = field(default_factory=TrackerLimits)
    history: tuple[PastMove, ...] = ()
    interval: int = 0
    seconds: float = 0.0
    """How many seconds of profile the heat comes from."""

    def node(self, node_id: int) -> NodeState | None:
        return next((node for node in self.nodes if node.id == node_id), None)

    def process(self, pid: int) -> ProcessState | None:
        return next((process for process in self.processes if process.pid == pid), None)

    @property
    def memory_nodes(self) -> tuple[NodeState, ...]:
        return tuple(node for node in self.nodes if node.has_memory)

    @property
    def accessing_known(self) -> bool:
        return any(region.accessing_nodes is not None for region in self.regions)
