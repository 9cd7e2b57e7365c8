"""The verdicts of ``numamove doctor``: plain facts in, :class:`Check` out. Pure.

Each function here turns values already read (node lists, a sysctl, capability
bits, a syscall's errno, cgroup limits) into a :class:`Check`: a topic, a name,
a status (ok, warn, fail, unknown) and a sentence saying what it means for
numamove and what to do about it. :mod:`.facts` and :mod:`.probe` read the
kernel; nothing here does, so every sentence is tested on plain data.

May import: :mod:`numamove.nodemask`, :mod:`numamove._format`, the standard library.
"""

from __future__ import annotations

import enum
import errno
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from numamove._format import human_bytes
from numamove.nodemask import format_nodemask

__all__ = [
    "Check", "Status", "balancing_check", "call_checks", "cap_sys_nice_check", "cgroup_limit_check",
    "cpuset_check", "demotion_check", "mempolicy_check", "node_checks", "numa_stat_check", "pfn_check",
    "seccomp_check", "target_access_check", "target_seccomp_check", "tier_check", "tracker_check",
]  # fmt: skip

SECCOMP_MODES = {0: "none", 1: "strict", 2: "filter"}
"""/proc/PID/status Seccomp: SECCOMP_MODE_DISABLED, _STRICT, _FILTER."""

NEAR_LIMIT = 0.9
"""memory.current at this share of the tightest limit warns."""


class Status(str, enum.Enum):
    """How a check came out: works, works with a caveat, does not work, cannot tell."""

    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Check:
    """One thing ``doctor`` looked at: ``why`` says what it found and, when it matters, the fix."""

    topic: str
    name: str
    status: Status
    why: str

    def to_dict(self) -> dict[str, str]:
        return {"topic": self.topic, "name": self.name, "status": self.status.value, "why": self.why}


def _nodes(nodes: object) -> str:
    ids = sorted(nodes)  # type: ignore[call-overload]
    return ("node " if len(ids) == 1 else "nodes ") + (format_nodemask(ids) or "none")


# --- NUMA ----------------------------------------------------------------------------------------


def node_checks(online: frozenset[int], possible: frozenset[int], cpu_nodes: frozenset[int],
                memory_nodes: frozenset[int]) -> list[Check]:
    """The node layout: what numamove can move pages between."""
    memory_only = memory_nodes - cpu_nodes
    layout = (f"{_nodes(online)} online ({len(possible)} possible); CPUs on {_nodes(cpu_nodes & online)}"
              + (f"; memory only (CXL or PMEM expanders, no CPUs): {_nodes(memory_only)}" if memory_only
                 else ""))
    if len(memory_nodes & online) < 2:
        return [Check("numa", "nodes", Status.WARN,
                      f"{layout}: fewer than two nodes have memory, so there is nowhere to move pages to "
                      "(a NUMA machine, or a VM started with several nodes, has more)")]
    return [Check("numa", "nodes", Status.OK, f"{layout}: pages can move between {_nodes(memory_nodes)}")]


def tier_check(tiers: Mapping[int, int] | None, memory_nodes: frozenset[int]) -> Check:
    """Memory tiers (memory_tierN/nodelist): a lower tier is where demotion sends and promotion takes from.

    ``tiers`` maps a node to its tier id (a larger id is slower); None when the
    kernel has no /sys/devices/virtual/memory_tiering.
    """
    if tiers is None:
        return Check("numa", "memory tiers", Status.UNKNOWN,
                     "this kernel shows no memory tiers (/sys/devices/virtual/memory_tiering is absent: "
                     "Linux before 6.1): demotion and tiering promotion are not there to interfere")
    by_tier: dict[int, list[int]] = {}
    for node in sorted(memory_nodes):
        if node in tiers:
            by_tier.setdefault(tiers[node], []).append(node)
    shown = "; ".join(f"{_nodes(nodes)} in memory_tier{tier}" for tier, nodes in sorted(by_tier.items()))
    if len(by_tier) < 2:
        return Check("numa", "memory tiers", Status.WARN,
                     f"all nodes are in one memory tier: tiering has nothing to promote to "
                     f"({shown or 'no tier'}); "
                     "slower memory (CXL, PMEM) gets its own tier when firmware describes it (ACPI HMAT) "
                     "or its driver says so")
    top, *lower = sorted(by_tier)
    below = [node for tier in lower for node in by_tier[tier]]
    return Check("numa", "memory tiers", Status.OK,
                 f"{shown}: {_nodes(below)} {'is a lower tier' if len(below) == 1 else 'are lower tiers'} "
                 f"(slower memory) below {_nodes(by_tier[top])}")


