"""What a move reports and how it ends: stop between batches, shared pages, pages never tried,
call times, the pacing bounds, the exit status; with fake syscalls."""

from __future__ import annotations

import errno
import math

import numpy as np
import pytest
from click.testing import CliRunner

import numamove
from numamove import MPOL_MF_MOVE_ALL
from numamove.cli import main
from numamove.move.engine import CallCosts, move_units
from numamove.move.pipeline import move_exit_status
from numamove.move.result import CallTimes
from numamove.policy.choosers import one_node

from .conftest import FIXTURES
from .fakes import FakeSyscalls, place, units

ROOT = str(FIXTURES / "qemu-3node-hmat")



class SharingSyscalls(FakeSyscalls):
    """Pages in `shared` answer -EACCES unless the call has MPOL_MF_MOVE_ALL."""

    shared: set[int]

    def move_pages(self, pid: int, count: int, pages: int, nodes: int, status: int, flags: int) -> int:
        import ctypes

        result = super().move_pages(pid, count, pages, nodes, status, flags)
        if nodes and not flags & MPOL_MF_MOVE_ALL:
            addresses = np.ctypeslib.as_array((ctypes.c_uint64 * count).from_address(pages))
            out = np.ctypeslib.as_array((ctypes.c_int32 * count).from_address(status))
            refused = np.isin(addresses, np.array(sorted(self.shared), dtype=np.uint64))
            out[refused] = -errno.EACCES
        return result


# --- 1: asked to stop between batches -----------------------------------------------------------------


def test_stop_ends_the_move_after_the_running_call(kernel: numamove.Kernel, fake: FakeSyscalls) -> None:
    u = units([0] * 1000)
    place(fake, u)
    reports: list[tuple[int, int]] = []
    result = move_units(7, u, one_node(1), budget=0.001, progress=lambda d, t: reports.append((d, t)),
                        stop=lambda: len(reports) >= 2, kernel=kernel)
    assert result.stopped == "interrupted" and result.interrupted and result.calls == 1
    assert result.moved == {(0, 1): 32} and result.not_tried == 968 and result.statuses == {1: 32}
    assert not result.failed and result.to_dict()["stopped"] == "interrupted"


def test_stop_cuts_a_rate_pause_short(kernel: numamove.Kernel, fake: FakeSyscalls) -> None:
    import time

    u = units([0] * 100)
    place(fake, u)
    started = time.monotonic()
    # 10 kB/s: the first 32 pages alone would wait 13 s.
    result = move_units(7, u, one_node(1), rate=10_000, stop=lambda: time.monotonic() - started > 0.2,
                        kernel=kernel)
    assert time.monotonic() - started < 1.0
    assert result.interrupted and result.calls == 0 and result.not_tried == 100


# --- 2: pages other processes map ---------------------------------------------------------------------


def test_shared_pages_are_skipped_not_failed(kernel: numamove.Kernel) -> None:
    fake = SharingSyscalls()
    kernel = numamove.Kernel(FIXTURES / "qemu-3node-hmat", syscalls=fake)
    u = units([0] * 10)
    place(fake, u)
    fake.shared = {int(a) for a in u.addresses[:4]}
    result = move_units(7, u, one_node(1), kernel=kernel)
    assert result.skipped_shared == 4 and result.failed == {} and result.pages_moved == 6
    assert result.to_dict()["skipped_shared"] == 4 and result.to_dict()["failed"] == {}
    # With MPOL_MF_MOVE_ALL a refusal would be a failure; here they simply move.
    everything = move_units(7, units([0] * 4), one_node(2), flags=MPOL_MF_MOVE_ALL, kernel=kernel)
    assert everything.skipped_shared == 0 and everything.pages_moved == 4


@pytest.mark.parametrize(("interrupted", "failed", "shared_left", "status"), [
    (False, False, False, 0), (False, False, True, 3), (False, True, True, 1), (True, True, True, 130)])
def test_exit_status(interrupted: bool, failed: bool, shared_left: bool, status: int) -> None:
    assert move_exit_status(interrupted=interrupted, failed=failed, shared_left=shared_left) == status


# --- 5: call times ------------------------------------------------------------------------------------


def test_call_times_keep_median_and_maximum_in_constant_memory() -> None:
    times = CallTimes()
    size = times.counts.nbytes
    rng = np.random.default_rng(1)
    samples = rng.uniform(0.002, 0.030, 10_001)
    for seconds in samples.tolist():
        times.add(seconds)
    assert times.counts.nbytes == size and times.count == 10_001
    assert times.longest == samples.max()
    assert abs(times.median - float(np.median(samples))) <= 0.01 * float(np.median(samples))
    assert CallTimes().median == 0.0


def test_result_reports_call_times(kernel: numamove.Kernel, fake: FakeSyscalls) -> None:
    u = units([0] * 3000)
    place(fake, u)
    result = move_units(7, u, one_node(1), budget=0.001, kernel=kernel)
    calls = result.to_dict()["call_ms"]
    assert isinstance(calls, dict) and 0 < calls["median_ms"] <= calls["max_ms"]
    assert result.call_times.count == result.calls


