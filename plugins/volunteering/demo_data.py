"""Demo volunteers: a few thousand across the region, at realistic postcodes.

Each is placed in a postcode district of the region pack's embedded table
(hubcore.districts.outcodes), a little way from its centroid, with a full
postcode of that district. Seeded, so every run makes the same people.
"""

from __future__ import annotations

import math
import random
from datetime import timedelta

import sqlalchemy as sa

from hubcore import audit
from hubcore.db import db, utcnow
from hubcore.districts.outcodes import load_outcodes
from hubcore.identity import accounts

from .models import SKILLS, SLOTS, Volunteer

DEMO_DOMAIN = "volunteers.demo.hubcore.org.uk"
PER_OUTCODE = 40  # about 3,500 volunteers for Greater Manchester
GIVEN = ("Amira", "Ben", "Chloe", "Dev", "Ewa", "Femi", "Grace", "Hassan", "Isla", "Jack",
         "Kasia", "Liam", "Maya", "Noah", "Olu", "Priya", "Qasim", "Rosa", "Sam", "Tariq",
         "Una", "Vik", "Wen", "Yusuf", "Zara")
FAMILY = ("Ahmed", "Brown", "Chen", "Davies", "Evans", "Fernandez", "Green", "Hughes",
          "Iqbal", "Jones", "Khan", "Lewis", "Murphy", "Nowak", "Okafor", "Patel", "Roberts",
          "Smith", "Taylor", "Walker", "Wright", "Young")
LANGUAGES = ("Urdu", "Polish", "Punjabi", "Arabic", "Bengali", "Somali", "Cantonese")
LETTERS = "ABDEFGHJLNPQRSTUWXYZ"  # the letters a postcode's inward code may use


def seed(region: str) -> int:
    """Create the demo volunteers unless they exist; return how many were made."""
    exists = db.session.execute(sa.select(Volunteer.id).where(
        Volunteer.email.like(f"%@{DEMO_DOMAIN}")).limit(1)).first()
    if exists:
        return 0
    rnd = random.Random(2020)
    now = utcnow()
    rows = []
    n = 0
    for outcode in sorted(load_outcodes(region).rows.values(), key=lambda o: o.code):
        for _ in range(PER_OUTCODE):
            n += 1
            # Up to ~1.5 km from the postcode district's centroid.
            distance, bearing = rnd.random() * 1.5, rnd.random() * 2 * math.pi
            lat = outcode.location.latitude + distance * math.cos(bearing) / 111.0
            lon = outcode.location.longitude + distance * math.sin(bearing) / (
                111.0 * math.cos(math.radians(outcode.location.latitude)))
            postcode = f"{outcode.code} {rnd.randint(1, 9)}{rnd.choice(LETTERS)}{rnd.choice(LETTERS)}"
            dbs = rnd.choices(("none", "basic", "enhanced"), (50, 20, 30))[0]
            issued = (now - timedelta(days=rnd.randint(10, 1000))).date()
            rows.append({
                "given_name": rnd.choice(GIVEN), "family_name": rnd.choice(FAMILY),
                "email": f"volunteer{n}@{DEMO_DOMAIN}", "phone": None, "postcode": postcode,
                "district_code": outcode.district_code, "latitude": round(lat, 5),
                "longitude": round(lon, 5),
                "skills": sorted(rnd.sample(SKILLS[:-1], rnd.randint(1, 4))),
                "languages": rnd.sample(LANGUAGES, 1) if rnd.random() < 0.2 else [],
                "availability": sorted(rnd.sample(SLOTS, rnd.randint(3, 12)), key=SLOTS.index),
                "max_travel_km": rnd.choice((2.0, 3.0, 5.0, 8.0, 10.0)),
                "has_car": rnd.random() < 0.4,
                "dbs_level": dbs,
                "dbs_certificate_number": f"{rnd.randint(0, 10**12 - 1):012d}" if dbs != "none" else None,
                "dbs_issue_date": issued if dbs != "none" else None,
                "dbs_verified_at": now if dbs != "none" else None,
                "status": rnd.choices(("active", "applied", "paused", "left"), (80, 10, 5, 5))[0],
                "weekly_cap": rnd.choice((2, 3, 3, 4, 5)), "consent_given_at": now,
                "created_at": now, "updated_at": now, "version": 1,
            })
    db.session.execute(sa.insert(Volunteer), rows)
    _link_demo_volunteer_account(region, now)
    audit.record("volunteering.demo.seeded", "volunteer", summary={"volunteers": len(rows)})
    return len(rows)


def _link_demo_volunteer_account(region: str, now) -> None:
    """Give the core demo's volunteer account a volunteer record, so My tasks has an owner."""
    from hubcore.demo import DEMO_DOMAIN as CORE_DOMAIN

    account = accounts.find_account_by_email(f"volunteer@{CORE_DOMAIN}")
    if account is None:
        return
    outcode = sorted(load_outcodes(region).rows.values(), key=lambda o: o.code)[0]
    db.session.add(Volunteer(
        given_name="Val", family_name="Volunteer", email=account.email,
        postcode=f"{outcode.code} 1AB", district_code=outcode.district_code,
        latitude=outcode.location.latitude, longitude=outcode.location.longitude,
        skills=list(SKILLS[:-1]), languages=[], availability=list(SLOTS), max_travel_km=10.0,
        has_car=True, dbs_level="enhanced", dbs_certificate_number="001234567890",
        dbs_issue_date=(now - timedelta(days=60)).date(), dbs_verified_at=now, status="active",
        weekly_cap=5, account_id=account.id, consent_given_at=now))
    db.session.flush()
