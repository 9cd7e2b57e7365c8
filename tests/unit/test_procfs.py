from __future__ import annotations

import itertools
import json
import os
import re
import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from numamove.errors import InputTypeError, InvalidInputError
from numamove.procfs import (
    PM_EXCLUSIVE,
    PM_FILE,
    PM_GUARD_REGION,
    PM_PRESENT,
    PM_SOFT_DIRTY,
    PM_SWAP,
    PM_UFFD_WP,
    MapsEntry,
    NumaMapsEntry,
    SmapsEntry,
    TaskStat,
    decode_pagemap,
    parse_maps,
    parse_memory_block_size,
    parse_numa_maps,
    parse_smaps,
    parse_task_stat,
)

from .reference import pfn_nodes

PROCFS = Path(__file__).resolve().parent.parent / "fixtures" / "procfs"
PAGE = 4096


def fixture_text(name: str) -> str:
    return (PROCFS / name).read_text(encoding="utf-8", errors="surrogateescape")


def by_start(entries: list[NumaMapsEntry]) -> dict[int, NumaMapsEntry]:
    return {entry.start: entry for entry in entries}


# --------------------------------------------------------------------------------------------------
# maps

MAPS_SAMPLE = (
    "55d4c1e00000-55d4c1e01000 r--p 00000000 fd:01 1234567                    /usr/bin/python3.11\n"
    "55d4c3a00000-55d4c3b21000 rw-p 00000000 00:00 0                          [heap]\n"
    "7f0c4a400000-7f0c4e400000 rw-p 00000000 00:00 0 \n"
    "7f0c4e400000-7f0c4e403000 rw-s 00001000 103:02 42                        /data/my file (v2).bin\n"
    "7f0c4e403000-7f0c4e404000 rw-s 00000000 00:01 7                          /memfd:buf (deleted)\n"
    "7f0c4e404000-7f0c4e406000 rw-p 00000000 00:00 0                          [anon:my arena]\n"
    "7ffd1d9e9000-7ffd1da0a000 rw-p 00000000 00:00 0                          [stack]\n"
    "7ffd1dbf0000-7ffd1dbf4000 r--p 00000000 00:00 0                          [vvar]\n"
    "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]\n"
)


def test_parse_maps_fields() -> None:
    entries = parse_maps(MAPS_SAMPLE)
    assert len(entries) == 9
    assert entries[0] == MapsEntry(
        start=0x55D4C1E00000,
        end=0x55D4C1E01000,
        perms="r--p",
        offset=0,
        dev="fd:01",
        inode=1234567,
        path="/usr/bin/python3.11",
        deleted=False,
    )
    assert entries[0].size == PAGE and not entries[0].shared
    assert entries[1].path == "[heap]"
    anon = entries[2]
    assert (anon.path, anon.inode, anon.dev, anon.deleted) == ("", 0, "00:00", False)
    assert anon.size == 64 << 20
    spaced = entries[3]
    assert spaced.path == "/data/my file (v2).bin"
    assert (spaced.offset, spaced.dev, spaced.inode, spaced.shared) == (0x1000, "103:02", 42, True)
    assert (entries[4].path, entries[4].deleted) == ("/memfd:buf", True)
    assert entries[5].path == "[anon:my arena]"
    assert [e.path for e in entries[6:]] == ["[stack]", "[vvar]", "[vsyscall]"]
    assert entries[8].start == 0xFFFFFFFFFF600000 and entries[8].perms == "--xp"


def test_parse_maps_undoes_the_newline_escape_only() -> None:
    line = "7f00-7f01 r--p 00000000 fd:01 9 /tmp/a\\012b\\040c (deleted)\n"
    (entry,) = parse_maps(line)
    # maps escapes only "\n"; "\040" is four literal characters of the file name.
    assert entry.path == "/tmp/a\nb\\040c"
    assert entry.deleted


