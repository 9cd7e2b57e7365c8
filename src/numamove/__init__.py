"""numamove: see and move the pages of Linux processes across NUMA nodes.

The public API is what ``__all__`` lists; submodules are implementation.
"""

from numamove._syscalls import MPOL_MF_MOVE, MPOL_MF_MOVE_ALL, MPOL_MF_STRICT
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
from numamove.mempolicy import (
    MPOL_F_RELATIVE_NODES,
    MPOL_F_STATIC_NODES,
    MemPolicy,
    Mode,
    get_mempolicy,
    mbind,
    set_mempolicy,
)
from numamove.mover import (
    MoveResult,
    Units,
    by_source,
    interleave,
    move_units,
    one_node,
    remap_nodes,
    thread_nodes,
    units_from_scan,
)
from numamove.nodemask import format_nodemask, parse_cpulist, parse_nodemask
from numamove.pages import BATCH_PAGES, migrate_pages, move_pages
from numamove.placement import (
    Application,
    PagePlacement,
    ProcessMemory,
    ThreadPlacement,
    Vma,
    VmaKind,
    scan_application,
    scan_process,
)
from numamove.status import PageStatus, describe_status, status_counts
from numamove.targets import resolve_targets
from numamove.topology import Node, Topology, nodes, read_topology

__version__ = "0.1.0"

__all__ = [
    "BATCH_PAGES",
    "MPOL_F_RELATIVE_NODES",
    "MPOL_F_STATIC_NODES",
    "MPOL_MF_MOVE",
    "MPOL_MF_MOVE_ALL",
    "MPOL_MF_STRICT",
    "Application",
    "BadAddressError",
    "InputTypeError",
    "InvalidInputError",
    "InvalidRequestError",
    "Kernel",
    "KernelError",
    "MemPolicy",
    "Mode",
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
    "ProcessMemory",
    "ThreadPlacement",
    "TooManyPagesError",
    "Topology",
    "TopologyError",
    "Units",
    "UnsupportedError",
    "Vma",
    "VmaKind",
    "__version__",
    "by_source",
    "describe_status",
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
    "read_topology",
    "remap_nodes",
    "resolve_targets",
    "scan_application",
    "scan_process",
    "set_mempolicy",
    "status_counts",
    "thread_nodes",
    "units_from_scan",
]
