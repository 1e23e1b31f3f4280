"""Matching rules: every eligibility gate, the DBS gate, the score and overflow.

``rank`` is pure, so most tests build a district's arrays from plain rows.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from hubcore.values import Location, Task
from plugins.volunteering import matching
from plugins.volunteering.matching import DistrictArrays, VolunteerRow, Workload
from plugins.volunteering.models import SLOTS

BOLTON, BURY = "E08000001", "E08000002"
BL1 = (53.592, -2.445)
BL2 = (53.588, -2.395)  # about 3.3 km east of BL1
BL4 = (53.547, -2.403)  # about 5.8 km from BL1
# A Wednesday, 10:00 in London (BST is over: UTC = London time).
NOW = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)
TODAY = NOW.date()


def row(id=1, *, at=BL2, skills=("shopping", "befriending", "prescription_collection",
                                   "driving"),
        languages=(), availability=SLOTS, max_km=10.0, dbs="none", verified=True,
        issued=date(2025, 1, 10), cap=3, district=BOLTON, name=None) -> VolunteerRow:
    return VolunteerRow(id=id, name=name or f"Volunteer {id}", district_code=district,
                        latitude=at[0], longitude=at[1], skills=tuple(skills),
                        languages=tuple(languages), availability=tuple(availability),
                        max_travel_km=max_km, dbs_level=dbs, dbs_verified=verified,
                        dbs_issue_date=issued if dbs != "none" else None, weekly_cap=cap)


def task(needs=("befriending",), *, at=BL1, **kwargs) -> Task:
    values = dict(owner="hub_requests", owner_id="7", district=BOLTON, needs=tuple(needs),
                  location=Location(*at) if at else None, due_at=NOW + timedelta(days=2))
    values.update(kwargs)
    return Task(**values)


def ranked(rows, the_task, workload=Workload(), limit=10):
    return matching.rank(DistrictArrays(rows, 53.5), the_task, workload, NOW, limit)


def ids(candidates):
    return [matching.volunteer_id_of(c.helper_id) for c in candidates]


# -- Distance ---------------------------------------------------------------------------------


def test_volunteer_beyond_their_own_travel_distance_is_not_eligible():
    assert ids(ranked([row(1, at=BL4, max_km=5.0)], task())) == []
    assert ids(ranked([row(1, at=BL4, max_km=6.5)], task())) == [1]


def test_volunteer_beyond_the_tasks_maximum_distance_is_not_eligible():
    rows = [row(1, at=BL2, max_km=20), row(2, at=BL4, max_km=20)]
    assert ids(ranked(rows, task(max_distance_km=4.0))) == [1]


def test_distance_reported_is_geopys_great_circle():
    from geopy.distance import great_circle

    [candidate] = ranked([row(1, at=BL2)], task())
    assert candidate.distance_km == round(great_circle(BL1, BL2).km, 2)


def test_task_without_location_considers_the_whole_district_and_says_so():
    [candidate] = ranked([row(1, at=BL4, max_km=1.0)], task(at=None))
    assert candidate.distance_km is None
    assert "no location" in dict((c.name, c.reason) for c in candidate.breakdown)["distance"]


# -- DBS and regulated activity ------------------------------------------------------------------


@pytest.mark.parametrize("need", ["shopping", "personal_care", "help_with_cash", "bills",
                                  "transport_to_care"])
def test_regulated_activity_needs_an_enhanced_check(need):
    the_task = task((need,))
    rows = [row(1, dbs="none"), row(2, dbs="basic"), row(3, dbs="enhanced"),
            row(4, dbs="enhanced", verified=False)]
    assert matching.required_dbs_level(the_task) == "enhanced"
    assert ids(ranked(rows, the_task)) == [3]


def test_a_caller_cannot_lower_the_dbs_level_of_regulated_activity():
    the_task = task(("shopping",), dbs_level="none", regulated_activity=False)
    assert matching.required_dbs_level(the_task) == "enhanced"
    assert ids(ranked([row(1, dbs="basic")], the_task)) == []


def test_regulated_flag_alone_needs_an_enhanced_check():
    the_task = task(("befriending",), regulated_activity=True)
    assert ids(ranked([row(1, dbs="basic"), row(2, dbs="enhanced")], the_task)) == [2]


def test_basic_check_asked_for_admits_basic_and_enhanced_not_none():
    the_task = task(("befriending",), dbs_level="basic")
    assert ids(ranked([row(1), row(2, dbs="basic"), row(3, dbs="enhanced")], the_task)) \
        == [2, 3]


def test_check_older_than_three_years_no_longer_counts():
    old = TODAY - timedelta(days=matching.DBS_VALID_DAYS + 1)
    the_task = task(("personal_care",))
    assert ids(ranked([row(1, dbs="enhanced", issued=old)], the_task)) == []
    assert matching.effective_dbs_level("enhanced", True, old, TODAY) == "none"
    assert matching.effective_dbs_level("enhanced", False, TODAY, TODAY) == "none"
    assert matching.effective_dbs_level("basic", True, TODAY, TODAY) == "basic"


def test_unknown_dbs_level_asked_for_is_treated_as_the_strictest():
    assert matching.required_dbs_level(task(dbs_level="extra")) == "enhanced"


def test_one_dbs_shortfall_rule_agrees_with_the_ranking_gate_for_every_case():
    from types import SimpleNamespace

    limit = TODAY - timedelta(days=matching.DBS_VALID_DAYS)
    checks = [(level, verified, issued) for level in ("none", "basic", "enhanced")
              for verified in (True, False)
              for issued in (TODAY, limit, limit - timedelta(days=1))]
    tasks = [task(("befriending",)), task(("befriending",), dbs_level="basic"),
             task(("befriending",), dbs_level="enhanced"), task(("shopping",), dbs_level="none"),
             task(("befriending",), regulated_activity=True)]
    for the_task in tasks:
        for level, verified, issued in checks:
            volunteer = SimpleNamespace(dbs_level=level, dbs_issue_date=issued
                                        if level != "none" else None,
                                        dbs_verified_at=NOW if verified else None)
            short = matching.dbs_shortfall(volunteer, the_task, TODAY)
            admitted = ids(ranked([row(1, dbs=level, verified=verified, issued=issued)],
                                  the_task)) == [1]
            assert (short is None) == admitted, (the_task, level, verified, issued)
            assert matching.held_dbs_level(volunteer, TODAY) == matching.effective_dbs_level(
                level, verified, volunteer.dbs_issue_date, TODAY)
            if short is not None:
                assert short.needed == matching.required_dbs_level(the_task)
                assert short.regulated == matching.is_regulated(the_task)


# -- Skills, availability, weekly cap -------------------------------------------------------------------


def test_volunteer_without_the_skill_a_need_calls_for_is_not_eligible():
    rows = [row(1, skills=("befriending",)), row(2, skills=("prescription_collection",))]
    assert ids(ranked(rows, task(("medication",)))) == [2]


def test_need_without_a_skill_asks_for_none():
    assert ids(ranked([row(1, skills=("admin",))], task(("advice",)))) == [1]


def test_volunteer_not_free_before_the_task_is_due_is_not_eligible():
    # Due Wednesday 20:00; now Wednesday 10:00.
    due = datetime(2026, 11, 18, 20, 0, tzinfo=UTC)
    rows = [row(1, availability=("thu_morning",)), row(2, availability=("wed_evening",))]
    assert ids(ranked(rows, task(due_at=due))) == [2]


def test_due_window_masks():
    assert matching.due_window_mask(NOW, None) == matching.ALL_SLOTS
    wednesday_evening = matching.slots_mask(["wed_evening"])
    due = datetime(2026, 11, 18, 20, 0, tzinfo=UTC)
    mask = matching.due_window_mask(NOW, due)
    assert mask & wednesday_evening and mask & matching.slots_mask(["wed_morning"])
    assert not mask & matching.slots_mask(["thu_morning"])
    # Overdue: still the next twelve hours.
    assert matching.due_window_mask(NOW, NOW - timedelta(hours=3)) & wednesday_evening


def test_volunteer_at_their_weekly_cap_is_not_eligible():
    rows = [row(1, cap=2), row(2, cap=3)]
    assert ids(ranked(rows, task(), Workload(this_week={1: 2, 2: 2}))) == [2]


def test_volunteer_already_offered_the_task_is_not_asked_again():
    assert ids(ranked([row(1), row(2)], task(), Workload(excluded=frozenset({1})))) == [2]


# -- The score -------------------------------------------------------------------------------------


def test_nearer_volunteer_ranks_higher_and_every_part_is_explained():
    candidates = ranked([row(1, at=BL4), row(2, at=BL2)], task())
    assert ids(candidates) == [2, 1]
    names = [c.name for c in candidates[0].breakdown]
    assert names == ["distance", "load", "fairness", "language", "continuity"]
    assert candidates[0].score == pytest.approx(sum(c.points for c in candidates[0].breakdown),
                                                abs=0.05)
    assert all(c.reason for c in candidates[0].breakdown)
    assert candidates[0].source == "volunteering" and not candidates[0].overflow


def test_busy_volunteer_ranks_below_an_idle_one_at_the_same_place():
    workload = Workload(in_hand={1: 2}, this_week={1: 2})
    assert ids(ranked([row(1), row(2)], task(), workload)) == [2, 1]


def test_language_and_continuity_raise_the_score():
    rows = [row(1), row(2, languages=("Urdu",)), row(3)]
    the_task = task(languages=("urdu",), person_id=42)
    candidates = ranked(rows, the_task, Workload(helped_person=frozenset({3})))
    by_id = {matching.volunteer_id_of(c.helper_id): c for c in candidates}
    assert by_id[2].score > by_id[1].score and by_id[3].score > by_id[1].score
    reasons = {c.name: c.reason for c in by_id[2].breakdown}
    assert reasons["language"] == "Speaks Urdu"
    assert {c.name: c.reason for c in by_id[3].breakdown}["continuity"] \
        == "Has helped this person before"


def test_limit_returns_the_best_few_in_order():
    rows = [row(i, at=(BL1[0] + i * 0.003, BL1[1])) for i in range(1, 30)]
    assert ids(ranked(rows, task(), limit=3)) == [1, 2, 3]
    assert ranked(rows, task(), limit=0) == []


def test_rank_agrees_with_a_brute_force_check_of_every_volunteer():
    import random

    rnd = random.Random(4)
    rows = []
    for i in range(1, 400):
        rows.append(row(i, at=(53.55 + rnd.random() * 0.08, -2.50 + rnd.random() * 0.15),
                        max_km=rnd.choice([2.0, 5.0, 10.0]),
                        dbs=rnd.choice(["none", "basic", "enhanced"]),
                        skills=rnd.sample(["shopping", "befriending", "driving"], 2),
                        availability=rnd.sample(SLOTS, 5)))
    the_task = task(("shopping",), max_distance_km=6.0)
    got = set(ids(ranked(rows, the_task, limit=1000)))
    from geopy.distance import great_circle

    window = matching.due_window_mask(NOW, the_task.due_at)
    expected = {r.id for r in rows
                if r.dbs_level == "enhanced" and "shopping" in r.skills
                and matching.slots_mask(r.availability) & window
                and great_circle(BL1, (r.latitude, r.longitude)).km <= min(r.max_travel_km, 6.0)}
    assert got == expected and expected


# -- Through the database: active only, overflow ---------------------------------------------------


@pytest.fixture
def volunteer_factory(app, db):
    from plugins.volunteering.models import Volunteer

    def make(*, postcode_at=BL2, district=BOLTON, status="active", **kwargs):
        values = dict(given_name="Test", family_name="Helper", district_code=district,
                      latitude=postcode_at[0], longitude=postcode_at[1],
                      skills=["befriending", "shopping"], languages=[], availability=list(SLOTS),
                      max_travel_km=10.0, status=status, dbs_level="none")
        values.update(kwargs)
        volunteer = Volunteer(**values)
        db.session.add(volunteer)
        db.session.flush()
        return volunteer

    return make


def test_only_active_volunteers_are_candidates(app, volunteer_factory):
    active = volunteer_factory()
    for status in ("applied", "paused", "left"):
        volunteer_factory(status=status)
    found = matching.find_candidates(task(due_at=None), 10, now=NOW)
    assert ids(found) == [active.id]


def test_index_follows_changes_to_volunteers(app, db, volunteer_factory):
    volunteer = volunteer_factory()
    assert ids(matching.find_candidates(task(due_at=None), 10, now=NOW)) == [volunteer.id]
    volunteer.status = "paused"
    db.session.flush()
    assert matching.find_candidates(task(due_at=None), 10, now=NOW) == []
    volunteer.status = "active"
    volunteer.district_code = BURY
    db.session.flush()
    found = matching.find_candidates(task(due_at=None), 10, now=NOW)
    assert ids(found) == [volunteer.id] and found[0].overflow


def test_neighbouring_district_overflows_only_when_home_has_nobody_eligible(app,
                                                                          volunteer_factory):
    bury = volunteer_factory(district=BURY, postcode_at=(53.589, -2.300), max_travel_km=15.0)
    found = matching.find_candidates(task(due_at=None), 10, now=NOW)
    assert ids(found) == [bury.id]
    assert found[0].overflow
    assert "neighbouring district" in found[0].breakdown[-1].reason
    home = volunteer_factory()
    found = matching.find_candidates(task(due_at=None), 10, now=NOW)
    assert ids(found) == [home.id] and not found[0].overflow


def test_why_not_eligible_names_every_failed_gate(app, volunteer_factory):
    volunteer = volunteer_factory(status="paused", skills=["admin"], availability=["sun_evening"],
                                  postcode_at=BL4, max_travel_km=1.0, weekly_cap=1)
    reasons = matching.why_not_eligible(
        volunteer, task(("shopping",), due_at=NOW + timedelta(hours=14)),
        Workload(this_week={volunteer.id: 1}), NOW)
    text = " ".join(reasons)
    for fragment in ("paused", "enhanced DBS", "barred list", "shopping", "not available",
                     "km away", "weekly limit"):
        assert fragment in text
    assert len(reasons) == 6



def test_index_sees_a_change_committed_late_by_a_slower_transaction(app, db,
                                                                    volunteer_factory):
    import sqlalchemy as sa

    from plugins.volunteering.models import Volunteer

    early = volunteer_factory()
    db.session.commit()
    late = volunteer_factory()
    db.session.commit()
    assert set(ids(matching.find_candidates(task(due_at=None), 10, now=NOW))) \
        == {early.id, late.id}
    # A transaction that stamped its change before the newest one seen commits now.
    seen_newest = matching.current_index().watermark
    db.session.execute(sa.update(Volunteer).where(Volunteer.id == early.id).values(
        status="paused", version=Volunteer.version + 1,
        updated_at=seen_newest - timedelta(seconds=30)))
    db.session.commit()
    assert ids(matching.find_candidates(task(due_at=None), 10, now=NOW)) == [late.id]


@pytest.mark.parametrize("helper", ["volunteering-²", "volunteering-٣", "volunteering-",
                                    "volunteering-12a", "other-12", "volunteering-" + "9" * 40])
def test_a_helper_id_that_is_not_ours_or_not_a_plain_number_names_no_volunteer(helper):
    """Posted by hand to the offer form: it must name nobody, never raise."""
    assert matching.volunteer_id_of(helper) is None


def test_a_helper_id_find_helpers_gave_names_its_volunteer():
    assert matching.volunteer_id_of("volunteering-42") == 42