def test_parse_maps_does_not_split_on_other_line_breaks() -> None:
    (entry,) = parse_maps("7f00-7f01 r--p 00000000 fd:01 9 /tmp/form\x0cfeed\u2028x\n")
    assert entry.path == "/tmp/form\x0cfeed\u2028x"


@pytest.mark.parametrize(
    "bad",
    [
        "7f00-7f01 r--p 00000000 fd:01",  # no inode
        "7f00 r--p 00000000 fd:01 9",  # no end
        "7f00-7f01 rwxq 00000000 fd:01 9",  # bad perms
        "7g00-7f01 r--p 00000000 fd:01 9",  # not hex
    ],
)
def test_parse_maps_rejects_malformed_lines(bad: str) -> None:
    good = "7f00-7f01 r--p 00000000 fd:01 9 /x\n"
    with pytest.raises(InvalidInputError, match=r"/proc/PID/maps line 2 .*" + re.escape(repr(bad))):
        parse_maps(good + bad + "\n")


def test_parse_maps_of_the_captured_process() -> None:
    entries = parse_maps(fixture_text("maps"))
    assert len(entries) == 74
    assert all(a.end <= b.start for a, b in itertools.pairwise(entries))
    paths = {e.path: e for e in entries}
    shm = paths["/dev/shm/numamove fixture=1"]
    assert (shm.start, shm.end, shm.perms, shm.dev, shm.inode) == (
        0x7F35F272A000,
        0x7F35F272D000,
        "rw-s",
        "00:1b",
        3,
    )
    assert shm.deleted and shm.shared
    assert paths["/dev/zero"].deleted and paths["/dev/zero"].shared
    assert paths["[heap]"].start == 0x55672AE60000
    assert entries[-1].path == "[vsyscall]"


# --------------------------------------------------------------------------------------------------
# numa_maps


def test_parse_numa_maps_handwritten_lines() -> None:
    entries = parse_numa_maps(fixture_text("numa_maps_handwritten"))
    assert len(entries) == 13
    interleave, exe, heap, stack, huge2m, huge1g, shm, escaped = entries[:8]
    empty, empty_file, weighted, many, local = entries[8:]

    assert interleave == NumaMapsEntry(
        start=0x7F0C4A400000,
        policy="interleave:0-2",
        anon=120000,
        dirty=120000,
        pages_by_node={0: 40000, 1: 40000, 2: 40000},
        kernel_page_size=4096,
    )
    assert interleave.pages == 120000

    assert exe.path == "/usr/bin/python3.11" and exe.policy == "default"
    assert (exe.mapped, exe.mapmax, exe.anon, exe.dirty, exe.pages_by_node) == (1, 3, 0, 0, {0: 1})

    assert heap.heap and not heap.stack and heap.path is None and heap.anon == 300
    assert stack.stack and not stack.heap and stack.pages_by_node == {0: 9}
    assert stack.active == 0  # not printed: all active

    assert huge2m.policy == "bind:1" and huge2m.huge
    assert (huge2m.path, huge2m.deleted) == ("/anon_hugepage", True)
    assert huge2m.kernel_page_size == 2 << 20
    assert huge2m.pages_by_node == {1: 2}

    assert (huge1g.path, huge1g.deleted, huge1g.dirty, huge1g.mapped) == ("/mnt/huge1G/big file", False, 3, 0)
    assert huge1g.kernel_page_size == 1 << 30

    assert shm.path == "/dev/shm/x" and shm.mapped == 3 and shm.mapmax == 2

    assert escaped.policy == "prefer:1"
    assert escaped.path == "/tmp/tab\tnl\neq=back\\slash"  # the kernel leaves a backslash alone
    assert (escaped.swapcache, escaped.writeback, escaped.unevictable, escaped.mapped) == (1, 2, 5, 8)

    assert empty == NumaMapsEntry(start=0x7F1C00000000, policy="default")
    assert empty.pages == 0 and empty.kernel_page_size == 4096 and empty.pages_by_node == {}
    assert (empty_file.path, empty_file.pages) == ("/lib/x.so", 0)

    assert weighted.policy == "weighted interleave=static:0-1"
    assert weighted.pages_by_node == {0: 2, 1: 2}
    assert weighted.extra == {"futurefield": "7", "shiny": ""}

    assert many.policy == "prefer (many):0,2" and many.pages_by_node == {2: 1}
    assert local.policy == "local" and local.stack  # "stack:TID" from kernels before 4.5


