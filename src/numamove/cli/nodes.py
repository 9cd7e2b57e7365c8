"""``numamove nodes``: the NUMA nodes, their memory, tiers and distances.

Reads /sys/devices/system/node and /sys/devices/virtual/memory_tiering through
numamove.topology. Loads neither numpy nor ctypes (the command must start fast).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from numamove._format import human_bytes
from numamove.cli.app import main, reports_errors
from numamove.cli.output import print_table

if TYPE_CHECKING:
    from numamove.kernel import Kernel


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@click.pass_obj
@reports_errors
def nodes(kernel: Kernel, as_json: bool) -> None:
    """Show NUMA nodes: CPUs, memory, memory tier and distances.

    Read from /sys/devices/system/node and /sys/devices/virtual/memory_tiering.
    """
    from numamove.nodemask import format_nodemask
    from numamove.topology import read_topology

    topology = read_topology(kernel)
    if as_json:
        click.echo(json.dumps([node.to_dict() for node in topology.nodes], indent=2))
        return
    rows = []
    for node in topology.nodes:
        kind = "cpu+memory" if node.has_cpu and node.has_memory else (
            "memory only" if node.memory_only else "cpu only" if node.has_cpu else "empty")
        rows.append([str(node.id), format_nodemask(node.cpus) or "-", human_bytes(node.mem_total),
                     human_bytes(node.mem_free), "-" if node.tier is None else str(node.tier), kind])
    print_table("NUMA nodes", ["node", "cpus", "total", "free", "tier", "kind"], rows)
    ids = [node.id for node in topology.nodes]
    print_table("distances (SLIT, 10 = local)", ["from\\to", *map(str, ids)],
                [[str(node.id), *(str(node.distances[other]) for other in ids)] for node in topology.nodes])
    balancing = {None: "unknown", 0: "off", 1: "on", 2: "memory tiering", 3: "on + memory tiering"}
    demotion = {None: "unknown", True: "on", False: "off"}
    click.echo(f"NUMA balancing: {balancing.get(topology.numa_balancing, str(topology.numa_balancing))}; "
               f"demotion to lower tiers: {demotion[topology.demotion_enabled]}")
