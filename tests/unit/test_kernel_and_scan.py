"""The kernel seam (writes, the operation log, dry run, kept caches, the default kernel, /proc
errors), the plain-words causes, a scan on a captured tree, and the lower layers' import rules."""

from __future__ import annotations

import ast
import errno
import os
from pathlib import Path

import numpy as np
import pytest

import numamove
from numamove.errors import KernelError, NoSuchProcessError, NotPermittedError, OutOfMemoryError
from numamove.kernel import (
    DEFAULT,
    Kernel,
    Write,
    default_kernel,
    explain,
    process_error,
    takes_kernel_or_default,
)
from numamove.kernel.syscalls import MPOL_MF_MOVE, MPOL_MF_MOVE_ALL, CallFacts, translate
from numamove.procfs import PM_PRESENT, PM_SWAP
from numamove.scan import scan_process

from .fakes import FakeSyscalls

SRC = Path(numamove.__file__).resolve().parent
START = 0x7F00_0000_0000
PAGE = 4096


def test_writes_go_to_the_file_and_to_the_log(tmp_path: Path) -> None:
    (tmp_path / "proc" / "7").mkdir(parents=True)
    (tmp_path / "proc" / "7" / "clear_refs").write_text("old contents\n")
    kernel = Kernel(tmp_path)
    kernel.write("proc/7/clear_refs", "4\n")
    (tmp_path / "bitmap").write_bytes(bytes(32))
    kernel.write("bitmap", b"\xff" * 8, offset=16)
    assert (tmp_path / "proc" / "7" / "clear_refs").read_text() == "4\n"  # written from the start
    assert (tmp_path / "bitmap").read_bytes() == bytes(16) + b"\xff" * 8 + bytes(8)
    assert list(kernel.log) == [Write("proc/7/clear_refs", b"4\n"), Write("bitmap", b"\xff" * 8, 16)]


def test_a_dry_run_records_writes_and_makes_none(tmp_path: Path) -> None:
    kernel = Kernel(tmp_path, dry_run=True)
    kernel.write("sys/kernel/mm/damon/admin/kdamonds/nr_kdamonds", "1")
    kernel.write("proc/7/clear_refs", b"4")
    assert not any(tmp_path.iterdir())
    assert [(w.path, w.data, w.offset) for w in kernel.log] == [
        ("sys/kernel/mm/damon/admin/kdamonds/nr_kdamonds", b"1", None), ("proc/7/clear_refs", b"4", None)]


def test_small_files_below_one_directory_read_in_order(tmp_path: Path) -> None:
    regions = tmp_path / "sys" / "tried_regions"
    for index, (start, end) in enumerate([(4096, 8192), (0, 4096)]):
        (regions / str(index)).mkdir(parents=True)
        (regions / str(index) / "start").write_text(f"{start}\n")
        (regions / str(index) / "end").write_text(f"{end}\n")
    kernel = Kernel(tmp_path)
    assert kernel.read_files("sys/tried_regions", ["0/start", "0/end", "1/start", "1/end"]) == [
        b"4096\n", b"8192\n", b"0\n", b"4096\n"]
    assert kernel.read_files("sys/tried_regions", ["0/start"], size=2) == [b"40"]
    assert kernel.read_files("sys/tried_regions", []) == []
    with pytest.raises(FileNotFoundError):
        kernel.read_files("sys/tried_regions", ["0/start", "2/start"])
    with pytest.raises(NotADirectoryError):
        kernel.read_files("sys/tried_regions/0/start", [])


def test_a_write_that_fails_is_still_logged_and_raises(tmp_path: Path) -> None:
    kernel = Kernel(tmp_path)
    with pytest.raises(FileNotFoundError):
        kernel.write("no/such/dir/file", "1")
    assert [w.path for w in kernel.log] == ["no/such/dir/file"]


def test_kept_values_live_on_the_kernel_and_follow_a_watched_directory(tmp_path: Path) -> None:
    (tmp_path / "blocks" / "memory0").mkdir(parents=True)
    one, other = Kernel(tmp_path), Kernel(tmp_path)
    built: list[int] = []

    def build() -> int:
        built.append(len(built))
        return len(built)

    assert one.kept("map", build, watch="blocks") == 1
    assert one.kept("map", build, watch="blocks") == 1  # kept
    assert other.kept("map", build, watch="blocks") == 2  # each kernel keeps its own
    (tmp_path / "blocks" / "memory1").mkdir()  # a block added: built again
    assert one.kept("map", build, watch="blocks") == 3
    assert one.kept("map", build, watch="blocks", fresh=True) == 4
    assert one.kept("map", build, watch="missing") == 5  # no link count to go by: built each time
    assert one.kept("map", build, watch="missing") == 6


