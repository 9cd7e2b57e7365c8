"""The DAMON tracker on a fixture sysfs tree that behaves like DAMON's: every write it makes, in order.

:class:`FakeDamon` is a Kernel on a tmp tree that logs every write (as any
Kernel does) and reacts to DAMON's control files as mm/damon/sysfs.c does:
``nr_*`` files create their directories, ``nr_kdamonds`` erases the kdamonds'
settings and is refused (EBUSY) while one runs, ``state`` turns a kdamond on
(EINVAL for a target that does not exist) or off (EINVAL when already off), and
``update_schemes_tried_regions`` fills each scheme's tried_regions.
"""

from __future__ import annotations

import errno
import gzip
import json
import os
import shutil
import signal
from pathlib import Path

import pytest

from numamove.errors import InvalidInputError, KernelError, NoSuchProcessError, UnsupportedError
from numamove.kernel import Kernel, Write
from numamove.procfs.damon import (
    CLEARED,
    OwnerRecord,
    config_option,
    parse_owner_record,
    parse_signed,
)
from numamove.procfs.stat import parse_task_stat
from numamove.signals import Terminated, raising
from numamove.trackers import get, tracking
from numamove.trackers.damon import ABSENT, HEAT_UNIT, RECORD, DamonTracker, join_smallest_gaps
from numamove.trackers.damon_sysfs import DamonSysfs

KD = "sys/kernel/mm/damon/admin/kdamonds"
ME, MY_START = 4242, 5000
TARGET, OTHER = 100, 200
MARKER = (1 << 62) | MY_START << 22 | ME


def stat_line(pid: int, start: int, comm: str = "python3") -> str:
    fields = ["S"] + ["0"] * 18 + [str(start)] + ["0"] * 30
    return f"{pid} ({comm}) {' '.join(fields)}\n"