def balancing_check(mode: int | None) -> Check:
    """/proc/sys/kernel/numa_balancing: 0 off, bit 0 NUMA balancing, bit 1 memory tiering."""
    name = "numa_balancing"
    if mode is None:
        return Check("numa", name, Status.UNKNOWN,
                     "kernel.numa_balancing is absent (a kernel without CONFIG_NUMA_BALANCING): nothing "
                     "moves pages behind numamove, and the numafaults tracker has no hinting faults to count")
    if mode == 0:
        return Check("numa", name, Status.OK,
                     "off (0): the kernel leaves pages where numamove puts them; the numafaults tracker sees "
                     "no NUMA hinting faults (sysctl kernel.numa_balancing=1 turns them on, and then the "
                     "kernel moves pages too)")
    parts = []
    if mode & 1:
        parts.append("NUMA balancing (AutoNUMA) moves pages toward the CPUs that touch them, so it may move "
                     "pages numamove placed back")
    if mode & 2:
        parts.append("memory tiering promotes hot pages from lower tiers to the top tier, so pages numamove "
                     "put on a lower tier may move up")
    label = {1: "NUMA balancing", 2: "memory tiering", 3: "NUMA balancing and memory tiering"}.get(mode & 3,
                                                                                                  "unknown")
    return Check("numa", name, Status.WARN,
                 f"{mode} ({label}): " + "; ".join(parts) + "; sysctl kernel.numa_balancing=0 keeps "
                 "numamove's placement (and stops the hinting faults the numafaults tracker counts)")


def demotion_check(enabled: bool | None, tiers: Mapping[int, int] | None) -> Check:
    """/sys/kernel/mm/numa/demotion_enabled: reclaim moves cold pages to a lower tier, not out of memory."""
    name = "demotion"
    several = tiers is not None and len(set(tiers.values())) > 1
    if enabled is None:
        return Check("numa", name, Status.UNKNOWN,
                     "/sys/kernel/mm/numa/demotion_enabled is absent (Linux before 5.15): reclaim does not "
                     "demote pages to slower nodes")
    if enabled:
        return Check("numa", name, Status.WARN if several else Status.OK,
                     "on: under memory pressure reclaim moves cold pages to a lower tier instead of dropping "
                     "them, so pages numamove put on a top-tier node may be demoted"
                     + ("" if several else " (with one tier there is nowhere to demote to)")
                     + "; echo false > /sys/kernel/mm/numa/demotion_enabled turns it off")
    return Check("numa", name, Status.OK,
                 "off: reclaim does not move pages to lower tiers, so pages stay where numamove puts them"
                 + ("; echo true > /sys/kernel/mm/numa/demotion_enabled turns it on" if several else ""))


# --- numamove's own process ----------------------------------------------------------------------


def cap_sys_nice_check(held: bool | None) -> Check:
    """CAP_SYS_NICE: MPOL_MF_MOVE_ALL (shared pages) and other users' processes; None: CapEff unknown."""
    if held is None:
        return Check("capabilities", "CAP_SYS_NICE", Status.UNKNOWN, _NO_CAPEFF)
    if held:
        return Check("capabilities", "CAP_SYS_NICE", Status.OK,
                     "held: numamove may move pages other processes share (--all, MPOL_MF_MOVE_ALL) and "
                     "pages of other users' processes")
    return Check("capabilities", "CAP_SYS_NICE", Status.WARN,
                 "not held: numamove moves only pages of your own processes, and leaves pages other "
                 "processes map (--all needs it); run numamove as root (sudo) or give it the capability")


_NO_CAPEFF = "numamove's /proc/self/status has no CapEff (a captured tree under --root?)"


