from __future__ import annotations

import errno
import re
from typing import Any

import numpy as np
import pytest

import numamove

from .fakes import FakeSyscalls

PAGES = [0x10000 + i * 4096 for i in range(10)]


@pytest.fixture
def placed(fake: FakeSyscalls) -> FakeSyscalls:
    fake.placement = {address: i % 3 for i, address in enumerate(PAGES)}
    return fake


def test_query_returns_int32_statuses(kernel: numamove.Kernel, placed: FakeSyscalls) -> None:
    status = numamove.move_pages(0, PAGES, kernel=kernel)
    assert status.dtype == np.int32 and status.tolist() == [i % 3 for i in range(10)]
    assert placed.calls[0].nodes is None and placed.calls[0].flags == numamove.MPOL_MF_MOVE


def test_statuses_go_into_a_given_array(kernel: numamove.Kernel, placed: FakeSyscalls) -> None:
    out = np.full(10, 99, dtype=np.int32)
    assert numamove.move_pages(0, PAGES, kernel=kernel, out=out) is out
    assert out.tolist() == [i % 3 for i in range(10)]
    for bad in (np.empty(9, dtype=np.int32), np.empty(10, dtype=np.int64), np.empty(20, dtype=np.int32)[::2]):
        with pytest.raises(numamove.InvalidInputError, match="out must be"):
            numamove.move_pages(0, PAGES, kernel=kernel, out=bad)  # type: ignore[arg-type]


def test_unknown_addresses_are_per_page_data(kernel: numamove.Kernel, placed: FakeSyscalls) -> None:
    status = numamove.move_pages(0, [*PAGES[:2], 0xdead000], kernel=kernel)
    assert status.tolist() == [0, 1, numamove.PageStatus.FAULT]


@pytest.mark.parametrize("pages", [
    PAGES,
    np.array(PAGES, dtype=np.int64),
    np.array(PAGES, dtype=np.uint64),
    np.array(PAGES, dtype=np.uint32),
    np.repeat(np.array(PAGES, dtype=np.int64), 2)[::2],  # not contiguous
    tuple(PAGES),
])
def test_every_integer_input_form_reaches_the_kernel_as_uint64(
    kernel: numamove.Kernel, placed: FakeSyscalls, pages: Any
) -> None:
    numamove.move_pages(0, pages, 2, kernel=kernel)
    assert placed.calls[0].addresses == PAGES
    assert placed.calls[0].nodes == [2] * 10


def test_uint64_input_is_not_copied() -> None:
    pages = np.array(PAGES, dtype=np.uint64)
    from numamove.move.pages import as_addresses

    assert np.shares_memory(as_addresses(pages), pages)
    assert np.shares_memory(as_addresses(pages.astype(np.int64)), pages) is False


def test_per_page_targets(kernel: numamove.Kernel, placed: FakeSyscalls) -> None:
    targets = [2, 1, 0] * 3 + [1]
    status = numamove.move_pages(0, PAGES, targets, kernel=kernel)
    assert status.tolist() == targets
    assert placed.calls[0].nodes == targets


def test_batches_cover_every_page_once(kernel: numamove.Kernel, placed: FakeSyscalls) -> None:
    targets = np.array([2, 1, 0] * 3 + [1], dtype=np.int16)
    status = numamove.move_pages(0, PAGES, targets, kernel=kernel, batch=4)
    assert [len(call.addresses) for call in placed.calls] == [4, 4, 2]
    assert [a for call in placed.calls for a in call.addresses] == PAGES
    assert [n for call in placed.calls for n in call.nodes or []] == targets.tolist()
    assert status.tolist() == targets.tolist()


def test_one_target_for_every_page_in_batches(kernel: numamove.Kernel, placed: FakeSyscalls) -> None:
    numamove.move_pages(0, PAGES, 1, kernel=kernel, batch=3)
    assert [call.nodes for call in placed.calls] == [[1] * 3, [1] * 3, [1] * 3, [1]]


def test_positive_result_is_not_an_error(kernel: numamove.Kernel, placed: FakeSyscalls) -> None:
    placed.not_moved = 3
    assert numamove.move_pages(0, PAGES, 0, kernel=kernel).tolist() == [0] * 10


def test_statuses_the_kernel_left_unwritten_are_queried(
    kernel: numamove.Kernel, placed: FakeSyscalls
) -> None:
    placed.stop_after = 6
    status = numamove.move_pages(0, PAGES, 2, kernel=kernel)
    # Pages 0-5 moved; 6-9 were never tried, so a query reports where they still are.
    assert status.tolist() == [2] * 6 + [6 % 3, 7 % 3, 8 % 3, 9 % 3]
    assert placed.calls[-1].nodes is None and placed.calls[-1].addresses == PAGES[6:]


