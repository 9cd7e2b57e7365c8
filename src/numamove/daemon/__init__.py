"""The daemon: automatic page migration as a service (``numamove daemon``).

- ``config``: the TOML configuration and its schema (selections, metrics, logging).
- ``selection``: which processes a selection names now.
- ``loop``: the Daemon object: per selection, every interval, profile -> plan -> apply.

It uses the library as ``plan`` and ``apply`` do (numamove.planning, numamove.policy,
numamove.move.apply) and never imports numamove.cli: the command prints its events.
"""