class FakeDamon(Kernel):
    def __init__(self, root: Path, avail: str = "vaddr fvaddr paddr") -> None:
        super().__init__(root)
        self.avail = avail
        self.regions: dict[int, list[tuple[int, int, int, int]]] = {}
        """Kdamond index -> (start, end, nr_accesses, age) its next tried-regions update reports."""
        self.fail_at: str | None = None
        self.busy_reads = 0
        """How many reads of a state file fail with EBUSY first (another user holds DAMON's lock)."""

    def read_text(self, relative: str) -> str:
        if self.busy_reads and relative.endswith("/state"):
            self.busy_reads -= 1
            raise OSError(errno.EBUSY, os.strerror(errno.EBUSY))
        return super().read_text(relative)

    def file(self, relative: str) -> Path:
        return self.root / relative

    def put(self, relative: str, value: object) -> None:
        path = self.file(relative)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{value}\n")

    def refuse(self, relative: str, data: str, err: int) -> None:
        self.log.append(Write(relative, data.encode()))
        raise OSError(err, os.strerror(err))

    def write(self, relative: str, data: str | bytes, *, offset: int | None = None) -> None:
        text = data.decode() if isinstance(data, bytes) else data
        value = text.strip()
        if self.fail_at is not None and relative.endswith(self.fail_at):
            self.refuse(relative, text, errno.ENOMEM)
        if relative.endswith("nr_kdamonds"):
            count = int(self.file(relative).read_text())
            if any(self.file(f"{KD}/{k}/state").read_text().strip() == "on" for k in range(count)):
                self.refuse(relative, text, errno.EBUSY)
            for k in range(count):
                shutil.rmtree(self.file(f"{KD}/{k}"))
            for k in range(int(value)):
                self.put(f"{KD}/{k}/state", "off")
                self.put(f"{KD}/{k}/pid", -1)
                self.put(f"{KD}/{k}/contexts/nr_contexts", 0)
        elif relative.endswith("/state") and value not in ("on", "off"):
            self.log.append(Write(relative, text.encode()))  # a command: the file still reads on or off
            if self.file(relative).read_text().strip() != "on":
                raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
            index_of = int(relative.split("/")[-2])
            base = relative.rpartition("/")[0] + "/contexts/0/schemes"
            for scheme in range(int(self.file(f"{base}/nr_schemes").read_text())):
                tried = f"{base}/{scheme}/tried_regions"
                shutil.rmtree(self.file(tried), ignore_errors=True)
                self.file(tried).mkdir()
                for index, (start, end, accesses, age) in enumerate(self.regions.get(index_of, [])):
                    for name, number in (("start", start), ("end", end), ("nr_accesses", accesses),
                                         ("age", age)):
                        self.put(f"{tried}/{index}/{name}", number)
            return
        elif relative.endswith("/state"):
            now = self.file(relative).read_text().strip()
            if now == value:
                self.refuse(relative, text, errno.EBUSY if value == "on" else errno.EINVAL)
            if value == "on":
                targets = relative.rpartition("/")[0] + "/contexts/0/targets"
                for t in range(int(self.file(f"{targets}/nr_targets").read_text())):
                    if not self.exists(f"proc/{int(self.file(f'{targets}/{t}/pid_target').read_text())}"):
                        self.refuse(relative, text, errno.EINVAL)
            self.put(relative.rpartition("/")[0] + "/pid", 999 if value == "on" else -1)
        super().write(relative, data, offset=offset)
        if relative.endswith("contexts/nr_contexts") and value == "1":
            context = relative.rpartition("/")[0] + "/0"
            self.put(f"{context}/avail_operations", self.avail)
            self.put(f"{context}/operations", "paddr")
            for name in ("sample_us", "aggr_us", "update_us"):
                self.put(f"{context}/monitoring_attrs/intervals/{name}", 0)
            for name in ("min", "max"):
                self.put(f"{context}/monitoring_attrs/nr_regions/{name}", 0)
            self.put(f"{context}/targets/nr_targets", 0)
            self.put(f"{context}/schemes/nr_schemes", 0)
        elif relative.endswith("targets/nr_targets"):
            for t in range(int(value)):
                self.put(relative.rpartition("/")[0] + f"/{t}/pid_target", 0)
                self.put(relative.rpartition("/")[0] + f"/{t}/regions/nr_regions", 0)
        elif relative.endswith("regions/nr_regions"):
            for r in range(int(value)):
                for edge in ("start", "end"):
                    self.put(relative.rpartition("/")[0] + f"/{r}/{edge}", 0)
        elif relative.endswith("schemes/nr_schemes"):
            for s in range(int(value)):
                made = relative.rpartition("/")[0] + f"/{s}"
                self.put(f"{made}/action", "stat")
                for part in ("sz", "nr_accesses", "age"):
                    for bound in ("min", "max"):
                        self.put(f"{made}/access_pattern/{part}/{bound}", 0)
                self.put(f"{made}/tried_regions/total_bytes", 0)

    def writes(self) -> list[tuple[str, str]]:
        done = [(w.path.removeprefix(KD + "/"), w.data.decode().strip()) for w in self.log]
        self.log.clear()
        return done


@pytest.fixture
def kernel(tmp_path: Path) -> FakeDamon:
    fake = FakeDamon(tmp_path)
    fake.put(f"{KD}/nr_kdamonds", 0)
    fake.put("proc/self/stat", stat_line(ME, MY_START).strip())
    fake.put(f"proc/{ME}/stat", stat_line(ME, MY_START).strip())
    fake.put("proc/self/status", "Name:\tpython3\nCapEff:\t000001ffffffffff")
    for pid in (TARGET, OTHER):
        fake.put(f"proc/{pid}/stat", stat_line(pid, 7000 + pid).strip())
    (tmp_path / "run").mkdir()
    return fake


def tracker(kernel: Kernel, pids: list[int] | None = None, **options: str) -> DamonTracker:
    made = get("damon")(kernel, pids or [TARGET], options)
    assert isinstance(made, DamonTracker)
    return made


