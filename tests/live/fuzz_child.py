"""The process test_cli_fuzz aims at: buffers filled on chosen nodes, and their checksums on request.

    python -S fuzz_child.py NODE0 NODE1 FAR HUGETLB(0|1)

A fresh, lean interpreter (standard library only, no site) rather than a fork of pytest: it has
~40 VMAs instead of ~260 and a small resident set, so each of the fuzz test's scans and moves
costs a fraction as much in the emulated guest. It places its buffers with mbind(2) (MPOL_BIND
while they are filled, then MPOL_DEFAULT), prints one JSON line {"buffers": {name: [start,
length]}, "digests": {name: blake2b}}, then answers each "checksum" line on stdin with the
digests as one JSON line, and exits at end of input.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import mmap
import os
import sys

PAGE = mmap.PAGESIZE
HUGE = 2 << 20
MAP_HUGETLB = 0x40000
MPOL_DEFAULT, MPOL_BIND = 0, 2
SYS_MBIND = {"x86_64": 237, "aarch64": 235}[os.uname().machine]
NAME = "numamove-fuzz"

libc = ctypes.CDLL(None, use_errno=True)


def mbind(address: int, length: int, mode: int, node: int | None) -> None:
    mask = ctypes.c_ulong(0 if node is None else 1 << node)
    result = libc.syscall(ctypes.c_long(SYS_MBIND), ctypes.c_void_p(address), ctypes.c_ulong(length),
                          ctypes.c_int(mode), ctypes.byref(mask) if node is not None else None,
                          ctypes.c_ulong(65 if node is not None else 0), ctypes.c_uint(0))
    if result != 0:
        raise OSError(ctypes.get_errno(), f"mbind({address:#x}, {length}, {mode}, {node})")


class Buffer:
    """A mapping (or the 2 MiB-aligned block inside one) filled with a per-word pattern on one node."""

    def __init__(self, length: int, node: int, flags: int = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS,
                 advice: int | None = None, aligned: bool = False) -> None:
        self.map = mmap.mmap(-1, length + (HUGE if aligned else 0), flags=flags)
        base = ctypes.addressof(ctypes.c_char.from_buffer(self.map))
        self.offset = -base % HUGE if aligned else 0
        self.start = base + self.offset
        self.length = length
        if advice is not None:
            self.map.madvise(advice, self.offset, length)
        mbind(self.start, length, MPOL_BIND, node)
        words = memoryview(self.map)[self.offset:self.offset + length].cast("Q")
        salt = 0x9E3779B97F4A7C15 + node
        for index in range(0, len(words), 64):  # one word in 64: every page touched, quick
            words[index] = (index * salt) & 0xFFFFFFFFFFFFFFFF
        words.release()
        mbind(self.start, length, MPOL_DEFAULT, None)

    def digest(self) -> str:
        view = memoryview(self.map)[self.offset:self.offset + self.length]
        try:
            return hashlib.blake2b(view).hexdigest()
        finally:
            view.release()


def main() -> None:
    zero, one, far, hugetlb = (int(argument) for argument in sys.argv[1:5])
    with open("/proc/self/comm", "w") as comm:
        comm.write(NAME)
    buffers = {
        "anon-node0": Buffer(64 * PAGE, zero, advice=mmap.MADV_NOHUGEPAGE),
        "anon-node1": Buffer(64 * PAGE, one, advice=mmap.MADV_NOHUGEPAGE),
        "shared": Buffer(32 * PAGE, far, flags=mmap.MAP_SHARED | mmap.MAP_ANONYMOUS),
        "thp": Buffer(HUGE, zero, advice=mmap.MADV_HUGEPAGE, aligned=True),
    }
    if hugetlb:
        buffers["hugetlb"] = Buffer(HUGE, one, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | MAP_HUGETLB)

    def digests() -> dict[str, str]:
        return {name: buffer.digest() for name, buffer in buffers.items()}

    layout = {name: [buffer.start, buffer.length] for name, buffer in buffers.items()}
    print(json.dumps({"buffers": layout, "digests": digests()}), flush=True)
    for line in sys.stdin:
        if line.strip() != "checksum":
            break
        print(json.dumps(digests()), flush=True)


if __name__ == "__main__":
    main()
