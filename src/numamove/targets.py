"""Which processes a command means: a pid, several pids, a name pattern or a cgroup v2 path.

Read from /proc/PID/comm and the cgroup v2 file system's cgroup.procs; each
process counts once, however many threads it has.
"""

from __future__ import annotations

import errno
import os
import re

from numamove.errors import InvalidInputError, NoSuchProcessError
from numamove.kernel import Kernel, default_kernel

__all__ = ["resolve_targets"]

CGROUP_ROOT = "sys/fs/cgroup"


def resolve_targets(spec: str, kernel: Kernel | None = None, *, exclude_self: bool = True) -> list[int]:
    """The pids that ``spec`` names, in ascending order.

    - ``1234`` or ``1234,5678``: those processes (each must exist);
    - ``cgroup:PATH``, or a path that starts with ``/``: every process in that cgroup v2
      group and its descendants (PATH may be relative to /sys/fs/cgroup);
    - anything else: a regular expression searched in each process's name
      (/proc/PID/comm), as ``pgrep`` does. ``name:REGEX`` forces this reading.
    """
    kernel = kernel or default_kernel()
    text = spec.strip()
    if not text:
        raise InvalidInputError("empty target: expected a pid, pids, a name pattern or a cgroup path")
    if re.fullmatch(r"[\d,\s]+", text):
        return _pids(text, kernel)
    if text.startswith("cgroup:") or text.startswith("/"):
        return _cgroup(text.removeprefix("cgroup:"), kernel)
    return _by_name(text.removeprefix("name:"), kernel, exclude_self)


def _pids(text: str, kernel: Kernel) -> list[int]:
    pids = []
    for part in text.split(","):
        if not part.strip():
            raise InvalidInputError(f"{text!r} is not a list of pids like 1234,5678")
        pid = int(part)
        if pid <= 0:
            raise InvalidInputError(f"pid {pid} is not a process id")
        if not kernel.exists(f"proc/{pid}/stat"):
            raise NoSuchProcessError(errno.ESRCH, f"no such process: pid {pid}", "")
        pids.append(pid)
    return sorted(set(pids))


def _cgroup(path: str, kernel: Kernel) -> list[int]:
    relative = path.strip()
    root = str(kernel.path(CGROUP_ROOT))
    if relative.startswith(root):
        relative = relative[len(root):]
    elif relative.startswith("/" + CGROUP_ROOT):
        relative = relative[len(CGROUP_ROOT) + 1:]
    group = f"{CGROUP_ROOT}/{relative.strip('/')}".rstrip("/")
    if not kernel.exists(f"{group}/cgroup.procs"):
        raise InvalidInputError(f"{kernel.path(group)} is not a cgroup v2 group")
    pids: set[int] = set()
    pending = [group]
    while pending:  # the group and every descendant group
        current = pending.pop()
        pids.update(int(line) for line in kernel.read_text(f"{current}/cgroup.procs").split())
        pending += [f"{current}/{entry}" for entry in kernel.listdir(current)
                    if kernel.exists(f"{current}/{entry}/cgroup.procs")]
    if not pids:
        raise InvalidInputError(f"cgroup {kernel.path(group)} has no processes")
    return sorted(pids)


def _by_name(pattern: str, kernel: Kernel, exclude_self: bool) -> list[int]:
    try:
        regex = re.compile(pattern)
    except re.error as error:
        raise InvalidInputError(f"bad name pattern {pattern!r}: {error}") from None
    own = os.getpid()
    pids = []
    for entry in kernel.listdir("proc"):
        if not entry.isdigit() or (exclude_self and int(entry) == own):
            continue
        try:
            name = kernel.read_text(f"proc/{entry}/comm").rstrip("\n")
        except OSError:
            continue  # exited while we looked
        if regex.search(name):
            pids.append(int(entry))
    if not pids:
        raise InvalidInputError(f"no process name matches {pattern!r}")
    return sorted(pids)
