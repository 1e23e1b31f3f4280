"""Matching: which volunteers may take a task, and who should, with the reasons.

Eligibility is a gate, never a low score: active; the task within both the
volunteer's own travel distance and the task's; the DBS level the task needs
(regulated activity with adults always needs an enhanced check with the
adults' barred list, whatever the caller says); the skills the needs call
for; a weekly slot in the due window; under their weekly cap. The eligible
are ranked by a score whose parts are returned as ScoreComponents: distance,
current load, fairness over the week, language, continuity with the person.

Speed at city-region scale comes from an in-memory index per district
(numpy arrays and a scipy cKDTree over projected coordinates) refreshed
when volunteers change: a radius query prefilters spatially, vectorised
masks and spherical distances cut the rest, and geopy's great_circle gives
the exact distance for the few candidates returned. ``rank`` is pure (arrays
and plain values in, candidates out); ``find_candidates`` adds the database.
"""

from __future__ import annotations

import functools
import math
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import numpy as np
import sqlalchemy as sa
from flask import current_app
from geopy.distance import great_circle
from scipy.spatial import cKDTree

from hubcore.db import LONDON, db, utcnow
from hubcore.districts import packs
from hubcore.districts.outcodes import load_outcodes
from hubcore.values import HelperCandidate, ScoreComponent, Task

from .models import DAYS, DBS_LEVELS, SKILLS, SLOTS, Assignment, Offer, Volunteer

SOURCE = "volunteering"
EARTH_RADIUS_KM = 6371.009  # geopy's great_circle radius: the same distances
DBS_RANK = {level: rank for rank, level in enumerate(DBS_LEVELS)}
DBS_VALID_DAYS = 3 * 365  # a check older than three years no longer counts
MIN_WINDOW = timedelta(hours=12)  # an overdue or imminent task: whoever can go soon
WEEK = timedelta(days=7)
REBUILD_SECONDS = 300  # a full rebuild now and then, whatever the changes seen say
CHANGE_WINDOW = timedelta(minutes=2)  # how late a change may be committed and still be seen
# Upper edges (km) of the travel-distance bands, one KD-tree each.
REACH_BANDS = np.array([1.0, 2.0, 3.0, 5.0, 8.0, 10.0, 15.0, 20.0, 30.0, 50.0])

# Which volunteer skill each need of a task calls for. Needs not listed
# (advice, financial hardship, other) ask for no particular skill.
NEED_SKILLS = {
    "food": "shopping",
    "shopping": "shopping",
    "essential_shopping": "shopping",
    "medication": "prescription_collection",
    "prescription_collection": "prescription_collection",
    "befriending": "befriending",
    "practical_task": "practical_tasks",
    "practical_tasks": "practical_tasks",
    "dog_walking": "dog_walking",
    "transport": "driving",
    "transport_to_care": "driving",
    "driving": "driving",
    "admin": "admin",
    "interpreting": "languages",
}
# Regulated activity with adults (Safeguarding Vulnerable Groups Act 2006 as
# amended): personal care, help with cash, bills or shopping on the person's
# behalf, transport to care. Only an enhanced check with the adults' barred
# list allows it.
REGULATED_NEEDS = frozenset({
    "personal_care", "cash", "help_with_cash", "bills", "shopping", "essential_shopping",
    "transport", "transport_to_care",
})

# Points of each part of the score (the most a part can give).
WEIGHTS = {"distance": 40.0, "load": 20.0, "fairness": 20.0, "language": 10.0,
           "continuity": 10.0}
SLOT_HOURS = {"morning": (8, 12), "afternoon": (12, 17), "evening": (17, 21)}
_SKILL_BIT = {skill: 1 << i for i, skill in enumerate(SKILLS)}
_SLOT_BIT = {slot: 1 << i for i, slot in enumerate(SLOTS)}
ALL_SLOTS = (1 << len(SLOTS)) - 1


# -- The rules, as plain functions ----------------------------------------------------


def is_regulated(task: Task) -> bool:
    """True when the task is regulated activity, by its flag or by its needs."""
    return bool(task.regulated_activity or REGULATED_NEEDS.intersection(task.needs))


