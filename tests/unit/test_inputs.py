"""Bad input to the library: refused with InvalidInputError or InputTypeError naming the argument,
before any syscall and before any allocation the input could make unbounded."""

from __future__ import annotations

import re
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import numamove
from numamove._inputs import ascii_int, check_int, check_pid, node_ids
from numamove.kernel.syscalls import nodemask_words

from .fakes import FakeSyscalls

PAGES = [0x10000 + i * 4096 for i in range(16)]


def test_the_kernel_knows_its_possible_nodes(kernel: numamove.Kernel, tmp_path: Path) -> None:
    assert kernel.possible_nodes() == {0, 1, 2}
    assert kernel.node_limit() == 3
    (tmp_path / "sys/devices/system/node").mkdir(parents=True)
    (tmp_path / "sys/devices/system/node/online").write_text("0-1\n")
    assert numamove.Kernel(tmp_path).node_limit() == 2  # no "possible": the online nodes
    assert numamove.Kernel(tmp_path / "none").node_limit() == 1  # no NUMA: node 0


@pytest.mark.parametrize(("old", "new", "error", "message"), [
    ("0-99999999999", "0", numamove.NodemaskSyntaxError, "old_nodes: '0-99999999999': node 99999999999 does"),
    ("0", "!0-99999999999", numamove.NodemaskSyntaxError, "new_nodes: '!0-99999999999': node 99999999999"),
    ("3", "0", numamove.NodemaskSyntaxError, "node 3 does not exist (the highest possible node is 2)"),
    ([10**12], [0], numamove.InvalidInputError, "old_nodes: node 1000000000000 does not exist"),
    ([0], range(10**12), numamove.InvalidInputError, "new_nodes: node 3 does not exist"),
    (b"0", "0", numamove.InputTypeError, "old_nodes must be node ids (ints) or a nodemask string, not bytes"),
    ([0.5], [0], numamove.InputTypeError, "old_nodes must hold node ids (ints), not float 0.5"),
    (["a"], [0], numamove.InputTypeError, "old_nodes must hold node ids (ints), not str 'a'"),
    ([True], [0], numamove.InputTypeError, "old_nodes must hold node ids (ints), not bool"),
    ([0], None, numamove.InputTypeError, "new_nodes must be node ids"),
    ("0,,1", "2", numamove.NodemaskSyntaxError, "old_nodes: '0,,1' is not a nodemask (an empty element)"),
    ("\u0660", "1", numamove.NodemaskSyntaxError, "old_nodes: '\u0660' is not a nodemask"),
    ([0], [np.int64(-1)], numamove.InvalidInputError, "new_nodes: node -1 is negative"),
])
def test_migrate_pages_refuses_bad_node_sets_at_once(kernel: numamove.Kernel, fake: FakeSyscalls, old: Any,
                                                     new: Any, error: type[Exception], message: str) -> None:
    tracemalloc.start()
    try:
        with pytest.raises(error, match=re.escape(message)):
            numamove.migrate_pages(1, old, new, kernel=kernel)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20
    assert fake.migrations == []


def test_numpy_node_ids_are_fine(kernel: numamove.Kernel, fake: FakeSyscalls) -> None:
    numamove.migrate_pages(np.int32(5), np.array([0, 1]), (np.uint8(2),), kernel=kernel)  # type: ignore[arg-type]
    assert fake.migrations == [(5, 65, frozenset({0, 1}), frozenset({2}))]


