"""move_pages(2) on real pages: LTP's move_pages scenarios, rewritten for numamove's API."""

from __future__ import annotations

import ctypes
import errno
import mmap
import os
import re
from collections.abc import Callable

import numpy as np
import pytest

import numamove
from numamove import PageStatus

from .conftest import PAGE_SIZE, Channel, Layout, Region, forked, kernel_release, raw_mmap, raw_munmap

MakeRegion = Callable[..., Region]


def bind_and_touch(region: Region, node: int, first: int, count: int) -> None:
    """Place pages [first, first + count) on `node` the way numa_alloc_onnode does: mbind, then touch."""
    start = region.base + first * PAGE_SIZE
    numamove.mbind(start, count * PAGE_SIZE, numamove.Mode.BIND, [node])
    region.bytes[first * PAGE_SIZE:(first + count) * PAGE_SIZE:PAGE_SIZE] = 7


def test_01_query_pages_placed_on_different_nodes(layout: Layout, region: MakeRegion) -> None:
    nodes = layout.all_memory
    r = region(len(nodes) * 4, fill=False)
    for index, node in enumerate(nodes):
        bind_and_touch(r, node, index * 4, 4)
    status = r.where()
    assert status.dtype == np.int32 and len(status) == r.pages
    assert status.tolist() == [node for node in nodes for _ in range(4)]


def test_02_move_to_another_node(layout: Layout, region: MakeRegion) -> None:
    r = region(64)
    source, target = layout.cpu_nodes
    numamove.move_pages(0, r.addresses, source)
    assert set(r.where().tolist()) == {source}
    status = numamove.move_pages(0, r.addresses, target)
    assert status.tolist() == [target] * r.pages
    assert r.where().tolist() == [target] * r.pages
    assert r.intact()


def test_02_move_each_page_to_its_own_node(layout: Layout, region: MakeRegion) -> None:
    r = region(90)
    targets = np.resize(np.array(layout.all_memory, dtype=np.int32), r.pages)
    status = numamove.move_pages(0, r.addresses, targets)
    assert status.tolist() == targets.tolist()
    assert r.where().tolist() == targets.tolist()
    assert r.intact()


def maps_every_page(r: Region) -> Callable[[Channel], None]:
    """A child body: map every page of the shared region, wait, then report its checksum."""

    def body(channel: Channel) -> None:
        channel.send(str(int(r.bytes[::PAGE_SIZE].sum())))
        channel.receive()
        channel.send(r.checksum())

    return body


def test_03_shared_pages_move_with_move_all(layout: Layout, region: MakeRegion) -> None:
    r = region(32, shared=True)
    source, target = layout.cpu_nodes
    numamove.move_pages(0, r.addresses, source, numamove.MPOL_MF_MOVE_ALL)
    with forked(maps_every_page(r)) as child:
        child.receive()
        status = numamove.move_pages(0, r.addresses, target, numamove.MPOL_MF_MOVE_ALL)
        assert status.tolist() == [target] * r.pages
        assert r.where().tolist() == [target] * r.pages
        assert numamove.move_pages(child.pid, r.addresses).tolist() == [target] * r.pages
        child.send()
        assert child.receive() == r.digest
    assert r.intact()


def test_04_statuses_of_touched_untouched_zero_and_unmapped_pages(layout: Layout) -> None:
    length = 4 * PAGE_SIZE
    base = raw_mmap(length)
    try:
        ctypes.memset(base, 1, 1)  # page 0: touched
        ctypes.string_at(base + 2 * PAGE_SIZE, 1)  # page 2: read only, so the zero page is mapped
        raw_munmap(base + 3 * PAGE_SIZE, PAGE_SIZE)  # page 3: a hole
        pages = [base + i * PAGE_SIZE for i in range(4)]
        status = numamove.move_pages(0, pages)
    finally:
        raw_munmap(base, 3 * PAGE_SIZE)
    untouched = PageStatus.NOT_PRESENT if kernel_release() >= (6, 12) else PageStatus.FAULT
    assert status[0] in layout.all_memory
    assert status[1:].tolist() == [untouched, PageStatus.FAULT, PageStatus.FAULT]
    # The same statuses come back when a move is asked for: nothing there moves.
    moved = numamove.move_pages(0, pages[3:], layout.cpu_nodes[1])
    assert moved.tolist() == [PageStatus.FAULT]


