"""migrate_pages(2), mbind(2) with MPOL_MF_MOVE, set_mempolicy(2)/get_mempolicy(2), and THP moves."""

from __future__ import annotations

import mmap
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np

import numamove

from .conftest import PAGE_SIZE, Channel, Layout, Region, forked

MakeRegion = Callable[..., Region]


@contextmanager
def child_with_region(pages: int, node: int) -> Iterator[tuple[int, Region, Callable[[], str]]]:
    """A forked child that owns a fresh region on `node` and waits.

    Yields (pid, the child's region as seen from here, a function that lets
    the child check its region and returns the child's checksum).
    """

    def body(channel: Channel) -> None:
        region = Region(pages, fill=False)
        numamove.mbind(region.base, pages * PAGE_SIZE, numamove.Mode.BIND, [node])
        region.fill()
        numamove.mbind(region.base, pages * PAGE_SIZE, numamove.Mode.DEFAULT)
        channel.send(f"{region.base} {region.digest}")
        channel.receive()
        channel.send(region.checksum())

    with forked(body) as child:
        base, digest = child.receive().split()
        view = Region.__new__(Region)  # the child's addresses, for queries from outside
        view.pages, view.base, view.digest = pages, int(base), digest
        view.addresses = view.base + np.arange(pages, dtype=np.uint64) * np.uint64(PAGE_SIZE)

        def finish() -> str:
            child.send()
            return child.receive()

        yield child.pid, view, finish


def test_migrate_pages_moves_a_whole_process(layout: Layout) -> None:
    source, other = layout.cpu_nodes
    with child_with_region(256, source) as (pid, view, finish):
        assert numamove.move_pages(pid, view.addresses).tolist() == [source] * 256
        not_moved = numamove.migrate_pages(pid, str(source), str(layout.memory_only))
        assert not_moved == 0
        assert numamove.move_pages(pid, view.addresses).tolist() == [layout.memory_only] * 256
        # numactl's syntax: everything not on the memory-only node goes back to `other`.
        numamove.migrate_pages(pid, f"!{other}", [other])
        assert numamove.move_pages(pid, view.addresses).tolist() == [other] * 256
        assert finish() == view.digest


def test_migrate_pages_one_to_zero(layout: Layout) -> None:
    zero, one = layout.cpu_nodes
    with child_with_region(64, one) as (pid, view, finish):
        assert numamove.migrate_pages(pid, [one], [zero]) == 0
        assert numamove.move_pages(pid, view.addresses).tolist() == [zero] * 64
        assert finish() == view.digest


def test_migrate_pages_to_an_offline_node_moves_nothing(layout: Layout) -> None:
    with child_with_region(16, layout.cpu_nodes[0]) as (pid, view, finish):
        offline = max(layout.online) + 1
        try:
            numamove.migrate_pages(pid, "all", [offline])
        except (numamove.NodeOfflineError, numamove.InvalidInputError) as error:
            limit = numamove.Kernel().node_limit()  # /sys/devices/system/node/possible
            online = numamove.format_nodemask(layout.online)
            assert str(error) == (f"migrate_pages: node {offline} is not online (online: {online})"
                                  if offline < limit else
                                  f"new_nodes: node {offline} does not exist (the highest possible node is "
                                  f"{limit - 1})")
        else:
            raise AssertionError("an offline target was accepted")
        assert numamove.move_pages(pid, view.addresses).tolist() == [layout.cpu_nodes[0]] * 16
        assert finish() == view.digest


def test_mbind_with_move_migrates_existing_pages(layout: Layout, region: MakeRegion) -> None:
    r = region(128)
    first, target = layout.cpu_nodes
    numamove.move_pages(0, r.addresses, first)
    numamove.mbind(r.base, r.pages * PAGE_SIZE, numamove.Mode.BIND, [target],
                   numamove.MPOL_MF_MOVE | numamove.MPOL_MF_STRICT)
    assert r.where().tolist() == [target] * r.pages
    assert numamove.get_mempolicy(r.base) == numamove.MemPolicy(numamove.Mode.BIND, 0, frozenset({target}))
    assert r.intact()


def test_set_mempolicy_places_new_pages(layout: Layout, region: MakeRegion) -> None:
    before = numamove.get_mempolicy()
    numamove.set_mempolicy(numamove.Mode.BIND, [layout.memory_only])
    try:
        policy = numamove.get_mempolicy()
        r = region(32)
    finally:
        numamove.set_mempolicy(numamove.Mode.DEFAULT)
    assert policy == numamove.MemPolicy(numamove.Mode.BIND, 0, frozenset({layout.memory_only}))
    assert before.mode == numamove.Mode.DEFAULT and numamove.get_mempolicy().mode == numamove.Mode.DEFAULT
    assert r.where().tolist() == [layout.memory_only] * r.pages


def anon_huge_kib(address: int) -> int:
    """AnonHugePages of the VMA that starts at `address`, from /proc/self/smaps."""
    with open("/proc/self/smaps") as smaps:
        text = smaps.read()
    start = re.search(rf"^{address:x}-.*$", text, re.M)
    assert start, f"no VMA at {address:#x}"
    return int(re.compile(r"^AnonHugePages:\s+(\d+) kB", re.M).search(text, start.end())[1])  # type: ignore[index]


def test_transparent_huge_pages_move_whole(layout: Layout, region: MakeRegion) -> None:
    huge = 2 << 20
    r = region(3 * huge // PAGE_SIZE, fill=False)
    # A 2 MiB-aligned window inside the mapping, so the kernel can back it with THPs.
    offset = -r.base % huge
    r.buffer.madvise(mmap.MADV_HUGEPAGE)
    r.fill()
    window = r.addresses[offset // PAGE_SIZE:(offset + 2 * huge) // PAGE_SIZE]
    before = anon_huge_kib(r.base)
    assert before >= 2048, "the guest gave no THP; is transparent_hugepage enabled?"
    heads = np.zeros(len(window), dtype=bool)
    heads[::512] = True
    for target in (*layout.cpu_nodes[::-1], layout.memory_only):
        status = numamove.move_pages(0, window, target)
        # The first address of a THP takes the whole folio along; the kernel then finds
        # the folio already isolated for its other addresses and says -EBUSY for them.
        assert (status[heads] == target).all()
        assert set(status[~heads].tolist()) <= {target, numamove.PageStatus.BUSY}
        assert numamove.move_pages(0, window).tolist() == [target] * len(window)
        assert anon_huge_kib(r.base) == before  # moved as huge pages, not split into base pages
    assert r.intact()
