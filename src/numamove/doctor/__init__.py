"""``numamove doctor`` as a library: what works on this kernel and for a process, and why not.

:func:`diagnose` looks at the NUMA layout (nodes, memory tiers, numa_balancing,
demotion), numamove's own process (CAP_SYS_NICE, CAP_SYS_ADMIN and whether
pagemap shows PFNs, a seccomp filter and which NUMA syscalls it blocks), the
trackers of a registry (``available()``), and optionally a target process (ptrace
access to its pagemap, its seccomp state, cpuset, cgroup v2 memory limits,
memory.numa_stat, its memory policies from numa_maps). Every finding is a
:class:`Check` with a status and a sentence a person can act on.

- :mod:`.checks`: the verdicts, pure (facts in, checks out);
- :mod:`.facts`: the kernel reads, through a Kernel;
- :mod:`.probe`: the syscall probes on numamove's own process, through numamove.move.

Kernel interfaces: those of :mod:`.facts`, :mod:`.probe`, :func:`numamove.topology.read_topology`
and :func:`numamove.scan.probes.sees_pfns`. Nothing here prints or exits.
May import: :mod:`numamove.kernel`, :mod:`numamove.topology`, :mod:`numamove.scan`,
:mod:`numamove.move` (pages and mempolicy: the probes), :mod:`numamove.trackers`,
:mod:`numamove.targets`, :mod:`numamove.procfs`.
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from numamove.doctor import checks as verdict
from numamove.doctor.checks import Check, Status
from numamove.doctor.facts import (
    CAP_SYS_ADMIN,
    cgroup_facts,
    int_field,
    kernel_release,
    mempolicies,
    pagemap_errno,
    status_fields,
)
from numamove.errors import NoSuchProcessError
from numamove.kernel import CAP_SYS_NICE, DEFAULT, Kernel, explain, takes_kernel_or_default
from numamove.nodemask import parse_cpulist
from numamove.trackers.base import REGISTRY, Availability, TrackerRegistry

__all__ = ["Check", "Diagnosis", "Status", "diagnose"]


@dataclass(frozen=True)
class Diagnosis:
    """What :func:`diagnose` found: the checks in topic order, the trackers, the target's facts."""

    kernel: str | None
    checks: tuple[Check, ...]
    trackers: Mapping[str, Availability]
    target: Mapping[str, Any] | None = field(default=None)

    @property
    def failed(self) -> list[Check]:
        return [check for check in self.checks if check.status is Status.FAIL]

    def to_dict(self) -> dict[str, Any]:
        """The JSON of ``numamove doctor --json``."""
        return {"kernel": self.kernel, "checks": [check.to_dict() for check in self.checks],
                "trackers": {name: {"available": found.usable, "why": found.why}
                             for name, found in self.trackers.items()},
                "target": None if self.target is None else dict(self.target)}