def setup(kdamond: int, pid: int, *, sample: int = 5000, aggr: int = 100000, update: int = 1000000,
          low: int = 10, high: int = 1000) -> list[tuple[str, str]]:
    """The writes that set up kdamond K on ``pid``, after nr_kdamonds."""
    context = f"{kdamond}/contexts/0"
    done = [(f"{kdamond}/contexts/nr_contexts", "1"), (f"{context}/operations", "vaddr"),
            (f"{context}/monitoring_attrs/intervals/sample_us", str(sample)),
            (f"{context}/monitoring_attrs/intervals/aggr_us", str(aggr)),
            (f"{context}/monitoring_attrs/intervals/update_us", str(update)),
            (f"{context}/monitoring_attrs/nr_regions/min", str(low)),
            (f"{context}/monitoring_attrs/nr_regions/max", str(high)),
            (f"{context}/targets/nr_targets", "1"), (f"{context}/targets/0/pid_target", str(pid)),
            (f"{context}/schemes/nr_schemes", "1"), (f"{context}/schemes/0/action", "stat")]
    for part, top in (("sz", MARKER), ("nr_accesses", 2**32 - 1), ("age", 2**32 - 1)):
        done += [(f"{context}/schemes/0/access_pattern/{part}/min", "0"),
                 (f"{context}/schemes/0/access_pattern/{part}/max", str(top))]
    return done


def record_text(targets: tuple[int, ...] = (TARGET,)) -> str:
    return OwnerRecord(ME, MY_START, 0, targets, MARKER, 0).to_text().strip()


def test_start_sample_stop_write_exactly_this(kernel: FakeDamon) -> None:
    damon = tracker(kernel)
    damon.start()
    assert kernel.writes() == [
        (RECORD, record_text()), ("nr_kdamonds", "1"), *setup(0, TARGET), ("0/state", "on")]
    kernel.regions = {0: [(0x3000, 0x5000, 4, 2), (0x1000, 0x3000, 0, 9), (0x7000, 0x8000, 20, 1)]}
    regions = list(damon.sample())
    assert kernel.writes() == [("0/state", "update_schemes_tried_regions")]
    assert [(r.pid, r.start, r.end, r.heat, r.written, r.accessing_nodes) for r in regions] == [
        (TARGET, 0x1000, 0x3000, 0.0, None, None), (TARGET, 0x3000, 0x5000, 40.0, None, None),
        (TARGET, 0x7000, 0x8000, 200.0, None, None)]
    assert all(r.heat_unit == HEAT_UNIT for r in regions)
    # DAMON's age counts aggregation intervals (100 ms by default): seconds here.
    assert [r.age for r in regions] == pytest.approx([0.9, 0.2, 0.1])
    kernel.regions = {}  # an update that filled nothing is asked once more
    assert list(damon.sample()) == []
    assert kernel.writes() == [("0/state", "update_schemes_tried_regions")] * 3
    damon.stop()
    assert kernel.writes() == [("0/state", "off"), ("nr_kdamonds", "0"), (RECORD, CLEARED.strip())]
    damon.stop()
    assert kernel.writes() == []
    assert damon.warnings == []


def test_several_pids_get_a_kdamond_each(kernel: FakeDamon) -> None:
    damon = tracker(kernel, [OTHER, TARGET, OTHER], aggregation="200ms", sample="10ms", update="5s",
                    min_regions="20", max_regions="300")
    with tracking(damon):
        options = {"sample": 10000, "aggr": 200000, "update": 5000000, "low": 20, "high": 300}
        assert kernel.writes() == [
            (RECORD, record_text((TARGET, OTHER))), ("nr_kdamonds", "2"), *setup(0, TARGET, **options),
            *setup(1, OTHER, **options), ("0/state", "on"), ("1/state", "on")]
        kernel.regions = {0: [(0x1000, 0x2000, 10, 0)], 1: [(0x1000, 0x9000, 2, 0)]}
        regions = list(damon.sample())
        assert kernel.writes() == [("0/state", "update_schemes_tried_regions"),
                                   ("1/state", "update_schemes_tried_regions")]
        shutil.rmtree(kernel.root / f"proc/{OTHER}")  # one target exits: the other is still sampled
        kernel.put(f"{KD}/1/state", "off")
        assert [r.pid for r in damon.sample()] == [TARGET]
    assert kernel.writes()[-3:] == [("0/state", "off"), ("nr_kdamonds", "0"), (RECORD, CLEARED.strip())]
    assert [(r.pid, r.start, r.end, r.heat) for r in regions] == [
        (TARGET, 0x1000, 0x2000, 50.0), (OTHER, 0x1000, 0x9000, 10.0)]
    assert json.loads((kernel.root / RECORD).read_text())["owner_pid"] is None


