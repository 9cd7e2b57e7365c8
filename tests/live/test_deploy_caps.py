"""The systemd unit's capabilities are enough, and each is needed: numamove run as root with only
deploy/numamove.service's CapabilityBoundingSet (setpriv drops the rest before exec, as systemd
does), on a process of another user (uid 65534), the way the daemon meets its targets."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import Layout

UNIT = Path(__file__).resolve().parents[2] / "deploy" / "numamove.service"
TARGET = ("import sys, time\n"
          "block = bytearray(8 << 20)\n"
          "block[::4096] = b'\\1' * (len(block) // 4096)\n"
          "print('ready', flush=True)\n"
          "time.sleep(600)\n")


def unit_capabilities() -> list[str]:
    for line in UNIT.read_text().splitlines():
        if line.startswith("CapabilityBoundingSet="):
            return [name.removeprefix("CAP_").lower() for name in line.partition("=")[2].split()]
    raise AssertionError("the unit sets no CapabilityBoundingSet")


def numamove(capabilities: list[str], *arguments: str) -> subprocess.CompletedProcess[str]:
    """numamove as root, with only ``capabilities`` left in its bounding set (so in its permitted
    and effective sets after exec)."""
    keep = ",".join(["-all", *(f"+{name}" for name in capabilities)])
    return subprocess.run(["setpriv", f"--bounding-set={keep}", sys.executable, "-m", "numamove",
                           *arguments], capture_output=True, text=True, timeout=120, check=False)


def answer(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture
def other_user() -> Iterator[int]:
    """A process of uid 65534 with 8 MiB of written anonymous memory."""
    child = subprocess.Popen(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                              "/usr/bin/python3", "-c", TARGET], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        with open(f"/proc/{child.pid}/status") as status:
            assert any(line.split()[1:2] == ["65534"] for line in status if line.startswith("Uid:"))
        yield child.pid
    finally:
        child.kill()
        child.wait()


def test_the_units_capabilities_read_move_and_track_another_users_pages(
        other_user: int, layout: Layout, tmp_path: Path) -> None:
    caps = unit_capabilities()
    assert set(caps) == {"sys_nice", "sys_admin", "sys_ptrace", "dac_read_search", "dac_override"}
    before = answer(numamove(caps, "where", str(other_user), "--pages", "--json"))
    assert before["method"] == "pagemap"  # page frame numbers: CAP_SYS_ADMIN
    counts = {int(node): pages for node, pages in before["pages_by_node"].items()}
    target = layout.memory_only  # its pages are on the node of the CPU it ran on
    moved = numamove(caps, "move", str(other_user), "--to", str(target), "--all", "--json")
    assert moved.returncode == 0, moved.stderr
    after = answer(numamove(caps, "where", str(other_user), "--pages", "--json"))
    placed = {int(node): pages for node, pages in after["pages_by_node"].items()}
    assert placed.get(target, 0) >= 2048 + counts.get(target, 0), (counts, placed)
    for tracker in ("softdirty", "damon"):  # clear_refs writes; DAMON's sysfs writes
        log = tmp_path / f"{tracker}.jsonl"
        profiled = numamove(caps, "profile", str(other_user), "--tracker", tracker, "--duration", "2s",
                            "--interval", "1s", "-o", str(log), "--json")
        assert profiled.returncode == 0, profiled.stderr
        assert log.stat().st_size > 0


@pytest.mark.parametrize(("dropped", "command", "complaint"), [
    # move_pages(2) checks ptrace read access (mm/migrate.c, find_mm_struct): EPERM.
    ("sys_ptrace", ("move", "{pid}", "--to", "{node}", "--json"), "another user"),
    ("sys_nice", ("move", "{pid}", "--to", "{node}", "--all", "--json"), "CAP_SYS_NICE"),
    ("dac_override", ("profile", "{pid}", "--tracker", "softdirty", "--duration", "2s",
                      "--interval", "1s", "-o", "{log}", "--json"), "clear_refs"),
])
def test_each_capability_is_needed(other_user: int, layout: Layout, tmp_path: Path, dropped: str,
                                   command: tuple[str, ...], complaint: str) -> None:
    caps = [name for name in unit_capabilities() if name != dropped]
    arguments = [part.format(pid=other_user, node=layout.memory_only, log=tmp_path / "log.jsonl")
                 for part in command]
    started = time.monotonic()
    result = numamove(caps, *arguments)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert complaint in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert time.monotonic() - started < 60


def test_without_cap_sys_admin_placement_falls_back_to_asking_the_kernel(other_user: int) -> None:
    caps = [name for name in unit_capabilities() if name != "sys_admin"]
    where = answer(numamove(caps, "where", str(other_user), "--pages", "--json"))
    assert where["method"] == "query" and sum(where["pages_by_node"].values()) >= 2048


def test_without_the_dac_capabilities_another_users_pagemap_is_closed(other_user: int) -> None:
    caps = [name for name in unit_capabilities() if not name.startswith("dac_")]
    result = numamove(caps, "where", str(other_user), "--pages", "--json")
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert "cannot read the memory of pid" in result.stderr