def test_empty_input_makes_no_call(kernel: numamove.Kernel, fake: FakeSyscalls) -> None:
    assert numamove.move_pages(0, [], kernel=kernel).shape == (0,)
    assert numamove.move_pages(0, np.array([], dtype=np.uint64), [], kernel=kernel).shape == (0,)
    assert fake.calls == []


@pytest.mark.parametrize(("call", "error", "message"), [
    (dict(pid=-1), numamove.InvalidInputError, "pid must be 0 .* or positive, not -1"),
    (dict(pid=2**31), numamove.InvalidInputError, "pid 2147483648 is out of range"),
    (dict(pid=1.5), numamove.InputTypeError, "pid must be an int, not float"),
    (dict(pid=True), numamove.InputTypeError, "pid must be an int, not bool"),
    (dict(pages=[1.5, 2.0]), numamove.InputTypeError, "integer addresses, not float64"),
    (dict(pages=["0x1000"]), numamove.InputTypeError, "integer addresses"),
    (dict(pages="0x1000"), numamove.InputTypeError, "not str"),
    (dict(pages=5), numamove.InputTypeError, "not int"),
    (dict(pages=[True]), numamove.InputTypeError, "integer addresses, not bool"),
    (dict(pages=[-4096]), numamove.InvalidInputError, "negative address -4096"),
    (dict(pages=[2**64]), numamove.InvalidInputError, "does not fit in 64 bits"),
    (dict(pages=np.zeros((2, 2), dtype=np.uint64)), numamove.InvalidInputError, "one-dimensional"),
    (dict(nodes=[0, 1]), numamove.InvalidInputError, "nodes has 2 entries for 10 pages"),
    (dict(nodes=[0.5] * 10), numamove.InputTypeError, "integer node ids, not float64"),
    (dict(nodes="1"), numamove.InputTypeError, "nodes must be None, a node id"),
    (dict(nodes=2**31), numamove.InvalidInputError, "node 2147483648 does not fit"),
    (dict(nodes=[2**40] * 10), numamove.InvalidInputError, "node 1099511627776 does not fit"),
    (dict(flags=None), numamove.InputTypeError, "flags must be an int"),
    (dict(batch=0), numamove.InvalidInputError, "batch must be at least 1"),
])
def test_bad_input_is_refused_before_any_syscall(
    kernel: numamove.Kernel, fake: FakeSyscalls, call: dict[str, Any], error: type[Exception], message: str
) -> None:
    arguments: dict[str, Any] = dict(pid=0, pages=PAGES, nodes=None, kernel=kernel) | call
    with pytest.raises(error, match=message):
        numamove.move_pages(**arguments)
    assert fake.calls == []
    assert issubclass(error, numamove.NumaMoveError)
    assert issubclass(error, (ValueError, TypeError))


@pytest.mark.parametrize(("err", "cls", "builtin", "message"), [
    (errno.ESRCH, numamove.NoSuchProcessError, ProcessLookupError, "move_pages: no such process: pid 4242"),
    (errno.EPERM, numamove.NotPermittedError, PermissionError,
     "move_pages: pid 4242 belongs to another user: moving its pages needs CAP_SYS_NICE and "
     "CAP_SYS_PTRACE (root has both)"),
    (errno.EACCES, numamove.NodeNotAllowedError, PermissionError,
     "move_pages: a target node is outside the cpuset of pid 4242"),
    (errno.ENODEV, numamove.NodeOfflineError, OSError, "move_pages: a target node is not online"),
    (errno.EINVAL, numamove.InvalidRequestError, OSError, "move_pages: invalid arguments"),
    (errno.E2BIG, numamove.TooManyPagesError, OSError, "move_pages: too many pages in one call"),
    (errno.ENOMEM, numamove.OutOfMemoryError, OSError, "move_pages: the kernel could not allocate"),
    (errno.EFAULT, numamove.BadAddressError, OSError, "move_pages: the kernel could not access"),
])
def test_call_errors_are_translated_once(
    kernel: numamove.Kernel, fake: FakeSyscalls, err: int, cls: type[numamove.KernelError],
    builtin: type[OSError], message: str,
) -> None:
    fake.fail_with = err
    with pytest.raises(cls, match=re.escape(message)) as caught:
        numamove.move_pages(4242, PAGES, 1, kernel=kernel)
    assert isinstance(caught.value, builtin) and isinstance(caught.value, numamove.NumaMoveError)
    assert caught.value.errno == err and caught.value.syscall == "move_pages"


