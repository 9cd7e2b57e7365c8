"""The soft-dirty tracker on fixture trees: clear_refs writes, runs from handcrafted pagemap bytes."""

from __future__ import annotations

import errno
from collections.abc import Mapping
from dataclasses import FrozenInstanceError
from pathlib import Path

import numpy as np
import pytest

from numamove.errors import InvalidInputError, NoSuchProcessError, NotPermittedError
from numamove.kernel import Kernel, Write
from numamove.procfs.pagemap import PM_PRESENT, PM_SOFT_DIRTY, PM_SWAP, soft_dirty, true_runs, written
from numamove.scan.reader import NEAR
from numamove.trackers import Region, available, get, names, tracking
from numamove.trackers.softdirty import HEAT_UNIT, SoftDirtyTracker, sees_soft_dirty
from numamove.units import CHUNK_PAGES, PAGE_SIZE

PID = 4321
BASE = 0x10000  # page number of the first mapping: 0x10000000
DIRTY = PM_PRESENT | PM_SOFT_DIRTY | 0x1234  # present, written, some PFN
CLEAN = PM_PRESENT | 0x1234


def maps_line(first: int, pages: int, path: str = "") -> str:
    start, end = first * PAGE_SIZE, (first + pages) * PAGE_SIZE
    return f"{start:x}-{end:x} rw-p 00000000 00:00 0 {path}".rstrip() + "\n"


def make_process(root: Path, pid: int, vmas: list[tuple[int, int]], entries: Mapping[int, int]) -> None:
    """/proc/PID/{maps,pagemap,clear_refs} under ``root``: ``entries`` maps page number -> pagemap entry.

    pagemap is a sparse file: entries not given read 0 (no page), as holes do; it
    covers the last VMA's end, so no read of a VMA comes back short.
    """
    directory = root / "proc" / str(pid)
    directory.mkdir(parents=True)
    (directory / "maps").write_text("".join(maps_line(first, pages) for first, pages in vmas))
    (directory / "clear_refs").write_bytes(b"")
    end = max(first + pages for first, pages in vmas)
    with open(directory / "pagemap", "wb") as pagemap:
        pagemap.truncate(end * 8)
        for page, entry in entries.items():
            pagemap.seek(page * 8)
            pagemap.write(np.array([entry], dtype=np.uint64).tobytes())


def dirty(*pages: int) -> dict[int, int]:
    return dict.fromkeys(pages, DIRTY)