def test_hugetlb_counts_convert_to_base_pages() -> None:
    by = by_start(parse_numa_maps(fixture_text("numa_maps_handwritten")))
    assert by[0x7F2F00000000].base_pages_by_node() == {1: 1024}
    assert by[0x7F2F00000000].base_pages_by_node(2 << 20) == {1: 2}
    assert by[0x7F2E00000000].base_pages_by_node() == {0: 262144, 2: 524288}
    assert by[0x7F0C4A400000].base_pages_by_node(64 << 10) == {0: 2500, 1: 2500, 2: 2500}
    with pytest.raises(InvalidInputError):
        by[0x7F2F00000000].base_pages_by_node(0)


def test_parse_numa_maps_of_the_captured_process() -> None:
    entries = parse_numa_maps(fixture_text("numa_maps"))
    by = by_start(entries)
    policies = {by[start].policy for start in range(0x7F35F1B95000, 0x7F35F1B9F000, 0x2000)}
    assert policies == {"bind=static:0", "weighted interleave:0", "prefer (many):0", "interleave:0", "bind:0"}
    assert by[0x7F35F25BB000].policy == "prefer:0"

    # The MADV_HUGEPAGE region is backed by THPs (smaps says so) yet numa_maps counts base pages.
    thp = by[0x7F35F1600000]
    assert (thp.anon, thp.dirty, thp.kernel_page_size, thp.pages_by_node) == (1024, 1024, 4096, {0: 1024})
    (thp_smaps,) = [e for e in parse_smaps(fixture_text("smaps")) if e.start == thp.start]
    assert thp_smaps.anon_huge_pages == 4 << 20 == thp.pages * PAGE

    shm = by[0x7F35F272A000]
    assert (shm.path, shm.deleted, shm.dirty, shm.anon, shm.mapped) == (
        "/dev/shm/numamove fixture=1",
        True,
        2,
        0,
        0,
    )
    assert shm.pages == 2  # dirty == pages, so the kernel printed no mapped=

    libpython = by[0x7F35F2415000]
    assert (libpython.anon, libpython.dirty, libpython.mapped, libpython.mapmax, libpython.active) == (
        21,
        21,
        24,
        4,
        3,
    )
    assert by[0x55672AE60000].heap and by[0x7FFF269DF000].stack and by[0x7FFF269DF000].active == 1


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ("zz00 default", "no start address"),
        ("0x7f00 default", "no start address"),
        ("7f00", "no memory policy"),
        ("7f00 default anon=x N0=1", "anon= is not a count"),
        ("7f00 default anon=-1", "anon= is not a count"),
        ("7f00 default N0=1.5", "N0= is not a count"),
        ("7f00 default kernelpagesize_kB=", "kernelpagesize_kB= is not a count"),
    ],
)
def test_parse_numa_maps_rejects_malformed_lines(bad: str, why: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_numa_maps("7e00 default\n" + bad + "\n")
    message = str(caught.value)
    assert "/proc/PID/numa_maps line 2" in message and why in message and repr(bad) in message


# --------------------------------------------------------------------------------------------------
# smaps

SMAPS_SAMPLE = "\n".join(
    [
        "7f35f1600000-7f35f1a00000 rw-p 00000000 00:00 0 ",
        "Size:               4096 kB",
        "KernelPageSize:        4 kB",
        "MMUPageSize:           4 kB",
        "Rss:                3000 kB",
        "Pss:                2500 kB",
        "Pss_Dirty:          2000 kB",
        "Shared_Clean:          1 kB",
        "Shared_Dirty:          2 kB",
        "Private_Clean:         3 kB",
        "Private_Dirty:         4 kB",
        "Referenced:            5 kB",
        "Anonymous:             6 kB",
        "KSM:                   0 kB",
        "LazyFree:              0 kB",
        "AnonHugePages:      2048 kB",
        "ShmemPmdMapped:        7 kB",
        "FilePmdMapped:         8 kB",
        "Shared_Hugetlb:        9 kB",
        "Private_Hugetlb:      10 kB",
        "Swap:                 11 kB",
        "SwapPss:              12 kB",
        "Locked:               13 kB",
        "THPeligible:           1",
        "ProtectionKey:         0",
        "VmFlags: rd wr mr mw me ac hg ",
        "7f35f2000000-7f35f2001000 r--p 00001000 fe:00 26723                  /lib/with space.so (deleted)",
        "Size:                  4 kB",
        "KernelPageSize:     2048 kB",
        "THPeligible:    0",
        "FutureThing:    some words here",
        "Counter:        17",
        "VmFlags: rd mr me",
        "",
    ]
)


def test_parse_smaps_fields_in_bytes() -> None:
    first, second = parse_smaps(SMAPS_SAMPLE)
    assert first == SmapsEntry(
        vma=MapsEntry(0x7F35F1600000, 0x7F35F1A00000, "rw-p", 0, "00:00", 0),
        size=4096 << 10,
        rss=3000 << 10,
        pss=2500 << 10,
        shared_clean=1 << 10,
        shared_dirty=2 << 10,
        private_clean=3 << 10,
        private_dirty=4 << 10,
        referenced=5 << 10,
        anonymous=6 << 10,
        anon_huge_pages=2048 << 10,
        shmem_pmd_mapped=7 << 10,
        file_pmd_mapped=8 << 10,
        shared_hugetlb=9 << 10,
        private_hugetlb=10 << 10,
        swap=11 << 10,
        swap_pss=12 << 10,
        locked=13 << 10,
        kernel_page_size=4096,
        mmu_page_size=4096,
        thp_eligible=True,
        vm_flags=("rd", "wr", "mr", "mw", "me", "ac", "hg"),
        extra={"Pss_Dirty": 2000 << 10, "KSM": 0, "LazyFree": 0, "ProtectionKey": 0},
    )
    assert (first.start, first.end) == (0x7F35F1600000, 0x7F35F1A00000)
    assert second.vma.path == "/lib/with space.so" and second.vma.deleted
    assert (second.size, second.kernel_page_size, second.rss) == (4096, 2 << 20, 0)
    assert second.thp_eligible is False
    assert second.extra == {"Counter": 17}  # "FutureThing" has a shape we cannot read: skipped
    assert second.vm_flags == ("rd", "mr", "me")


def test_parse_smaps_rollup_and_missing_thp_line() -> None:
    rollup = "55d3ee879000-7ffcd6ae8000 ---p 00000000 00:00 0                          [rollup]\nRss:  8 kB\n"
    (entry,) = parse_smaps(rollup)
    assert entry.vma.path == "[rollup]" and entry.rss == 8192 and entry.thp_eligible is None


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ("Rss:  lots kB", "Rss is not 'N kB'"),
        ("Rss:  12 MB", "Rss is not 'N kB'"),
        ("Rss:", "Rss is not 'N kB'"),
        ("THPeligible:  2", "THPeligible is not 0 or 1"),
        ("just words", "neither a mapping header nor 'Key: value'"),
    ],
)
def test_parse_smaps_rejects_malformed_lines(bad: str, why: str) -> None:
    text = "7f00-7f01 r--p 00000000 fd:01 9 /x\nSize:  4 kB\n" + bad + "\n"
    with pytest.raises(InvalidInputError) as caught:
        parse_smaps(text)
    message = str(caught.value)
    assert "/proc/PID/smaps line 3" in message and why in message and repr(bad) in message


