"""``numamove doctor``: each check's verdict and plain-words why, on fixture trees written by the test.

The kernel is a ``Kernel(root=tmp_path)`` whose /proc and /sys files the test writes, with a fake
syscall layer that answers the probes as a kernel would (or as a seccomp filter in front of it would).
"""

from __future__ import annotations

import ctypes
import errno
import json
import shutil
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest
from click.testing import CliRunner

from numamove.cli import main
from numamove.doctor import Diagnosis, Status, checks, diagnose
from numamove.doctor.facts import cgroup_facts, pagemap_errno
from numamove.doctor.probe import probe_calls
from numamove.errors import NoSuchProcessError
from numamove.kernel import Kernel
from numamove.targets import NoUserMemoryError
from numamove.trackers.base import Region, TrackerInfo, TrackerRegistry

from .conftest import FIXTURES

CAP_SYS_ADMIN, CAP_SYS_NICE = 1 << 21, 1 << 23
PID = 4242


class ProbedSyscalls:
    """Answers the doctor's probes as Linux does, or fails the calls in ``blocked`` with ``err``."""

    def __init__(self, blocked: Sequence[str] = (), err: int = errno.EPERM) -> None:
        self.blocked = set(blocked)
        self.err = err
        self.seen: dict[str, tuple[int, ...]] = {}

    def _call(self, name: str, args: tuple[int, ...], result: int) -> int:
        self.seen[name] = args
        return -self.err if name in self.blocked else result

    def move_pages(self, pid: int, count: int, pages: int, nodes: int, status: int, flags: int) -> int:
        if "move_pages" not in self.blocked:
            (ctypes.c_int32 * count).from_address(status)[0] = 1
        return self._call("move_pages", (pid, count, nodes, flags), 0)

    def migrate_pages(self, pid: int, maxnode: int, old_nodes: int, new_nodes: int) -> int:
        words = (maxnode - 1) // 64
        old = list((ctypes.c_ulong * words).from_address(old_nodes))
        new = list((ctypes.c_ulong * words).from_address(new_nodes))
        return self._call("migrate_pages", (pid, old[0], new[0]), 0)

    def mbind(self, addr: int, length: int, mode: int, nodemask: int, maxnode: int, flags: int) -> int:
        return self._call("mbind", (mode, flags), -errno.EINVAL if mode >= 7 else 0)

    def get_mempolicy(self, mode: int, nodemask: int, maxnode: int, addr: int, flags: int) -> int:
        return self._call("get_mempolicy", (flags,), 0)

    def set_mempolicy(self, mode: int, nodemask: int, maxnode: int) -> int:
        return self._call("set_mempolicy", (mode,), -errno.EINVAL if mode >= 7 else 0)


def write(root: Path, files: Mapping[str, str]) -> None:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def status(cap_eff: int = CAP_SYS_ADMIN | CAP_SYS_NICE, seccomp: int = 0, filters: int = 0, uid: int = 0,
           mems: str = "0-2", name: str = "numamove") -> str:
    return (f"Name:\t{name}\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\nCapEff:\t{cap_eff:016x}\n"
            f"Seccomp:\t{seccomp}\nSeccomp_filters:\t{filters}\nMems_allowed_list:\t{mems}\n")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """The test VM's captured sysfs (nodes 0-1 with CPUs, node 2 memory-only in a lower tier), plus /proc."""
    shutil.copytree(FIXTURES / "qemu-3node-hmat", tmp_path, dirs_exist_ok=True)
    write(tmp_path, {"proc/sys/kernel/osrelease": "6.12.0-test\n", "proc/self/status": status(),
                     "sys/kernel/mm/numa/demotion_enabled": "false\n",
                     "proc/sys/kernel/numa_balancing": "0\n"})
    return tmp_path


class Works:
    info: ClassVar[TrackerInfo] = TrackerInfo("works", "pages written per interval", "reads", "a read")

    def __init__(self, kernel: Kernel, pids: Sequence[int], options: Mapping[str, str]) -> None:
        pass

    @staticmethod
    def unavailable(kernel: Kernel) -> str | None:
        return None

    def start(self) -> None:
        pass

    def sample(self) -> Iterator[Region]:
        yield from ()

    def stop(self) -> None:
        pass


