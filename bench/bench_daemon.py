"""The daemon's own CPU while it manages a 1 GiB process every 5 s: the number issue 12 sets (< 2%).

Run from the project root:

    .venv/bin/python bench/bench_daemon.py [--seconds 60] [--interval 5s] [--mib 1024]
                                          [--tracker NAMES] [--policy NAME]

The target is a child process that maps and writes --mib MiB (one word per page), then
keeps writing a 64 MiB window of it. The daemon runs in this process, through the
library (numamove.Daemon, the object `numamove daemon` drives), with one selection: the
child's pid, --tracker (default: the first of damon,threads / softdirty,threads /
threads that runs here), --policy (locality), every --interval with a profile of half
of it sampled every second. It runs for --seconds and counts its own CPU time (user +
system, all threads: the loop, the trackers, the snapshot's pagemap reads, the moves)
over that wall time. The kdamond's CPU, when DAMON tracks, is the kernel's and is not
in it. Target: under 2% of one CPU.

A benchmark, not a test: a figure over target is printed, not failed.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time

from numamove.daemon.config import parse_config
from numamove.daemon.loop import Daemon
from numamove.kernel import Kernel
from numamove.trackers import base

TARGET_SHARE = 0.02  # of one CPU

CHILD = """
import mmap, sys
import numpy as np
size = int(sys.argv[1]) << 20
area = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
words = np.frombuffer(area, dtype=np.uint64)
step = mmap.PAGESIZE // 8
words[::step] = 1
window = words[: (64 << 20) // 8 : step]
print("ready", flush=True)
while True:
    window += 1
"""

CANDIDATES = ("damon,threads", "softdirty,threads", "threads")


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--interval", default="5s")
    parser.add_argument("--mib", type=int, default=1024)
    parser.add_argument("--tracker")
    parser.add_argument("--policy", default="locality")
    args = parser.parse_args()
    kernel = Kernel()
    usable = base.REGISTRY.available(kernel)
    tracker = args.tracker or next(
        (names for names in CANDIDATES if all(usable[n].usable for n in names.split(","))), "threads")
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(args.mib)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        if child.stdout.readline().strip() != "ready":
            print("the target did not start", file=sys.stderr)
            return 1
        seconds = float(args.interval.rstrip("s"))
        config = parse_config(f"""
[[selection]]
name = "bench"
pids = [{child.pid}]
tracker = "{tracker}"
fallback = ""
policy = "{args.policy}"
interval = "{args.interval}"
profile = "{seconds / 2:g}s"
sample = "1s"
""", "bench")
        cycles: list[dict[str, object]] = []
        daemon = Daemon(kernel, config, log=lambda event: cycles.append(event) if event["event"] == "cycle"
                        else None)
        daemon.start()
        began, cpu = time.monotonic(), cpu_seconds()
        daemon.run(stop=lambda: time.monotonic() - began >= args.seconds)
        wall, used = time.monotonic() - began, cpu_seconds() - cpu
    finally:
        child.kill()
        child.wait()
    share = used / wall
    print(f"daemon managing {args.mib} MiB every {args.interval} with {tracker} and {args.policy}: "
          f"{len(cycles)} cycles in {wall:.1f} s, {used:.2f} s of CPU = {share * 100:.2f}% of one CPU "
          f"(target < {TARGET_SHARE * 100:g}%: {'met' if share < TARGET_SHARE else 'NOT met'})")
    per_cycle = [float(str(event["cpu_seconds"])) for event in cycles]
    if per_cycle:
        print(f"CPU per cycle: median {sorted(per_cycle)[len(per_cycle) // 2] * 1000:.0f} ms, "
              f"longest {max(per_cycle) * 1000:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
