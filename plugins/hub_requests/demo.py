"""A realistic week of help requests across a region, for ``hubcore demo``.

Requests go through the same intake as real ones (triage, duplicates,
consent, audit); then some move along the lifecycle, as a week of hub work
would. Seeded, so every run makes the same week; skipped if requests exist.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import sqlalchemy as sa

from hubcore.db import db, utcnow
from hubcore.districts import packs
from hubcore.districts.outcodes import load_outcodes

from . import intake, lifecycle
from .models import CIRCUMSTANCES, HelpRequest

REQUESTS_PER_WEEK = 320
ASKS_AGAIN_EVERY = 20  # every 20th request is someone asking again: a duplicate to spot
GIVEN = ["Margaret", "John", "Aisha", "Patricia", "Mohammed", "Susan", "David", "Fatima",
         "Brian", "Joan", "Kevin", "Priya", "Eileen", "Tariq", "Doreen", "Gary", "Zainab",
         "Irene", "Wayne", "Maureen", "Bilal", "Sandra", "Derek", "Agnieszka", "Ronald",
         "Hannah", "Yusuf", "Barbara", "Stephen", "Grace"]
FAMILY = ["Smith", "Jones", "Khan", "Taylor", "Hussain", "Brown", "Ahmed", "Wilson",
          "Patel", "Walsh", "Evans", "Begum", "Roberts", "Kowalski", "Thompson", "Ali",
          "Wright", "O'Brien", "Hughes", "Iqbal", "Clarke", "Nowak", "Green", "Shah"]
# How often each need and circumstance comes up in a hub's week (weights).
NEED_WEIGHTS = {"food": 30, "medication": 18, "essential_shopping": 20, "befriending": 10,
                "practical_task": 8, "advice": 6, "financial_hardship": 10, "other": 3}
CIRCUMSTANCE_CHANCE = {"shielding": 0.15, "lives_alone": 0.3, "no_one_else": 0.15,
                       "disability": 0.12, "mental_health_crisis": 0.02, "aged_70_plus": 0.25,
                       "children_in_household": 0.15, "no_food": 0.08}
URGENCY_WEIGHTS = {"today": 20, "few_days": 40, "this_week": 30, "not_urgent": 10}
DESCRIPTIONS = {
    "food": "Cupboards are nearly empty and I cannot get to the shops.",
    "medication": "My prescription is ready at the chemist but I cannot collect it.",
    "essential_shopping": "I need someone to pick up my weekly shopping.",
    "befriending": "I live on my own and would like someone to ring me for a chat.",
    "practical_task": "I need help putting the bins out and changing a light bulb.",
    "advice": "I do not know what benefits I can get.",
    "financial_hardship": "My money has run out before payday and the meter is on emergency.",
    "other": "I am not sure who to ask, please call me.",
}


def seed(region: str) -> int:
    """Create a week of requests in ``region``; return how many were made."""
    if db.session.execute(sa.select(HelpRequest.id).limit(1)).first() is not None:
        return 0
    pack = packs.load_pack(region)
    outcodes = load_outcodes(pack.name)
    rng = random.Random(f"hubcore-demo-{region}")
    now = utcnow()
    made = 0
    earlier: list[tuple[dict, list[str], datetime]] = []
    for n in range(REQUESTS_PER_WEEK):
        district = rng.choice(pack.districts)
        places = outcodes.for_district(district.code)
        if not places:
            continue
        outward = rng.choice(places).code
        postcode = f"{outward} {rng.randint(1, 9)}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}" \
                   f"{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}"
        needs = sorted(set(rng.choices(list(NEED_WEIGHTS), weights=NEED_WEIGHTS.values(),
                                       k=rng.choice((1, 1, 2, 3)))))
        circumstances = [c for c in CIRCUMSTANCES if rng.random() < CIRCUMSTANCE_CHANCE[c]]
        person = {"given_name": rng.choice(GIVEN), "family_name": rng.choice(FAMILY),
                  "phone": f"07700 9{n:05d}", "email": "", "postcode": postcode, "address": ""}
        created = now - timedelta(hours=rng.uniform(0, 7 * 24))
        if earlier and n % ASKS_AGAIN_EVERY == ASKS_AGAIN_EVERY - 1:
            person, first_needs, first_created = rng.choice(earlier)
            needs = sorted({*needs, first_needs[0]})
            created = first_created + (now - first_created) * rng.uniform(0.2, 1.0)
        earlier.append((person, needs, created))
        found = intake.submit_request(
            person=person, needs=needs, circumstances=circumstances,
            urgency=rng.choices(list(URGENCY_WEIGHTS), weights=URGENCY_WEIGHTS.values())[0],
            description=DESCRIPTIONS[needs[0]], consent=True,
            channel=rng.choice(("web", "web", "web", "api")),
            recurrence="weekly" if "essential_shopping" in needs and rng.random() < 0.3
            else "none", now=created)
        _advance(found, rng, created, now)
        made += 1
    return made


def _advance(found: HelpRequest, rng: random.Random, created, now) -> None:
    """Older requests have moved on, as they would have in a real week."""
    age_hours = (now - created).total_seconds() / 3600
    if age_hours < 6:
        return
    steps = {"triaged": 0.9, "assigned": 0.75, "in_progress": 0.6, "completed": 0.7}
    at = created + timedelta(hours=1)
    for status, chance in steps.items():
        if rng.random() > chance or at >= now:
            return
        if status == "triaged" and rng.random() < 0.05:
            lifecycle.transition(found, "closed", actor=None, now=at,
                                 reason="Referred to Citizens Advice, who will call back")
            return
        if status == "assigned":
            found.helper_name = "Demo volunteer"
        lifecycle.transition(found, status, actor=None, now=at)
        at += timedelta(hours=rng.uniform(2, 30))
