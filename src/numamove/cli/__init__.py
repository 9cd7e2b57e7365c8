"""The ``numamove`` command line: the only place that prints or exits.

``app`` holds the click group (``main``), error reporting and the options commands
share; ``output`` the tables, progress bar and summaries; one module per command:
``nodes``, ``where``, ``map``, ``move``, ``migrate``. Commands parse arguments, call the
library (numamove.move.pipeline for move and migrate), print and exit. The console
script and ``python -m numamove`` start in numamove._entry (standard library only, so
that Ctrl-C while click loads is one line), which calls ``main``.

May import: click, rich and any numamove module; nothing in the library imports
numamove.cli. This package module imports nothing until ``main`` is asked for, and
heavy modules (numpy, ctypes) are imported inside commands, so ``numamove nodes``
loads neither.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from numamove.cli.app import main

__all__ = ["main"]


def __getattr__(name: str) -> Any:
    """``main``, the click group, with every command registered (on first use)."""
    if name != "main":
        raise AttributeError(f"module 'numamove.cli' has no attribute {name!r}")
    import importlib

    # each module registers its command
    commands = ("nodes", "where", "map", "move", "migrate", "profile", "report", "doctor", "plan", "apply",
                "daemon")
    for command in commands:
        importlib.import_module(f"numamove.cli.{command}")
    from numamove.cli.app import main

    globals()["main"] = main
    return main