def required_dbs_level(task: Task) -> str:
    """The DBS level a volunteer needs: the task's, raised to enhanced if regulated.

    A caller can raise the level, never lower it below what the needs demand.
    """
    asked = task.dbs_level if task.dbs_level in DBS_RANK else "enhanced"
    if is_regulated(task):
        return "enhanced"
    return asked


def required_skills(task: Task) -> frozenset[str]:
    return frozenset(NEED_SKILLS[n] for n in task.needs if n in NEED_SKILLS)


def skills_mask(skills) -> int:
    return sum(_SKILL_BIT[s] for s in set(skills) if s in _SKILL_BIT)


def slots_mask(slots) -> int:
    return sum(_SLOT_BIT[s] for s in set(slots) if s in _SLOT_BIT)


def effective_dbs_level(level: str, verified: bool, issue_date: date | None,
                        today: date) -> str:
    """The level that counts: verified by a coordinator and less than three years old."""
    if level == "none" or not verified or issue_date is None:
        return "none"
    if (today - issue_date).days > DBS_VALID_DAYS:
        return "none"
    return level


def held_dbs_level(volunteer: Volunteer, today: date) -> str:
    """The level one volunteer's check counts as today (shown to coordinators, gated on)."""
    return effective_dbs_level(volunteer.dbs_level, volunteer.dbs_verified_at is not None,
                               volunteer.dbs_issue_date, today)


@dataclass(frozen=True)
class DbsShortfall:
    """A volunteer's check falls short of a task's: what is needed, what counts, and why."""

    needed: str
    held: str
    regulated: bool


def dbs_shortfall(volunteer: Volunteer, task: Task, today: date) -> DbsShortfall | None:
    """The DBS gate for one volunteer and one task: None when their check is enough.

    The one rule used when an offer is made (``why_not_eligible``) and again
    when it is accepted (``offers.accept``); ``rank`` applies the same rule
    vectorised over a district's arrays.
    """
    needed = required_dbs_level(task)
    held = held_dbs_level(volunteer, today)
    if DBS_RANK[held] >= DBS_RANK[needed]:
        return None
    return DbsShortfall(needed=needed, held=held, regulated=is_regulated(task))


def due_window_mask(now: datetime, due_at: datetime | None) -> int:
    """The weekly slots (as a bit mask) that fall between now and the due time.

    No due time, or a week or more away: any slot. A due time already passed
    or less than MIN_WINDOW away still gives the next MIN_WINDOW.
    """
    end = due_at if due_at is not None else now + WEEK
    end = max(end, now + MIN_WINDOW)
    if end - now >= WEEK:
        return ALL_SLOTS
    start = now.astimezone(LONDON).replace(minute=0, second=0, microsecond=0)
    return _window_mask(start, end.astimezone(LONDON))


@functools.lru_cache(maxsize=4096)
def _window_mask(start: datetime, stop: datetime) -> int:
    mask = 0
    hour = start
    while hour < stop:
        part = _part_of(hour.hour)
        if part is not None:
            mask |= _SLOT_BIT[f"{DAYS[hour.weekday()]}_{part}"]
        hour += timedelta(hours=1)
    return mask


def _part_of(hour: int) -> str | None:
    for part, (start, end) in SLOT_HOURS.items():
        if start <= hour < end:
            return part
    return None


def haversine_km(lat1, lon1, lat2, lon2):
    """Vectorised great-circle distance, the same formula and radius as geopy's."""
    lat1, lon1, lat2, lon2 = map(np.radians, (lat1, lon1, lat2, lon2))
    dlon = lon2 - lon1
    sin1, cos1, sin2, cos2 = np.sin(lat1), np.cos(lat1), np.sin(lat2), np.cos(lat2)
    y = np.hypot(cos2 * np.sin(dlon), cos1 * sin2 - sin1 * cos2 * np.cos(dlon))
    x = sin1 * sin2 + cos1 * cos2 * np.cos(dlon)
    return EARTH_RADIUS_KM * np.arctan2(y, x)


# -- The index --------------------------------------------------------------------------


