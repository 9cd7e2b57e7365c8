"""In the test VM: run evaluation workloads under one kernel mode, sample their placement, write JSON.

    python bench/eval_guest.py --mode MODE --runs WORKLOAD:RUN[,...] --out FILE

bench/evaluate.py boots the VM once per kernel mode and runs this in it. MODE
is the kernel's own migration: "off" (booted with numa_balancing=disable) or
"kernel" (booted with numa_balancing=enable: AutoNUMA for the locality
workloads; before the first tiering workload starts this writes 2 to
/proc/sys/kernel/numa_balancing, the tiering mode, and 1 to
/sys/kernel/mm/numa/demotion_enabled. 1 -> 2 leaves the static key on, and no
workload runs then: flipping that key while a vCPU is busy once oopsed the
TCG guest). RUN is "none", "kernel", "numamove" or
"oracle". Each run starts bench/eval_workload.py; for a tiering workload it
locks memory on nodes 0 and 1 (Balloon) so that the fast tier's room is 1/1.5
of the working set. It places the buffer for the oracle run (move_pages),
starts numamove's daemon in a thread for the numamove run and waits for its
first cycle (a service runs before the workload needs it), then says "go"
and samples every page's node (a move_pages query from this process) and
/proc/vmstat every --period seconds. Scores: numamove.policy.scores.
This process and the daemon run on node 0's CPU; the workload's hammers on node 1's.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import math
import mmap
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

import numamove
from numamove.daemon.config import parse_config
from numamove.daemon.loop import Daemon
from numamove.kernel import Kernel
from numamove.policy.scores import awr, convergence_time, minimum_moves, node_changes, ping_pong
from numamove.procfs import parse_node_meminfo

HERE = Path(__file__).resolve().parent
PAGE = os.sysconf("SC_PAGE_SIZE")
TOP_TIER = (0, 1)
LOCAL_NODE = 1  # the hammers' node
SLOW_NODE = 2  # the memory-only node
WORKLOADS: dict[str, dict[str, Any]] = {
    "private": {"kind": "private", "mib": 64, "start_node": 0, "seed": 1301},
    "shared": {"kind": "shared", "mib": 64, "start_node": 0, "seed": 1302},
    "hotset": {"kind": "hotset", "mib": 128, "start_node": 2, "seed": 1303, "hot_fraction": 0.1,
               "cold_every": 32},
    "phase": {"kind": "phase", "mib": 128, "start_node": 2, "seed": 1304, "hot_fraction": 0.1,
              "cold_every": 32},
}
VMSTAT = ("pgmigrate_success", "pgmigrate_fail", "numa_pages_migrated", "pgpromote_success",
          "pgdemote_kswapd", "pgdemote_direct", "numa_hint_faults")
# numamove's daemon: its best tracker and policy per case (see the module docstring of evaluate.py)
DAEMON = """
[metrics]
enabled = false
[[selection]]
name = "eval"
cmdline = "eval_workload[.]py"
tracker = "damon,threads"
fallback = "softdirty,threads"
policy = "{policy}"
interval = "{interval}"
profile = "{profile}"
sample = "{sample}"
budget = "1G"
move_shared = true
policy_options = {{ {options} }}
"""
HEADROOM = 0.05
"""The tiering policy's default headroom, the share of a node kept free: on the VM's 1 GiB nodes
about the kernel's own promotion watermark (/proc/zoneinfo "promo", 53 MiB), below which the
tiering mode does not promote. The fast tier's room is its free memory above it."""
CAPACITY_RATIO = 1.5
"""The tiering working set over the fast tier's room (the issue's capacity-bound case)."""


LOGGED = ("cycle", "plan", "moved", "error")
FAST = {"interval": "2s", "profile": "1s", "sample": "0.25s"}  # the daemon's settings of the "fast" run
TICKS = os.sysconf("SC_CLK_TCK")


def vmstat() -> dict[str, int]:
    values = {}
    for line in Path("/proc/vmstat").read_text().splitlines():
        name, _, value = line.partition(" ")
        if name in VMSTAT:
            values[name] = int(value)
    return values


def cpus_of(node: int) -> list[int]:
    return list(numamove.parse_cpulist(Path(f"/sys/devices/system/node/node{node}/cpulist").read_text()))