class NoPageIdle(Works):
    info: ClassVar[TrackerInfo] = TrackerInfo("pageidle", "idle pages", "writes", "a bitmap read")

    @staticmethod
    def unavailable(kernel: Kernel) -> str | None:
        return "this kernel has no /sys/kernel/mm/page_idle/bitmap (built without CONFIG_IDLE_PAGE_TRACKING)"


def run(root: Path, pid: int | None = None, syscalls: ProbedSyscalls | None = None, pfns: bool = True,
        registry: TrackerRegistry | None = None) -> Diagnosis:
    kernel = Kernel(root, syscalls=syscalls or ProbedSyscalls())
    return diagnose(pid, kernel, registry=registry or TrackerRegistry(), sees_pfns=lambda _kernel: pfns)


def by_name(found: Diagnosis, topic: str, name: str) -> checks.Check:
    return next(check for check in found.checks if (check.topic, check.name) == (topic, name))


# --- NUMA ------------------------------------------------------------------------------------------


def test_the_test_vm_layout_is_all_ok_and_names_node_2_as_the_lower_tier(root: Path) -> None:
    found = run(root)
    assert found.kernel == "6.12.0-test"
    nodes = by_name(found, "numa", "nodes")
    assert nodes.status is Status.OK
    assert nodes.why.startswith("nodes 0-2 online (3 possible); CPUs on nodes 0-1; memory only")
    assert "(CXL or PMEM expanders, no CPUs): node 2" in nodes.why
    tiers = by_name(found, "numa", "memory tiers")
    assert tiers.status is Status.OK
    assert tiers.why.startswith("nodes 0-1 in memory_tier4; node 2 in memory_tier72: node 2 is a lower tier")
    assert not found.failed


def test_every_node_in_one_tier_warns(root: Path) -> None:
    shutil.rmtree(root / "sys/devices/virtual/memory_tiering/memory_tier72")
    write(root, {"sys/devices/virtual/memory_tiering/memory_tier4/nodelist": "0-2\n"})
    tiers = by_name(run(root), "numa", "memory tiers")
    assert tiers.status is Status.WARN
    assert tiers.why.startswith("all nodes are in one memory tier: tiering has nothing to promote to "
                                "(nodes 0-2 in memory_tier4)")


def test_a_kernel_without_tiers_is_unknown_not_a_warning(root: Path) -> None:
    shutil.rmtree(root / "sys/devices/virtual/memory_tiering")
    tiers = by_name(run(root), "numa", "memory tiers")
    assert tiers.status is Status.UNKNOWN and "Linux before 6.1" in tiers.why


def test_one_node_with_memory_has_nowhere_to_move_pages(root: Path) -> None:
    write(root, {"sys/devices/system/node/has_memory": "0\n"})
    nodes = by_name(run(root), "numa", "nodes")
    assert nodes.status is Status.WARN and "nowhere to move pages to" in nodes.why


@pytest.mark.parametrize(("mode", "status", "words"), [
    ("0", Status.OK, ["off (0)", "sysctl kernel.numa_balancing=1"]),
    ("1", Status.WARN, ["1 (NUMA balancing)", "may move pages numamove placed back",
                        "sysctl kernel.numa_balancing=0"]),
    ("2", Status.WARN, ["2 (memory tiering)", "promotes hot pages from lower tiers"]),
    ("3", Status.WARN, ["3 (NUMA balancing and memory tiering)", "AutoNUMA", "promotes"]),
])
def test_numa_balancing_modes_say_what_they_do_to_numamoves_placement(root: Path, mode: str, status: Status,
                                                                      words: list[str]) -> None:
    write(root, {"proc/sys/kernel/numa_balancing": mode + "\n"})
    check = by_name(run(root), "numa", "numa_balancing")
    assert check.status is status
    for word in words:
        assert word in check.why


def test_numa_balancing_absent_is_unknown(root: Path) -> None:
    (root / "proc/sys/kernel/numa_balancing").unlink()
    check = by_name(run(root), "numa", "numa_balancing")
    assert check.status is Status.UNKNOWN and "CONFIG_NUMA_BALANCING" in check.why


