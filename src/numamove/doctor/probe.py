"""Do the NUMA syscalls reach the kernel from numamove's own process? Probed through numamove.move.

A seccomp filter (Docker's default profile, a systemd SystemCallFilter) can
refuse move_pages, migrate_pages, mbind, set_mempolicy and get_mempolicy
before the kernel sees them, usually with EPERM, sometimes ENOSYS. Each probe
here is a call the kernel itself cannot refuse that way, made on numamove's
own process and changing nothing:

- get_mempolicy(2) of the calling thread;
- move_pages(2) querying one page of our own (no target nodes: nothing moves);
- mbind(2) and set_mempolicy(2) with a mode no kernel has: the kernel answers
  EINVAL before it looks at anything else, so EINVAL means the call got through;
- migrate_pages(2) of ourselves from a node to the same node: nothing to move.

Kernel interface: those five syscalls, through :mod:`numamove.move.pages` and
:mod:`numamove.move.mempolicy` (move/ is their only caller). The page probed is
an anonymous mapping of our own (mmap), unmapped afterwards.
May import: numpy, :mod:`numamove.move`, :mod:`numamove.kernel`, :mod:`numamove.errors`.
"""

from __future__ import annotations

import errno
import mmap
from collections.abc import Callable

import numpy as np

from numamove.errors import InvalidRequestError, NumaMoveError
from numamove.kernel import Kernel

__all__ = ["NUMA_CALLS", "probe_calls"]

NUMA_CALLS = ("get_mempolicy", "move_pages", "mbind", "set_mempolicy", "migrate_pages")
_NO_SUCH_MODE = 0x1000
"""A policy mode past MPOL_MAX and clear of the mode flags (bits 13-15): the kernel says EINVAL at once."""


def probe_calls(kernel: Kernel) -> dict[str, int | None]:
    """Each NUMA syscall -> 0 when it reached the kernel, else the errno it failed with (None: not tried)."""
    from numamove.move.mempolicy import get_mempolicy, mbind, set_mempolicy
    from numamove.move.pages import migrate_pages, move_pages

    if getattr(kernel.syscalls, "numbers", True) is None:
        return dict.fromkeys(NUMA_CALLS)  # an architecture whose syscall numbers numamove does not know
    page = mmap.mmap(-1, mmap.PAGESIZE, flags=mmap.MAP_PRIVATE)
    try:
        view = np.frombuffer(page, dtype=np.uint8)
        view[0] = 1  # present: a query answers its node
        address = int(view.ctypes.data)
        home = _a_node_of_ours(kernel)
        probes: dict[str, Callable[[], object]] = {
            "get_mempolicy": lambda: get_mempolicy(kernel=kernel),
            "move_pages": lambda: move_pages(0, np.array([address], dtype=np.uint64), kernel=kernel),
            "mbind": lambda: mbind(address, mmap.PAGESIZE, _NO_SUCH_MODE, kernel=kernel),
            "set_mempolicy": lambda: set_mempolicy(_NO_SUCH_MODE, kernel=kernel),
        }
        if home is not None:
            probes["migrate_pages"] = lambda: migrate_pages(0, [home], [home], kernel=kernel)
        results: dict[str, int | None] = dict.fromkeys(NUMA_CALLS)
        for call, probe in probes.items():
            results[call] = _errno_of(probe)
        del view
    finally:
        page.close()
    return results


def _errno_of(probe: Callable[[], object]) -> int:
    try:
        probe()
    except InvalidRequestError:
        return 0  # EINVAL: the kernel itself looked at the call
    except NumaMoveError as error:
        return getattr(error, "errno", None) or errno.EIO
    return 0


def _a_node_of_ours(kernel: Kernel) -> int | None:
    """A node numamove's own pages may live on (its cpuset and online, with memory), for a no-op migration."""
    try:
        allowed = kernel.mems_allowed(0) or kernel.online_nodes()
        usable = allowed & kernel.online_nodes()
        if kernel.exists("sys/devices/system/node/has_memory"):
            usable &= kernel.node_list("has_memory")
    except NumaMoveError:
        return None
    return min(usable, default=None)
