"""The ``numamove`` command line: the only place that prints or exits.

``app`` holds the click group (``main``), error reporting and the options commands
share; ``output`` the tables, progress bar and summaries; one module per command:
``nodes``, ``where``, ``map``, ``move``, ``migrate``. Commands parse arguments, call
the library (numamove.move.pipeline for move and migrate), print and exit.

May import: click, rich and any numamove module; nothing in the library imports
numamove.cli. Heavy modules (numpy, ctypes) are imported inside commands, so
``numamove nodes`` loads neither.
"""

from __future__ import annotations

from numamove.cli import map, migrate, move, nodes, where  # noqa: F401  (each registers its command)
from numamove.cli.app import main

__all__ = ["main"]
