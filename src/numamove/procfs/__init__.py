"""Pure parsers of the /proc and /sys files numamove reads: text or bytes in, values out.

Nothing here opens a file or makes a syscall (the :class:`numamove.kernel.Kernel`
reads; these parse), so every parser is tested on plain strings.

- :mod:`.maps`: ``/proc/PID/maps`` and ``/proc/PID/smaps`` (and ``smaps_rollup``)
- :mod:`.numa_maps`: ``/proc/PID/numa_maps``
- :mod:`.pagemap`: ``/proc/PID/pagemap`` entries (numpy; loaded on first use)
- :mod:`.stat`: ``/proc/PID/status``, ``/proc/PID/task/TID/stat``
- :mod:`.sysfs`: ``/proc/meminfo``, ``/sys/devices/system/node/nodeN/{meminfo,distance}``,
  ``/sys/devices/system/memory/block_size_bytes``, a node's ``memoryM`` entries

May import: :mod:`numamove.errors`, numpy (pagemap only). Never :mod:`numamove.kernel`.
Importing this package loads no numpy: the pagemap names load :mod:`.pagemap` on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from numamove.procfs.maps import MapsEntry, SmapsEntry, parse_maps, parse_smaps
from numamove.procfs.numa_maps import NumaMapsEntry, parse_numa_maps
from numamove.procfs.stat import TaskStat, parse_status, parse_task_stat
from numamove.procfs.sysfs import (
    memory_blocks,
    parse_distance,
    parse_meminfo,
    parse_memory_block_size,
    parse_node_meminfo,
)

if TYPE_CHECKING:
    from numamove.procfs.pagemap import (
        PM_EXCLUSIVE,
        PM_FILE,
        PM_GUARD_REGION,
        PM_PFN_MASK,
        PM_PRESENT,
        PM_SOFT_DIRTY,
        PM_SWAP,
        PM_SWAP_OFFSET_SHIFT,
        PM_SWAP_TYPE_MASK,
        PM_UFFD_WP,
        Pagemap,
        decode_pagemap,
    )

_PAGEMAP = frozenset({
    "PM_EXCLUSIVE", "PM_FILE", "PM_GUARD_REGION", "PM_PFN_MASK", "PM_PRESENT", "PM_SOFT_DIRTY", "PM_SWAP",
    "PM_SWAP_OFFSET_SHIFT", "PM_SWAP_TYPE_MASK", "PM_UFFD_WP", "Pagemap", "decode_pagemap",
})  # fmt: skip


def __getattr__(name: str) -> Any:
    if name in _PAGEMAP:
        return getattr(importlib.import_module("numamove.procfs.pagemap"), name)
    raise AttributeError(f"module 'numamove.procfs' has no attribute {name!r}")


__all__ = [
    "PM_EXCLUSIVE",
    "PM_FILE",
    "PM_GUARD_REGION",
    "PM_PFN_MASK",
    "PM_PRESENT",
    "PM_SOFT_DIRTY",
    "PM_SWAP",
    "PM_SWAP_OFFSET_SHIFT",
    "PM_SWAP_TYPE_MASK",
    "PM_UFFD_WP",
    "MapsEntry",
    "NumaMapsEntry",
    "Pagemap",
    "SmapsEntry",
    "TaskStat",
    "decode_pagemap",
    "memory_blocks",
    "parse_distance",
    "parse_maps",
    "parse_meminfo",
    "parse_memory_block_size",
    "parse_node_meminfo",
    "parse_numa_maps",
    "parse_smaps",
    "parse_status",
    "parse_task_stat",
]