def pfn_check(cap_sys_admin: bool | None, sees_pfns: bool) -> Check:
    """CAP_SYS_ADMIN: pagemap shows page frame numbers, the fast placement scan; None: CapEff unknown."""
    if sees_pfns:
        return Check("capabilities", "CAP_SYS_ADMIN", Status.OK,
                     "held: pagemap shows page frame numbers, so placement is read with the fast pagemap "
                     "scan")
    if cap_sys_admin is None:
        return Check("capabilities", "CAP_SYS_ADMIN", Status.UNKNOWN,
                     _NO_CAPEFF + "; pagemap hides page frame numbers from numamove")
    if cap_sys_admin:
        return Check("capabilities", "CAP_SYS_ADMIN", Status.WARN,
                     "held, yet pagemap hides page frame numbers: numamove runs in a user namespace (a "
                     "container?) and PFNs need the capability in the initial one; placement is read with "
                     "move_pages(2) queries instead (the same answers, slower on large processes)")
    return Check("capabilities", "CAP_SYS_ADMIN", Status.WARN,
                 "not held: pagemap hides page frame numbers, so placement is read with move_pages(2) "
                 "queries instead of the fast pagemap scan (the same answers, slower on large "
                 "processes); run numamove as root for the fast scan")


def seccomp_check(mode: int | None, filters: int | None, blocked: Sequence[str]) -> Check:
    """numamove's own seccomp state (/proc/self/status Seccomp, Seccomp_filters) and what it blocks."""
    what = _seccomp_words(mode, filters)
    if blocked:
        calls = ", ".join(blocked)
        if mode == 2:
            return Check("seccomp", "filter", Status.FAIL,
                         f"{what} on numamove's process blocks {calls}: numamove cannot query or move pages "
                         "here. Docker's default profile refuses move_pages and migrate_pages, and mbind, "
                         "set_mempolicy and get_mempolicy without CAP_SYS_NICE: run the container with a "
                         "profile that allows them (docker run --security-opt seccomp=PROFILE.json; "
                         "--cap-add SYS_NICE for the mempolicy calls)")
        return Check("seccomp", "filter", Status.FAIL,
                     f"{calls} refused though numamove's process has no seccomp filter ({what}): a security "
                     "module (SELinux, AppArmor) or a kernel without NUMA support?")
    if mode is None:
        return Check("seccomp", "filter", Status.UNKNOWN,
                     "/proc/self/status has no Seccomp field (a kernel without CONFIG_SECCOMP): nothing "
                     "filters numamove's calls")
    if mode == 0:
        return Check("seccomp", "filter", Status.OK, "no seccomp filter on numamove's process")
    return Check("seccomp", "filter", Status.OK,
                 f"{what} on numamove's process, and the NUMA calls get through")


def _seccomp_words(mode: int | None, filters: int | None) -> str:
    if mode is None:
        return "Seccomp unknown"
    count = "" if filters is None else f", {filters} filter{'' if filters == 1 else 's'}"
    return f"a seccomp filter (Seccomp: {mode}{count})" if mode == 2 else \
        f"Seccomp: {mode} ({SECCOMP_MODES.get(mode, 'unknown')}{count})"


def call_checks(results: Mapping[str, int | None], numa_kernel: bool) -> list[Check]:
    """Each NUMA syscall numamove probed on itself: its errno, 0 when it reached the kernel.

    The probes cannot be refused by the kernel itself (a query of our own page,
    our own policy, an invalid mode the kernel answers EINVAL, a migration from
    a node to itself): EPERM or ENOSYS there comes from a filter in front of it.
    None means the probe could not be made.
    """
    checks = []
    for call, err in results.items():
        if err is None:
            checks.append(Check("seccomp", call, Status.UNKNOWN,
                                f"{call}(2) was not tried (numamove knows no syscall numbers for this "
                                "architecture, or has no node of its own to probe with)"))
        elif err == 0:
            checks.append(Check("seccomp", call, Status.OK, f"{call}(2) reaches the kernel"))
        elif err in (errno.EPERM, errno.ENOSYS) and (numa_kernel or err == errno.EPERM):
            name = errno.errorcode.get(err, str(err))
            checks.append(Check("seccomp", call, Status.FAIL,
                                f"blocked (seccomp?): {call}(2) on numamove's own process failed with "
                                f"{name}, which the kernel itself never answers to this probe"))
        elif err == errno.ENOSYS:
            checks.append(Check("seccomp", call, Status.FAIL,
                                f"{call}(2) does not exist here (ENOSYS): a kernel without CONFIG_NUMA"))
        else:
            checks.append(Check("seccomp", call, Status.UNKNOWN,
                                f"{call}(2) failed with {errno.errorcode.get(err, str(err))}, which says "
                                "nothing about a filter"))
    return checks


