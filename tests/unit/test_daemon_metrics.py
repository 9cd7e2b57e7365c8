"""The daemon's Prometheus metrics (numamove.daemon.metrics) and the hot shares they export
(numamove.policy.measures), on hand-made plans, apply results and snapshots."""

from __future__ import annotations

import errno
import time

import prometheus_client
import pytest
from prometheus_client.parser import text_string_to_metric_families

from numamove.daemon.metrics import CONTENT_TYPE, CYCLE_BUCKETS, DaemonMetrics
from numamove.move.apply import FAILED, MOVED, NOT_RUN, PARTLY, SKIPPED, ApplyResult, MoveOutcome
from numamove.move.result import MoveResult
from numamove.policy.measures import fast_nodes, hot_shares, local_nodes
from numamove.policy.plan import Move, Plan, PlannedProcess
from numamove.policy.snapshot import NodeState, RegionState, Snapshot

PAGE = 4096
BASE = 0x7F0000000000


def move(kind: str, source: int, target: int, pages: int, at: int = 0) -> Move:
    start = BASE + at * PAGE
    return Move(42, start, start + pages * PAGE, source, target, pages, kind, "test")


def plan(*moves: Move) -> Plan:
    return Plan("tiering", (PlannedProcess(42, 1000, "app"),), moves, page_size=PAGE)


def applied() -> ApplyResult:
    """A promote that moved 100 pages (and failed 5 EBUSY, 3 ENOMEM), a demote that moved 50 to node 2
    and 10 to node 1 (the fallback), a skipped move, one not run, and one whose shared pages stayed."""
    promote = MoveResult(moved={(2, 0): 100}, statuses={0: 100, -errno.EBUSY: 5, -errno.ENOMEM: 3})
    demote = MoveResult(moved={(0, 2): 50, (0, 1): 10}, statuses={2: 50, 1: 10})
    shared = MoveResult(moved={(1, 0): 7}, statuses={0: 7, -errno.EACCES: 4}, skipped_shared=4)
    return ApplyResult("tiering", [
        MoveOutcome(move("promote", 2, 0, 108), PARTLY, 108, 100, "5 pages -EBUSY", promote),
        MoveOutcome(move("demote", 0, 2, 60, 200), MOVED, 60, 60, "", demote),
        MoveOutcome(move("balance", 0, 1, 20, 400), SKIPPED, why="node 1 is offline"),
        MoveOutcome(move("locality", 1, 0, 11, 500), MOVED, 11, 7, "", shared),
        MoveOutcome(move("demote", 0, 2, 9, 600), NOT_RUN, why="interrupted"),
    ])


