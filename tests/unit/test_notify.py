"""systemd notifications (numamove.daemon.notify) sent to a real AF_UNIX datagram socket, as systemd's
manager would receive them: by file path and by abstract name, with the sender's credentials."""

from __future__ import annotations

import array
import os
import socket
import struct
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from numamove.daemon.notify import Notifier


class Manager:
    """The receiving end systemd's manager holds: a datagram socket that sees the sender's pid."""

    def __init__(self, address: str) -> None:
        self.text = address
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + address[1:] if address.startswith("@") else address)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.settimeout(5)

    def receive(self) -> tuple[str, int]:
        """One datagram's text and the sender's pid (SCM_CREDENTIALS, what NotifyAccess=main checks)."""
        data, ancillary, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(struct.calcsize("3i")))
        pid = -1
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = array.array("i", payload[:12])[0]
        return data.decode(), pid

    def pending(self) -> bool:
        self.sock.setblocking(False)
        try:
            self.sock.recv(4096)
        except BlockingIOError:
            return False
        finally:
            self.sock.settimeout(5)
        return True


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[Manager]:
    receiver = Manager(str(tmp_path / "notify"))
    yield receiver
    receiver.sock.close()


@pytest.fixture
def abstract() -> Iterator[Manager]:
    receiver = Manager(f"@numamove-test/{uuid.uuid4().hex}")
    yield receiver
    receiver.sock.close()


def test_each_message_arrives_as_one_datagram_from_our_own_pid(manager: Manager) -> None:
    with Notifier.from_environment({"NOTIFY_SOCKET": manager.text}) as notifier:
        assert notifier.enabled
        assert notifier.ready(status="watching 2 selections")
        assert manager.receive() == ("READY=1\nSTATUS=watching 2 selections", os.getpid())
        assert notifier.status("cycle 3: moved 12 MiB\nto node 0")
        assert manager.receive() == ("STATUS=cycle 3: moved 12 MiB to node 0", os.getpid())
        assert notifier.watchdog()
        assert manager.receive()[0] == "WATCHDOG=1"
        assert notifier.extend_timeout(30)
        assert manager.receive()[0] == "EXTEND_TIMEOUT_USEC=30000000"
        assert notifier.stopping()
        assert manager.receive()[0] == "STOPPING=1"
    assert notifier.error is None and notifier.failures == 0


def test_reloading_carries_the_monotonic_clock(manager: Manager) -> None:
    notifier = Notifier(manager.text)
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert notifier.reloading()
    text, _ = manager.receive()
    first, second = text.split("\n")
    assert first == "RELOADING=1"
    key, value = second.split("=")
    assert key == "MONOTONIC_USEC" and before <= int(value) <= before + 60_000_000
    notifier.close()


def test_an_abstract_socket_is_reached_by_its_name(abstract: Manager) -> None:
    notifier = Notifier.from_environment({"NOTIFY_SOCKET": abstract.text})
    assert notifier.ready()
    assert abstract.receive() == ("READY=1", os.getpid())
    notifier.close()


def test_without_a_socket_nothing_is_sent_and_nothing_fails() -> None:
    notifier = Notifier.from_environment({})
    assert not notifier.enabled
    assert not notifier.ready() and not notifier.watchdog() and not notifier.stopping()
    assert notifier.error is None and notifier.failures == 0
    assert notifier.watchdog_interval is None
    assert not Notifier.from_environment({"NOTIFY_SOCKET": ""}).enabled


def test_the_first_failure_is_recorded_once_and_later_ones_only_counted(tmp_path: Path) -> None:
    seen: list[str] = []
    gone = tmp_path / "no-such-socket"
    notifier = Notifier.from_environment({"NOTIFY_SOCKET": str(gone)}, on_error=seen.append)
    assert notifier.enabled
    assert not notifier.ready()
    assert not notifier.watchdog()
    assert notifier.failures == 2
    assert seen == [notifier.error]
    assert notifier.error == f"cannot notify systemd at {gone}: No such file or directory"


def test_a_manager_that_goes_away_mid_run_costs_only_a_recorded_error(manager: Manager) -> None:
    notifier = Notifier(manager.text)
    assert notifier.ready()
    manager.sock.close()
    os.unlink(manager.text)
    assert not notifier.watchdog()
    assert notifier.error == f"cannot notify systemd at {manager.text}: No such file or directory"
    assert not notifier.stopping()
    assert notifier.failures == 2


def test_an_address_that_is_neither_a_path_nor_abstract_is_refused_once() -> None:
    seen: list[str] = []
    notifier = Notifier("vsock:2:1234", on_error=seen.append)
    assert not notifier.enabled and not notifier.ready()
    assert seen == ["cannot notify systemd: NOTIFY_SOCKET='vsock:2:1234' is neither a path nor an "
                    "abstract socket (@name)"]


def test_a_path_too_long_for_sun_path_is_an_error_not_an_exception(tmp_path: Path) -> None:
    notifier = Notifier("/" + "x" * 200)
    assert not notifier.ready()
    assert notifier.error is not None and notifier.error.startswith("cannot notify systemd at /xxx")


def test_a_full_queue_does_not_block_the_daemon(manager: Manager, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("numamove.daemon.notify.SEND_TIMEOUT", 0.05)
    notifier = Notifier(manager.text)
    sent = 0
    while notifier.watchdog():  # nobody reads: the receive queue fills, then a send times out
        sent += 1
        assert sent < 100_000
    assert sent > 0 and notifier.failures == 1 and notifier.error is not None
    assert manager.pending()
    notifier.close()


@pytest.mark.parametrize(("environ", "interval"), [
    ({"WATCHDOG_USEC": "60000000"}, 30.0),
    ({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": "4242"}, 30.0),
    ({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": "4243"}, None),
    ({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": "main"}, None),
    ({"WATCHDOG_USEC": "0"}, None),
    ({"WATCHDOG_USEC": "-5"}, None),
    ({"WATCHDOG_USEC": "sixty"}, None),
    ({"WATCHDOG_PID": "4242"}, None),
    ({}, None),
])
def test_the_watchdog_interval_is_half_the_timeout_when_it_is_ours(environ: dict[str, str],
                                                                    interval: float | None) -> None:
    notifier = Notifier.from_environment({"NOTIFY_SOCKET": "/run/systemd/notify", **environ}, pid=4242)
    assert notifier.watchdog_interval == interval


def test_the_environment_is_read_from_os_environ_by_default(manager: Manager,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", manager.text)
    monkeypatch.setenv("WATCHDOG_USEC", "1000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    notifier = Notifier.from_environment()
    assert notifier.watchdog_interval == 0.5
    assert notifier.watchdog() and manager.receive() == ("WATCHDOG=1", os.getpid())
    notifier.close()
    assert os.environ["NOTIFY_SOCKET"] == manager.text  # left for nobody else, but left