# --- the target ----------------------------------------------------------------------------------


def target_access_check(pid: int, name: str, readable_errno: int, target_uid: int | None,
                        own_uid: int | None, cap_sys_nice: bool, extra_caps: int = 0) -> Check:
    """Whether numamove may read /proc/PID/pagemap (the ptrace access check), and whose process it is.

    ``extra_caps`` are the capability bits the target holds (CapPrm) that numamove's
    CapEff lacks: without CAP_SYS_PTRACE, the check refuses a process holding more.
    """
    owner = ("" if target_uid is None or target_uid == own_uid
             else f"pid {pid} belongs to uid {target_uid} and numamove runs as uid {own_uid}: ")
    if readable_errno in (errno.EACCES, errno.EPERM):
        if owner:
            cause = "another user's process needs root or CAP_SYS_PTRACE"
        elif extra_caps:
            bits = ", ".join(str(bit) for bit in range(64) if extra_caps >> bit & 1)
            cause = (f"it runs as numamove's uid but holds capabilities numamove lacks (bit {bits} of its "
                     "CapPrm is not in numamove's CapEff), so numamove needs CAP_SYS_PTRACE in its user "
                     "namespace")
        else:
            cause = "another user's process needs root or CAP_SYS_PTRACE"
        return Check("target", "access", Status.FAIL,
                     f"{owner}cannot read /proc/{pid}/pagemap: the ptrace access check refused it ({cause}; "
                     "kernel.yama.ptrace_scope or another user namespace may refuse it too)")
    if readable_errno:
        return Check("target", "access", Status.UNKNOWN,
                     f"reading /proc/{pid}/pagemap failed with {errno.errorcode.get(readable_errno, '?')}")
    if owner and not cap_sys_nice:
        return Check("target", "access", Status.WARN,
                     f"{owner}its pages can be read, but moving them needs CAP_SYS_NICE (run numamove as "
                     "root)")
    return Check("target", "access", Status.OK,
                 f"{owner or f'pid {pid} ({name}) is '}{'readable and movable' if owner else 'yours'}: "
                 f"numamove reads /proc/{pid}/pagemap and may move its pages")


def target_seccomp_check(pid: int, mode: int | None, filters: int | None) -> Check:
    """The target's own seccomp state: informative, since numamove's calls run in numamove's process."""
    words = "no seccomp filter" if mode == 0 else _seccomp_words(mode, filters)
    return Check("target", "seccomp", Status.OK,
                 f"pid {pid} has {words}; a filter of the target does not affect numamove's calls, which "
                 "run in numamove's own process")


def cpuset_check(pid: int, mems_allowed: frozenset[int] | None, cgroup: str | None,
                 effective: frozenset[int] | None, memory_nodes: frozenset[int]) -> Check:
    """The nodes the target's cpuset lets its pages live on: numamove cannot move them elsewhere."""
    if mems_allowed is None:
        return Check("target", "cpuset", Status.UNKNOWN, f"/proc/{pid}/status has no Mems_allowed_list")
    group = "" if cgroup is None else f"; cgroup {cgroup}"
    if cgroup is not None and effective is not None:
        group += f": cpuset.mems.effective {format_nodemask(sorted(effective))}"
    outside = memory_nodes - mems_allowed
    if outside:
        return Check("target", "cpuset", Status.WARN,
                     f"its pages may live on {_nodes(mems_allowed)} only (Mems_allowed_list{group}): "
                     f"{_nodes(outside)} {'is' if len(outside) == 1 else 'are'} outside its cpuset, so moves "
                     "there are refused (EACCES); widen cpuset.mems of its cgroup to allow them")
    return Check("target", "cpuset", Status.OK,
                 f"its pages may live on every memory node, {_nodes(mems_allowed & memory_nodes)} "
                 f"(Mems_allowed_list{group})")