def test_parse_smaps_rejects_a_field_before_any_header() -> None:
    with pytest.raises(InvalidInputError, match="field before the first mapping header"):
        parse_smaps("Size:  4 kB\n")


def test_parse_smaps_of_the_captured_process_matches_its_maps() -> None:
    smaps = parse_smaps(fixture_text("smaps"))
    maps = parse_maps(fixture_text("maps"))
    assert [e.vma for e in smaps] == maps
    assert all(e.size == e.vma.size for e in smaps)
    assert all(e.kernel_page_size == PAGE and e.thp_eligible is not None for e in smaps)
    numa = parse_numa_maps(fixture_text("numa_maps"))
    # numa_maps has every VMA but the [vsyscall] gate area.
    assert [e.start for e in numa] == [e.start for e in maps if e.path != "[vsyscall]"]


# --------------------------------------------------------------------------------------------------
# pagemap


def entries(*values: int) -> npt.NDArray[np.uint64]:
    return np.array(values, dtype=np.uint64)


def test_decode_pagemap_bits() -> None:
    present = PM_PRESENT | PM_EXCLUSIVE | PM_SOFT_DIRTY | 0x1234567
    swapped = PM_SWAP | PM_SOFT_DIRTY | (0x12345 << 5) | 3
    file_page = PM_PRESENT | PM_FILE | 0x7
    oddities = PM_UFFD_WP | PM_GUARD_REGION
    max_pfn = PM_PRESENT | ((1 << 55) - 1)
    pm = decode_pagemap(entries(present, swapped, 0, file_page, oddities, max_pfn))
    assert len(pm) == 6
    assert pm.present.tolist() == [True, False, False, True, False, True]
    assert pm.swapped.tolist() == [False, True, False, False, False, False]
    assert pm.file_or_shared.tolist() == [False, False, False, True, False, False]
    assert pm.exclusive.tolist() == [True, False, False, False, False, False]
    assert pm.soft_dirty.tolist() == [True, True, False, False, False, False]
    assert pm.uffd_wp.tolist() == [False, False, False, False, True, False]
    assert pm.guard_region.tolist() == [False, False, False, False, True, False]
    assert pm.pfn.tolist() == [0x1234567, 0, 0, 7, 0, (1 << 55) - 1]
    assert pm.swap_type.tolist() == [0, 3, 0, 0, 0, 0]
    assert pm.swap_offset.tolist() == [0, 0x12345, 0, 0, 0, 0]
    assert {a.dtype for a in (pm.pfn, pm.swap_type, pm.swap_offset)} == {np.dtype(np.uint64)}
    flags = (pm.present, pm.swapped, pm.file_or_shared, pm.exclusive, pm.soft_dirty)
    assert {a.dtype for a in flags} == {np.dtype(np.bool_)}