def test_demotion_on_with_a_lower_tier_warns_and_says_how_to_turn_it_off(root: Path) -> None:
    write(root, {"sys/kernel/mm/numa/demotion_enabled": "true\n"})
    check = by_name(run(root), "numa", "demotion")
    assert check.status is Status.WARN
    assert "pages numamove put on a top-tier node may be demoted" in check.why
    assert "echo false > /sys/kernel/mm/numa/demotion_enabled" in check.why
    write(root, {"sys/kernel/mm/numa/demotion_enabled": "false\n"})
    off = by_name(run(root), "numa", "demotion")
    assert off.status is Status.OK and "echo true > /sys/kernel/mm/numa/demotion_enabled" in off.why


# --- capabilities ----------------------------------------------------------------------------------


def test_without_capabilities_numamove_falls_back_and_says_how(root: Path) -> None:
    write(root, {"proc/self/status": status(cap_eff=0)})
    found = run(root, pfns=False)
    nice = by_name(found, "capabilities", "CAP_SYS_NICE")
    admin = by_name(found, "capabilities", "CAP_SYS_ADMIN")
    assert nice.status is Status.WARN and "--all needs it" in nice.why and "root" in nice.why
    assert admin.status is Status.WARN
    assert "move_pages(2) queries instead of the fast pagemap scan" in admin.why


def test_cap_sys_admin_without_pfns_is_a_user_namespace(root: Path) -> None:
    admin = by_name(run(root, pfns=False), "capabilities", "CAP_SYS_ADMIN")
    assert admin.status is Status.WARN and "user namespace (a container?)" in admin.why
    assert by_name(run(root, pfns=True), "capabilities", "CAP_SYS_ADMIN").status is Status.OK


# --- seccomp ---------------------------------------------------------------------------------------


ALL_CALLS = ["get_mempolicy", "move_pages", "mbind", "set_mempolicy", "migrate_pages"]


def test_the_probes_change_nothing_and_count_einval_as_reaching_the_kernel(root: Path) -> None:
    fake = ProbedSyscalls()
    results = probe_calls(Kernel(root, syscalls=fake))
    assert results == dict.fromkeys(ALL_CALLS, 0)
    pid, count, nodes, _flags = fake.seen["move_pages"]
    assert (pid, count, nodes) == (0, 1, 0)  # our own page, a query: no target nodes
    assert fake.seen["mbind"][0] == fake.seen["set_mempolicy"][0] == 0x1000  # no such mode: EINVAL
    assert fake.seen["migrate_pages"] == (0, 1, 1)  # ourselves, node 0 to node 0: nothing to move


def test_a_seccomp_filter_that_blocks_the_numa_calls_fails_by_name(root: Path) -> None:
    write(root, {"proc/self/status": status(seccomp=2, filters=1)})
    found = run(root, syscalls=ProbedSyscalls(ALL_CALLS))
    seccomp = by_name(found, "seccomp", "filter")
    assert seccomp.status is Status.FAIL
    assert seccomp.why.startswith("a seccomp filter (Seccomp: 2, 1 filter) on numamove's process blocks "
                                  "get_mempolicy, move_pages, mbind, set_mempolicy, migrate_pages")
    assert "docker run --security-opt seccomp=" in seccomp.why
    for call in ALL_CALLS:
        check = by_name(found, "seccomp", call)
        assert check.status is Status.FAIL
        assert check.why.startswith("blocked (seccomp?)") and "EPERM" in check.why
    assert len(found.failed) == 6


def test_enosys_from_a_filter_is_blocked_too_and_one_call_alone_is_named(root: Path) -> None:
    write(root, {"proc/self/status": status(seccomp=2, filters=3)})
    found = run(root, syscalls=ProbedSyscalls(["move_pages"], err=errno.ENOSYS))
    assert by_name(found, "seccomp", "filter").why.startswith("a seccomp filter (Seccomp: 2, 3 filters) on "
                                                              "numamove's process blocks move_pages:")
    assert "ENOSYS" in by_name(found, "seccomp", "move_pages").why
    assert by_name(found, "seccomp", "mbind").status is Status.OK


def test_eperm_without_a_filter_points_at_a_security_module(root: Path) -> None:
    seccomp = by_name(run(root, syscalls=ProbedSyscalls(["get_mempolicy"])), "seccomp", "filter")
    assert seccomp.status is Status.FAIL and "no seccomp filter" in seccomp.why and "SELinux" in seccomp.why