@dataclass(frozen=True)
class VolunteerRow:
    """What the index keeps of one active volunteer."""

    id: int
    name: str
    district_code: str
    latitude: float | None
    longitude: float | None
    skills: tuple[str, ...]
    languages: tuple[str, ...]
    availability: tuple[str, ...]
    max_travel_km: float
    dbs_level: str
    dbs_verified: bool
    dbs_issue_date: date | None
    weekly_cap: int


class DistrictArrays:
    """One district's active volunteers as parallel numpy arrays and a KD-tree.

    Coordinates are projected (equirectangular, km) around the region's
    latitude, so the tree's radius query is a close superset of the true
    circle; the exact spherical distance decides.
    """

    def __init__(self, rows: list[VolunteerRow], ref_latitude: float):
        located = [r for r in rows if r.latitude is not None and r.longitude is not None]
        n = len(located)
        self.ref_cos = math.cos(math.radians(ref_latitude))
        self.ids = np.fromiter((r.id for r in located), dtype=np.int64, count=n)
        self.lat = np.fromiter((r.latitude for r in located), dtype=np.float64, count=n)
        self.lon = np.fromiter((r.longitude for r in located), dtype=np.float64, count=n)
        self.skills = np.fromiter((skills_mask(r.skills) for r in located), dtype=np.int64,
                                  count=n)
        self.slots = np.fromiter((slots_mask(r.availability) for r in located),
                                 dtype=np.int64, count=n)
        self.max_km = np.fromiter((r.max_travel_km for r in located), dtype=np.float64,
                                  count=n)
        self.dbs = np.fromiter((DBS_RANK.get(r.dbs_level, 0) if r.dbs_verified else 0
                                for r in located), dtype=np.int8, count=n)
        # The DBS issue date as a day number (0, long ago, when there is none).
        self.dbs_day = np.fromiter(
            ((r.dbs_issue_date.toordinal() if r.dbs_issue_date else 0) for r in located),
            dtype=np.int64, count=n)
        self.cap = np.fromiter((r.weekly_cap for r in located), dtype=np.int64, count=n)
        self.names = [r.name for r in located]
        self.languages = [frozenset(lang.lower() for lang in r.languages) for r in located]
        self.reach_km = float(self.max_km.max()) if n else 0.0
        self.indexed = False  # a subset (see ``subset``) is searched whole
        self.bands: list[tuple[float, np.ndarray, cKDTree]] = []
        if n:
            # One tree per band of travel distance: a task asks each band only for
            # the radius its volunteers can travel, so far fewer points come back.
            xy = self._project(self.lat, self.lon)
            band = np.searchsorted(REACH_BANDS, self.max_km, side="left")
            for b in np.unique(band):
                members = np.flatnonzero(band == b)
                self.bands.append((float(self.max_km[members].max()), members,
                                   cKDTree(xy[members])))
            self.indexed = True
        self._all_tree: cKDTree | None = None  # built on first use, for batches

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, positions: np.ndarray) -> DistrictArrays:
        """The volunteers at ``positions`` only, already prefiltered (no tree)."""
        sub = DistrictArrays.__new__(DistrictArrays)
        sub.ref_cos = self.ref_cos
        for name in ("ids", "lat", "lon", "skills", "slots", "max_km", "dbs", "dbs_day", "cap"):
            setattr(sub, name, getattr(self, name)[positions])
        sub.names = _Picked(self.names, positions)
        sub.languages = _Picked(self.languages, positions)
        sub.reach_km = self.reach_km
        sub.indexed = False
        sub.bands = []
        sub._all_tree = None
        return sub

    def _project(self, lat, lon):
        lat = np.atleast_1d(np.asarray(lat, dtype=np.float64))
        lon = np.atleast_1d(np.asarray(lon, dtype=np.float64))
        return np.column_stack((np.radians(lon) * EARTH_RADIUS_KM * self.ref_cos,
                                np.radians(lat) * EARTH_RADIUS_KM))

    def within(self, lat: float, lon: float, radius_km: float) -> np.ndarray:
        """Positions of volunteers possibly within ``radius_km`` who can travel that far.

        A superset of the true answer: the projection stretches east-west
        distances by up to ~1 % across a region, so the query has a margin.
        A subset without trees (see ``subset``) offers every volunteer in it.
        """
        if not self.indexed:
            return np.arange(len(self.ids), dtype=np.int64)
        point = self._project(lat, lon)[0]
        found = []
        for band_reach, members, tree in self.bands:
            radius = min(radius_km, band_reach) * 1.03 + 0.2
            hits = tree.query_ball_point(point, radius, return_sorted=False)
            if hits:
                found.append(members[np.asarray(hits, dtype=np.int64)])
        return np.concatenate(found) if found else np.empty(0, dtype=np.int64)

    def nearest(self, points: np.ndarray, k: int) -> np.ndarray:
        """For each projected point, the positions of the ``k`` nearest volunteers."""
        if self._all_tree is None:
            self._all_tree = cKDTree(self._project(self.lat, self.lon))
        k = min(k, len(self.ids))
        _dist, pos = self._all_tree.query(points, k=k)
        return np.asarray(pos).reshape(len(points), k)


