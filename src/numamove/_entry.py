"""The ``numamove`` console script and ``python -m numamove``.

This module imports only the standard library, so that a Ctrl-C while click,
rich or numpy load still ends in one line and exit status 130, not a traceback.
It also owns what happens when standard output cannot be written (closed, a
full disk, a reader that went away): one line on stderr and exit status 1.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
from typing import NoReturn

__all__ = ["EXIT_ERROR", "EXIT_INTERRUPTED", "check_stdout_open", "exit_on_output_error", "interrupted",
           "is_output_error", "run"]

EXIT_ERROR = 1
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a command that Ctrl-C stopped

# What a write to stdout fails with: a reader that left, a full or broken disk, a closed descriptor.
_OUTPUT_ERRNOS = frozenset({errno.EPIPE, errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO, errno.EBADF})


def run() -> None:
    """Run the command line; exits with its status."""
    try:
        check_stdout_open()
        from numamove.cli import main

        try:
            main(prog_name="numamove")
        except SystemExit as finished:
            status = finished.code
        else:
            status = 0
        _flush_stdout()  # here, not in the interpreter's own exit, where an error is only "ignored"
    except KeyboardInterrupt:
        interrupted()
    except OSError as error:
        if not is_output_error(error):
            raise
        exit_on_output_error(error)
    sys.exit(status)


def interrupted() -> NoReturn:
    """Ctrl-C: one line on stderr, exit status 130."""
    _say("numamove: interrupted")
    sys.exit(EXIT_INTERRUPTED)


def check_stdout_open() -> None:
    """Refuse to run with standard output closed (``>&-``): Python then has no sys.stdout and
    every line would vanish, or land in whatever file reuses descriptor 1."""
    if sys.stdout is None:
        _say("numamove: error: standard output is closed")
        sys.exit(EXIT_ERROR)


def is_output_error(error: OSError) -> bool:
    """Whether ``error`` is a failed write to a stream (stdout), not a file numamove opened:
    the library wraps its own I/O errors in NumaMoveError, and an open() error names its file."""
    return error.errno in _OUTPUT_ERRNOS and error.filename is None


def exit_on_output_error(error: OSError) -> NoReturn:
    """Standard output failed: say so in one line (not for a reader that left, as ``| head``),
    point stdout at /dev/null so that the interpreter's closing flush cannot fail again, exit 1."""
    if error.errno != errno.EPIPE:
        _say(f"numamove: error: cannot write the output: {os.strerror(error.errno or errno.EIO)}")
    with contextlib.suppress(OSError, ValueError, AttributeError):  # a test's stream has no descriptor
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    sys.exit(EXIT_ERROR)


def _flush_stdout() -> None:
    if sys.stdout is not None:
        sys.stdout.flush()


def _say(line: str) -> None:
    if sys.stderr is not None:
        with contextlib.suppress(OSError):
            print(line, file=sys.stderr, flush=True)
