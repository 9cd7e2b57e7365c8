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
from numamove.nodemask import format_nodemask, parse_cpulist, parse_nodemask
from numamove.pages import BATCH_PAGES, migrate_pages, move_pages
from numamove.status import PageStatus, describe_status, status_counts
from numamove.topology import Node, Topology, nodes, read_topology

__version__ = "0.1.0"

__all__ = [
    "BATCH_PAGES",
    "MPOL_F_RELATIVE_NODES",
    "MPOL_F_STATIC_NODES",
    "MPOL_MF_MOVE",
    "MPOL_MF_MOVE_ALL",
    "MPOL_MF_STRICT",
    "BadAddressError",
    "InputTypeError",
    "InvalidInputError",
    "InvalidRequestError",
    "Kernel",
    "KernelError",
    "MemPolicy",
    "Mode",
    "NoSuchProcessError",
    "Node",
    "NodeNotAllowedError",
    "NodeOfflineError",
    "NodemaskSyntaxError",
    "NotPermittedError",
    "NumaMoveError",
    "OutOfMemoryError",
    "PageStatus",
    "TooManyPagesError",
    "Topology",
    "TopologyError",
    "UnsupportedError",
    "__version__",
    "describe_status",
    "format_nodemask",
    "get_mempolicy",
    "mbind",
    "migrate_pages",
    "move_pages",
    "nodes",
    "parse_cpulist",
    "parse_nodemask",
    "read_topology",
    "set_mempolicy",
    "status_counts",
]