def tiering(spec: dict[str, Any]) -> bool:
    return spec["kind"] in ("hotset", "phase")


def weights(spec: dict[str, Any], pages: int, hot: list[int]) -> npt.NDArray[np.float64]:
    """Accesses per pass of each page (the workload's pattern, exactly)."""
    if not tiering(spec):
        return np.ones(pages)
    result = np.full(pages, 1.0 / spec["cold_every"])
    result[hot[0]:hot[1]] += 1.0
    return result


def oracle(spec: dict[str, Any], start: npt.NDArray[np.int32], hot: list[int],
           left: dict[int, int]) -> tuple[npt.NDArray[np.int32], dict[int, int]]:
    """The best placement from ``start`` that the room ``left`` (pages per top-tier node) allows,
    with the room left after it.

    Locality: every page on the hammers' node. Tiering: the hot range on the top
    tier, and cold pages there as room allows, with the fewest moves: the hot
    pages below the top tier are promoted (the hammers' node first); when the
    room does not hold them, as many cold pages on the top tier are demoted;
    room still left takes cold pages in address order.
    """
    if not tiering(spec):
        return np.full_like(start, LOCAL_NODE), left
    placed, left = start.copy(), dict(left)
    is_hot = np.zeros(len(placed), dtype=bool)
    is_hot[hot[0]:hot[1]] = True
    on_top = np.isin(placed, TOP_TIER)
    promote = np.flatnonzero(is_hot & ~on_top)
    short = len(promote) - sum(max(count, 0) for count in left.values())
    rest = np.flatnonzero(~is_hot & ~on_top)
    if short > 0:
        victims = np.flatnonzero(~is_hot & on_top)[:short]
        for node in TOP_TIER:
            left[node] = left.get(node, 0) + int((placed[victims] == node).sum())
        placed[victims] = SLOW_NODE
        rest = rest[:0]
    fill = np.concatenate([promote, rest])
    for node in sorted(left, key=lambda n: n != LOCAL_NODE):
        take = fill[:max(left[node], 0)]
        placed[take] = node
        left[node] -= len(take)
        fill = fill[len(take):]
    return placed, left


def held_on_top(pid: int, buffer_start: int) -> dict[int, int]:
    """The workload's pages on each top-tier node outside its buffer (its interpreter, libraries and
    heap; /proc/PID/numa_maps): memory a placement may demote to make room for the buffer."""
    held = dict.fromkeys(TOP_TIER, 0)
    for line in Path(f"/proc/{pid}/numa_maps").read_text().splitlines():
        words = line.split()
        if not words or int(words[0], 16) == buffer_start:
            continue
        for word in words[1:]:
            name, _, count = word.partition("=")
            if name[:1] == "N" and name[1:].isdigit() and int(name[1:]) in held:
                held[int(name[1:])] += int(count)
    return held


