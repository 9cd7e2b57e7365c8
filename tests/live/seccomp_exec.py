"""Run a command under a seccomp filter that makes the NUMA syscalls fail with EPERM.

    python seccomp_exec.py COMMAND [ARG...]

Installs a classic BPF filter (x86_64 only: other architectures are let through)
with prctl(PR_SET_NO_NEW_PRIVS) and prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER),
then execs COMMAND, which inherits the filter: what Docker's default profile does
to move_pages and migrate_pages. Standard library and ctypes only.
"""

from __future__ import annotations

import ctypes
import os
import sys

PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
AUDIT_ARCH_X86_64 = 0xC000003E
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000
EPERM = 1
# arch/x86/entry/syscalls/syscall_64.tbl
BLOCKED = {"mbind": 237, "set_mempolicy": 238, "get_mempolicy": 239, "migrate_pages": 256, "move_pages": 279}
# struct seccomp_data: int nr at offset 0, __u32 arch at offset 4
NR_OFFSET, ARCH_OFFSET = 0, 4
LD_W_ABS, JEQ_K, RET_K = 0x20, 0x15, 0x06  # BPF_LD|BPF_W|BPF_ABS, BPF_JMP|BPF_JEQ|BPF_K, BPF_RET|BPF_K


class SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8),
                ("k", ctypes.c_uint32)]


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(SockFilter))]


def program() -> list[tuple[int, int, int, int]]:
    numbers = sorted(BLOCKED.values())
    deny = 4 + len(numbers) + 1  # the index of "return EPERM"
    code = [(LD_W_ABS, 0, 0, ARCH_OFFSET),
            (JEQ_K, 1, 0, AUDIT_ARCH_X86_64),  # x86_64: go on to the numbers
            (RET_K, 0, 0, SECCOMP_RET_ALLOW),
            (LD_W_ABS, 0, 0, NR_OFFSET)]
    for number in numbers:
        here = len(code)
        code.append((JEQ_K, deny - here - 1, 0, number))
    code += [(RET_K, 0, 0, SECCOMP_RET_ALLOW), (RET_K, 0, 0, SECCOMP_RET_ERRNO | EPERM)]
    return code


def install() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    code = program()
    filters = (SockFilter * len(code))(*(SockFilter(*instruction) for instruction in code))
    fprog = SockFprog(len(code), filters)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(fprog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP)")


if __name__ == "__main__":
    install()
    os.execvp(sys.argv[1], sys.argv[1:])
