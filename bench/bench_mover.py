"""How the mover (numamove.move.engine.move_units) and `numamove migrate` compare with C and numactl.

1. The mover against C (bench/move_batches_c.c) calling move_pages(2) with the
   same batch sizes, moving 4 KiB pages between two nodes and back.
2. `numamove migrate` (the library's migrate_pages, the CLI, the CLI with
   --chunked) against numactl's `migratepages` on one child process.

A benchmark, not a test: it prints timings and a verdict, and exits non-zero
only when a step fails, a status is wrong, a page is not on its target or
contents changed. Run it as root on a machine with two nodes with memory, e.g.
in the test VM, from the project root:

    PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 .venv/bin/python vmtest/run.py --append numa_balancing=disable \\
        -- $PWD/.venv/bin/python bench/bench_mover.py [--pages 16384] [--rounds 5] [--mib 64]

See bench/README.md.
"""

from __future__ import annotations

import argparse
import mmap
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import numpy.typing as npt
from bench_move_pages import (  # this folder: the scripts run from it
    BenchError,
    add_cpu_option,
    pin_to_cpu,
    run_c,
)

import numamove
from numamove.move.engine import move_units
from numamove.policy.choosers import one_node
from numamove.policy.units import Units

C_SOURCE = Path(__file__).resolve().parent / "move_batches_c.c"
PAGE = mmap.PAGESIZE
MOVER_TARGET = 0.90
LARGE_BUDGET = 10.0  # seconds: the batches then grow 4x per call (32, 128, ...), as the C side is told
DEFAULT_BUDGET = 0.020  # the CLI's --budget default, shown for information


def compile_c(directory: Path) -> Path:
    binary = directory / "move_batches_c"
    subprocess.run(["gcc", "-O2", "-Wall", "-Wextra", "-o", str(binary), str(C_SOURCE)], check=True)
    return binary


def other_vms() -> list[str]:
    """Other QEMU guests or benchmarks running now: they share the host's CPUs."""
    run = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True, check=False)
    me = str(os.getpid())
    return [line.strip()[:120] for line in run.stdout.splitlines()[1:]
            if ("qemu-system" in line or "bench_m" in line) and line.split()[0] != me]


# --- 1. the mover against C --------------------------------------------------------------------


@contextmanager
def written_pages(count: int) -> Iterator[tuple[mmap.mmap, npt.NDArray[np.uint64]]]:
    """``count`` written 4 KiB pages (MADV_NOHUGEPAGE) of random bytes and their addresses."""
    buffer = mmap.mmap(-1, count * PAGE, flags=mmap.MAP_PRIVATE)
    try:
        buffer.madvise(mmap.MADV_NOHUGEPAGE)
        buffer[:] = np.random.default_rng(0).bytes(len(buffer))
        view = np.frombuffer(buffer, dtype=np.uint8)
        base = view.ctypes.data
        del view  # a live view would keep close() from unmapping
        yield buffer, base + PAGE * np.arange(count, dtype=np.uint64)
    finally:
        buffer.close()


def mover_pass(addresses: npt.NDArray[np.uint64], node: int, budget: float,
               sizes: list[int] | None = None) -> float:
    """Seconds for move_units to put every page on ``node``; the query building its input is untimed.

    ``sizes``, when given, receives the size of each call (from the progress callback).
    """
    current = numamove.move_pages(0, addresses)
    units = Units(addresses, np.ones(len(addresses), dtype=np.int64), current)
    done = [0]

    def record(pages_done: int, total: int) -> None:
        if sizes is not None and pages_done > done[0]:  # the mover reports (0, total) before its first call
            sizes.append(pages_done - done[0])
        done[0] = pages_done

    start = time.perf_counter()
    result = move_units(0, units, one_node(node), budget=budget,
                         progress=record if sizes is not None else None)
    seconds = time.perf_counter() - start
    if result.statuses != {node: len(addresses)} or result.stopped:
        raise BenchError(f"mover: statuses {result.statuses} moving {len(addresses)} pages to node {node}"
                         f"{', stopped: ' + result.stopped if result.stopped else ''}")
    after = numamove.move_pages(0, addresses)
    if (after != node).any():
        raise BenchError(f"mover: {int((after != node).sum())} pages are not on node {node} after the move")
    return seconds


def mover_block(buffer: mmap.mmap, addresses: npt.NDArray[np.uint64], rounds: int, node_a: int,
                node_b: int, budget: float) -> list[float]:
    before = zlib.crc32(buffer)
    seconds: list[float] = []
    for _ in range(rounds):
        seconds += [mover_pass(addresses, node_b, budget), mover_pass(addresses, node_a, budget)]
    if zlib.crc32(buffer) != before:
        raise BenchError("mover: the buffer's contents changed across the moves")
    return seconds