def test_05_shared_page_without_move_all_is_refused(layout: Layout, region: MakeRegion) -> None:
    r = region(8, shared=True)
    source, target = layout.cpu_nodes
    numamove.move_pages(0, r.addresses, source, numamove.MPOL_MF_MOVE_ALL)
    with forked(maps_every_page(r)) as child:
        child.receive()
        status = numamove.move_pages(0, r.addresses, target)
        child.send()
        assert child.receive() == r.digest
    assert status.tolist() == [PageStatus.SHARED] * r.pages
    assert "MPOL_MF_MOVE_ALL" in PageStatus(status[0]).description
    assert r.where().tolist() == [source] * r.pages
    assert r.intact()


def test_06_node_not_online_is_enodev(layout: Layout, region: MakeRegion) -> None:
    r = region(4)
    offline = max(layout.online) + 1
    with pytest.raises(numamove.NodeOfflineError) as caught:
        numamove.move_pages(0, r.addresses, offline)
    assert caught.value.errno == errno.ENODEV
    assert f"node {offline} is not online" in str(caught.value)
    assert r.intact()


def test_07_no_such_process_is_esrch(region: MakeRegion) -> None:
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)  # reaped: the pid names no process now
    r = region(2)
    with pytest.raises(ProcessLookupError) as caught:
        numamove.move_pages(pid, r.addresses)
    assert isinstance(caught.value, numamove.NoSuchProcessError)
    assert caught.value.errno == errno.ESRCH
    assert f"pid {pid}" in str(caught.value)


def test_09_target_is_current_node(layout: Layout, region: MakeRegion) -> None:
    r = region(16)
    node = layout.cpu_nodes[1]
    numamove.move_pages(0, r.addresses, node)
    status = numamove.move_pages(0, r.addresses, node)
    assert status.tolist() == [node] * r.pages
    assert r.where().tolist() == [node] * r.pages
    assert r.intact()


def test_10_mpol_mf_strict_is_einval(layout: Layout, region: MakeRegion) -> None:
    r = region(2)
    with pytest.raises(numamove.InvalidRequestError) as caught:
        numamove.move_pages(0, r.addresses, layout.cpu_nodes[0], numamove.MPOL_MF_STRICT)
    assert caught.value.errno == errno.EINVAL
    assert "flags 0x1" in str(caught.value)


def in_unprivileged_child(action: Callable[[], None]) -> str:
    """Run `action` as user nobody in a forked child; returns what it reported."""

    def body(channel: Channel) -> None:
        os.setgid(65534)
        os.setuid(65534)
        try:
            action()
            channel.send("no error")
        except numamove.KernelError as error:
            channel.send(f"{type(error).__name__} {error.errno} {isinstance(error, PermissionError)} {error}")

    with forked(body) as child:
        return child.receive()


def test_11_move_all_needs_cap_sys_nice(layout: Layout, region: MakeRegion) -> None:
    r = region(4, shared=True)

    def move_all() -> None:
        numamove.move_pages(0, r.addresses, layout.cpu_nodes[1], numamove.MPOL_MF_MOVE_ALL)

    report = in_unprivileged_child(move_all)
    assert report == (f"NotPermittedError {errno.EPERM} True "
                      "move_pages: MPOL_MF_MOVE_ALL needs CAP_SYS_NICE")


def test_another_users_process_is_eperm(layout: Layout, region: MakeRegion) -> None:
    r = region(4)
    parent = os.getpid()

    def move_parents_pages() -> None:
        numamove.move_pages(parent, r.addresses, layout.cpu_nodes[1])

    report = in_unprivileged_child(move_parents_pages)
    assert report.startswith(f"NotPermittedError {errno.EPERM} True ")
    assert f"pid {parent} belongs to another user" in report
    assert r.intact()


def test_node_outside_cpuset_is_eacces(layout: Layout, region: MakeRegion) -> None:
    cgroup = "/sys/fs/cgroup"
    with open(f"{cgroup}/cgroup.subtree_control", "w") as control:
        control.write("+cpuset")
    group = f"{cgroup}/numamove-live-{os.getpid()}"
    os.mkdir(group)
    try:
        with open(f"{group}/cpuset.mems", "w") as mems:
            mems.write(str(layout.cpu_nodes[0]))
        r = region(4)
        numamove.move_pages(0, r.addresses, layout.cpu_nodes[0])
        # The confined child holds the inherited pages until the test lets go of it.
        with forked(lambda channel: channel.receive()) as child:
            pid = child.pid
            with open(f"{group}/cgroup.procs", "w") as procs:
                procs.write(str(pid))
            with pytest.raises(numamove.NodeNotAllowedError) as caught:
                numamove.move_pages(pid, r.addresses, layout.cpu_nodes[1])
        assert caught.value.errno == errno.EACCES and isinstance(caught.value, PermissionError)
        assert re.search(rf"node {layout.cpu_nodes[1]} is outside the cpuset of pid {pid} "
                         rf"\(Mems_allowed {layout.cpu_nodes[0]}\)", str(caught.value))
        assert r.intact()
    finally:
        os.rmdir(group)


