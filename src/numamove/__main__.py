"""``python -m numamove``: the command line."""

from numamove._entry import run

run()
