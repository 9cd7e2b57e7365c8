"""Which processes a selection names now: every condition it sets must hold (they narrow each other).

- ``pids``: those pids, while they run;
- ``comm``: a regular expression searched in the process name (/proc/PID/comm);
- ``cmdline``: one searched in the command line (/proc/PID/cmdline, arguments joined by spaces);
- ``cgroup``: the processes of a cgroup v2 group and its descendants;
- ``min_rss``: at least this resident memory (/proc/PID/status VmRSS).

Kernel threads, zombies and the daemon itself are never selected. Read each
cycle, so new matching processes are picked up and exited ones dropped.
Kernel interface, through a Kernel: /proc, /proc/PID/{comm,cmdline,status,stat},
/sys/fs/cgroup/.../cgroup.procs.
"""

from __future__ import annotations

import os
import re

from numamove.daemon.config import Selection
from numamove.errors import InvalidInputError
from numamove.kernel import Kernel
from numamove.targets import cgroup_pids, no_user_memory

__all__ = ["matching_pids"]


def matching_pids(kernel: Kernel, selection: Selection, *, exclude: int | None = None) -> list[int]:
    """The pids ``selection`` names now, ascending; [] when none (a cgroup that is gone matches none)."""
    exclude = os.getpid() if exclude is None else exclude
    if selection.pids is not None:
        candidates = {pid for pid in selection.pids if kernel.exists(f"proc/{pid}/stat")}
    elif selection.cgroup is not None:
        candidates = set()
    else:
        candidates = {int(entry) for entry in kernel.listdir("proc") if entry.isdigit()}
    if selection.cgroup is not None:
        try:
            members = set(cgroup_pids(selection.cgroup, kernel))
        except InvalidInputError:
            members = set()
        candidates = members if selection.pids is None else candidates & members
    comm = re.compile(selection.comm) if selection.comm else None
    cmdline = re.compile(selection.cmdline) if selection.cmdline else None
    found = []
    for pid in sorted(candidates - {exclude}):
        if comm is not None:
            name = kernel.read_if_alive(f"proc/{pid}/comm")
            if name is None or not comm.search(name.rstrip("\n")):
                continue
        if cmdline is not None:
            raw = kernel.read_if_alive(f"proc/{pid}/cmdline")
            if raw is None or not cmdline.search(raw.rstrip("\0").replace("\0", " ")):
                continue
        if selection.min_rss is not None and _rss(kernel, pid) < selection.min_rss:
            continue
        if no_user_memory(pid, kernel) is not None or not kernel.exists(f"proc/{pid}/stat"):
            continue
        found.append(pid)
    return found


def _rss(kernel: Kernel, pid: int) -> int:
    """VmRSS in bytes; 0 when unreadable (exited) or absent (a kernel thread)."""
    text = kernel.read_if_alive(f"proc/{pid}/status")
    for line in (text or "").splitlines():
        if line.startswith("VmRSS:"):
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdigit():
                return int(parts[1]) * 1024
    return 0
