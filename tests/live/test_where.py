"""`numamove where` and `numamove map` on a process whose pages sit on known nodes."""

from __future__ import annotations

import ctypes
import json
import mmap
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

import numamove
from numamove.cli import main
from numamove.scan import scan_application, scan_process

from .conftest import PAGE_SIZE, Channel, ForkedChild, Layout, Region, forked, raw_mmap

HUGE = 2 << 20
MAP_HUGETLB = 0x40000
MAP_NORESERVE = 0x4000


def build_workload(layout: Layout, channel: Channel) -> None:
    """The child: regions on every node, THP, a shared mapping, hugetlb and an untouched page."""
    with open("/proc/self/comm", "w") as comm:
        comm.write("numamove-wl")
    regions: dict[str, Region] = {}
    for name, node in (("node0", layout.cpu_nodes[0]), ("node1", layout.cpu_nodes[1]),
                       ("far", layout.memory_only)):
        r = regions[name] = Region(64, fill=False)
        numamove.mbind(r.base, 64 * PAGE_SIZE, numamove.Mode.BIND, [node])
        r.fill()
    thp = regions["thp"] = Region(3 * HUGE // PAGE_SIZE, fill=False)
    thp.buffer.madvise(mmap.MADV_HUGEPAGE)
    thp.fill()
    shared = regions["shared"] = Region(32, shared=True, fill=False)
    numamove.mbind(shared.base, 32 * PAGE_SIZE, numamove.Mode.BIND, [layout.memory_only])
    shared.fill()
    zero = regions["zero"] = Region(2 * HUGE // PAGE_SIZE, fill=False)
    zero.buffer.madvise(mmap.MADV_HUGEPAGE)
    _ = int(zero.bytes[::PAGE_SIZE].sum())  # read only: zero pages, the huge zero page where aligned
    hole = regions["hole"] = Region(8, fill=False)
    numamove.mbind(hole.base, 8 * PAGE_SIZE, numamove.Mode.PREFERRED, [layout.cpu_nodes[1]])
    hole.bytes[: 7 * PAGE_SIZE : PAGE_SIZE] = 1  # the 8th page stays untouched
    hugetlb = raw_mmap(2 * HUGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | MAP_HUGETLB)
    numamove.mbind(hugetlb, 2 * HUGE, numamove.Mode.BIND, [layout.cpu_nodes[1]])
    ctypes.memset(hugetlb, 5, 2 * HUGE)
    layout_report = {name: [r.base, r.pages] for name, r in regions.items()}
    layout_report["hugetlb"] = [hugetlb, 2 * HUGE // PAGE_SIZE]
    channel.send(json.dumps(layout_report))
    channel.receive()


@pytest.fixture
def workload(layout: Layout) -> Iterator[tuple[ForkedChild, dict[str, list[int]]]]:
    with forked(lambda channel: build_workload(layout, channel)) as child:
        yield child, json.loads(child.receive())


def where(*arguments: str) -> Any:
    result = CliRunner().invoke(main, ["where", *arguments, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def raw_counts(pid: int, start: int, end: int) -> dict[str, int]:
    """Pages per node by a raw move_pages query of every page in [start, end)."""
    status = numamove.move_pages(pid, np.arange(start, end, PAGE_SIZE, dtype=np.uint64))
    counts = np.bincount(status[status >= 0]) if (status >= 0).any() else np.empty(0, dtype=np.intp)
    return {str(node): int(c) for node, c in enumerate(counts) if c}


def numa_maps_totals(pid: int) -> dict[str, int]:
    totals: dict[str, int] = {}
    with open(f"/proc/{pid}/numa_maps") as maps:
        for line in maps:
            found = re.search(r"kernelpagesize_kB=(\d+)", line)
            size = int(found[1]) * 1024 if found else PAGE_SIZE
            for node, count in re.findall(r"\bN(\d+)=(\d+)", line):
                totals[node] = totals.get(node, 0) + int(count) * size // PAGE_SIZE
    return dict(sorted(totals.items(), key=lambda item: int(item[0])))


def test_where_matches_a_raw_query_page_for_page(workload: tuple[ForkedChild, dict[str, list[int]]]) -> None:
    child, _ = workload
    document = where(str(child.pid))
    assert document["pid"] == child.pid and document["page_size"] == PAGE_SIZE
    for vma in document["vmas"]:
        if vma["kind"] == "vdso":
            continue  # the kernel's own pages: numa_maps counts none, move_pages finds them
        assert vma["pages_by_node"] == raw_counts(child.pid, vma["start"], vma["end"]), vma
    assert document["pages_by_node"] == numa_maps_totals(child.pid)


def test_each_region_is_where_it_was_put(layout: Layout,
                                         workload: tuple[ForkedChild, dict[str, list[int]]]) -> None:
    child, regions = workload
    expected = {
        "node0": {str(layout.cpu_nodes[0]): 64},
        "node1": {str(layout.cpu_nodes[1]): 64},
        "far": {str(layout.memory_only): 64},
        "shared": {str(layout.memory_only): 32},
        "hole": {str(layout.cpu_nodes[1]): 7},
        "hugetlb": {str(layout.cpu_nodes[1]): 1024},
        "zero": {},  # zero pages are no node's memory
    }
    absent = {"hole": 1, "zero": regions["zero"][1]}
    for name, counts in expected.items():
        base, pages = regions[name]
        document = where(str(child.pid), "--range", f"{base:#x}-{base + pages * PAGE_SIZE:#x}")
        assert document["pages_by_node"] == counts, name
        assert sum(vma["not_present"] for vma in document["vmas"]) == absent.get(name, 0), name
    kinds = {vma["start"]: vma["kind"] for vma in where(str(child.pid))["vmas"]}
    assert kinds[regions["hugetlb"][0]] == "hugetlb"
    assert kinds[regions["shared"][0]] == "shm"
    assert kinds[regions["node0"][0]] == "anon"


def test_thp_is_counted_in_base_pages(workload: tuple[ForkedChild, dict[str, list[int]]]) -> None:
    child, regions = workload
    base, pages = regions["thp"]
    document = where(str(child.pid), "--vma", "thp")
    vma = next(v for v in document["vmas"] if v["start"] <= base < v["end"])
    assert vma["thp_pages"] >= 512 and vma["thp_pages"] % 512 == 0
    assert sum(vma["pages_by_node"].values()) == pages
    assert document["pages_by_kind"]["thp"] >= vma["thp_pages"]


@pytest.mark.parametrize("method", ["pagemap", "query"])
def test_per_page_view_matches_a_raw_query(method: str,
                                           workload: tuple[ForkedChild, dict[str, list[int]]]) -> None:
    child, _ = workload
    scan = scan_process(child.pid, pages=True, method=method)
    assert scan.method == method
    checked = 0
    for vma in scan.vmas:
        if vma.pages is None:
            continue
        raw = numamove.move_pages(child.pid, vma.pages.addresses)
        # Both views say -ENOENT for a page not present and -EFAULT for the zero page.
        raw[raw == numamove.PageStatus.FAULT] = np.where(
            vma.pages.nodes[raw == numamove.PageStatus.FAULT] == numamove.PageStatus.FAULT,
            numamove.PageStatus.FAULT, numamove.PageStatus.NOT_PRESENT)
        assert vma.pages.nodes.tolist() == raw.tolist(), (vma.start, vma.path)
        checked += len(raw)
    assert checked > 10_000
    # The count-only scan (chunked reads, nearby VMAs read together) agrees VMA by VMA.
    counted = scan_process(child.pid, pages=True, keep_pages=False, method=method)
    assert [(v.start, v.pages_by_node, v.swapped) for v in counted.vmas] == \
        [(v.start, v.pages_by_node, v.swapped) for v in scan.vmas]


def test_threads_and_local_share(workload: tuple[ForkedChild, dict[str, list[int]]]) -> None:
    child, _ = workload
    document = where(str(child.pid))
    (thread,) = document["threads"]
    assert thread["tid"] == child.pid and thread["node"] in (0, 1)
    local = document["pages_by_node"].get(str(thread["node"]), 0)
    assert document["local_share"] == pytest.approx(local / sum(document["pages_by_node"].values()))


def test_where_text_output(workload: tuple[ForkedChild, dict[str, list[int]]]) -> None:
    child, regions = workload
    result = CliRunner().invoke(main, ["where", str(child.pid), "--pages", "--vma", "hugetlb"])
    assert result.exit_code == 0, result.output
    summary = f"pid {child.pid} (numamove-wl): 1024 present pages (4.0 MiB): node 1 1024 (100.0%)"
    assert summary in result.output
    assert f"{regions['hugetlb'][0]:x} hugetlb pages: 1x1024" in result.output


def backend(segment: Region, first: int, count: int, channel: Channel) -> None:
    channel.receive()  # forked before the postmaster touched anything: it inherits no page
    # Writes only: a read fault would also map up to 15 cached neighbours (fault-around).
    segment.bytes[first * PAGE_SIZE:(first + count) * PAGE_SIZE:PAGE_SIZE] = 2
    channel.send()
    channel.receive()


@pytest.mark.parametrize("method", ["pagemap", "query"])
def test_application_counts_a_shared_page_once(layout: Layout, method: str) -> None:
    """A postmaster maps a tenth of its shared buffers; two backends map the rest and 5 of its pages."""
    segment = Region(100, shared=True, fill=False)
    try:
        with forked(lambda c: backend(segment, 5, 50, c)) as one, \
                forked(lambda c: backend(segment, 55, 45, c)) as two:
            segment.bytes[: 10 * PAGE_SIZE : PAGE_SIZE] = 1
            for child in (one, two):
                child.send()
                child.receive()
            pids = [os.getpid(), one.pid, two.pid]
            span = [(segment.base, segment.base + 100 * PAGE_SIZE)]
            separate = [scan_process(pid, ranges=span, method=method).present for pid in pids]
            application = scan_application(pids, ranges=span, method=method)
        assert separate == [10, 50, 45]
        assert sum(application.pages_by_node.values()) == 100
        assert application.shared_pages == 5
    finally:
        segment.close()


def test_where_several_pids_gives_a_list(workload: tuple[ForkedChild, dict[str, list[int]]]) -> None:
    child, _ = workload
    documents = where(f"{os.getpid()},{child.pid}")
    assert [d["pid"] for d in documents] == sorted([os.getpid(), child.pid])


def test_where_by_name_and_by_cgroup(workload: tuple[ForkedChild, dict[str, list[int]]]) -> None:
    child, _ = workload
    group = Path(f"/sys/fs/cgroup/numamove-where-{os.getpid()}")
    group.mkdir()
    empty = group / "empty"
    try:
        (group / "cgroup.procs").write_text(str(child.pid))
        assert where(f"cgroup:{group}")["pid"] == child.pid
        empty.mkdir()
        result = CliRunner().invoke(main, ["where", str(empty)])
        assert (result.exit_code, result.output) == (1, f"numamove: error: cgroup {empty} has no processes\n")
    finally:
        Path("/sys/fs/cgroup/cgroup.procs").write_text(str(child.pid))
        if empty.exists():
            empty.rmdir()
        group.rmdir()
    assert where("^numamove-wl$")["pid"] == child.pid


@pytest.mark.parametrize(("arguments", "message"), [
    (["where", "4194303"], "numamove: error: no such process: pid 4194303\n"),
    (["where", "1", "--range", "0x2000-0x1000"], "numamove: error: bad range '0x2000-0x1000': "
                                                 "the start must be below the end\n"),
    (["where", "1", "--range", "zz"], "numamove: error: bad range 'zz': expected START-END in hex (0x...) "
                                      "or decimal ASCII digits, e.g. 0x7f0000000000-0x7f0000200000\n"),
    (["where", "1", "--range", "0x1000-0x3000", "--range", "0x2000-0x4000"],
     "numamove: error: ranges 0x1000-0x3000 and 0x2000-0x4000 overlap\n"),
    (["where", "no-such-process-name-xyz"], "numamove: error: no process name matches "
                                            "'no-such-process-name-xyz'\n"),
    (["map", "4194303"], "numamove: error: no such process: pid 4194303\n"),
])
def test_bad_input_is_one_line(arguments: list[str], message: str) -> None:
    result = CliRunner().invoke(main, arguments)
    assert (result.exit_code, result.output) == (1, message)


def test_process_that_is_gone_and_one_we_may_not_read(layout: Layout) -> None:
    with forked(lambda channel: channel.receive()) as child:
        gone = child.pid
    result = CliRunner().invoke(main, ["where", str(gone)])
    assert (result.exit_code, result.output) == (1, f"numamove: error: no such process: pid {gone}\n")

    def as_nobody(channel: Channel) -> None:
        os.setgid(65534)
        os.setuid(65534)
        outcome = CliRunner().invoke(main, ["where", "1"])
        channel.send(json.dumps([outcome.exit_code, outcome.output]))

    with forked(as_nobody) as child:
        code, output = json.loads(child.receive())
    assert code == 1 and output.startswith("numamove: error: ") and output.count("\n") == 1
    assert "cannot read the memory of pid 1" in output


def test_map_png_shows_every_node(layout: Layout, tmp_path: Path,
                                  workload: tuple[ForkedChild, dict[str, list[int]]]) -> None:
    from PIL import Image

    from numamove.render import NODE_COLORS

    child, _ = workload
    picture = tmp_path / "map.png"
    result = CliRunner().invoke(main, ["map", str(child.pid), "-o", str(picture)])
    assert result.exit_code == 0, result.output
    with Image.open(picture) as image:
        pixels = np.asarray(image.convert("RGB"))
    assert pixels.shape[1] >= 800 and pixels.shape[0] >= 200
    rgb = pixels.reshape(-1, 3).astype(np.int64)
    colors = set(np.unique(rgb[:, 0] << 16 | rgb[:, 1] << 8 | rgb[:, 2]).tolist())
    for node in layout.all_memory:
        assert int(NODE_COLORS[node][1:], 16) in colors, f"no pixel of node {node}'s color"
    text = CliRunner().invoke(main, ["map", str(child.pid), "--vma", "hugetlb"])
    assert text.exit_code == 0 and "1" * 20 in text.output


CLONE_NEWUSER = 0x10000000
PR_SET_DUMPABLE = 4


@pytest.mark.parametrize("drop", ["user namespace", "user nobody"])
def test_without_pfns_the_scan_queries_instead(layout: Layout, drop: str) -> None:
    """pagemap hides PFNs from a reader without CAP_SYS_ADMIN in the initial user namespace.

    A container's root has every capability in its own namespace (CapEff says so),
    so the scan must ask pagemap, not /proc/self/status, whether it sees PFNs.
    """
    def body(channel: Channel) -> None:
        region = Region(16, fill=False)
        numamove.mbind(region.base, 16 * PAGE_SIZE, numamove.Mode.BIND, [layout.cpu_nodes[1]])
        region.fill()
        libc = ctypes.CDLL(None, use_errno=True)
        if drop == "user namespace":
            if libc.unshare(CLONE_NEWUSER) != 0:
                raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWUSER)")
        else:
            os.setgid(65534)
            os.setuid(65534)
        # A change of credentials makes a process undumpable, which puts its /proc files out of
        # its own reach; a process started that way (a container's, a daemon's) is dumpable.
        if libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE)")
        cap_eff = int(numamove.Kernel().process_status(0)["CapEff"], 16)
        scan = scan_process(os.getpid(), pages=True, ranges=[(region.base, region.base + 16 * PAGE_SIZE)])
        try:
            scan_process(os.getpid(), pages=True, method="pagemap")
            refused = ""
        except numamove.NotPermittedError as error:
            refused = str(error)
        channel.send(json.dumps({"cap_eff": cap_eff, "method": scan.method,
                                 "pages_by_node": scan.pages_by_node, "refused": refused}))

    with forked(body) as child:
        report = json.loads(child.receive())
    if drop == "user namespace":
        assert report["cap_eff"] >> 21 & 1, "root in its own user namespace has CAP_SYS_ADMIN there"
    assert report["method"] == "query"
    assert report["pages_by_node"] == {str(layout.cpu_nodes[1]): 16}
    assert "CAP_SYS_ADMIN" in report["refused"]


def test_a_huge_reservation_is_refused_for_the_per_page_view_and_can_be_narrowed(layout: Layout) -> None:
    """A JVM heap or AddressSanitizer's shadow: terabytes reserved, never touched."""
    reserved = 1 << 40  # 1 TiB, PROT_NONE: per-page arrays for it would need 12 GiB

    def body(channel: Channel) -> None:
        reservation = raw_mmap(reserved, prot=0,  # PROT_NONE
                               flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | MAP_NORESERVE)
        region = Region(8)
        channel.send(json.dumps([reservation, region.base]))
        channel.receive()

    with forked(body) as child:
        reservation, base = json.loads(child.receive())
        refused = CliRunner().invoke(main, ["where", str(child.pid), "--pages"])
        assert refused.exit_code == 1 and refused.output.count("\n") == 1, refused.output
        assert refused.output.startswith(f"numamove: error: the per-page view of pid {child.pid} covers")
        assert f"{reservation:#x}-{reservation + reserved:#x}" in refused.output
        assert "narrow it with --range or --vma" in refused.output
        per_vma = where(str(child.pid))  # the per-VMA view costs nothing per page
        assert any(vma["start"] == reservation and vma["end"] == reservation + reserved
                   for vma in per_vma["vmas"])
        narrowed = where(str(child.pid), "--pages", "--range", f"{base:#x}-{base + 8 * PAGE_SIZE:#x}")
        assert sum(narrowed["pages_by_node"].values()) == 8
