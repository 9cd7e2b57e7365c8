"""numamove's exceptions: one tree, one root.

::

    NumaMoveError
    ├── InvalidInputError (ValueError)       refused before any syscall
    │   └── NodemaskSyntaxError              "0-2,x" is not a nodemask
    ├── InputTypeError (TypeError)           e.g. float addresses
    ├── UnsupportedError (OSError)           no NUMA syscalls here (ENOSYS, unknown arch)
    ├── TopologyError (OSError)              /sys/devices/system/node unreadable
    └── KernelError (OSError)                a NUMA syscall failed as a whole
        ├── NoSuchProcessError (ProcessLookupError)     ESRCH
        ├── NotPermittedError (PermissionError)         EPERM
        ├── NodeNotAllowedError (PermissionError)       EACCES
        ├── NodeOfflineError                            ENODEV
        ├── InvalidRequestError                         EINVAL
        ├── TooManyPagesError                           E2BIG
        ├── OutOfMemoryError                            ENOMEM
        └── BadAddressError                             EFAULT

A page that fails to move is not an exception: its negative errno is data in
the status array (see :class:`numamove.PageStatus`). Syscall errnos become these
in :func:`numamove.kernel.syscalls.translate`, failed /proc reads in
:func:`numamove.kernel.process.process_error`. Imports nothing of numamove.
"""

from __future__ import annotations

import errno as _errno
import os

__all__ = [
    "BadAddressError",
    "InputTypeError",
    "InvalidInputError",
    "InvalidRequestError",
    "KernelError",
    "NoSuchProcessError",
    "NodeNotAllowedError",
    "NodeOfflineError",
    "NodemaskSyntaxError",
    "NotPermittedError",
    "NumaMoveError",
    "OutOfMemoryError",
    "TooManyPagesError",
    "TopologyError",
    "UnsupportedError",
]


class NumaMoveError(Exception):
    """The root of every error numamove raises."""


class InvalidInputError(NumaMoveError, ValueError):
    """An argument the kernel would misread, refused before any syscall."""


class NodemaskSyntaxError(InvalidInputError):
    """A node list that is not in numactl's nodemask syntax."""


class InputTypeError(NumaMoveError, TypeError):
    """An argument of the wrong type, refused before any syscall."""


class UnsupportedError(NumaMoveError, OSError):
    """This machine cannot make NUMA syscalls (unknown architecture, or a kernel without NUMA)."""


class TopologyError(NumaMoveError, OSError):
    """The node topology under /sys/devices/system/node could not be read."""


class KernelError(NumaMoveError, OSError):
    """A NUMA syscall failed as a whole.

    ``errno`` is the kernel's, ``syscall`` names the call ("move_pages", or ""
    when the error came from reading /proc), and
    ``pages_done`` counts the pages whose status was already filled in by
    earlier batches of the same request before this one failed.
    """

    def __init__(self, err: int, message: str, syscall: str, pages_done: int = 0) -> None:
        super().__init__(err, message)
        self.syscall = syscall
        self.pages_done = pages_done

    def __str__(self) -> str:
        return f"{self.syscall}: {self.strerror}" if self.syscall else str(self.strerror)


class NoSuchProcessError(KernelError, ProcessLookupError):
    """ESRCH: the process does not exist (or exited)."""


class NotPermittedError(KernelError, PermissionError):
    """EPERM: MPOL_MF_MOVE_ALL without CAP_SYS_NICE, or another user's process."""


class NodeNotAllowedError(KernelError, PermissionError):
    """EACCES: a target node is outside the process's cpuset (Mems_allowed)."""


class NodeOfflineError(KernelError):
    """ENODEV: a target node is not online (or does not exist)."""


class InvalidRequestError(KernelError):
    """EINVAL: flags, node masks or a policy the kernel refuses."""


class TooManyPagesError(KernelError):
    """E2BIG: too many pages in one request."""


class OutOfMemoryError(KernelError):
    """ENOMEM: the kernel could not allocate what the call itself needed."""


class BadAddressError(KernelError):
    """EFAULT: an argument array could not be read or written by the kernel."""


_BY_ERRNO: dict[int, type[KernelError]] = {
    _errno.ESRCH: NoSuchProcessError,
    _errno.EPERM: NotPermittedError,
    _errno.EACCES: NodeNotAllowedError,
    _errno.ENODEV: NodeOfflineError,
    _errno.EINVAL: InvalidRequestError,
    _errno.E2BIG: TooManyPagesError,
    _errno.ENOMEM: OutOfMemoryError,
    _errno.EFAULT: BadAddressError,
}


def kernel_error(err: int, syscall: str, cause: str | None = None, pages_done: int = 0) -> KernelError:
    """The exception for a syscall that failed with ``err``.

    ``cause`` is the plain-words explanation; without one, the C library's
    text for the errno is used.
    """
    cls = _BY_ERRNO.get(err, KernelError)
    return cls(err, cause or os.strerror(err), syscall, pages_done)
