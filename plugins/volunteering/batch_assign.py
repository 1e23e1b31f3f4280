"""Batch assignment: a proposal for a district's open queue, for a coordinator to confirm.

``propose`` goes through the tasks most urgent first (then soonest due) and
gives each the best-scoring eligible volunteer, counting what it has already
proposed as load, so work spreads and weekly caps hold. Each task's pool is
its nearest volunteers (``POOL`` of them, from the KD-tree in one vectorised
query for the whole batch), widened to a full ranking when none of those is
eligible.

``optimal_pool`` and ``optimal_pool_sparse`` are for scarce pools
(DBS-checked drivers, say): a minimum total-travel assignment of tasks to the
volunteers eligible for them (scipy's ``linear_sum_assignment`` on the full
matrix, or ``min_weight_full_bipartite_matching`` on the nearest few), where
greedy nearest-first strands tasks and sends people across town. Nothing here writes: offers are made when the
coordinator confirms.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import sqlalchemy as sa
from scipy.optimize import linear_sum_assignment
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import min_weight_full_bipartite_matching
from scipy.spatial import cKDTree

from hubcore.db import db
from hubcore.values import HelperCandidate, Task

from . import matching
from .matching import VolunteerIndex, Workload
from .models import Offer

POOL = 64
INFEASIBLE = 1e9
SPARSE_NEAREST = 40
EDGE_EPSILON = 1e-9  # a zero-length edge must still be an edge of the sparse graph


@dataclass(frozen=True)
class Proposal:
    task: Task
    candidate: HelperCandidate | None  # None: nobody eligible is left


def _order(tasks: list[Task]) -> list[Task]:
    far_future = datetime.max.replace(tzinfo=None)
    return sorted(tasks, key=lambda t: (t.priority, t.due_at.replace(tzinfo=None)
                                        if t.due_at else far_future, t.owner_id))


def propose(index: VolunteerIndex, tasks: list[Task], workload: Workload, now: datetime, *,
            helped: dict[int, frozenset[int]] | None = None,
            excluded: dict[tuple[str, str], frozenset[int]] | None = None) -> list[Proposal]:
    """Priority first, load spread: one proposed volunteer (or none) per task.

    ``workload`` holds current load; ``helped`` who helped each person before;
    ``excluded`` who was already offered each task (by owner and id).
    """
    helped, excluded = helped or {}, excluded or {}
    in_hand, this_week = dict(workload.in_hand), dict(workload.this_week)
    nearest = _nearest_pools(index, tasks)
    proposals = []
    for task in _order(tasks):
        current = Workload(in_hand=in_hand, this_week=this_week,
                           helped_person=helped.get(task.person_id, frozenset()),
                           excluded=excluded.get((task.owner, task.owner_id), frozenset()))
        best = None
        pool = nearest.get((task.owner, task.owner_id))
        if pool is not None:
            found = matching.rank(index.district(task.district).subset(pool), task, current,
                                  now, 1)
            best = found[0] if found else None
        if best is None:
            ranked = matching.rank_with_overflow(index, task, current, now, 1)
            best = ranked[0] if ranked else None
        if best is not None:
            vid = matching.volunteer_id_of(best.helper_id)
            in_hand[vid] = in_hand.get(vid, 0) + 1
            this_week[vid] = this_week.get(vid, 0) + 1
        proposals.append(Proposal(task, best))
    return proposals


def _nearest_pools(index: VolunteerIndex, tasks: list[Task]) -> dict[tuple[str, str], np.ndarray]:
    """Each located task's POOL nearest volunteers of its district, one query per district."""
    by_district: dict[str, list[Task]] = {}
    for task in tasks:
        if task.location is not None:
            by_district.setdefault(task.district, []).append(task)
    nearest = {}
    for district, group in by_district.items():
        arrays = index.district(district)
        if not arrays.indexed:
            continue
        points = arrays._project([t.location.latitude for t in group],
                                 [t.location.longitude for t in group])
        pos = arrays.nearest(points, POOL)
        for task, row in zip(group, pos, strict=True):
            nearest[(task.owner, task.owner_id)] = row
    return nearest


