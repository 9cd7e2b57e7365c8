"""The "idlepage" tracker on a fixture tree: the bitmap is a file the test fills as the kernel would."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from numamove.errors import NotPermittedError
from numamove.kernel import Kernel, Write
from numamove.procfs.pagemap import PM_PRESENT, PM_SWAP
from numamove.trackers import get, tracking
from numamove.trackers.idlepage import BITMAP, IdlePageTracker, accessed_runs, mark_idle, still_idle
from numamove.units import PAGE_SIZE

from .conftest import FIXTURES

P = PAGE_SIZE
MAPS = f"""\
{16 * P:08x}-{24 * P:08x} rw-p 00000000 00:00 0
{32 * P:08x}-{34 * P:08x} rw-p 00000000 00:00 0
{48 * P:08x}-{49 * P:08x} r-xp 00000000 00:00 0          [vdso]
"""
BITMAP_WORDS = 128


def make_tree(tmp_path: Path, frames: dict[int, int], swapped: tuple[int, ...] = ()) -> Path:
    """A tree with process 50 whose page ``page`` is present on frame ``frames[page]``, and a bitmap."""
    root = tmp_path / "root"
    if not root.exists():
        shutil.copytree(FIXTURES / "qemu-3node-hmat", root)
        (root / "proc/50").mkdir(parents=True)
        (root / "proc/50/maps").write_text(MAPS)
        (root / BITMAP).parent.mkdir(parents=True)
        (root / BITMAP).write_bytes(bytes(8 * BITMAP_WORDS))
    entries = np.zeros(64, dtype=np.uint64)
    for page, pfn in frames.items():
        entries[page] = np.uint64(PM_PRESENT | pfn)
    for page in swapped:
        entries[page] = np.uint64(PM_SWAP | 0x1234)
    (root / "proc/50/pagemap").write_bytes(entries.tobytes())
    return root


def bitmap(root: Path) -> np.ndarray:
    return np.frombuffer((root / BITMAP).read_bytes(), dtype=np.uint64).copy()


def access(root: Path, *pfns: int) -> None:
    """What the kernel does when a page is accessed: its frame's idle bit clears."""
    words = bitmap(root)
    for pfn in pfns:
        words[pfn // 64] &= ~np.uint64(1 << (pfn % 64))
    (root / BITMAP).write_bytes(words.tobytes())


FRAMES = {16: 100, 17: 101, 19: 5000, 20: 0, 21: 102, 22: 103, 23: 104, 32: 165, 48: 7}
"""Page 20's frame is hidden (0), page 48 is in [vdso]; page 18 is not present, page 33 is swapped."""


def test_start_marks_present_frames_idle_a_run_of_nearby_words_per_write(tmp_path: Path) -> None:
    root = make_tree(tmp_path, FRAMES, swapped=(33,))
    kernel = Kernel(root)
    tracker = get("idlepage")(kernel, [50], {})
    assert isinstance(tracker, IdlePageTracker)
    tracker.start()
    word1 = sum(1 << (pfn - 64) for pfn in (100, 101, 102, 103, 104))
    assert list(kernel.log) == [
        Write(BITMAP, np.array([word1, 1 << (165 - 128)], dtype=np.uint64).tobytes(), offset=8),
        Write(BITMAP, np.array([1 << (5000 - 78 * 64)], dtype=np.uint64).tobytes(), offset=78 * 8),
    ]
    words = bitmap(root)
    assert words[1] == word1 and words[2] == 1 << 37 and words[78] == 1 << 8
    assert words[0] == 0  # frame 7, of [vdso], is never marked


def test_sample_reports_runs_of_accessed_pages_then_marks_again(tmp_path: Path) -> None:
    root = make_tree(tmp_path, FRAMES, swapped=(33,))
    kernel = Kernel(root)
    with tracking(IdlePageTracker(kernel, [50], {})) as tracker:
        access(root, 101, 165)  # pages 17 and 32 were accessed ...
        make_tree(tmp_path, {**FRAMES, 18: 300}, swapped=(33,))  # ... and page 18 faulted in
        kernel.log.clear()
        regions = list(tracker.sample())
        assert [(r.pid, r.start, r.end, r.heat, r.written, r.accessing_nodes) for r in regions] == [
            (50, 17 * P, 19 * P, 1.0, None, None), (50, 32 * P, 33 * P, 1.0, None, None)]
        assert regions[0].heat_unit == "accessed in the interval (idle page tracking)"
        assert [(w.offset, len(w.data)) for w in kernel.log] == [(8, 4 * 8), (78 * 8, 8)]
        assert list(tracker.sample()) == []  # nothing accessed since
        shutil.rmtree(root / "proc/50")
        assert list(tracker.sample()) == []  # the process exited


def test_a_dry_run_kernel_logs_the_marks_and_writes_nothing(tmp_path: Path) -> None:
    root = make_tree(tmp_path, FRAMES)
    kernel = Kernel(root, dry_run=True)
    assert mark_idle(kernel, np.array([100, 5000], dtype=np.uint64)) == 2
    assert len(kernel.log) == 2 and not bitmap(root).any()


def test_still_idle_reads_each_frames_bit(tmp_path: Path) -> None:
    root = make_tree(tmp_path, FRAMES)
    kernel = Kernel(root)
    pfns = np.array([5000, 100, 101, 64 * 100 + 63], dtype=np.uint64)
    mark_idle(kernel, pfns)
    access(root, 101)
    assert still_idle(kernel, pfns).tolist() == [True, True, False, True]


def test_accessed_runs_merge_adjacent_pages() -> None:
    pages = np.array([3, 4, 5, 9, 11, 12], dtype=np.uint64)
    assert accessed_runs(pages) == [(3 * P, 6 * P), (9 * P, 10 * P), (11 * P, 13 * P)]
    assert accessed_runs(np.empty(0, dtype=np.uint64)) == []


def test_unavailable_without_page_idle_or_without_frames(tmp_path: Path) -> None:
    root = make_tree(tmp_path, FRAMES)
    # The fixture has no /proc/self/pagemap: we see no frames.
    assert "needs CAP_SYS_ADMIN" in (IdlePageTracker.unavailable(Kernel(root)) or "")
    (root / BITMAP).unlink()
    assert (IdlePageTracker.unavailable(Kernel(root)) or "").startswith(
        "page_idle is not built into this kernel (CONFIG_IDLE_PAGE_TRACKING)")


def test_start_refuses_when_pagemap_hides_the_frames(tmp_path: Path) -> None:
    root = make_tree(tmp_path, {16: 0, 17: 0})
    with pytest.raises(NotPermittedError, match="needs CAP_SYS_ADMIN"), \
            tracking(IdlePageTracker(Kernel(root), [50], {})):
        pass
