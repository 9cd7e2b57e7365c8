"""numamove's claim on its kdamonds: the ownership record, and what a later numamove does with it.

A kdamond outlives the process that started it. Before it makes its kdamonds,
the DAMON tracker writes a record of them, run/numamove-damon.json under the
kernel's root (:class:`~numamove.procfs.damon.OwnerRecord`: our pid and start
time, the first kdamond's index, the target pids, the marker written into the
kdamonds' schemes). :func:`recover` stops and removes the kdamonds of a numamove
that was killed (its pid gone, or reused by another process) when they still
match the record, and only those; :func:`busy_reason` names any other kdamond.

Files: /sys/kernel/mm/damon/admin/kdamonds/..., /proc/PID/stat, run/numamove-damon.json,
all through the :class:`~numamove.kernel.Kernel`.
"""

from __future__ import annotations

import errno

from numamove.errors import kernel_error
from numamove.kernel import Kernel
from numamove.procfs.damon import CLEARED, OwnerRecord, parse_owner_record
from numamove.targets import process_identity
from numamove.trackers.damon_sysfs import DamonSysfs

__all__ = ["CLEAR_HINT", "RECORD", "busy_reason", "recover", "write_record"]

RECORD = "run/numamove-damon.json"
"""numamove's ownership record of its kdamonds, under the kernel's root."""
CLEAR_HINT = "echo 0 > /sys/kernel/mm/damon/admin/kdamonds/nr_kdamonds"


def _read_record(kernel: Kernel) -> OwnerRecord | None:
    try:
        return parse_owner_record(kernel.read_text(RECORD))
    except OSError:
        return None


def write_record(kernel: Kernel, text: str) -> None:
    """Write the ownership record; a failure is a one-line numamove error naming the file."""
    try:
        kernel.write(RECORD, text)
    except OSError as error:
        raise kernel_error(error.errno or errno.EIO, "", f"cannot write numamove's DAMON ownership record "
                           f"/{RECORD}: {error.strerror}") from None


def _owner_alive(kernel: Kernel, record: OwnerRecord) -> bool:
    found = process_identity(kernel, record.owner_pid)
    return found is not None and found[1] == record.owner_start


def _kdamonds(record: OwnerRecord) -> range:
    """The kdamonds a record claims: one per target, from ``record.kdamond`` on."""
    return range(record.kdamond, record.kdamond + len(record.targets))


def _matches(sysfs: DamonSysfs, record: OwnerRecord) -> bool:
    """Whether the record's kdamonds are still the ones it describes (vaddr, their pid, the marker)."""
    if sysfs.count() < record.kdamond + len(record.targets):
        return False
    for kdamond, pid in zip(_kdamonds(record), record.targets, strict=True):
        operations, _ = sysfs.operations(kdamond)
        if (operations != "vaddr" or sysfs.targets(kdamond) != [pid]
                or sysfs.scheme_sz_max(kdamond, 0) != record.marker):
            return False
    return True


def busy_reason(kernel: Kernel, sysfs: DamonSysfs) -> str | None:
    """Why DAMON is busy: a kdamond that is not a killed numamove's leftover; None when there is none."""
    count = sysfs.count()
    if count == 0:
        return None
    record = _read_record(kernel)
    ours = record is not None and _matches(sysfs, record)
    owner_alive = record is not None and _owner_alive(kernel, record)
    others = []
    for kdamond in range(count):
        mine = ours and record is not None and kdamond in _kdamonds(record)
        if mine and not owner_alive:
            continue  # a killed numamove's: start() removes it
        whose = f"numamove pid {record.owner_pid}'s" if mine and record is not None else "not numamove's"
        if sysfs.state(kdamond) == "on":
            return f"DAMON is busy: kdamond {kdamond} runs ({whose})"
        others.append((kdamond, whose))
    if not others:
        return None
    listed = ", ".join(f"{kdamond} ({whose})" for kdamond, whose in others)
    return (f"DAMON is busy: kdamond {listed} set up but off; numamove would erase their settings "
            f"(to clear them: {CLEAR_HINT})")


def recover(kernel: Kernel) -> list[str]:
    """Stop and remove the kdamond a killed numamove left, if its record still describes it.

    Returns what was done, in plain words, for the caller to show. A record
    whose owner lives, or whose kdamond no longer matches it, is left alone
    (the latter is cleared: it claims nothing any more).
    """
    record = _read_record(kernel)
    if record is None or _owner_alive(kernel, record):
        return []
    sysfs = DamonSysfs(kernel)
    done: list[str] = []
    if sysfs.present() and _matches(sysfs, record):
        ran = [kdamond for kdamond in _kdamonds(record) if sysfs.state(kdamond) == "on"]
        for kdamond in ran:
            sysfs.write(f"{kdamond}/state", "off")
        if sysfs.count() == _kdamonds(record).stop and record.before == record.kdamond:
            sysfs.write("nr_kdamonds", record.before)
        names = ",".join(map(str, ran or _kdamonds(record)))
        pids = ",".join(map(str, record.targets))
        done.append(f"{'stopped' if ran else 'removed'} kdamond {names} that numamove pid "
                    f"{record.owner_pid} (no longer running) left {'running' if ran else 'set up'} "
                    f"on pid {pids}")
    write_record(kernel, CLEARED)
    return done
