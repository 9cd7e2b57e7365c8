"""``python -m numamove``: the command line."""

from numamove.cli import main

main()