def bench_mover(binary: Path, pages: int, rounds: int, node_a: int, node_b: int) -> tuple[float, float]:
    """Medians (C, mover) of seconds per pass; prints the table."""
    with written_pages(pages) as (buffer, addresses):
        numamove.move_pages(0, addresses, node_a)  # start on node_a, as the C side does
        sizes: list[int] = []
        mover_pass(addresses, node_b, LARGE_BUDGET, sizes)  # warm-up, and the batch sizes the mover used
        mover_pass(addresses, node_a, LARGE_BUDGET)
        run_c(binary, "move", pages, 1, node_a, node_b, *sizes)  # warm-up
        c_seconds: list[float] = []
        mover_seconds: list[float] = []
        # Alternate C and mover blocks, so drift on the machine hits both alike.
        for _ in range(rounds):
            c_seconds += run_c(binary, "move", pages, 1, node_a, node_b, *sizes)
            mover_seconds += mover_block(buffer, addresses, 1, node_a, node_b, LARGE_BUDGET)
        small_sizes: list[int] = []
        mover_pass(addresses, node_b, DEFAULT_BUDGET, small_sizes)
        mover_pass(addresses, node_a, DEFAULT_BUDGET)
        small_seconds = mover_block(buffer, addresses, rounds, node_a, node_b, DEFAULT_BUDGET)
    c_median, mover_median = statistics.median(c_seconds), statistics.median(mover_seconds)
    small_median = statistics.median(small_seconds)
    print(f"1. mover vs C: {pages} pages (4 KiB, written) between nodes {node_a} and {node_b}, both ways, "
          f"{rounds} rounds after a warm-up, {len(c_seconds)} passes each")
    print(f"   batch sizes (budget {LARGE_BUDGET:g} s, given to C too): {', '.join(map(str, sizes))}")
    print(f"   {'side':<28}{'calls':>6}{'median s':>12}{'pages/s':>14}")
    print(f"   {'C (move_batches_c)':<28}{len(sizes):>6}{c_median:>12.6f}{pages / c_median:>14,.0f}")
    print(f"   {'mover, budget 10 s':<28}{len(sizes):>6}{mover_median:>12.6f}{pages / mover_median:>14,.0f}")
    print(f"   {'mover, budget 20 ms (info)':<28}{len(small_sizes):>6}{small_median:>12.6f}"
          f"{pages / small_median:>14,.0f}")
    print(f"   budget 20 ms batch sizes: {', '.join(map(str, small_sizes))}\n", flush=True)
    return c_median, mover_median


# --- 2. numamove migrate against migratepages ----------------------------------------------------


