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
"oracle". Each run starts bench/eval_workload.py, places its buffer for the
oracle run (move_pages), runs numamove's daemon in a thread for the numamove
run, and samples every page's node (a move_pages query from this process)
and /proc/vmstat every --period seconds. Scores: numamove.policy.scores.
This process and the daemon run on node 0's CPU; the workload's hammers on node 1's.
"""

from __future__ import annotations

import argparse
import json
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

HERE = Path(__file__).resolve().parent
PAGE = os.sysconf("SC_PAGE_SIZE")
TOP_TIER = (0, 1)
LOCAL_NODE = 1  # the hammers' node
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
pids = {pids}
tracker = "damon,threads"
fallback = "softdirty,threads"
policy = "{policy}"
interval = "{interval}"
profile = "{profile}"
sample = "{sample}"
budget = "1G"
policy_options = {{ {options} }}
"""


LOGGED = ("cycle", "plan", "moved", "error")
FAST = {"interval": "2s", "profile": "1s", "sample": "0.25s"}  # the daemon's settings of the "fast" run


def vmstat() -> dict[str, int]:
    values = {}
    for line in Path("/proc/vmstat").read_text().splitlines():
        name, _, value = line.partition(" ")
        if name in VMSTAT:
            values[name] = int(value)
    return values


def cpus_of(node: int) -> list[int]:
    text = Path(f"/sys/devices/system/node/node{node}/cpulist").read_text().strip()
    cpus: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        cpus += range(int(lo), int(hi or lo) + 1)
    return cpus


def tiering(spec: dict[str, Any]) -> bool:
    return spec["kind"] in ("hotset", "phase")


def weights(spec: dict[str, Any], pages: int, hot: list[int]) -> npt.NDArray[np.float64]:
    """Accesses per pass of each page (the workload's pattern, exactly)."""
    if not tiering(spec):
        return np.ones(pages)
    result = np.full(pages, 1.0 / spec["cold_every"])
    result[hot[0]:hot[1]] += 1.0
    return result


def oracle(spec: dict[str, Any], start: npt.NDArray[np.int32],
           hots: list[list[int]]) -> npt.NDArray[np.int32]:
    """The placement the metric wants: every page local (locality), the hot set(s) on the top tier."""
    if not tiering(spec):
        return np.full_like(start, LOCAL_NODE)
    placed = start.copy()
    for lo, hi in hots:
        placed[lo:hi] = LOCAL_NODE
    return placed


def set_tiering_mode() -> dict[str, str]:
    Path("/proc/sys/kernel/numa_balancing").write_text("2\n")
    Path("/sys/kernel/mm/numa/demotion_enabled").write_text("1\n")
    return {"numa_balancing": Path("/proc/sys/kernel/numa_balancing").read_text().strip(),
            "demotion_enabled": Path("/sys/kernel/mm/numa/demotion_enabled").read_text().strip()}


