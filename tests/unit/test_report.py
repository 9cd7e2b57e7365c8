"""The report of a profile log (numamove.profile.report) and ``numamove report``, on generated logs.

Logs are lists of dicts in the format of README.md's "Profile logs", or
JSON Lines text written from them; nothing here reads a kernel.
"""

from __future__ import annotations

import itertools
import json
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from numamove.cli import main
from numamove.errors import InvalidInputError
from numamove.profile import gather as gather_module
from numamove.profile.report import BadLine, analyze

MIB = 1 << 20
PAGE = 4096
HOT = 0x7F0000000000
COLD = HOT + 16 * MIB
HEAP = 0x1000000


def header(trackers: tuple[str, ...] = ("softdirty", "threads"), **extra: Any) -> dict[str, Any]:
    found = {"type": "header", "format": "numamove-profile", "version": 1, "part": 0,
             "trackers": list(trackers), "heat_unit": "pages written per interval", "page_size": PAGE,
             "kernel": "6.12.0",
             "topology": {"nodes": []}, "interval": 1.0, "started": 1.7e9,
             "target": {"spec": "42", "processes": [{"pid": 42, "start": 1, "name": "hotset"}]}}
    found.update(extra)
    return found


def vmas(pid: int = 42, interval: int = 0) -> dict[str, Any]:
    return {"type": "vmas", "interval": interval, "pid": pid,
            "vmas": [[HEAP, HEAP + MIB, "[heap]"], [HOT, HOT + 16 * MIB, "[anon]"],
                     [COLD, COLD + 64 * MIB, "[anon]"]]}


def interval(index: int, pid: int = 42, resident: dict[str, int] | None = None) -> dict[str, Any]:
    return {"type": "interval", "index": index, "time": index + 1.0, "seconds": 1.0, "pid": pid,
            "resident": resident if resident is not None else {"0": 16384, "1": 4096}}


def region(index: int, start: int, end: int, heat: float, *, pid: int = 42, written: bool | None = True,
           accessing: dict[str, float] | None = None, nodes: dict[str, int] | None = None) -> dict[str, Any]:
    return {"type": "region", "interval": index, "pid": pid, "start": start, "end": end, "heat": heat,
            "written": written, "accessing_nodes": accessing, "nodes": nodes or {}}


def end(intervals: int) -> dict[str, Any]:
    return {"type": "end", "intervals": intervals, "reason": "duration", "time": float(intervals)}