def test_a_cheap_huge_page_does_not_size_base_pages_as_cheap() -> None:
    """A THP moves as one folio, far cheaper than its 512 base pages one by one: a cost per base page
    learnt from it would send hundreds of times too many base pages in the next call."""
    costs = CallCosts()
    costs.learn(0.002, 0, 4)  # 4 THPs (2048 base pages) in 2 ms
    costs.learn(0.002, 100, 0)  # 100 base pages in 2 ms: 20 us each
    sizes = np.ones(100_000, dtype=np.int64)
    cumulative, no_huge = np.cumsum(sizes), np.zeros(100_000, dtype=np.int64)
    assert costs.batch_size(cumulative, no_huge, 0, 0.020, 0, 0) == 1000  # 20 ms at 20 us, not THP's 1 us
    # After a call whose units were mostly refused (cheap), at most twice what landed.
    assert costs.batch_size(cumulative, no_huge, 0, 0.020, 500, 100) == 200
    assert costs.batch_size(cumulative, no_huge, 0, 0.020, 200, 200) == 800
    # One stalled call raises the estimate at most fourfold.
    costs.learn(0.5, 1, 0)
    assert costs.base == pytest.approx(4 * 20e-6)


# --- 3: the process exits -----------------------------------------------------------------------------


def test_pages_never_tried_are_not_called_not_present(kernel: numamove.Kernel, fake: FakeSyscalls) -> None:
    u = units([0] * 100)
    place(fake, u)
    fake.fail_with, fake.fail_on_call = errno.ESRCH, 1
    result = move_units(7, u, one_node(1), budget=0.001, kernel=kernel)
    assert result.not_tried == 68 and -errno.ENOENT not in result.statuses and result.not_present == 0
    assert result.to_dict()["not_tried"] == 68


# --- 6: bounds of budget and rate ---------------------------------------------------------------------


@pytest.mark.parametrize(("setting", "value"), [
    ("budget", math.nan), ("budget", math.inf), ("budget", 0.0), ("budget", 1e-9), ("budget", 11.0),
    ("rate", math.nan), ("rate", math.inf), ("rate", 1.0), ("rate", -5.0)])
def test_budget_and_rate_bounds_in_the_library(setting: str, value: float) -> None:
    with pytest.raises(numamove.InvalidInputError, match=rf"^{setting} must be a finite number"):
        move_units(7, units([0]), one_node(1), **{setting: value})  # type: ignore[arg-type]


def test_budget_of_the_wrong_type() -> None:
    with pytest.raises(numamove.InputTypeError, match="budget must be a number, not str"):
        move_units(7, units([0]), one_node(1), budget="20")  # type: ignore[arg-type]


@pytest.mark.parametrize(("arguments", "message"), [
    (["--budget", "nan"], "--budget must be a finite number of milliseconds from 1 to 10000, not nan"),
    (["--budget", "inf"], "--budget must be a finite number of milliseconds from 1 to 10000, not inf"),
    (["--budget", "0.5"], "--budget must be a finite number of milliseconds from 1 to 10000, not 0.5"),
    (["--rate", "nan"], "--rate must be a finite number of MB/s, at least 0.01 (two 4 KiB pages a second), "
                        "not nan"),
    (["--rate", "1e-6"], "--rate must be a finite number of MB/s, at least 0.01 (two 4 KiB pages a second), "
                         "not 1e-06"),
])
def test_budget_and_rate_bounds_in_the_cli(arguments: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["--root", ROOT, "move", "1", "--to", "0", *arguments])
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr == f"numamove: error: {message}\n"
    chunked = CliRunner().invoke(main, ["--root", ROOT, "migrate", "1", "0", "1", "--chunked", *arguments])
    assert chunked.stderr == f"numamove: error: {message}\n"


def test_help_states_the_bounds() -> None:
    text = " ".join(CliRunner().invoke(main, ["move", "--help"]).output.split())
    assert "(1 to 10000; default 20)" in text and "at least 0.01: two 4 KiB pages a second" in text
    assert "it does not bound a call" in text


# --- 7: migrate's options -----------------------------------------------------------------------------


@pytest.mark.parametrize("option", [["--rate", "5"], ["--budget", "20"]])
def test_migrate_refuses_pacing_without_chunked(option: list[str]) -> None:
    result = CliRunner().invoke(main, ["--root", ROOT, "migrate", "1", "0", "1", *option])
    assert result.exit_code == 1 and result.stderr == (
        "numamove: error: --rate and --budget pace a --chunked move; without --chunked, migrate_pages(2) "
        "moves everything in one call\n")


# --- 8: the progress bar ------------------------------------------------------------------------------


def test_progress_counts_bytes_with_the_total_from_the_start(kernel: numamove.Kernel,
                                                             fake: FakeSyscalls) -> None:
    from numamove.cli.output import progress_amount

    u = units([0] * 100 + [0], [1] * 100 + [512])
    place(fake, u)
    reports: list[tuple[int, int]] = []
    move_units(7, u, one_node(1), progress=lambda d, t: reports.append((d, t)), kernel=kernel)
    assert reports[0] == (0, 612) and reports[-1] == (612, 612)
    assert progress_amount(*reports[0]) == "0 B/2.4 MiB"
    assert progress_amount(3072, 16384) == "12.0 MiB/64.0 MiB"


def test_first_ctrl_c_asks_to_stop_the_second_aborts_and_the_handler_is_restored() -> None:
    import os
    import signal

    from numamove.cli.app import interruptible
    from numamove.signals import HardStop

    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(HardStop), interruptible() as stop:
        assert not stop()
        os.kill(os.getpid(), signal.SIGINT)
        assert stop()  # asked, not raised
        os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is before


@pytest.mark.parametrize(("pid", "error"), [
    ("1234", numamove.InputTypeError), (True, numamove.InputTypeError), (-1, numamove.InvalidInputError)])
def test_move_units_refuses_a_bad_pid_with_nothing_to_move(pid: object, error: type[Exception]) -> None:
    with pytest.raises(error, match="pid"):
        move_units(pid, units([]), one_node(0), kernel=numamove.Kernel(ROOT, FakeSyscalls()))  # type: ignore[arg-type]