class _Picked:
    """A list seen through positions, without copying it (for subsets)."""

    def __init__(self, items, positions):
        self.items, self.positions = items, positions

    def __getitem__(self, i):
        return self.items[self.positions[i]]


@dataclass(frozen=True)
class Workload:
    """What volunteers are doing: tasks in hand, tasks taken in the last week, and
    who has helped the task's person before. Ids not listed have none."""

    in_hand: dict[int, int] = field(default_factory=dict)
    this_week: dict[int, int] = field(default_factory=dict)
    helped_person: frozenset[int] = frozenset()
    excluded: frozenset[int] = frozenset()  # e.g. already declined this task

    def dense_counts(self, name: str) -> np.ndarray:
        """``in_hand`` or ``this_week`` as an array indexed by volunteer id, made once."""
        cache = self.__dict__.setdefault("_dense", {})
        if name not in cache:
            counts = getattr(self, name)
            keys = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
            dense = np.zeros(int(keys.max()) + 1 if len(keys) else 0, dtype=np.int64)
            dense[keys] = np.fromiter(counts.values(), dtype=np.int64, count=len(counts))
            cache[name] = dense
        return cache[name]


def _counts(ids: np.ndarray, workload: Workload, name: str) -> np.ndarray:
    """Each id's count (0 when absent): by dictionary for a few ids, by search for many."""
    counts = getattr(workload, name)
    if not counts:
        return np.zeros(len(ids), dtype=np.int64)
    if len(ids) <= 256:
        return np.fromiter((counts.get(int(i), 0) for i in ids), dtype=np.int64,
                           count=len(ids))
    dense = workload.dense_counts(name)
    found = np.zeros(len(ids), dtype=np.int64)
    inside = ids < len(dense)
    found[inside] = dense[ids[inside]]
    return found


