"""``numamove daemon``: automatic page migration, profile -> plan -> apply in a loop.

Parsing, signals, printing the events, and the exit; the loop is numamove.daemon.loop's.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from typing import TYPE_CHECKING, Any

import click

from numamove._format import human_bytes
from numamove.cli.app import main, reports_errors, shared_help

if TYPE_CHECKING:
    from numamove.kernel import Kernel


def event_printer(form: str) -> Any:
    """Print each event as one JSON line (not on a terminal, or ``json``) or one line of text."""
    as_json = form == "json" or (form == "auto" and not sys.stdout.isatty())

    def show(event: dict[str, Any]) -> None:
        if as_json:
            click.echo(json.dumps(event, default=str))
            sys.stdout.flush()
            return
        clock = time.strftime("%H:%M:%S", time.localtime(event["time"]))
        fields = {k: v for k, v in event.items() if k not in ("time", "event", "selection")}
        where = f" {event['selection']}" if "selection" in event else ""
        if event["event"] == "plan":
            text = f"{fields['moves']} moves, {human_bytes(fields['bytes'])}"
            text += "".join(f"; {note}" for note in fields["notes"])
        elif event["event"] == "moved":
            text = f"{fields['pages']} pages ({human_bytes(fields['bytes'])}) in {fields['moves']} moves"
        else:
            text = " ".join(f"{k}={v}" for k, v in fields.items())
        click.echo(f"{clock} {event['event']}{where}: {text}")

    return show


def watchdog(notifier: Any) -> Any:
    """WATCHDOG=1 at most every tenth of systemd's watchdog interval (nothing outside systemd)."""
    interval = notifier.watchdog_interval
    last = [0.0]

    def alive() -> None:
        now = time.monotonic()
        if interval is not None and now - last[0] >= interval / 10:
            last[0] = now
            notifier.watchdog()

    return alive


@main.command()
@shared_help
@click.option("--config", "config_path", required=True, metavar="FILE", help="The TOML configuration.")
@click.option("--once", is_flag=True, help="Run one cycle of every selection, then exit.")
@click.option("--dry-run", is_flag=True, help="Profile and plan, and report; move nothing.")
@click.option("--check", is_flag=True, help="Check the configuration (and that its trackers run here), "
                                            "then exit.")
@click.pass_obj
@reports_errors
def daemon(kernel: Kernel, config_path: str, once: bool, dry_run: bool, check: bool) -> None:
    """Move pages automatically: for each selection of the config, every
    interval, profile its processes, plan with its policy, and apply the plan.

    \b
    SIGHUP reloads the config (a bad one is logged and the old one keeps
    running); SIGTERM or Ctrl-C stops after the running batch, with every
    tracker cleaned up. Events are one line each: JSON when stdout is not a
    terminal (or [daemon] log = "json").

    \b
    Examples:
      numamove daemon --config /etc/numamove/numamove.toml --check
      numamove daemon --config numamove.toml --once --dry-run
    """
    from numamove.daemon.config import load_config
    from numamove.daemon.loop import Daemon, choose_trackers
    from numamove.signals import requests, stop_flag

    config = load_config(config_path)
    if check:
        for selection in config.selection:
            trackers, why = choose_trackers(kernel, selection)
            extra = f" (fallback: {why})" if why else ""
            click.echo(f"selection {selection.name}: policy {selection.policy}, trackers "
                       f"{','.join(trackers)}{extra}, every {selection.interval:g} s")
        click.echo(f"{config_path}: ok")
        return
    from numamove.daemon.metrics import DaemonMetrics
    from numamove.daemon.notify import Notifier
    from numamove.daemon.server import StatusServer

    metrics = DaemonMetrics()
    runner = Daemon(kernel, config, dry_run=dry_run, log=event_printer(config.daemon.log), metrics=metrics)
    server = (StatusServer(config.metrics.address, config.metrics.port, metrics, runner.status)
              if config.metrics.enabled and not once else None)
    notifier = Notifier.from_environment()
    with stop_flag([signal.SIGINT, signal.SIGTERM]) as stop, requests([signal.SIGHUP]) as reload:
        runner.start()  # trackers chosen (or refused) before the port is taken
        if server is not None:
            server.start()  # a taken port is one line and exit 1
        try:
            notifier.ready()
            runner.run(stop=stop, reload_requested=reload, load=lambda: load_config(config_path), once=once,
                       alive=watchdog(notifier), reloading=notifier.reloading, reloaded=notifier.ready)
        finally:
            notifier.stopping()
            if server is not None:
                server.stop()