def test_the_default_kernel_is_supplied_in_one_place() -> None:
    @takes_kernel_or_default
    def positional(pid: int, kernel: Kernel = DEFAULT) -> Kernel:
        return kernel

    @takes_kernel_or_default
    def keyword(pid: int, *, kernel: Kernel = DEFAULT) -> Kernel:
        return kernel

    mine = Kernel("/tmp")
    assert positional(1) is default_kernel() and positional(1, None) is default_kernel()  # type: ignore[arg-type]
    assert positional(1, mine) is mine and positional(1, kernel=mine) is mine
    assert keyword(1) is default_kernel() and keyword(1, kernel=None) is default_kernel()  # type: ignore[arg-type]
    assert keyword(1, kernel=mine) is mine
    assert default_kernel() is default_kernel()
    with pytest.raises(TypeError):
        takes_kernel_or_default(lambda pid: pid)


@pytest.mark.parametrize(("err", "cls", "message"), [
    (errno.ENOENT, NoSuchProcessError, "no such process: pid 42"),
    (errno.ESRCH, NoSuchProcessError, "no such process: pid 42"),
    (errno.EACCES, NotPermittedError,
     "cannot read the memory of pid 42: another user's process needs root (CAP_SYS_PTRACE, and "
     "CAP_DAC_READ_SEARCH for its pagemap)"),
    (errno.EPERM, NotPermittedError,
     "cannot read the memory of pid 42: another user's process needs root (CAP_SYS_PTRACE, and "
     "CAP_DAC_READ_SEARCH for its pagemap)"),
    (errno.ENOMEM, OutOfMemoryError, "cannot read /proc/42/maps: Cannot allocate memory"),
    (errno.EIO, KernelError, "cannot read /proc/42/maps: Input/output error"),
])
def test_failed_proc_reads_map_to_the_exception_of_their_cause(err: int, cls: type[KernelError],
                                                               message: str) -> None:
    error = process_error(OSError(err, os.strerror(err)), 42, "maps")
    assert type(error) is cls and str(error) == message and error.syscall == ""


def test_causes_read_the_same_in_translation_and_in_pre_checks() -> None:
    facts = CallFacts(pid=77, flags=MPOL_MF_MOVE, nodes=frozenset({1}),
                      online_nodes=lambda: frozenset({0, 1, 2}), allowed_nodes=lambda pid: frozenset({0}),
                      can_move_all=lambda: False)
    assert str(translate(errno.EACCES, "move_pages", facts)) == (
        "move_pages: " + explain.outside_cpuset([1], 77, [0]))
    # The texts the command's pre-checks print (cli._check_move) for one node and one pid.
    assert explain.outside_cpuset([1], 77, {0}) == "node 1 is outside the cpuset of pid 77 (Mems_allowed 0)"
    assert explain.node_not_online([7], [0, 1, 2]) == "node 7 is not online (online: 0-2)"
    assert explain.node_not_online([3, 4], [0, 1, 2]) == "nodes 3-4 are not online (online: 0-2)"
    assert explain.node_without_memory(2) == "node 2 has no memory to move pages to"
    assert explain.move_all_needs_cap_sys_nice("--all (MPOL_MF_MOVE_ALL)") == (
        "--all (MPOL_MF_MOVE_ALL) needs CAP_SYS_NICE")
    assert explain.another_users_process(5) == (
        "pid 5 belongs to another user: moving its pages needs CAP_SYS_NICE and CAP_SYS_PTRACE "
        "(root has both)")
    offline = CallFacts(pid=0, flags=MPOL_MF_MOVE_ALL, nodes=frozenset({7}),
                        online_nodes=lambda: frozenset({0, 1, 2}), can_move_all=lambda: False)
    said = {err: str(translate(err, "move_pages", offline))
            for err in (errno.ENODEV, errno.EPERM, errno.ESRCH)}
    assert said == {errno.ENODEV: "move_pages: node 7 is not online (online: 0-2)",
                    errno.EPERM: "move_pages: MPOL_MF_MOVE_ALL needs CAP_SYS_NICE",
                    errno.ESRCH: "move_pages: no such process: the calling process"}


