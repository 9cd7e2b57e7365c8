"""Access-log ingest: perf script mem samples and numamove's JSON Lines, with malformed lines."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from numamove.errors import InvalidInputError
from numamove.trackers.accesslog import access_regions, read_access_log

CPU_NODES = {0: 0, 1: 1}
P = 4096
BASE = 0x7F0000000000

# perf script's default output for perf mem samples (the layouts perf's own commit messages show).
PERF = [
    "# ========",
    "# captured on    : Wed Dec  2 01:00:00 2026",
    "# ========",
    "#",
    f"       memstress  3603 [001]   122.463754:          1            l1d-miss:       {BASE + 0x10:x} "
    "8688000842 |OP LOAD|LVL Remote RAM (1 hop) hit|SNP N/A|TLB Walker hit|LCK No|BLK  N/A   "
    "aaaac17c3e88 [unknown] (/bin/memstress)",
    f"  ls 14753/14760 [000]  3678.072400:          1      l1d-miss:         {BASE + P + 8:x} 88000182 "
    "|OP LOAD|LVL L1 miss|SNP N/A|TLB Walker hit|LCK No|BLK  N/A ffffa7c22b4b2a00 [unknown] "
    "([kernel.kallsyms])",
    f"chromium-browse   46572 [002] 544966.882384:      10000 \tcpu_core/MEM_UOPS_RETIRED.LOAD_LATENCY/: "
    f"{BASE:x}     10268100142 |OP LOAD|LVL Local RAM hit|SNP None|TLB L1 or L2 hit|LCK No|BLK    N/A    "
    "5   7    0   7fad7c47425d [unknown] (/usr/lib64/libglib-2.0.so.0.8000.3)",
    "this is not a sample",
    f" dd  4130 [003] 1215.489516:      20018 cpu/mem-loads,ldlat=30/P:     {'f' * 17} 5080144 "
    "|OP LOAD|LVL L1 hit",
]


def test_perf_script_samples_and_their_data_source() -> None:
    log = read_access_log(PERF, cpu_nodes=CPU_NODES, page_size=P)
    assert log.format == "perf-script" and len(log) == 3 and log.page_size == P
    assert log.address.tolist() == [BASE + 0x10, BASE + P + 8, BASE]
    assert log.node.tolist() == [1, 0, -1]  # CPU 2 is on no node we were told of
    assert log.remote.tolist() == [1, -1, 0]  # "Remote RAM", a cache miss, "Local RAM"
    assert log.pid.tolist() == [-1, 14753, -1]  # a lone number is the thread id
    assert log.time.tolist() == pytest.approx([122.463754, 3678.0724, 544966.882384])
    assert log.count.tolist() == [1, 1, 1]
    assert [(e.line, e.why.split(" '")[0]) for e in log.errors] == [
        (8, "not a perf script sample line"), (9, "the address is past 2^64")]
    assert log.errors[0].text == "this is not a sample" and "line 8" in str(log.errors[0])


def test_well_formed_perf_log_takes_the_fast_path() -> None:
    log = read_access_log(PERF[:7], cpu_nodes=CPU_NODES, page_size=P)
    assert len(log) == 3 and log.errors == () and log.remote.tolist() == [1, -1, 0]


JSONL = [
    json.dumps({"address": BASE + 5, "count": 3, "cpu": 1, "source": "remote", "time": 0.5, "pid": 7}),
    json.dumps({"address": hex(BASE + P), "node": 0, "cpu": 1}),  # node wins over cpu
    json.dumps({"address": BASE, "time": 1.5, "latency": 300}),  # other keys are ignored
    "",
    '{"address": 12, "count": 0}',
    '{"address": -4}',
    '{"count": 2}',
    '{"address": "12"}',
    '{"address": 5, "source": "far"}',
    '{"address": 5, "time": "soon"}',
    '{"address": 5, "cpu": true}',
    '{"address": 5, "pid": 0}',
    '{"address": 5',
    '[1, 2]',
]


def test_jsonl_fields_defaults_and_errors_with_line_numbers() -> None:
    log = read_access_log(JSONL, cpu_nodes=CPU_NODES, page_size=P)
    assert log.format == "jsonl" and len(log) == 3
    assert log.address.tolist() == [BASE + 5, BASE + P, BASE]
    assert log.count.tolist() == [3, 1, 1]
    assert log.node.tolist() == [1, 0, -1]
    assert log.remote.tolist() == [1, -1, -1]
    assert log.pid.tolist() == [7, -1, -1]
    assert log.time[0] == 0.5 and math.isnan(log.time[1]) and log.time[2] == 1.5
    why = {e.line: e.why for e in log.errors}
    assert sorted(why) == list(range(5, 15))  # the blank line 4 is skipped
    assert '"count" is out of range' in why[5] and '"address" is out of range' in why[6]
    assert why[7] == 'no "address"' and "hex string" in why[8] and '"source"' in why[9]
    assert '"time"' in why[10] and '"cpu" is not an integer' in why[11] and '"pid"' in why[12]
    assert why[13].startswith("not JSON") and why[14] == "not a JSON object"


def test_jsonl_fast_and_line_by_line_paths_agree() -> None:
    good = JSONL[:3]
    fast = read_access_log(good, cpu_nodes=CPU_NODES, page_size=P)
    slow = read_access_log([*good, "{}"], cpu_nodes=CPU_NODES, page_size=P)
    for name in ("address", "count", "node", "pid", "remote"):
        assert getattr(fast, name).tolist() == getattr(slow, name).tolist()
    assert len(slow.errors) == 1


def test_empty_log_and_bad_page_size() -> None:
    log = read_access_log(["", "# nothing"], cpu_nodes=CPU_NODES, page_size=P)
    assert log.format == "empty" and len(log) == 0 and access_regions(log, interval=1.0) == [[]]
    with pytest.raises(InvalidInputError, match="power of two"):
        read_access_log([], cpu_nodes=CPU_NODES, page_size=3000)


def sample(address: int, cpu: int, time: float, count: int = 1, pid: int = 9) -> str:
    return json.dumps({"address": address, "cpu": cpu, "time": time, "count": count, "pid": pid})


def test_regions_per_interval_merge_equal_adjacent_pages() -> None:
    lines = [
        # Interval 0: pages 0-1 hit twice each from node 1, page 2 twice from node 0: two regions.
        sample(BASE, 1, 0.0), sample(BASE + 8, 1, 0.1), sample(BASE + P, 1, 0.2, count=2),
        sample(BASE + 2 * P, 0, 0.3, count=2),
        # Interval 1: page 0 once from each node.
        sample(BASE + 16, 0, 1.2), sample(BASE + 32, 1, 1.4),
        # Interval 3 (2 is empty): another process.
        sample(BASE, 1, 3.0, pid=10),
    ]
    log = read_access_log(lines, cpu_nodes=CPU_NODES, page_size=P)
    found = access_regions(log, interval=1.0)
    assert len(found) == 4 and found[2] == []
    assert [(r.pid, r.start, r.end, r.heat, r.accessing_nodes) for r in found[0]] == [
        (9, BASE, BASE + 2 * P, 2.0, {1: 1.0}), (9, BASE + 2 * P, BASE + 3 * P, 2.0, {0: 1.0})]
    assert found[0][0].heat_unit == "samples per page per second"
    assert [(r.start, r.heat, r.accessing_nodes) for r in found[1]] == [(BASE, 2.0, {0: 0.5, 1: 0.5})]
    assert [(r.pid, r.start) for r in found[3]] == [(10, BASE)]


def test_regions_of_a_whole_log_and_without_times_or_nodes() -> None:
    timed = read_access_log([sample(BASE, 1, 0.0), sample(BASE, 0, 4.0)], cpu_nodes=CPU_NODES, page_size=P)
    (whole,) = access_regions(timed, interval=None)
    assert [(r.heat, r.accessing_nodes) for r in whole] == [(0.5, {0: 0.5, 1: 0.5})]  # 2 samples / 4 s
    bare = read_access_log([json.dumps({"address": BASE + P * k}) for k in (0, 1, 1, 3)],
                           cpu_nodes={}, page_size=P)
    (regions,) = access_regions(bare, interval=2.0)  # no times: one list
    assert [(r.pid, r.start, r.end, r.heat, r.accessing_nodes) for r in regions] == [
        (0, BASE, BASE + P, 1.0, None), (0, BASE + P, BASE + 2 * P, 2.0, None),
        (0, BASE + 3 * P, BASE + 4 * P, 1.0, None)]
    assert regions[0].heat_unit == "samples per page (whole log)"
    with pytest.raises(InvalidInputError, match="positive number of seconds"):
        access_regions(bare, interval=0.0)


def test_a_large_log_is_grouped_without_a_loop_per_sample() -> None:
    rng = np.random.default_rng(7)
    n = 200_000
    pages = rng.integers(0, 64, n)
    lines = [f'{{"address": {BASE + p * P + 8}, "cpu": {p % 2}, "time": {t:.4f}}}'
             for p, t in zip(pages.tolist(), np.sort(rng.random(n) * 1.99).tolist(), strict=True)]
    log = read_access_log(lines, cpu_nodes=CPU_NODES, page_size=P)
    assert len(log) == n and log.errors == ()
    found = access_regions(log, interval=1.0)
    assert len(found) == 2
    total = sum(r.heat * (r.size // P) for regions in found for r in regions)
    assert total == pytest.approx(n)  # every sample counted once (1 s intervals)
    for regions in found:
        assert all(r.accessing_nodes in ({0: 1.0}, {1: 1.0}) for r in regions)
