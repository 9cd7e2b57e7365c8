from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import numamove
from numamove.procfs import parse_distance, parse_node_meminfo, parse_status

from .conftest import FIXTURES


def test_parse_node_meminfo_converts_kilobytes() -> None:
    text = "Node 2 MemTotal:        1031196 kB\nNode 2 MemFree:  10 kB\nNode 2 HugePages_Total:     3\n"
    assert parse_node_meminfo(text) == {"MemTotal": 1031196 * 1024, "MemFree": 10240, "HugePages_Total": 3}


def test_parse_distance() -> None:
    assert parse_distance("10 20 40\n") == (10, 20, 40)
    with pytest.raises(numamove.TopologyError, match="malformed node distance"):
        parse_distance("10 x")


def test_parse_status() -> None:
    fields = parse_status("Name:\tbash\nMems_allowed_list:\t0-2\nCapEff:\t000001ffffffffff\n")
    assert fields["Mems_allowed_list"] == "0-2" and fields["Name"] == "bash"


def test_nodes_of_the_captured_guest(kernel: numamove.Kernel) -> None:
    nodes = numamove.nodes(kernel)
    assert [n.id for n in nodes] == [0, 1, 2]
    assert [n.cpus for n in nodes] == [(0,), (1,), ()]
    assert [n.tier for n in nodes] == [4, 4, 72]
    assert [n.memory_only for n in nodes] == [False, False, True]
    assert nodes[2].mem_total == 1031196 * 1024 and 0 < nodes[2].mem_free < nodes[2].mem_total
    assert nodes[0].distances == {0: 10, 1: 20, 2: 20}
    assert nodes[0].to_dict()["distances"] == {"0": 10, "1": 20, "2": 20}


def test_topology_settings(kernel: numamove.Kernel) -> None:
    topology = numamove.read_topology(kernel)
    assert topology.numa_balancing == 1 and topology.demotion_enabled is False
    assert topology.node(2).has_memory and not topology.node(2).has_cpu
    with pytest.raises(KeyError):
        topology.node(3)


def copy_fixture(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    shutil.copytree(FIXTURES / "qemu-3node-hmat", root)
    return root


def test_without_tiering_the_tier_is_none(tmp_path: Path) -> None:
    root = copy_fixture(tmp_path)
    shutil.rmtree(root / "sys/devices/virtual/memory_tiering")
    assert [n.tier for n in numamove.nodes(numamove.Kernel(root))] == [None, None, None]


def test_more_than_64_nodes_and_sparse_ids(tmp_path: Path) -> None:
    root = tmp_path / "root"
    base = root / "sys/devices/system/node"
    ids = [0, 70, 130]
    base.mkdir(parents=True)
    (base / "online").write_text("0,70,130\n")
    for node in ids:
        (base / f"node{node}").mkdir()
        (base / f"node{node}/cpulist").write_text(f"{node}\n")
        (base / f"node{node}/meminfo").write_text(f"Node {node} MemTotal: 4 kB\nNode {node} MemFree: 1 kB\n")
        (base / f"node{node}/distance").write_text(" ".join("10" if o == node else "30" for o in ids) + "\n")
    nodes = numamove.nodes(numamove.Kernel(root))
    assert [n.id for n in nodes] == ids
    assert nodes[1].distances == {0: 30, 70: 10, 130: 30}
    assert all(n.has_cpu and n.has_memory for n in nodes)  # no has_* files: every online node


def test_distance_row_of_the_wrong_length_is_an_error(tmp_path: Path) -> None:
    root = copy_fixture(tmp_path)
    (root / "sys/devices/system/node/node1/distance").write_text("10 20\n")
    with pytest.raises(numamove.TopologyError, match="node 1 lists 2 distances for 3 online nodes"):
        numamove.nodes(numamove.Kernel(root))


def test_missing_node_file_is_a_topology_error(tmp_path: Path) -> None:
    root = copy_fixture(tmp_path)
    (root / "sys/devices/system/node/node2/meminfo").unlink()
    missing = r"cannot read node 2: No such file or directory: .*meminfo"
    with pytest.raises(numamove.TopologyError, match=missing):
        numamove.nodes(numamove.Kernel(root))


def test_kernel_without_numa_is_one_node(tmp_path: Path) -> None:
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc/meminfo").write_text("MemTotal:  2048 kB\nMemFree:  1024 kB\n")
    (tmp_path / "sys/devices/system/cpu").mkdir(parents=True)
    (tmp_path / "sys/devices/system/cpu/online").write_text("0-3\n")
    (node,) = numamove.nodes(numamove.Kernel(tmp_path))
    assert (node.id, node.cpus, node.mem_total, node.mem_free) == (0, (0, 1, 2, 3), 2048 * 1024, 1024 * 1024)
