"""The profile log: records to JSON and back, merging, the size cap and rotation, the reader's bad lines."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from numamove.errors import InvalidInputError
from numamove.profile.log import (
    BadLine,
    EndRecord,
    Header,
    IntervalRecord,
    ProfileLogError,
    ProfileWriter,
    RegionRecord,
    VmasRecord,
    from_json,
    log_parts,
    merge_regions,
    read_log,
    to_json,
)

HEADER = Header(trackers=["damon", "threads"], heat_unit="accesses per aggregation interval",
                tracker_info={"damon": {"sees": "a", "cannot_see": "b", "cost": "c"}},
                kernel="6.12.0", page_size=4096,
                topology={"nodes": [{"id": 0, "cpus": [0], "memory_only": False, "tier": 4}]},
                target={"spec": "1234", "processes": [{"pid": 1234, "start": 99, "name": "redis"}]},
                interval=1.0, started=1700000000.5)


def region(start: int, end: int, heat: float = 1.0, nodes: dict[int, int] | None = None, *,
           interval: int = 0, written: bool | None = None,
           accessing: dict[int, float] | None = None, age: float | None = None) -> RegionRecord:
    return RegionRecord(interval, 1234, start, end, heat, written, accessing, nodes or {}, age)


def test_records_are_the_format_s_lines() -> None:
    line = json.loads(to_json(HEADER))
    assert line == {"type": "header", "format": "numamove-profile", "version": 1, "part": 0,
                    "trackers": ["damon", "threads"], "heat_unit": "accesses per aggregation interval",
                    "tracker_info": {"damon": {"sees": "a", "cannot_see": "b", "cost": "c"}},
                    "kernel": "6.12.0", "page_size": 4096,
                    "topology": {"nodes": [{"id": 0, "cpus": [0], "memory_only": False, "tier": 4}]},
                    "target": {"spec": "1234", "processes": [{"pid": 1234, "start": 99, "name": "redis"}]},
                    "interval": 1.0, "started": 1700000000.5}
    assert json.loads(to_json(VmasRecord(0, 1234, [(4096, 8192, "[heap]")]))) == {
        "type": "vmas", "interval": 0, "pid": 1234, "vmas": [[4096, 8192, "[heap]"]]}
    assert json.loads(to_json(IntervalRecord(3, 3.01, 1.002, 1234, {1: 10, 0: 5}))) == {
        "type": "interval", "index": 3, "time": 3.01, "seconds": 1.002, "pid": 1234,
        "resident": {"0": 5, "1": 10}}
    assert json.loads(to_json(region(4096, 8192, 3.5, {2: 1}, interval=3, written=True,
                                     accessing={1: 0.9, 0: 0.1}))) == {
        "type": "region", "interval": 3, "pid": 1234, "start": 4096, "end": 8192, "heat": 3.5,
        "written": True, "accessing_nodes": {"0": 0.1, "1": 0.9}, "nodes": {"2": 1}}
    assert json.loads(to_json(region(0, 1)))["accessing_nodes"] is None
    assert "age" not in json.loads(to_json(region(0, 1)))  # only a tracker that knows it writes it
    assert json.loads(to_json(region(0, 1, age=2.5)))["age"] == 2.5
    assert json.loads(to_json(EndRecord(4, "target exited", 4.5))) == {
        "type": "end", "intervals": 4, "reason": "target exited", "time": 4.5}


@pytest.mark.parametrize("record", [
    HEADER, VmasRecord(2, 5, [(0, 4096, "[anon]")]), IntervalRecord(0, 0.5, 0.5, 5, {0: 1}),
    region(0, 4096, 0.0, {1: 2}, written=False, accessing={1: 1.0}), region(0, 4096, 1.0, age=30.0),
    EndRecord(0, "duration", 0.0)])
def test_each_record_reads_back_as_itself(record: object) -> None:
    assert from_json(to_json(record)) == record  # type: ignore[arg-type]


@pytest.mark.parametrize(("line", "why"), [
    ("{not json", "not JSON"),
    ("[1, 2]", "not a JSON object"),
    ('{"type": "sample"}', "unknown record type 'sample'"),
    ('{"type": "end", "intervals": 1, "reason": "duration"}', "no 'time'"),
    ('{"type": "end", "intervals": "1", "reason": "duration", "time": 1}', "'intervals' is str"),
    ('{"type": "end", "intervals": true, "reason": "duration", "time": 1}', "not a number"),
    ('{"type": "interval", "index": 0, "time": NaN, "seconds": 1, "pid": 1, "resident": {}}', "nan"),
    ('{"type": "interval", "index": 0, "time": 0, "seconds": 1, "pid": 1, "resident": {"x": 1}}',
     "maps node ids to counts"),
    ('{"type": "region", "interval": 0, "pid": 1, "start": 9, "end": 3, "heat": 1, "written": null, '
     '"accessing_nodes": null, "nodes": {}}', "start < end"),
    ('{"type": "region", "interval": 0, "pid": 1, "start": 1, "end": 3, "heat": 1, "written": null, '
     '"accessing_nodes": null, "nodes": {}, "age": -1}', "age is finite seconds, not negative"),
    ('{"type": "region", "interval": 0, "pid": 1, "start": 1, "end": 3, "heat": 1, "written": null, '
     '"accessing_nodes": null, "nodes": {}, "age": "old"}', "'age' is str"),
    ('{"type": "header", "format": "other"}', "format 'other'"),
    ('{"type": "vmas", "interval": 0, "pid": 1, "vmas": [[1, 2]]}', "a vma is [start, end, name]"),
])
def test_a_line_that_is_not_a_record_says_why(line: str, why: str) -> None:
    with pytest.raises(ProfileLogError, match=why.replace("[", r"\[").replace("(", r"\(")):
        from_json(line)


def test_adjacent_equal_regions_merge_and_their_pages_add_up() -> None:
    merged = merge_regions([region(0, 10, 2.0, {0: 1}), region(10, 20, 2.0, {0: 2, 1: 1}),
                            region(20, 30, 3.0, {1: 1}),  # other heat
                            region(31, 40, 3.0),  # not adjacent
                            region(40, 50, 3.0, written=True),  # other written
                            region(50, 60, 3.0, written=True, accessing={1: 1.0}),  # other accessing
                            region(60, 70, 3.0, written=True, accessing={1: 1.0}, age=5.0)])  # other age
    assert [(r.start, r.end, r.nodes) for r in merged] == [
        (0, 20, {0: 3, 1: 1}), (20, 30, {1: 1}), (31, 40, {}), (40, 50, {}), (50, 60, {}), (60, 70, {})]


def write_intervals(writer: ProfileWriter, count: int, regions: int = 4) -> None:
    for index in range(count):
        vmas = VmasRecord(index, 1234, [(0, 1 << 20, "[anon]")]) if index == 0 else None
        writer.interval(IntervalRecord(index, float(index), 1.0, 1234, {0: 100}),
                        [region(i * 4096, (i + 1) * 4096, float(i % 2), {0: 1}, interval=index)
                         for i in range(regions)], vmas)


def test_a_whole_run_reads_back_in_order_with_its_end(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    writer = ProfileWriter(path, HEADER)
    write_intervals(writer, 3)
    writer.end("duration", 3, 3.0)
    log = read_log(path)
    assert log.parts == [str(path)] and not log.bad and log.ended
    assert [type(r).__name__ for r in log.records] == (
        ["Header", "VmasRecord"] + ["IntervalRecord", *["RegionRecord"] * 4] * 3 + ["EndRecord"])
    assert writer.regions == 12 and writer.intervals == 3 and writer.total == path.stat().st_size


def test_the_size_cap_rotates_parts_keeps_n_and_the_reader_reads_them_oldest_first(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    writer = ProfileWriter(path, HEADER, max_size=2000, keep=2)
    write_intervals(writer, 12)
    writer.end("interrupted", 12, 12.0)
    assert writer.parts > 3  # rotated more often than parts are kept
    assert log_parts(path) == [f"{path}.2", f"{path}.1", str(path)]
    for part in log_parts(path):
        assert os.path.getsize(part) <= 2000
        lines = Path(part).read_text().splitlines()
        first, second = json.loads(lines[0]), json.loads(lines[1])
        assert first["type"] == "header" and second["type"] == "vmas"  # each part reads on its own
    parts = [json.loads(Path(part).read_text().splitlines()[0])["part"] for part in log_parts(path)]
    assert parts == [writer.parts - 3, writer.parts - 2, writer.parts - 1]
    log = read_log(path)
    indexes = [r.index for r in log.records if isinstance(r, IntervalRecord)]
    assert indexes == sorted(indexes) and indexes[-1] == 11 and indexes[0] > 0  # the oldest were dropped
    assert not log.bad and log.ended


def test_keep_zero_keeps_only_the_newest_part(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    writer = ProfileWriter(path, HEADER, max_size=1500, keep=0)
    write_intervals(writer, 10)
    writer.close()
    assert log_parts(path) == [str(path)] and writer.parts > 1
    assert not read_log(path).ended  # no end record: a reader says truncated


def test_an_interval_larger_than_the_cap_is_written_whole(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    writer = ProfileWriter(path, HEADER, max_size=100)
    write_intervals(writer, 2, regions=50)
    writer.close()
    log = read_log(path)
    assert sum(isinstance(r, RegionRecord) for r in log.records) == 100 and len(log.parts) == 2


def test_old_parts_of_an_earlier_log_are_removed_and_other_files_kept(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    writer = ProfileWriter(path, HEADER, max_size=1500)
    write_intervals(writer, 10)
    writer.close()
    assert len(log_parts(path)) > 2
    ProfileWriter(path, HEADER).close()
    assert log_parts(path) == [str(path)]
    (tmp_path / "other.jsonl.1").write_text("not ours\n")
    ProfileWriter(tmp_path / "other.jsonl", HEADER).close()
    assert (tmp_path / "other.jsonl.1").read_text() == "not ours\n"


def test_bad_lines_are_data_with_their_line_numbers_and_the_rest_is_read(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    writer = ProfileWriter(path, HEADER)
    write_intervals(writer, 2, regions=1)
    writer.close()
    lines = path.read_text().splitlines()
    lines.insert(3, "garbage")
    lines[5] = lines[5][:20]
    path.write_text("\n".join(lines) + "\n" + '{"type": "end", "intervals": 2, "rea')
    log = read_log(path)
    assert [(bad.line, bad.why.split(":")[0]) for bad in log.bad] == [(4, "not JSON"), (6, "not JSON"),
                                                                     (8, "not JSON")]
    assert log.bad[2].why.endswith("(the last line, cut short)") and log.bad[0].text == "garbage"
    assert all(bad.file == str(path) for bad in log.bad)
    assert len(log.records) == 5 and not log.ended


def test_a_part_without_a_header_is_named(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    path.write_text(to_json(EndRecord(0, "duration", 0.0)) + "\n")
    assert read_log(path).bad == [BadLine(str(path), 1, "the part does not begin with a header",
                                          to_json(EndRecord(0, "duration", 0.0))[:80])]


def test_an_unwritable_or_missing_path_is_one_error(tmp_path: Path) -> None:
    with pytest.raises(ProfileLogError, match=r"cannot write the profile log .*/nodir/x.jsonl: No such file"):
        ProfileWriter(tmp_path / "nodir" / "x.jsonl", HEADER)
    with pytest.raises(ProfileLogError, match="no profile log at"):
        read_log(tmp_path / "absent.jsonl")
    with pytest.raises(InvalidInputError):
        ProfileWriter(tmp_path / "x.jsonl", HEADER, max_size=0)


def test_a_closed_writer_refuses_more_and_ends_once(tmp_path: Path) -> None:
    writer = ProfileWriter(tmp_path / "x.jsonl", HEADER)
    with pytest.raises(InvalidInputError):
        writer.end("crashed", 0, 0.0)
    writer.end("duration", 0, 0.0)
    writer.end("interrupted", 0, 0.0)
    with pytest.raises(ProfileLogError, match="is closed"):
        write_intervals(writer, 1)
    assert (tmp_path / "x.jsonl").read_text().count('"type":"end"') == 1
