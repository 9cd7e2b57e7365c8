"""The kernel layer: the one I/O seam between numamove and Linux.

- :mod:`.core`: :class:`Kernel` (read, pread and write files under a root, an
  operation log and a dry-run mode, caches kept per kernel), the default
  kernel and :func:`takes_kernel_or_default`.
- :mod:`.syscalls`: the NUMA syscalls through ctypes, MPOL_MF_* flags, errno
  translation (loaded on the first syscall).
- :mod:`.explain`: the plain-words causes of a refused request, for error
  translation and for pre-checks alike.
- :mod:`.process`: failed /proc/PID reads mapped to exceptions, in one place.

Everything above this layer reads and writes kernel files and makes syscalls
through a ``Kernel``. May import: :mod:`numamove.errors`, :mod:`numamove.nodemask`,
:mod:`numamove.procfs` (pure parsers). Importing this package loads neither
numpy nor ctypes.
"""

from __future__ import annotations

from numamove.kernel.core import (
    CAP_SYS_NICE,
    DEFAULT,
    NODE_DIR,
    Kernel,
    Write,
    default_kernel,
    set_default_kernel,
    takes_kernel_or_default,
)
from numamove.kernel.process import process_error, process_errors

__all__ = [
    "CAP_SYS_NICE",
    "DEFAULT",
    "NODE_DIR",
    "Kernel",
    "Write",
    "default_kernel",
    "process_error",
    "process_errors",
    "set_default_kernel",
    "takes_kernel_or_default",
]
