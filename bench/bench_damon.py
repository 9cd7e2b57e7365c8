"""numamove's own CPU while the DAMON tracker watches a 1 GiB process, sampling every aggregation interval.

Run from the project root, as root, on a kernel with DAMON vaddr (CONFIG_DAMON_VADDR):

    .venv/bin/python bench/bench_damon.py [--seconds 30] [--aggregation 100ms] [--mib 1024]

The target is a child process that maps and writes --mib MiB, then keeps writing a
--hot-mib window of it (one word per page, every 10 ms). numamove starts the tracker,
lets DAMON settle for a second, then calls ``sample()`` back to back for --seconds (each
call waits for DAMON's next aggregation, so it samples once per interval) and counts
its own CPU time (user + system, all threads) over that wall time. Target: under 1% of
one CPU. The kdamond's own CPU (the kernel's cost, not numamove's) is shown beside it.

A benchmark, not a test: a figure over target is printed, not failed. The exit status is
non-zero when DAMON cannot run here (the reason is printed) or a sample fails. The
kdamond is stopped and removed on every exit, Ctrl-C and SIGTERM included.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from numamove.errors import NumaMoveError
from numamove.kernel import Kernel
from numamove.trackers import get, tracking
from numamove.trackers.damon import DamonTracker, Terminated, sigterm_raises

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


def own_cpu() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--aggregation", default="100ms")
    parser.add_argument("--mib", type=int, default=1024)
    parser.add_argument("--hot-mib", type=int, default=64)
    args = parser.parse_args()
    kernel = Kernel()
    why = DamonTracker.unavailable(kernel)
    if why is not None:
        print(f"bench_damon: cannot run here: {why}", file=sys.stderr)
        return 1
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(args.mib), str(args.hot_mib)],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        if child.stdout.readline().strip() != "ready":
            print("bench_damon: the target did not start", file=sys.stderr)
            return 1
        tracker = get("damon")(kernel, [child.pid], {"aggregation": args.aggregation})
        with sigterm_raises(), tracking(tracker):
            for warning in getattr(tracker, "warnings", []):
                print(f"note: {warning}")
            kdamond = int((KDAMONDS / "0" / "pid").read_text())
            settle = time.monotonic() + 1.0
            while time.monotonic() < settle:
                list(tracker.sample())
            user0, system0 = own_cpu()
            kernel0 = cpu_seconds(kdamond)
            wall0 = time.monotonic()
            samples = regions = 0
            while time.monotonic() - wall0 < args.seconds:
                regions += len(list(tracker.sample()))
                samples += 1
            wall = time.monotonic() - wall0
            user1, system1 = own_cpu()
            kdamond_cpu = cpu_seconds(kdamond) - kernel0
    except (KeyboardInterrupt, Terminated):
        print("bench_damon: interrupted; the kdamond is stopped", file=sys.stderr)
        return 130
    except NumaMoveError as error:
        print(f"bench_damon: {error}", file=sys.stderr)
        return 1
    finally:
        child.kill()
        child.wait()
    user, system = user1 - user0, system1 - system0
    share = (user + system) / wall
    print(f"kernel {os.uname().release}; target {args.mib} MiB ({args.hot_mib} MiB written every 10 ms); "
          f"aggregation {args.aggregation}")
    print(f"{samples} samples in {wall:.1f} s ({samples / wall:.1f}/s), {regions / max(samples, 1):.0f} "
          f"regions per sample")
    print(f"numamove CPU: {user:.3f} s user + {system:.3f} s system = {share * 100:.2f}% of one CPU "
          f"(target under {TARGET_SHARE * 100:.0f}%: {'met' if share < TARGET_SHARE else 'MISSED'})")
    print(f"kdamond CPU (the kernel's, for comparison): {kdamond_cpu / wall * 100:.2f}% of one CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