def rank(arrays: DistrictArrays, task: Task, workload: Workload, now: datetime, limit: int,
         *, overflow: bool = False) -> list[HelperCandidate]:
    """The best ``limit`` eligible volunteers of one district for ``task``, explained."""
    if limit < 1 or len(arrays) == 0:
        return []
    task_limit = task.max_distance_km if task.max_distance_km is not None else math.inf
    if task.location is not None:
        radius = min(task_limit, arrays.reach_km)
        pos = arrays.within(task.location.latitude, task.location.longitude, radius)
    else:
        pos = np.arange(len(arrays), dtype=np.int64)
    if len(pos) == 0:
        return []

    # The gates, cheapest first, on the spatial prefilter's survivors.
    needed_dbs = DBS_RANK[required_dbs_level(task)]
    keep = np.ones(len(pos), dtype=bool)
    if needed_dbs:
        oldest = now.date().toordinal() - DBS_VALID_DAYS
        keep &= (arrays.dbs[pos] >= needed_dbs) & (arrays.dbs_day[pos] >= oldest)
    need_skills = skills_mask(required_skills(task))
    if need_skills:
        keep &= (arrays.skills[pos] & need_skills) == need_skills
    keep &= (arrays.slots[pos] & due_window_mask(now, task.due_at)) != 0
    pos = pos[keep]
    if len(pos) == 0:
        return []
    if task.location is not None:
        dist = haversine_km(task.location.latitude, task.location.longitude,
                            arrays.lat[pos], arrays.lon[pos])
        limit_km = np.minimum(arrays.max_km[pos], task_limit)
        reach = dist <= limit_km
        pos, dist, limit_km = pos[reach], dist[reach], limit_km[reach]
    else:
        dist = limit_km = None
    ids = arrays.ids[pos]
    week = _counts(ids, workload, "this_week")
    cap = arrays.cap[pos]
    under_cap = week < cap
    if workload.excluded:
        under_cap &= ~np.isin(ids, np.fromiter(workload.excluded, dtype=np.int64))
    pos, ids, week, cap = pos[under_cap], ids[under_cap], week[under_cap], cap[under_cap]
    if len(pos) == 0:
        return []
    if dist is not None:
        dist, limit_km = dist[under_cap], limit_km[under_cap]

    # The score, part by part, vectorised over the eligible.
    in_hand = _counts(ids, workload, "in_hand")
    distance_pts = (WEIGHTS["distance"] * np.clip(1.0 - dist / np.maximum(limit_km, 0.1), 0, 1)
                    if dist is not None else np.zeros(len(pos)))
    load_pts = WEIGHTS["load"] / (1.0 + in_hand)
    fairness_pts = WEIGHTS["fairness"] * np.clip(1.0 - week / np.maximum(cap, 1), 0, 1)
    wanted_languages = frozenset(lang.lower() for lang in task.languages)
    if wanted_languages:
        speaks = np.fromiter((bool(arrays.languages[p] & wanted_languages) for p in pos),
                             dtype=bool, count=len(pos))
    else:
        speaks = np.zeros(len(pos), dtype=bool)
    language_pts = WEIGHTS["language"] * speaks
    if workload.helped_person:
        helped = np.isin(ids, np.fromiter(workload.helped_person, dtype=np.int64))
    else:
        helped = np.zeros(len(pos), dtype=bool)
    continuity_pts = WEIGHTS["continuity"] * helped
    total = distance_pts + load_pts + fairness_pts + language_pts + continuity_pts

    take = min(limit, len(pos))
    best = np.argpartition(-total, take - 1)[:take] if take < len(pos) else np.arange(len(pos))
    best = best[np.lexsort((ids[best], -total[best]))]  # ties: the earlier sign-up first
    candidates = []
    for i in best:
        p = pos[i]
        exact = None
        if task.location is not None:
            exact = great_circle((task.location.latitude, task.location.longitude),
                                 (arrays.lat[p], arrays.lon[p])).km
        parts = (
            ScoreComponent("distance", round(float(distance_pts[i]), 2),
                           _distance_reason(exact, float(limit_km[i]) if dist is not None
                                            else None)),
            ScoreComponent("load", round(float(load_pts[i]), 2),
                           _count_reason(int(in_hand[i]), "task", "in hand now")),
            ScoreComponent("fairness", round(float(fairness_pts[i]), 2),
                           f"{_count_reason(int(week[i]), 'task', 'in the last 7 days')} "
                           f"of a weekly limit of {int(cap[i])}"),
            ScoreComponent("language", float(language_pts[i]),
                           _language_reason(wanted_languages, bool(speaks[i]))),
            ScoreComponent("continuity", float(continuity_pts[i]),
                           "Has helped this person before" if helped[i]
                           else "Has not helped this person before"),
        )
        if overflow:
            parts += (ScoreComponent("overflow", 0.0,
                                     "From a neighbouring district: none of the task's own "
                                     "district's volunteers is eligible"),)
        candidates.append(HelperCandidate(
            helper_id=helper_id(int(ids[i])), display_name=arrays.names[p],
            score=round(float(total[i]), 2),
            distance_km=None if exact is None else round(exact, 2),
            breakdown=parts, overflow=overflow, source=SOURCE))
    return candidates


def _distance_reason(km: float | None, limit_km: float | None) -> str:
    if km is None:
        return "The task has no location, so distance was not counted"
    return f"{km:.1f} km away (the most either side travels is {limit_km:.1f} km)"


