"""How close numamove.move_pages comes to C calling move_pages(2) directly.

A benchmark, not a test: it prints timings and a verdict, and exits non-zero
only when a call fails or a page's status is wrong. See bench/README.md.
"""

from __future__ import annotations

import argparse
import mmap
import os
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

import numamove

C_SOURCE = Path(__file__).resolve().parent / "move_pages_c.c"
PAGE = mmap.PAGESIZE
QUERY_PAGES = 1 << 20  # 4 GiB of 4 KiB pages: 16 calls of numamove.BATCH_PAGES
MOVE_PAGES = 1 << 14  # 64 MiB: fits the test VM's 1 GiB nodes
QUERY_TARGET = 0.95
MOVE_TARGET = 0.90

Block = Callable[[], list[float]]


class BenchError(Exception):
    """A call failed or a status is wrong: the timings would mean nothing."""


def compile_c(directory: Path) -> Path:
    binary = directory / "move_pages_c"
    subprocess.run(["gcc", "-O2", "-Wall", "-Wextra", "-o", str(binary), str(C_SOURCE)], check=True)
    return binary


def add_cpu_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cpu", type=int, default=min(os.sched_getaffinity(0)),
                        help="the CPU this script and its C side run on (default: the first allowed)")


def pin_to_cpu(parser: argparse.ArgumentParser, cpu: int) -> None:
    """Run this process, and the C programs it starts, on ``cpu`` alone.

    The CPUs of a VM run at different speeds from moment to moment (the host
    shares them), and a side left on the faster one wins by up to half.
    """
    allowed = os.sched_getaffinity(0)
    if cpu not in allowed:
        parser.error(f"--cpu {cpu} is not among the CPUs allowed: {sorted(allowed)}")
    os.sched_setaffinity(0, {cpu})


def run_c(binary: Path, *args: object) -> list[float]:
    """The seconds of each timed pass a C side reports ("seconds S mismatches M" lines)."""
    run = subprocess.run([str(binary), *map(str, args)], capture_output=True, text=True, check=False)
    seconds: list[float] = []
    wrong = 0
    for line in run.stdout.splitlines():
        fields = line.split()  # "seconds S mismatches M"
        if fields[:1] == ["seconds"]:
            seconds.append(float(fields[1]))
            wrong += int(fields[3])
    if run.returncode != 0 or wrong:
        raise BenchError(f"C side exited {run.returncode} with {wrong} wrong statuses: {run.stderr.strip()}")
    return seconds


@contextmanager
def touched_pages(count: int) -> Iterator[tuple[mmap.mmap, npt.NDArray[np.uint64]]]:
    """An anonymous private mapping of ``count`` written pages, and their addresses; unmapped on exit."""
    buffer = mmap.mmap(-1, count * PAGE, flags=mmap.MAP_PRIVATE)
    try:
        # 4 KiB pages, as on the C side: moving a transparent huge page moves 512
        # addresses at once, and its next subpage then reports -EBUSY.
        buffer.madvise(mmap.MADV_NOHUGEPAGE)
        view = np.frombuffer(buffer, dtype=np.uint8)
        view[::PAGE] = 1  # a page never written has no node yet
        base = view.ctypes.data
        del view  # a live view of the mapping would keep close() from unmapping it
        yield buffer, base + PAGE * np.arange(count, dtype=np.uint64)
    finally:
        buffer.close()


def timed_pass(addresses: npt.NDArray[np.uint64], node: int | None) -> float:
    """Seconds for one numamove.move_pages over all pages: a query when ``node`` is None."""
    start = time.perf_counter()
    status = numamove.move_pages(0, addresses, node)
    seconds = time.perf_counter() - start
    wrong = status < 0 if node is None else status != node
    if wrong.any():
        first = int(status[wrong.argmax()])
        raise BenchError(f"python side: {int(wrong.sum())} of {len(status)} pages have a wrong status, "
                         f"e.g. {numamove.describe_status(first)}")
    return seconds


def python_query(reps: int) -> list[float]:
    with touched_pages(QUERY_PAGES) as (_, addresses):
        return [timed_pass(addresses, None) for _ in range(reps)]


