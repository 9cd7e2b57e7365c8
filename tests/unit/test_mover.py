from __future__ import annotations

import errno
import time

import numpy as np
import pytest

import numamove
from numamove.model import PagePlacement, ProcessMemory, Vma, VmaKind
from numamove.move.engine import move_units, preview
from numamove.move.from_scan import units_from_scan
from numamove.policy.choosers import by_source, interleave, one_node, remap_nodes

from .fakes import BASE, FakeSyscalls, place, units

PAGE = 4096



def test_interleave_follows_the_weights_in_base_pages() -> None:
    u = units([0] * 4000)
    targets = interleave({0: 3, 1: 1})(u)
    assert np.bincount(targets).tolist() == [3000, 1000]
    huge = units([0] * 10, [512] * 10)
    assert np.bincount(interleave({1: 1, 2: 1})(huge), minlength=3).tolist() == [0, 5, 5]
    with pytest.raises(numamove.InvalidInputError):
        interleave({0: 0})


def test_by_source_and_remap_like_migrate_pages() -> None:
    assert remap_nodes([0, 1], [2]) == {0: 2, 1: 2}
    assert remap_nodes([0, 1, 2], [1, 3]) == {0: 1, 1: 1, 2: 1}
    assert remap_nodes([0, 2], [1, 3]) == {0: 1, 2: 3}
    assert by_source({0: 2})(units([0, 1, -2])).tolist() == [2, 1, -2]


def test_skips_pages_already_there_and_not_present(kernel: numamove.Kernel, fake: FakeSyscalls) -> None:
    u = units([0, 1, -2, 0])
    place(fake, u)
    result = move_units(7, u, one_node(1), kernel=kernel)
    assert [len(c.addresses) for c in fake.calls] == [2]
    assert result.moved == {(0, 1): 2} and result.already_there == 1 and result.not_present == 1
    assert result.statuses == {1: 3} and not result.failed and result.stopped is None


def test_huge_units_move_by_one_address_and_count_whole(kernel: numamove.Kernel, fake: FakeSyscalls) -> None:
    u = units([0, 0, 0], [512, 1, 512])
    place(fake, u)
    result = move_units(7, u, one_node(2), kernel=kernel)
    assert [a for call in fake.calls for a in call.addresses] == u.addresses.tolist()
    assert result.pages_moved == 1025 and result.bytes_moved == 1025 * 4096


def test_batches_follow_the_time_budget(kernel: numamove.Kernel, fake: FakeSyscalls) -> None:
    u = units([0] * 3000)
    place(fake, u)
    move_units(7, u, one_node(1), budget=0.001, kernel=kernel)
    assert len(fake.calls) > 1 and sum(len(c.addresses) for c in fake.calls) == 3000


def test_busy_pages_are_retried(kernel: numamove.Kernel, fake: FakeSyscalls) -> None:
    u = units([0] * 5)
    place(fake, u)
    fake.busy_once = {int(u.addresses[1]), int(u.addresses[3])}
    result = move_units(7, u, one_node(1), kernel=kernel)
    assert result.retries == 1 and fake.calls[-1].addresses == [int(u.addresses[1]), int(u.addresses[3])]
    assert result.statuses == {1: 5} and result.moved == {(0, 1): 5}


def test_full_target_without_fallback_is_reported(kernel: numamove.Kernel, fake: FakeSyscalls) -> None:
    u = units([0] * 2)
    place(fake, u)
    fake.full_nodes = {1}
    result = move_units(7, u, one_node(1), retries=2, kernel=kernel)
    assert result.failed == {-errno.ENOMEM: 2} and result.retries == 0  # no fallback: reported at once


def test_full_target_falls_back_to_the_next_allowed_node(kernel: numamove.Kernel, fake: FakeSyscalls) -> None:
    u = units([0] * 4)
    place(fake, u)
    fake.full_nodes = {1}
    result = move_units(7, u, interleave({1: 1, 2: 1}), fallback=lambda node: [2, 1], kernel=kernel)
    assert result.fallbacks == 2 and result.statuses == {2: 4} and result.moved == {(0, 2): 4}


