"""numamove against the kernel's AutoNUMA and tiering mode: one command, two VM boots, JSON + tables + plots.

Run from the project root, on the host:

    .venv/bin/python bench/evaluate.py [--seconds 30] [--short 8] [--workloads private,shared,hotset,phase]
                                       [--report-only]

It boots the test VM (vmtest/run.py: nodes 0 and 1 with a vCPU and 1 GiB each,
node 2 a memory-only lower tier) twice (--boots off,kernel) and runs bench/eval_guest.py in it:

- boot "off" (numa_balancing=disable): each workload with no migration
  ("none"), with numamove's daemon ("numamove": policy locality or tiering,
  tracker damon,threads, shared pages moved too; started before the workload's
  accesses, as a service is) and with the oracle placement ("oracle");
- boot "kernel" (numa_balancing=enable): the locality workloads under AutoNUMA,
  then, after switching to the tiering mode (numa_balancing=2,
  demotion_enabled=1) with no workload running, the tiering workloads.

The tiering workloads are capacity-bound: memory locked on nodes 0 and 1 leaves the fast
tier room (free memory above the 5% headroom, plus the workload's other memory there) for
1/1.5 of the working set.

Tuning experiments, each a boot of its own when named in --boots:

- boot "tuned" (numa_balancing=disable): the tiering workloads under numamove's
  daemon with the tiering policy's --tuned options (default margin=0: the policy
  swapping regions on any difference in heat, for comparison with its margin);
- boot "fast" (numa_balancing=disable): the workloads under numamove
  with a shorter cycle (interval 2s, profile 1s, sample 0.25s; default 4s, 2s, 0.5s);
- boot "kerneltuned": as "kernel", with AutoNUMA's longest scan period capped at
  1 s and its first scan after 100 ms (debugfs sched/numa_balancing:
  scan_period_max_ms, default 60 s; scan_delay_ms, default 1 s): the period
  grows while a task's faults are local, as they are while a workload first
  touches its buffer, and then the kernel looks again only after many seconds;
- boot "noflush": the locality workloads under
  AutoNUMA with hammers that skip their per-pass TLB flush, to see whether the
  flush (which DAMON needs under TCG) holds AutoNUMA back.

The guest writes bench/results/evaluation-BOOT.json (and a .npz of the
sampled placement per run); this merges them into bench/results/evaluation.json,
prints a table per workload and draws bench/results/evaluation-awr.png and
evaluation-migrated.png. ``--report-only`` redoes the tables and plots from
the JSON. A benchmark, not a test: numbers are printed, not asserted; the exit
status is non-zero when a boot fails or a workload's checksum does not hold.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parent.parent
RESULTS = PROJECT / "bench" / "results"
LOCALITY = ("private", "shared")
RUN_ORDER = ("none", "kernel", "kernel-tuned", "kernel-noflush", "numamove", "tuned", "fast", "oracle")
COLOURS = dict(zip(RUN_ORDER, ("tab:blue", "tab:orange", "tab:purple", "tab:brown", "tab:green", "tab:olive",
                               "tab:cyan", "tab:red"), strict=True))
# boot -> eval_guest.py --mode
MODES = {"off": "off", "kernel": "kernel", "kerneltuned": "kernel", "tuned": "off", "fast": "off",
         "noflush": "kernel"}


def boot(name: str, runs: list[str], args: argparse.Namespace) -> int:
    mode = MODES[name]
    python = str(PROJECT / ".venv" / "bin" / "python")
    command = [sys.executable, str(PROJECT / "vmtest" / "run.py"), "--hugepages", "16",
               "--timeout", "900", "--append",
               "numa_balancing=" + ("enable" if mode == "kernel" else "disable"), "--",
               python, str(PROJECT / "bench" / "eval_guest.py"), "--mode", mode, "--runs", ",".join(runs),
               "--out", str(RESULTS / f"evaluation-{name}.json"), "--seconds", str(args.seconds),
               "--short", str(args.short), "--interval", args.interval, "--profile", args.profile,
               "--sample", args.sample, "--tuned", args.tuned, *(["--no-flush"] if name == "noflush" else []),
               *(["--scan-period-max-ms", "1000", "--scan-delay-ms", "100"] if name == "kerneltuned" else [])]
    env = dict(os.environ, PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    print(f"evaluate: booting the VM ({name}) for {', '.join(runs)}", flush=True)
    return subprocess.run(command, cwd=PROJECT, env=env, check=False).returncode


def at(run: dict[str, Any], seconds: float) -> float | None:
    """AWR of the last sample at or before ``seconds``; None when the run was shorter."""
    series = run["series"]
    if series[-1]["t"] < seconds - 1.5:
        return None
    return float([s for s in series if s["t"] <= seconds + 0.5][-1]["awr"])


def text(value: float | None, form: str = "{:.2f}") -> str:
    return "-" if value is None else form.format(value)


def table(name: str, runs: list[dict[str, Any]]) -> list[str]:
    """A workload's table. The oracle and the minimum are each run's own: a tiering run measures
    the fast tier's room when it starts, and it differs by a few MiB from run to run."""
    phased = any(r["phase_at"] is not None for r in runs)
    head = ["run", "oracle AWR", "AWR 10s", "AWR 30s", "AWR end", "conv. s",
            *(["conv. after phase s"] if phased else []), "minimum moves", "pages moved (all)", "x minimum",
            "buffer pages moved", "ping-pong", "daemon CPU", "passes/s", "checksum"]
    lines = [f"### {name}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for run in runs:
        cpu = run.get("daemon_cpu_s")
        minimum = run["minimum_moves"]
        label = run["run"] + (f" ({run['policy_options']})" if run.get("policy_options") else "")
        cells = [label, " / ".join(f"{v:.3f}" for v in run["oracle_awr"]), text(at(run, 10)),
                 text(at(run, 30)), text(run["series"][-1]["awr"]), text(run["convergence_s"], "{:.1f}")]
        if phased:
            cells.append(text(run["convergence_after_phase_s"], "{:.1f}"))
        seen = run.get("buffer_pages_moved_seen", run.get("placement_changes_seen", 0))
        if run["run"] == "oracle":  # its moves happen before the clock starts
            seen = run["pages_moved"]
        ratio = run["pages_moved"] / minimum if minimum else None
        cells += [str(minimum), str(run["pages_moved"]), text(ratio), str(seen),
                  str(run["ping_pong_pages"]),
                  "-" if cpu is None else f"{cpu:.1f} s ({run['daemon_cpu_share'] * 100:.0f}%)",
                  f"{run['throughput_passes_per_s']:.1f}", "ok" if run["check"]["ok"] else "BAD"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def plots(by_workload: dict[str, list[dict[str, Any]]]) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    for what, key, scale, label in (("awr", "awr", 1.0, "AWR"), ("migrated", "migrated_pages", 4096 / 2**20,
                                                                 "migrated MiB (pgmigrate_success)")):
        figure, axes = plt.subplots(1, len(by_workload), figsize=(4.2 * len(by_workload), 3.4), squeeze=False)
        for axis, (name, runs) in zip(axes[0], by_workload.items(), strict=True):
            for run in runs:
                axis.plot([s["t"] for s in run["series"]], [s[key] * scale for s in run["series"]],
                          label=run["run"], marker=".", markersize=3, color=COLOURS[run["run"]],
                          linestyle="--" if run["run"] == "oracle" else "-")
            if runs and runs[0]["phase_at"] is not None:
                axis.axvline(max(r["phase_at"] or 0 for r in runs), color="grey", linestyle=":", linewidth=1)
            axis.set_title(name)
            axis.set_xlabel("seconds")
            axis.set_ylabel(label)
            axis.grid(alpha=0.3)
            axis.legend(fontsize=8)
        figure.tight_layout()
        path = RESULTS / f"evaluation-{what}.png"
        figure.savefig(path, dpi=90)
        plt.close(figure)
        paths.append(path)
    return paths


def report() -> int:
    runs: list[dict[str, Any]] = []
    modes = {}
    for mode in MODES:
        path = RESULTS / f"evaluation-{mode}.json"
        if path.exists():
            data = json.loads(path.read_text())
            modes[mode] = data["mode"]
            runs += data["runs"]
    if not runs:
        print("evaluate: no results in bench/results; run without --report-only", file=sys.stderr)
        return 1
    by_workload: dict[str, list[dict[str, Any]]] = {}
    for run in sorted(runs, key=lambda r: RUN_ORDER.index(r["run"])):
        by_workload.setdefault(run["workload"], []).append(run)
    (RESULTS / "evaluation.json").write_text(json.dumps({"modes": modes, "workloads": by_workload}, indent=1))
    lines = []
    for name, group in by_workload.items():
        lines += [*table(name, group), ""]
    (RESULTS / "evaluation.md").write_text("\n".join(lines))
    print("\n".join(lines))
    for path in plots(by_workload):
        print(f"evaluate: wrote {path.relative_to(PROJECT)}")
    return 0 if all(r["check"]["ok"] and r["check"]["passes"] > 0 for r in runs) else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the kernel and numamove runs")
    parser.add_argument("--short", type=float, default=8.0, help="length of the none and oracle runs "
                        "(their placement does not change)")
    parser.add_argument("--workloads", default="private,shared,hotset,phase")
    parser.add_argument("--boots", default="off,kernel",
                        help="the boots to run: off and kernel (default), and the tuning experiments "
                             "kerneltuned, tuned, fast and noflush")
    parser.add_argument("--interval", default="4s", help="numamove's daemon: its cycle")
    parser.add_argument("--profile", default="2s", help="numamove's daemon: the profile per cycle")
    parser.add_argument("--sample", default="0.5s", help="numamove's daemon: its sampling interval")
    parser.add_argument("--tuned", default="margin=0",
                        help="the tiering policy's options in the tuned runs (a third boot)")
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    workloads = [w for w in args.workloads.split(",") if w]
    failed = 0
    if not args.report_only:
        plan = {"off": [f"{w}:{r}" for w in workloads for r in ("none", "numamove", "oracle")],
                "kernel": [f"{w}:kernel" for w in sorted(workloads, key=lambda w: w not in LOCALITY)],
                "kerneltuned": [f"{w}:kernel" for w in sorted(workloads, key=lambda w: w not in LOCALITY)],
                "tuned": [f"{w}:tuned" for w in workloads if w not in LOCALITY],
                "noflush": [f"{w}:kernel" for w in workloads if w in LOCALITY],
                "fast": [f"{w}:fast" for w in workloads]}
        for mode in args.boots.split(","):
            began = time.monotonic()
            status = boot(mode, plan[mode], args)
            print(f"evaluate: the {mode} boot took {time.monotonic() - began:.0f} s", flush=True)
            if status != 0:
                print(f"evaluate: the {mode} boot ended with status {status}", file=sys.stderr)
                failed = 1
    return report() or failed


if __name__ == "__main__":
    sys.exit(main())
