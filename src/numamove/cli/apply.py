"""``numamove apply``: carry out a plan that ``numamove plan -o`` saved, and report each move.

Reading the file, printing and the exit; the checks and the moves are numamove.move.apply's.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

import click

from numamove._format import human_bytes
from numamove.cli.app import (
    BUDGET_HELP,
    RATE_HELP,
    hard_interrupt,
    interruptible,
    main,
    pacing,
    reports_errors,
    shared_help,
)
from numamove.cli.output import print_table, progress
from numamove.errors import InvalidInputError

if TYPE_CHECKING:
    from numamove.kernel import Kernel
    from numamove.move.apply import ApplyResult
    from numamove.policy.plan import Plan

MAX_PLAN_BYTES = 256 << 20
"""A plan file larger than this is refused unread (a plan of a million moves is about 200 MB)."""


def read_plan(path: str) -> Plan:
    """The plan in ``path``; one line naming the file and what is wrong otherwise."""
    from numamove.policy.plan import Plan

    if not os.path.lexists(path):
        raise InvalidInputError(f"{path}: no such file")
    if os.path.isdir(path):
        raise InvalidInputError(f"{path}: is a directory, not a plan")
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_PLAN_BYTES + 1)
    except OSError as error:
        raise InvalidInputError(f"cannot read the plan {path}: {error.strerror or error}") from None
    if len(data) > MAX_PLAN_BYTES:
        raise InvalidInputError(f"{path}: larger than {human_bytes(MAX_PLAN_BYTES)}: not a numamove plan")
    return Plan.from_json(data, source=path)


@main.command()
@shared_help
@click.argument("plan_file", metavar="PLAN.json")
@click.option("--all", "move_all", is_flag=True,
              help="Move pages other processes map too (MPOL_MF_MOVE_ALL; needs CAP_SYS_NICE): shared memory "
                   "such as a database's shared buffers. Without it such pages stay, and the move says so.")
@click.option("--rate", type=float, metavar="MB/s", help="Move " + RATE_HELP)
@click.option("--budget", type=float, metavar="MS", help=BUDGET_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print the result of each move as JSON.")
@click.pass_obj
@reports_errors
def apply(kernel: Kernel, plan_file: str, move_all: bool, rate: float | None, budget: float | None,
          as_json: bool) -> None:
    """Carry out the plan in PLAN.json (`numamove plan -o PLAN.json`).

    \b
    Refuses the whole plan when one of its processes has exited, or when its
    pid belongs to another process now (the start time differs). Each move
    then moves the pages of its range that are on its source node now: what
    moved or was freed since the plan was made is skipped, not moved twice.
    A move into a node that went offline (or out of the cpuset) is skipped
    and reported. Ctrl-C stops after the running call; the report says what
    moved.

    \b
    Exit status:
      0    every move carried out
      1    pages that could move did not (see each move), or a process exited
      3    some moves were skipped (a node offline, outside the cpuset) or
           pages other processes map were left
      130  interrupted
    """
    from numamove.move.apply import apply_plan

    budget_seconds, rate_bytes = pacing(budget, rate)
    made = read_plan(plan_file)
    update, finish = progress(f"apply {plan_file}")
    try:
        with interruptible() as stop:
            try:
                result = apply_plan(kernel, made, budget=budget_seconds, rate=rate_bytes, stop=stop,
                                    progress=update, move_all=move_all)
            finally:
                finish()
            result.outcome.interrupted |= stop()
    except KeyboardInterrupt:
        hard_interrupt()
    if as_json:
        click.echo(json.dumps(result.to_dict(made.page_size), indent=1))
    else:
        print_result(result, made.page_size)
    explain(result)


def print_result(result: ApplyResult, page_size: int) -> None:
    rows = [[str(o.move.pid), f"{o.move.start:#x}-{o.move.end:#x}", f"{o.move.source}->{o.move.target}",
             str(o.found), str(o.moved), o.state + (f": {o.why}" if o.why else "")] for o in result.outcomes]
    if rows:
        print_table(None, ["pid", "range", "nodes", "found", "moved", "state"], rows)
    click.echo(f"{result.policy} plan: moved {result.pages_moved} pages "
               f"({human_bytes(result.pages_moved * page_size)}) in {len(result.outcomes)} moves"
               + (f"; {result.skipped} skipped" if result.skipped else ""))


def explain(result: ApplyResult) -> None:
    from numamove.cli.output import explain_exit

    status = result.status
    if status == 3 and result.skipped and not result.outcome.shared_left:
        click.echo(f"numamove: {result.skipped} moves were skipped (exit status 3): see why above", err=True)
        raise SystemExit(3)
    explain_exit(status, result.outcome.problems)
