"""Failed reads of /proc/PID files, mapped to numamove's exceptions in one place.

psutil's ``wrap_exceptions`` is the model: whatever /proc/PID file a scan
reads (comm, maps, numa_maps, smaps, pagemap), an OSError becomes the same
exception class with the same words. A process that exited mid-scan (its
directory gone: ENOENT or ESRCH) is :class:`NoSuchProcessError`; a process
we may not read (EACCES/EPERM, the ptrace access check) is
:class:`NotPermittedError`; anything else takes the class of its errno
(:func:`numamove.errors.kernel_error`). A walk that may skip a process or a
thread that exited reads through :meth:`Kernel.read_if_alive` instead.

May import: :mod:`numamove.errors`, :mod:`.explain`. Touches no file itself.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager

from numamove.errors import KernelError, NoSuchProcessError, NotPermittedError, kernel_error
from numamove.kernel import explain

__all__ = ["process_error", "process_errors"]


def process_error(error: OSError, pid: int, what: str) -> KernelError:
    """The exception for ``error``, met reading /proc/``pid``/``what``."""
    if isinstance(error, KernelError):
        return error
    if error.errno in (errno.ENOENT, errno.ESRCH):
        return NoSuchProcessError(errno.ESRCH, f"no such process: pid {pid}", "")  # pid 0 too
    if error.errno in (errno.EACCES, errno.EPERM):
        return NotPermittedError(errno.EPERM, explain.cannot_read_memory(pid), "")
    return kernel_error(error.errno or errno.EIO, "", f"cannot read /proc/{pid}/{what}: {error.strerror}")


@contextmanager
def process_errors(pid: int, what: str) -> Iterator[None]:
    """Within the block, an OSError reading /proc/``pid``/``what`` is raised as :func:`process_error`'s."""
    try:
        yield
    except OSError as error:
        raise process_error(error, pid, what) from None