def test_decode_pagemap_without_swap_entries_has_zero_swap_fields() -> None:
    pm = decode_pagemap(entries(PM_PRESENT | 5, 0))
    assert pm.swap_type.tolist() == [0, 0] and pm.swap_offset.tolist() == [0, 0]


def test_decode_pagemap_accepts_buffers_and_does_not_copy_arrays() -> None:
    raw = entries(PM_PRESENT | 42, PM_SWAP | 1, 0)
    from_array = decode_pagemap(raw)
    assert np.shares_memory(from_array.raw, raw)
    for data in (raw.tobytes(), bytearray(raw.tobytes()), memoryview(raw.tobytes())):
        pm = decode_pagemap(data)
        assert pm.pfn.tolist() == [42, 0, 0] and pm.swap_type.tolist() == [0, 1, 0]
    strided = np.repeat(raw, 2)[::2]
    assert decode_pagemap(strided).pfn.tolist() == [42, 0, 0]
    assert len(decode_pagemap(b"")) == 0


def test_decode_pagemap_rejects_bad_input() -> None:
    with pytest.raises(InvalidInputError, match="12 bytes"):
        decode_pagemap(b"\0" * 12)
    with pytest.raises(InputTypeError):
        decode_pagemap(np.zeros(3, dtype=np.float64))
    with pytest.raises(InputTypeError):
        decode_pagemap(np.zeros(3, dtype=np.int64))
    other_order = ">u8" if sys.byteorder == "little" else "<u8"
    with pytest.raises(InputTypeError):
        decode_pagemap(np.zeros(3, dtype=other_order))


