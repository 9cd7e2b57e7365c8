"""How a move or a migrate ends, on real pages: Ctrl-C, pages other processes map, a process
that exits, an unprivileged migrate, a node outside the cpuset, and what the calls took."""

from __future__ import annotations

import json
import mmap
import os
import re
import signal
import subprocess
import sys
import time
from typing import Any

import pytest

import numamove

from .conftest import PAGE_SIZE, Layout, Region, forked
from .test_mover import Target, as_nobody, cli, maps_shared_region, one_error_line, target

INTERRUPT_PAGES = 16384  # 64 MiB: about 13 s at 5 MB/s


def wait_until_some_moved(t: Target, node: int, deadline: float) -> None:
    """Poll the target's placement until a page of its region is on `node` (the move is under way)."""
    while not (t.where() == node).any():
        assert time.monotonic() < deadline, "the move did not start"
        time.sleep(0.05)


@pytest.mark.parametrize("form", ["move-json", "move-text", "migrate-chunked"])
def test_ctrl_c_stops_after_the_running_call_with_the_summary(layout: Layout, form: str) -> None:
    """SIGINT to `numamove move ... --rate 5` a moment into the move: it stops after the running call,
    prints what it did, and exits 130; the pages it says it moved are on the target node."""
    zero, one = layout.cpu_nodes
    with target(INTERRUPT_PAGES, zero) as t:
        arguments = {
            "move-json": ["move", str(t.pid), "--to", str(one), "--range", t.span(), "--rate", "5", "--json"],
            "move-text": ["move", str(t.pid), "--to", str(one), "--range", t.span(), "--rate", "5"],
            "migrate-chunked": ["migrate", str(t.pid), str(zero), str(one), "--chunked", "--rate", "5",
                                "--json"],
        }[form]
        process = subprocess.Popen([sys.executable, "-m", "numamove", *arguments], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        try:
            wait_until_some_moved(t, one, time.monotonic() + 60)
            time.sleep(1.0)
            process.send_signal(signal.SIGINT)
            started = time.monotonic()
            stdout, stderr = process.communicate(timeout=30)
            took = time.monotonic() - started
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        status = t.where()
        assert t.intact()
    on_one = int((status == one).sum())
    assert process.returncode == 130, (process.returncode, stdout, stderr)
    assert "Traceback" not in stderr and stderr == (
        "numamove: interrupted: stopped after the running call; the summary says what moved\n"), stderr
    # After the running call, not at the end of the move (10 s or more away at 5 MB/s): the summary
    # and the interpreter's exit took 2.5 s once in the emulated guest, so a busy host may take more.
    assert took < 6.0, took
    assert 0 < on_one < INTERRUPT_PAGES, on_one
    if form == "move-text":
        moved = re.search(rf"^pid {t.pid}: moved (\d+) pages ", stdout)
        assert moved and int(moved[1]) == on_one, stdout
        not_tried = f"  {INTERRUPT_PAGES - on_one} pages not tried: the move was interrupted first\n"
        assert not_tried in stdout, stdout
        assert stdout.endswith("  stopped: interrupted\n"), stdout
        return
    document: dict[str, Any] = json.loads(stdout)
    if form == "migrate-chunked":
        # The whole process moves: the region is part of it (and a few of its other pages may be busy).
        document = document["move"]
        assert document["pages_moved"] >= on_one, document
    else:
        assert document["pages_moved"] == on_one and document["failed"] == {}, document
        assert document["not_tried"] == INTERRUPT_PAGES - on_one, document
    assert document["stopped"] == "interrupted" and document["statuses"][str(one)] == document["pages_moved"]


def test_a_second_ctrl_c_stops_at_once_without_a_traceback(layout: Layout) -> None:
    zero, one = layout.cpu_nodes
    with target(INTERRUPT_PAGES, zero) as t:
        process = subprocess.Popen([sys.executable, "-m", "numamove", "move", str(t.pid), "--to", str(one),
                                    "--range", t.span(), "--rate", "0.5", "--json"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            wait_until_some_moved(t, one, time.monotonic() + 60)
            # 0.5 MB/s: the mover sleeps between calls; the first SIGINT ends that sleep within 0.1 s,
            # so send both at once.
            process.send_signal(signal.SIGINT)
            process.send_signal(signal.SIGINT)
            stdout, stderr = process.communicate(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        assert t.intact()
    assert process.returncode == 130 and "Traceback" not in stderr, (stdout, stderr)
    assert stderr.count("\n") == 1 and stderr.startswith("numamove: interrupted"), stderr


# --- pages other processes map ---------------------------------------------------------------------


def test_move_leaving_only_shared_pages_exits_3_and_all_moves_them(layout: Layout) -> None:
    """A MAP_SHARED region that a forked child maps too: the child's move skips it (exit 3), even when
    nothing else is in scope; --all as root moves it (exit 0)."""
    zero, one = layout.cpu_nodes
    r = Region(128, shared=True)
    try:
        numamove.move_pages(0, r.addresses, zero, numamove.MPOL_MF_MOVE_ALL)
        with forked(lambda channel: maps_shared_region(r, channel)) as child:
            child.receive()
            t = Target(child.pid, r.base, r.pages, r.digest, child)
            skipped = cli("move", str(t.pid), "--to", str(one), "--range", t.span(), "--json")
            document = json.loads(skipped.stdout)
            assert skipped.exit_code == 3, skipped.output
            assert (document["skipped_shared"], document["failed"], document["pages_moved"]) == (128, {}, 0)
            assert t.where().tolist() == [zero] * 128
            moved = cli("move", str(t.pid), "--to", str(one), "--range", t.span(), "--all", "--json")
            assert moved.exit_code == 0, moved.output
            assert json.loads(moved.stdout)["skipped_shared"] == 0
            assert t.where().tolist() == [one] * 128
            assert t.intact()
        assert r.intact()
    finally:
        r.close()


def test_shared_library_pages_are_skipped_not_failed(layout: Layout) -> None:
    """The target's libc (file pages every process maps): a whole-process move without --all skips them."""
    zero, one = layout.cpu_nodes
    with target(64, zero) as t:
        result = cli("move", str(t.pid), "--to", str(one), "--vma", r"libc\.so", "--json")
        document = json.loads(result.stdout)
        assert document["skipped_shared"] > 0 and document["failed"] == {}, document
        assert result.exit_code == 3, result.output
        assert t.intact()


# --- an unprivileged migrate -----------------------------------------------------------------------


def test_unprivileged_migrate_counts_what_stayed_and_why(layout: Layout) -> None:
    """As nobody, migrate_pages(2) moves the caller's own pages and skips those other processes map,
    without counting them as failures: the summary counts them from the scans."""
    zero, one = layout.cpu_nodes

    def migrate_own_process() -> dict[str, Any]:
        shared = Region(64, shared=True)
        numamove.move_pages(0, shared.addresses, zero)  # only this process maps it yet
        with forked(lambda channel: maps_shared_region(shared, channel)) as child:
            child.receive()
            # Made after the fork: the child does not share these pages.
            own = Region(256, fill=False)
            own.buffer.madvise(mmap.MADV_NOHUGEPAGE)
            numamove.mbind(own.base, 256 * PAGE_SIZE, numamove.Mode.BIND, [zero])
            own.fill()
            numamove.mbind(own.base, 256 * PAGE_SIZE, numamove.Mode.DEFAULT)
            result = cli("migrate", str(os.getpid()), str(zero), str(one), "--json")
            text = cli("migrate", str(os.getpid()), str(zero), str(one))
        return {"code": result.exit_code, "stdout": result.stdout, "stderr": result.stderr,
                "text": text.stdout, "text_code": text.exit_code, "own": own.where().tolist(),
                "shared": shared.where().tolist(), "intact": own.intact() and shared.intact()}

    reported = as_nobody(migrate_own_process)
    assert reported["code"] == 3, reported
    document = json.loads(reported["stdout"])
    assert document["not_moved"] == 0, document
    assert document["stayed"] == document["after"][str(zero)] >= 64, document
    assert document["skipped_shared"] == document["stayed"], document
    assert reported["own"] == [one] * 256 and reported["shared"] == [zero] * 64 and reported["intact"]
    assert reported["text_code"] == 3, reported
    assert re.search(rf"(?m)^  \d+ pages stayed on node {zero}; 0 could not be moved$", reported["text"])
    assert re.search(r"(?m)^  \d+ of them are mapped by other processes too: the kernel moves those only "
                     r"with MPOL_MF_MOVE_ALL, which needs CAP_SYS_NICE \(run as root\)$", reported["text"]), (
        reported)


# --- migrate as a drop-in for migratepages ---------------------------------------------------------


def test_migrate_refuses_an_offline_from_node(layout: Layout) -> None:
    zero, one = layout.cpu_nodes
    with target(16, zero) as t:
        result = cli("migrate", str(t.pid), "7", str(one))
        # The guest's possible nodes are its online ones: node 7 cannot exist there at all.
        assert one_error_line(result) == (f"numamove: error: FROM: '7': node 7 does not exist (the highest "
                                          f"possible node is {max(layout.online)})\n")
        assert t.where().tolist() == [zero] * 16


def test_migrate_to_a_node_outside_the_cpuset_moves_with_a_warning(layout: Layout) -> None:
    cgroup = "/sys/fs/cgroup"
    with open(f"{cgroup}/cgroup.subtree_control", "w") as control:
        control.write("+cpuset")
    group = f"{cgroup}/numamove-migrate-{os.getpid()}"
    os.mkdir(group)
    zero, one = layout.cpu_nodes
    try:
        with open(f"{group}/cpuset.mems", "w") as mems:
            mems.write(str(zero))
        with target(64, zero) as t:
            with open(f"{group}/cgroup.procs", "w") as procs:
                procs.write(str(t.pid))
            # move_pages(2), which --chunked uses, refuses the node: refused before anything moves.
            chunked = cli("migrate", str(t.pid), str(zero), str(one), "--chunked")
            assert one_error_line(chunked) == (f"numamove: error: node {one} is outside the cpuset of pid "
                                               f"{t.pid} (Mems_allowed {zero})\n")
            assert t.where().tolist() == [zero] * 64
            result = cli("migrate", str(t.pid), str(zero), str(one), "--json")
            assert result.stderr == (f"numamove: warning: node {one} is outside the cpuset of pid {t.pid} "
                                     f"(Mems_allowed {zero}); migrate_pages(2) moves the pages there all the "
                                     "same\n"), result.output
            assert result.exit_code in (0, 3), result.output
            assert t.where().tolist() == [one] * 64
            assert t.intact()
            with open(f"{cgroup}/cgroup.procs", "w") as procs:
                procs.write(str(t.pid))
    finally:
        os.rmdir(group)


# --- the budget: what the calls took ---------------------------------------------------------------


@pytest.mark.parametrize("advice", [mmap.MADV_NOHUGEPAGE, mmap.MADV_HUGEPAGE], ids=["base", "thp"])
def test_summary_shows_the_call_time_distribution(layout: Layout, advice: int) -> None:
    zero, one = layout.cpu_nodes
    with target(INTERRUPT_PAGES, zero, advice) as t:
        result = cli("move", str(t.pid), "--to", str(one), "--range", t.span(), "--json")
        text = cli("move", str(t.pid), "--to", str(zero), "--range", t.span())
        assert t.intact()
    document = json.loads(result.stdout)
    calls = document["call_ms"]
    numbers = (f"{document['calls']} calls, median {calls['median_ms']:.1f} ms, "
               f"mean {calls['mean_ms']:.1f} ms, longest {calls['max_ms']:.1f} ms "
               f"against {document['budget_ms']:g} ms; "
               f"{document['pages_moved']} pages, {document['mb_per_second']:.1f} MB/s")
    print(f"budget, 64 MiB of {'thp' if advice == mmap.MADV_HUGEPAGE else 'base pages'}: {numbers}")
    assert result.exit_code == 0, result.output
    assert 0 < calls["median_ms"] <= calls["max_ms"] == document["longest_call_ms"], numbers
    # The budget sizes calls from what earlier ones cost; a busy host stretches the calls after the
    # sizing (20.5 ms against 20 was seen while other VMs ran), so the median may pass it a little.
    assert calls["median_ms"] <= 1.5 * document["budget_ms"], numbers
    longest = re.search(r"\d+ calls of median \d+\.\d ms, longest (\d+\.\d) ms\)", text.stdout)
    assert longest, text.output
    # Over twice the budget, the summary says what the budget does not bound.
    explained = "it does not bound the kernel's fixed work per call" in text.stdout
    assert explained == (float(longest[1]) > 2 * 20), text.output
