from __future__ import annotations

import json
import subprocess
import sys

from click.testing import CliRunner

import numamove
from numamove.cli import main

from .conftest import FIXTURES

ROOT = str(FIXTURES / "qemu-3node-hmat")


def test_nodes_json() -> None:
    result = CliRunner().invoke(main, ["--root", ROOT, "nodes", "--json"])
    assert result.exit_code == 0
    nodes = json.loads(result.output)
    assert [n["id"] for n in nodes] == [0, 1, 2]
    assert {"id", "cpus", "mem_total", "mem_free", "distances", "tier"} <= nodes[0].keys()
    assert nodes[2]["tier"] == 72 and nodes[2]["cpus"] == [] and nodes[1]["distances"]["0"] == 20


def test_nodes_plain_text_when_piped() -> None:
    result = CliRunner().invoke(main, ["--root", ROOT, "nodes"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0] == "NUMA nodes"
    assert lines[4].split() == ["2", "-", "1007.0", "MiB", "991.6", "MiB", "72", "memory", "only"]
    assert "NUMA balancing: on; demotion to lower tiers: off" in result.output


def test_library_error_is_one_line_and_exit_1(tmp_path: object) -> None:
    result = CliRunner().invoke(main, ["--root", str(tmp_path), "nodes"])
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and result.output.startswith("numamove: error: no NUMA topology")


def test_python_dash_m_runs_the_cli() -> None:
    run = subprocess.run([sys.executable, "-m", "numamove", "--root", ROOT, "nodes", "--json"],
                         capture_output=True, text=True, check=True)
    assert len(json.loads(run.stdout)) == 3


def test_contract_constants() -> None:
    assert numamove.MPOL_MF_MOVE == 2 and numamove.MPOL_MF_MOVE_ALL == 4
    assert issubclass(numamove.NoSuchProcessError, ProcessLookupError)
    assert issubclass(numamove.NotPermittedError, PermissionError)
    assert all(issubclass(getattr(numamove, n), numamove.NumaMoveError)
               for n in numamove.__all__ if n.endswith("Error") and n != "NumaMoveError")
