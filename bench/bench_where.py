"""How fast numamove's ``where`` scanning is, against the kernel's own cost and against C.

Run from the project root, as root (the pagemap method needs CAP_SYS_ADMIN for PFNs):

    .venv/bin/python bench/bench_where.py [--mib 1024] [--rounds N]

A benchmark, not a test: it prints timings and a verdict, and exits non-zero only when
something fails or C and numamove disagree on a page count. See bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from bench_move_pages import add_cpu_option, pin_to_cpu  # this folder: the scripts run from it

import numamove
from numamove.scan import scan_process

BENCH = Path(__file__).resolve().parent
C_SOURCE = BENCH / "where_c.c"
BUILD = BENCH / "build"
CLI = Path(sys.executable).parent / "numamove"
FILES = 8  # read-only file mappings in the target, so it has file VMAs as real processes do
PER_VMA_TARGET = 1.2  # scan_process(detail=False) / reading numa_maps
PER_PAGE_TARGET = 1.1  # python / C
STARTUP_TARGET = 0.3  # seconds

Counts = dict[int, int]


class BenchError(Exception):
    """A step failed or a count is wrong: the timings would mean nothing."""


def compile_c() -> Path:
    BUILD.mkdir(exist_ok=True)
    binary = BUILD / "where_c"
    subprocess.run(["gcc", "-O2", "-Wall", "-Wextra", "-o", str(binary), str(C_SOURCE)], check=True)
    return binary


def some_binaries(count: int) -> list[str]:
    """A few mid-sized files of /usr/bin, the same ones from run to run."""
    found = []
    for path in sorted(Path("/usr/bin").iterdir()):
        if path.is_file() and not path.is_symlink() and 64 << 10 <= path.stat().st_size <= 16 << 20:
            found.append(str(path))
        if len(found) == count:
            break
    return found


@contextmanager
def child(*args: str) -> Iterator[subprocess.Popen[str]]:
    """A child process, killed on the way out (where_c hold also ends if we die: its stdin closes)."""
    process = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        yield process
    finally:
        process.kill()
        process.wait()


def print_setting(cpu: int) -> None:
    """One line on what the figures below ran on: kernel, versions, CPU, and what else was running."""
    busy = disturbers()
    print(f"kernel {os.uname().release}, numamove {numamove.__version__}, python {sys.version.split()[0]}, "
          f"on CPU {cpu} of {os.cpu_count()}; {'; '.join(busy) or 'no other benchmark or VM running'}",
          flush=True)


def note_disturbers_at_the_end() -> None:
    """Say so when another benchmark or a VM is still running as the figures are printed."""
    busy = disturbers()
    if busy:
        print(f"note: running at the end too, timings disturbed: {'; '.join(busy)}")


def disturbers() -> list[str]:
    """Other benchmarks or a test VM running now: they share the CPUs, so the timings suffer."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            raw = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue  # not a process, or it exited
        command = raw.replace(b"\0", b" ").decode(errors="replace").strip()
        if "qemu-system-x86_64" in command or "bench_move_pages.py" in command:
            found.append(f"pid {entry}: {command[:70]}")
    return found


def seconds(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def interleaved(calls: Mapping[str, Callable[[], object]], runs: int) -> dict[str, list[float]]:
    """Each call once untimed (cold caches), then all in turn ``runs`` times, so drift hits all alike."""
    for call in calls.values():
        call()
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(runs):
        for name, call in calls.items():
            times[name].append(seconds(call))
    return times


def paired_ratio(baseline: list[float], measured: list[float]) -> float:
    """The median of measured/baseline over runs made back to back: a slow spell of the
    machine hits both halves of a pair, so it cancels in the ratio."""
    return statistics.median(m / b for b, m in zip(baseline, measured, strict=True))


def command(*args: str) -> Callable[[], None]:
    """A call that runs ``args`` with stdout to /dev/null, failing the benchmark if it fails."""
    def run() -> None:
        done = subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False)
        if done.returncode:
            raise BenchError(f"{' '.join(args)} exited {done.returncode}: {done.stderr.strip()}")
    return run


def read_numa_maps(pid: int) -> None:
    with open(f"/proc/{pid}/numa_maps", "rb") as file:
        file.read()


def parse_rep(line: str) -> tuple[float, Counts]:
    """One scan's seconds and per-node counts from the C program's "rep SECONDS NODE:PAGES ..."."""
    _, time_text, *pairs = line.split()
    return float(time_text), {int(node): int(pages) for node, pages in (pair.split(":") for pair in pairs)}


