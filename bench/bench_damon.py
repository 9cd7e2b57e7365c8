"""numamove's own CPU while the DAMON tracker watches a 1 GiB process, sampling every aggregation interval.

Run from the project root, as root, on a kernel with DAMON vaddr (CONFIG_DAMON_VADDR):

    .venv/bin/python bench/bench_damon.py [--seconds 30] [--aggregation 100ms] [--mib 1024]

The target is a child process that maps and writes --mib MiB, then keeps writing a
--hot-mib window of it (one word per page, every 10 ms). numamove starts the tracker,
lets DAMON settle for a second, then calls ``sample()`` back to back for --seconds (each
call waits for DAMON's next aggregation, so it samples once per interval) and counts
its own CPU time (user + system, all threads) over that wall time. Target: under 1% of
one CPU. The kdamond's own CPU (the kernel's cost, not numamove's) is shown beside it.

Where the kernel has DAMON but not its vaddr operations (CONFIG_DAMON_VADDR unset: the
development host's 6.18), --paddr-proxy times the same numamove code per sample
(``update_schemes_tried_regions`` and the read of every tried region, through
:class:`~numamove.trackers.damon_sysfs.DamonSysfs`) on a paddr kdamond over physical
memory, with the same intervals and region bounds; the region count it prints says
how comparable it is.

A benchmark, not a test: a figure over target is printed, not failed. The exit status is
non-zero when DAMON cannot run here (the reason is printed) or a sample fails. The
kdamond is stopped and removed on every exit, Ctrl-C and SIGTERM included.
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sized
from contextlib import contextmanager
from pathlib import Path

from numamove.errors import NumaMoveError
from numamove.kernel import Kernel
from numamove.signals import Terminated, raising
from numamove.trackers import get, tracking
from numamove.trackers.damon import DamonTracker, parse_options
from numamove.trackers.damon_sysfs import DamonSysfs

TARGET_SHARE = 0.01  # of one CPU
KDAMONDS = Path("/sys/kernel/mm/damon/admin/kdamonds")

CHILD = """
import mmap, sys, time
import numpy as np
size, hot = int(sys.argv[1]) << 20, int(sys.argv[2]) << 20
area = mmap.mmap(-1, size)
words = np.frombuffer(area, dtype=np.uint64)
step = mmap.PAGESIZE // 8
words[::step] = 1
window = words[: hot // 8 : step]
print("ready", flush=True)
while True:
    window += 1
    time.sleep(0.01)
"""


def cpu_seconds(pid: int) -> float:
    """A process's user + system CPU from /proc/PID/stat (fields 14 and 15), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def signal_guard() -> Iterator[None]:
    """SIGINT and SIGTERM held off while the kdamond is stopped."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def own_cpu() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime


Result = tuple[int, int, float, float, float, float]


def measure(sample: Callable[[], Sized], seconds: float, kdamond: int) -> Result:
    """Call ``sample()`` back to back for ``seconds`` after 1 s of settling:
    (samples, regions, wall, user, system, kdamond CPU)."""
    settle = time.monotonic() + 1.0
    while time.monotonic() < settle:
        sample()
    user0, system0 = own_cpu()
    kernel0 = cpu_seconds(kdamond)
    wall0 = time.monotonic()
    samples = regions = 0
    while time.monotonic() - wall0 < seconds:
        regions += len(sample())
        samples += 1
    wall = time.monotonic() - wall0
    user1, system1 = own_cpu()
    return samples, regions, wall, user1 - user0, system1 - system0, cpu_seconds(kdamond) - kernel0


def biggest_ram() -> int:
    """The start of the largest "System RAM" range of /proc/iomem (root sees the addresses)."""
    ranges = []
    for line in Path("/proc/iomem").read_text().splitlines():
        span, _, name = line.partition(" : ")
        if name == "System RAM" and not line.startswith(" "):
            low, high = (int(part, 16) for part in span.split("-"))
            ranges.append((high - low, low))
    return max(ranges)[1]


def paddr_proxy(kernel: Kernel, args: argparse.Namespace) -> Result:
    """The per-sample code of the tracker on a paddr kdamond (a host without DAMON vaddr)."""
    sysfs = DamonSysfs(kernel)
    if sysfs.count():
        raise SystemExit("bench_damon: kdamonds exist already; not touching them")
    try:
        sysfs.write("nr_kdamonds", 1)
        sysfs.write("0/contexts/nr_contexts", 1)
        sysfs.configure(0, 1, parse_options({"aggregation": args.aggregation}), 1 << 62)
        sysfs.write("0/contexts/0/operations", "paddr")
        start = biggest_ram()  # paddr watches the ranges it is given: --mib of the largest System RAM
        sysfs.write("0/contexts/0/targets/0/regions/nr_regions", 1)
        sysfs.write("0/contexts/0/targets/0/regions/0/start", start)
        sysfs.write("0/contexts/0/targets/0/regions/0/end", start + (args.mib << 20))
        sysfs.write("0/state", "on")

        def sample() -> list[tuple[int, int, int, int]]:
            sysfs.write("0/state", "update_schemes_tried_regions")
            return sysfs.tried_regions(0)

        return measure(sample, args.seconds, int((KDAMONDS / "0" / "pid").read_text()))
    finally:
        with signal_guard():
            if sysfs.state(0) == "on":
                sysfs.write("0/state", "off")
            sysfs.write("nr_kdamonds", 0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--aggregation", default="100ms")
    parser.add_argument("--mib", type=int, default=1024)
    parser.add_argument("--hot-mib", type=int, default=64)
    parser.add_argument("--paddr-proxy", action="store_true",
                        help="time the per-sample code on a paddr kdamond (a kernel without DAMON vaddr)")
    args = parser.parse_args()
    kernel = Kernel()
    if args.paddr_proxy:
        try:
            with raising():
                result = paddr_proxy(kernel, args)
        except (KeyboardInterrupt, Terminated):
            print("bench_damon: interrupted; the kdamond is stopped", file=sys.stderr)
            return 130
        report(args, "paddr proxy: physical memory, not a process", *result)
        return 0
    why = DamonTracker.unavailable(kernel)
    if why is not None:
        print(f"bench_damon: cannot run here: {why} (--paddr-proxy times the same code on paddr)",
              file=sys.stderr)
        return 1
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(args.mib), str(args.hot_mib)],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        if child.stdout.readline().strip() != "ready":
            print("bench_damon: the target did not start", file=sys.stderr)
            return 1
        tracker = get("damon")(kernel, [child.pid], {"aggregation": args.aggregation})
        with raising(), tracking(tracker):
            for warning in getattr(tracker, "warnings", []):
                print(f"note: {warning}")
            kdamond = int((KDAMONDS / "0" / "pid").read_text())
            result = measure(lambda: list(tracker.sample()), args.seconds, kdamond)
    except (KeyboardInterrupt, Terminated):
        print("bench_damon: interrupted; the kdamond is stopped", file=sys.stderr)
        return 130
    except NumaMoveError as error:
        print(f"bench_damon: {error}", file=sys.stderr)
        return 1
    finally:
        child.kill()
        child.wait()
    report(args, f"target {args.mib} MiB ({args.hot_mib} MiB written every 10 ms)", *result)
    return 0


def sysfs_read_cost() -> float:
    """Microseconds of CPU one small sysfs read costs here, through a Kernel: the yardstick that tells
    an emulated guest (hundreds of times slower) from real hardware."""
    kernel = Kernel()
    before = time.process_time()
    for _ in range(200):
        kernel.read_bytes("sys/kernel/mm/damon/admin/kdamonds/nr_kdamonds")
    return (time.process_time() - before) / 200 * 1e6


def report(args: argparse.Namespace, what: str, samples: int, regions: int, wall: float, user: float,
           system: float, kdamond_cpu: float) -> None:
    share = (user + system) / wall
    print(f"one sysfs read costs {sysfs_read_cost():.1f} us of CPU here")
    print(f"kernel {os.uname().release}; {what}; aggregation {args.aggregation}")
    print(f"{samples} samples in {wall:.1f} s ({samples / wall:.1f}/s), {regions / max(samples, 1):.0f} "
          f"regions per sample")
    print(f"numamove CPU: {user:.3f} s user + {system:.3f} s system = {share * 100:.2f}% of one CPU "
          f"(target under {TARGET_SHARE * 100:.0f}%: {'met' if share < TARGET_SHARE else 'MISSED'})")
    print(f"kdamond CPU (the kernel's, for comparison): {kdamond_cpu / wall * 100:.2f}% of one CPU")


if __name__ == "__main__":
    sys.exit(main())