def kill_owner(kernel: FakeDamon, *, reuse_pid: bool = False) -> None:
    """What a SIGKILLed numamove leaves: its kdamond on, its record; then a new numamove comes."""
    if reuse_pid:
        kernel.put(f"proc/{ME}/stat", stat_line(ME, MY_START + 1).strip())
    else:
        shutil.rmtree(kernel.root / f"proc/{ME}")
    kernel.put("proc/self/stat", stat_line(4343, 6000).strip())
    kernel.log.clear()


@pytest.mark.parametrize("reuse_pid", [False, True])
def test_a_killed_numamoves_kdamond_is_stopped_and_removed(kernel: FakeDamon, reuse_pid: bool) -> None:
    tracker(kernel).start()
    kill_owner(kernel, reuse_pid=reuse_pid)
    assert DamonTracker.unavailable(kernel) is None
    damon = tracker(kernel, [OTHER, TARGET])
    damon.start()
    done = kernel.writes()
    assert done[:3] == [("0/state", "off"), ("nr_kdamonds", "0"), (RECORD, CLEARED.strip())]
    assert done[3][0] == RECORD and json.loads(done[3][1])["owner_pid"] == 4343
    assert damon.warnings == [f"stopped kdamond 0 that numamove pid {ME} (no longer running) left running "
                              f"on pid {TARGET}"]
    damon.stop()


def test_a_killed_numamoves_kdamond_that_stopped_itself_is_removed(kernel: FakeDamon) -> None:
    tracker(kernel).start()
    kernel.put(f"{KD}/0/state", "off")  # its target exited: DAMON turned it off
    kill_owner(kernel)
    damon = tracker(kernel)
    with tracking(damon):
        assert kernel.writes()[:2] == [("nr_kdamonds", "0"), (RECORD, CLEARED.strip())]
        assert damon.warnings[0].startswith(f"removed kdamond 0 that numamove pid {ME} ")


def test_a_live_numamoves_kdamond_makes_damon_busy(kernel: FakeDamon) -> None:
    tracker(kernel).start()
    kernel.put("proc/self/stat", stat_line(4343, 6000).strip())  # another process; the owner lives
    kernel.log.clear()
    busy = f"DAMON is busy: kdamond 0 runs (numamove pid {ME}'s)"
    assert DamonTracker.unavailable(kernel) == busy
    with pytest.raises(KernelError, match=rf"^{busy.replace('(', '.').replace(')', '.')}$"):
        tracker(kernel).start()
    assert kernel.writes() == []


def foreign(kernel: FakeDamon, *, on: bool = True) -> None:
    """A kdamond someone set up by hand, not numamove."""
    kernel.write(f"{KD}/nr_kdamonds", "1")
    kernel.write(f"{KD}/0/contexts/nr_contexts", "1")
    kernel.write(f"{KD}/0/contexts/0/operations", "vaddr")
    kernel.write(f"{KD}/0/contexts/0/targets/nr_targets", "1")
    kernel.write(f"{KD}/0/contexts/0/targets/0/pid_target", str(TARGET))
    if on:
        kernel.write(f"{KD}/0/state", "on")
    kernel.log.clear()


def test_a_foreign_running_kdamond_is_not_touched(kernel: FakeDamon) -> None:
    foreign(kernel)
    busy = "DAMON is busy: kdamond 0 runs (not numamove's)"
    assert DamonTracker.unavailable(kernel) == busy
    damon = tracker(kernel)
    busy_match = r"^DAMON is busy: kdamond 0 runs \(not numamove's\)$"
    with pytest.raises(KernelError, match=busy_match) as caught, tracking(damon):
        pass
    assert caught.value.errno == errno.EBUSY
    assert kernel.writes() == []