def captured_process(root: Path) -> None:
    """pid 9 with one anonymous VMA of four pages: two present, one never touched, one swapped."""
    proc = root / "proc" / "9"
    proc.mkdir(parents=True)
    (proc / "comm").write_text("worker\n")
    (proc / "maps").write_text(f"{START:x}-{START + 4 * PAGE:x} rw-p 00000000 00:00 0 \n")
    (proc / "numa_maps").write_text(f"{START:x} default anon=2 dirty=2 N1=2 kernelpagesize_kB=4\n")
    entries = np.array([PM_PRESENT | 0x1234, PM_PRESENT | 0x1235, 0, PM_SWAP | 0x77], dtype=np.uint64)
    with open(proc / "pagemap", "wb") as file:
        file.seek(START // PAGE * 8)
        file.write(entries.tobytes())


@pytest.mark.parametrize("keep", [False, True])
def test_a_query_scan_says_query(tmp_path: Path, keep: bool) -> None:
    captured_process(tmp_path)
    fake = FakeSyscalls(placement={START: 1, START + PAGE: 2})
    memory = scan_process(9, kernel=Kernel(tmp_path, syscalls=fake), pages=True, keep_pages=keep,
                          detail=False, method="query")
    assert memory.method == "query"
    assert memory.name == "worker" and memory.pages_by_node == {1: 1, 2: 1} and memory.swapped == 1
    assert [call.addresses for call in fake.calls] == [[START, START + PAGE]]  # the present pages only
    if keep:
        vma = memory.vmas[0]
        assert vma.pages is not None and vma.pages.nodes.tolist() == [1, 2, -2, -2]
        assert numamove.scan_application([9], kernel=Kernel(tmp_path, syscalls=fake), detail=False,
                                         method="query").method == "query"


def test_a_scan_of_a_process_gone_from_proc_says_so(tmp_path: Path) -> None:
    (tmp_path / "proc").mkdir()
    with pytest.raises(NoSuchProcessError, match="no such process: pid 9"):
        scan_process(9, kernel=Kernel(tmp_path, syscalls=FakeSyscalls()))


def imports_of(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


@pytest.mark.parametrize("pure", ["procfs", "model.py", "selection.py", "units.py", "kernel/explain.py"])
def test_pure_layers_import_no_kernel_and_do_no_io(pure: str) -> None:
    files = sorted((SRC / pure).rglob("*.py")) if (SRC / pure).is_dir() else [SRC / pure]
    for path in files:
        imports = imports_of(path)
        assert not {name for name in imports if name.startswith(("numamove.kernel.", "numamove.scan"))
                    and name != "numamove.kernel.explain"}, path
        assert "numamove.kernel" not in imports, path
        assert not imports & {"os", "ctypes", "click", "rich", "subprocess"}, path
        assert "open(" not in path.read_text() and "print(" not in path.read_text(), path


def test_the_lower_layers_never_reach_up() -> None:
    lower = [*sorted((SRC / "kernel").rglob("*.py")), *sorted((SRC / "procfs").rglob("*.py")),
             *sorted((SRC / "topology").rglob("*.py")), *sorted((SRC / "scan").rglob("*.py")),
             SRC / "model.py", SRC / "units.py", SRC / "selection.py", SRC / "targets.py"]
    for path in lower:
        imports = imports_of(path)
        assert not {n for n in imports if n.split(".")[:2] in (["numamove", "cli"], ["numamove", "mover"],
                                                                 ["numamove", "mapview"])}, path
        assert not imports & {"click", "rich"}, path


def test_a_process_or_thread_that_exited_reads_as_none(tmp_path: Path) -> None:
    (tmp_path / "proc" / "5").mkdir(parents=True)
    (tmp_path / "proc" / "5" / "comm").write_text("alive\n")
    kernel = Kernel(tmp_path)
    assert kernel.read_if_alive("proc/5/comm") == "alive\n"
    assert kernel.read_if_alive("proc/6/comm") is None


def test_another_default_kernel_serves_calls_without_one(tmp_path: Path) -> None:
    from numamove.kernel import set_default_kernel
    from numamove.topology import cpu_nodes

    (tmp_path / "sys" / "devices" / "system" / "cpu").mkdir(parents=True)
    (tmp_path / "sys" / "devices" / "system" / "cpu" / "online").write_text("0-3\n")
    running = default_kernel()
    set_default_kernel(Kernel(tmp_path))
    try:
        assert cpu_nodes() == {0: 0, 1: 0, 2: 0, 3: 0}  # no node directory: one node 0
    finally:
        set_default_kernel(running)
    assert default_kernel() is running
