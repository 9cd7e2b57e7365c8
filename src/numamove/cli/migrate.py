"""``numamove migrate``: move all pages of processes from some nodes to others, as numactl's
migratepages does.

Argument parsing, the Ctrl-C stop flag, printing and the exit: the checks and the
migration are numamove.move.pipeline's (check_move, migrate_nodes, migrate_process).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from numamove.cli.app import (
    BUDGET_HELP,
    RATE_HELP,
    hard_interrupt,
    interruptible,
    main,
    pacing,
    reports_errors,
    select_targets,
    shared_help,
    yes_option,
)
from numamove.cli.output import explain_exit, print_move, print_table, progress
from numamove.errors import InvalidInputError

if TYPE_CHECKING:
    from numamove.kernel import Kernel


@main.command()
@shared_help
@click.argument("target")
@click.argument("from_nodes", metavar="FROM")
@click.argument("to_nodes", metavar="TO")
@click.option("--chunked", is_flag=True, help="Move through the mover (rate limit, budget) instead of one "
                                              "migrate_pages(2) call.")
@click.option("--rate", type=float, metavar="MB/s", help="With --chunked: " + RATE_HELP)
@click.option("--budget", type=float, metavar="MS", help="With --chunked: " + BUDGET_HELP)
@yes_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.pass_obj
@reports_errors
def migrate(kernel: Kernel, target: str, from_nodes: str, to_nodes: str, chunked: bool, rate: float | None,
            budget: float | None, as_json: bool) -> None:
    """Move all pages of TARGET from nodes FROM to nodes TO, like numactl's migratepages.

    FROM and TO use numactl's nodemask syntax; the n-th node of FROM goes to
    the n-th node of TO, as migrate_pages(2) maps them. Without CAP_SYS_NICE
    the kernel leaves pages other processes map where they are: the summary
    counts what stayed on the FROM nodes. Exit statuses as for move. A name
    pattern or a cgroup that selects several processes lists them and needs
    --yes (on a terminal, it asks).

    {TARGET_FORMS}

    \b
    FROM and TO use numactl's nodemask syntax:
      {NODEMASK_FORMS}

    \b
    Examples:
      numamove migrate 1234 0 1            node 0 -> node 1
      numamove migrate 1234 0,1 2          nodes 0 and 1 -> node 2
      numamove migrate 1234 0-1 1-2        node 0 -> node 1, node 1 -> node 2
      numamove migrate redis 0 1 --chunked --rate 100 --yes
    """
    from numamove.move.pipeline import Outcome, check_move, migrate_nodes, migrate_process
    from numamove.topology import read_topology

    if not chunked and (rate is not None or budget is not None):
        raise InvalidInputError("--rate and --budget pace a --chunked move; without --chunked, "
                                "migrate_pages(2) moves everything in one call")
    budget_seconds, rate_bytes = pacing(budget, rate)
    pids = select_targets(kernel, target)
    old, new = migrate_nodes(kernel, from_nodes, to_nodes)
    topology = read_topology(kernel)
    privileged = kernel.has_cap_sys_nice()
    for pid in pids:
        # move_pages(2) (--chunked) refuses a node outside the cpuset; migrate_pages(2) as root does not.
        check_move(kernel, topology, pid, new, False, outside_cpuset="refuse" if chunked else "warn",
                   warn=lambda text: click.echo(f"numamove: warning: {text}", err=True))
    documents = []
    outcome = Outcome()
    try:
        with interruptible() as stop:
            for pid in pids:
                if stop():
                    break
                update, finish = progress(f"pid {pid}") if chunked else (None, lambda: None)
                try:
                    result = migrate_process(kernel, pid, old, new, chunked=chunked, privileged=privileged,
                                             budget=budget_seconds, rate=rate_bytes, progress=update,
                                             stop=stop)
                finally:
                    finish()
                outcome.add_migrate(result)
                if as_json:
                    documents.append(result.to_dict())
                    continue
                before, after = result.before, result.after
                nodes = sorted(set(before) | set(after))
                print_table(f"pid {pid}: pages per node", ["", *(f"node{n}" for n in nodes)],
                            [["before", *(str(before.get(n, 0)) for n in nodes)],
                             ["after", *(str(after.get(n, 0)) for n in nodes)]])
                print_stayed(result.stayed, result.not_moved, result.skipped_shared, result.leaving,
                             result.privileged)
                if result.move is not None:
                    print_move(pid, result.move, False, budget_seconds)
            outcome.interrupted |= stop()  # migrate_pages(2) is one call: Ctrl-C skips the processes after it
    except KeyboardInterrupt:
        hard_interrupt()
    if as_json:
        click.echo(json.dumps(documents[0] if len(documents) == 1 else documents, indent=1))
    explain_exit(outcome.status, outcome.problems)


def print_stayed(stayed: int, not_moved: int, skipped_shared: int, leaving: Sequence[int],
                  privileged: bool) -> None:
    from numamove.nodemask import format_nodemask

    where = f"node {format_nodemask(leaving)}" if leaving else "the FROM nodes"
    click.echo(f"  {stayed} pages stayed on {where}; {not_moved} could not be moved")
    if skipped_shared:
        click.echo(f"  {skipped_shared} of them are mapped by other processes too: the kernel moves those "
                   "only with MPOL_MF_MOVE_ALL, which needs CAP_SYS_NICE (run as root)")
    elif stayed > not_moved and privileged:
        click.echo(f"  {stayed - not_moved} of them the kernel did not report: new since the call, or not "
                   "migratable")
