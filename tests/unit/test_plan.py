"""Plans as JSON (round trip, refusals in one line) and the policy registry."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

import pytest

import numamove.policy  # noqa: F401  (registers the policies)
from numamove.errors import InvalidInputError
from numamove.policy.base import REGISTRY, PolicyRegistry, read_settings
from numamove.policy.plan import VERSION, Move, Plan, PlannedProcess
from numamove.policy.rules import finish
from numamove.policy.snapshot import Snapshot

from .policy_snapshots import MiB, P, region, snapshot

HOT = 16 * MiB // P


def made_plans() -> list[Plan]:
    snap = snapshot(region(0, {2: HOT}, 50, {1: 1.0}), region(HOT, {0: HOT}, 0.0),
                    region(2 * HOT, {0: 64, 1: 64}, 3.0, {0: 0.5, 1: 0.5}))
    plans = [REGISTRY.build(name).plan(snap) for name in REGISTRY.names()]
    plans.append(REGISTRY.build("locality", {"budget": "8M", "dominant": "90%"}).plan(snap))
    plans.append(REGISTRY.build("locality").plan(snapshot()))
    return plans


def test_plans_read_back_equal_including_empty_ones_and_notes() -> None:
    plans = made_plans()
    assert any(p.moves for p in plans) and any(not p.moves and p.notes for p in plans)
    for plan in plans:
        assert Plan.from_json(plan.to_json()) == plan
        assert Plan.from_json(plan.to_json().encode()) == plan


def test_the_json_has_the_fields_the_issue_names() -> None:
    plan = REGISTRY.build("tiering").plan(snapshot(region(0, {2: HOT}, 50, {1: 1.0})))
    data = json.loads(plan.to_json())
    assert data["version"] == VERSION and data["policy"] == "tiering"
    assert data["processes"] == [{"pid": 4242, "start": 5242, "name": "worker"}]
    assert data["moves"] == [{"pid": 4242, "start": 0x7F0000000000, "end": 0x7F0000000000 + 16 * MiB,
                              "from": 2, "to": 1, "pages": HOT, "kind": "promote",
                              "reason": "hot: 50 accesses/s, in the hottest 16 MiB that fit the fast tier",
                              "gain": 16.0 * MiB}]
    assert data["summary"]["promote_bytes"] == 16 * MiB


def good() -> dict[str, Any]:
    plan = Plan("locality", (PlannedProcess(7, 100, "db"),),
                (Move(7, 4096, 8192, 0, 1, 1, "locality", "hot", 1.0),), ("a note",), {"dominant": "0.7"})
    data: dict[str, Any] = json.loads(plan.to_json())
    return data


def changed(path: tuple[Any, ...], value: Any) -> str:
    data = good()
    where: Any = data
    for key in path[:-1]:
        where = where[key]
    if value is KeyError:
        del where[path[-1]]
    else:
        where[path[-1]] = value
    return json.dumps(data)


@pytest.mark.parametrize(("text", "message"), [
    ("{not json", "the plan is not JSON"),
    ("[]", "the plan is not a numamove plan"),
    (changed(("format",), "other"), "the plan is not a numamove plan"),
    (changed(("version",), VERSION + 1), f"the plan is plan version {VERSION + 1}, newer than"),
    (changed(("policy",), KeyError), "the plan: \"policy\" must be a string"),
    (changed(("processes",), KeyError), "the plan: \"processes\" must be a list"),
    (changed(("processes", 0, "pid"), "7"), "the plan: \"pid\" must be a whole number from 1"),
    (changed(("moves", 0, "end"), 4096), "the plan: move 1: [start, end) is not a range of addresses"),
    (changed(("moves", 0, "end"), 1024), "the plan: move 1: [start, end) is not a range of addresses"),
    (changed(("moves", 0, "pid"), 8), "the plan: move 1: pid 8 is not in \"processes\""),
    (changed(("moves", 0, "to"), -1), "the plan: move 1: \"to\" must be a whole number from 0"),
    (changed(("moves", 0, "pages"), 1.5), "the plan: move 1: \"pages\" must be a whole number from 0"),
    (changed(("moves", 0, "kind"), "teleport"), "the plan: move 1: kind 'teleport' is not one of"),
    (changed(("moves", 0, "reason"), KeyError), "the plan: move 1: \"reason\" must be a string"),
    (changed(("moves", 0, "gain"), "NaN"), "the plan: move 1: \"gain\" must be a finite number"),
    (changed(("notes",), [1]), "the plan: \"notes\" is a list of strings"),
    (changed(("options",), {"budget": 5}), "the plan: \"options\" maps names to strings"),
])
def test_bad_plans_are_refused_in_one_line(text: str, message: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        Plan.from_json(text)
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)


def test_the_good_plan_reads() -> None:
    assert Plan.from_json(json.dumps(good())).moves[0].reason == "hot"


# --- the registry ---------------------------------------------------------------------------------------


def test_an_unknown_policy_lists_the_known_ones() -> None:
    with pytest.raises(InvalidInputError, match="no policy is called 'nearest'; the policies: balance, "
                                                "locality, log, tiering"):
        REGISTRY.build("nearest")


@pytest.mark.parametrize(("name", "options", "message"), [
    ("locality", {"weights": "0:1"}, "the locality policy has no option 'weights'; its options: budget, "
                                     "dominant, headroom, hold, min_heat"),
    ("tiering", {"budget": "1"}, "tiering option budget"),
    ("balance", {"hold": "x"}, "balance option hold must be a whole number from 0 to 1000, not 'x'"),
    ("log", {"mostly": "1.5"}, "log option mostly must be a number from 0 to 1"),
    ("log", {"headroom": "96%"}, "log option headroom must be a number from 0 to 95"),
])
def test_bad_options_are_named(name: str, options: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        REGISTRY.build(name, options)
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)


def test_every_policy_describes_itself_and_its_options() -> None:
    for name in REGISTRY.names():
        policy = REGISTRY.build(name)
        assert policy.name == name and policy.description
        assert all(isinstance(text, str) and text for text in policy.options.values())


class EverythingToNodeZero:
    """A user's own policy: every resident page to node 0, through the shared rules."""

    name: ClassVar[str] = "node-zero"
    description: ClassVar[str] = "every page to node 0"
    options: ClassVar[Mapping[str, str]] = {"why": "the reason given"}

    def __init__(self, options: Mapping[str, str]) -> None:
        self.given = dict(options)
        self.settings = read_settings(options, self.name)

    def plan(self, snapshot: Snapshot) -> Plan:
        moves = [Move(r.pid, r.start, r.end, node, 0, pages, "balance", self.given.get("why", "zero"), 0.0)
                 for r in snapshot.regions for node, pages in r.pages.items() if node != 0]
        return finish(self.name, self.given, snapshot, moves, self.settings, (), "nothing off node 0")


def test_a_user_registered_policy_builds_and_plans() -> None:
    registry = PolicyRegistry()
    registry.register(EverythingToNodeZero.name, EverythingToNodeZero)
    policy = registry.build("node-zero", {"why": "mine", "budget": "4K"})
    plan = policy.plan(snapshot(region(0, {1: 2})))
    assert [(m.target, m.pages, m.reason) for m in plan.moves] == [(0, 1, "mine")]
    assert plan.notes[0].startswith("budget: 1 move (4 KiB) left for later")
    with pytest.raises(InvalidInputError, match="a policy named 'node-zero' is already registered"):
        registry.register("node-zero", EverythingToNodeZero)
    with pytest.raises(InvalidInputError, match="a policy's name is a lowercase letter"):
        registry.register("Zero!", EverythingToNodeZero)