def _count_reason(n: int, noun: str, tail: str) -> str:
    if n == 0:
        return f"No {noun}s {tail}"
    return f"{n} {noun}{'' if n == 1 else 's'} {tail}"


def _language_reason(wanted: frozenset[str], speaks: bool) -> str:
    if not wanted:
        return "No language was asked for"
    names = ", ".join(sorted(lang.title() for lang in wanted))
    return f"Speaks {names}" if speaks else f"Does not speak {names}"


def helper_id(volunteer_id: int) -> str:
    return f"{SOURCE}-{volunteer_id}"


def volunteer_id_of(helper: str) -> int | None:
    prefix = f"{SOURCE}-"
    number = helper[len(prefix):] if helper.startswith(prefix) else ""
    if not (number.isascii() and number.isdigit()) or len(number) > 12:  # "²" is a digit too
        return None
    return int(number)


def rank_with_overflow(index: VolunteerIndex, task: Task, workload: Workload,
                       now: datetime, limit: int) -> list[HelperCandidate]:
    """Rank in the task's district; if nobody there is eligible, in its neighbours."""
    found = rank(index.district(task.district), task, workload, now, limit)
    if found:
        return found
    district = index.pack.get(task.district)
    overflow: list[HelperCandidate] = []
    for neighbour in (district.neighbours if district else ()):
        overflow.extend(rank(index.district(neighbour), task, workload, now, limit,
                             overflow=True))
    overflow.sort(key=lambda c: (-c.score, c.helper_id))
    return overflow[:limit]


# -- The index kept for the app, refreshed on change -------------------------------------


class VolunteerIndex:
    """Every district's arrays, rebuilt district by district when volunteers change.

    Every change moves a volunteer's ``updated_at`` and ``version``. Each
    refresh reads the volunteers changed in the last CHANGE_WINDOW before the
    newest change it has seen (an indexed range, usually a handful of rows)
    and rebuilds the districts of any whose version it has not seen yet
    (their district now, and the one they left). The window covers changes
    committed late by a slower transaction; a full rebuild every
    REBUILD_SECONDS covers anything else.
    """

    def __init__(self, pack: packs.RegionPack):
        self.pack = pack
        rows = load_outcodes(pack.name).rows.values()
        # The projection's reference: the middle of the region.
        self.ref_latitude = (sum(r.location.latitude for r in rows) / len(rows)
                             if rows else 53.5)
        self.by_district: dict[str, DistrictArrays] = {}
        self.district_of: dict[int, str] = {}
        self.watermark: datetime | None = None  # the newest updated_at seen
        self.seen: dict[int, tuple[int, datetime]] = {}  # id -> (version, updated_at)
        self.fully_built_at: float | None = None
        self.lock = threading.Lock()

    def district(self, code: str) -> DistrictArrays:
        found = self.by_district.get(code)
        return found if found is not None else DistrictArrays([], self.ref_latitude)

    def refresh(self) -> None:
        with self.lock:
            full = (self.fully_built_at is None
                    or time.monotonic() - self.fully_built_at >= REBUILD_SECONDS)
            if full:
                self.watermark = db.session.execute(
                    sa.select(sa.func.max(Volunteer.updated_at))).scalar_one_or_none()
                self.seen = {}
            recent = self._recent()
            if full:
                self._rebuild(None)
                self.fully_built_at = time.monotonic()
            else:
                changed = [r for r in recent if self.seen.get(r.id, (None,))[0] != r.version]
                if changed:
                    districts = {r.district_code for r in changed}
                    districts |= {self.district_of[r.id] for r in changed
                                  if r.id in self.district_of}
                    self._rebuild(districts)
            for r in recent:
                self.seen[r.id] = (r.version, r.updated_at)
                if self.watermark is None or r.updated_at > self.watermark:
                    self.watermark = r.updated_at
            if self.watermark is not None:
                oldest = self.watermark - CHANGE_WINDOW
                self.seen = {k: v for k, v in self.seen.items() if v[1] >= oldest}

    def _recent(self) -> list:
        if self.watermark is None:
            query = sa.select(Volunteer.id, Volunteer.district_code, Volunteer.version,
                              Volunteer.updated_at)
        else:
            query = sa.select(Volunteer.id, Volunteer.district_code, Volunteer.version,
                              Volunteer.updated_at).where(
                Volunteer.updated_at >= self.watermark - CHANGE_WINDOW)
        return db.session.execute(query).all()

    def _rebuild(self, districts: set[str] | None) -> None:
        query = sa.select(
            Volunteer.id, Volunteer.given_name, Volunteer.family_name, Volunteer.district_code,
            Volunteer.latitude, Volunteer.longitude, Volunteer.skills, Volunteer.languages,
            Volunteer.availability, Volunteer.max_travel_km, Volunteer.dbs_level,
            Volunteer.dbs_verified_at, Volunteer.dbs_issue_date, Volunteer.weekly_cap,
        ).where(Volunteer.status == "active")
        if districts is not None:
            query = query.where(Volunteer.district_code.in_(sorted(districts)))
        grouped: dict[str, list[VolunteerRow]] = {code: [] for code in (districts or ())}
        for r in db.session.execute(query):
            grouped.setdefault(r.district_code, []).append(VolunteerRow(
                id=r.id, name=display_name(r.given_name, r.family_name),
                district_code=r.district_code, latitude=r.latitude, longitude=r.longitude,
                skills=tuple(r.skills or ()), languages=tuple(r.languages or ()),
                availability=tuple(r.availability or ()), max_travel_km=r.max_travel_km,
                dbs_level=r.dbs_level, dbs_verified=r.dbs_verified_at is not None,
                dbs_issue_date=r.dbs_issue_date, weekly_cap=r.weekly_cap))
        if districts is None:
            self.by_district = {}
            self.district_of = {}
        for code, rows in grouped.items():
            old = self.by_district.get(code)
            if old is not None:
                for vid in old.ids.tolist():
                    if self.district_of.get(vid) == code:
                        del self.district_of[vid]
            self.by_district[code] = DistrictArrays(rows, self.ref_latitude)
            for row in rows:
                self.district_of[row.id] = code


