"""systemd's service notifications (sd_notify(3)) without libsystemd: readiness, status, watchdog.

A ``Type=notify`` unit hands its main process the path of a datagram socket in
``$NOTIFY_SOCKET`` (a file, or an abstract socket when it starts with ``@``);
the service sends it newline-separated ``KEY=VALUE`` lines: ``READY=1`` once it
serves, ``STATUS=...`` for ``systemctl status``, ``WATCHDOG=1`` at least once per
``WatchdogSec=`` (``$WATCHDOG_USEC``, for the pid in ``$WATCHDOG_PID`` when set),
``RELOADING=1`` and ``STOPPING=1``. With ``NotifyAccess=main`` systemd takes only
datagrams whose sender is the main pid (the kernel's SCM_CREDENTIALS), so send
from the daemon's own process, never from a forked child.

Outside systemd there is no socket and every call does nothing. A notification
never stops the daemon: a failed send returns False, the first failure is kept
in :attr:`Notifier.error` (and handed to ``on_error`` once, for one log line),
and later ones are only counted.

Touches: the socket named by $NOTIFY_SOCKET (AF_UNIX, SOCK_DGRAM). May import: the standard library.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Mapping

__all__ = ["SEND_TIMEOUT", "Notifier"]

SEND_TIMEOUT = 2.0
"""Seconds a send may wait when systemd's receive queue is full, before it counts as failed."""


def _address(text: str) -> str | None:
    """The socket address of $NOTIFY_SOCKET: a path as is, ``@name`` as the abstract ``\\0name``."""
    if text.startswith("@"):
        return "\0" + text[1:]
    if text.startswith("/"):
        return text
    return None  # relative paths and other families (vsock:) are not ours to guess


def _watchdog_usec(environ: Mapping[str, str], pid: int) -> int | None:
    """$WATCHDOG_USEC when it is meant for ``pid`` (sd_watchdog_enabled(3)'s rules), else None."""
    owner = environ.get("WATCHDOG_PID", "").strip()
    if owner:
        try:
            if int(owner) != pid:
                return None
        except ValueError:
            return None
    try:
        usec = int(environ.get("WATCHDOG_USEC", "").strip())
    except ValueError:
        return None
    return usec if usec > 0 else None


class Notifier:
    """Sends sd_notify messages to one socket address; does nothing without one.

    ``address`` is the text of $NOTIFY_SOCKET (``/run/systemd/notify`` or
    ``@name``); ``watchdog_usec`` is the watchdog timeout already checked to be
    ours. Use :meth:`from_environment` in the daemon; the constructor is for
    tests and embedders. Not thread-safe: notify from the daemon's main loop.
    """

    def __init__(self, address: str | None = None, *, watchdog_usec: int | None = None,
                 on_error: Callable[[str], None] | None = None) -> None:
        self.address = address or None
        self.watchdog_usec = watchdog_usec if watchdog_usec and watchdog_usec > 0 else None
        self.error: str | None = None
        """The first failure, in one line; None while every send went through."""
        self.failures = 0
        """How many notifications could not be sent."""
        self._on_error = on_error
        self._socket: socket.socket | None = None
        self._target = _address(self.address) if self.address else None
        if self.address and self._target is None:
            self._fail(f"cannot notify systemd: NOTIFY_SOCKET={self.address!r} is neither a path "
                       f"nor an abstract socket (@name)")

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None, *, pid: int | None = None,
                         on_error: Callable[[str], None] | None = None) -> Notifier:
        """A notifier for $NOTIFY_SOCKET, $WATCHDOG_USEC and $WATCHDOG_PID (``os.environ`` by default).

        The variables are left in place: numamove starts no child that could
        mistake them for its own.
        """
        env = os.environ if environ is None else environ
        own = os.getpid() if pid is None else pid
        return cls(env.get("NOTIFY_SOCKET") or None, watchdog_usec=_watchdog_usec(env, own),
                   on_error=on_error)

    @property
    def enabled(self) -> bool:
        """Whether there is a socket to notify (running under a ``Type=notify`` unit)."""
        return self._target is not None

    @property
    def watchdog_interval(self) -> float | None:
        """Seconds between two ``WATCHDOG=1``: half the watchdog timeout, as sd_watchdog_enabled(3)
        advises; None when systemd set no watchdog for this process."""
        return None if self.watchdog_usec is None else self.watchdog_usec / 2_000_000

    def send(self, *assignments: str) -> bool:
        """Send ``KEY=VALUE`` lines in one datagram; True when it went out (False too without a socket)."""
        if self._target is None or not assignments:
            return False
        payload = "\n".join(assignments).encode()
        try:
            if self._socket is None:
                self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                self._socket.settimeout(SEND_TIMEOUT)
            self._socket.sendto(payload, self._target)
        except OSError as error:
            reason = error.strerror or str(error) or type(error).__name__
            self._fail(f"cannot notify systemd at {self.address}: {reason}")
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        """``READY=1``: startup is done (config read, metrics port bound), optionally with a status."""
        return self.send("READY=1", *self._status_lines(status))

    def status(self, text: str) -> bool:
        """``STATUS=text``: one line that ``systemctl status`` shows."""
        return self.send(*self._status_lines(text))

    def watchdog(self) -> bool:
        """``WATCHDOG=1``: the loop is alive; send at least every :attr:`watchdog_interval` seconds."""
        return self.send("WATCHDOG=1")

    def reloading(self) -> bool:
        """``RELOADING=1`` with the monotonic time systemd asks for; send :meth:`ready` when the
        reload (SIGHUP) is over, whether the new config was taken or refused."""
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.send("RELOADING=1", f"MONOTONIC_USEC={usec}")

    def extend_timeout(self, seconds: float) -> bool:
        """``EXTEND_TIMEOUT_USEC``: a slow start or stop (a kdamond to wind down) needs ``seconds`` more."""
        return self.send(f"EXTEND_TIMEOUT_USEC={max(1, round(seconds * 1_000_000))}")

    def stopping(self) -> bool:
        """``STOPPING=1``: the clean stop has begun (the running batch ends, kernel state is restored)."""
        return self.send("STOPPING=1")

    def close(self) -> None:
        """Close the socket; a later send opens a new one."""
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def __enter__(self) -> Notifier:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @staticmethod
    def _status_lines(text: str | None) -> tuple[str, ...]:
        # A newline would start another assignment: the status is one line.
        return () if text is None else ("STATUS=" + " ".join(text.splitlines()),)

    def _fail(self, message: str) -> None:
        self.failures += 1
        if self.error is None:
            self.error = message
            if self._on_error is not None:
                self._on_error(message)
