"""The daemon: tracker -> policy -> move in a loop, for the processes a config selects.

Its modules:

- ``loop``: the cycle per selection (find processes, track, plan, apply), signals (SIGHUP reloads,
  SIGTERM/SIGINT stop after the running batch), ``--once`` and ``--dry-run``;
- ``config``: the TOML config and its schema (selections, trackers, policies, intervals, budgets);
- ``metrics``: the Prometheus metrics (``DaemonMetrics``, its own registry);
- ``server``: the HTTP endpoint on 127.0.0.1 by default (``GET /metrics``, ``GET /status``);
- ``notify``: systemd's READY=1 and WATCHDOG=1 on $NOTIFY_SOCKET.

It shares move/, policy/ and trackers/ with the command line, and never imports numamove.cli.
"""
