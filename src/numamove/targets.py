"""Which processes a command means: a pid, several pids, a name pattern or a cgroup v2 path.

Read from /proc/PID/comm, /proc/PID/stat and the cgroup v2 file system's
cgroup.procs; each process counts once, however many threads it has. Kernel
threads and zombies have no user memory: named by pid they are refused with a
:class:`NoUserMemoryError`, and a name pattern or a cgroup leaves them out.
A process that exits while the list is made is skipped (:meth:`Kernel.read_if_alive`).

May import: :mod:`numamove.kernel`, :mod:`numamove.errors`.
"""

from __future__ import annotations

import errno
import os
import re

from numamove._inputs import compile_pattern
from numamove.errors import InvalidInputError, NoSuchProcessError
from numamove.kernel import DEFAULT, Kernel, explain, takes_kernel_or_default
from numamove.procfs.stat import parse_task_stat

__all__ = ["NoUserMemoryError", "cgroup_pids", "is_pid_list", "no_user_memory", "process_identity",
           "resolve_targets"]

CGROUP_ROOT = "sys/fs/cgroup"
PID_MAX_LIMIT = 4 * 1024 * 1024  # include/linux/threads.h: no pid reaches 2**22 on any kernel
PF_KTHREAD = 0x00200000  # include/linux/sched.h: the task is a kernel thread
_FLAGS_FIELD = 9  # /proc/PID/stat field 9 is the task's flags (proc(5))

_PID_LIST = re.compile(r"[\d,\s]+")  # any digits: "١٢٣" is a pid list written in other digits
_ASCII_PID = re.compile(r"[0-9]+", re.ASCII)
_NEGATIVE = re.compile(r"-\s*\d+")


class NoUserMemoryError(InvalidInputError):
    """The process has no user memory to show or move: a kernel thread, or a zombie."""


@takes_kernel_or_default
def resolve_targets(spec: str, kernel: Kernel = DEFAULT, *, exclude_self: bool = True) -> list[int]:
    """The pids that ``spec`` names, in ascending order.

    - ``1234`` or ``1234,5678``: those processes (each must exist and have user memory);
    - ``cgroup:PATH``, or a path that starts with ``/``: every process in that cgroup v2
      group and its descendants (PATH may be relative to /sys/fs/cgroup);
    - anything else: a regular expression searched in each process's name
      (/proc/PID/comm), as ``pgrep`` does. ``name:REGEX`` forces this reading.

    A pattern or a cgroup leaves out kernel threads and zombies (read from
    /proc/PID/stat); when nothing else is left, :class:`NoUserMemoryError`.
    """
    text = spec.strip()
    if not text:
        raise InvalidInputError("empty target: expected a pid, pids, a name pattern or a cgroup path")
    if _PID_LIST.fullmatch(text):
        return _pids(text, kernel)
    if _NEGATIVE.fullmatch(text) and len(text) <= 40:
        raise InvalidInputError(f"pid {text} is not a process id: pids are positive "
                                f"(name:{text} looks for it in process names)")
    if text.startswith("cgroup:") or text.startswith("/"):
        members = cgroup_pids(text.removeprefix("cgroup:"), kernel)
        return _with_memory(members, kernel, f"cgroup {_shown(text)}")
    pattern = text.removeprefix("name:")
    return _with_memory(_by_name(pattern, kernel, exclude_self), kernel, f"name pattern {_shown(pattern)}")


def process_identity(kernel: Kernel, pid: int | str) -> tuple[int, int] | None:
    """(pid, start time in clock ticks since boot) of a process, None when it is gone.

    A pid and its start time name one process: a pid reused by a new process has another
    start time. ``pid`` may be "self". Reads /proc/PID/stat.
    """
    text = kernel.read_if_alive(f"proc/{pid}/stat")
    if text is None:
        return None
    stat = parse_task_stat(text)
    return stat.tid, stat.start_time


def is_pid_list(spec: str) -> bool:
    """Whether ``spec`` names processes by pid ("1234", "1,2") rather than by a pattern or a cgroup."""
    return bool(_PID_LIST.fullmatch(spec.strip()))