def test_a_filter_that_lets_the_calls_through_is_ok(root: Path) -> None:
    write(root, {"proc/self/status": status(seccomp=2, filters=1)})
    seccomp = by_name(run(root), "seccomp", "filter")
    assert seccomp.status is Status.OK and "the NUMA calls get through" in seccomp.why


def test_enosys_on_a_kernel_without_numa_is_not_called_seccomp() -> None:
    [check] = checks.call_checks({"move_pages": errno.ENOSYS}, numa_kernel=False)
    assert check.status is Status.FAIL and "CONFIG_NUMA" in check.why and "seccomp" not in check.why


# --- trackers --------------------------------------------------------------------------------------


def test_trackers_come_from_the_registry_with_their_reasons(root: Path) -> None:
    registry = TrackerRegistry()
    registry.register("works", Works)
    registry.register("pageidle", NoPageIdle)
    found = run(root, registry=registry)
    document = found.to_dict()
    assert document["trackers"] == {
        "pageidle": {"available": False, "why": NoPageIdle.unavailable(Kernel(root)) or ""},
        "works": {"available": True, "why": ""},
    }
    assert by_name(found, "trackers", "works").why == "available: it sees pages written per interval"
    idle = by_name(found, "trackers", "pageidle")
    assert idle.status is Status.WARN and "CONFIG_IDLE_PAGE_TRACKING" in idle.why


# --- the target ------------------------------------------------------------------------------------


def target_tree(root: Path, pid: int = PID, **fields: Any) -> None:
    group = "sys/fs/cgroup/app.slice/db.service"
    write(root, {
        f"proc/{pid}/stat": f"{pid} (db) S 1 {pid} {pid} 0 -1 4194560 0 0 0 0\n",
        f"proc/{pid}/status": status(**{"name": "db", "cap_eff": 0, "mems": "0-1", **fields}),
        f"proc/{pid}/cgroup": "0::/app.slice/db.service\n",
        f"proc/{pid}/pagemap": "\0" * 8,
        f"proc/{pid}/numa_maps": ("55d0c0000000 default file=/usr/bin/db mapped=10 N0=10 "
                                  "kernelpagesize_kB=4\n"
                                  "7f0000000000 bind:1 anon=5 dirty=5 N1=5 kernelpagesize_kB=4\n"
                                  "7f0000200000 bind:1 anon=5 dirty=5 N1=5 kernelpagesize_kB=4\n"),
        "sys/fs/cgroup/cgroup.controllers": "cpuset cpu io memory pids\n",
        "sys/fs/cgroup/cpuset.mems.effective": "0-2\n",
        "sys/fs/cgroup/app.slice/memory.max": "1073741824\n",
        "sys/fs/cgroup/app.slice/memory.high": "max\n",
        f"{group}/cpuset.mems.effective": "0-1\n",
        f"{group}/memory.max": "max\n",
        f"{group}/memory.high": "536870912\n",
        f"{group}/memory.current": "104857600\n",
        f"{group}/memory.numa_stat": "anon N0=0 N1=104857600\n",
    })


def test_a_target_in_a_cpuset_and_a_limited_cgroup(root: Path) -> None:
    target_tree(root)
    found = run(root, PID)
    access = by_name(found, "target", "access")
    assert access.status is Status.OK and f"pid {PID} (db) is yours" in access.why
    cpuset = by_name(found, "target", "cpuset")
    assert cpuset.status is Status.WARN
    assert cpuset.why == ("its pages may live on nodes 0-1 only (Mems_allowed_list; cgroup "
                          "/app.slice/db.service: cpuset.mems.effective 0-1): node 2 is outside its cpuset, "
                          "so moves there are refused (EACCES); widen cpuset.mems of its cgroup to allow "
                          "them")
    limits = by_name(found, "target", "memory limits")
    assert limits.status is Status.OK
    assert limits.why.startswith("memory.high 512.0 MiB (cgroup /app.slice/db.service); "
                                 "memory.current 100.0 MiB")
    assert by_name(found, "target", "memory.numa_stat").status is Status.OK
    policy = by_name(found, "target", "mempolicy")
    assert "bind:1 (2 VMAs), default (1 VMA)" in policy.why and "get_mempolicy(2) answers only" in policy.why
    seccomp = by_name(found, "target", "seccomp")
    assert seccomp.status is Status.OK and "does not affect numamove's calls" in seccomp.why
    assert found.to_dict()["target"] == {
        "pid": PID, "name": "db", "uid": 0, "readable": True, "seccomp": 0, "seccomp_filters": 0,
        "mems_allowed": [0, 1],
        "cgroup": {"path": "/app.slice/db.service", "cpuset_mems_effective": [0, 1], "memory_max": 1 << 30,
                   "memory_high": 1 << 29, "memory_current": 100 << 20, "numa_stat": True},
        "mempolicies": {"default": 1, "bind:1": 2},
    }


