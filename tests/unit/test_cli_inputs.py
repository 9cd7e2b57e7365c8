"""Command-line inputs, outputs and targets: bad input is one line and a known exit status."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import numamove
from numamove.cli import app, main
from numamove.errors import InvalidInputError, NoSuchProcessError
from numamove.move.pipeline import read_target
from numamove.selection import parse_address_range
from numamove.targets import NoUserMemoryError, no_user_memory, resolve_targets
from numamove.topology import read_topology

from .conftest import FIXTURES

GUEST = FIXTURES / "qemu-3node-hmat"
USER_FLAGS = 0x400100  # PF_RANDOMIZE | PF_FORKNOEXEC: an ordinary process
KTHREAD_FLAGS = 0x208040  # what kthreadd shows: PF_KTHREAD | PF_NOFREEZE | PF_FORKNOEXEC


def stat_line(pid: int, name: str, state: str = "S", flags: int = USER_FLAGS) -> str:
    rest = " ".join(["0"] * 44)
    return f"{pid} ({name}) {state} 1 {pid} {pid} 0 -1 {flags} {rest}\n"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """The guest's captured /sys with a made-up /proc: two user processes ("redis-server", one
    whose name holds ") S 1"), kthreadd and a kworker (kernel threads), a zombie and a cgroup."""
    (tmp_path / "sys" / "fs" / "cgroup" / "db").mkdir(parents=True)
    for entry in ("devices", "kernel"):
        (tmp_path / "sys" / entry).symlink_to(GUEST / "sys" / entry)
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc" / "sys").symlink_to(GUEST / "proc" / "sys")
    processes = {
        2: ("kthreadd", "S", KTHREAD_FLAGS),
        7: ("kworker/0:1-events", "I", KTHREAD_FLAGS),
        123: ("redis-server", "S", USER_FLAGS),
        124: ("redis-server", "R", USER_FLAGS),
        200: ("odd) S 1 (name", "S", USER_FLAGS),
        300: ("defunct-thing", "Z", USER_FLAGS),
    }
    for pid, (name, state, flags) in processes.items():
        directory = tmp_path / "proc" / str(pid)
        directory.mkdir()
        (directory / "stat").write_text(stat_line(pid, name, state, flags))
        (directory / "comm").write_text(name + "\n")
        (directory / "status").write_text(f"Name:\t{name}\nUid:\t{os.geteuid()}\t0\t0\t0\n"
                                          "Mems_allowed_list:\t0-2\n")
    (tmp_path / "sys" / "fs" / "cgroup" / "cgroup.procs").write_text("2\n7\n300\n")
    (tmp_path / "sys" / "fs" / "cgroup" / "db" / "cgroup.procs").write_text("123\n124\n")
    return tmp_path


def run(root: Path, *arguments: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, ["--root", str(root), *arguments], input=input)


def one_line(result: Result, status: int = 1) -> str:
    """The single "numamove: error: ..." line of a refused command; nothing on stdout."""
    assert result.exit_code == status, result.output
    assert result.stdout == "" and result.stderr.count("\n") == 1, result.output
    assert "Traceback" not in result.output and result.stderr.startswith("numamove: error: ")
    return result.stderr


# --- 1. --to weights -------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["0:nan,1:1", "0:inf,1:1", "0:nan", "0:-inf", "0:1e309", "0:0", "0:1e-400",
                                  "0:-1", "0:", "0:\u0661", "0:1_0", "0:0x10"])
def test_to_weights_must_be_finite_positive_ascii_numbers(kernel: numamove.Kernel, text: str) -> None:
    weight = text.split(",")[0].partition(":")[2]
    message = f"--to {text!r}: weight {weight!r} is not a finite positive number"
    with pytest.raises(InvalidInputError, match=re.escape(message)):
        read_target(text, kernel, read_topology(kernel))


@pytest.mark.parametrize(("text", "expected"), [
    ("0:1e-9,1:1e-9", {0: 1e-9, 1: 1e-9}), ("0:1e308,1:1e308", {0: 1e308, 1: 1e308}),
    ("0:3,1:.5", {0: 3.0, 1: 0.5}), ("0-1", {0: 1.0, 1: 1.0}), ("2:1.", {2: 1.0})])
def test_to_weights_that_are_valid(kernel: numamove.Kernel, text: str, expected: dict[int, float]) -> None:
    assert read_target(text, kernel, read_topology(kernel)) == expected


def test_move_refuses_a_nan_weight_in_one_line(root: Path) -> None:
    line = one_line(run(root, "move", "123", "--to", "0:nan,1:1"))
    assert line == "numamove: error: --to '0:nan,1:1': weight 'nan' is not a finite positive number " \
                   "(like 3 or 0.5) nor 'free'\n"


# --- 2. pids ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("spec", "message"), [
    ("123 456", "'123 456' is not a list of pids: separate pids with commas"),
    ("123,456 789", "is not a list of pids: separate pids with commas"),
    ("\u0661\u0662\u0663", "pid '\u0661\u0662\u0663' is not written in ASCII digits"),
    ("123,\uff11\uff12\uff14", "is not written in ASCII digits"),
    ("99999999999999999999", "pid 99999999999999999999 is not a process id: pids run from 1 to 4194303"),
    ("4194304", "pid 4194304 is not a process id"),
    ("7" * 100_000, "pid 7777777777777777777777777777777777777777... is not a process id"),
    ("0", "pid 0 is not a process id"),
    ("-5", "pid -5 is not a process id: pids are positive"),
    ("123,,124", "is not a list of pids like 1234,5678"),
])
def test_bad_pid_lists_are_refused_by_name(root: Path, spec: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        resolve_targets(spec, numamove.Kernel(root))
    assert message in one_line(run(root, "where", "--", spec))


def test_good_pid_lists(root: Path) -> None:
    kernel = numamove.Kernel(root)
    assert resolve_targets("000123", kernel) == [123]
    assert resolve_targets(" 124, 123 ,123", kernel) == [123, 124]
    assert resolve_targets("name:-5|redis", kernel) == [123, 124]  # name: reads a pattern, as documented
    with pytest.raises(NoSuchProcessError, match="no such process: pid 125"):
        resolve_targets("125", kernel)


# --- 6. kernel threads and zombies ------------------------------------------------------------


def test_no_user_memory_reads_the_kthread_flag_and_the_zombie_state(root: Path) -> None:
    kernel = numamove.Kernel(root)
    assert no_user_memory(2, kernel) == "pid 2 (kthreadd) is a kernel thread: it has no user memory"
    assert no_user_memory(300, kernel) == \
        "pid 300 (defunct-thing) is a zombie: it has exited and has no memory left"
    assert no_user_memory(123, kernel) is None
    assert no_user_memory(200, kernel) is None  # ") S 1 (" in the name is not the state
    assert no_user_memory(999, kernel) is None  # gone: whoever reads it next says so


@pytest.mark.parametrize("command", [["where", "2"], ["map", "2"], ["move", "2", "--to", "0"],
                                     ["migrate", "2", "0", "1"], ["where", "123,2"]])
def test_a_kernel_thread_named_by_pid_is_refused_as_one(root: Path, command: list[str]) -> None:
    assert one_line(run(root, *command)) == \
        "numamove: error: pid 2 (kthreadd) is a kernel thread: it has no user memory\n"


def test_a_zombie_named_by_pid_is_refused_as_one(root: Path) -> None:
    with pytest.raises(NoUserMemoryError, match=r"pid 300 \(defunct-thing\) is a zombie"):
        resolve_targets("300", numamove.Kernel(root))


def test_patterns_and_cgroups_leave_kernel_threads_and_zombies_out(root: Path) -> None:
    kernel = numamove.Kernel(root)
    assert resolve_targets(".", kernel) == [123, 124, 200]
    assert resolve_targets("cgroup:/", kernel) == [123, 124]
    with pytest.raises(NoUserMemoryError, match="name pattern 'kworker' selects one process, and pid 7 "
                                                r"\(kworker/0:1-events\) is a kernel thread"):
        resolve_targets("kworker", kernel)
    assert one_line(run(root, "where", "k")) == (
        "numamove: error: name pattern 'k' selects only kernel threads and zombies (2 processes): "
        "they have no user memory\n")
    (root / "sys" / "fs" / "cgroup" / "db" / "cgroup.procs").write_text("")
    with pytest.raises(NoUserMemoryError, match="cgroup 'cgroup:/' selects only kernel threads and zombies "
                                                r"\(3 processes\)"):
        resolve_targets("cgroup:/", kernel)


# --- 7. broad targets need --yes --------------------------------------------------------------


@pytest.mark.parametrize("command", [["move", ".", "--to", "0"], ["migrate", "redis", "0", "1"],
                                     ["move", "cgroup:/", "--to", "1", "--dry-run"]])
def test_a_broad_target_needs_yes_off_a_terminal(root: Path, command: list[str]) -> None:
    line = one_line(run(root, *command), status=2)
    count = 3 if command[1] == "." else 2
    assert f"{command[1]!r} selects {count} processes (123 redis-server, 124 redis-server" in line
    assert line.endswith("): add --yes to act on all of them\n")


def test_the_list_of_a_broad_target_is_bounded(root: Path) -> None:
    for pid in range(1000, 1030):
        (root / "proc" / str(pid)).mkdir()
        (root / "proc" / str(pid) / "stat").write_text(stat_line(pid, "worker"))
        (root / "proc" / str(pid) / "comm").write_text("worker\n")
    line = one_line(run(root, "move", "worker", "--to", "0"), status=2)
    assert "'worker' selects 30 processes (1000 worker, " in line and "1009 worker, and 20 more)" in line
    assert "1010" not in line


def test_where_with_every_process_skipped_is_an_error(root: Path) -> None:
    result = run(root, "where", "redis")  # the made-up processes have no memory maps to read
    assert result.exit_code == 1 and result.stdout == "", result.output
    assert result.stderr.splitlines()[-1] == "numamove: error: no such process: pid 124"


def test_yes_lets_a_broad_target_through_and_pids_need_no_yes(root: Path) -> None:
    for command in (["move", "redis", "--to", "0", "--yes"], ["migrate", "-y", "redis", "0", "1"],
                    ["move", "123,124", "--to", "0"], ["where", "redis"]):
        result = run(root, *command)
        assert "--yes" not in result.output, (command, result.output)
        # past the target check, the made-up processes have no memory maps to read
        assert result.exit_code == 1 and "Traceback" not in result.output, result.output


def test_on_a_terminal_a_broad_target_asks(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app, "on_terminal", lambda: True)
    refused = run(root, "move", "redis", "--to", "0", input="n\n")
    assert refused.exit_code == 1 and refused.stdout == ""
    assert "'redis' selects 2 processes:\n  123 redis-server\n  124 redis-server\n" in refused.stderr
    assert "Act on all 2 of them? [y/N]" in refused.stderr and "Aborted!" in refused.stderr
    accepted = run(root, "move", "redis", "--to", "0", input="y\n")
    assert "Aborted!" not in accepted.stderr and "numamove: error: " in accepted.stderr


def test_long_targets_are_cut_short_in_messages(root: Path) -> None:
    line = one_line(run(root, "where", "a" * 100_000))
    assert line == f"numamove: error: no process name matches {'a' * 80!r}... (100000 characters)\n"


def test_an_empty_vma_is_refused_not_read_as_no_filter(root: Path) -> None:
    result = run(root, "where", "123", "--vma", " ")
    assert result.exit_code == 2 and "Invalid value for '--vma': is empty" in result.output


# --- 5. --range -------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "message"), [
    ("0-0x100000000000000000000", "addresses stop at 2\\*\\*64"),
    ("0-18446744073709555712", "addresses stop at 2\\*\\*64"),
    ("1" * 5000 + "-1", "addresses stop at 2\\*\\*64"),
    ("\u0660-\u0664\u0660\u0669\u0666", "expected START-END in hex"),
    ("0x1000-0x\uff12000", "expected START-END in hex"),
    ("0o10-0o20", "expected START-END in hex"),
])
def test_ranges_past_64_bits_or_in_other_digits_are_refused(text: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        parse_address_range(text)


def test_ranges_up_to_the_top_of_the_address_space() -> None:
    assert parse_address_range("0xfffffffffffff000-0x10000000000000000") == (2**64 - 4096, 2**64)
    assert parse_address_range(" 4096 - 0x2000 ") == (4096, 8192)


# --- 4. Ctrl-C --------------------------------------------------------------------------------


def test_ctrl_c_in_a_command_exits_130_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*_arguments: object, **_keywords: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("numamove.topology.read_topology", interrupted)
    result = CliRunner().invoke(main, ["--root", str(GUEST), "nodes"])
    assert result.exit_code == 130 and result.output == "numamove: interrupted\n"


@pytest.mark.parametrize("how", ["script", "module"])
def test_ctrl_c_while_the_command_loads_exits_130_without_a_traceback(tmp_path: Path, how: str) -> None:
    """A real SIGINT, sent while numamove.cli imports click: a module named click, first on the path."""
    (tmp_path / "click").mkdir()
    (tmp_path / "click" / "__init__.py").write_text(
        "import os, signal, time\nos.kill(os.getpid(), signal.SIGINT)\ntime.sleep(30)\n")
    command = [str(Path(sys.executable).parent / "numamove")] if how == "script" \
        else [sys.executable, "-m", "numamove"]
    path = os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])
    done = subprocess.run([*command, "--root", str(GUEST), "nodes"], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": path}, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (130, "", "numamove: interrupted\n")


# --- 3. stdout closed, full, or a reader that left --------------------------------------------


def numamove_with_stdout(redirect: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    """Run numamove from a shell with stdout redirected (">&-" closes it)."""
    script = f'exec "$@" {redirect}'
    return subprocess.run(["sh", "-c", script, "sh", sys.executable, "-m", "numamove", *arguments],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=60)


@pytest.mark.parametrize("arguments", [["nodes"], ["nodes", "--json"], ["where", "SELF"], ["--help"],
                                       ["move", "SELF", "--to", "0", "--dry-run"]])
@pytest.mark.parametrize(("redirect", "message"), [(">&-", "standard output is closed"),
                                                   (">/dev/full", "cannot write the output: No space left")])
def test_stdout_closed_or_full_is_one_line_and_exit_1(arguments: list[str], redirect: str,
                                                      message: str) -> None:
    own = ["--root", str(GUEST)] if arguments[0] == "nodes" else []
    done = numamove_with_stdout(redirect, *own, *(str(os.getpid()) if a == "SELF" else a for a in arguments))
    assert (done.returncode, done.stderr) == (1, f"numamove: error: {message}" +
                                              (" on device\n" if "space" in message else "\n"))


def test_a_reader_that_left_is_exit_1_and_silent() -> None:
    """`numamove where PID | head -1`: the pipe's reader is gone before the output is written."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run([sys.executable, "-m", "numamove", "where", str(os.getpid())], stdout=write_end,
                              stderr=subprocess.PIPE, text=True, timeout=60)
    finally:
        os.close(write_end)
    assert (done.returncode, done.stderr) == (1, "")