def per_page(binary: Path, pid: int, method: str, rounds: int, reps: int) -> tuple[list[float], list[float]]:
    """C and python seconds per scan, one of each in turn; every count must agree.

    Single scans alternate (C through ``where_c serve``), so a slow spell of the
    machine falls on both sides alike.
    """
    mode = "pagemap" if method == "pagemap" else "query"
    seen: list[Counts] = []
    c_times: list[float] = []
    python_times: list[float] = []
    with subprocess.Popen([str(binary), "serve", str(pid)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          text=True) as server:
        assert server.stdin is not None and server.stdout is not None

        def c_scan() -> float:
            assert server.stdin is not None and server.stdout is not None
            server.stdin.write(f"{mode}\n")
            server.stdin.flush()
            line = server.stdout.readline()
            if not line:
                raise BenchError(f"where_c serve exited {server.wait()} during a {mode} scan")
            seconds, counts = parse_rep(line)
            seen.append(counts)
            return seconds

        def python_scan() -> float:
            start = time.perf_counter()
            scan = scan_process(pid, pages=True, policies=False, detail=False, method=method,
                                keep_pages=False)
            seconds = time.perf_counter() - start
            seen.append(scan.pages_by_node)
            return seconds

        c_scan()  # warm-up, discarded
        python_scan()
        for _ in range(rounds * reps):
            c_times.append(c_scan())
            python_times.append(python_scan())
        server.stdin.close()
        if server.wait():
            raise BenchError(f"where_c serve exited {server.returncode}")
    if any(counts != seen[0] for counts in seen) or not seen[0]:
        distinct = sorted({str(sorted(counts.items())) for counts in seen})
        raise BenchError(f"{method}: C and python (or reps) disagree on pages per node: {distinct}")
    return c_times, python_times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--mib", type=int, default=1024, help="the target's anonymous memory (default 1024)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument("--reps", type=int, default=5, help="timed scans per side and round (default 5)")
    add_cpu_option(parser)
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.reps < 1 or args.mib < 1:
        parser.error("--mib, --rounds and --reps must be at least 1")
    pin_to_cpu(parser, args.cpu)
    print_setting(args.cpu)

    rows: list[tuple[str, float | None, int, str]] = []  # label, median seconds, samples, note
    verdicts: list[tuple[str, str, bool]] = []  # what, target, met
    try:
        binary = compile_c()
        files = some_binaries(FILES)
        with child(str(binary), "hold", str(args.mib), *files) as target:
            assert target.stdout is not None
            if target.stdout.readline().strip() != "ready":
                raise BenchError(f"the target did not start (exit status {target.poll()})")
            pid = target.pid
            first = scan_process(pid, detail=False)
            if first.present < args.mib << 8:
                raise BenchError(f"the target has {first.present} present pages: fewer than {args.mib} MiB")
            print(f"target pid {pid}: {args.mib} MiB anonymous + {len(files)} files, {len(first.vmas)} VMAs, "
                  f"{first.present} present pages {first.pages_by_node}", flush=True)

            # 1. The per-VMA view against the kernel's page-table walk for numa_maps alone.
            runs = args.rounds * args.reps
            per_vma = interleaved({
                "numa_maps": lambda: read_numa_maps(pid),
                "scan": lambda: scan_process(pid, detail=False),
                "detail": lambda: scan_process(pid, detail=True),
            }, runs)
            base, scan, detail = (statistics.median(per_vma[key]) for key in ("numa_maps", "scan", "detail"))
            scan_ratio = paired_ratio(per_vma["numa_maps"], per_vma["scan"])
            detail_ratio = paired_ratio(per_vma["numa_maps"], per_vma["detail"])
            rows += [("read /proc/PID/numa_maps (baseline)", base, runs, ""),
                     ("scan_process(detail=False)", scan, runs,
                      f"{scan_ratio:.2f}x baseline (medians: {scan / base:.2f}x)"),
                     ("scan_process(detail=True)", detail, runs,
                      f"{detail_ratio:.2f}x baseline (informational)")]
            verdicts.append((f"per-VMA scan takes {scan_ratio:.2f}x the time of reading numa_maps",
                             f"<= {PER_VMA_TARGET}", scan_ratio <= PER_VMA_TARGET))

            # 2. The per-page view against C doing the same reads and syscalls.
            for method in ("pagemap", "query"):
                c_times, python_times = per_page(binary, pid, method, args.rounds, args.reps)
                c_median, python_median = statistics.median(c_times), statistics.median(python_times)
                ratio = paired_ratio(c_times, python_times)
                rows += [(f"{method}: C where_c", c_median, len(c_times), "counts match python"),
                         (f"{method}: python scan_process(pages=True)", python_median, len(python_times),
                          f"{ratio:.2f}x C (medians: {python_median / c_median:.2f}x)")]
                verdicts.append((f"{method}: python takes {ratio:.2f}x the time of C",
                                 f"<= {PER_PAGE_TARGET}", ratio <= PER_PAGE_TARGET))

            # 3. CLI start-up: where on a tiny process is nearly all import and set-up.
            with child("sleep", "60") as small:
                startup = interleaved({"cli": command(str(CLI), "where", str(small.pid), "--json")}, 7)["cli"]
            median = statistics.median(startup)
            rows.append(("numamove where SMALLPID --json (sleep 60)", median, 7, "wall"))
            verdicts.append((f"CLI start-up {median:.3f} s", f"< {STARTUP_TARGET} s",
                             median < STARTUP_TARGET))

            # 4. Whole commands on the big target: numastat -p and numamove where --json.
            commands = {"where": command(str(CLI), "where", str(pid), "--json")}
            numastat = shutil.which("numastat")
            if numastat:
                commands["numastat"] = command(numastat, "-p", str(pid))
            walls = interleaved(commands, 5)
            if numastat:
                rows.append((f"numastat -p PID ({args.mib} MiB target)", statistics.median(walls["numastat"]),
                             5, "wall"))
            else:
                rows.append(("numastat -p PID", None, 0, "numastat missing (Debian package numactl)"))
            rows.append((f"numamove where PID --json ({args.mib} MiB target)",
                         statistics.median(walls["where"]), 5, "wall"))
    except (BenchError, numamove.NumaMoveError, subprocess.CalledProcessError, OSError) as error:
        print(f"FAILED: {error}", file=sys.stderr)
        return 1

    print(f"\n{'measurement':<48}{'median ms':>11}{'runs':>6}  note")
    for label, median_s, count, note in rows:
        shown = "-" if median_s is None else f"{median_s * 1e3:.3f}"
        print(f"{label:<48}{shown:>11}{count:>6}  {note}")
    print("\nratios")
    for what, target_text, met in verdicts:
        print(f"  {what:<56} target {target_text:<9} {'PASS' if met else 'MISS'}")
    note_disturbers_at_the_end()
    return 0


if __name__ == "__main__":
    sys.exit(main())