def test_a_target_near_its_limit_without_numa_stat(root: Path) -> None:
    target_tree(root)
    group = root / "sys/fs/cgroup/app.slice/db.service"
    (group / "memory.current").write_text(str(500 << 20))
    (group / "memory.numa_stat").unlink()
    found = run(root, PID)
    limits = by_name(found, "target", "memory limits")
    assert limits.status is Status.WARN and "near its limit" in limits.why
    stat = by_name(found, "target", "memory.numa_stat")
    assert stat.status is Status.WARN and "add +memory to its parent's cgroup.subtree_control" in stat.why


def test_a_hybrid_cgroup_layout_has_no_memory_controller_on_v2(root: Path) -> None:
    target_tree(root)
    (root / "sys/fs/cgroup/cgroup.controllers").write_text("")
    (root / "sys/fs/cgroup/app.slice/db.service/memory.numa_stat").unlink()
    stat = by_name(run(root, PID), "target", "memory.numa_stat")
    assert "not on the cgroup v2 hierarchy" in stat.why


def test_the_unified_mount_of_a_hybrid_layout_is_found(root: Path) -> None:
    write(root, {f"proc/{PID}/cgroup": "4:memory:/x\n0::/a\n",
                 "sys/fs/cgroup/unified/cgroup.controllers": "\n",
                 "sys/fs/cgroup/unified/a/memory.max": "4096\n"})
    facts = cgroup_facts(Kernel(root), PID)
    assert facts is not None and facts.group == "/a" and facts.limits == (("/a", 4096, None),)


