"""The ``numamove`` command. The only place that prints or exits.

Library errors become one line on stderr and a non-zero exit; tables are
drawn with rich on a terminal and as plain aligned text when piped.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import click

from numamove.errors import NumaMoveError

if TYPE_CHECKING:
    from numamove.kernel import Kernel

F = TypeVar("F", bound=Callable[..., Any])

EXIT_ERROR = 1


def reports_errors(command: F) -> F:
    """Turn library errors into "numamove: error: ..." and exit status 1, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except NumaMoveError as error:
            click.echo(f"numamove: error: {error}", err=True)
            sys.exit(EXIT_ERROR)
        except BrokenPipeError:
            sys.exit(EXIT_ERROR)

    return wrapper  # type: ignore[return-value]


def human_bytes(count: int) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def print_table(title: str | None, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """A rich table on a terminal, aligned plain text otherwise."""
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title, title_justify="left")
        for index, header in enumerate(headers):
            table.add_column(header, justify="left" if index == len(headers) - 1 and index else "right")
        for row in rows:
            table.add_row(*row)
        Console().print(table)
        return
    if title:
        click.echo(title)
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
    for row in (headers, *rows):
        cells = (str(cell).rjust(width) for cell, width in zip(row, widths, strict=True))
        click.echo("  ".join(cells).rstrip())


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="numamove")
@click.option("--root", type=click.Path(exists=True, file_okay=False), default="/", show_default=True,
              help="Read /proc and /sys under this directory (a captured tree, for example).")
@click.pass_context
def main(context: click.Context, root: str) -> None:
    """See where the pages of Linux processes live, and move them between NUMA nodes."""
    from numamove.kernel import Kernel

    context.obj = Kernel(root)


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