class DaemonThread:
    """numamove's daemon in a thread of this process: its CPU is the thread's CPU time."""

    def __init__(self, pids: list[int], policy: str, args: argparse.Namespace, options: str = "",
                 fast: bool = False) -> None:
        self.events: list[dict[str, Any]] = []
        self.stopping = threading.Event()
        self.cpu = 0.0
        pairs = (item.partition("=") for item in options.split(",") if item)
        timing = FAST if fast else {"interval": args.interval, "profile": args.profile, "sample": args.sample}
        text = DAEMON.format(pids=json.dumps(pids), policy=policy, **timing,
                             options=", ".join(f"{k} = {json.dumps(v)}" for k, _, v in pairs))
        self.daemon = Daemon(Kernel(), parse_config(text, "eval"), log=self.events.append)
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        began = time.thread_time()
        try:
            self.daemon.run(stop=self.stopping.is_set)
        finally:
            self.cpu = time.thread_time() - began

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
    start = numamove.move_pages(pid, addresses)
    phased = spec["kind"] == "phase"
    oracles = [oracle(spec, start, hots[:1])] + ([oracle(spec, start, hots)] if phased else [])
    wants: Any = TOP_TIER if tiering(spec) else {LOCAL_NODE}
    phase_weights = [weights(spec, pages, hot) for hot in (hots if phased else hots[:1])]
    oracle_awr = [awr(o, w, wants) for o, w in zip(oracles, phase_weights, strict=True)]
    minimum = minimum_moves(start, oracles[0]) + (minimum_moves(oracles[0], oracles[1]) if phased else 0)
    if run == "oracle":
        numamove.move_pages(pid, addresses[oracles[0] != start], LOCAL_NODE)
    before = vmstat()
    child.stdin.write("go\n")
    child.stdin.flush()
    pids = json.loads(child.stdout.readline())["pids"]
    began, wall = time.monotonic(), time.time()
    daemon = None
    if run in ("numamove", "tuned", "fast"):
        daemon = DaemonThread(pids, "tiering" if tiering(spec) else "locality", args,
                              args.tuned if run == "tuned" else "", fast=run == "fast")
        daemon.thread.start()
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
                numamove.move_pages(pid, addresses[oracles[1] != oracles[0]], LOCAL_NODE)
        nodes = numamove.move_pages(pid, addresses)
        counts = vmstat()
        times.append(now)
        samples.append(nodes.astype(np.int8))
        series.append({"t": round(now, 2), "phase": phase,
                       "awr": round(awr(nodes, phase_weights[phase], wants), 4),
                       "migrated_pages": counts["pgmigrate_success"] - before["pgmigrate_success"],
                       "numamove_pages": daemon.moved() if daemon else 0})
        if now >= seconds:
            break
        time.sleep(max(0.0, args.period - (time.monotonic() - began - now)))
    elapsed = time.monotonic() - began
    if daemon is not None:
        daemon.stopping.set()
        daemon.thread.join(timeout=60)
    child.stdin.write("check\n")
    child.stdin.flush()
    check = json.loads(child.stdout.readline())
    child.stdin.close()
    child.wait(timeout=60)
    after = vmstat()
    placement = np.vstack(samples)
    values = [s["awr"] for s in series]
    first_end = phase_at if phase_at is not None else float("inf")
    before_phase = sum(t < first_end for t in times)
    conv = convergence_time(times[:before_phase], values[:before_phase], 0.95 * oracle_awr[0])
    result: dict[str, Any] = {
        "workload": name, "run": run + ("-noflush" if args.no_flush else ""), "spec": spec, "pages": pages,
        "hot": hots, "wall_start": wall,
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
        result.update(numamove_pages=daemon.moved(), daemon_cpu_s=round(daemon.cpu, 3),
                      daemon_cpu_share=round(daemon.cpu / elapsed, 4),
                      daemon_cycles=sum(e["event"] == "cycle" for e in daemon.events),
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
    parser.add_argument("--seconds", type=float, default=45.0, help="length of kernel and numamove runs")
    parser.add_argument("--short", type=float, default=15.0, help="length of none and oracle runs")
    parser.add_argument("--period", type=float, default=1.0, help="seconds between placement samples")
    parser.add_argument("--interval", default="4s", help="the daemon's cycle")
    parser.add_argument("--profile", default="2s", help="the daemon's profile per cycle")
    parser.add_argument("--sample", default="0.5s", help="the daemon's sampling interval")
    parser.add_argument("--no-flush", action="store_true",
                        help="the hammers skip the TLB flush after each pass (DAMON sees little then)")
    parser.add_argument("--tuned", default="min_heat=20", help="the policy options of the tuned run")
    args = parser.parse_args()
    os.sched_setaffinity(0, set(cpus_of(0)))
    mode: dict[str, Any] = {"mode": args.mode}
    mode["kernel"] = os.uname().release
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