def test_query_of_more_than_100000_pages_in_one_call(layout: Layout, region: MakeRegion) -> None:
    pages = 120_000
    r = region(pages, fill=False)
    r.buffer.madvise(mmap.MADV_NOHUGEPAGE)  # interleave base pages, not 2 MiB THPs
    numamove.mbind(r.base, pages * PAGE_SIZE, numamove.Mode.INTERLEAVE, layout.all_memory)
    r.bytes[::PAGE_SIZE] = 1
    status = r.where()
    assert len(status) == pages and (status >= 0).all()
    counts = numamove.status_counts(status)
    # numa_maps counts the same VMA's pages per node: the kernel's view must agree page for page.
    with open("/proc/self/numa_maps") as maps:
        line = next(m for m in maps if int(m.split()[0], 16) == r.base)
    kernel_counts = {int(k[1:]): int(v) for k, v in re.findall(r"\b(N\d+)=(\d+)", line)}
    assert counts == kernel_counts
    assert sorted(counts) == sorted(layout.all_memory)
    assert max(counts.values()) - min(counts.values()) <= 1  # interleaved evenly


def test_remote_process_query_and_move(layout: Layout, region: MakeRegion) -> None:
    r = region(48)
    numamove.move_pages(0, r.addresses, layout.cpu_nodes[0])

    def own_copy(channel: Channel) -> None:
        r.bytes[::PAGE_SIZE] += 0  # a write: the child gets private copies of every page
        channel.send()
        channel.receive()
        channel.send(r.checksum())

    with forked(own_copy) as child:
        child.receive()
        status = numamove.move_pages(child.pid, r.addresses, layout.memory_only)
        assert status.tolist() == [layout.memory_only] * r.pages
        assert numamove.move_pages(child.pid, r.addresses).tolist() == [layout.memory_only] * r.pages
        assert r.where().tolist() == [layout.cpu_nodes[0]] * r.pages  # our own copy stayed
        child.send()
        assert child.receive() == r.digest


def test_batches_give_the_same_result_as_one_call(layout: Layout, region: MakeRegion) -> None:
    r = region(100)
    targets = np.resize(np.array(layout.all_memory, dtype=np.int32), r.pages)
    status = numamove.move_pages(0, r.addresses, targets, batch=7)
    assert status.tolist() == targets.tolist()
    assert numamove.move_pages(0, r.addresses, batch=7).tolist() == r.where().tolist() == targets.tolist()
    assert r.intact()


def test_failing_batch_reports_pages_done(layout: Layout, region: MakeRegion) -> None:
    r = region(20)
    targets = np.full(r.pages, layout.cpu_nodes[1], dtype=np.int32)
    targets[15] = max(layout.online) + 1
    with pytest.raises(numamove.NodeOfflineError) as caught:
        numamove.move_pages(0, r.addresses, targets, batch=10)
    assert caught.value.pages_done == 10
    assert r.where()[:10].tolist() == [layout.cpu_nodes[1]] * 10
    assert r.intact()


def test_mlocked_page_moves_or_reports_locked(layout: Layout, region: MakeRegion) -> None:
    r = region(4)
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.mlock(ctypes.c_void_p(r.base), ctypes.c_size_t(r.pages * PAGE_SIZE)) == 0
    try:
        target = layout.cpu_nodes[1] if r.where()[0] != layout.cpu_nodes[1] else layout.cpu_nodes[0]
        status = numamove.move_pages(0, r.addresses, target)
    finally:
        libc.munlock(ctypes.c_void_p(r.base), ctypes.c_size_t(r.pages * PAGE_SIZE))
    # Linux migrates mlocked pages (they stay unevictable on the new node); a status
    # of -EPERM is what a pinned page would say. Either way nothing is lost.
    assert set(status.tolist()) <= {target, PageStatus.LOCKED}
    assert r.intact()


def test_file_backed_page_moves(layout: Layout, tmp_path: os.PathLike[str]) -> None:
    path = os.path.join(tmp_path, "data")
    with open(path, "wb") as new_file:
        new_file.write(os.urandom(8 * PAGE_SIZE))
    with open(path, "r+b") as file, mmap.mmap(file.fileno(), 0) as mapping:
        view = np.frombuffer(mapping, dtype=np.uint8)
        before = view.tobytes()
        addresses = int(view.ctypes.data) + np.arange(8, dtype=np.uint64) * np.uint64(PAGE_SIZE)
        status = numamove.move_pages(0, addresses, layout.memory_only)
        assert status.tolist() == [layout.memory_only] * 8
        assert view.tobytes() == before
        del view
