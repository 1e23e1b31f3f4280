"""Batch proposals (priority first, load spread) and the scarce-pool optimum."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from hubcore.values import Location, Task
from plugins.volunteering import batch_assign, matching
from plugins.volunteering.batch_assign import INFEASIBLE, greedy_pool, optimal_pool
from plugins.volunteering.matching import DistrictArrays, Workload

from .conftest import BOLTON, WIGAN, task_json
from .test_matching import BL1, BL2, row

NOW = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)


class OneDistrict(matching.VolunteerIndex):
    def __init__(self, rows):
        from hubcore.districts import packs

        super().__init__(packs.load_pack("greater_manchester"))
        self.by_district = {BOLTON: DistrictArrays(rows, 53.5)}


def task(owner_id, priority=3):
    return Task(owner="hub_requests", owner_id=owner_id, district=BOLTON, needs=("befriending",),
                location=Location(*BL1), priority=priority)


def test_most_urgent_task_is_served_first_when_volunteers_run_short(app):
    index = OneDistrict([row(1, at=BL2, cap=1)])
    proposals = batch_assign.propose(index, [task("low", 4), task("urgent", 1)], Workload(), NOW)
    by_task = {p.task.owner_id: p.candidate for p in proposals}
    assert by_task["urgent"].helper_id == "volunteering-1"
    assert by_task["low"] is None
    assert [p.task.owner_id for p in proposals] == ["urgent", "low"]


def test_proposals_spread_the_load(app):
    index = OneDistrict([row(1, at=BL2), row(2, at=(BL2[0] + 0.002, BL2[1]))])
    proposals = batch_assign.propose(index, [task("a"), task("b")], Workload(), NOW)
    assert sorted(p.candidate.helper_id for p in proposals) == ["volunteering-1",
                                                                 "volunteering-2"]


def test_optimal_pool_covers_tasks_that_greedy_nearest_first_strands():
    cost = np.array([[1.0, 2.0], [1.5, INFEASIBLE]])
    greedy, optimal = greedy_pool(cost), optimal_pool(cost)
    assert greedy.assigned == 1 and list(greedy.volunteer_for_task) == [0, -1]
    assert optimal.assigned == 2 and list(optimal.volunteer_for_task) == [1, 0]
    assert optimal.total_km == 3.5


def test_optimal_pool_never_travels_further_than_greedy_for_the_same_cover():
    rnd = np.random.default_rng(7)
    tasks, volunteers = rnd.random((40, 2)) * 10, rnd.random((60, 2)) * 10
    cost = batch_assign.travel_matrix(tasks, volunteers, np.full(60, 6.0))
    greedy, optimal = greedy_pool(cost), optimal_pool(cost)
    assert optimal.assigned >= greedy.assigned
    if optimal.assigned == greedy.assigned:
        assert optimal.total_km <= greedy.total_km + 1e-9
    assigned = optimal.volunteer_for_task[optimal.volunteer_for_task >= 0]
    assert len(set(assigned.tolist())) == len(assigned)  # one task per volunteer


def test_batch_proposal_api_explains_each_choice_and_is_district_scoped(as_role, make_volunteer):
    make_volunteer()
    make_volunteer(postcode="BL3 1AA")
    coord = as_role("coordinator", BOLTON)
    response = coord.client.post("/api/v1/volunteering/batch-proposals", json={
        "tasks": [task_json("1"), task_json("2", priority=1)]})
    assert response.status_code == 200, response.get_json()
    proposals = response.get_json()
    assert [p["owner_id"] for p in proposals] == ["2", "1"]
    assert len({p["candidate"]["helper_id"] for p in proposals}) == 2
    assert proposals[0]["candidate"]["breakdown"][0]["name"] == "distance"
    wigan = as_role("coordinator", WIGAN)
    assert wigan.client.post("/api/v1/volunteering/batch-proposals", json={
        "tasks": [task_json("1")]}).status_code == 403


def test_sparse_optimum_matches_the_full_matrix_optimum():
    rnd = np.random.default_rng(11)
    tasks, volunteers = rnd.random((150, 2)) * 8, rnd.random((190, 2)) * 8
    reach = rnd.choice([3.0, 5.0, 8.0], size=190)
    sparse = batch_assign.optimal_pool_sparse(tasks, volunteers, reach)
    dense = optimal_pool(batch_assign.travel_matrix(tasks, volunteers, reach))
    assert sparse.assigned == dense.assigned == 150
    assert abs(sparse.total_km - dense.total_km) < 1e-6


def test_sparse_optimum_falls_back_when_a_task_is_out_of_everyones_reach():
    tasks = np.array([[0.0, 0.0], [50.0, 50.0]])
    volunteers = np.array([[0.5, 0.0], [1.0, 0.0]])
    result = batch_assign.optimal_pool_sparse(tasks, volunteers, np.array([5.0, 5.0]))
    assert result.assigned == 1 and list(result.volunteer_for_task) == [0, -1]
