"""`numamove doctor --json` on the test VM's kernel, on a real process, and under a seccomp filter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numamove.trackers

from .conftest import Layout

HELPER = str(Path(__file__).with_name("seccomp_exec.py"))
NUMA_CALLS = ["get_mempolicy", "move_pages", "mbind", "set_mempolicy", "migrate_pages"]


def doctor(*args: str, under_filter: bool = False) -> tuple[int, dict[str, Any], str]:
    command = [sys.executable, "-m", "numamove", "doctor", "--json", *args]
    if under_filter:
        command = [sys.executable, HELPER, *command]
    run = subprocess.run(command, capture_output=True, text=True, timeout=120)
    return run.returncode, json.loads(run.stdout), run.stderr


def checks(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, str]]:
    return {(check["topic"], check["name"]): check for check in document["checks"]}


def test_doctor_on_the_vm_kernel_and_a_real_process(layout: Layout) -> None:
    target = subprocess.Popen(["sleep", "120"])
    try:
        status, document, stderr = doctor(str(target.pid))
    finally:
        target.kill()
        target.wait()
    assert (status, stderr) == (0, ""), stderr
    assert document["kernel"] == os.uname().release
    found = checks(document)
    tiers = found["numa", "memory tiers"]
    assert tiers["status"] == "ok"  # node 2 sits in a lower tier: not a warning
    assert f"node {layout.memory_only} is a lower tier" in tiers["why"]
    balancing = found["numa", "numa_balancing"]
    assert balancing["status"] == "ok" and balancing["why"].startswith("off (0)")
    assert found["capabilities", "CAP_SYS_NICE"]["status"] == "ok"
    admin = found["capabilities", "CAP_SYS_ADMIN"]
    assert admin["status"] == "ok" and "fast pagemap scan" in admin["why"]
    assert found["seccomp", "filter"] == {"topic": "seccomp", "name": "filter", "status": "ok",
                                          "why": "no seccomp filter on numamove's process"}
    for call in NUMA_CALLS:
        assert found["seccomp", call]["status"] == "ok", found["seccomp", call]
    assert set(document["trackers"]) == set(numamove.trackers.names())
    if "idlepage" in document["trackers"]:
        idle = document["trackers"]["idlepage"]
        assert idle["available"] is False and "page_idle" in idle["why"]
    facts = document["target"]
    assert (facts["pid"], facts["name"], facts["readable"]) == (target.pid, "sleep", True)
    assert facts["seccomp"] == 0
    assert facts["mems_allowed"] == sorted(layout.online)
    assert facts["cgroup"]["path"] == "/"
    assert facts["cgroup"]["numa_stat"] is os.path.exists("/sys/fs/cgroup/memory.numa_stat")
    assert found["target", "access"]["status"] == "ok"
    assert found["target", "cpuset"]["status"] == "ok"


def test_a_seccomp_filter_that_blocks_the_numa_calls_is_named() -> None:
    status, document, stderr = doctor(under_filter=True)
    found = checks(document)
    seccomp = found["seccomp", "filter"]
    assert seccomp["status"] == "fail"
    assert seccomp["why"].startswith("a seccomp filter (Seccomp: 2, 1 filter) on numamove's process blocks "
                                     "get_mempolicy, move_pages, mbind, set_mempolicy, migrate_pages: ")
    for call in NUMA_CALLS:
        assert found["seccomp", call]["status"] == "fail"
        assert found["seccomp", call]["why"].startswith(f"blocked (seccomp?): {call}(2) on numamove's own "
                                                        "process failed with EPERM")
    assert status == 1
    assert stderr == ("numamove: error: 6 checks failed: seccomp filter, seccomp get_mempolicy, seccomp "
                      "move_pages, seccomp mbind, seccomp set_mempolicy, seccomp migrate_pages\n")


def test_a_targets_filter_is_reported_and_does_not_block_numamove() -> None:
    target = subprocess.Popen([sys.executable, HELPER, "sleep", "120"])
    try:
        for _ in range(100):  # until the helper has exec'd sleep under its filter
            with open(f"/proc/{target.pid}/comm") as comm:
                if comm.read().strip() == "sleep":
                    break
            time.sleep(0.05)
        status, document, stderr = doctor(str(target.pid))
    finally:
        target.kill()
        target.wait()
    assert (status, stderr) == (0, "")
    found = checks(document)
    assert document["target"]["seccomp"] == 2 and document["target"]["seccomp_filters"] == 1
    assert found["target", "seccomp"] == {
        "topic": "target", "name": "seccomp", "status": "ok",
        "why": f"pid {target.pid} has a seccomp filter (Seccomp: 2, 1 filter); a filter of the target does "
               "not affect numamove's calls, which run in numamove's own process"}
    assert found["seccomp", "filter"]["status"] == "ok"