@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda k: numamove.mbind(0x1000, 4096, numamove.Mode.BIND, [10**12], kernel=k),
     numamove.InvalidInputError, "nodes: node 1000000000000 does not exist"),
    (lambda k: numamove.set_mempolicy(numamove.Mode.BIND, range(10**12), kernel=k),
     numamove.InvalidInputError, "nodes: node 3 does not exist"),
    (lambda k: numamove.set_mempolicy(numamove.Mode.BIND, [0.5], kernel=k),  # type: ignore[list-item]
     numamove.InputTypeError, "nodes must hold node ids (ints), not float"),
    (lambda k: numamove.set_mempolicy(numamove.Mode.BIND, b"0", kernel=k),
     numamove.InputTypeError, "not bytes"),
    (lambda k: numamove.set_mempolicy("3", [0], kernel=k),  # type: ignore[arg-type]
     numamove.InputTypeError, "mode must be an int"),
    (lambda k: numamove.mbind(0x1000, True, 2, [0], kernel=k),
     numamove.InputTypeError, "length must be an int"),
    (lambda k: numamove.mbind(0x1000, 4096, 2, [0], 1.0, kernel=k),  # type: ignore[arg-type]
     numamove.InputTypeError, "flags must be an int"),
    (lambda k: numamove.get_mempolicy("0x1000", kernel=k),  # type: ignore[arg-type]
     numamove.InputTypeError, "addr must be an int"),
    (lambda k: numamove.get_mempolicy(-1, kernel=k), numamove.InvalidInputError, "addr must be at least 0"),
])
def test_policy_calls_refuse_bad_input(kernel: numamove.Kernel, call: Callable[[numamove.Kernel], Any],
                                       error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=re.escape(message)):
        call(kernel)


def test_a_kernel_mask_is_never_longer_than_the_kernel_reads() -> None:
    with pytest.raises(numamove.InvalidInputError, match="longer than the kernel accepts"):
        nodemask_words([10**12])


def test_out_must_be_a_writeable_int32_array_of_one_status_per_page(kernel: numamove.Kernel,
                                                                    fake: FakeSyscalls) -> None:
    frozen = b"\xff" * 64
    read_only = np.frombuffer(frozen, np.int32)
    with pytest.raises(numamove.InvalidInputError, match="out must be writeable"):
        numamove.move_pages(0, PAGES, kernel=kernel, out=read_only)
    assert frozen == b"\xff" * 64 and fake.calls == []
    with pytest.raises(numamove.InputTypeError, match="out must be a numpy int32 array, not list"):
        numamove.move_pages(0, PAGES, kernel=kernel, out=[0] * 16)  # type: ignore[arg-type]
    shape_message = ("out must be a contiguous one-dimensional int32 array of 16 entries, "
                     "not int32 shaped (4, 4)")
    with pytest.raises(numamove.InvalidInputError, match=re.escape(shape_message)):
        numamove.move_pages(0, PAGES, kernel=kernel, out=np.zeros((4, 4), np.int32))
    assert fake.calls == []


@pytest.mark.parametrize(("nodes", "message"), [
    (np.zeros((16, 1), np.int32), "nodes must be one-dimensional (one node per page), not shaped (16, 1)"),
    (np.zeros((4, 4), np.int32), "nodes must be one-dimensional (one node per page), not shaped (4, 4)"),
    ([[0] * 4] * 4, "nodes must be one-dimensional"),
])
def test_nodes_of_two_dimensions_are_refused_as_such(kernel: numamove.Kernel, fake: FakeSyscalls, nodes: Any,
                                                     message: str) -> None:
    with pytest.raises(numamove.InvalidInputError, match=re.escape(message)):
        numamove.move_pages(0, PAGES, nodes, kernel=kernel)
    with pytest.raises(numamove.InvalidInputError, match=re.escape("pages must be one-dimensional")):
        numamove.move_pages(0, np.array(PAGES).reshape(4, 4), kernel=kernel)
    assert fake.calls == []


@pytest.mark.parametrize(("arguments", "error", "message"), [
    ({"pid": "1234"}, numamove.InputTypeError, "pid must be an int, not str"),
    ({"pid": True}, numamove.InputTypeError, "pid must be an int, not bool"),
    ({"pid": 1.0}, numamove.InputTypeError, "pid must be an int, not float"),
    ({"pid": -1}, numamove.InvalidInputError, "pid must be 0 (the caller) or positive"),
])
def test_scan_process_refuses_a_pid_that_is_not_one(kernel: numamove.Kernel, arguments: dict[str, Any],
                                                    error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=re.escape(message)):
        numamove.scan_process(kernel=kernel, **arguments)


@pytest.mark.parametrize(("arguments", "message"), [
    ({"batch": 1.5}, "batch must be an int, not float"),
    ({"batch": True}, "batch must be an int, not bool"),
    ({"flags": "2"}, "flags must be an int, not str"),
])
def test_move_pages_refuses_bad_settings(kernel: numamove.Kernel, arguments: dict[str, Any],
                                         message: str) -> None:
    with pytest.raises(numamove.InputTypeError, match=re.escape(message)):
        numamove.move_pages(0, PAGES, kernel=kernel, **arguments)


