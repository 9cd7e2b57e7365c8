"""A workload for plan and apply: named buffers placed on chosen nodes, some hammered, all checked.

Run as ``python placement_child.py CONFIG_JSON``. CONFIG: {"hammer_cpus": [..], "fork": bool,
"buffers": [{"name", "mib", "shared", "hot", "node", "fill"}]}. Each buffer is mapped
(MAP_SHARED anonymous, i.e. shmem, or private), bound to its node while it is
filled with seeded random bytes (or with ones, "fill": "ones", quick for a
balloon, and not checked), then its policy is reset (the pages stay). With
"fork", a child process maps them too (a MAP_SHARED buffer is then shared by two
processes, as a database's shared buffers are) until this process ends. A
thread pinned to ``hammer_cpus`` adds 1 to the first 8 bytes of every page of
the hot buffers, pass after pass, flushing its TLB after each pass (see
hotset_child.py: without it DAMON sees no access in the emulated guest).

Prints one JSON line: pid and each buffer's [start, end). Then reads commands:
"check" stops the hammer and prints {"ok": ..., "bad": [...]}: every byte but
the counters is what was written, and the counters of each hot buffer are equal
(the hammer stops between passes). End of input ends it.
"""

from __future__ import annotations

import hashlib
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


def checksum(words: np.ndarray) -> str:
    """The buffer's SHA-256 without the hammered counter words (the first of each page)."""
    copy = words.reshape(-1, WORDS)[:, 1:].copy()
    return hashlib.sha256(copy.tobytes()).hexdigest()


def main() -> None:
    config = json.loads(sys.argv[1])
    rng = np.random.default_rng(20061201)
    buffers = {}
    for spec in config["buffers"]:
        flags = mmap.MAP_SHARED if spec["shared"] else mmap.MAP_PRIVATE
        area = mmap.mmap(-1, spec["mib"] * MIB, flags=flags | mmap.MAP_ANONYMOUS)
        words = np.frombuffer(area, dtype=np.uint64)
        base = words.ctypes.data
        numamove.mbind(base, len(area), numamove.Mode.BIND, [spec["node"]])
        if spec.get("fill", "random") == "ones":
            words[::WORDS] = 1
            expected = ""
        else:
            words[:] = rng.integers(0, 1 << 63, size=len(words), dtype=np.uint64)
            words[::WORDS] = 0
            expected = checksum(words)
        numamove.mbind(base, len(area), numamove.Mode.DEFAULT)
        buffers[spec["name"]] = (area, words, spec, expected)
    if config.get("fork"):  # a second process that maps the buffers too, until this one ends
        reader, writer = os.pipe()
        if os.fork() == 0:
            os.close(writer)
            os.read(reader, 1)
            os._exit(0)
        os.close(reader)
    hot = [words[::WORDS] for _, words, spec, _ in buffers.values() if spec["hot"]]
    stop = threading.Event()
    started = threading.Event()

    def hammer() -> None:
        os.sched_setaffinity(0, set(config["hammer_cpus"]))
        flush_map = mmap.mmap(-1, 64 * PAGE)
        flush = np.frombuffer(flush_map, dtype=np.uint8)
        started.set()
        while not stop.is_set():
            for counters in hot:
                counters += 1
            flush[::PAGE] = 1
            flush_map.madvise(mmap.MADV_DONTNEED)

    worker = threading.Thread(target=hammer, daemon=True)
    worker.start()
    started.wait()
    print(json.dumps({"pid": os.getpid(), "buffers": {
        name: [words.ctypes.data, words.ctypes.data + len(area)]
        for name, (area, words, _, _) in buffers.items()
    }}), flush=True)
    for line in sys.stdin:
        if line.strip() == "check":
            stop.set()
            worker.join()
            bad = []
            for name, (_, words, spec, expected) in buffers.items():
                if expected and checksum(words) != expected:
                    bad.append(f"{name}: contents changed")
                counters = words[::WORDS]
                if spec["hot"] and not (counters == counters[0]).all():
                    bad.append(f"{name}: counters differ")
            print(json.dumps({"ok": not bad, "bad": bad}), flush=True)
    stop.set()


if __name__ == "__main__":
    main()