def pagemap_slice(label: str) -> tuple[int, npt.NDArray[np.uint64]]:
    index = json.loads((PROCFS / "pagemap_index.json").read_text())
    info = index["slices"][label]
    data = np.frombuffer((PROCFS / info["file"]).read_bytes(), dtype=np.uint64)
    assert data.size == info["pages"]
    return int(info["start"], 16), data


def test_decode_pagemap_of_the_captured_process() -> None:
    _, thp = pagemap_slice("thp")
    pm = decode_pagemap(thp)
    assert pm.present.all() and pm.exclusive.all() and not pm.file_or_shared.any() and not pm.swapped.any()
    # A THP: 512 frames in a row, starting on a 2 MiB boundary.
    assert int(pm.pfn[0]) % 512 == 0
    assert (np.diff(pm.pfn[:512].astype(np.int64)) == 1).all()

    _, shm = pagemap_slice("shm")
    pm = decode_pagemap(shm.tobytes())
    assert pm.present.tolist() == [True, True, False]
    assert pm.file_or_shared.tolist() == [True, True, False]
    assert pm.pfn[2] == 0 and (pm.pfn[:2] != 0).all()

    _, shanon = pagemap_slice("shanon")
    assert decode_pagemap(shanon).file_or_shared.tolist() == [True, False]

    _, sparse = pagemap_slice("sparse")
    pm = decode_pagemap(sparse)
    assert pm.present.tolist() == [True, False, False, False, False, True, False, False]
    assert (pm.pfn == 0).tolist() == (~pm.present).tolist()


# --------------------------------------------------------------------------------------------------
# task stat


def test_parse_task_stat_of_the_captured_thread() -> None:
    assert parse_task_stat(fixture_text("task_stat")) == TaskStat(
        tid=3970, comm="fix) (ture x", state="S", processor=0, utime=0, stime=0, start_time=146273
    )
    assert parse_task_stat(fixture_text("stat")) == TaskStat(
        tid=3969, comm="python", state="S", processor=0, utime=1, stime=0, start_time=146271
    )


def stat_line(comm: str, processor: str = "7", fields: int = 52) -> str:
    rest = [str(n) for n in range(3, fields + 1)]
    rest[0] = "R"
    if fields >= 39:
        rest[39 - 3] = processor
    return f"4242 ({comm}) " + " ".join(rest) + "\n"


def test_parse_task_stat_field_39_and_odd_names() -> None:
    assert parse_task_stat(stat_line("worker")) == TaskStat(4242, "worker", "R", 7, utime=14, stime=15,
                                                            start_time=22)
    assert parse_task_stat(stat_line("a) b (c) 9 9")).comm == "a) b (c) 9 9"
    assert parse_task_stat(stat_line("new\nline)")).comm == "new\nline)"
    assert parse_task_stat(stat_line("")).comm == ""
    # Field 39 is the last one some old kernels printed.
    assert parse_task_stat(stat_line("old", processor="3", fields=39)).processor == 3


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "4242 worker R 1 2 3",
        "x42 (worker) " + " ".join(["R"] + ["0"] * 40),
        "4242 (worker " + " ".join(["R"] + ["0"] * 40),
        stat_line("worker", fields=38),
        stat_line("worker", processor="-1"),
        stat_line("worker").replace(" R ", " Rx "),
    ],
)
def test_parse_task_stat_rejects_malformed_lines(bad: str) -> None:
    with pytest.raises(InvalidInputError, match=r"/proc/PID/task/TID/stat line 1"):
        parse_task_stat(bad)


# --------------------------------------------------------------------------------------------------
# sysfs helpers