def test_process_exit_stops_cleanly(kernel: numamove.Kernel, fake: FakeSyscalls) -> None:
    u = units([0] * 100)
    place(fake, u)
    fake.fail_with, fake.fail_on_call = errno.ESRCH, 1
    result = move_units(7, u, one_node(1), budget=0.001, kernel=kernel)
    assert result.stopped == "process 7 exited during the move"
    # The first call calibrates with 32 pages; the rest were never tried (not "not present").
    assert result.moved == {(0, 1): 32} and result.statuses == {1: 32} and result.not_tried == 68


def test_first_call_calibrates_and_batches_grow_at_most_fourfold(
    kernel: numamove.Kernel, fake: FakeSyscalls
) -> None:
    u = units([0] * 5000)
    place(fake, u)
    move_units(7, u, one_node(1), budget=10.0, kernel=kernel)
    sizes = [len(call.addresses) for call in fake.calls]
    assert sizes[:4] == [32, 128, 512, 2048] and sum(sizes) == 5000


def test_interleave_keeps_the_running_share() -> None:
    targets = interleave({0: 3, 1: 1})(units([0] * 4000))
    assert targets[:8].tolist() == [0, 0, 1, 0, 0, 0, 1, 0]
    quarters = [np.bincount(q, minlength=2).tolist() for q in np.split(targets, 4)]
    assert quarters == [[750, 250]] * 4
    huge = interleave({0: 1, 2: 1})(units([0] * 6, [512] * 6))
    assert sorted(huge.tolist()) == [0, 0, 0, 2, 2, 2] and huge[0] != huge[1]
    # A range shorter than the cycle still gets every node in its share.
    short = interleave({0: 0.5, 1: 0.3, 2: 0.2})(units([0] * 10))
    assert np.bincount(short, minlength=3).tolist() == [5, 3, 2]
    assert np.bincount(interleave({0: 0.7, 1: 0.3})(units([0] * 1000)), minlength=2).tolist() == [700, 300]


def test_rate_limit_paces_the_calls(kernel: numamove.Kernel, fake: FakeSyscalls) -> None:
    u = units([0] * 200)
    place(fake, u)
    started = time.monotonic()
    result = move_units(7, u, one_node(1), budget=0.001, rate=4096 * 1000, kernel=kernel)
    elapsed = time.monotonic() - started
    # 200 pages at 1000 pages/s: the last call may start once 199 pages are through.
    assert 0.19 <= elapsed < 0.5 and result.pages_moved == 200


def test_bad_settings() -> None:
    with pytest.raises(numamove.InvalidInputError):
        move_units(7, units([0]), one_node(1), budget=0)
    with pytest.raises(numamove.InvalidInputError):
        move_units(7, units([0]), one_node(1), rate=-1)
    with pytest.raises(numamove.InvalidInputError, match="2 targets for 1 units"):
        move_units(7, units([0]), lambda u: np.zeros(2, dtype=np.int32))


def vma(kind: VmaKind, nodes: list[int], start: int = BASE, page_size: int = 4096, thp: int = 0,
        pfns: list[int] | None = None) -> Vma:
    addresses = np.uint64(start) + np.arange(len(nodes), dtype=np.uint64) * np.uint64(4096)
    return Vma(start=start, end=start + 4096 * len(nodes), perms="rw-p", offset=0, path="", kind=kind,
               policy="default", page_size=page_size, pages_by_node={}, thp_pages=thp,
               pages=PagePlacement(addresses, np.array(nodes, dtype=np.int32), np.zeros(len(nodes), bool),
                                   None if pfns is None else np.array(pfns, dtype=np.uint64)))


def test_units_from_scan_groups_huge_pages() -> None:
    thp_nodes = [1] * 512 + [0] * 256 + [1] * 256 + [0] * 3
    contiguous = list(range(1024, 1024 + 512)) + list(range(5000, 5512)) + [1, 2, 3]
    memory = ProcessMemory(pid=1, name="x", threads=[], method="pagemap", vmas=[
        vma(VmaKind.ANON, [0, -2, 1]),
        vma(VmaKind.ANON, thp_nodes, start=BASE + (2 << 20), thp=512, pfns=contiguous),
        vma(VmaKind.HUGETLB, [2] * 1024, start=BASE + (8 << 20), page_size=2 << 20),
    ])
    u = units_from_scan(memory)
    # 3 base pages, one THP unit, 512 + 3 base pages of the mixed block and tail, two hugetlb units.
    assert len(u) == 3 + 1 + 515 + 2
    assert u.pages.sum() == 3 + 1027 + 1024
    assert u.pages.tolist().count(512) == 3
    assert u.nodes[u.pages == 512].tolist() == [1, 2, 2]


