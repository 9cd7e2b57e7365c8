"""numamove: see and move the pages of Linux processes across NUMA nodes.

The public API is what ``__all__`` lists; submodules are implementation.
Names are imported on first use (PEP 562), so a command pays only for the
modules it needs: ``numamove nodes`` never loads numpy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from numamove.daemon.loop import Daemon
    from numamove.doctor import Diagnosis, diagnose
    from numamove.errors import (
        BadAddressError,
        InputTypeError,
        InvalidInputError,
        InvalidRequestError,
        KernelError,
        NodemaskSyntaxError,
        NodeNotAllowedError,
        NodeOfflineError,
        NoSuchProcessError,
        NotPermittedError,
        NumaMoveError,
        OutOfMemoryError,
        TooManyPagesError,
        TopologyError,
        UnsupportedError,
    )
    from numamove.kernel import Kernel
    from numamove.kernel.syscalls import MPOL_MF_MOVE, MPOL_MF_MOVE_ALL, MPOL_MF_STRICT
    from numamove.model import Application, PagePlacement, ProcessMemory, ThreadPlacement, Vma, VmaKind
    from numamove.move.apply import ApplyResult, apply_plan
    from numamove.move.engine import move_units
    from numamove.move.from_scan import units_from_scan
    from numamove.move.mempolicy import (
        MPOL_F_RELATIVE_NODES,
        MPOL_F_STATIC_NODES,
        MemPolicy,
        Mode,
        get_mempolicy,
        mbind,
        set_mempolicy,
    )
    from numamove.move.pages import BATCH_PAGES, migrate_pages, move_pages
    from numamove.move.result import MoveResult
    from numamove.nodemask import format_nodemask, parse_cpulist, parse_nodemask
    from numamove.planning.run import plan_from_report, record_report
    from numamove.planning.snapshot import take_snapshot
    from numamove.policy.base import Policy
    from numamove.policy.choosers import balance, by_source, interleave, one_node, remap_nodes, thread_nodes
    from numamove.policy.plan import Move, Plan
    from numamove.policy.snapshot import Snapshot
    from numamove.policy.units import Units
    from numamove.scan import scan_application, scan_process
    from numamove.status import PageStatus, describe_status, status_counts
    from numamove.targets import resolve_targets
    from numamove.topology import Node, Topology, nodes, read_topology
    from numamove.trackers.base import Region, Tracker, TrackerInfo, tracking

_HOMES = {
    "MPOL_MF_MOVE": "numamove.kernel.syscalls",
    "MPOL_MF_MOVE_ALL": "numamove.kernel.syscalls",
    "MPOL_MF_STRICT": "numamove.kernel.syscalls",
    "BadAddressError": "numamove.errors",
    "InputTypeError": "numamove.errors",
    "InvalidInputError": "numamove.errors",
    "InvalidRequestError": "numamove.errors",
    "KernelError": "numamove.errors",
    "NoSuchProcessError": "numamove.errors",
    "NodeNotAllowedError": "numamove.errors",
    "NodeOfflineError": "numamove.errors",
    "NodemaskSyntaxError": "numamove.errors",
    "NotPermittedError": "numamove.errors",
    "NumaMoveError": "numamove.errors",
    "OutOfMemoryError": "numamove.errors",
    "TooManyPagesError": "numamove.errors",
    "TopologyError": "numamove.errors",
    "UnsupportedError": "numamove.errors",
    "Kernel": "numamove.kernel",
    "MPOL_F_RELATIVE_NODES": "numamove.move.mempolicy",
    "MPOL_F_STATIC_NODES": "numamove.move.mempolicy",
    "MemPolicy": "numamove.move.mempolicy",
    "Mode": "numamove.move.mempolicy",
    "get_mempolicy": "numamove.move.mempolicy",
    "mbind": "numamove.move.mempolicy",
    "set_mempolicy": "numamove.move.mempolicy",
    "MoveResult": "numamove.move.result",
    "Units": "numamove.policy.units",
    "balance": "numamove.policy.choosers",
    "by_source": "numamove.policy.choosers",
    "interleave": "numamove.policy.choosers",
    "move_units": "numamove.move.engine",
    "one_node": "numamove.policy.choosers",
    "remap_nodes": "numamove.policy.choosers",
    "thread_nodes": "numamove.policy.choosers",
    "units_from_scan": "numamove.move.from_scan",
    "format_nodemask": "numamove.nodemask",
    "parse_cpulist": "numamove.nodemask",
    "parse_nodemask": "numamove.nodemask",
    "BATCH_PAGES": "numamove.move.pages",
    "migrate_pages": "numamove.move.pages",
    "move_pages": "numamove.move.pages",
    "Application": "numamove.model",
    "PagePlacement": "numamove.model",
    "ProcessMemory": "numamove.model",
    "ThreadPlacement": "numamove.model",
    "Vma": "numamove.model",
    "VmaKind": "numamove.model",
    "scan_application": "numamove.scan",
    "scan_process": "numamove.scan",
    "PageStatus": "numamove.status",
    "describe_status": "numamove.status",
    "status_counts": "numamove.status",
    "resolve_targets": "numamove.targets",
    "Node": "numamove.topology",
    "Topology": "numamove.topology",
    "nodes": "numamove.topology",
    "read_topology": "numamove.topology",
    "Region": "numamove.trackers.base",
    "Tracker": "numamove.trackers.base",
    "TrackerInfo": "numamove.trackers.base",
    "tracking": "numamove.trackers.base",
    "Diagnosis": "numamove.doctor",
    "diagnose": "numamove.doctor",
    "Policy": "numamove.policy.base",
    "Plan": "numamove.policy.plan",
    "Move": "numamove.policy.plan",
    "Snapshot": "numamove.policy.snapshot",
    "take_snapshot": "numamove.planning.snapshot",
    "plan_from_report": "numamove.planning.run",
    "record_report": "numamove.planning.run",
    "ApplyResult": "numamove.move.apply",
    "apply_plan": "numamove.move.apply",
    "Daemon": "numamove.daemon.loop",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'numamove' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # once: later lookups are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__version__ = "0.1.0"

__all__ = [
    "BATCH_PAGES",
    "MPOL_F_RELATIVE_NODES",
    "MPOL_F_STATIC_NODES",
    "MPOL_MF_MOVE",
    "MPOL_MF_MOVE_ALL",
    "MPOL_MF_STRICT",
    "Application",
    "ApplyResult",
    "BadAddressError",
    "Daemon",
    "Diagnosis",
    "InputTypeError",
    "InvalidInputError",
    "InvalidRequestError",
    "Kernel",
    "KernelError",
    "MemPolicy",
    "Mode",
    "Move",
    "MoveResult",
    "NoSuchProcessError",
    "Node",
    "NodeNotAllowedError",
    "NodeOfflineError",
    "NodemaskSyntaxError",
    "NotPermittedError",
    "NumaMoveError",
    "OutOfMemoryError",
    "PagePlacement",
    "PageStatus",
    "Plan",
    "Policy",
    "ProcessMemory",
    "Region",
    "Snapshot",
    "ThreadPlacement",
    "TooManyPagesError",
    "Topology",
    "TopologyError",
    "Tracker",
    "TrackerInfo",
    "Units",
    "UnsupportedError",
    "Vma",
    "VmaKind",
    "__version__",
    "apply_plan",
    "balance",
    "by_source",
    "describe_status",
    "diagnose",
    "format_nodemask",
    "get_mempolicy",
    "interleave",
    "mbind",
    "migrate_pages",
    "move_pages",
    "move_units",
    "nodes",
    "one_node",
    "parse_cpulist",
    "parse_nodemask",
    "plan_from_report",
    "read_topology",
    "record_report",
    "remap_nodes",
    "resolve_targets",
    "scan_application",
    "scan_process",
    "set_mempolicy",
    "status_counts",
    "take_snapshot",
    "thread_nodes",
    "tracking",
    "units_from_scan",
]