def row_of(volunteer: Volunteer) -> VolunteerRow:
    """The index's view of one volunteer (used to score a volunteer a coordinator names)."""
    return VolunteerRow(
        id=volunteer.id, name=display_name(volunteer.given_name, volunteer.family_name),
        district_code=volunteer.district_code, latitude=volunteer.latitude,
        longitude=volunteer.longitude, skills=tuple(volunteer.skills or ()),
        languages=tuple(volunteer.languages or ()),
        availability=tuple(volunteer.availability or ()),
        max_travel_km=volunteer.max_travel_km, dbs_level=volunteer.dbs_level,
        dbs_verified=volunteer.dbs_verified_at is not None,
        dbs_issue_date=volunteer.dbs_issue_date, weekly_cap=volunteer.weekly_cap)


def display_name(given_name: str, family_name: str) -> str:
    """First name and initial: enough for a coordinator's list of candidates."""
    initial = f" {family_name[:1].upper()}." if family_name else ""
    return f"{given_name}{initial}"


def current_index() -> VolunteerIndex:
    """The app's index, refreshed from the database if volunteers changed."""
    pack = packs.current_pack()
    key = f"volunteering.index.{pack.name}"
    index = current_app.extensions.get(key)
    if index is None:
        index = current_app.extensions.setdefault(key, VolunteerIndex(pack))
    index.refresh()
    return index


def workload_for(task: Task, districts, now: datetime,
                 excluded: frozenset[int] = frozenset()) -> Workload:
    """Tasks in hand and taken this week for the volunteers of ``districts``, and
    who helped the task's person before."""
    load = district_load(districts, now)
    helped = helpers_of([task.person_id]).get(task.person_id, frozenset())
    return Workload(in_hand=load.in_hand, this_week=load.this_week, helped_person=helped,
                    excluded=excluded)


