"""How long one interval of numamove's soft-dirty tracker takes, against C doing the same.

Run from the project root, as root or as the target's user, on a kernel with CONFIG_MEM_SOFT_DIRTY:

    .venv/bin/python bench/bench_softdirty.py [--mib 1024] [--pattern all|half] [--rounds N] [--reps N]

A benchmark, not a test: it prints timings and a verdict, and exits non-zero only when something
fails or C and numamove disagree on the pages written. See bench/README.md.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench_move_pages import add_cpu_option, pin_to_cpu  # this folder: the scripts run from it
from bench_where import BenchError, child, note_disturbers_at_the_end, paired_ratio, print_setting

import numamove
from numamove.kernel import Kernel
from numamove.trackers import Region
from numamove.trackers.softdirty import SoftDirtyTracker
from numamove.units import PAGE_SIZE

BENCH = Path(__file__).resolve().parent
C_SOURCE = BENCH / "softdirty_c.c"
BUILD = BENCH / "build"
TARGET = 1.1  # python / C
PATTERNS = ("all", "half")


def compile_c() -> Path:
    BUILD.mkdir(exist_ok=True)
    binary = BUILD / "softdirty_c"
    subprocess.run(["gcc", "-O2", "-Wall", "-Wextra", "-o", str(binary), str(C_SOURCE)], check=True)
    return binary


def ask(process: subprocess.Popen[str], line: str) -> str:
    """Send ``line`` to a child and return its answer."""
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(line + "\n")
    process.stdin.flush()
    answer = process.stdout.readline()
    if not answer:
        raise BenchError(f"{process.args!r} exited {process.wait()} when asked {line!r}")
    return answer.strip()


def intervals(binary: Path, target: subprocess.Popen[str], pattern: str, rounds: int, reps: int,
              ) -> tuple[list[float], list[float], set[tuple[int, int]]]:
    """C and python seconds per interval, one of each in turn, the target writing ``pattern`` before each.

    Returns both sides' times and the (written pages, runs) each interval saw.
    """
    kernel = Kernel()
    tracker = SoftDirtyTracker(kernel, [target.pid], {})
    seen: set[tuple[int, int]] = set()
    c_times: list[float] = []
    python_times: list[float] = []
    with subprocess.Popen([str(binary), "serve", str(target.pid)], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True) as server:

        def c_interval() -> float:
            _, seconds, pages, runs = ask(server, "interval").split()
            seen.add((int(pages), int(runs)))
            return float(seconds)

        def python_interval() -> float:
            start = time.perf_counter()
            regions: list[Region] = list(tracker.sample())
            seconds = time.perf_counter() - start
            seen.add((sum(r.size for r in regions) // PAGE_SIZE, len(regions)))
            return seconds

        tracker.start()
        for side in (c_interval, python_interval):  # warm-up, discarded
            ask(target, pattern)
            side()
        seen.clear()
        for _ in range(rounds * reps):
            ask(target, pattern)
            c_times.append(c_interval())
            ask(target, pattern)
            python_times.append(python_interval())
        tracker.stop()
        assert server.stdin is not None
        server.stdin.close()
        if server.wait():
            raise BenchError(f"softdirty_c serve exited {server.returncode}")
    return c_times, python_times, seen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--mib", type=int, default=1024, help="the target's anonymous memory (default 1024)")
    parser.add_argument("--pattern", choices=(*PATTERNS, "both"), default="both",
                        help="what the target writes before each interval: every page (all), the first "
                             "1 MiB of every 2 MiB (half), or each in turn (both, the default)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds (default 5)")
    parser.add_argument("--reps", type=int, default=5, help="timed intervals per side and round (default 5)")
    parser.add_argument("--force", action="store_true",
                        help="run where the kernel sets no soft-dirty bits too: the same reads and clears "
                             "with nothing ever written, for timing the fixed cost only")
    add_cpu_option(parser)
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.reps < 1 or args.mib < 1:
        parser.error("--mib, --rounds and --reps must be at least 1")
    pin_to_cpu(parser, args.cpu)
    print_setting(args.cpu)
    why = SoftDirtyTracker.unavailable(Kernel())
    if why is not None and not args.force:
        print(f"FAILED: the soft-dirty tracker cannot run here: {why}", file=sys.stderr)
        return 1
    if why is not None:
        print(f"--force: {why}; every interval finds nothing written", flush=True)

    rows: list[tuple[str, float, int, str]] = []
    verdicts: list[tuple[str, bool]] = []
    try:
        binary = compile_c()
        with child(str(binary), "hold", str(args.mib)) as target:
            assert target.stdout is not None
            if target.stdout.readline().strip() != "ready":
                raise BenchError(f"the target did not start (exit status {target.poll()})")
            print(f"target pid {target.pid}: {args.mib} MiB anonymous in 4 KiB pages, every page written",
                  flush=True)
            for pattern in PATTERNS if args.pattern == "both" else (args.pattern,):
                c_times, python_times, seen = intervals(binary, target, pattern, args.rounds, args.reps)
                if len(seen) != 1:
                    raise BenchError(f"{pattern}: C and python (or intervals) disagree on (written pages, "
                                     f"runs): {sorted(seen)}")
                (pages, runs), = seen
                c_median, python_median = statistics.median(c_times), statistics.median(python_times)
                ratio = paired_ratio(c_times, python_times)
                rows += [(f"{pattern}: C softdirty_c serve", c_median, len(c_times),
                          f"{pages} pages written in {runs} runs, as python saw"),
                         (f"{pattern}: python SoftDirtyTracker.sample()", python_median, len(python_times),
                          f"{ratio:.2f}x C (medians: {python_median / c_median:.2f}x)")]
                verdicts.append((f"{pattern}: python interval takes {ratio:.2f}x the time of C",
                                 ratio <= TARGET))
    except (BenchError, numamove.NumaMoveError, subprocess.CalledProcessError, OSError) as error:
        print(f"FAILED: {error}", file=sys.stderr)
        return 1

    print(f"\n{'one interval (read maps + pagemap, count, clear)':<52}{'median ms':>11}{'runs':>6}  note")
    for label, median_s, count, note in rows:
        print(f"{label:<52}{median_s * 1e3:>11.3f}{count:>6}  {note}")
    print("\nratios")
    for what, met in verdicts:
        print(f"  {what:<56} target <= {TARGET:<5} {'PASS' if met else 'MISS'}")
    note_disturbers_at_the_end()
    return 0


if __name__ == "__main__":
    sys.exit(main())
