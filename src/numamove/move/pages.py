"""Query and move single pages (move_pages(2)) and whole processes (migrate_pages(2)).

Addresses, targets and statuses live in numpy arrays and go to the kernel in
batches by pointer: no per-page Python work, and memory bounded by the input.

Kernel interface: move_pages(2) and migrate_pages(2), through a Kernel's syscalls
(numamove.kernel.syscalls); numamove.move is their only caller.
May import: numpy, ctypes, numamove.kernel, numamove.nodemask,
numamove.errors, numamove._inputs.
"""

from __future__ import annotations

import ctypes
import errno
import numbers
from collections.abc import Callable, Iterable, Sequence
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

from numamove._inputs import check_int, check_pid, node_ids
from numamove.errors import InputTypeError, InvalidInputError
from numamove.kernel import DEFAULT, Kernel, takes_kernel_or_default
from numamove.kernel.syscalls import MPOL_MF_MOVE, nodemask_words, translate
from numamove.nodemask import format_nodemask, parse_nodemask

__all__ = ["BATCH_PAGES", "NodeSet", "as_addresses", "migrate_pages", "move_pages"]

BATCH_PAGES = 1 << 16
"""Pages per move_pages(2) call: 512 KiB of addresses, short enough to stay responsive."""

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
_UNREPORTED = -(2**31)  # no node id or errno the kernel writes
Syscall = Callable[[int, int, int, int, int, int], int]

NodeSet: TypeAlias = "str | Iterable[int]"
"""Node ids, or a numactl nodemask string ("0-1,3", "all", "!2")."""

Pages: TypeAlias = "Sequence[int] | npt.NDArray[np.integer]"
Targets: TypeAlias = "int | Sequence[int] | npt.NDArray[np.integer] | None"


@takes_kernel_or_default
def move_pages(
    pid: int,
    pages: Pages,
    nodes: Targets = None,
    flags: int = MPOL_MF_MOVE,
    *,
    kernel: Kernel = DEFAULT,
    batch: int = BATCH_PAGES,
    out: npt.NDArray[np.int32] | None = None,
) -> npt.NDArray[np.int32]:
    """Query or move the pages of a process with move_pages(2).

    ``pid`` is the process (0 is the caller). ``pages`` are addresses: a
    sequence of ints or a numpy integer array. ``nodes`` is None to only ask
    where each page is, one node id for every page, or one per page.

    Returns the kernel's per-page status as int32: a node id, or a negative
    errno (see :class:`PageStatus`). A positive syscall result (pages that
    could not be moved) is not an error: those pages carry their status.

    ``out``, an int32 array of one entry per page, receives the statuses
    (and is returned) instead of a new array: a caller scanning chunk after
    chunk reuses one. After an exception its contents mean nothing.

    Raises a :class:`KernelError` subclass when a call fails as a whole
    (``.pages_done`` says how many pages earlier batches covered), and
    :class:`InvalidInputError` / :class:`InputTypeError` before any syscall
    for input the kernel would misread.
    """
    pid = check_pid(pid)
    addresses = as_addresses(pages)
    count = len(addresses)
    batch = check_int(batch, "batch", low=1)
    flags = check_int(flags, "flags")

    if nodes is None:
        targets = None
        per_page = False
    elif isinstance(nodes, (int, numbers.Integral)) and not isinstance(nodes, bool):
        targets = np.full(min(batch, count), _check_node(int(nodes)), dtype=np.int32)
        per_page = False
    else:
        targets = _as_targets(nodes, count)
        per_page = True

    # A move that returns a positive count leaves the statuses of the pages after the
    # failed group unwritten (do_pages_move()); the sentinel finds them afterwards.
    status = np.empty(count, dtype=np.int32) if out is None else _check_out(out, count)
    if targets is not None:
        status.fill(_UNREPORTED)
    if count == 0:
        return status
    call = kernel.syscalls.move_pages
    address_ptr = addresses.ctypes.data
    status_ptr = status.ctypes.data
    target_ptr = 0 if targets is None else targets.ctypes.data
    for start in range(0, count, batch):
        size = min(batch, count - start)
        result = call(
            pid,
            size,
            address_ptr + start * 8,
            target_ptr + start * 4 if per_page else target_ptr,
            status_ptr + start * 4,
            flags,
        )
        if result < 0:
            chunk = None if targets is None else (targets[start:start + size] if per_page else targets[:1])
            asked = frozenset() if chunk is None else frozenset(np.unique(chunk).tolist())
            raise translate(-result, "move_pages", kernel.call_facts(pid, flags, asked), pages_done=start)
        if result > 0 and targets is not None:
            _report_unwritten(call, pid, addresses[start:start + size], status[start:start + size])
    return status


def _check_out(out: object, count: int) -> npt.NDArray[np.int32]:
    """``out``, if the kernel may write ``count`` int32 statuses into it; refused otherwise."""
    if not isinstance(out, np.ndarray):
        raise InputTypeError(f"out must be a numpy int32 array, not {type(out).__name__}")
    if out.dtype != np.int32 or out.shape != (count,) or not out.flags.c_contiguous:
        raise InvalidInputError(f"out must be a contiguous one-dimensional int32 array of {count} entries, "
                                f"not {out.dtype} shaped {out.shape}"
                                + ("" if out.flags.c_contiguous else " and not contiguous"))
    if not out.flags.writeable:
        raise InvalidInputError("out must be writeable: the kernel writes the statuses into it")
    return out