@takes_kernel_or_default
def no_user_memory(pid: int, kernel: Kernel = DEFAULT) -> str | None:
    """Why ``pid`` has no user memory ("pid 2 (kthreadd) is a kernel thread: ..."), or None.

    Reads /proc/PID/stat: the PF_KTHREAD bit of the flags field, and state Z
    (zombie) or X (dead). None too when the file cannot be read or parsed:
    whoever reads the process next reports that.
    """
    text = kernel.read_if_alive(f"proc/{pid}/stat")
    if text is None:
        return None
    opening, closing = text.find("("), text.rfind(")")  # the name may hold ")" and spaces
    fields = text[closing + 1:].split()  # fields 3 onwards
    if opening < 0 or closing < opening or len(fields) < _FLAGS_FIELD - 2:
        return None
    name, state, flags = text[opening + 1:closing], fields[0], fields[_FLAGS_FIELD - 3]
    if _ASCII_PID.fullmatch(flags) and int(flags) & PF_KTHREAD:
        return f"pid {pid} ({name}) is a kernel thread: it has no user memory"
    if state in ("Z", "X"):
        return f"pid {pid} ({name}) is a zombie: it has exited and has no memory left"
    return None


def _shown(text: str, limit: int = 80) -> str:
    """``text`` quoted for a message, cut short when long (a pasted argument stays one readable line)."""
    return repr(text) if len(text) <= limit else f"{text[:limit]!r}... ({len(text)} characters)"


def _pids(text: str, kernel: Kernel) -> list[int]:
    pids = []
    for part in text.split(","):
        word = part.strip()
        if not word:
            raise InvalidInputError(f"{_shown(text)} is not a list of pids like 1234,5678")
        if not _ASCII_PID.fullmatch(word):
            if any(character.isspace() for character in word):
                raise InvalidInputError(f"{_shown(text)} is not a list of pids: separate pids with commas, "
                                        "like 1234,5678")
            raise InvalidInputError(f"pid {_shown(word)} is not written in ASCII digits (0-9)")
        # 7 digits reach PID_MAX_LIMIT; int() is not asked to read 100,000 of them
        pid = int(word) if len(word.lstrip("0")) <= len(str(PID_MAX_LIMIT)) else PID_MAX_LIMIT
        if not 0 < pid < PID_MAX_LIMIT:
            shown = word if len(word) <= 40 else word[:40] + "..."
            raise InvalidInputError(f"pid {shown} is not a process id: pids run from 1 to "
                                    f"{PID_MAX_LIMIT - 1}")
        if not kernel.exists(f"proc/{pid}/stat"):
            raise NoSuchProcessError(errno.ESRCH, explain.no_such_process(pid), "")
        reason = no_user_memory(pid, kernel)
        if reason:
            raise NoUserMemoryError(reason)
        pids.append(pid)
    return sorted(set(pids))


def _with_memory(pids: list[int], kernel: Kernel, what: str) -> list[int]:
    """``pids`` without kernel threads and zombies; refused when nothing else is left."""
    reasons = {pid: no_user_memory(pid, kernel) for pid in pids}
    kept = [pid for pid, reason in reasons.items() if reason is None]
    if not kept:
        if len(pids) == 1:
            raise NoUserMemoryError(f"{what} selects one process, and {reasons[pids[0]]}")
        raise NoUserMemoryError(f"{what} selects only kernel threads and zombies ({len(pids)} processes): "
                                "they have no user memory")
    return kept


def cgroup_pids(path: str, kernel: Kernel) -> list[int]:
    """The processes of the cgroup v2 group ``path`` (absolute, or under /sys/fs/cgroup) and of its
    descendants; InvalidInputError when it is not a group or holds no process."""
    relative = path.strip()
    root = str(kernel.path(CGROUP_ROOT))
    if relative.startswith(root):
        relative = relative[len(root):]
    elif relative.startswith("/" + CGROUP_ROOT):
        relative = relative[len(CGROUP_ROOT) + 1:]
    group = f"{CGROUP_ROOT}/{relative.strip('/')}".rstrip("/")
    if not kernel.exists(f"{group}/cgroup.procs"):
        raise InvalidInputError(f"{_shown(str(kernel.path(group)))} is not a cgroup v2 group")
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
    regex = compile_pattern(pattern, "name pattern")
    own = os.getpid()
    pids = []
    for entry in kernel.listdir("proc"):
        if not entry.isdigit() or (exclude_self and int(entry) == own):
            continue
        name = kernel.read_if_alive(f"proc/{entry}/comm")
        if name is None:
            continue  # exited while we looked
        if regex.search(name.rstrip("\n")):
            pids.append(int(entry))
    if not pids:
        raise InvalidInputError(f"no process name matches {_shown(pattern)}")
    return sorted(pids)
