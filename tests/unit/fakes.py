"""A fake Syscalls for unit tests: it reads the caller's arrays the way the kernel would."""

from __future__ import annotations

import ctypes
from dataclasses import dataclass, field

import numpy as np

from numamove.policy.units import Units


@dataclass
class MoveCall:
    pid: int
    addresses: list[int]
    nodes: list[int] | None
    flags: int


@dataclass
class FakeSyscalls:
    """Answers move_pages with each page's node from `placement`, or fails with `fail_with`."""

    placement: dict[int, int] = field(default_factory=dict)
    fail_with: int = 0
    fail_on_call: int = 0
    not_moved: int = 0
    busy_once: set[int] = field(default_factory=set)
    """Addresses that answer -EBUSY to the first move asked of them."""
    full_nodes: set[int] = field(default_factory=set)
    """Target nodes that answer -ENOMEM."""
    stop_after: int | None = None
    """A move stops after this many pages, returns the rest as "not moved", and writes no
    status for them, as do_pages_move() does when a group fails to migrate."""
    calls: list[MoveCall] = field(default_factory=list)
    migrations: list[tuple[int, int, frozenset[int], frozenset[int]]] = field(default_factory=list)

    def move_pages(self, pid: int, count: int, pages: int, nodes: int, status: int, flags: int) -> int:
        addresses = np.ctypeslib.as_array((ctypes.c_uint64 * count).from_address(pages)).tolist()
        targets = (np.ctypeslib.as_array((ctypes.c_int32 * count).from_address(nodes)).tolist()
                   if nodes else None)
        self.calls.append(MoveCall(pid, addresses, targets, flags))
        if self.fail_with and len(self.calls) > self.fail_on_call:
            return -self.fail_with
        out = (ctypes.c_int32 * count).from_address(status)
        if targets is not None and self.stop_after is not None and self.stop_after < count:
            addresses, not_moved = addresses[:self.stop_after], count - self.stop_after
            self.stop_after = None
        else:
            not_moved = self.not_moved
        for index, address in enumerate(addresses):
            if targets is not None and address in self.busy_once:
                self.busy_once.discard(address)
                out[index] = -16
                continue
            if targets is not None and targets[index] in self.full_nodes:
                out[index] = -12
                continue
            if targets is not None and address in self.placement:
                self.placement[address] = targets[index]
            out[index] = self.placement.get(address, -14)
        return not_moved

    def migrate_pages(self, pid: int, maxnode: int, old_nodes: int, new_nodes: int) -> int:
        words = (maxnode - 1) // 64
        old = (ctypes.c_ulong * words).from_address(old_nodes)
        new = (ctypes.c_ulong * words).from_address(new_nodes)
        self.migrations.append((pid, maxnode, _bits(old), _bits(new)))
        return -self.fail_with if self.fail_with else self.not_moved

    def mbind(self, addr: int, length: int, mode: int, nodemask: int, maxnode: int, flags: int) -> int:
        return -self.fail_with if self.fail_with else 0

    def get_mempolicy(self, mode: int, nodemask: int, maxnode: int, addr: int, flags: int) -> int:
        ctypes.c_int.from_address(mode).value = 2 | 1 << 15  # MPOL_BIND | MPOL_F_STATIC_NODES
        (ctypes.c_ulong * ((maxnode - 1) // 64)).from_address(nodemask)[1] = 1  # node 64
        return 0

    def set_mempolicy(self, mode: int, nodemask: int, maxnode: int) -> int:
        return -self.fail_with if self.fail_with else 0


def _bits(words: ctypes.Array[ctypes.c_ulong]) -> frozenset[int]:
    return frozenset(i * 64 + b for i, w in enumerate(words) for b in range(64) if w >> b & 1)


BASE = 0x7F00_0000_0000
"""Where the made-up units of the mover tests start."""


def units(nodes: list[int], sizes: list[int] | None = None) -> Units:
    """Units on ``nodes`` (negative: not present), one after another from BASE, of ``sizes`` base pages."""
    sizes = sizes or [1] * len(nodes)
    starts = BASE + np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.uint64) * np.uint64(4096)
    return Units(starts.astype(np.uint64), np.array(sizes, dtype=np.int64), np.array(nodes, dtype=np.int32))


def place(fake: FakeSyscalls, u: Units) -> None:
    """Tell the fake kernel where the units' pages are now."""
    fake.placement = {int(a): int(n) for a, n in zip(u.addresses, u.nodes, strict=True) if n >= 0}
