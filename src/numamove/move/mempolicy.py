"""NUMA memory policies: mbind(2), set_mempolicy(2) and get_mempolicy(2).

These act on the calling process (the kernel has no pid argument for them).

Kernel interface: mbind(2), set_mempolicy(2), get_mempolicy(2), through a Kernel's
syscalls (numamove.kernel.syscalls).
May import: ctypes, numamove.kernel, numamove._inputs.
"""

from __future__ import annotations

import ctypes
import enum
from collections.abc import Iterable
from dataclasses import dataclass

from numamove._inputs import check_int, node_ids
from numamove.kernel import DEFAULT, Kernel, takes_kernel_or_default
from numamove.kernel.syscalls import CallFacts, nodemask_words, nodes_from_words, translate

__all__ = [
    "MPOL_F_ADDR",
    "MPOL_F_MEMS_ALLOWED",
    "MPOL_F_NODE",
    "MPOL_F_RELATIVE_NODES",
    "MPOL_F_STATIC_NODES",
    "MemPolicy",
    "Mode",
    "get_mempolicy",
    "mbind",
    "set_mempolicy",
]

# Mode flags, or'ed into the mode (include/uapi/linux/mempolicy.h).
MPOL_F_STATIC_NODES = 1 << 15
MPOL_F_RELATIVE_NODES = 1 << 14
MPOL_F_NUMA_BALANCING = 1 << 13
_MODE_FLAGS = MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES | MPOL_F_NUMA_BALANCING
# get_mempolicy(2) flags.
MPOL_F_NODE = 1 << 0
MPOL_F_ADDR = 1 << 1
MPOL_F_MEMS_ALLOWED = 1 << 2
# Room for any node id a kernel supports (MAX_NUMNODES is at most 1 << 10).
_MASK_BITS = 1024


class Mode(enum.IntEnum):
    """Memory policy modes (MPOL_*)."""

    DEFAULT = 0
    PREFERRED = 1
    BIND = 2
    INTERLEAVE = 3
    LOCAL = 4
    PREFERRED_MANY = 5
    WEIGHTED_INTERLEAVE = 6


@dataclass(frozen=True)
class MemPolicy:
    """A policy as get_mempolicy(2) reports it."""

    mode: Mode
    flags: int
    """Mode flags such as MPOL_F_STATIC_NODES."""
    nodes: frozenset[int]


@takes_kernel_or_default
def mbind(addr: int, length: int, mode: Mode | int, nodes: Iterable[int] = (), flags: int = 0,
          *, kernel: Kernel = DEFAULT) -> None:
    """Set the policy of the caller's range [addr, addr + length) with mbind(2).

    ``flags`` may hold MPOL_MF_STRICT, MPOL_MF_MOVE and MPOL_MF_MOVE_ALL, which
    also move the range's existing pages to conform to the policy.
    """
    addr = check_int(addr, "addr", low=0, high=2**64 - 1)
    length = check_int(length, "length", low=0, high=2**64 - 1)
    mode = check_int(mode, "mode", low=0)
    flags = check_int(flags, "flags", low=0, high=2**32 - 1)
    node_set = _node_set(nodes, kernel)
    mask, maxnode = nodemask_words(node_set)
    result = kernel.syscalls.mbind(addr, length, mode, ctypes.addressof(mask) if node_set else 0,
                                   maxnode if node_set else 0, flags)
    if result < 0:
        raise translate(-result, "mbind", kernel.call_facts(flags=flags, nodes=node_set))


@takes_kernel_or_default
def set_mempolicy(mode: Mode | int, nodes: Iterable[int] = (), *, kernel: Kernel = DEFAULT) -> None:
    """Set the calling thread's default policy with set_mempolicy(2)."""
    mode = check_int(mode, "mode", low=0)
    node_set = _node_set(nodes, kernel)
    mask, maxnode = nodemask_words(node_set)
    result = kernel.syscalls.set_mempolicy(mode, ctypes.addressof(mask) if node_set else 0,
                                           maxnode if node_set else 0)
    if result < 0:
        raise translate(-result, "set_mempolicy", kernel.call_facts(nodes=node_set))


@takes_kernel_or_default
def get_mempolicy(addr: int | None = None, *, kernel: Kernel = DEFAULT) -> MemPolicy:
    """The calling thread's policy, or the policy governing ``addr`` (MPOL_F_ADDR)."""
    if addr is not None:
        addr = check_int(addr, "addr", low=0, high=2**64 - 1)
    mode = ctypes.c_int(0)
    mask, maxnode = nodemask_words((), _MASK_BITS)
    flags = 0 if addr is None else MPOL_F_ADDR
    result = kernel.syscalls.get_mempolicy(ctypes.addressof(mode), ctypes.addressof(mask), maxnode,
                                           addr or 0, flags)
    if result < 0:
        raise translate(-result, "get_mempolicy", CallFacts())
    return MemPolicy(Mode(mode.value & ~_MODE_FLAGS), mode.value & _MODE_FLAGS, nodes_from_words(mask))


def _node_set(nodes: Iterable[int], kernel: Kernel) -> frozenset[int]:
    """Node ids below the kernel's node count (/sys/devices/system/node/possible)."""
    return node_ids(nodes, "nodes", kernel.node_limit())