def propose_for(tasks: list[Task], *, now: datetime) -> list[Proposal]:
    """``propose`` with the app's index and what the database says of load and history."""
    index = matching.current_index()
    districts: set[str] = set()
    for task in tasks:
        district = index.pack.get(task.district)
        districts |= {task.district, *(district.neighbours if district else ())}
    workload = matching.district_load(districts, now)
    helped = matching.helpers_of(t.person_id for t in tasks)
    excluded: dict[tuple[str, str], set[int]] = {}
    for owner, owner_id, vid in db.session.execute(
            sa.select(Offer.task_owner, Offer.task_owner_id, Offer.volunteer_id)
            .where(Offer.task_owner_id.in_({t.owner_id for t in tasks}))):
        excluded.setdefault((owner, owner_id), set()).add(vid)
    return propose(index, tasks, workload, now, helped=helped,
                   excluded={k: frozenset(v) for k, v in excluded.items()})


@dataclass(frozen=True)
class PoolAssignment:
    """Which volunteer (column) each task (row) gets, -1 for none, and the travel."""

    volunteer_for_task: np.ndarray
    total_km: float
    assigned: int


def travel_matrix(task_xy: np.ndarray, volunteer_xy: np.ndarray, volunteer_max_km: np.ndarray,
                  task_max_km: np.ndarray | None = None) -> np.ndarray:
    """Kilometres from each task to each volunteer (projected plane); INFEASIBLE beyond reach."""
    km = np.hypot(task_xy[:, 0:1] - volunteer_xy[:, 0], task_xy[:, 1:2] - volunteer_xy[:, 1])
    limit = volunteer_max_km[None, :]
    if task_max_km is not None:
        limit = np.minimum(limit, task_max_km[:, None])
    km[km > limit] = INFEASIBLE
    return km


def optimal_pool(cost: np.ndarray) -> PoolAssignment:
    """Minimum total travel, one task per volunteer, as many tasks covered as possible.

    Infeasible pairs cost so much that the solver covers a task whenever any
    feasible volunteer is left for it; a task left only with infeasible
    pairs is reported unassigned (-1).
    """
    rows, cols = linear_sum_assignment(cost)
    chosen = np.full(cost.shape[0], -1, dtype=np.int64)
    feasible = cost[rows, cols] < INFEASIBLE
    chosen[rows[feasible]] = cols[feasible]
    return PoolAssignment(chosen, float(cost[rows[feasible], cols[feasible]].sum()),
                          int(feasible.sum()))


def optimal_pool_sparse(task_xy: np.ndarray, volunteer_xy: np.ndarray,
                        volunteer_max_km: np.ndarray, *, nearest: int = SPARSE_NEAREST
                        ) -> PoolAssignment:
    """Min-cost bipartite matching over each task's ``nearest`` volunteers within reach.

    A sparse graph (scipy's min_weight_full_bipartite_matching) instead of the
    full matrix: far faster for large pools, and the optimum rarely uses a
    volunteer who is not among a task's nearest. When that graph has no
    matching covering every task, the full matrix is solved instead.
    """
    n_tasks, n_volunteers = len(task_xy), len(volunteer_xy)
    k = min(nearest, n_volunteers)
    dist, idx = cKDTree(volunteer_xy).query(task_xy, k=k)
    dist, idx = dist.reshape(n_tasks, k), idx.reshape(n_tasks, k)
    ok = dist <= volunteer_max_km[idx]
    rows = np.repeat(np.arange(n_tasks), k)[ok.ravel()]
    graph = csr_matrix((dist[ok] + EDGE_EPSILON, (rows, idx[ok])),
                       shape=(n_tasks, n_volunteers))
    try:
        task_rows, cols = min_weight_full_bipartite_matching(graph)
    except ValueError:  # some task cannot be covered within the sparse graph
        return optimal_pool(travel_matrix(task_xy, volunteer_xy, volunteer_max_km))
    chosen = np.full(n_tasks, -1, dtype=np.int64)
    chosen[task_rows] = cols
    km = np.hypot(*(task_xy[task_rows] - volunteer_xy[cols]).T)
    return PoolAssignment(chosen, float(km.sum()), int(len(task_rows)))


def greedy_pool(cost: np.ndarray) -> PoolAssignment:
    """Nearest-first, task by task in queue order: the baseline ``optimal_pool`` beats."""
    taken = np.zeros(cost.shape[1], dtype=bool)
    chosen = np.full(cost.shape[0], -1, dtype=np.int64)
    total = 0.0
    for i in range(cost.shape[0]):
        row = np.where(taken, INFEASIBLE, cost[i])
        j = int(np.argmin(row))
        if row[j] < INFEASIBLE:
            taken[j] = True
            chosen[i] = j
            total += float(row[j])
    return PoolAssignment(chosen, total, int((chosen >= 0).sum()))