def district_load(districts, now: datetime) -> Workload:
    """Tasks in hand (assignments and open offers) and taken this week, for the
    volunteers of ``districts``."""
    in_district = sa.select(Volunteer.id).where(Volunteer.district_code.in_(list(districts)))
    week_ago = now - WEEK
    in_hand: dict[int, int] = {}
    this_week: dict[int, int] = {}
    rows = db.session.execute(
        sa.select(Assignment.volunteer_id, Assignment.status, Assignment.assigned_at)
        .where(Assignment.volunteer_id.in_(in_district),
               sa.or_(Assignment.status == "active", Assignment.assigned_at >= week_ago)))
    for vid, status, assigned_at in rows:
        if status == "active":
            in_hand[vid] = in_hand.get(vid, 0) + 1
        if assigned_at >= week_ago and status != "released":
            this_week[vid] = this_week.get(vid, 0) + 1
    for vid, count in db.session.execute(
            sa.select(Offer.volunteer_id, sa.func.count())
            .where(Offer.volunteer_id.in_(in_district), Offer.status == "offered")
            .group_by(Offer.volunteer_id)):
        in_hand[vid] = in_hand.get(vid, 0) + count
    return Workload(in_hand=in_hand, this_week=this_week)


def helpers_of(person_ids) -> dict[int, frozenset[int]]:
    """Person id -> the volunteers who have helped them (an assignment not released)."""
    wanted = {pid for pid in person_ids if pid is not None}
    if not wanted:
        return {}
    helped: dict[int, set[int]] = {}
    for person_id, vid in db.session.execute(
            sa.select(Assignment.person_id, Assignment.volunteer_id)
            .where(Assignment.person_id.in_(wanted), Assignment.status != "released")):
        helped.setdefault(person_id, set()).add(vid)
    return {person_id: frozenset(vids) for person_id, vids in helped.items()}


def find_candidates(task: Task, limit: int, *, now: datetime | None = None,
                    excluded: frozenset[int] = frozenset()) -> list[HelperCandidate]:
    """The ranked, explained, eligible volunteers for ``task`` (overflow if need be)."""
    now = now or utcnow()
    index = current_index()
    district = index.pack.get(task.district)
    districts = {task.district, *(district.neighbours if district else ())}
    workload = workload_for(task, districts, now, excluded)
    return rank_with_overflow(index, task, workload, now, limit)


def why_not_eligible(volunteer: Volunteer, task: Task, workload: Workload,
                     now: datetime) -> list[str]:
    """Every reason this volunteer may not take this task (empty: eligible).

    The same gates as ``rank``, one volunteer at a time, in words: used when a
    coordinator names the volunteer, so no gate can be skipped that way.
    """
    reasons = []
    if volunteer.status != "active":
        reasons.append(f"The volunteer is {volunteer.status}, not active.")
    short = dbs_shortfall(volunteer, task, now.date())
    if short is not None:
        why = (" (regulated activity needs an enhanced check with the adults' barred list)"
               if short.regulated else "")
        reasons.append(f"The task needs a verified {short.needed} DBS check{why}; "
                       f"the volunteer's counts as {short.held}.")
    missing = required_skills(task) - set(volunteer.skills or ())
    if missing:
        reasons.append("The volunteer has not offered: "
                       + ", ".join(sorted(s.replace("_", " ") for s in missing)) + ".")
    if not slots_mask(volunteer.availability or ()) & due_window_mask(now, task.due_at):
        reasons.append("The volunteer is not available before the task is due.")
    if task.location is not None:
        if volunteer.latitude is None or volunteer.longitude is None:
            reasons.append("The volunteer has no location.")
        else:
            km = great_circle((task.location.latitude, task.location.longitude),
                              (volunteer.latitude, volunteer.longitude)).km
            limit_km = min(volunteer.max_travel_km, task.max_distance_km
                           if task.max_distance_km is not None else math.inf)
            if km > limit_km:
                reasons.append(f"The task is {km:.1f} km away; the limit is {limit_km:.1f} km.")
    if workload.this_week.get(volunteer.id, 0) >= volunteer.weekly_cap:
        reasons.append(f"The volunteer has reached their weekly limit of "
                       f"{volunteer.weekly_cap} tasks.")
    if volunteer.id in workload.excluded:
        reasons.append("The volunteer has already been offered this task.")
    return reasons