@takes_kernel_or_default
def diagnose(pid: int | None = None, kernel: Kernel = DEFAULT, *, registry: TrackerRegistry = REGISTRY,
             probe: Callable[[Kernel], Mapping[str, int | None]] | None = None,
             sees_pfns: Callable[[Kernel], bool] | None = None) -> Diagnosis:
    """Check this kernel, numamove's own process, the trackers of ``registry`` and process ``pid``.

    ``probe`` (the NUMA syscall probes, :func:`numamove.doctor.probe.probe_calls`)
    and ``sees_pfns`` (:func:`numamove.scan.probes.sees_pfns`) default to the
    real ones; tests pass their own. A ``pid`` that is gone raises
    NoSuchProcessError; a kernel thread or zombie, NoUserMemoryError.
    """
    from numamove.topology import read_topology

    topology = read_topology(kernel)
    online = frozenset(node.id for node in topology.nodes)
    memory_nodes = frozenset(node.id for node in topology.nodes if node.has_memory)
    cpu_nodes = frozenset(node.id for node in topology.nodes if node.has_cpu)
    tiers = ({node.id: node.tier for node in topology.nodes if node.tier is not None}
             if kernel.exists("sys/devices/virtual/memory_tiering") else None)
    found = [*verdict.node_checks(online, kernel.possible_nodes(), cpu_nodes, memory_nodes),
             verdict.tier_check(tiers, memory_nodes),
             verdict.balancing_check(topology.numa_balancing),
             verdict.demotion_check(topology.demotion_enabled, tiers)]

    own = status_fields(kernel, 0)
    capabilities = int_field(own, "CapEff", 16)
    effective = capabilities or 0
    if sees_pfns is None:
        from numamove.scan.probes import sees_pfns as real_sees_pfns

        sees_pfns = real_sees_pfns
    def held(bit: int) -> bool | None:
        return None if capabilities is None else bool(effective >> bit & 1)

    found += [verdict.cap_sys_nice_check(held(CAP_SYS_NICE)),
              verdict.pfn_check(held(CAP_SYS_ADMIN), sees_pfns(kernel))]

    if probe is None:
        from numamove.doctor.probe import probe_calls

        probe = probe_calls
    calls = probe(kernel)
    blocked = [call for call, check in zip(calls, verdict.call_checks(calls, True), strict=True)
               if check.status is Status.FAIL]
    numa_kernel = kernel.exists("sys/devices/system/node")
    found += [verdict.seccomp_check(int_field(own, "Seccomp"), int_field(own, "Seccomp_filters"), blocked),
              *verdict.call_checks(calls, numa_kernel)]

    availability = registry.available(kernel)
    found += [verdict.tracker_check(name, usable, why, registry.get(name).info.sees)
              for name, (usable, why) in availability.items()]

    target = None
    if pid is not None:
        target_checks, target = _target(kernel, pid, own, effective, memory_nodes)
        found += target_checks
    return Diagnosis(kernel_release(kernel), tuple(found), availability, target)


def _target(kernel: Kernel, pid: int, own: dict[str, str], effective: int,
            memory_nodes: frozenset[int]) -> tuple[list[Check], dict[str, Any]]:
    from numamove.targets import NoUserMemoryError, no_user_memory

    if not kernel.exists(f"proc/{pid}/stat"):
        raise NoSuchProcessError(errno.ESRCH, explain.no_such_process(pid), "")
    reason = no_user_memory(pid, kernel)
    if reason:
        raise NoUserMemoryError(reason)
    fields = status_fields(kernel, pid)
    name = fields.get("Name", "?")
    readable = pagemap_errno(kernel, pid)
    mems = fields.get("Mems_allowed_list")
    allowed = frozenset(parse_cpulist(mems)) if mems is not None else None
    group = cgroup_facts(kernel, pid)
    policies = mempolicies(kernel, pid)
    seccomp, filters = int_field(fields, "Seccomp"), int_field(fields, "Seccomp_filters")
    checks = [
        verdict.target_access_check(pid, name, readable, int_field(fields, "Uid"), int_field(own, "Uid"),
                                    bool(effective >> CAP_SYS_NICE & 1),
                                    (int_field(fields, "CapPrm", 16) or 0) & ~effective),
        verdict.target_seccomp_check(pid, seccomp, filters),
        verdict.cpuset_check(pid, allowed, None if group is None else group.group,
                             None if group is None else group.cpuset_mems, memory_nodes),
        verdict.cgroup_limit_check(None if group is None else group.group,
                                   () if group is None else group.limits,
                                   None if group is None else group.current),
        verdict.numa_stat_check(None if group is None else group.group, group is not None and group.numa_stat,
                                group is None or group.memory_on_v2),
        verdict.mempolicy_check(pid, policies),
    ]
    facts = {"pid": pid, "name": name, "uid": int_field(fields, "Uid"), "readable": readable == 0,
             "seccomp": seccomp, "seccomp_filters": filters,
             "mems_allowed": None if allowed is None else sorted(allowed),
             "cgroup": None if group is None else group.to_dict(),
             "mempolicies": None if policies is None else dict(policies)}
    return checks, facts
