"""The counting scan's pure parts: PFN runs against the memory-block table, status counts."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from numamove.kernel import Kernel
from numamove.model import Vma, VmaKind
from numamove.procfs import PM_EXCLUSIVE, PM_PRESENT, PM_SOFT_DIRTY, PM_SWAP
from numamove.scan.placement import add_counts, check_kept_size, place_with
from numamove.scan.reader import batches as make_batches
from numamove.topology.frames import FrameNodes
from numamove.units import CHUNK_PAGES, PAGE_SIZE, ZERO_PAGE

from .reference import pfn_nodes

BLOCK = 64  # frames per memory block: small, so a few thousand frames cross many blocks
ZERO = ((70, 1), (512, 512))  # the 4 KiB zero page and a huge zero page


def reference(pfns: np.ndarray, table: np.ndarray) -> np.ndarray:
    """pfn_nodes() with the zero pages marked, as the per-frame view has always decided it."""
    found = pfn_nodes(pfns, BLOCK, table)
    for first, count in ZERO:
        found[(pfns >= first) & (pfns < first + count)] = ZERO_PAGE
    return found


def entries_for(pfns: np.ndarray, rng: np.random.Generator, swapped: int, absent: int) -> np.ndarray:
    flags = rng.choice(np.array([0, PM_SOFT_DIRTY, PM_EXCLUSIVE | PM_SOFT_DIRTY], dtype=np.uint64), len(pfns))
    present = np.uint64(PM_PRESENT) | flags | pfns.astype(np.uint64)
    swap = np.uint64(PM_SWAP) | rng.integers(1, 1 << 40, swapped).astype(np.uint64)
    raw = np.concatenate([present, swap, np.zeros(absent, dtype=np.uint64)])
    return rng.permutation(raw)


@pytest.mark.parametrize("table", [
    np.array([-1, 0, 0, 0, 1, 1, 2, 2, -1, 2, 2], dtype=np.int32),  # few long runs and a hole
    np.array([0, 1] * 20, dtype=np.int32),  # blocks alternating between nodes: many runs
    np.array([3], dtype=np.int32),
])
def test_runs_count_and_look_up_as_the_block_table_does(table: np.ndarray) -> None:
    frames = FrameNodes.build(BLOCK, table, ZERO)
    rng = np.random.default_rng(7)
    for trial in range(40):
        low = int(rng.integers(0, len(table) * BLOCK))
        high = low + int(rng.integers(1, 4 * BLOCK)) if trial % 2 else len(table) * BLOCK + 50
        pfns = rng.integers(low, high, int(rng.integers(0, 3000))).astype(np.uint64)
        if trial % 5 == 0:
            pfns[: len(pfns) // 3] = 70  # many on the zero page
        # Every fourth trial not divisible by three has every page present: the dense path.
        raw = entries_for(pfns, rng, swapped=int(rng.integers(0, 50)) * (trial % 3 == 0),
                          absent=int(rng.integers(0, 500)) * (trial % 4 != 1))
        expected_nodes = reference(pfns, table)
        assert frames.lookup(pfns).tolist() == expected_nodes.tolist()

        counted: dict[int, int] = {3: 1}  # counts add to what is there
        swapped = frames.count(raw, np.empty(len(raw), dtype=np.uint64), counted)
        expected = {node: int(n) for node, n in enumerate(np.bincount(expected_nodes[expected_nodes >= 0]))
                    if n}
        expected[3] = expected.get(3, 0) + 1
        assert counted == expected
        assert swapped == int(np.count_nonzero(raw & np.uint64(PM_SWAP)))


def test_runs_leave_out_frame_zero_and_frames_past_the_table() -> None:
    frames = FrameNodes.build(BLOCK, np.array([0, 1], dtype=np.int32), ())
    pfns = np.array([0, 1, BLOCK, 2 * BLOCK, 1 << 50], dtype=np.uint64)
    assert frames.lookup(pfns).tolist() == [-1, 0, 1, -1, -1]
    counted: dict[int, int] = {}
    assert frames.count(pfns | np.uint64(PM_PRESENT), np.empty(5, dtype=np.uint64), counted) == 0
    assert counted == {0: 1, 1: 1}
    assert frames.count(np.zeros(0, dtype=np.uint64), np.empty(0, dtype=np.uint64), counted) == 0


@pytest.mark.parametrize("statuses", [
    [], [-2, -14], [1, 1, 1], [0, 1, 1, -2, 2, 0], [0, 9, 9, -14, 4], [5, -2, 5],
])
def test_add_counts_matches_bincount(statuses: list[int]) -> None:
    array = np.array(statuses, dtype=np.int32)
    counted: dict[int, int] = {1: 10}
    add_counts(array, counted)
    expected = {1: 10}
    for status in statuses:
        if status >= 0:
            expected[status] = expected.get(status, 0) + 1
    assert counted == expected


def test_counting_in_chunks_and_groups_agrees_with_the_per_page_arrays(tmp_path: Path) -> None:
    """The count-only scan (nearby VMAs read together, large ones in chunks) against the
    per-page arrays, on a pagemap file written here."""
    rng = np.random.default_rng(11)
    table = np.array([-1, 0, 0, 1, 1, 2, -1, 2], dtype=np.int32)
    frames = FrameNodes.build(BLOCK, table, ZERO)
    vmas, at = [], 0x7F00_0000_0000 // PAGE_SIZE
    for size in [1, 3, 40, 2, 300, 5, CHUNK_PAGES + 700, 8, 1, 90, 2 * CHUNK_PAGES]:
        at += int(rng.integers(0, 2)) * int(rng.integers(1, 400))  # some side by side, some apart
        vmas.append(Vma(start=at * PAGE_SIZE, end=(at + size) * PAGE_SIZE, perms="rw-p", offset=0, path="",
                        kind=VmaKind.ANON, policy="", page_size=PAGE_SIZE, pages_by_node={}))
        at += size
    first = vmas[0].start // PAGE_SIZE
    entries = np.zeros(at - first, dtype=np.uint64)
    for vma in vmas:
        low, high = vma.start // PAGE_SIZE - first, vma.end // PAGE_SIZE - first
        # Small VMAs all on node 0 (a group of them takes the one-node path), larger ones anywhere.
        pfns = rng.integers(1, len(table) * BLOCK + 20, high - low).astype(np.uint64) if high - low > 100 \
            else rng.integers(2 * BLOCK, 3 * BLOCK, high - low).astype(np.uint64)
        if high - low > 100:
            pfns[: (high - low) // 2] = 3 * BLOCK + 5  # long runs on one node, as real memory is
        entries[low:high] = entries_for(pfns, rng, swapped=0, absent=0)
        entries[low:high][rng.random(high - low) < 0.2] = 0  # not present
        entries[low:high][rng.random(high - low) < 0.05] = np.uint64(PM_SWAP) | np.uint64(77)
    path = tmp_path / "proc" / "9" / "pagemap"
    path.parent.mkdir(parents=True)
    with open(path, "wb") as file:
        file.seek(first * 8)
        file.write(entries.tobytes())
    kernel = Kernel(tmp_path)

    expected = [dataclasses.replace(vma) for vma in vmas]
    place_with(kernel, 9, expected, frames, "all")
    batches = make_batches(vmas)
    assert any(len(batch) > 1 for batch in batches)  # runs far apart, counted in one pass
    assert any(len(run) > 1 for batch in batches for run in batch)  # neighbours, read in one call
    assert any(len(batch) == 1 and len(batch[0]) == 1 for batch in batches)  # a large VMA alone
    place_with(kernel, 9, vmas, frames, "")
    assert [(v.pages_by_node, v.swapped) for v in vmas] == [(v.pages_by_node, v.swapped) for v in expected]
    assert sum(sum(v.pages_by_node.values()) for v in vmas) > CHUNK_PAGES

    # The present pages alone (what a move keeps), read chunk by chunk, are the same pages.
    present_only = [dataclasses.replace(vma) for vma in vmas]
    place_with(kernel, 9, present_only, frames, "present")
    for sparse, dense in zip(present_only, expected, strict=True):
        assert sparse.pages is not None and dense.pages is not None and sparse.pages.present_only
        own = entries[dense.start // PAGE_SIZE - first:dense.end // PAGE_SIZE - first]
        present = own.view(np.int64) < 0
        assert sparse.pages.addresses.tolist() == dense.pages.addresses[present].tolist()
        assert sparse.pages.nodes.tolist() == dense.pages.nodes[present].tolist()
        assert (sparse.pages_by_node, sparse.swapped) == (dense.pages_by_node, dense.swapped)


def test_a_per_page_view_bigger_than_a_quarter_of_available_memory_is_refused(tmp_path: Path) -> None:
    from numamove.errors import InvalidInputError

    (tmp_path / "proc").mkdir()
    (tmp_path / "proc" / "meminfo").write_text("MemTotal: 4000000 kB\nMemAvailable: 2000000 kB\n")
    kernel = Kernel(tmp_path)

    def vma(start: int, pages: int, path: str = "") -> Vma:
        return Vma(start=start, end=start + pages * PAGE_SIZE, perms="---p", offset=0, path=path,
                   kind=VmaKind.ANON, policy="", page_size=PAGE_SIZE, pages_by_node={})

    small = [vma(0x10000, 100, "/usr/lib/libc.so.6"), vma(0x7F0000000000, 1000)]
    check_kept_size(kernel, 7, small)  # 1,100 pages: a few tens of KiB
    # 2,000,000 kB available: a quarter is 500,000 kB, about 10.4 million pages at 48 bytes each.
    huge = [*small, vma(0x7E0000000000, 12 << 20)]
    with pytest.raises(InvalidInputError) as caught:
        check_kept_size(kernel, 7, huge)
    message = str(caught.value)
    assert "pid 7" in message and "0x7e0000000000-0x7e0c00000000" in message and "--range" in message
    assert "\n" not in message
    (tmp_path / "proc" / "meminfo").write_text("MemTotal: 4000000 kB\n")  # no MemAvailable: no limit
    check_kept_size(kernel, 7, huge)