def test_offline_node_is_named_among_per_page_targets(kernel: numamove.Kernel, fake: FakeSyscalls) -> None:
    fake.fail_with = errno.ENODEV
    with pytest.raises(numamove.NodeOfflineError, match=r"nodes 5,7 are not online \(online: 0-2\)"):
        numamove.move_pages(0, PAGES, [0, 5, 7, 1, 0, 0, 0, 0, 0, 0], kernel=kernel)


def test_move_all_without_cap_sys_nice(tmp_path: Any, fake: FakeSyscalls) -> None:
    (tmp_path / "proc/self").mkdir(parents=True)
    (tmp_path / "proc/self/status").write_text("Name:\tpython\nCapEff:\t0000000000000000\n")
    fake.fail_with = errno.EPERM
    with pytest.raises(PermissionError, match=r"^move_pages: MPOL_MF_MOVE_ALL needs CAP_SYS_NICE$"):
        numamove.move_pages(0, PAGES, 1, numamove.MPOL_MF_MOVE_ALL,
                            kernel=numamove.Kernel(tmp_path, syscalls=fake))


def test_cpuset_error_names_mems_allowed(tmp_path: Any, fake: FakeSyscalls) -> None:
    (tmp_path / "proc/77").mkdir(parents=True)
    (tmp_path / "proc/77/status").write_text("Mems_allowed_list:\t0\n")
    fake.fail_with = errno.EACCES
    with pytest.raises(numamove.NodeNotAllowedError,
                       match=r"node 2 is outside the cpuset of pid 77 \(Mems_allowed 0\)"):
        numamove.move_pages(77, PAGES, 2, kernel=numamove.Kernel(tmp_path, syscalls=fake))


def test_strict_flag_is_explained(kernel: numamove.Kernel, fake: FakeSyscalls) -> None:
    fake.fail_with = errno.EINVAL
    with pytest.raises(numamove.InvalidRequestError, match="invalid flags 0x1: move_pages takes only"):
        numamove.move_pages(0, PAGES, 1, numamove.MPOL_MF_STRICT, kernel=kernel)


def test_failure_in_a_later_batch_says_how_far_it_got(kernel: numamove.Kernel, fake: FakeSyscalls) -> None:
    fake.fail_with, fake.fail_on_call = errno.ESRCH, 2
    with pytest.raises(numamove.NoSuchProcessError) as caught:
        numamove.move_pages(9, PAGES, 1, kernel=kernel, batch=4)
    assert caught.value.pages_done == 8 and len(fake.calls) == 3


def test_unsupported_architecture() -> None:
    from numamove.kernel.syscalls import LinuxSyscalls

    kernel = numamove.Kernel(syscalls=LinuxSyscalls(machine="riscv64"))
    with pytest.raises(numamove.UnsupportedError, match="not known for the riscv64 architecture"):
        numamove.move_pages(0, PAGES, kernel=kernel)


def test_enosys_is_unsupported(kernel: numamove.Kernel, fake: FakeSyscalls) -> None:
    fake.fail_with = errno.ENOSYS
    with pytest.raises(numamove.UnsupportedError, match="no NUMA support"):
        numamove.move_pages(0, PAGES, kernel=kernel)


def test_syscall_numbers() -> None:
    from numamove.kernel.syscalls import SYSCALL_NUMBERS

    assert SYSCALL_NUMBERS["x86_64"]["move_pages"] == 279
    assert SYSCALL_NUMBERS["aarch64"]["move_pages"] == 239
    assert SYSCALL_NUMBERS["x86_64"].keys() == SYSCALL_NUMBERS["aarch64"].keys()


def test_page_status_values_and_descriptions() -> None:
    assert [s.value for s in numamove.PageStatus] == [-2, -13, -1, -16, -14, -12, -5, -22]
    assert numamove.PageStatus.NOT_PRESENT.errno_name == "-ENOENT"
    assert all(len(s.description) > 20 for s in numamove.PageStatus)
    assert "MPOL_MF_MOVE_ALL" in numamove.PageStatus.SHARED.description
    assert "retry" in numamove.PageStatus.BUSY.description
    assert numamove.describe_status(2) == "node 2"
    assert numamove.describe_status(-16).startswith("-EBUSY: busy")
    assert numamove.describe_status(-99).startswith("error -99")
    assert numamove.status_counts(np.array([1, -2, 1, 0], dtype=np.int32)) == {-2: 1, 0: 1, 1: 2}