def test_another_users_process_numamove_may_not_read(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target_tree(root, uid=1000)
    write(root, {"proc/self/status": status(cap_eff=0, uid=1000 + 1)})

    def refuse(self: Kernel, relative: str) -> Any:
        raise PermissionError(errno.EACCES, "Permission denied", relative)

    monkeypatch.setattr(Kernel, "open", refuse)
    kernel = Kernel(root, syscalls=ProbedSyscalls())
    assert pagemap_errno(kernel, PID) == errno.EACCES
    found = diagnose(PID, kernel, registry=TrackerRegistry(), sees_pfns=lambda _kernel: False,
                     probe=lambda _kernel: dict.fromkeys(ALL_CALLS, 0))
    access = by_name(found, "target", "access")
    assert access.status is Status.FAIL
    assert access.why.startswith(f"pid {PID} belongs to uid 1000 and numamove runs as uid 1001: cannot read "
                                 f"/proc/{PID}/pagemap: the ptrace access check refused it")


def test_another_users_readable_process_without_cap_sys_nice_warns() -> None:
    check = checks.target_access_check(7, "x", 0, 1000, 1001, cap_sys_nice=False)
    assert check.status is Status.WARN and "moving them needs CAP_SYS_NICE" in check.why


def test_a_gone_pid_and_a_kernel_thread_are_refused(root: Path) -> None:
    with pytest.raises(NoSuchProcessError, match="no such process: pid 9999"):
        run(root, 9999)
    write(root, {"proc/2/stat": "2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0\n"})
    with pytest.raises(NoUserMemoryError, match=r"pid 2 \(kthreadd\) is a kernel thread"):
        run(root, 2)


# --- the command -----------------------------------------------------------------------------------


@pytest.fixture
def probes(monkeypatch: pytest.MonkeyPatch) -> dict[str, int | None]:
    """The command's probes, answered by the test instead of the host's kernel."""
    answers: dict[str, int | None] = dict.fromkeys(ALL_CALLS, 0)
    monkeypatch.setattr("numamove.doctor.probe.probe_calls", lambda _kernel: dict(answers))
    monkeypatch.setattr("numamove.scan.probes.sees_pfns", lambda _kernel: True)
    return answers


def test_the_command_prints_topics_and_exits_0_on_warnings(root: Path, probes: dict[str, int | None]) -> None:
    write(root, {"proc/sys/kernel/numa_balancing": "1\n"})
    target_tree(root)
    result = CliRunner().invoke(main, ["--root", str(root), "doctor", str(PID)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"kernel 6.12.0-test; target pid {PID} (db)"
    for header in ("NUMA:", "numamove's capabilities:", "seccomp (numamove's process):", "target:"):
        assert header in lines
    assert any(line.startswith("  warn  numa_balancing") for line in lines)
    assert any(line.startswith("  ok    move_pages") for line in lines)


def test_the_command_exits_1_naming_the_failed_checks(root: Path, probes: dict[str, int | None]) -> None:
    probes["move_pages"] = errno.EPERM
    result = CliRunner().invoke(main, ["--root", str(root), "doctor", "--json"])
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert set(document) == {"kernel", "checks", "trackers", "target"} and document["target"] is None
    assert {"topic": "seccomp", "name": "move_pages", "status": "fail",
            "why": "blocked (seccomp?): move_pages(2) on numamove's own process failed with EPERM, which the "
                   "kernel itself never answers to this probe"} in document["checks"]
    assert result.stderr == "numamove: error: 2 checks failed: seccomp filter, seccomp move_pages\n"


def test_bad_targets_are_one_line_errors(root: Path, probes: dict[str, int | None]) -> None:
    runner = CliRunner()
    gone = runner.invoke(main, ["--root", str(root), "doctor", "9999"])
    assert (gone.exit_code, gone.stderr) == (1, "numamove: error: no such process: pid 9999\n")
    write(root, {"proc/2/stat": "2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0\n", "proc/2/comm": "kthreadd\n"})
    kthread = runner.invoke(main, ["--root", str(root), "doctor", "2"])
    assert kthread.exit_code == 1 and kthread.stderr.count("\n") == 1 and "kernel thread" in kthread.stderr
    for pid, name in ((11, "db"), (12, "db")):
        write(root, {f"proc/{pid}/stat": f"{pid} ({name}) S 1 1 1 0 -1 0 0 0 0 0\n",
                     f"proc/{pid}/comm": name})
    several = runner.invoke(main, ["--root", str(root), "doctor", "name:^db$"])
    assert several.exit_code == 2
    assert several.stderr == ("numamove: error: 'name:^db$' selects 2 processes (11 db, 12 db): doctor "
                              "looks at one; name it by pid\n")


def test_a_captured_tree_without_proc_self_says_unknown(probes: dict[str, int | None]) -> None:
    result = CliRunner().invoke(main, ["--root", str(FIXTURES / "qemu-3node-hmat"), "doctor"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "kernel unknown"
    unknown = ("  ?     CAP_SYS_NICE    numamove's /proc/self/status has no CapEff "
               "(a captured tree under --root?)")
    assert unknown in lines


def test_a_bind_policy_is_explained_only_when_there_is_one() -> None:
    assert "a bind policy" not in checks.mempolicy_check(7, {"default": 3}).why
    assert checks.mempolicy_check(7, {"default": 3, "bind:2": 1}).why.endswith(
        "default (3 VMAs), bind:2 (1 VMA); a bind policy puts new pages on its nodes whatever numamove moved")


def test_an_unknown_architecture_is_not_probed_and_not_called_blocked(root: Path) -> None:
    from numamove.kernel.syscalls import LinuxSyscalls

    kernel = Kernel(root, syscalls=LinuxSyscalls(machine="sparc64"))
    assert probe_calls(kernel) == dict.fromkeys(ALL_CALLS)
    [check] = checks.call_checks({"mbind": None}, numa_kernel=True)
    assert check.status is Status.UNKNOWN and "no syscall numbers for this architecture" in check.why


def test_a_process_of_our_uid_with_more_capabilities_names_them() -> None:
    check = checks.target_access_check(1, "init", errno.EPERM, 0, 0, True, extra_caps=1 << 24)
    assert check.status is Status.FAIL
    assert "holds capabilities numamove lacks (bit 24 of its CapPrm is not in numamove's CapEff)" in check.why