def _report_unwritten(call: Syscall, pid: int, addresses: npt.NDArray[np.uint64],
                      status: npt.NDArray[np.int32]) -> None:
    """Fill the statuses the kernel left unwritten with where those pages are now (a query)."""
    missing = np.flatnonzero(status == _UNREPORTED)
    if len(missing) == 0:
        return
    where = np.ascontiguousarray(addresses[missing])
    found = np.empty(len(missing), dtype=np.int32)
    if call(pid, len(missing), where.ctypes.data, 0, found.ctypes.data, 0) < 0:
        found[:] = -errno.EAGAIN  # the process went away: not known
    status[missing] = found


@takes_kernel_or_default
def migrate_pages(
    pid: int,
    old_nodes: NodeSet,
    new_nodes: NodeSet,
    *,
    kernel: Kernel = DEFAULT,
) -> int:
    """Move all pages of a process from ``old_nodes`` to ``new_nodes`` with migrate_pages(2).

    Node sets are iterables of node ids or numactl nodemask strings, where
    ``all`` means the caller's allowed nodes, as in numactl's migratepages.
    A target node that is not online is refused with :class:`NodeOfflineError`
    (the kernel would silently drop it). Returns the number of pages that
    could not be moved.
    """
    pid = check_pid(pid)
    old = resolve_nodes(old_nodes, kernel, "old_nodes")
    new = resolve_nodes(new_nodes, kernel, "new_nodes")
    online = kernel.online_nodes()
    facts = kernel.call_facts(pid, nodes=new)
    if not new <= online:
        raise translate(errno.ENODEV, "migrate_pages", facts)
    if not old <= online:  # numactl's migratepages refuses them too
        offline = sorted(old - online)
        raise InvalidInputError(f"old_nodes: node {offline[0]} is not online "
                                f"(online: {format_nodemask(online)})")
    bits = max(max(old), max(new)) + 1
    old_mask, maxnode = nodemask_words(old, bits)
    new_mask, _ = nodemask_words(new, bits)
    result = kernel.syscalls.migrate_pages(
        pid, maxnode, ctypes.addressof(old_mask), ctypes.addressof(new_mask)
    )
    if result < 0:
        raise translate(-result, "migrate_pages", facts)
    return result


def resolve_nodes(spec: NodeSet, kernel: Kernel, what: str = "nodes") -> frozenset[int]:
    """A node set from ids or a nodemask string; ``all`` is the caller's allowed nodes.

    Ids must be ints below the kernel's node count (/sys/devices/system/node/possible),
    checked before any mask is built.
    """
    limit = kernel.node_limit()
    if isinstance(spec, str):
        allowed = kernel.mems_allowed(0) or kernel.online_nodes()
        try:
            chosen = parse_nodemask(spec, allowed, limit)
        except InvalidInputError as error:
            raise type(error)(f"{what}: {error}") from None
    else:
        chosen = node_ids(spec, what, limit)
    if not chosen:
        raise InvalidInputError(f"{what} is empty")
    return chosen


def as_addresses(pages: Pages) -> npt.NDArray[np.uint64]:
    """Page addresses as a contiguous uint64 array, without a copy when already one.

    Refuses what the kernel would misread: non-integers, negative values,
    more than one dimension.
    """
    if isinstance(pages, np.ndarray):
        array = pages
    else:
        if isinstance(pages, (str, bytes)) or not hasattr(pages, "__len__"):
            raise InputTypeError(f"pages must be a sequence of addresses, not {type(pages).__name__}")
        if len(pages) == 0:
            return np.empty(0, dtype=np.uint64)
        try:
            array = np.asarray(pages)
        except (TypeError, ValueError, OverflowError):
            raise InputTypeError("pages must be integer addresses") from None
    if array.dtype.kind not in "iu":
        if array.dtype.kind == "O" and all(isinstance(a, numbers.Integral) for a in array.flat):
            raise InvalidInputError("an address does not fit in 64 bits")
        raise InputTypeError(f"pages must be integer addresses, not {array.dtype}")
    if array.ndim != 1:
        raise InvalidInputError(f"pages must be one-dimensional, not shaped {array.shape}")
    if array.dtype.kind == "i":
        if len(array) and array.min() < 0:
            raise InvalidInputError(f"negative address {int(array.min())}")
        if array.dtype.itemsize == 8:
            return np.ascontiguousarray(array).view(np.uint64)
    return np.ascontiguousarray(array, dtype=np.uint64)


def _as_targets(nodes: object, count: int) -> npt.NDArray[np.int32]:
    if isinstance(nodes, (str, bytes)):
        raise InputTypeError("nodes must be None, a node id, or one node id per page")
    try:
        array = np.asarray(nodes)
    except (TypeError, ValueError, OverflowError):
        raise InputTypeError("nodes must be integer node ids") from None
    if array.dtype.kind not in "iu" and not (array.size == 0 and array.dtype.kind == "f"):
        raise InputTypeError(f"nodes must be integer node ids, not {array.dtype}")
    if array.ndim != 1:
        raise InvalidInputError(f"nodes must be one-dimensional (one node per page), "
                                f"not shaped {array.shape}")
    if len(array) != count:
        raise InvalidInputError(f"nodes has {array.size} entries for {count} pages")
    if array.dtype != np.int32 and len(array):
        low, high = int(array.min()), int(array.max())
        if low < INT32_MIN or high > INT32_MAX:
            raise InvalidInputError(f"node {high if high > INT32_MAX else low} does not fit in an int")
    return np.ascontiguousarray(array, dtype=np.int32)


def _check_node(node: int) -> int:
    if not INT32_MIN <= node <= INT32_MAX:
        raise InvalidInputError(f"node {node} does not fit in an int")
    return node
