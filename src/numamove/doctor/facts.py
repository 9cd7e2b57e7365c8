"""What ``numamove doctor`` reads from the kernel, through a :class:`~numamove.kernel.Kernel`.

Kernel interfaces: /proc/sys/kernel/osrelease, /proc/PID/status (CapEff, Uid,
Seccomp, Seccomp_filters, Mems_allowed_list), /proc/PID/cgroup, /proc/PID/pagemap
(one entry, to learn whether the ptrace access check lets numamove read it),
/proc/PID/numa_maps, and the cgroup v2 files cpuset.mems.effective, memory.max,
memory.high, memory.current and memory.numa_stat. Each reader returns plain values
(None for "absent or unreadable") that :mod:`.checks` judges.

May import: :mod:`numamove.kernel`, :mod:`numamove.procfs`, :mod:`numamove.nodemask`,
:mod:`numamove.errors`, the standard library.
"""

from __future__ import annotations

import errno
from collections import Counter
from dataclasses import dataclass

from numamove.errors import NumaMoveError
from numamove.kernel import Kernel, process_error
from numamove.nodemask import parse_cpulist
from numamove.procfs import parse_numa_maps

__all__ = ["CAP_SYS_ADMIN", "CgroupFacts", "cgroup_facts", "cgroup_root", "int_field", "kernel_release",
           "mempolicies", "pagemap_errno", "status_fields"]

CAP_SYS_ADMIN = 21  # include/uapi/linux/capability.h
CGROUP_MOUNTS = ("sys/fs/cgroup", "sys/fs/cgroup/unified")
"""Where the cgroup v2 hierarchy is mounted: alone, or beside v1 controllers (systemd's hybrid layout)."""


@dataclass(frozen=True)
class CgroupFacts:
    """A process's cgroup v2 group and what it sets; None fields are absent or "max"."""

    group: str
    """The group's path in the hierarchy, "/system.slice/x.service"."""
    cpuset_mems: frozenset[int] | None
    """cpuset.mems.effective of the nearest group that has it."""
    limits: tuple[tuple[str, int | None, int | None], ...]
    """(group, memory.max, memory.high) from the process's group up to the top (the root has neither)."""
    current: int | None
    """memory.current of the group."""
    numa_stat: bool
    """Whether the group has memory.numa_stat (the memory controller is on for it)."""
    memory_on_v2: bool = True
    """Whether the memory controller is on the v2 hierarchy at all (the root's cgroup.controllers):
    in systemd's hybrid layout it stays on v1."""

    def to_dict(self) -> dict[str, object]:
        tightest_max = min((m for _, m, _ in self.limits if m is not None), default=None)
        tightest_high = min((h for _, _, h in self.limits if h is not None), default=None)
        return {"path": self.group,
                "cpuset_mems_effective": None if self.cpuset_mems is None else sorted(self.cpuset_mems),
                "memory_max": tightest_max, "memory_high": tightest_high, "memory_current": self.current,
                "numa_stat": self.numa_stat}


def kernel_release(kernel: Kernel) -> str | None:
    """/proc/sys/kernel/osrelease, None when the tree has none."""
    try:
        return kernel.read_text("proc/sys/kernel/osrelease").strip() or None
    except OSError:
        return None


def status_fields(kernel: Kernel, pid: int) -> dict[str, str]:
    """/proc/PID/status; a process that is gone raises NoSuchProcessError.

    For pid 0 (numamove's own: /proc/self/status) an unreadable file gives no
    fields: a captured tree (``--root``) may hold none, and its checks then say "unknown".
    """
    try:
        return kernel.process_status(pid)
    except OSError as error:
        if pid == 0:
            return {}
        raise process_error(error, pid, "status") from None


def int_field(fields: dict[str, str], name: str, base: int = 10) -> int | None:
    """A number from /proc/PID/status ("Seccomp", "CapEff" in hex, the real uid of "Uid"), or None."""
    words = fields.get(name, "").split()
    try:
        return int(words[0], base) if words else None
    except ValueError:
        return None


def pagemap_errno(kernel: Kernel, pid: int) -> int:
    """0 when numamove can read /proc/PID/pagemap (one entry), else the errno of the refusal.

    pagemap is opened with the ptrace access check (PTRACE_MODE_READ): EACCES or
    EPERM here is what a scan of another user's process would meet. A process
    that is gone raises NoSuchProcessError.
    """
    try:
        with kernel.open(f"proc/{pid}/pagemap") as pagemap:
            pagemap.read(8)
    except OSError as error:
        if error.errno in (errno.ENOENT, errno.ESRCH):
            raise process_error(error, pid, "pagemap") from None
        return error.errno or errno.EIO
    return 0


def mempolicies(kernel: Kernel, pid: int) -> Counter[str] | None:
    """How many VMAs of the process have each memory policy (/proc/PID/numa_maps), or None if unreadable."""
    text = kernel.read_if_alive(f"proc/{pid}/numa_maps")
    if text is None:
        return None
    try:
        return Counter(entry.policy for entry in parse_numa_maps(text))
    except NumaMoveError:
        return None


def cgroup_root(kernel: Kernel) -> str | None:
    """Where the cgroup v2 hierarchy is mounted under the kernel's root, or None."""
    for mount in CGROUP_MOUNTS:
        if kernel.exists(f"{mount}/cgroup.controllers"):
            return mount
    return None


def cgroup_facts(kernel: Kernel, pid: int) -> CgroupFacts | None:
    """The process's cgroup v2 group (the "0::" line of /proc/PID/cgroup) and its files, or None."""
    text = kernel.read_if_alive(f"proc/{pid}/cgroup")
    root = cgroup_root(kernel)
    group = next((line[3:] for line in (text or "").splitlines() if line.startswith("0::")), None)
    if group is None or root is None:
        return None
    group = "/" + group.strip().strip("/")
    chain = [group]  # the group, then each ancestor up to the root "/"
    while chain[-1] != "/":
        chain.append(chain[-1].rsplit("/", 1)[0] or "/")
    directory = {path: root + path.rstrip("/") for path in chain}
    found = (_nodes(kernel, f"{directory[path]}/cpuset.mems.effective") for path in chain)
    cpuset = next((mems for mems in found if mems is not None), None)
    limits = tuple((path, _limit(kernel, f"{directory[path]}/memory.max"),
                    _limit(kernel, f"{directory[path]}/memory.high")) for path in chain if path != "/")
    return CgroupFacts(group=group, cpuset_mems=cpuset, limits=limits,
                       current=_limit(kernel, f"{directory[group]}/memory.current"),
                       numa_stat=kernel.exists(f"{directory[group]}/memory.numa_stat"),
                       memory_on_v2="memory" in _words(kernel, f"{root}/cgroup.controllers"))


def _words(kernel: Kernel, path: str) -> list[str]:
    try:
        return kernel.read_text(path).split()
    except OSError:
        return []


def _nodes(kernel: Kernel, path: str) -> frozenset[int] | None:
    try:
        return frozenset(parse_cpulist(kernel.read_text(path)))
    except (OSError, NumaMoveError, ValueError):
        return None


def _limit(kernel: Kernel, path: str) -> int | None:
    """A cgroup memory file in bytes; None for "max", a missing file or junk."""
    try:
        text = kernel.read_text(path).strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
