"""The evaluation's workloads (bench/evaluate.py): one buffer, a known access pattern, a checked checksum.

Run as ``python bench/eval_workload.py CONFIG_JSON``. CONFIG: {"kind": "private" |
"shared" | "hotset" | "phase", "mib", "seed", "start_node", "hammer_cpus",
"hot_fraction", "cold_every", "flush" (default true)}.

The buffer (MAP_SHARED anonymous for "shared", else private) is bound to
``start_node`` while its words are written with a seeded pattern (first
touch there), then its policy is reset (the pages stay). It prints one JSON
line: the pids that access it, its [start, end), and the hot pages' ranges,
then waits for commands on stdin:

- "go": hammer threads pinned to ``hammer_cpus`` start passes over the buffer;
  "shared" forks a second process first, which hammers the same buffer too.
  A pass of "private"/"shared" adds 1 to the first word of every page; a pass
  of "hotset"/"phase" adds 1 to the first word of every hot page and of every
  ``cold_every``-th page (rotating), so a hot page is touched 1 + 1/cold_every
  times per pass and any other page 1/cold_every. After each pass the thread
  flushes its TLB (MADV_DONTNEED of 64 touched pages: tests/live/hotset_child.py
  says why DAMON needs it under TCG), unless "flush" is false.
- "phase": the hot set becomes the second range printed ("phase" only).
- "check": stops the hammers and prints {"ok", "passes", "checksum", "bad"}:
  every word but the counters is the seeded pattern again.
"""

from __future__ import annotations

import json
import mmap
import os
import sys
import threading

import numpy as np

import numamove

MIB = 1 << 20
PAGE = mmap.PAGESIZE
WORDS = PAGE // 8
# control words in a shared page: go, stop, phase, passes of process 0, passes of process 1
GO, STOP, PHASE, PASSES = 0, 1, 2, 3


def pattern(pages: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The seeded page pattern (one random page) and the per-page xor keys."""
    rng = np.random.default_rng(seed)
    block = rng.integers(0, 1 << 63, size=WORDS, dtype=np.uint64)
    keys = np.arange(pages, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    return block, keys


def hot_ranges(pages: int, fraction: float, seed: int) -> list[list[int]]:
    """Two disjoint page ranges of ``fraction`` of the pages each, at seeded places."""
    size = max(1, int(pages * fraction))
    rng = np.random.default_rng(seed + 1)
    first = int(rng.integers(0, pages // 2 - size))
    second = int(rng.integers(pages // 2, pages - size))
    return [[first, first + size], [second, second + size]]


def main() -> None:
    config = json.loads(sys.argv[1])
    kind, seed = config["kind"], int(config["seed"])
    size = int(config["mib"]) * MIB
    pages = size // PAGE
    os.sched_setaffinity(0, {0})  # the first touch runs on node 0's CPU, the hammers elsewhere
    flags = mmap.MAP_SHARED if kind == "shared" else mmap.MAP_PRIVATE
    area = mmap.mmap(-1, size, flags=flags | mmap.MAP_ANONYMOUS)
    control_map = mmap.mmap(-1, PAGE, flags=mmap.MAP_SHARED | mmap.MAP_ANONYMOUS)
    control = np.frombuffer(control_map, dtype=np.int64)
    words = np.frombuffer(area, dtype=np.uint64)
    table = words.reshape(pages, WORDS)
    base = words.ctypes.data
    area.madvise(mmap.MADV_NOHUGEPAGE)
    numamove.mbind(base, size, numamove.Mode.BIND, [int(config["start_node"])])
    block, keys = pattern(pages, seed)
    for first in range(0, pages, 4096):  # chunked: bounded temporaries
        table[first:first + 4096] = block[None, :] ^ keys[first:first + 4096, None]
    table[:, 0] = 0
    numamove.mbind(base, size, numamove.Mode.DEFAULT)
    hot = hot_ranges(pages, float(config.get("hot_fraction", 0.1)), seed)
    tiering = kind in ("hotset", "phase")
    every = int(config.get("cold_every", 32))
    counters = table[:, 0]
    cpus = set(config["hammer_cpus"])
    flushing = bool(config.get("flush", True))

    def hammer(slot: int) -> None:
        os.sched_setaffinity(0, cpus)
        flush_map = mmap.mmap(-1, 64 * PAGE)
        flush = np.frombuffer(flush_map, dtype=np.uint8)
        passes = 0
        while not control[STOP]:
            if tiering:
                lo, hi = hot[int(control[PHASE])]
                view = counters[lo:hi]
                view += 1
                view = counters[passes % every::every]
                view += 1
            else:
                np.add(counters, 1, out=counters)
            passes += 1
            control[PASSES + slot] = passes
            if flushing:
                flush[::PAGE] = 1
                flush_map.madvise(mmap.MADV_DONTNEED)

    child = 0
    print(json.dumps({"pid": os.getpid(), "range": [base, base + size], "pages": pages, "hot": hot}),
          flush=True)
    workers: list[threading.Thread] = []
    for line in sys.stdin:
        command = line.strip()
        if command == "go":
            if kind == "shared":
                child = os.fork()
                if child == 0:
                    hammer(1)
                    os._exit(0)
                print(json.dumps({"pids": [os.getpid(), child]}), flush=True)
            else:
                print(json.dumps({"pids": [os.getpid()]}), flush=True)
            workers.append(threading.Thread(target=hammer, args=(0,), daemon=True))
            workers[-1].start()
        elif command == "phase":
            control[PHASE] = 1
        elif command == "check":
            control[STOP] = 1
            for worker in workers:
                worker.join()
            if child:
                os.waitpid(child, 0)
            bad = []
            checksum = 0
            for first in range(0, pages, 4096):
                chunk = table[first:first + 4096, 1:]
                expected = block[None, 1:] ^ keys[first:first + 4096, None]
                if not np.array_equal(chunk, expected):
                    bad.append(f"pages {first}-{first + 4096}: contents changed")
                checksum ^= int(np.bitwise_xor.reduce(chunk, axis=None))
            print(json.dumps({"ok": not bad, "bad": bad[:5], "checksum": f"{checksum:016x}",
                              "passes": int(control[PASSES] + control[PASSES + 1])}), flush=True)
            break


if __name__ == "__main__":
    main()