# --- 8. help ----------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["where", "move", "migrate"])
def test_help_explains_target_forms_with_examples(command: str) -> None:
    text = CliRunner().invoke(main, [command, "--help"]).output
    lines = text.splitlines()
    for form in ("1234", "1234,5678", "name:REGEX", "cgroup:PATH", "/PATH"):
        assert any(line.lstrip().startswith(form + " ") for line in lines), (form, text)
    examples = [line.strip() for line in lines if line.strip().startswith(f"numamove {command} ")]
    assert 2 <= len(examples) <= 4, text
    if command != "where":
        assert any(line.strip().startswith("0-2,4 ") for line in lines), text  # the nodemask syntax
        assert "--yes" in text


@pytest.mark.parametrize("args", [
    ["where", "a{99999999999}"],            # a repeat count past the regex engine's limit
    ["where", "123", "--vma", "a{99999999999}"],
    ["where", "(" * 2000 + "x" + ")" * 2000],  # nesting past the parser's recursion limit
])
def test_regexes_the_engine_cannot_build_are_one_line(root: Path, args: list[str]) -> None:
    result = CliRunner().invoke(main, ["--root", str(root), *args])
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "is not a valid regular expression" in lines[0], lines


def test_a_pattern_python_warns_about_prints_no_warning(root: Path) -> None:
    """re warns "Possible nested set" for [[:alpha:]]; a warning on the terminal is not ours to print."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = CliRunner().invoke(main, ["--root", str(root), "where", "name:[[:alpha:]]", "--json"])
    assert "Warning" not in result.stderr
    assert result.exit_code == 1 and result.stderr.startswith("numamove: error: "), result.stderr


def test_a_root_without_proc_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "sys").symlink_to(GUEST / "sys")
    result = CliRunner().invoke(main, ["--root", str(tmp_path), "where", "name:x"])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [f"numamove: error: cannot read {tmp_path}/proc: "
                                          "No such file or directory"]


def test_a_bug_is_one_line_with_its_own_status(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An exception nothing expected: one line and exit 70, outside the documented statuses, so a
    test or a script sees a bug for what it is; NUMAMOVE_DEBUG=1 gives the traceback."""
    def broken(*_: object, **__: object) -> None:
        raise ZeroDivisionError("made up")

    monkeypatch.setattr("numamove.targets.resolve_targets", broken)
    result = CliRunner().invoke(main, ["--root", str(root), "where", "123"])
    assert result.exit_code == 70
    assert result.stderr.splitlines() == ["numamove: internal error: ZeroDivisionError: made up "
                                          "(a bug: please report it; NUMAMOVE_DEBUG=1 shows the traceback)"]
    monkeypatch.setenv("NUMAMOVE_DEBUG", "1")
    result = CliRunner().invoke(main, ["--root", str(root), "where", "123"])
    assert isinstance(result.exception, ZeroDivisionError)


def test_map_to_an_empty_path_is_refused(root: Path) -> None:
    result = CliRunner().invoke(main, ["--root", str(root), "map", "123", "-o", ""])
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.splitlines() == [
        "numamove: error: the picture's path is empty: give a file name such as map.png"]


def test_an_empty_from_is_refused_not_ignored(root: Path) -> None:
    result = run(root, "move", "123", "--to", "0", "--from", "", "--dry-run")
    assert result.exit_code == 1
    assert result.stderr.startswith("numamove: error: empty nodemask"), result.stderr


def test_to_past_the_possible_nodes_names_the_kernel_bound(root: Path) -> None:
    """The captured guest has nodes 0-2 possible: the bound comes from the kernel, not a default."""
    result = run(root, "move", "123", "--to", "0-99999999999:1", "--dry-run")
    assert result.exit_code == 1
    assert "highest possible node is 2" in result.stderr, result.stderr


def test_a_process_that_exits_before_the_checks_is_one_line(root: Path) -> None:
    """Its stat was there when the target was resolved; its status is gone by the checks."""
    (root / "proc" / "123" / "status").unlink()
    result = run(root, "move", "123", "--to", "0", "--dry-run")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == ["numamove: error: no such process: pid 123 (it exited)"]
