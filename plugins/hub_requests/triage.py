"""Vulnerability triage: points from rules held as data, a priority, a due time, a reason.

The rules live in ``rules/triage.json`` (versioned; the version used is kept
with each request) and are validated when loaded, so a bad edit stops the
app at start rather than mis-triaging residents. Waiting raises a request's
*effective* score, computed when the queue is read, so nothing starves.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from hubcore.errors import InvalidInput

from .models import CIRCUMSTANCES, NEEDS, PRIORITIES, URGENCIES

RULES_PATH = Path(__file__).with_name("rules") / "triage.json"
DBS_LEVELS = ("none", "basic", "enhanced")


class RulesError(ValueError):
    """The triage rules file is not valid; the message names what is wrong."""


@dataclass(frozen=True)
class NeedRule:
    points: int
    dbs_level: str
    regulated_activity: bool


@dataclass(frozen=True)
class Band:
    priority: str
    min_score: int
    due_hours: int
    label: str


@dataclass(frozen=True)
class Floor:
    circumstances: tuple[str, ...]
    priority: str
    reason: str


@dataclass(frozen=True)
class TriageRules:
    version: str
    needs: dict[str, NeedRule]
    circumstances: dict[str, int]
    urgency: dict[str, int]
    bands: tuple[Band, ...]  # highest priority first
    floors: tuple[Floor, ...]
    waiting_points_per_hour: float
    waiting_max_points: float
    escalated_points: int

    def band(self, priority: str) -> Band:
        return next(b for b in self.bands if b.priority == priority)


@dataclass(frozen=True)
class Triage:
    """What the rules say about one request."""

    priority: str
    score: int
    due_at: datetime
    reason: str
    rules_version: str


def parse_rules(raw: dict) -> TriageRules:
    """Build rules from their JSON form, refusing anything incomplete or unknown."""
    try:
        version = str(raw["version"]).strip()
        needs = {code: NeedRule(int(rule["points"]), str(rule["dbs_level"]),
                                bool(rule["regulated_activity"]))
                 for code, rule in raw["needs"].items()}
        circumstances = {code: int(points) for code, points in raw["circumstances"].items()}
        urgency = {code: int(points) for code, points in raw["urgency"].items()}
        bands = tuple(Band(b["priority"], int(b["min_score"]), int(b["due_hours"]),
                           str(b["label"])) for b in raw["bands"])
        floors = tuple(Floor(tuple(f["circumstances"]), f["priority"], str(f["reason"]))
                       for f in raw.get("floors", ()))
        waiting = raw["waiting"]
        rules = TriageRules(version, needs, circumstances, urgency, bands, floors,
                            float(waiting["points_per_hour"]), float(waiting["max_points"]),
                            int(raw.get("escalated_points", 0)))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise RulesError(f"triage rules are malformed: {exc!r}") from None
    _check(rules)
    return rules


def _check(rules: TriageRules) -> None:
    if not rules.version:
        raise RulesError("triage rules need a version")
    for name, given, known in (("needs", rules.needs, NEEDS),
                               ("circumstances", rules.circumstances, CIRCUMSTANCES),
                               ("urgency", rules.urgency, URGENCIES)):
        if set(given) != set(known):
            missing, extra = sorted(set(known) - set(given)), sorted(set(given) - set(known))
            raise RulesError(f"triage rules {name}: missing {missing}, unknown {extra}")
    for code, rule in rules.needs.items():
        if rule.dbs_level not in DBS_LEVELS:
            raise RulesError(f"need {code}: dbs_level must be one of {DBS_LEVELS}")
    if tuple(b.priority for b in rules.bands) != PRIORITIES:
        raise RulesError(f"bands must be {PRIORITIES} in that order")
    scores = [b.min_score for b in rules.bands]
    if scores != sorted(scores, reverse=True) or scores[-1] != 0:
        raise RulesError("band scores must fall from P1 to P4, and P4 must start at 0")
    hours = [b.due_hours for b in rules.bands]
    if hours != sorted(hours) or hours[0] <= 0:
        raise RulesError("due hours must rise from P1 to P4 and be positive")
    for floor in rules.floors:
        if floor.priority not in PRIORITIES or not floor.circumstances:
            raise RulesError(f"floor {floor.reason!r}: name circumstances and a priority")
        unknown = set(floor.circumstances) - set(CIRCUMSTANCES)
        if unknown:
            raise RulesError(f"floor {floor.reason!r}: unknown circumstances {sorted(unknown)}")
    if rules.waiting_points_per_hour < 0 or rules.waiting_max_points < 0:
        raise RulesError("waiting points must not be negative")


def load_rules(path: Path = RULES_PATH) -> TriageRules:
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise RulesError(f"cannot read triage rules {path}: {exc}") from None
    return parse_rules(raw)


@functools.cache
def current_rules() -> TriageRules:
    """The shipped rules, loaded and validated once per process."""
    return load_rules()


def score_request(needs, circumstances, urgency: str, *, created_at: datetime,
                  rules: TriageRules | None = None) -> Triage:
    """Score a request: points add up to a band, a floor may raise it; explain why."""
    rules = rules or current_rules()
    problems: dict[str, list[str]] = {}
    if not needs or any(n not in rules.needs for n in needs):
        problems["needs"] = ["Choose at least one kind of help from the list."]
    if any(c not in rules.circumstances for c in circumstances):
        problems["circumstances"] = ["Choose circumstances from the list."]
    if urgency not in rules.urgency:
        problems["urgency"] = ["Choose how soon help is needed."]
    if problems:
        raise InvalidInput("Check what help is needed.", fields=problems)

    factors = [(rules.needs[n].points, NEEDS[n].lower()) for n in dict.fromkeys(needs)]
    factors += [(rules.circumstances[c], CIRCUMSTANCES[c].lower())
                for c in dict.fromkeys(circumstances)]
    factors.append((rules.urgency[urgency], f"asked for help {URGENCIES[urgency].lower()}"))
    score = sum(points for points, _ in factors)

    band = next(b for b in rules.bands if score >= b.min_score)
    floor_reason = None
    present = set(circumstances)
    for floor in rules.floors:
        if set(floor.circumstances) <= present and floor.priority < band.priority:
            band, floor_reason = rules.band(floor.priority), floor.reason
    top = [words for points, words in sorted(factors, key=lambda f: -f[0]) if points > 0][:4]
    reason = f"{band.priority} ({band.label}): " + ", ".join(top or ["no urgent factors"])
    if floor_reason:
        reason += f"; {floor_reason}"
    return Triage(priority=band.priority, score=score,
                  due_at=created_at + timedelta(hours=band.due_hours),
                  reason=(reason + f". Score {score}.")[:500], rules_version=rules.version)


def due_at_for(priority: str, created_at: datetime, rules: TriageRules | None = None) -> datetime:
    """When a request of ``priority`` made at ``created_at`` is due."""
    rules = rules or current_rules()
    return created_at + timedelta(hours=rules.band(priority).due_hours)


def waiting_points(created_at: datetime, now: datetime, rules: TriageRules | None = None) -> float:
    """Points a request has earned by waiting, up to the rules' cap."""
    rules = rules or current_rules()
    hours = max(0.0, (now - created_at).total_seconds() / 3600)
    return min(rules.waiting_max_points, hours * rules.waiting_points_per_hour)


def effective_score(score: int, created_at: datetime, now: datetime, *, escalated: bool = False,
                    rules: TriageRules | None = None) -> float:
    """The score the queue orders by: triage score, plus waiting, plus escalation."""
    rules = rules or current_rules()
    bonus = rules.escalated_points if escalated else 0
    return round(score + waiting_points(created_at, now, rules) + bonus, 2)


def helper_requirements(needs, rules: TriageRules | None = None) -> tuple[str, bool]:
    """The DBS level and whether regulated activity is involved, for a set of needs."""
    rules = rules or current_rules()
    known = [rules.needs[n] for n in needs if n in rules.needs]
    level = max((r.dbs_level for r in known), key=DBS_LEVELS.index, default="none")
    return level, any(r.regulated_activity for r in known)
