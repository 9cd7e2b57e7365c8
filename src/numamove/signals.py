"""Signals turned into a clean stop: the one place numamove installs signal handlers.

A long job (a move, a profile, later the daemon's loop) asks a callable "should I
stop?" between steps, so the step that runs ends whole and the job reports what it
did. :func:`stop_flag` installs handlers that only set that flag (a second signal
raises :class:`HardStop`, for a user who means it). :func:`raising` is for code
without such a loop: the first signal raises :class:`Terminated` in the main
thread, so ``finally`` blocks undo kernel state. Both restore the old handlers on
the way out, and do nothing outside the main thread, where Python cannot install
handlers.

May import: the standard library only.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from types import FrameType

__all__ = ["HardStop", "Terminated", "raising", "requests", "stop_flag"]


class HardStop(KeyboardInterrupt):
    """A second signal while a clean stop is under way (a second Ctrl-C): stop at once."""


class Terminated(KeyboardInterrupt):
    """A signal (SIGTERM) turned into an exception, so that ``finally`` blocks run.

    A KeyboardInterrupt like Ctrl-C: ``except Exception`` does not swallow it.
    ``signum`` is the signal.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(f"terminated by signal {signum}")
        self.signum = signum


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextmanager
def stop_flag(signals: Sequence[int], *, second_raises: bool = False) -> Iterator[Callable[[], bool]]:
    """Inside the block, any of ``signals`` sets a flag that the yielded callable reads.

    With ``second_raises``, a signal after the first raises :class:`HardStop`.
    """
    asked: list[int] = []
    if not _in_main_thread():
        yield lambda: False
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        if asked and second_raises:
            raise HardStop
        asked.append(signum)

    previous = {signum: signal.signal(signum, handler) for signum in signals}
    try:
        yield lambda: bool(asked)
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old if old is not None else signal.SIG_DFL)


@contextmanager
def requests(signals: Sequence[int]) -> Iterator[Callable[[], bool]]:
    """Inside the block, any of ``signals`` is a request (SIGHUP: reload); the yielded callable
    takes it: True once after one or more signals, then False until the next."""
    pending: list[int] = []
    if not _in_main_thread():
        yield lambda: False
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        pending.append(signum)

    def take() -> bool:
        found = bool(pending)
        pending.clear()
        return found

    previous = {signum: signal.signal(signum, handler) for signum in signals}
    try:
        yield take
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old if old is not None else signal.SIG_DFL)


@contextmanager
def raising(signals: Sequence[int] = (signal.SIGTERM,)) -> Iterator[None]:
    """Inside the block, the first of ``signals`` raises :class:`Terminated` in the main thread;
    later ones are ignored (cleanup is running)."""
    if not _in_main_thread():
        yield
        return
    fired: list[int] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        if not fired:
            fired.append(signum)
            raise Terminated(signum)

    previous = {signum: signal.signal(signum, handler) for signum in signals}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old if old is not None else signal.SIG_DFL)
