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
    from numamove.doctor import Diagnosis
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
    """The checks grouped by topic, one line each: status, name, why. Rich colours on a terminal."""
    terminal = sys.stdout.isatty()
    console = None
    if terminal:
        from rich.console import Console

        console = Console(highlight=False)
    width = max((len(check.name) for check in found.checks), default=0)
    header = f"kernel {found.kernel or 'unknown'}"
    if found.target is not None:
        header += f"; target pid {found.target['pid']} ({found.target['name']})"
    _line(console, header)
    topic = None
    for check in found.checks:
        if check.topic != topic:
            topic = check.topic
            _line(console, "", )
            _line(console, TOPICS.get(topic, topic) + ":", style="bold")
        mark, colour = MARKS[check.status.value]
        if console is None:
            click.echo(f"  {mark:<4}  {check.name:<{width}}  {check.why}")
        else:
            from rich.markup import escape
            from rich.text import Text

            text = Text.from_markup(f"  [{colour}]{mark:<4}[/]  {escape(check.name):<{width}}  ")
            text.append(check.why)
            console.print(text)


def _line(console: object, text: str, style: str | None = None) -> None:
    if console is None:
        click.echo(text)
    else:
        from rich.console import Console

        assert isinstance(console, Console)
        console.print(text, style=style, markup=False)
