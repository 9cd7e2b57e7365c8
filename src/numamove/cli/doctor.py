"""``numamove doctor``: what works on this kernel and for a process, and why not, in plain words.

Runs :func:`numamove.doctor.diagnose` (which reads /proc and /sys through the Kernel
and probes the NUMA syscalls on numamove's own process) and prints its checks by
topic: coloured on a terminal, plain when piped, JSON with ``--json``. Exit status
0 when no check failed (warnings included), 1 when one did or the command itself
failed.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

import click

from numamove.cli.app import EXIT_USAGE, main, process_name, reports_errors, select_targets, shared_help

if TYPE_CHECKING:
    from numamove.doctor import Check, Diagnosis
    from numamove.kernel import Kernel

TOPICS = {"numa": "NUMA", "capabilities": "numamove's capabilities",
          "seccomp": "seccomp (numamove's process)", "trackers": "trackers", "target": "target"}
MARKS = {"ok": ("ok", "green"), "warn": ("warn", "yellow"), "fail": ("FAIL", "bold red"),
         "unknown": ("?", "dim")}


@main.command()
@shared_help
@click.argument("target", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.pass_obj
@reports_errors
def doctor(kernel: Kernel, target: str | None, as_json: bool) -> None:
    """Say what works on this kernel, for numamove and for TARGET, and why not.

    Looks at the NUMA nodes and memory tiers, numa_balancing and demotion,
    numamove's capabilities (CAP_SYS_NICE, CAP_SYS_ADMIN), a seccomp filter
    that blocks the NUMA calls (probed on numamove's own process), each
    tracker, and with TARGET: access to its pagemap, its cpuset, cgroup
    memory limits and memory policies. Each finding is ok, warn, fail or
    unknown, with what to do about it.

    Exit status: 0 when no check failed (warnings do not count), 1 when one
    failed (the failed ones are named on stderr) or doctor itself could not run.

    {TARGET_FORMS}

    doctor looks at one process: a TARGET that selects several is refused.

    \b
    Examples:
      numamove doctor
      numamove doctor 1234 --json
    """
    from numamove.doctor import diagnose

    pid = None
    if target is not None:
        pids = select_targets(kernel, target)
        if len(pids) > 1:
            shown = ", ".join(f"{p} {process_name(kernel, p)}" for p in pids[:5])
            click.echo(f"numamove: error: {target!r} selects {len(pids)} processes ({shown}"
                       f"{', ...' if len(pids) > 5 else ''}): doctor looks at one; name it by pid", err=True)
            sys.exit(EXIT_USAGE)
        pid = pids[0]
    found = diagnose(pid, kernel)
    if as_json:
        click.echo(json.dumps(found.to_dict(), indent=1))
    else:
        print_diagnosis(found)
    if found.failed:
        sys.stdout.flush()
        names = ", ".join(f"{check.topic} {check.name}" for check in found.failed)
        click.echo(f"numamove: error: {len(found.failed)} check{'s' if len(found.failed) > 1 else ''} "
                   f"failed: {names}", err=True)
        sys.exit(1)


def print_diagnosis(found: Diagnosis) -> None:
    """The checks grouped by topic, one line each: status, name, why.

    On a terminal, rich colours the status and folds a long why inside its own
    column; piped, each check is one plain line.
    """
    header = f"kernel {found.kernel or 'unknown'}"
    if found.target is not None:
        header += f"; target pid {found.target['pid']} ({found.target['name']})"
    topics: dict[str, list[Check]] = {}
    for check in found.checks:
        topics.setdefault(check.topic, []).append(check)
    if not sys.stdout.isatty():
        width = max((len(check.name) for check in found.checks), default=0)
        click.echo(header)
        for topic, listed in topics.items():
            click.echo(f"\n{TOPICS.get(topic, topic)}:")
            for check in listed:
                click.echo(f"  {MARKS[check.status.value][0]:<4}  {check.name:<{width}}  {check.why}")
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(highlight=False)
    console.print(header, markup=False)
    for topic, listed in topics.items():
        console.print()
        console.print(Text(f"{TOPICS.get(topic, topic)}:", style="bold"))
        table = Table.grid(padding=(0, 2))
        table.add_column(min_width=2)
        table.add_column(min_width=4)
        table.add_column(no_wrap=True)
        table.add_column(overflow="fold")
        for check in listed:
            mark, colour = MARKS[check.status.value]
            table.add_row("", Text(mark, style=colour), Text(check.name), Text(check.why))
        console.print(table)