def python_move(reps: int, node_a: int, node_b: int) -> list[float]:
    with touched_pages(MOVE_PAGES) as (buffer, addresses):
        buffer[:] = np.random.default_rng(0).bytes(len(buffer))  # a lost or swapped page changes the crc
        before = zlib.crc32(buffer)
        numamove.move_pages(0, addresses, node_a)  # start on node_a untimed, as the C side does
        seconds: list[float] = []
        for _ in range(reps):
            seconds += [timed_pass(addresses, node_b), timed_pass(addresses, node_a)]
        if zlib.crc32(buffer) != before:
            raise BenchError("python side: the buffer's contents changed across the moves")
    return seconds


def compare(title: str, pages: int, rounds: int, c_block: Block, python_block: Block, target: float) -> None:
    """Alternate C and Python blocks, so drift on the machine hits both sides alike; print medians."""
    # A warm-up round, discarded: first runs pay for cold caches (and, in a TCG guest, code translation).
    c_block()
    python_block()
    c_seconds: list[float] = []
    python_seconds: list[float] = []
    for _ in range(rounds):
        c_seconds += c_block()
        python_seconds += python_block()
    c_median = statistics.median(c_seconds)
    python_median = statistics.median(python_seconds)
    ratio = c_median / python_median  # pages/s of python over pages/s of C
    print(f"{title}: {pages} pages per pass, {rounds} rounds after a warm-up round, "
          f"{len(c_seconds)} C and {len(python_seconds)} python passes")
    print(f"{'side':<8}{'pages':>10}{'median s':>12}{'pages/s':>14}")
    for side, median in (("C", c_median), ("python", python_median)):
        print(f"{side:<8}{pages:>10}{median:>12.6f}{pages / median:>14,.0f}")
    verdict = "met" if ratio >= target else "NOT met"
    print(f"ratio python/C (pages/s): {ratio:.3f}  (target >= {target:.2f}: {verdict})\n", flush=True)


def bench_query(binary: Path, rounds: int, reps: int) -> None:
    # Each side frees its 4 GiB before the other maps its own: one such buffer at a time.
    compare(f"query ({numamove.BATCH_PAGES} pages per call)", QUERY_PAGES, rounds,
            lambda: run_c(binary, "query", QUERY_PAGES, reps, numamove.BATCH_PAGES),
            lambda: python_query(reps), QUERY_TARGET)


def bench_move(binary: Path, rounds: int, reps: int, node_a: int, node_b: int) -> None:
    with_memory = sorted(node.id for node in numamove.nodes() if node.has_memory)
    if node_a == node_b or not {node_a, node_b} <= set(with_memory):
        raise BenchError(f"move mode needs two different nodes with memory, not {node_a} and {node_b} "
                         f"(nodes with memory here: {with_memory})")
    compare(f"move between nodes {node_a} and {node_b}, both directions", MOVE_PAGES, rounds,
            lambda: run_c(binary, "move", MOVE_PAGES, reps, node_a, node_b),
            lambda: python_move(reps, node_a, node_b), MOVE_TARGET)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--mode", choices=("query", "move", "all"), default="query")
    parser.add_argument("--rounds", type=int, default=3, help="C/python block pairs (default 3)")
    parser.add_argument("--reps", type=int, default=5, help="timed passes per block (default 5)")
    parser.add_argument("--from", dest="node_a", type=int, default=0, help="move mode: first node (0)")
    parser.add_argument("--to", dest="node_b", type=int, default=1, help="move mode: second node (1)")
    add_cpu_option(parser)
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.reps < 1:
        parser.error("--rounds and --reps must be at least 1")
    pin_to_cpu(parser, args.cpu)

    print(f"kernel {os.uname().release}, numamove {numamove.__version__}, numpy {np.__version__}, "
          f"python {sys.version.split()[0]}, page {PAGE} bytes, on CPU {args.cpu}\n", flush=True)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-move-pages-") as directory:
            binary = compile_c(Path(directory))
            if args.mode in ("query", "all"):
                bench_query(binary, args.rounds, args.reps)
            if args.mode in ("move", "all"):
                bench_move(binary, args.rounds, args.reps, args.node_a, args.node_b)
    except (BenchError, numamove.NumaMoveError, subprocess.CalledProcessError) as error:
        print(f"FAILED: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