def test_thread_nodes_follow_the_threads() -> None:
    from numamove.model import ThreadPlacement

    memory = ProcessMemory(pid=3, name="x", vmas=[], method="pagemap", threads=[
        ThreadPlacement(3, 1, 1), ThreadPlacement(4, 0, 0), ThreadPlacement(5, 1, 1)])
    targets = numamove.thread_nodes(memory)(units([2] * 300))
    assert np.bincount(targets).tolist() == [100, 200]
    lonely = ProcessMemory(pid=3, name="x", vmas=[], method="pagemap", threads=[ThreadPlacement(3, 0, None)])
    with pytest.raises(numamove.InvalidInputError, match="no thread with a known node"):
        numamove.thread_nodes(lonely)


def test_preview_counts_what_a_move_would_do_without_a_call(fake: FakeSyscalls) -> None:
    result = preview(units([0, 1, -2, 0, 2], [512, 1, 1, 1, 1]), one_node(1))
    assert result.moved == {(0, 1): 513, (2, 1): 1}
    assert (result.already_there, result.not_present, result.calls) == (1, 1, 0) and fake.calls == []


@pytest.mark.parametrize("sources_range, targets_range",
                         [((0, 1), (1, 2)), ((0, 3), (0, 3)), ((2, 3), (0, 4))])
def test_pair_counts_weigh_each_unit_by_its_pages(sources_range: tuple[int, int],
                                                   targets_range: tuple[int, int]) -> None:
    from numamove.move.result import pair_counts

    rng = np.random.default_rng(5)
    sources = rng.integers(*sources_range, 500).astype(np.int32)
    targets = rng.integers(*targets_range, 500).astype(np.int32)
    pages = rng.choice(np.array([1, 512], dtype=np.int64), 500)
    expected: dict[tuple[int, int], int] = {}
    for source, target, size in zip(sources.tolist(), targets.tolist(), pages.tolist(), strict=True):
        expected[source, target] = expected.get((source, target), 0) + size
    assert pair_counts(sources, targets, pages) == expected


@pytest.mark.parametrize("with_pfns", [True, False])
def test_units_from_present_pages_alone_group_only_blocks_without_gaps(with_pfns: bool) -> None:
    """A move scans present pages alone: a THP block must be 512 present pages in a row,
    which without PFNs (the move_pages method) only the addresses can tell."""
    span = 512
    start = BASE + (2 << 20)
    # Block 0 whole (one THP), block 1 missing its page 100 (base pages), block 2's head alone.
    offsets = [*range(span), *(span + i for i in range(span) if i != 100), 2 * span]
    addresses = np.uint64(start) + np.array(offsets, dtype=np.uint64) * np.uint64(PAGE)
    pfns = np.array([4096 + i for i in offsets], dtype=np.uint64)
    placement = PagePlacement(addresses, np.ones(len(offsets), dtype=np.int32), np.zeros(len(offsets), bool),
                              pfns if with_pfns else None, present_only=True)
    thp_vma = Vma(start=start, end=start + 3 * span * PAGE, perms="rw-p", offset=0, path="",
                  kind=VmaKind.ANON, policy="default", page_size=PAGE, pages_by_node={1: len(offsets)},
                  thp_pages=2 * span, pages=placement)
    u = units_from_scan(ProcessMemory(pid=1, name="x", threads=[], method="pagemap", vmas=[thp_vma]))
    assert u.pages.tolist() == [span] + [1] * (span - 1) + [1]
    assert u.addresses[0] == start and int(u.pages.sum()) == len(offsets)
    listed = thp_vma.to_dict(with_pages=True)
    assert "page_nodes" not in listed and listed["present_pages"][:2] == [[start, 1], [start + PAGE, 1]]
