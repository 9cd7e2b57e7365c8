"""Targets without user memory, on the guest's kernel: kernel threads and zombies."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from click.testing import CliRunner, Result

from numamove.cli import main
from numamove.targets import no_user_memory

from .conftest import Channel, Layout, forked


def cli(*arguments: str) -> Result:
    return CliRunner().invoke(main, list(arguments))


def error_line(result: Result) -> str:
    assert result.exit_code == 1 and result.stdout == "", result.output
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.output, result.output
    return result.stderr


@contextmanager
def zombie(name: str) -> Iterator[int]:
    """A child that has exited and that nobody has waited for yet."""
    pid = os.fork()
    if pid == 0:
        with open("/proc/self/comm", "w") as comm:
            comm.write(name)
        os._exit(0)
    try:
        deadline = time.monotonic() + 10
        while _state(pid) != "Z":
            assert time.monotonic() < deadline, "the child never became a zombie"
            time.sleep(0.01)
        yield pid
    finally:
        os.waitpid(pid, 0)


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rpartition(")")[2].split()[0]


@pytest.mark.parametrize("command", [["where", "2"], ["map", "2"], ["move", "2", "--to", "0"],
                                     ["migrate", "2", "0", "1"]])
def test_kthreadd_is_named_a_kernel_thread(layout: Layout, command: list[str]) -> None:
    with open("/proc/2/comm") as comm:
        assert comm.read() == "kthreadd\n"
    assert error_line(cli(*command)) == \
        "numamove: error: pid 2 (kthreadd) is a kernel thread: it has no user memory\n"


def test_a_pattern_of_kernel_threads_only_is_one_line() -> None:
    line = error_line(cli("where", "^kworker/"))
    assert line.startswith("numamove: error: name pattern '^kworker/' selects only kernel threads and "
                           "zombies (")
    assert line.endswith(" processes): they have no user memory\n")


def test_a_zombie_is_named_one(layout: Layout) -> None:
    with zombie("nm-zombie") as pid:
        expected = (f"numamove: error: pid {pid} (nm-zombie) is a zombie: it has exited and has no memory "
                    "left\n")
        assert error_line(cli("move", str(pid), "--to", str(layout.cpu_nodes[0]))) == expected
        assert error_line(cli("migrate", str(pid), "0", "1")) == expected
        assert error_line(cli("where", str(pid))) == expected


def test_a_pattern_leaves_zombies_and_kernel_threads_out(layout: Layout) -> None:
    def body(channel: Channel) -> None:
        with open("/proc/self/comm", "w") as comm:
            comm.write("nm-target")
        channel.send()
        channel.receive()

    with forked(body) as child, zombie("nm-target") as dead:
        child.receive()
        assert no_user_memory(dead) is not None and no_user_memory(child.pid) is None
        result = cli("where", "^nm-target$|^kthreadd$", "--json")
        assert result.exit_code == 0, result.output
        assert f'"pid": {child.pid},' in result.stdout and f'"pid": {dead},' not in result.stdout
        assert '"pid": 2,' not in result.stdout