def hot_set_log(intervals: int = 6, *, accessing: bool = True, split: bool = True) -> list[dict[str, Any]]:
    """The hot-set workload as a tracker would log it: 16 MiB written each interval (cut at a different
    place each time, as a tracker's regions split and merge), 64 MiB written in the first interval only."""
    records = [header(), vmas()]
    share = {"1": 0.9, "0": 0.1} if accessing else None
    for index in range(intervals):
        records.append(interval(index))
        records.append(region(index, HEAP, HEAP + PAGE, 0.5, accessing={"0": 1.0} if accessing else None,
                              nodes={"0": 1}))
        cut = HOT + (index % 15 + 1) * MIB if split else HOT + 16 * MIB
        records.append(region(index, HOT, cut, 1.0, accessing=share, nodes={"1": (cut - HOT) // PAGE}))
        if cut < HOT + 16 * MIB:
            records.append(region(index, cut, HOT + 16 * MIB, 1.0, accessing=share,
                                  nodes={"1": (HOT + 16 * MIB - cut) // PAGE}))
        if index == 0:
            records.append(region(index, COLD, COLD + 64 * MIB, 1.0,
                                  accessing={"0": 1.0} if accessing else None, nodes={"0": 16384}))
    records.append(end(intervals))
    return records


# --- analysis -----------------------------------------------------------------------------------------


def test_the_hot_region_ranks_first_as_one_region_though_its_pieces_split_differently_each_interval() -> None:
    found = analyze(hot_set_log()).to_dict()
    first = found["regions"][0]
    assert (first["start"], first["end"]) == (HOT, HOT + 16 * MIB)
    assert first["heat"] == 1.0 and first["heat_unit"] == "pages written per interval"
    assert first["written"] is True
    assert first["nodes"] == {"1": 4096}
    assert first["accessing_nodes"] == {"0": 0.1, "1": 0.9}
    assert first["vma"] == "[anon]" and first["intervals_seen"] == 6
    assert found["tracker"] == "softdirty,threads" and found["pid"] == 42 and found["intervals"] == 6
    assert found["name"] == "hotset" and found["truncated"] is False and found["warnings"] == []


def test_heat_is_the_mean_over_the_intervals_a_range_was_mapped_counting_omitted_regions_as_zero() -> None:
    found = analyze(hot_set_log()).to_dict()
    cold = next(r for r in found["regions"] if r["start"] == COLD)
    assert cold["end"] == COLD + 64 * MIB
    assert cold["heat"] == pytest.approx(1 / 6, abs=1e-6)  # written in 1 of the 6 intervals it was mapped
    ranked = [(r["start"], r["heat"]) for r in found["regions"]]
    assert ranked[:3] == [(HOT, 1.0), (HEAP, 0.5), (COLD, pytest.approx(1 / 6, abs=1e-6))]
    # The rest of the heap was never written: cold, heat 0, at the end of the ranking.
    assert ranked[3] == (HEAP + PAGE, 0.0)
    assert found["cold"] == {"bytes": MIB - PAGE, "resident_pages": 0}


def test_json_regions_are_half_open_integers_and_node_keys_are_strings() -> None:
    document = json.loads(json.dumps(analyze(hot_set_log()).to_dict()))
    for entry in document["regions"]:
        assert isinstance(entry["start"], int) and isinstance(entry["end"], int)
        assert entry["start"] < entry["end"]
        assert all(isinstance(key, str) for key in entry["nodes"])
        assert entry["written"] in (True, False, None)
    starts = sorted((r["start"], r["end"]) for r in document["regions"])
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(starts))  # no overlap


def test_working_set_and_resident_memory_over_time() -> None:
    records = hot_set_log(intervals=3)
    records[2]["resident"] = {"0": 100, "1": 4096}
    found = analyze(records).to_dict()
    assert [w["bytes"] for w in found["working_set"]] == [PAGE + 16 * MIB + 64 * MIB, PAGE + 16 * MIB,
                                                           PAGE + 16 * MIB]
    assert [w["time"] for w in found["working_set"]] == [1.0, 2.0, 3.0]
    assert found["working_set_bytes"] == {"min": PAGE + 16 * MIB, "median": PAGE + 16 * MIB,
                                          "max": PAGE + 80 * MIB}
    assert found["resident_by_node"][0] == {"interval": 0, "time": 1.0, "pages": {"0": 100, "1": 4096},
                                            "bytes": {"0": 100 * PAGE, "1": 4096 * PAGE}}
    assert len(found["resident_by_node"]) == 3


def test_remote_share_per_pair_weighs_heat_bytes_accessing_share_and_placement_share() -> None:
    records = [header(), vmas(), interval(0),
               # 2 pages, heat 2: half the accesses from each node, one page on each node.
               region(0, HOT, HOT + 2 * PAGE, 2.0, accessing={"0": 0.5, "1": 0.5}, nodes={"0": 1, "1": 1}),
               # 2 pages, heat 1, all from node 1, both pages on node 0: remote.
               region(0, COLD, COLD + 2 * PAGE, 1.0, accessing={"1": 1.0}, nodes={"0": 2}),
               end(1)]
    found = analyze(records).to_dict()
    pairs = {(p["accessing_node"], p["memory_node"]): p["share"] for p in found["remote"]["pairs"]}
    # weights: (0,0) 2*2*.5*.5=1, (0,1) 1, (1,0) 1 + 1*2*1*1=3, (1,1) 1; total 6.
    assert pairs == {("0", "0"): pytest.approx(1 / 6, abs=1e-6), ("0", "1"): pytest.approx(1 / 6, abs=1e-6),
                     ("1", "0"): pytest.approx(3 / 6, abs=1e-6), ("1", "1"): pytest.approx(1 / 6, abs=1e-6)}
    assert found["remote"]["share"] == pytest.approx(4 / 6, abs=1e-6)
    remote = {v["start"]: v["remote_share"] for v in found["remote"]["vmas"]}
    assert remote == {HOT: pytest.approx(0.5), COLD: pytest.approx(1.0)}
    pairs_kind = {p["remote"] for p in found["remote"]["pairs"] if p["accessing_node"] == p["memory_node"]}
    assert pairs_kind == {False}


def test_unknown_accessing_nodes_give_null_shares_and_say_so() -> None:
    found = analyze(hot_set_log(accessing=False)).to_dict()
    assert found["regions"][0]["accessing_nodes"] is None
    assert found["remote"]["share"] is None and found["remote"]["accessing_known"] is False
    assert found["remote"]["pairs"] == []
    assert all(v["remote_share"] is None for v in found["remote"]["vmas"])
    assert any("accessing nodes unknown" in warning for warning in found["warnings"])


def test_a_log_without_end_record_is_truncated() -> None:
    report = analyze(hot_set_log()[:-1])
    assert report.truncated and report.to_dict()["end"] is None
    assert report.warnings[0].startswith("truncated: no end record")
    assert report.to_dict()["regions"][0]["start"] == HOT


def test_bad_lines_and_records_that_make_no_sense_are_counted_and_the_rest_read() -> None:
    records = hot_set_log()
    records.insert(4, region(0, HOT + 5, HOT, 1.0))  # start above end
    records.insert(5, {"type": "region", "pid": 42, "interval": 0, "start": HOT, "end": HOT + PAGE,
                       "heat": -1.0, "written": None, "accessing_nodes": None, "nodes": {}})
    records.insert(6, {"type": "region", "pid": 42, "interval": 0, "start": HOT, "end": HOT + PAGE,
                       "heat": 1.0, "written": "yes", "accessing_nodes": None, "nodes": {"x": 1}})
    records.insert(7, {"type": "gossip"})
    given = [BadLine("p.jsonl", n, "not JSON") for n in (3, 9, 12, 15, 17, 20)]
    report = analyze(records, bad_lines=given)
    assert report.bad_lines == 9
    assert report.first_bad_lines == given[:5]
    document = report.to_dict()
    assert document["bad_lines"]["count"] == 9 and len(document["bad_lines"]["first"]) == 5
    assert document["regions"][0]["start"] == HOT and document["regions"][0]["heat"] == 1.0
    said = "9 lines skipped (6 unreadable, 3 records that make no sense); the rest was read"
    assert said in report.warnings
    assert "1 records of unknown type 'gossip' skipped" in report.warnings
    only_invalid = analyze(records)
    assert [line.line for line in only_invalid.first_bad_lines] == [5, 6, 7]
    assert "start 0x7f0000000005 is not below end" in only_invalid.first_bad_lines[0].why


def test_several_processes_are_reported_apart_and_the_top_level_is_the_first() -> None:
    records = hot_set_log(intervals=2)[:-1]
    records += [vmas(pid=7), interval(0, pid=7, resident={"2": 8}),
                region(0, HEAP, HEAP + 8 * PAGE, 3.0, pid=7, nodes={"2": 8}), end(2)]
    document = analyze(records).to_dict()
    assert document["pid"] == 42
    assert [p["pid"] for p in document["processes"]] == [42, 7]
    other = document["processes"][1]
    assert other["regions"][0] == {**other["regions"][0], "start": HEAP, "end": HEAP + 8 * PAGE, "heat": 3.0,
                                   "nodes": {"2": 8}}
    assert other["intervals"] == 1 and document["processes"][0]["intervals"] == 2


def test_a_region_whose_interval_is_past_int64_is_a_record_that_makes_no_sense() -> None:
    records = hot_set_log()
    records.insert(4, region(1 << 70, HOT, HOT + PAGE, 1.0))
    report = analyze(records)
    assert report.bad_lines == 1 and "interval is a whole number" in report.first_bad_lines[0].why
    assert report.to_dict()["regions"][0]["start"] == HOT


@pytest.mark.parametrize("odd", [float("nan"), 5, None, {"x": 1}])
def test_a_header_whose_trackers_or_processes_are_not_lists_still_gives_a_report(odd: Any) -> None:
    records = hot_set_log()
    records[0] = {**header(), "trackers": odd, "target": {"spec": "42", "processes": odd}}
    document = analyze(records).to_dict()
    assert document["regions"][0]["start"] == HOT and document["pid"] == 42


def test_a_region_with_a_finite_but_huge_heat_is_a_record_that_makes_no_sense() -> None:
    records = hot_set_log()
    records.insert(4, region(0, HOT, HOT + PAGE, 1e308))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's overflow warnings would reach the user's stderr
        report = analyze(records)
        document = report.to_dict()
    assert report.bad_lines == 1 and "heat is a number from 0 to" in report.first_bad_lines[0].why
    assert document["regions"][0]["heat"] == 1.0


def test_a_process_with_intervals_and_no_region_is_reported_with_none() -> None:
    """A process that a tracker saw nothing of (idle, or a pattern's second process) has intervals only."""
    records = [*hot_set_log(intervals=2)[:-1], interval(0, pid=7, resident={"0": 5}), end(2)]
    document = analyze(records).to_dict()
    idle = document["processes"][1]
    assert idle["pid"] == 7 and idle["intervals"] == 1 and idle["regions"] == []


@pytest.mark.parametrize(("records", "message"), [
    ([], "the log is empty"),
    ([interval(0)], "not a numamove profile: the first line is not a numamove-profile header"),
    ([{"type": "header", "format": "something-else"}], "not a numamove profile"),
    ([header(version=2)], "profile format version 2 is not supported (this numamove reads version 1)"),
])
def test_logs_that_are_not_profiles_are_refused(records: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        analyze(records)


def test_a_header_only_log_reports_no_process() -> None:
    report = analyze([header(), end(0)])
    assert report.processes == [] and report.to_dict()["pid"] is None
    assert "no interval was recorded" in report.warnings[-1]


def test_rotated_parts_are_read_in_order_and_a_missing_first_part_is_said() -> None:
    records = hot_set_log()
    records.insert(8, header(part=1))
    assert analyze(records).parts == [0, 1] and analyze(records).to_dict()["regions"][0]["start"] == HOT
    later = [header(part=3), *hot_set_log()[1:]]
    assert "the log starts at part 3: older parts were rotated away" in analyze(later).warnings


def test_folding_in_small_batches_gives_the_same_report(monkeypatch: pytest.MonkeyPatch) -> None:
    whole = analyze(hot_set_log(intervals=20)).to_dict()
    monkeypatch.setattr(gather_module, "FOLD_RECORDS", 3)
    assert analyze(hot_set_log(intervals=20)).to_dict() == whole


def test_the_timeline_keeps_each_intervals_regions_in_address_order() -> None:
    process = analyze(hot_set_log(intervals=3), keep_timeline=True).processes[0]
    assert process.timeline is not None and [t.index for t in process.timeline] == [0, 1, 2]
    first = process.timeline[0]
    assert (first.begin, first.end) == (0.0, 1.0)
    assert list(first.starts) == [HEAP, HOT, HOT + MIB, COLD] and list(first.heat) == [0.5, 1.0, 1.0, 1.0]
    assert analyze(hot_set_log(intervals=3)).processes[0].timeline is None


def many_regions(intervals: int, per_interval: int) -> Iterator[dict[str, Any]]:
    """A DAMON-like log: regions of one 4 GiB mapping, cut at new places every interval."""
    yield header(trackers=("damon",))
    yield {"type": "vmas", "interval": 0, "pid": 42, "vmas": [[HOT, HOT + (4 << 30), "[anon]"]]}
    generator = np.random.default_rng(7)
    for index in range(intervals):
        yield interval(index)
        cuts = np.sort(generator.choice(np.arange(1, 1 << 20), per_interval - 1, replace=False)) * PAGE + HOT
        bounds = [HOT, *cuts.tolist(), HOT + (4 << 30)]
        heats = generator.random(per_interval).tolist()
        for low, high, heat in zip(bounds, bounds[1:], heats, strict=False):
            yield region(index, low, high, heat, written=None, nodes={"0": (high - low) // PAGE})
    yield end(intervals)


def test_a_large_log_is_analysed_in_bounded_time() -> None:
    started = time.perf_counter()
    report = analyze(many_regions(intervals=20, per_interval=10_000))
    seconds = time.perf_counter() - started
    process = report.processes[0]
    assert int((process.ends - process.starts).sum()) == 4 << 30  # the union covers the mapping once
    assert np.all(np.diff(process.heat) <= 0)  # ranked hottest first
    assert seconds < 20, f"200,000 region records took {seconds:.1f} s"


# --- the command ----------------------------------------------------------------------------------------


def write_log(path: Path, records: list[dict[str, Any]], extra_lines: dict[int, str] | None = None) -> Path:
    lines = [json.dumps(record) for record in records]
    for number, text in sorted((extra_lines or {}).items()):
        lines.insert(number - 1, text)
    path.write_text("\n".join(lines) + "\n")
    return path


def run(*arguments: str) -> Any:
    return CliRunner().invoke(main, ["report", *arguments])


def test_report_json_on_a_log_file(tmp_path: Path) -> None:
    log = write_log(tmp_path / "p.jsonl", hot_set_log())
    result = run(str(log), "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["regions"][0]["start"] == HOT and document["tracker"] == "softdirty,threads"
    assert result.stderr == ""


def test_report_text_lists_hot_and_cold_memory_working_set_residency_remote_shares(tmp_path: Path) -> None:
    log = write_log(tmp_path / "p.jsonl", hot_set_log())
    result = run(str(log), "--top", "2")
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "pid 42 (hotset): softdirty,threads profile, 6 intervals over 6.0 s (ended: duration)" in text
    assert "hottest regions (2 of 3 with heat > 0; --top N shows more)" in text
    lines = text.splitlines()
    first = next(line for line in lines if line.strip().startswith("1 "))
    assert f"{HOT:x}" in first and "16.0 MiB" in first and "n1:16.0 MiB" in first and "n1:90% n0:10%" in first
    assert not any(line.strip().startswith("3 ") for line in lines)
    assert "cold (heat 0 in every interval seen): 1020.0 KiB mapped" in text
    assert ("working set (bytes with heat > 0) over 6 intervals: min 16.0 MiB, median 16.0 MiB, "
            "max 80.0 MiB") in text
    assert "resident memory per node, interval 0 and 5" in text
    assert "remote accesses: " in text and "accessing node  memory node  share" in text
    assert "\x1b[" not in text  # plain when piped


def test_corrupt_lines_are_named_with_their_line_numbers_and_the_rest_is_read(tmp_path: Path) -> None:
    log = write_log(tmp_path / "p.jsonl", hot_set_log(), {4: '{"type": "region", "sta', 7: "[1, 2]"})
    result = run(str(log), "--json")
    assert result.exit_code == 0, result.output
    assert f"{log}:4: not JSON" in result.stderr and f"{log}:7: not a JSON object" in result.stderr
    document = json.loads(result.stdout)
    assert document["bad_lines"]["count"] == 2 and document["bad_lines"]["first"][0]["line"] == 4
    assert document["regions"][0]["start"] == HOT


def test_a_truncated_log_is_reported_as_such(tmp_path: Path) -> None:
    records = hot_set_log()[:-1]
    log = write_log(tmp_path / "p.jsonl", records, {len(records) + 1: '{"type": "region", "pid": 42, "int'})
    result = run(str(log))
    assert result.exit_code == 0, result.output
    assert "(truncated: no end record)" in result.stdout
    assert "numamove: warning: truncated: no end record" in result.stderr


def not_a_log(folder: Path, kind: str) -> Path:
    path = folder / kind
    if kind == "empty":
        path.write_text("")
    elif kind == "text":
        path.write_text("hello\n")
    elif kind == "binary":
        path.write_bytes(b"\x00\xff\xfe" * 100)
    elif kind == "version":
        write_log(path, [header(version=7), end(0)])
    elif kind == "folder":
        path.mkdir()
    return path


@pytest.mark.parametrize(("kind", "message"), [
    ("missing", "missing: no such file"),
    ("folder", "folder: is a directory, not a profile log"),
    ("empty", "empty: empty file, not a profile log"),
    ("text", "text: not a numamove profile: its first line is not a numamove-profile header"),
    ("binary", "binary: not a numamove profile"),
    ("version", "version: profile format version 7 is not supported (this numamove reads version 1)"),
])
def test_files_that_are_not_profile_logs_get_one_line_and_exit_1(tmp_path: Path, kind: str,
                                                                   message: str) -> None:
    result = run(str(not_a_log(tmp_path, kind)))
    assert result.exit_code == 1, result.output
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("numamove: error: ")
    assert message in result.stderr and "Traceback" not in result.output


@pytest.mark.parametrize("arguments", [["--top", "0"], ["--pid", "x"], []])
def test_usage_errors_exit_2(tmp_path: Path, arguments: list[str]) -> None:
    log = write_log(tmp_path / "p.jsonl", hot_set_log())
    result = run(*([str(log)] if arguments else []), *arguments)
    assert result.exit_code == 2, result.output


def test_rotated_parts_are_read_oldest_first(tmp_path: Path) -> None:
    records = hot_set_log()
    write_log(tmp_path / "p.jsonl.1", records[:8])
    write_log(tmp_path / "p.jsonl", [header(part=1), *records[8:]])
    result = run(str(tmp_path / "p.jsonl"), "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["parts"] == [0, 1] and document["intervals"] == 6
    assert document["regions"][0]["start"] == HOT and document["regions"][0]["heat"] == 1.0
    assert f"read 2 parts, oldest first: {tmp_path / 'p.jsonl.1'}, {tmp_path / 'p.jsonl'}" in result.stderr


def test_a_heatmap_with_a_bad_suffix_is_refused_before_reading(tmp_path: Path) -> None:
    log = write_log(tmp_path / "p.jsonl", hot_set_log())
    result = run(str(log), "--heatmap", str(tmp_path / "out.svg"))
    assert result.exit_code == 1 and "cannot write .svg" in result.stderr and result.stdout == ""


def test_a_log_with_mappings_but_no_region_reports_all_of_it_cold(tmp_path: Path) -> None:
    records = [header(), vmas(), interval(0), interval(1), end(2)]
    report = analyze(records)
    process = report.processes[0]
    assert process.regions(0) == [] and len(process.regions()) == 3
    assert process.cold() == (81 * MIB, 0)
    assert report.to_dict()["working_set_bytes"] == {"min": 0, "median": 0.0, "max": 0}
    result = run(str(write_log(tmp_path / "p.jsonl", records)), "--heatmap", str(tmp_path / "h.png"))
    assert result.exit_code == 0, result.output
    assert "no region was accessed in any interval" in result.stdout
    assert "hottest regions" not in result.stdout
    assert "cold (heat 0 in every interval seen): 81.0 MiB mapped" in result.stdout


def test_json_in_pieces_is_the_same_document_as_to_dict() -> None:
    records = [*hot_set_log(intervals=3)[:-1], vmas(pid=7), interval(0, pid=7),
               region(0, HEAP, HEAP + 8 * PAGE, 3.0, pid=7), end(3)]
    report = analyze(records)
    text = "".join(report.json_chunks(batch=2))
    assert json.loads(text) == json.loads(json.dumps(report.to_dict()))
    assert text.count('\n  {"start": ') == 2 * 5 + 2  # a region a line; the first process's twice
    empty = analyze([header(), vmas(), interval(0), end(1)])
    assert json.loads("".join(empty.json_chunks())) == json.loads(json.dumps(empty.to_dict()))


def test_region_json_text_is_json_dumps_of_each_region() -> None:
    records = hot_set_log(intervals=4)
    records.insert(3, region(0, HOT - 8 * PAGE, HOT, 0.123456789, written=False,
                             accessing={"0": 0.333333333, "2": 0.666666667}, nodes={"0": 3, "2": 5}))
    for accessing in (True, False):
        process = analyze(records if accessing else hot_set_log(accessing=False)).processes[0]
        expected = [json.dumps(r.to_dict("u \"quoted\"")) for r in process.regions()]
        assert process.region_json('u "quoted"', 0, len(process.starts)) == expected


def test_a_heatmap_of_a_log_without_intervals_is_one_line(tmp_path: Path) -> None:
    log = write_log(tmp_path / "p.jsonl", [header(), end(0)])
    result = run(str(log), "--heatmap", str(tmp_path / "h.png"))
    assert result.exit_code == 1 and not (tmp_path / "h.png").exists()
    said = "numamove: error: --heatmap: nothing to draw: the log recorded no interval"
    assert result.stderr.splitlines()[-1] == said


def test_the_segment_table_splits_at_new_boundaries_and_keeps_per_byte_sums() -> None:
    from numamove.profile.segments import SegmentTable

    table = SegmentTable()
    table.add(np.array([0, 100]), np.array([100, 200]), {"heat": np.array([1.0, 2.0]),
                                                          "pages": np.array([[0.5, 0.0], [0.0, 1.0]])})
    # A later batch: one record over both, overlapping ones at a new boundary (150).
    table.add(np.array([50, 0, 150]), np.array([150, 150, 200]), {"heat": np.array([10.0, 100.0, 1000.0])})
    assert table.bounds.tolist() == [0, 50, 100, 150, 200]
    assert table.get("heat").tolist() == [101.0, 111.0, 112.0, 1002.0]
    assert table.get("pages", 3).tolist() == [[0.5, 0, 0], [0.5, 0, 0], [0, 1, 0], [0, 1, 0]]
    assert table.get("missing").tolist() == [0.0] * 4 and table.size == 4