def test_parse_memory_block_size() -> None:
    assert parse_memory_block_size("8000000\n") == 128 << 20
    assert parse_memory_block_size("80000000") == 2 << 30
    assert parse_memory_block_size("ABC") == 0xABC
    for bad in ("", "\n", "0x8000000", "80 00", "-1", "0", "zz"):
        with pytest.raises(InvalidInputError, match="block_size_bytes"):
            parse_memory_block_size(bad)


BLOCK_PAGES = 32768  # 128 MiB blocks of 4 KiB pages


def test_pfn_nodes_edges() -> None:
    table = np.array([0, 0, 1, -1, 2], dtype=np.int64)
    b = BLOCK_PAGES
    pfns = entries(1, b - 1, b, 2 * b, 3 * b + 5, 4 * b, 5 * b - 1, 5 * b, 1 << 54, 0)
    nodes = pfn_nodes(pfns, b, table)
    assert nodes.dtype == np.int32
    #                         1  b-1 b  2b  3b+5 4b  5b-1 5b 2^54 0
    assert nodes.tolist() == [0, 0, 0, 1, -1, 2, 2, -1, -1, -1]


def test_pfn_nodes_other_shapes_and_types() -> None:
    table = np.array([3, 1, 2], dtype=np.int32)
    assert pfn_nodes(np.array([[2, 4], [9, 6]], dtype=np.int64), 3, table).tolist() == [[3, 1], [-1, 2]]
    assert pfn_nodes(np.array([-5, 5], dtype=np.int64), 4, table).tolist() == [-1, 1]
    assert pfn_nodes(np.array([5], dtype=np.uint32), np.int64(4), table).tolist() == [1]
    assert pfn_nodes(np.array([], dtype=np.uint64), 4, table).shape == (0,)
    assert pfn_nodes(np.array([7], dtype=np.uint64), 4, np.array([], dtype=np.int32)).tolist() == [-1]


def test_pfn_nodes_rejects_bad_arguments() -> None:
    table = np.array([0], dtype=np.int32)
    pfns = np.array([1], dtype=np.uint64)
    with pytest.raises(InvalidInputError):
        pfn_nodes(pfns, 0, table)
    with pytest.raises(InputTypeError):
        pfn_nodes(pfns, 4.0, table)  # type: ignore[arg-type]
    with pytest.raises(InputTypeError):
        pfn_nodes(np.array([1.0], dtype=np.float64), 4, table)
    with pytest.raises(InputTypeError):
        pfn_nodes(pfns, 4, np.array([[0]], dtype=np.int32))


# --------------------------------------------------------------------------------------------------
# live cross-checks on this host

needs_proc = pytest.mark.skipif(
    not Path("/proc/self/numa_maps").exists() or not Path("/proc/self/pagemap").exists(),
    reason="needs /proc/self/numa_maps and /proc/self/pagemap",
)


def read_into(path: str, buffer: bytearray) -> bytes:
    """Read a /proc file into a buffer allocated beforehand, so reading it maps no new memory."""
    view = memoryview(buffer)
    used = 0
    with open(path, "rb", buffering=0) as file:
        while True:
            got = file.readinto(view[used:])
            if not got:
                break
            used += got
            assert used < len(buffer), f"{path} outgrew the read buffer"
    return bytes(view[:used])


@needs_proc
def test_live_maps_smaps_numa_maps_describe_the_same_vmas() -> None:
    buffers = [bytearray(16 << 20) for _ in range(4)]
    for _ in range(10):
        before, smaps_text, numa_text, after = (
            read_into(f"/proc/self/{name}", buf)
            for name, buf in zip(("maps", "smaps", "numa_maps", "maps"), buffers, strict=True)
        )
        if before == after:
            break
    else:
        pytest.fail("/proc/self/maps kept changing")
    maps = parse_maps(before.decode("utf-8", "surrogateescape"))
    smaps = parse_smaps(smaps_text.decode("utf-8", "surrogateescape"))
    numa = parse_numa_maps(numa_text.decode("utf-8", "surrogateescape"))
    assert len(maps) > 10
    assert [e.vma for e in smaps] == maps
    assert [e.start for e in numa] == [e.start for e in maps if e.path != "[vsyscall]"]
    for vma, numa_entry in zip((e for e in maps if e.path != "[vsyscall]"), numa, strict=True):
        if vma.path and not vma.path.startswith("["):
            assert numa_entry.path == vma.path and numa_entry.deleted == vma.deleted
    heap = [n for n in numa if n.heap]
    assert [m.path for m in maps if m.start in {n.start for n in heap}] == ["[heap]"] * len(heap)