class Held:
    """A child holding ``mib`` MiB of written pages; it checks their contents when asked."""

    def __init__(self, binary: Path, mib: int) -> None:
        self.process = subprocess.Popen([str(binary), "hold", str(mib)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        fields = self.process.stdout.readline().split()  # "ready ADDRESS NPAGES"
        if fields[:1] != ["ready"]:
            self.close()
            raise BenchError(f"the holding child did not start: {fields}")
        self.pid = self.process.pid
        self.addresses = int(fields[1]) + PAGE * np.arange(int(fields[2]), dtype=np.uint64)

    def check(self) -> None:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("check\n")
        self.process.stdin.flush()
        fields = self.process.stdout.readline().split()
        if fields != ["check", "0"]:
            raise BenchError(f"the child's contents changed: {fields}")

    def expect_on(self, node: int, what: str) -> None:
        status = numamove.move_pages(self.pid, self.addresses)
        wrong = status != node
        if wrong.any():
            first = numamove.describe_status(int(status[wrong.argmax()]))
            raise BenchError(f"{what}: {int(wrong.sum())} of {len(status)} pages are not on node {node}, "
                             f"e.g. {first}")

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=60)


def wall(command: list[str]) -> float:
    start = time.perf_counter()
    run = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if run.returncode != 0:
        raise BenchError(f"{' '.join(command)} exited {run.returncode}: {run.stderr.strip()}")
    return seconds


def library_migrate(pid: int, source: int, target: int) -> float:
    start = time.perf_counter()
    not_moved = numamove.migrate_pages(pid, str(source), str(target))
    seconds = time.perf_counter() - start
    if not_moved:
        raise BenchError(f"numamove.migrate_pages: {not_moved} pages not moved")
    return seconds


def bench_migrate(binary: Path, mib: int, rounds: int, node_a: int, node_b: int) -> dict[str, float]:
    """Median wall seconds of each way to migrate the child; prints the table."""
    migratepages = shutil.which("migratepages")
    if migratepages is None:
        raise BenchError("numactl's migratepages is not installed")
    cli = [sys.executable, "-m", "numamove", "migrate"]
    methods: dict[str, Callable[[int, int, int], float]] = {
        "migratepages": lambda pid, s, t: wall([migratepages, str(pid), str(s), str(t)]),
        "numamove.migrate_pages": library_migrate,
        "numamove migrate (CLI)": lambda pid, s, t: wall([*cli, str(pid), str(s), str(t)]),
        "numamove migrate --chunked": lambda pid, s, t: wall([*cli, "--chunked", str(pid), str(s), str(t)]),
    }
    names = list(methods)
    seconds: dict[str, list[float]] = {name: [] for name in names}
    held = Held(binary, mib)
    try:
        numamove.move_pages(held.pid, held.addresses, node_a)  # start on node_a
        held.expect_on(node_a, "setup")
        here, there = node_a, node_b
        # Round r starts at method r mod 4: each method moves in both directions across rounds.
        for round_index in range(rounds + 1):  # round 0 is a warm-up, discarded
            for name in names[round_index % len(names):] + names[:round_index % len(names)]:
                took = methods[name](held.pid, here, there)
                held.expect_on(there, name)
                if round_index:
                    seconds[name].append(took)
                here, there = there, here
            held.check()
        startup = statistics.median(wall([*cli, "--help"]) for _ in range(3))
    finally:
        held.close()
    medians = {name: statistics.median(values) for name, values in seconds.items()}
    megabytes = len(held.addresses) * PAGE / 1e6
    print(f"2. migrate a child holding {mib} MiB ({len(held.addresses)} pages) between nodes {node_a} and "
          f"{node_b}, {rounds} rounds after a warm-up, directions alternating, all pages checked each time")
    print(f"   {'way':<30}{'median s':>10}{'MB/s':>10}")
    for name in names:
        print(f"   {name:<30}{medians[name]:>10.4f}{megabytes / medians[name]:>10.1f}")
    print(f"   python start-up (numamove migrate --help): {startup:.3f} s, paid by each CLI run\n",
          flush=True)
    return medians


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--pages", type=int, default=1 << 14, help="section 1: 4 KiB pages moved (16384)")
    parser.add_argument("--mib", type=int, default=64, help="section 2: MiB the child holds (64)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds after the warm-up (5)")
    parser.add_argument("--from", dest="node_a", type=int, default=0, help="first node (0)")
    parser.add_argument("--to", dest="node_b", type=int, default=1, help="second node (1)")
    add_cpu_option(parser)
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.pages < 1 or args.mib < 1:
        parser.error("--rounds, --pages and --mib must be positive")
    pin_to_cpu(parser, args.cpu)

    print(f"kernel {os.uname().release}, numamove {numamove.__version__}, numpy {np.__version__}, "
          f"python {sys.version.split()[0]}, on CPU {args.cpu} of {os.cpu_count()}", flush=True)
    print(f"running alongside: {other_vms() or 'nothing'}\n", flush=True)
    try:
        with_memory = sorted(node.id for node in numamove.nodes() if node.has_memory)
        if args.node_a == args.node_b or not {args.node_a, args.node_b} <= set(with_memory):
            raise BenchError(f"needs two different nodes with memory, not {args.node_a} and {args.node_b} "
                             f"(nodes with memory here: {with_memory})")
        with tempfile.TemporaryDirectory(prefix="bench-mover-") as directory:
            binary = compile_c(Path(directory))
            c_median, mover_median = bench_mover(binary, args.pages, args.rounds, args.node_a, args.node_b)
            medians = bench_migrate(binary, args.mib, args.rounds, args.node_a, args.node_b)
    except (BenchError, numamove.NumaMoveError, subprocess.CalledProcessError, OSError) as error:
        print(f"FAILED: {error}", file=sys.stderr)
        return 1

    ratio = c_median / mover_median
    print("verdict")
    print(f"   mover/C pages/s: {ratio:.3f} (target >= {MOVER_TARGET:.2f}: "
          f"{'met' if ratio >= MOVER_TARGET else 'NOT met'})")
    base = medians["migratepages"]
    for name in ("numamove.migrate_pages", "numamove migrate (CLI)", "numamove migrate --chunked"):
        verdict = "met" if medians[name] <= base else "NOT met"
        print(f"   {name} / migratepages time: {medians[name] / base:.2f} (target <= 1: {verdict})")
    print("   (the CLI runs pay python's start-up, shown above; migratepages is a small C program)")
    print(f"running alongside at the end: {other_vms() or 'nothing'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