def cgroup_limit_check(cgroup: str | None, limits: Sequence[tuple[str, int | None, int | None]],
                       current: int | None) -> Check:
    """cgroup v2 memory.max and memory.high of the target's group and its ancestors (None: "max").

    ``limits`` holds (group, memory.max, memory.high) from the target's group up.
    """
    if cgroup is None:
        return Check("target", "memory limits", Status.UNKNOWN,
                     "the process is in no cgroup v2 group (/proc/PID/cgroup has no 0:: line): limits "
                     "unknown")
    set_limits = []
    for group, maximum, high in limits:
        for kind, value in (("max", maximum), ("high", high)):
            if value is not None:
                set_limits.append((value, f"memory.{kind} {human_bytes(value)} (cgroup {group})"))
    if not set_limits:
        return Check("target", "memory limits", Status.OK,
                     f"no memory limit (memory.max and memory.high are max up to cgroup {cgroup}): "
                     "reclaim does not push its pages out early")
    tightest, text = min(set_limits)
    use = "" if current is None else f"; memory.current {human_bytes(current)}"
    if current is not None and current >= NEAR_LIMIT * tightest:
        return Check("target", "memory limits", Status.WARN,
                     f"{text}{use}: near its limit, reclaim swaps or demotes its pages, moving them behind "
                     "numamove's back; raise the limit")
    return Check("target", "memory limits", Status.OK, f"{text}{use}: below its limit")


def numa_stat_check(cgroup: str | None, present: bool, memory_on_v2: bool = True) -> Check:
    """memory.numa_stat: per-node memory of the whole group without a page walk."""
    if cgroup is None:
        return Check("target", "memory.numa_stat", Status.UNKNOWN, "no cgroup v2 group")
    if present:
        return Check("target", "memory.numa_stat", Status.OK,
                     f"cgroup {cgroup} has memory.numa_stat: the group's memory per node, without a page "
                     "walk")
    if not memory_on_v2:
        return Check("target", "memory.numa_stat", Status.WARN,
                     "the memory controller is not on the cgroup v2 hierarchy (a v1 or hybrid layout), so "
                     "there is no memory.numa_stat; numamove walks pages instead (booting with "
                     "systemd.unified_cgroup_hierarchy=1 gives it)")
    return Check("target", "memory.numa_stat", Status.WARN,
                 f"cgroup {cgroup} has no memory.numa_stat: the memory controller is not enabled for it "
                 "(add +memory to its parent's cgroup.subtree_control); numamove walks pages instead")


def mempolicy_check(pid: int, policies: Mapping[str, int] | None) -> Check:
    """The target's memory policies, from numa_maps: get_mempolicy(2) answers only for the caller."""
    if policies is None:
        return Check("target", "mempolicy", Status.UNKNOWN,
                     f"/proc/{pid}/numa_maps is unreadable; get_mempolicy(2) answers only for the calling "
                     "process, so another's policy is read from numa_maps")
    shown = ", ".join(f"{policy} ({count} VMA{'' if count == 1 else 's'})"
                      for policy, count in sorted(policies.items(), key=lambda item: -item[1]))
    bound = any(policy.startswith("bind") for policy in policies)
    return Check("target", "mempolicy", Status.OK,
                 f"per VMA, from /proc/{pid}/numa_maps (get_mempolicy(2) answers only for the caller): "
                 f"{shown or 'no VMA'}"
                 + ("; a bind policy puts new pages on its nodes whatever numamove moved" if bound else ""))


# --- trackers ------------------------------------------------------------------------------------


def tracker_check(name: str, usable: bool, why: str, sees: str) -> Check:
    """One registered tracker: usable here, or why not (its own words)."""
    if usable:
        return Check("trackers", name, Status.OK, f"available: it sees {sees}" if sees else "available")
    return Check("trackers", name, Status.WARN, why or "unavailable on this kernel")