def memory_block_table() -> tuple[int, npt.NDArray[np.int32]]:
    block_size = parse_memory_block_size(Path("/sys/devices/system/memory/block_size_bytes").read_text())
    block_pages = block_size // PAGE
    owner: dict[int, int] = {}
    for node_dir in Path("/sys/devices/system/node").glob("node[0-9]*"):
        for block in node_dir.glob("memory[0-9]*"):
            owner[int(block.name[6:])] = int(node_dir.name[4:])
    table = np.full(max(owner, default=-1) + 1, -1, dtype=np.int32)
    for index, node in owner.items():
        table[index] = node
    return block_pages, table


@needs_proc
def test_live_pagemap_shows_touched_pages_present() -> None:
    pages = 64
    buffer = np.zeros(pages * PAGE, dtype=np.uint8)
    buffer[::PAGE] = 1  # fault every page in
    address = buffer.ctypes.data
    first = address // PAGE
    count = (address + buffer.nbytes - 1) // PAGE - first + 1
    with open("/proc/self/pagemap", "rb", buffering=0) as file:
        data = os.pread(file.fileno(), count * 8, first * 8)
    pm = decode_pagemap(data)
    assert len(pm) == count
    assert pm.present.all() and not pm.swapped.any()
    interior = slice(1, -1)  # the end pages may be shared with other allocations
    assert not pm.file_or_shared[interior].any() and pm.exclusive[interior].all()
    if os.geteuid() != 0:
        assert not pm.pfn.any()  # the kernel hides PFNs from readers without CAP_SYS_ADMIN
        return
    assert pm.pfn.all()
    if not Path("/sys/devices/system/memory/block_size_bytes").exists():
        pytest.skip("no /sys/devices/system/memory")
    block_pages, table = memory_block_table()
    nodes = pfn_nodes(pm.pfn, block_pages, table)
    online = {int(p.name[4:]) for p in Path("/sys/devices/system/node").glob("node[0-9]*")}
    assert set(nodes.tolist()) <= online
    if online == {0}:
        assert (nodes == 0).all()


def test_numa_maps_one_match_path_agrees_with_the_word_by_word_parser() -> None:
    from numamove.procfs.numa_maps import _NUMA_LINE, _numa_maps_by_word

    lines = [line for name in ("numa_maps", "numa_maps_handwritten")
             for line in fixture_text(name).splitlines() if line]
    if Path("/proc/self/numa_maps").exists():
        lines += [line for line in Path("/proc/self/numa_maps").read_text().splitlines() if line]
    matched = [line for line in lines if _NUMA_LINE.fullmatch(line)]
    assert len(matched) >= len(lines) // 2  # the kernel's own order takes the single match
    for lineno, line in enumerate(lines, 1):
        assert parse_numa_maps(line)[0] == _numa_maps_by_word(lineno, line), line


def test_parse_maps_names_the_one_bad_line_among_good_ones() -> None:
    good = MAPS_SAMPLE.splitlines()
    text = "\n".join([*good[:3], "7f00-7f01 rw-p 0 00:00", *good[3:]]) + "\n"
    with pytest.raises(InvalidInputError, match="line 4"):
        parse_maps(text)
    assert parse_maps("\n" + MAPS_SAMPLE + "\n\n") == parse_maps(MAPS_SAMPLE)