def regions_of(tracker: SoftDirtyTracker) -> list[tuple[int, int, int]]:
    return [(r.pid, r.start // PAGE_SIZE, r.end // PAGE_SIZE) for r in tracker.sample()]


def clears(kernel: Kernel) -> list[Write]:
    return [write for write in kernel.log if write.path.endswith("clear_refs")]


@pytest.fixture
def dry(tmp_path: Path) -> Kernel:
    return Kernel(tmp_path, dry_run=True)


# --- the pure helpers -----------------------------------------------------------------------------


def test_soft_dirty_reads_bit_55_and_written_needs_a_page() -> None:
    raw = np.array([DIRTY, CLEAN, PM_SOFT_DIRTY, PM_SWAP | PM_SOFT_DIRTY | 0x20, PM_SWAP | 0x20, 0,
                    (1 << 55) - 1, PM_PRESENT | (1 << 54)], dtype=np.uint64)
    assert soft_dirty(raw).tolist() == [True, False, True, True, False, False, False, False]
    # A hole in a mapping made since the last clear reads soft-dirty but holds no page: not written.
    assert written(raw).tolist() == [True, False, False, True, False, False, False, False]
    out = np.empty(len(raw), dtype=np.bool_)
    scratch = np.empty(len(raw), dtype=np.uint64)
    assert written(raw, out=out, scratch=scratch) is out
    assert out.tolist() == [True, False, False, True, False, False, False, False]
    present_only = raw[[0, 1, 2, 5, 6, 7]]  # no swapped entry: the second comparison is skipped
    assert written(present_only).tolist() == [True, False, False, False, False, False]


def test_true_runs_are_half_open_and_split_at_breaks() -> None:
    mask = np.array([1, 1, 0, 1, 1, 1, 1, 0, 0, 1], dtype=np.bool_)
    starts, ends = true_runs(mask)
    assert list(zip(starts.tolist(), ends.tolist(), strict=True)) == [(0, 2), (3, 7), (9, 10)]
    starts, ends = true_runs(mask, np.array([0, 2, 5, 9, 10], dtype=np.intp))  # 5 splits; 2 and 9 do not
    assert list(zip(starts.tolist(), ends.tolist(), strict=True)) == [(0, 2), (3, 5), (5, 7), (9, 10)]
    empty = true_runs(np.zeros(0, dtype=np.bool_))
    assert len(empty[0]) == len(empty[1]) == 0
    assert len(true_runs(np.zeros(5, dtype=np.bool_))[0]) == 0


# --- clear_refs -------------------------------------------------------------------------------------


def test_start_clears_each_process_once_and_sample_clears_again(dry: Kernel) -> None:
    make_process(dry.root, PID, [(BASE, 8)], dirty(BASE + 1))
    make_process(dry.root, 99, [(BASE, 8)], {})
    tracker = SoftDirtyTracker(dry, [PID, 99, PID], {})
    assert tracker.pids == [99, PID]
    tracker.start()
    assert clears(dry) == [Write("proc/99/clear_refs", b"4"), Write(f"proc/{PID}/clear_refs", b"4")]
    dry.log.clear()
    assert regions_of(tracker) == [(PID, BASE + 1, BASE + 2)]
    assert clears(dry) == [Write("proc/99/clear_refs", b"4"), Write(f"proc/{PID}/clear_refs", b"4")]
    tracker.stop()
    tracker.stop()
    assert not clears(dry)[2:]  # stop writes nothing: a clear cannot be undone


def test_the_interval_ends_when_sample_is_called_not_when_its_regions_are_read(dry: Kernel) -> None:
    make_process(dry.root, PID, [(BASE, 8)], dirty(BASE))
    tracker = SoftDirtyTracker(dry, [PID], {})
    tracker.start()
    dry.log.clear()
    regions = tracker.sample()
    assert clears(dry) == [Write(f"proc/{PID}/clear_refs", b"4")]
    assert [(r.start, r.end) for r in regions] == [(BASE * PAGE_SIZE, (BASE + 1) * PAGE_SIZE)]


def test_regions_say_written_with_heat_one_and_no_accessing_nodes(dry: Kernel) -> None:
    make_process(dry.root, PID, [(BASE, 16)], dirty(BASE, BASE + 1, BASE + 2, BASE + 9))
    with tracking(SoftDirtyTracker(dry, [PID], {})) as tracker:
        found = list(tracker.sample())
    assert [(r.start, r.end) for r in found] == [(BASE * PAGE_SIZE, (BASE + 3) * PAGE_SIZE),
                                                 ((BASE + 9) * PAGE_SIZE, (BASE + 10) * PAGE_SIZE)]
    for region in found:
        assert (region.pid, region.heat, region.heat_unit, region.written, region.accessing_nodes) == (
            PID, 1.0, HEAT_UNIT, True, None)
        # Made without the dataclass __init__ (for speed): the same as a region made the checked way.
        checked = Region(PID, region.start, region.end, 1.0, HEAT_UNIT, written=True)
        assert region == checked and hash(region) == hash(checked) and repr(region) == repr(checked)
        assert region.size == region.end - region.start
        with pytest.raises(FrozenInstanceError):
            region.heat = 2.0  # type: ignore[misc]


# --- runs from pagemap ------------------------------------------------------------------------------


def test_runs_merge_across_chunk_boundaries(dry: Kernel) -> None:
    pages = 2 * CHUNK_PAGES + 100
    entries = dict.fromkeys(range(BASE + CHUNK_PAGES - 5, BASE + CHUNK_PAGES + 7), DIRTY)  # spans chunk 1|2
    entries.update(dict.fromkeys(range(BASE + 2 * CHUNK_PAGES - 1, BASE + pages), DIRTY))  # chunk 2|3 to end
    entries[BASE] = DIRTY
    entries[BASE + 1] = CLEAN
    make_process(dry.root, PID, [(BASE, pages)], entries)
    tracker = SoftDirtyTracker(dry, [PID], {})
    tracker.start()
    assert regions_of(tracker) == [(PID, BASE, BASE + 1),
                                   (PID, BASE + CHUNK_PAGES - 5, BASE + CHUNK_PAGES + 7),
                                   (PID, BASE + 2 * CHUNK_PAGES - 1, BASE + pages)]


def test_runs_end_at_holes_between_mappings_read_together(dry: Kernel) -> None:
    # Three small mappings a few pages apart: pagemap is read once for all of them, holes included.
    # The holes' entries are made to look written: they hold no page of any mapping, so they never count.
    first, second, third = (BASE, 4), (BASE + 6, 4), (BASE + 10 + NEAR + 1, 4)
    entries = dict.fromkeys(range(BASE, BASE + 20 + NEAR), DIRTY)
    make_process(dry.root, PID, [first, second, third], entries)
    tracker = SoftDirtyTracker(dry, [PID], {})
    tracker.start()
    assert regions_of(tracker) == [(PID, BASE, BASE + 4), (PID, BASE + 6, BASE + 10),
                                   (PID, third[0], third[0] + 4)]


def test_touching_mappings_merge_and_a_gap_far_away_splits(dry: Kernel) -> None:
    # Two touching mappings (a split VMA) written across the seam make one region; a third mapping far
    # away, read on its own, starts a new one even though its first page follows a written page in
    # the buffer.
    far = BASE + 10 * CHUNK_PAGES
    vmas = [(BASE, 8), (BASE + 8, 8), (far, 5000)]
    entries = dirty(BASE + 6, BASE + 7, BASE + 8, BASE + 9, far, far + 4999)
    make_process(dry.root, PID, vmas, entries)
    tracker = SoftDirtyTracker(dry, [PID], {})
    tracker.start()
    assert regions_of(tracker) == [(PID, BASE + 6, BASE + 10), (PID, far, far + 1),
                                   (PID, far + 4999, far + 5000)]


def test_swapped_written_pages_count_and_holes_marked_soft_dirty_do_not(dry: Kernel) -> None:
    entries = {BASE: PM_SWAP | PM_SOFT_DIRTY | 0x40, BASE + 1: PM_SOFT_DIRTY, BASE + 2: PM_SWAP | 0x40,
               BASE + 3: DIRTY}
    make_process(dry.root, PID, [(BASE, 4)], entries)
    tracker = SoftDirtyTracker(dry, [PID], {})
    tracker.start()
    assert regions_of(tracker) == [(PID, BASE, BASE + 1), (PID, BASE + 3, BASE + 4)]


def test_the_kernels_own_mappings_are_not_read(dry: Kernel) -> None:
    make_process(dry.root, PID, [(BASE, 2)], dirty(BASE))
    maps = dry.root / "proc" / str(PID) / "maps"
    vsyscall = "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0  [vsyscall]\n"
    maps.write_text(maps.read_text() + vsyscall)
    tracker = SoftDirtyTracker(dry, [PID], {})
    tracker.start()
    assert regions_of(tracker) == [(PID, BASE, BASE + 1)]


def test_nothing_written_is_an_empty_sample(dry: Kernel) -> None:
    make_process(dry.root, PID, [(BASE, 64)], dict.fromkeys(range(BASE, BASE + 64), CLEAN))
    tracker = SoftDirtyTracker(dry, [PID], {})
    tracker.start()
    assert regions_of(tracker) == []


# --- a process that exits, another user's process ----------------------------------------------------


def test_a_process_that_exited_ends_the_sample_with_no_such_process(dry: Kernel, tmp_path: Path) -> None:
    make_process(dry.root, PID, [(BASE, 8)], dirty(BASE))
    tracker = SoftDirtyTracker(dry, [PID], {})
    tracker.start()
    (dry.root / "proc" / str(PID) / "maps").write_text("")  # a zombie: no memory map left
    with pytest.raises(NoSuchProcessError, match=f"pid {PID} has exited"):
        tracker.sample()
    for name in ("maps", "pagemap", "clear_refs"):
        (dry.root / "proc" / str(PID) / name).unlink()
    (dry.root / "proc" / str(PID)).rmdir()  # reaped
    with pytest.raises(ProcessLookupError, match=f"pid {PID}"):
        tracker.sample()
    live = Kernel(tmp_path)  # a real write to clear_refs that meets no process
    with pytest.raises(NoSuchProcessError, match=f"pid {PID} has exited"):
        SoftDirtyTracker(live, [PID], {}).start()


class RefusingKernel(Kernel):
    """A kernel where /proc/PID/clear_refs belongs to another user."""

    def write(self, relative: str, data: str | bytes, *, offset: int | None = None) -> None:
        raise PermissionError(errno.EACCES, "Permission denied", relative)


def test_another_users_process_is_refused_in_plain_words(tmp_path: Path) -> None:
    make_process(tmp_path, PID, [(BASE, 8)], {})
    words = (f"cannot write /proc/{PID}/clear_refs: pid {PID} belongs to another user; "
             "soft-dirty tracking runs as its user or as root")
    with pytest.raises(NotPermittedError, match=words):
        SoftDirtyTracker(RefusingKernel(tmp_path), [PID], {}).start()


# --- inputs, registry, availability ------------------------------------------------------------------


def test_bad_inputs_are_refused(dry: Kernel) -> None:
    with pytest.raises(InvalidInputError, match="takes no options: not interval"):
        SoftDirtyTracker(dry, [PID], {"interval": "1s"})
    with pytest.raises(InvalidInputError, match="at least one pid"):
        SoftDirtyTracker(dry, [], {})
    with pytest.raises(InvalidInputError, match="real pids, not 0"):
        SoftDirtyTracker(dry, [0], {})
    with pytest.raises(InvalidInputError, match=r"must be 0 .* or positive"):
        SoftDirtyTracker(dry, [-1], {})
    tracker = SoftDirtyTracker(dry, [PID], {})
    with pytest.raises(InvalidInputError, match="between start"):
        tracker.sample()


def test_registered_with_what_it_sees_and_costs() -> None:
    assert "softdirty" in names()
    assert get("softdirty") is SoftDirtyTracker
    info = SoftDirtyTracker.info
    assert info.name == "softdirty" and info.options == {}
    assert "reads" in info.cannot_see and "TLB" in info.cost and "fault" in info.cost
    assert "CONFIG_MEM_SOFT_DIRTY" in info.cost


def own_pagemap(root: Path, kernel: Kernel, entry: int) -> None:
    """/proc/self/{clear_refs,pagemap} under ``root``, pagemap showing ``entry`` for the probe's page."""
    probe = kernel.kept("scan.own_page", lambda: np.zeros(2 * PAGE_SIZE // 8, dtype=np.uint64))
    page = (probe.ctypes.data + PAGE_SIZE - 1) // PAGE_SIZE
    own = root / "proc" / "self"
    own.mkdir(parents=True, exist_ok=True)
    (own / "clear_refs").write_bytes(b"")
    with open(own / "pagemap", "wb") as pagemap:
        pagemap.seek(page * 8)
        pagemap.write(np.array([entry], dtype=np.uint64).tobytes())


def test_available_when_a_written_page_shows_its_soft_dirty_bit(tmp_path: Path) -> None:
    kernel = Kernel(tmp_path)
    own_pagemap(tmp_path, kernel, DIRTY)
    assert sees_soft_dirty(kernel)
    assert SoftDirtyTracker.unavailable(kernel) is None
    assert available(kernel)["softdirty"] == (True, "")


def test_unavailable_without_the_soft_dirty_bit_says_which_option_is_missing(tmp_path: Path) -> None:
    kernel = Kernel(tmp_path)
    own_pagemap(tmp_path, kernel, CLEAN)
    why = SoftDirtyTracker.unavailable(kernel)
    assert why is not None and "built without CONFIG_MEM_SOFT_DIRTY" in why
    assert available(kernel)["softdirty"].usable is False


def test_unavailable_without_clear_refs(tmp_path: Path) -> None:
    (tmp_path / "proc" / "self").mkdir(parents=True)
    (tmp_path / "proc" / "self" / "pagemap").write_bytes(b"")
    why = SoftDirtyTracker.unavailable(Kernel(tmp_path))
    assert why == ("/proc/self/clear_refs is missing: the kernel was built without CONFIG_PROC_PAGE_MONITOR, "
                   "which soft-dirty tracking needs")


def test_a_changed_maps_file_is_read_again_and_an_unchanged_one_reused(dry: Kernel) -> None:
    make_process(dry.root, PID, [(BASE, 4)], dirty(BASE))
    tracker = SoftDirtyTracker(dry, [PID], {})
    tracker.start()
    assert regions_of(tracker) == [(PID, BASE, BASE + 1)]
    assert regions_of(tracker) == [(PID, BASE, BASE + 1)]  # the same maps: its VMAs are reused
    directory = dry.root / "proc" / str(PID)
    far = BASE + 4 * CHUNK_PAGES
    with open(directory / "maps", "a") as maps:
        maps.write(maps_line(far, 8))  # a new mapping, its third page written
    with open(directory / "pagemap", "r+b") as pagemap:
        pagemap.truncate((far + 8) * 8)
        pagemap.seek((far + 2) * 8)
        pagemap.write(np.array([DIRTY], dtype=np.uint64).tobytes())
    assert regions_of(tracker) == [(PID, BASE, BASE + 1), (PID, far + 2, far + 3)]