def test_ebusy_from_damons_lock_is_waited_out(kernel: FakeDamon) -> None:
    foreign(kernel)
    kernel.busy_reads = 3
    assert DamonTracker.unavailable(kernel) == "DAMON is busy: kdamond 0 runs (not numamove's)"
    assert kernel.busy_reads == 0


def test_a_foreign_kdamond_set_up_but_off_is_not_erased(kernel: FakeDamon) -> None:
    foreign(kernel, on=False)
    why = DamonTracker.unavailable(kernel)
    assert why is not None and "set up but off" in why and "nr_kdamonds" in why
    with pytest.raises(KernelError, match="set up but off"):
        tracker(kernel).start()
    assert kernel.writes() == []


def test_a_record_that_no_longer_matches_its_kdamond_claims_nothing(kernel: FakeDamon) -> None:
    foreign(kernel)
    stale = OwnerRecord(1, 1, 0, (TARGET,), MARKER, 0)  # a dead owner, but the marker is not there
    kernel.put(RECORD, stale.to_text().strip())
    with pytest.raises(KernelError, match="not numamove's"):
        tracker(kernel).start()
    assert kernel.writes() == [(RECORD, CLEARED.strip())]
    assert (kernel.root / KD / "0/state").read_text().strip() == "on"


def test_absent_no_capability_and_no_vaddr_are_said_plainly(kernel: FakeDamon) -> None:
    kernel.put("proc/sys/kernel/osrelease", "6.18.0")
    kernel.put("boot/config-6.18.0", "CONFIG_DAMON=y\n# CONFIG_DAMON_VADDR is not set\nCONFIG_DAMON_PADDR=y")
    assert DamonTracker.unavailable(kernel) == ("DAMON here cannot watch processes: the kernel is built "
                                                "without CONFIG_DAMON_VADDR")
    (kernel.root / "proc/config.gz").write_bytes(gzip.compress(b"CONFIG_DAMON=y\nCONFIG_DAMON_VADDR=y\n"))
    assert DamonTracker.unavailable(kernel) is None  # /proc/config.gz wins over /boot
    kernel.put("proc/self/status", "CapEff:\t0000000000000000")
    assert DamonTracker.unavailable(kernel) == "DAMON needs CAP_SYS_ADMIN (run as root)"
    shutil.rmtree(kernel.root / "sys")
    assert DamonTracker.unavailable(kernel) == ABSENT
    assert ABSENT.startswith("DAMON is absent") and "CONFIG_DAMON_SYSFS" in ABSENT
    with pytest.raises(UnsupportedError, match=r"^DAMON is absent") as caught:
        tracker(kernel).start()
    assert str(caught.value) == ABSENT
    assert kernel.writes() == []


def test_a_half_done_start_is_undone(kernel: FakeDamon) -> None:
    kernel.avail = "paddr"
    damon = tracker(kernel)
    no_vaddr = r"^DAMON here cannot watch processes: its operations are paddr, not vaddr"
    with pytest.raises(UnsupportedError, match=no_vaddr), tracking(damon):
        pass
    done = kernel.writes()
    assert done[:3] == [(RECORD, record_text()), ("nr_kdamonds", "1"), ("0/contexts/nr_contexts", "1")]
    assert done[3:] == [("nr_kdamonds", "0"), (RECORD, CLEARED.strip())]
    kernel.avail = "vaddr"
    kernel.fail_at = "pid_target"
    refused = "DAMON refused 100 in kdamonds/0/contexts/0/targets/0/pid_target"
    with pytest.raises(KernelError, match=refused), tracking(tracker(kernel)):
        pass
    assert kernel.writes()[-2:] == [("nr_kdamonds", "0"), (RECORD, CLEARED.strip())]
    assert parse_signed((kernel.root / KD / "nr_kdamonds").read_text(), "n") == 0


def test_an_unwritable_record_refuses_before_any_kdamond(kernel: FakeDamon) -> None:
    (kernel.root / "run").rmdir()
    with pytest.raises(KernelError, match="DAMON ownership record /run/"):
        tracker(kernel).start()
    assert (kernel.root / KD / "nr_kdamonds").read_text().strip() == "0"