def series(metrics: DaemonMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the exposition text, by name and labels: what a Prometheus would read."""
    found = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for sample in family.samples:
            found[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return found


def test_a_plan_sets_the_last_plan_size() -> None:
    metrics = DaemonMetrics(process=False)
    metrics.observe_plan("db", plan(move("promote", 2, 0, 100), move("demote", 0, 2, 28, 200)))
    assert metrics.value("numamove_plan_moves", selection="db") == 2
    assert metrics.value("numamove_plan_bytes", selection="db") == 128 * PAGE
    metrics.observe_plan("db", plan())  # the last plan, not a sum
    assert metrics.value("numamove_plan_moves", selection="db") == 0
    assert metrics.value("numamove_plan_bytes", selection="db") == 0


def test_an_apply_counts_bytes_and_pages_per_node_pair_and_direction_and_failures_per_errno() -> None:
    metrics = DaemonMetrics(process=False)
    metrics.observe_apply("db", applied(), PAGE)
    moved = {key: value for key, value in series(metrics).items() if key[0] == "numamove_moved_pages_total"}
    assert moved == {
        ("numamove_moved_pages_total", (("direction", "promote"), ("selection", "db"), ("source", "2"),
                                        ("target", "0"))): 100,
        ("numamove_moved_pages_total", (("direction", "demote"), ("selection", "db"), ("source", "0"),
                                        ("target", "2"))): 50,
        ("numamove_moved_pages_total", (("direction", "demote"), ("selection", "db"), ("source", "0"),
                                        ("target", "1"))): 10,
        ("numamove_moved_pages_total", (("direction", "locality"), ("selection", "db"), ("source", "1"),
                                        ("target", "0"))): 7,
    }
    labels = {"selection": "db", "source": "2", "target": "0", "direction": "promote"}
    assert metrics.value("numamove_moved_bytes_total", **labels) == 100 * PAGE
    assert metrics.value("numamove_failed_pages_total", selection="db", status="EBUSY") == 5
    assert metrics.value("numamove_failed_pages_total", selection="db", status="ENOMEM") == 3
    # Shared pages left in place are not failures (MoveResult.failed leaves them out).
    assert metrics.value("numamove_failed_pages_total", selection="db", status="EACCES") is None
    assert metrics.value("numamove_moves_skipped_total", selection="db") == 1
    # A second cycle adds up.
    metrics.observe_apply("db", applied(), PAGE)
    assert metrics.value("numamove_moved_bytes_total", **labels) == 200 * PAGE
    assert metrics.value("numamove_failed_pages_total", selection="db", status="EBUSY") == 10
    assert metrics.value("numamove_moves_skipped_total", selection="db") == 2


def test_a_move_without_a_result_counts_its_moved_pages_on_its_planned_pair() -> None:
    metrics = DaemonMetrics(process=False)
    result = ApplyResult("x", [MoveOutcome(move("balance", 0, 1, 4), MOVED, 4, 4),
                               MoveOutcome(move("balance", 1, 0, 4), FAILED, why="process exited")])
    metrics.observe_apply("s", result, 2 << 20)
    assert metrics.value("numamove_moved_bytes_total", selection="s", source="0", target="1",
                         direction="balance") == 4 * (2 << 20)
    assert metrics.value("numamove_moved_pages_total", selection="s", source="1", target="0",
                         direction="balance") is None
    assert metrics.value("numamove_moves_skipped_total", selection="s") == 0


def test_an_unknown_status_is_labelled_by_its_number() -> None:
    metrics = DaemonMetrics(process=False)
    odd = MoveResult(statuses={-999: 2})
    outcome = MoveOutcome(move("demote", 0, 2, 2), FAILED, 2, 0, "", odd)
    metrics.observe_apply("s", ApplyResult("x", [outcome]), PAGE)
    assert metrics.value("numamove_failed_pages_total", selection="s", status="-999") == 2


def test_a_cycle_feeds_the_duration_histogram_and_the_cpu_counters() -> None:
    metrics = DaemonMetrics(process=False)
    before = time.time()
    metrics.observe_cycle("db", 0.4, 0.05, 0.2)
    metrics.observe_cycle("db", 42.0, 0.1, 1.0)
    metrics.observe_cycle("db", 1000.0, -1.0, float("nan"))  # counters only go up: nonsense counts 0
    value = metrics.value
    assert value("numamove_cycles_total", selection="db") == 3
    assert value("numamove_cycle_duration_seconds_count", selection="db") == 3
    assert value("numamove_cycle_duration_seconds_sum", selection="db") == pytest.approx(1042.4)
    assert value("numamove_cycle_duration_seconds_bucket", selection="db", le="0.1") == 0
    assert value("numamove_cycle_duration_seconds_bucket", selection="db", le="0.5") == 1
    assert value("numamove_cycle_duration_seconds_bucket", selection="db", le="60.0") == 2
    assert value("numamove_cycle_duration_seconds_bucket", selection="db", le="300.0") == 2
    assert value("numamove_cycle_duration_seconds_bucket", selection="db", le="+Inf") == 3
    assert value("numamove_tracker_cpu_seconds_total", selection="db") == pytest.approx(0.15)
    assert value("numamove_mover_cpu_seconds_total", selection="db") == pytest.approx(1.2)
    stamp = value("numamove_last_cycle_timestamp_seconds", selection="db")
    assert stamp is not None and before <= stamp <= time.time()
    assert CYCLE_BUCKETS[0] == 0.1 and CYCLE_BUCKETS[-1] == 300


def test_hot_shares_are_gauges_from_0_to_1_and_absent_when_unknown() -> None:
    metrics = DaemonMetrics(process=False)
    metrics.set_hot_share("db", 0.75, 0.5)
    assert metrics.value("numamove_hot_local_ratio", selection="db") == 0.75
    assert metrics.value("numamove_hot_top_tier_ratio", selection="db") == 0.5
    metrics.set_hot_share("db", None, 1.5)
    assert metrics.value("numamove_hot_local_ratio", selection="db") is None
    assert "numamove_hot_local_ratio{" not in metrics.render().decode()
    assert metrics.value("numamove_hot_top_tier_ratio", selection="db") == 1.0
    metrics.set_hot_share("db", -0.1, float("nan"))
    assert metrics.value("numamove_hot_local_ratio", selection="db") == 0.0
    assert metrics.value("numamove_hot_top_tier_ratio", selection="db") is None
    metrics.set_hot_share("db", None, None)  # absent twice is fine
    metrics.set_hot_share("other", None, None)


def test_errors_and_processes() -> None:
    metrics = DaemonMetrics(process=False)
    metrics.observe_error("db", "tracker")
    metrics.observe_error("db", "tracker")
    metrics.observe_error("db", "process_gone")
    metrics.set_processes("db", 3)
    assert metrics.value("numamove_errors_total", selection="db", kind="tracker") == 2
    assert metrics.value("numamove_errors_total", selection="db", kind="process_gone") == 1
    assert metrics.value("numamove_processes", selection="db") == 3


def observe_everything(metrics: DaemonMetrics, selection: str) -> None:
    metrics.observe_plan(selection, plan(move("promote", 2, 0, 100)))
    metrics.observe_apply(selection, applied(), PAGE)
    metrics.observe_cycle(selection, 1.0, 0.1, 0.1)
    metrics.set_hot_share(selection, 0.5, 0.5)
    metrics.set_processes(selection, 1)
    metrics.observe_error(selection, "apply")


def test_forget_removes_every_series_of_a_selection_and_only_those() -> None:
    metrics = DaemonMetrics(process=False)
    observe_everything(metrics, "gone")
    observe_everything(metrics, "kept")
    kept = {key: value for key, value in series(metrics).items() if ("selection", "kept") in key[1]}
    assert metrics.selections() == ["gone", "kept"]
    metrics.forget("gone")
    metrics.forget("gone")  # twice, and a name never seen, are harmless
    metrics.forget("never")
    after = series(metrics)
    assert not [key for key in after if ("selection", "gone") in key[1]]
    assert {key: value for key, value in after.items() if ("selection", "kept") in key[1]} == kept
    assert metrics.selections() == ["kept"]
    metrics.observe_cycle("gone", 1.0, 0.0, 0.0)  # a selection that comes back starts from zero
    assert metrics.value("numamove_cycles_total", selection="gone") == 1


def test_names_follow_the_conventions_and_labels_are_bounded() -> None:
    metrics = DaemonMetrics()
    observe_everything(metrics, "db")
    families = list(text_string_to_metric_families(metrics.render().decode()))
    ours = [family for family in families if family.name.startswith("numamove_")]
    assert {family.name for family in families} - {family.name for family in ours} <= {
        "process_cpu_seconds", "process_virtual_memory_bytes", "process_resident_memory_bytes",
        "process_start_time_seconds", "process_open_fds", "process_max_fds"}
    allowed = {"selection", "source", "target", "direction", "status", "kind", "le"}
    for family in ours:
        if family.type == "counter":  # the parser names the family without _total
            assert all(s.name.endswith("_total") for s in family.samples), family.name
        assert not family.name.endswith(("_ms", "_kb", "_mb", "_milliseconds", "_kilobytes"))
        for sample in family.samples:
            assert set(sample.labels) <= allowed, sample
    assert {family.name for family in ours} >= {
        "numamove_plan_moves", "numamove_plan_bytes", "numamove_moved_bytes", "numamove_moved_pages",
        "numamove_failed_pages", "numamove_moves_skipped", "numamove_cycle_duration_seconds",
        "numamove_cycles", "numamove_tracker_cpu_seconds", "numamove_mover_cpu_seconds",
        "numamove_hot_local_ratio", "numamove_hot_top_tier_ratio", "numamove_errors"}
    assert {s.labels["direction"] for f in ours for s in f.samples if "direction" in s.labels} == {
        "promote", "demote", "locality"}
    assert CONTENT_TYPE.startswith("text/plain; version=0.0.4")
    # No *_created gauges doubling the series; the registry itself still has them.
    assert "_created" not in metrics.render().decode()
    assert metrics.value("numamove_cycles_created", selection="db") is not None


def test_each_instance_has_its_own_registry_never_the_global_one() -> None:
    first, second = DaemonMetrics(), DaemonMetrics()  # the same names twice: no "Duplicated timeseries"
    first.observe_cycle("db", 1.0, 0.0, 0.0)
    assert first.value("numamove_cycles_total", selection="db") == 1
    assert second.value("numamove_cycles_total", selection="db") is None
    assert b"numamove_" not in prometheus_client.generate_latest(prometheus_client.REGISTRY)


# --- hot shares -------------------------------------------------------------------------------------

NODES = (NodeState(0, True, True, 8 << 30, 4 << 30, tier=1),
         NodeState(1, True, True, 8 << 30, 4 << 30, tier=1),
         NodeState(2, False, True, 8 << 30, 8 << 30, tier=4))


def region(at: int, pages: dict[int, int], heat: float, accessing: dict[int, float] | None) -> RegionState:
    start = BASE + at * PAGE
    return RegionState(42, start, start + sum(pages.values()) * PAGE, pages, heat, accessing_nodes=accessing)


def snapshot(*regions: RegionState, nodes: tuple[NodeState, ...] = NODES) -> Snapshot:
    return Snapshot(nodes, (), regions, page_size=PAGE)


def test_hot_shares_weigh_heat_times_bytes() -> None:
    hot_local = region(0, {0: 100}, 4.0, {0: 1.0})  # weight 400, local and fast
    remote = region(100, {2: 50, 1: 50}, 2.0, {1: 0.7, 0: 0.3})  # weight 200: 100 local, 100 fast
    cold = region(300, {2: 1000}, 0.0, {0: 1.0})  # not hot: left out
    local, top = hot_shares(snapshot(hot_local, remote, cold))
    assert local == pytest.approx((400 + 2 * 50) / (400 + 200))
    assert top == pytest.approx((400 + 2 * 50) / (400 + 200))
    # A region no tracker knows the accessing nodes of counts for the tier share only.
    unknown = region(400, {2: 100}, 1.0, None)
    local, top = hot_shares(snapshot(hot_local, remote, unknown))
    assert local == pytest.approx(500 / 600)
    assert top == pytest.approx(500 / 700)


def test_hot_shares_min_heat_ties_and_unknowns() -> None:
    lukewarm = region(0, {2: 100}, 1.0, {0: 1.0})
    tied = region(100, {0: 10, 1: 10, 2: 20}, 5.0, {0: 0.5, 1: 0.5})
    assert local_nodes(tied) == {0, 1}
    assert hot_shares(snapshot(lukewarm, tied), min_heat=2.0) == pytest.approx((0.5, 0.5))
    assert hot_shares(snapshot(lukewarm, tied)) == pytest.approx((100 / 300, 100 / 300))
    assert hot_shares(snapshot(region(0, {2: 10}, 1.0, None))) == (None, 0.0)
    assert hot_shares(snapshot(region(0, {0: 10}, 0.0, {0: 1.0}))) == (None, None)
    assert hot_shares(snapshot(region(0, {}, 3.0, {0: 1.0}))) == (None, None)  # hot but not resident
    assert hot_shares(snapshot()) == (None, None)
    assert local_nodes(region(0, {0: 1}, 1.0, {})) == frozenset()


def test_the_fast_tier_is_the_lowest_tier_else_the_nodes_with_cpus() -> None:
    assert fast_nodes(NODES) == {0, 1}
    tiers = (NodeState(0, True, True, 1, 1, tier=2), NodeState(1, False, True, 1, 1, tier=1),
             NodeState(3, True, False, 0, 0))  # a node without memory is in no tier
    assert fast_nodes(tiers) == {1}
    untiered = (NodeState(0, True, True, 1, 1), NodeState(1, True, True, 1, 1, tier=1),
                NodeState(2, False, True, 1, 1))
    assert fast_nodes(untiered) == {0, 1}
    flat = (NodeState(0, True, True, 1, 1), NodeState(1, True, True, 1, 1))
    assert hot_shares(snapshot(region(0, {0: 5, 1: 5}, 1.0, {0: 1.0}), nodes=flat)) == (0.5, 1.0)


def test_a_snapshot_sets_the_hot_shares() -> None:
    metrics = DaemonMetrics(process=False)
    hot = region(0, {0: 30, 2: 10}, 2.0, {0: 1.0})
    warm = region(100, {2: 60}, 1.0, {1: 1.0})
    metrics.observe_snapshot("db", snapshot(hot, warm))
    assert metrics.value("numamove_hot_local_ratio", selection="db") == pytest.approx(60 / 140)
    assert metrics.value("numamove_hot_top_tier_ratio", selection="db") == pytest.approx(60 / 140)
    metrics.observe_snapshot("db", snapshot(hot, warm), min_heat=2.0)
    assert metrics.value("numamove_hot_local_ratio", selection="db") == pytest.approx(0.75)
    metrics.observe_snapshot("db", snapshot(region(0, {2: 10}, 1.0, None)))  # no accessing nodes known
    assert metrics.value("numamove_hot_local_ratio", selection="db") is None
    assert metrics.value("numamove_hot_top_tier_ratio", selection="db") == 0.0