@pytest.mark.parametrize(("statuses", "message"), [
    (None, "statuses must be an array of page statuses, not NoneType"),
    ("0", "statuses must be an array of page statuses, not str"),
    ([0.5, 1.0], "statuses must be integers (node ids or -errno), not float64"),
    ([{}], "statuses must be integers"),
])
def test_status_counts_refuses_what_is_not_statuses(statuses: Any, message: str) -> None:
    with pytest.raises(numamove.InputTypeError, match=re.escape(message)):
        numamove.status_counts(statuses)


def test_status_counts_and_descriptions_of_good_input() -> None:
    assert numamove.status_counts([]) == {}
    assert numamove.status_counts(np.array([[1, -2], [1, 0]], np.int32)) == {-2: 1, 0: 1, 1: 2}
    with pytest.raises(numamove.InputTypeError, match="status must be an int, not str"):
        numamove.describe_status("1")  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "base", "value"), [
    ("0", 10, 0), ("0123", 10, 123), ("ff", 16, 255), ("0x1F", 0, 31), ("17", 0, 17),
])
def test_ascii_int_reads_ascii_digits(text: str, base: int, value: int) -> None:
    assert ascii_int(text, "x", base=base) == value


@pytest.mark.parametrize(("text", "message"), [
    ("\u0661\u0662\u0663", "pid: '\u0661\u0662\u0663' is not a decimal number in ASCII digits"),
    ("\u0660", "pid: '\u0660' is not a decimal number"),
    ("\uff11\uff12", "not a decimal number"),  # fullwidth digits
    ("", "is not a decimal number"),
    (" 1", "is not a decimal number"),
    ("+1", "is not a decimal number"),
    ("-1", "is not a decimal number"),
    ("1_000", "is not a decimal number"),
    ("4194305", "pid: 4194305 is too large (at most 4194304)"),
    ("9" * 10000, "is far too large (at most 4194304)"),
])
def test_ascii_int_refuses_everything_else(text: str, message: str) -> None:
    with pytest.raises(numamove.InvalidInputError, match=re.escape(message)):
        ascii_int(text, "pid", limit=4194305)


def test_check_helpers() -> None:
    assert check_int(np.int16(3), "n", low=0) == 3
    assert check_pid(0) == 0
    with pytest.raises(numamove.InvalidInputError, match="pid 2147483648 is out of range"):
        check_pid(2**31)
    assert node_ids((0, 2, 2), "nodes", 3) == {0, 2}
    with pytest.raises(numamove.InputTypeError, match="nodes must be node ids"):
        node_ids(5, "nodes", 3)  # type: ignore[arg-type]


untyped: Any = numamove  # calls with the wrong types on purpose


@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda: untyped.one_node("1"), numamove.InputTypeError, "node must be an int, not str"),
    (lambda: untyped.one_node(10**12), numamove.InvalidInputError, "node must be at most 1023"),
    (lambda: untyped.by_source({0: "1"}), numamove.InputTypeError, "the target of node 0 in mapping"),
    (lambda: untyped.by_source([(0, 1)]), numamove.InputTypeError, "mapping must map node to node"),
    (lambda: untyped.remap_nodes([0], [10**12]), numamove.InvalidInputError, "new: node 1000000000000"),
    (lambda: untyped.remap_nodes(["a"], [1]), numamove.InputTypeError, "old must hold node ids (ints)"),
    (lambda: untyped.format_nodemask(["a"]), numamove.InputTypeError, "nodes must hold node ids (ints)"),
    (lambda: untyped.parse_cpulist(None), numamove.InputTypeError, "a list of ids must be a string"),
    (lambda: untyped.parse_nodemask(b"0", [0]), numamove.InputTypeError, "a nodemask must be a string"),
])
def test_chooser_and_nodemask_helpers_refuse_bad_input(call: Callable[[], Any], error: type[Exception],
                                                       message: str) -> None:
    with pytest.raises(error, match=re.escape(message)):
        call()