def test_a_target_that_is_gone_is_refused_before_or_at_on(kernel: FakeDamon) -> None:
    with pytest.raises(NoSuchProcessError, match="process 31337 does not exist"):
        tracker(kernel, [31337]).start()
    assert kernel.writes() == []
    damon = tracker(kernel)
    kernel.fail_at = None
    original = kernel.write

    def vanish_before_on(relative: str, data: str | bytes, *, offset: int | None = None) -> None:
        if relative.endswith("0/state"):
            shutil.rmtree(kernel.root / f"proc/{TARGET}", ignore_errors=True)
        original(relative, data, offset=offset)

    kernel.write = vanish_before_on  # type: ignore[method-assign]
    with pytest.raises(NoSuchProcessError, match=f"process {TARGET} exited"), tracking(damon):
        pass
    assert kernel.writes()[-3:] == [("0/state", "on"), ("nr_kdamonds", "0"), (RECORD, CLEARED.strip())]


@pytest.mark.parametrize("damon_stops_itself", [True, False])
def test_the_targets_exit_stops_the_tracker(kernel: FakeDamon, damon_stops_itself: bool) -> None:
    damon = tracker(kernel)
    damon.start()
    kernel.log.clear()
    shutil.rmtree(kernel.root / f"proc/{TARGET}")
    if damon_stops_itself:
        kernel.put(f"{KD}/0/state", "off")
    with pytest.raises(NoSuchProcessError, match=f"process {TARGET} exited; DAMON stopped"):
        list(damon.sample())
    off = [] if damon_stops_itself else [("0/state", "off")]
    assert kernel.writes() == [*off, ("nr_kdamonds", "0"), (RECORD, CLEARED.strip())]
    damon.stop()
    assert kernel.writes() == []


def test_a_pid_reused_by_another_process_counts_as_exited(kernel: FakeDamon) -> None:
    damon = tracker(kernel)
    damon.start()
    kernel.put(f"proc/{TARGET}/stat", stat_line(TARGET, 1).strip())
    with pytest.raises(NoSuchProcessError):
        damon.sample()
    assert (kernel.root / KD / "nr_kdamonds").read_text().strip() == "0"


@pytest.mark.parametrize(("options", "message"), [
    ({"depth": "3"}, "has no option 'depth'"),
    ({"sample": "0"}, "sample must be from 100us to 1s"),
    ({"aggregation": "2h"}, "aggregation must be from 1ms to 1m"),
    ({"aggregation": "soon"}, "must be a duration"),
    ({"sample": "50ms", "aggregation": "10ms"}, "at least its sampling interval"),
    ({"min_regions": "2"}, "min_regions must be a whole number from 3 to 10000"),
    ({"min_regions": "50", "max_regions": "20"}, "max_regions must be a whole number from 50"),
    ({"max_regions": "1e3"}, "not '1e3'"),
    ({"update": "-1s"}, "must be a duration"),
])
def test_bad_options_are_refused_by_name(kernel: FakeDamon, options: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        get("damon")(kernel, [TARGET], options)


def test_bad_pids_and_misuse_are_refused(kernel: FakeDamon) -> None:
    for pids in ([], [0], [-3], [True]):
        with pytest.raises(InvalidInputError):
            get("damon")(kernel, pids, {})
    damon = tracker(kernel)
    with pytest.raises(InvalidInputError, match="needs a started"):
        damon.sample()
    damon.start()
    with pytest.raises(InvalidInputError, match="already started"):
        damon.start()
    damon.stop()


def test_info_names_its_options_and_limits() -> None:
    info = get("damon").info
    assert info.name == "damon" and set(info.options) == {"sample", "aggregation", "update", "min_regions",
                                                           "max_regions"}
    assert "reads from writes" in info.cannot_see and "kdamond" in info.cost


def test_sigterm_raises_terminated_once_and_restores_the_handler() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Terminated) as caught, raising():
        os.kill(os.getpid(), signal.SIGTERM)
        signal.pthread_sigmask(signal.SIG_SETMASK, [])  # let it be delivered now
    assert caught.value.signum == signal.SIGTERM and isinstance(caught.value, KeyboardInterrupt)
    assert signal.getsignal(signal.SIGTERM) == before


