"""``numamove move``: move the pages of processes to other nodes, page by page.

Argument parsing, the Ctrl-C stop flag, printing and the exit: the checks and the move
itself are numamove.move.pipeline's (check_move, move_process).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from numamove.cli.app import (
    BUDGET_HELP,
    RATE_HELP,
    hard_interrupt,
    interruptible,
    main,
    pacing,
    parse_ranges,
    reports_errors,
    scan_options,
    select_targets,
    shared_help,
    yes_option,
)
from numamove.cli.output import explain_exit, print_move, progress

if TYPE_CHECKING:
    from numamove.kernel import Kernel


@main.command()
@shared_help
@scan_options
@click.option("--to", "to", required=True, metavar="NODES[:WEIGHT,...]|threads",
              help="Target node(s): 2, 0-1 (equal shares), 0:3,1:1 (interleave by weight), 0-2:free "
                   "(by free memory), or threads (the nodes where the process's threads run).")
@click.option("--from", "from_nodes", metavar="NODES", help="Only pages now on these nodes.")
@click.option("--all", "move_all", is_flag=True,
              help="Also move pages other processes map (MPOL_MF_MOVE_ALL).")
@click.option("--rate", type=float, metavar="MB/s", help="Move " + RATE_HELP)
@click.option("--budget", type=float, metavar="MS", help=BUDGET_HELP)
@click.option("--dry-run", is_flag=True, help="Show what would move; move nothing.")
@yes_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@click.pass_obj
@reports_errors
def move(kernel: Kernel, target: str, vma: str | None, ranges: tuple[str, ...], to: str,
         from_nodes: str | None, move_all: bool, rate: float | None, budget: float | None, dry_run: bool,
         as_json: bool) -> None:
    """Move the pages of TARGET to other nodes, page by page, without stalling it.

    Reads /proc/PID/pagemap to find the present pages and moves them with
    move_pages(2) in calls of about --budget ms; huge pages move whole.
    A name pattern or a cgroup that selects several processes lists them and
    needs --yes (on a terminal, it asks).

    {TARGET_FORMS}

    \b
    NODES uses numactl's nodemask syntax:
      {NODEMASK_FORMS}

    \b
    --to takes NODES, or NODES:WEIGHT entries separated by commas:
      --to 1           every page to node 1
      --to 0-1         equal shares on nodes 0 and 1
      --to 0:3,1:1     three pages on node 0 for each page on node 1
      --to 0-2:free    shares in proportion to each node's free memory
      --to threads     each process's pages to the nodes where its threads run

    \b
    Examples:
      numamove move 1234 --to 1
      numamove move 1234 --to 0:1,1:1 --vma heap --dry-run
      numamove move 1234 --from 0 --to 2 --rate 200
      numamove move cgroup:system.slice/db.service --to 1 --yes

    \b
    Exit status:
      0    every present page in scope ended where asked
      1    an error, or pages that could move did not (or the process exited)
      2    bad arguments
      3    all that could move landed, but pages other processes map were
           left (--all moves them; --vma anon leaves shared libraries out)
      130  interrupted: the move stops after the running call and reports
    """
    from numamove.move.pipeline import Outcome, check_move, move_process, read_target
    from numamove.nodemask import parse_nodemask
    from numamove.policy.choosers import weights_chooser
    from numamove.selection import vma_selector
    from numamove.topology import read_topology

    budget_seconds, rate_bytes = pacing(budget, rate)
    pids = select_targets(kernel, target)
    topology = read_topology(kernel)  # once: node checks, free memory and fallbacks all use it
    weights = read_target(to, kernel, topology)  # None: --to threads, each process's own nodes
    address_ranges = parse_ranges(ranges)
    sources = None if from_nodes is None else parse_nodemask(from_nodes, kernel.online_nodes(),
                                                              kernel.node_limit())
    for pid in pids:
        check_move(kernel, topology, pid, weights or {}, move_all)
    chooser = None if weights is None else weights_chooser(weights)
    documents = []
    outcome = Outcome()
    try:
        with interruptible() as stop:
            for pid in pids:
                if stop():
                    break
                update, finish = (None, lambda: None) if dry_run else progress(f"pid {pid}")
                try:
                    result = move_process(kernel, topology, pid, chooser,
                                          fallback_targets=list(weights or ()), move_all=move_all,
                                          select=vma_selector(vma) if vma else None, ranges=address_ranges,
                                          sources=sources, dry_run=dry_run, budget=budget_seconds,
                                          rate=rate_bytes, progress=update, stop=stop)
                finally:
                    finish()
                outcome.add_move(pid, result)
                if as_json:
                    documents.append({"pid": pid, "dry_run": dry_run, "budget_ms": budget_seconds * 1000,
                                      **result.to_dict()})
                else:
                    print_move(pid, result, dry_run, None if dry_run else budget_seconds)
            outcome.interrupted |= stop()  # Ctrl-C after the last call, or before a process it then skipped
    except KeyboardInterrupt:
        hard_interrupt()
    if as_json:
        click.echo(json.dumps(documents[0] if len(documents) == 1 else documents, indent=1))
    explain_exit(outcome.status, outcome.problems)
