"""The daemon: automatic page migration as a service (``numamove daemon``).

- ``config``: the TOML configuration and its schema (selections, metrics, logging).
- ``selection``: which processes a selection names now.
- ``loop``: the Daemon object: per selection, every interval, profile -> plan -> apply.
- ``metrics``: the Prometheus metrics (``DaemonMetrics``, in a registry of its own).
- ``server``: the HTTP endpoint, 127.0.0.1 by default: ``GET /metrics`` and ``GET /status``.
- ``notify``: systemd's READY=1 and WATCHDOG=1 on $NOTIFY_SOCKET.

It uses the library as ``plan`` and ``apply`` do (numamove.planning, numamove.policy,
numamove.move.apply) and never imports numamove.cli: the command prints its events.
"""