def test_parsers() -> None:
    record = OwnerRecord(7, 8, 0, (1, 2), MARKER, 0)
    assert parse_owner_record(record.to_text()) == record
    for text in ("", "{", "[]", CLEARED, '{"format": "numamove-damon", "owner_pid": -1}',
                 record.to_text().replace('"targets": [1, 2]', '"targets": [0]'), '{"format": "other"}'):
        assert parse_owner_record(text) is None
    stat = parse_task_stat(stat_line(12, 345, comm="a) (b c"))
    assert (stat.tid, stat.start_time) == (12, 345)
    with pytest.raises(InvalidInputError):
        parse_task_stat("12 (x) S 1 2")
    assert config_option("CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C=\"x\"", "CONFIG_C") == '"x"'
    assert config_option("# CONFIG_B is not set", "CONFIG_B") is None
    assert parse_signed("-1\n", "pid") == -1
    with pytest.raises(InvalidInputError, match="pid holds"):
        parse_signed("--1", "pid")


def test_tried_regions_read_in_address_order_and_a_bad_value_is_named(kernel: FakeDamon) -> None:
    base = f"{KD}/0/contexts/0/schemes/0/tried_regions"
    for index, values in enumerate([(8192, 12288, 3, 7), (4096, 8192, 1, 0)]):
        for name, value in zip(("start", "end", "nr_accesses", "age"), values, strict=True):
            kernel.put(f"{base}/{index}/{name}", value)
    kernel.put(f"{base}/total_bytes", 8192)  # not a region: skipped
    assert DamonSysfs(kernel).tried_regions(0) == [(4096, 8192, 1, 0), (8192, 12288, 3, 7)]
    kernel.put(f"{base}/1/age", "\u0663")  # an Arabic-Indic three: a digit, but not one the kernel writes
    with pytest.raises(InvalidInputError, match="tried_regions/1/age holds '\u0663', not an unsigned number"):
        DamonSysfs(kernel).tried_regions(0)


def test_the_targets_mappings_are_damons_first_regions(kernel: FakeDamon) -> None:
    kernel.put(f"proc/{TARGET}/maps", "\n".join([
        "00400000-00500000 r-xp 00000000 08:01 1 /usr/bin/python3",
        "00500000-00600000 rw-p 00000000 00:00 0 [heap]",
        "7f0000000000-7f0001000000 rw-s 00000000 00:01 1025 /dev/zero (deleted)",
        "7f0001000000-7f0005000000 rw-s 00000000 00:01 1024 /dev/zero (deleted)",
        "7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0 [stack]",
        "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0 [vsyscall]"]) + "\n")
    damon = tracker(kernel)
    damon.start()
    spans = [(0x400000, 0x500000), (0x500000, 0x600000), (0x7F0000000000, 0x7F0001000000),
             (0x7F0001000000, 0x7F0005000000), (0x7FFD00000000, 0x7FFD00021000)]
    regions = "0/contexts/0/targets/0/regions"
    written = [(f"{regions}/nr_regions", "5")] + [
        (f"{regions}/{index}/{edge}", str(value)) for index, span in enumerate(spans)
        for edge, value in zip(("start", "end"), span, strict=True)]
    writes = kernel.writes()
    at = writes.index(("0/contexts/0/targets/0/pid_target", str(TARGET))) + 1
    assert writes[at:at + len(written)] == written
    damon.stop()


def test_too_many_mappings_join_across_the_smallest_gaps_touching_ones_first() -> None:
    spans = [(0x1000, 0x2000), (0x2000, 0x3000), (0x5000, 0x6000), (0x106000, 0x107000), (0x107000, 0x108000)]
    assert join_smallest_gaps(spans, 5) == spans
    assert join_smallest_gaps(spans, 3) == [(0x1000, 0x3000), (0x5000, 0x6000), (0x106000, 0x108000)]
    assert join_smallest_gaps(spans, 2) == [(0x1000, 0x6000), (0x106000, 0x108000)]
    assert join_smallest_gaps(spans, 1) == [(0x1000, 0x108000)]
