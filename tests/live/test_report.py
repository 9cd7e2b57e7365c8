"""``numamove report`` on real profiles: ``numamove profile`` records the hot-set workload, report reads it.

The workload writes a 16 MiB region again and again from a thread pinned to a
node's CPUs and a 64 MiB region once, before profiling starts. The report must
rank the hot region first, put at least 90% of the hot bytes inside it, and,
with the threads tracker, attribute its accesses to the hammering thread's node.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from .conftest import HotSet, Layout, hot_set_workload

TIMEOUT = 180  # seconds: Python starts slowly in the guest


def numamove(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "numamove", *arguments], capture_output=True, text=True,
                          timeout=TIMEOUT, check=False)


def profile_and_report(layout: Layout, trackers: str, folder: Path,
                       *extra: str) -> tuple[HotSet, dict[str, Any], subprocess.CompletedProcess[str]]:
    log = folder / "profile.jsonl"
    with hot_set_workload(layout) as workload:
        recorded = numamove("profile", str(workload.pid), "--tracker", trackers, "--duration", "6s",
                            "--interval", "1s", "-o", str(log))
        assert recorded.returncode == 0, recorded.stderr
    reported = numamove("report", str(log), "--json", *extra)
    assert reported.returncode == 0, reported.stderr
    return workload, json.loads(reported.stdout), reported


def overlap(region: dict[str, Any], span: tuple[int, int]) -> int:
    return max(0, min(int(region["end"]), span[1]) - max(int(region["start"]), span[0]))


def hot_bytes_inside(regions: list[dict[str, Any]], span: tuple[int, int]) -> float:
    """The share of the reported hot bytes (heat x bytes, over regions with heat > 0) inside ``span``."""
    inside = sum(region["heat"] * overlap(region, span) for region in regions)
    total = sum(region["heat"] * (region["end"] - region["start"]) for region in regions)
    assert total > 0, "the profile saw no heat at all"
    return float(inside / total)


def test_softdirty_report_ranks_the_hot_region_first(layout: Layout, tmp_path: Path) -> None:
    picture = tmp_path / "heat.png"
    workload, report, reported = profile_and_report(layout, "softdirty", tmp_path, "--heatmap", str(picture))
    assert report["tracker"] == "softdirty" and report["pid"] == workload.pid
    assert report["truncated"] is False and report["end"]["reason"] == "duration"
    assert report["intervals"] >= 5, report["intervals"]
    regions = report["regions"]
    first = regions[0]
    assert first["heat"] > 0 and first["written"] is True
    assert overlap(first, workload.hot) >= 0.9 * (first["end"] - first["start"]), (first, workload.hot)
    assert overlap(first, workload.hot) >= 0.9 * (workload.hot[1] - workload.hot[0])
    assert hot_bytes_inside(regions, workload.hot) >= 0.9
    # The cold region was written before profiling started: no heat, and counted as cold memory.
    cold_weight = sum(r["heat"] * overlap(r, workload.cold) for r in regions)
    assert cold_weight <= 0.05 * sum(r["heat"] * overlap(r, workload.hot) for r in regions)
    if any(overlap(r, workload.cold) for r in regions):  # listed (a mapping, or regions of heat 0)
        assert report["cold"]["bytes"] >= 0.9 * (workload.cold[1] - workload.cold[0])
    assert report["remote"]["share"] is None and report["remote"]["accessing_known"] is False
    assert all(r["accessing_nodes"] is None for r in regions)
    # The working set is about the hot 16 MiB in every interval.
    sizes = [w["bytes"] for w in report["working_set"]]
    assert len(sizes) == report["intervals"] and np.median(sizes) >= 15 * (1 << 20)
    assert report["resident_by_node"]
    assert all(isinstance(node, str) for node in report["resident_by_node"][0]["pages"])

    from PIL import Image

    with Image.open(picture) as image:
        assert image.format == "PNG" and image.size == (1400, 1000)
    assert f"wrote {picture}" in reported.stderr


def test_softdirty_and_threads_attribute_the_hot_region_to_the_hammering_threads_node(layout: Layout,
                                                                                      tmp_path: Path) -> None:
    workload, report, _ = profile_and_report(layout, "softdirty,threads", tmp_path)
    assert report["tracker"] == "softdirty,threads"
    first = report["regions"][0]
    assert overlap(first, workload.hot) >= 0.9 * (first["end"] - first["start"]), (first, workload.hot)
    assert first["accessing_nodes"] is not None, first
    assert first["accessing_nodes"].get(str(workload.node), 0.0) >= 0.8, first["accessing_nodes"]
    assert report["remote"]["accessing_known"] is True and report["remote"]["share"] is not None
    text = numamove("report", str(tmp_path / "profile.jsonl"), "--top", "3")
    assert text.returncode == 0, text.stderr
    assert "hottest regions" in text.stdout and f"{workload.hot[0]:x}" in text.stdout
    assert "remote accesses: " in text.stdout
