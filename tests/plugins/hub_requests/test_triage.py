"""Triage rules as data: validated at load; scores, priorities, due times and reasons."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta

import pytest

from hubcore.errors import InvalidInput

from plugins.hub_requests import triage

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.fixture
def raw_rules():
    return json.loads(triage.RULES_PATH.read_text(encoding="utf-8"))


def test_shipped_rules_load_with_their_version():
    rules = triage.load_rules()
    assert rules.version == "2026.11-1"
    assert [b.priority for b in rules.bands] == ["P1", "P2", "P3", "P4"]


def test_mental_health_crisis_is_always_same_day_whatever_the_points():
    result = triage.score_request(["befriending"], ["mental_health_crisis"], "not_urgent",
                                  created_at=NOW)
    assert result.priority == "P1"
    assert result.due_at == NOW + timedelta(hours=8)
    assert "mental-health crisis" in result.reason
    assert result.rules_version == "2026.11-1"


def test_no_food_in_a_house_with_children_is_p1_and_alone_it_is_at_least_p2():
    with_children = triage.score_request(["food"], ["no_food", "children_in_household"],
                                         "not_urgent", created_at=NOW)
    alone = triage.score_request(["advice"], ["no_food"], "not_urgent", created_at=NOW)
    assert with_children.priority == "P1"
    assert alone.priority == "P2"
    assert alone.due_at == NOW + timedelta(hours=24)


def test_points_add_up_to_the_band_and_the_reason_names_the_biggest_factors():
    result = triage.score_request(["medication", "food"], ["shielding", "aged_70_plus"],
                                  "today", created_at=NOW)
    assert result.score == 25 + 20 + 20 + 10 + 20
    assert result.priority == "P1"
    assert result.reason.startswith("P1 (same day): medication or prescription collection")
    assert "Score 95." in result.reason


def test_a_simple_request_that_is_not_urgent_is_p4_due_within_a_week():
    result = triage.score_request(["practical_task"], [], "not_urgent", created_at=NOW)
    assert (result.priority, result.score) == ("P4", 5)
    assert result.due_at == NOW + timedelta(days=7)


def test_unknown_needs_circumstances_and_urgency_are_refused_per_field():
    with pytest.raises(InvalidInput) as caught:
        triage.score_request(["caviar"], ["bored"], "yesterday", created_at=NOW)
    assert set(caught.value.fields) == {"needs", "circumstances", "urgency"}


def test_no_need_at_all_is_refused():
    with pytest.raises(InvalidInput) as caught:
        triage.score_request([], [], "today", created_at=NOW)
    assert "needs" in caught.value.fields


def test_waiting_raises_the_effective_score_up_to_the_cap():
    created = NOW - timedelta(hours=10)
    assert triage.effective_score(20, created, NOW) == 25.0
    long_ago = NOW - timedelta(days=30)
    assert triage.effective_score(20, long_ago, NOW) == 60.0  # 20 + the 40-point cap


def test_a_p4_left_waiting_long_enough_overtakes_a_fresh_p3():
    old_p4 = triage.effective_score(10, NOW - timedelta(days=4), NOW)
    fresh_p3 = triage.effective_score(30, NOW, NOW)
    assert old_p4 > fresh_p3


def test_escalation_adds_its_points():
    assert triage.effective_score(30, NOW, NOW, escalated=True) == 55.0


def test_helper_requirements_take_the_strictest_need():
    assert triage.helper_requirements(["food"]) == ("none", False)
    assert triage.helper_requirements(["food", "medication"]) == ("basic", False)
    assert triage.helper_requirements(["essential_shopping", "befriending"]) == ("enhanced", True)


@pytest.mark.parametrize("breakage, words", [
    (lambda r: r.pop("version"), "malformed"),
    (lambda r: r["needs"].pop("food"), "missing ['food']"),
    (lambda r: r["circumstances"].update(bored=5), "unknown ['bored']"),
    (lambda r: r["bands"].reverse(), "bands must be"),
    (lambda r: r["bands"][3].update(min_score=5), "P4 must start at 0"),
    (lambda r: r["bands"][0].update(due_hours=500), "due hours must rise"),
    (lambda r: r["needs"]["food"].update(dbs_level="platinum"), "dbs_level"),
    (lambda r: r["floors"].append({"circumstances": ["sad"], "priority": "P1",
                                   "reason": "x"}), "unknown circumstances"),
    (lambda r: r["waiting"].update(points_per_hour=-1), "must not be negative"),
])
def test_broken_rules_are_refused_at_load_with_what_is_wrong(raw_rules, breakage, words):
    broken = copy.deepcopy(raw_rules)
    breakage(broken)
    with pytest.raises(triage.RulesError) as caught:
        triage.parse_rules(broken)
    assert words in str(caught.value)


def test_an_unreadable_rules_file_is_refused(tmp_path):
    path = tmp_path / "triage.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(triage.RulesError):
        triage.load_rules(path)