def fast_room(held: dict[int, int]) -> dict[int, int]:
    """Pages each top-tier node can give the buffer: its free memory less the headroom, plus the
    workload's other pages there (``held``). The tiering policy sizes the hot set the same way."""
    return {node: free_above_headroom(node) // PAGE + held[node] for node in TOP_TIER}


def free_above_headroom(node: int) -> int:
    """Bytes free on ``node`` beyond the headroom (/sys/devices/system/node/nodeN/meminfo)."""
    info = parse_node_meminfo(Path(f"/sys/devices/system/node/node{node}/meminfo").read_text())
    return info["MemFree"] - math.ceil(HEADROOM * info["MemTotal"])


def place(pid: int, addresses: npt.NDArray[np.uint64], now: npt.NDArray[np.int32],
          wanted: npt.NDArray[np.int32]) -> None:
    """Move the pages whose node differs to where ``wanted`` says: demotions first, to make room."""
    for node in sorted(set(wanted[wanted != now].tolist()), key=lambda n: n in TOP_TIER):
        numamove.move_pages(pid, addresses[(wanted != now) & (wanted == node)], node)


class Balloon:
    """Memory locked on the top-tier nodes so that ``room`` bytes stay free above the headroom
    on each (mbind, first touch, mlock): the capacity-bound tiering case. Locked pages are not
    reclaimed or demoted, so the kernel's tiering mode cannot make room from them either."""

    def __init__(self, room: int) -> None:
        self.areas: list[mmap.mmap] = []
        libc = ctypes.CDLL(None, use_errno=True)
        for node in TOP_TIER:
            size = (free_above_headroom(node) - room) // PAGE * PAGE
            if size <= 0:
                continue
            area = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
            self.areas.append(area)
            view = np.frombuffer(area, dtype=np.uint8)
            address = view.ctypes.data
            numamove.mbind(address, size, numamove.Mode.BIND, [node])
            view[::PAGE] = 1
            del view  # no buffer export left: close() can unmap
            if libc.mlock(ctypes.c_void_p(address), ctypes.c_size_t(size)) != 0:
                raise OSError(ctypes.get_errno(), f"mlock of the balloon on node {node}")

    def close(self) -> None:
        for area in self.areas:
            area.close()
        self.areas = []


def set_tiering_mode() -> dict[str, str]:
    Path("/proc/sys/kernel/numa_balancing").write_text("2\n")
    Path("/sys/kernel/mm/numa/demotion_enabled").write_text("1\n")
    return {"numa_balancing": Path("/proc/sys/kernel/numa_balancing").read_text().strip(),
            "demotion_enabled": Path("/sys/kernel/mm/numa/demotion_enabled").read_text().strip()}


def set_autonuma_scan(period_max_ms: int, delay_ms: int) -> dict[str, int]:
    """Cap AutoNUMA's scan period (it grows up to 60 s while a task's faults are local) and set the
    delay before a new task's first scan (debugfs sched/numa_balancing)."""
    knobs = Path("/sys/kernel/debug/sched/numa_balancing")
    if not knobs.exists():
        subprocess.run(["mount", "-t", "debugfs", "none", "/sys/kernel/debug"], check=True)
    (knobs / "scan_period_max_ms").write_text(f"{period_max_ms}\n")
    (knobs / "scan_delay_ms").write_text(f"{delay_ms}\n")
    return {name: int((knobs / name).read_text()) for name in ("scan_period_max_ms", "scan_delay_ms")}


class DaemonThread:
    """numamove's daemon in a thread of this process: its CPU is the thread's CPU time."""

    def __init__(self, policy: str, args: argparse.Namespace, options: str = "", fast: bool = False) -> None:
        self.events: list[dict[str, Any]] = []
        self.stopping = threading.Event()
        self.cpu = 0.0
        pairs = (item.partition("=") for item in options.split(",") if item)
        timing = FAST if fast else {"interval": args.interval, "profile": args.profile, "sample": args.sample}
        text = DAEMON.format(policy=policy, **timing,
                             options=", ".join(f"{k} = {json.dumps(v)}" for k, _, v in pairs))
        self.daemon = Daemon(Kernel(), parse_config(text, "eval"), log=self.events.append)
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        self.daemon.run(stop=self.stopping.is_set)

    def cpu_seconds(self) -> float:
        """The daemon thread's user + system CPU so far (/proc/self/task/TID/stat)."""
        stat = Path(f"/proc/self/task/{self.thread.native_id}/stat").read_text()
        fields = stat.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS

    def warm(self, timeout: float = 60.0) -> None:
        """Start, and wait for the first cycle's end: a service runs before the workload needs it."""
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not any(e["event"] == "cycle" for e in list(self.events)):
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError(f"the daemon did not finish a cycle: {self.events[-3:]}")
            time.sleep(0.05)

    def moved(self, since: float = 0.0) -> int:
        return sum(int(e["pages"]) for e in list(self.events) if e["event"] == "moved" and e["time"] >= since)


def run_one(name: str, run: str, args: argparse.Namespace) -> dict[str, Any]:
    spec = dict(WORKLOADS[name], hammer_cpus=cpus_of(LOCAL_NODE), flush=not args.no_flush)
    seconds = args.seconds if run in ("kernel", "numamove", "tuned", "fast") else args.short
    child = subprocess.Popen([sys.executable, str(HERE / "eval_workload.py"), json.dumps(spec)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdin is not None and child.stdout is not None
    info = json.loads(child.stdout.readline())
    pages, hots = int(info["pages"]), info["hot"]
    addresses = np.uint64(info["range"][0]) + np.arange(pages, dtype=np.uint64) * np.uint64(PAGE)
    pid = int(info["pid"])
    # Tiering: the fast tier's room (free memory above the headroom, plus the workload's other
    # memory there) is 1/1.5 of the working set; the free part is split between the two nodes.
    balloon, room = None, {}
    if tiering(spec):
        held = held_on_top(pid, int(info["range"][0]))
        free_part = max(0, int(pages / CAPACITY_RATIO) - sum(held.values())) * PAGE
        balloon = Balloon(free_part // len(TOP_TIER))
        room = fast_room(held)
    start = numamove.move_pages(pid, addresses)
    phased = spec["kind"] == "phase"
    first, left = oracle(spec, start, hots[0], room)
    oracles = [first] + ([oracle(spec, first, hots[1], left)[0]] if phased else [])
    wants: Any = TOP_TIER if tiering(spec) else {LOCAL_NODE}
    phase_weights = [weights(spec, pages, hot) for hot in (hots if phased else hots[:1])]
    oracle_awr = [awr(o, w, wants) for o, w in zip(oracles, phase_weights, strict=True)]
    minimum = minimum_moves(start, oracles[0]) + (minimum_moves(oracles[0], oracles[1]) if phased else 0)
    if run == "oracle":
        if tiering(spec):  # the workload's other memory off the fast tier, as room counts it
            numamove.migrate_pages(pid, ",".join(map(str, TOP_TIER)), str(SLOW_NODE))
        place(pid, addresses, start, oracles[0])
    daemon = None
    if run in ("numamove", "tuned", "fast"):
        options = args.tuned if run == "tuned" else ""
        daemon = DaemonThread("tiering" if tiering(spec) else "locality", args, options, fast=run == "fast")
        daemon.warm()  # a service: running, one cycle done, before the workload's accesses begin
    cpu_before = daemon.cpu_seconds() if daemon else 0.0
    before = vmstat()
    child.stdin.write("go\n")
    child.stdin.flush()
    json.loads(child.stdout.readline())  # the pids that hammer
    began, wall = time.monotonic(), time.time()
    times: list[float] = []
    samples: list[npt.NDArray[np.int32]] = []
    series: list[dict[str, Any]] = []
    phase_at: float | None = None
    phase = 0
    while True:
        now = time.monotonic() - began
        if phased and phase_at is None and now >= seconds / 2:
            child.stdin.write("phase\n")
            child.stdin.flush()
            phase_at, phase = now, 1
            if run == "oracle":
                place(pid, addresses, numamove.move_pages(pid, addresses), oracles[1])
        nodes = numamove.move_pages(pid, addresses)
        counts = vmstat()
        times.append(now)
        samples.append(nodes.astype(np.int8))
        series.append({"t": round(now, 2), "phase": phase,
                       "awr": round(awr(nodes, phase_weights[phase], wants), 4),
                       "migrated_pages": counts["pgmigrate_success"] - before["pgmigrate_success"],
                       "numamove_pages": daemon.moved(wall) if daemon else 0})
        if now >= seconds:
            break
        time.sleep(max(0.0, args.period - (time.monotonic() - began - now)))
    elapsed = time.monotonic() - began
    daemon_cpu = daemon.cpu_seconds() - cpu_before if daemon else 0.0
    if daemon is not None:
        daemon.stopping.set()
        daemon.thread.join(timeout=60)
    child.stdin.write("check\n")
    child.stdin.flush()
    check = json.loads(child.stdout.readline())
    child.stdin.close()
    child.wait(timeout=60)
    if balloon is not None:
        balloon.close()
    after = vmstat()
    placement = np.vstack(samples)
    values = [s["awr"] for s in series]
    first_end = phase_at if phase_at is not None else float("inf")
    before_phase = sum(t < first_end for t in times)
    conv = convergence_time(times[:before_phase], values[:before_phase], 0.95 * oracle_awr[0])
    result: dict[str, Any] = {
        "workload": name, "spec": spec, "pages": pages,
        "run": run + ("-noflush" if args.no_flush else "") + ("-tuned" if args.scan_period_max_ms else ""),
        "hot": hots, "wall_start": wall, "fast_tier_room_pages": room,
        "seconds": round(elapsed, 2), "oracle_awr": oracle_awr, "minimum_moves": minimum,
        "series": series, "convergence_s": conv, "policy_options": args.tuned if run == "tuned" else "",
        "daemon_timing": FAST if run == "fast" else None,
        "phase_at": phase_at,
        "convergence_after_phase_s": (convergence_time(times, values, 0.95 * oracle_awr[1], start=phase_at)
                                      if phase_at is not None else None),
        "vmstat_delta": {k: after[k] - before.get(k, 0) for k in after},
        "pages_moved": after["pgmigrate_success"] - before["pgmigrate_success"],
        "buffer_pages_moved_seen": int(node_changes(placement).sum()),
        "ping_pong_pages": ping_pong(times, placement, window=60.0, limit=2),
        "throughput_passes_per_s": round(check["passes"] / elapsed, 2),
        "check": check,
    }
    if run == "oracle":  # the oracle's own moves happened before the clock started
        result["pages_moved"] = minimum
    if daemon is not None:
        result.update(numamove_pages=daemon.moved(wall), daemon_cpu_s=round(daemon_cpu, 3),
                      daemon_cpu_share=round(daemon_cpu / elapsed, 4),
                      daemon_cycles=sum(e["event"] == "cycle" and e["time"] >= wall for e in daemon.events),
                      daemon_trackers=next((s["trackers"] for e in daemon.events if e["event"] == "start"
                                            for s in e["selections"]), None),
                      daemon_errors=[e for e in daemon.events if e["event"] in ("error", "failed")][:5],
                      daemon_log=[{k: v for k, v in e.items() if k not in ("selection", "pids")}
                                  for e in daemon.events if e["event"] in LOGGED])
    np.savez_compressed(Path(args.out).with_suffix(f".{name}.{run}.npz"), times=np.array(times),
                        placement=placement)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=("off", "kernel"), required=True)
    parser.add_argument("--runs", required=True, help="WORKLOAD:RUN,... e.g. private:none,private:oracle")
    parser.add_argument("--out", required=True)
    parser.add_argument("--seconds", type=float, default=30.0, help="length of kernel and numamove runs")
    parser.add_argument("--short", type=float, default=8.0, help="length of none and oracle runs")
    parser.add_argument("--period", type=float, default=1.0, help="seconds between placement samples")
    parser.add_argument("--interval", default="4s", help="the daemon's cycle")
    parser.add_argument("--profile", default="2s", help="the daemon's profile per cycle")
    parser.add_argument("--sample", default="0.5s", help="the daemon's sampling interval")
    parser.add_argument("--no-flush", action="store_true",
                        help="the hammers skip the TLB flush after each pass (DAMON sees little then)")
    parser.add_argument("--tuned", default="margin=0", help="the policy options of the tuned run")
    parser.add_argument("--scan-period-max-ms", type=int, default=0,
                        help="AutoNUMA's longest scan period (debugfs sched/numa_balancing; the kernel's "
                             "default is 60000): kernel runs with it are labelled kernel-tuned")
    parser.add_argument("--scan-delay-ms", type=int, default=1000,
                        help="with --scan-period-max-ms: AutoNUMA's delay before a task's first scan")
    args = parser.parse_args()
    os.sched_setaffinity(0, set(cpus_of(0)))
    mode: dict[str, Any] = {"mode": args.mode}
    mode["kernel"] = os.uname().release
    if args.scan_period_max_ms:
        mode["autonuma"] = set_autonuma_scan(args.scan_period_max_ms, args.scan_delay_ms)
    results = []
    for item in args.runs.split(","):
        name, _, run = item.partition(":")
        if args.mode == "kernel" and tiering(WORKLOADS[name]) and "tiering" not in mode:
            mode["tiering"] = set_tiering_mode()
        mode["numa_balancing"] = Path("/proc/sys/kernel/numa_balancing").read_text().strip()
        print(f"eval: {name} {run} ...", file=sys.stderr, flush=True)
        result = run_one(name, run, args)
        result["kernel_mode"] = dict(mode)
        print(f"eval: {name} {run}: end AWR {result['series'][-1]['awr']}, moved {result['pages_moved']}, "
              f"check {result['check']['ok']}", file=sys.stderr, flush=True)
        results.append(result)
        Path(args.out).write_text(json.dumps({"mode": mode, "args": vars(args), "runs": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
