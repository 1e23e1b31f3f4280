"""CSV import and export of volunteers.

Import checks every row with the sign-up rules, reports each bad row by its
line number, and inserts the good ones in batches with SQLAlchemy Core (or
none of them, ``all_or_nothing``). Imported volunteers start as *applied*:
vetting and DBS checks are done here, never taken on trust from a file.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TextIO

import sqlalchemy as sa

from hubcore import audit
from hubcore.db import db, utcnow
from hubcore.districts import gazetteer, packs, postcodes
from hubcore.districts.outcodes import load_outcodes
from hubcore.errors import InvalidInput

from . import signup
from .models import DEFAULT_WEEKLY_CAP, Volunteer

COLUMNS = ("given_name", "family_name", "email", "phone", "postcode", "skills", "languages",
           "availability", "max_travel_km", "has_car", "weekly_cap", "consent")
REQUIRED = ("given_name", "postcode", "skills", "availability", "consent")
EXPORT_COLUMNS = ("id", "status", "district", *COLUMNS[:-1], "dbs_level", "dbs_issue_date",
                  "created_at")
YES = {"yes", "y", "true", "1"}
NO = {"no", "n", "false", "0", ""}
BATCH = 5000
MAX_REPORTED = 1000  # rows with problems listed in full; the rest are counted


@dataclass(frozen=True)
class RowProblem:
    line: int
    messages: tuple[str, ...]


@dataclass
class ImportReport:
    imported: int = 0
    rejected: int = 0
    problems: list[RowProblem] = field(default_factory=list)
    by_district: Counter = field(default_factory=Counter)

    @property
    def ok(self) -> bool:
        return self.rejected == 0


def _split(value: str) -> list[str]:
    return [part.strip() for part in (value or "").replace(";", ",").split(",") if part.strip()]


def _row_details(row: dict) -> tuple[dict, list[str]]:
    """The row as sign-up details, and the problems clean_details cannot see."""
    problems = []
    details = {
        "given_name": row.get("given_name", ""), "family_name": row.get("family_name", ""),
        "email": row.get("email") or None, "phone": row.get("phone") or None,
        "postcode": row.get("postcode", ""), "skills": _split(row.get("skills", "")),
        "languages": _split(row.get("languages", "")),
        "availability": _split(row.get("availability", "")),
        "max_travel_km": row.get("max_travel_km") or 5.0,
    }
    for name in ("has_car", "consent"):
        value = (row.get(name) or "").strip().lower()
        if value not in YES | NO:
            problems.append(f"{name}: write yes or no.")
        details[name] = value in YES
    if not details.pop("consent"):
        problems.append("consent: the volunteer's consent to store their details is needed "
                        "(write yes).")
    cap = (row.get("weekly_cap") or "").strip()
    if cap:
        details["weekly_cap"] = int(cap) if cap.isdigit() else -1
    return details, problems


def import_volunteers(handle: TextIO, *, all_or_nothing: bool = False, actor=None,
                      batch_size: int = BATCH) -> ImportReport:
    """Import volunteers from CSV; flush, never commit (the caller decides).

    With ``all_or_nothing`` and any bad row, nothing is inserted: the caller
    must roll back (``report.ok`` is False), which the CLI does.
    """
    reader = csv.DictReader(handle)
    header = [name.strip().lower() for name in reader.fieldnames or ()]
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        raise InvalidInput("The file does not have the columns a volunteer import needs.",
                           fields={"file": [f"The header has no {name} column."
                                            for name in missing]})
    reader.fieldnames = header
    emails, phones = _existing_contacts()
    locate = postcode_locator()
    report = ImportReport()
    batch: list[dict] = []
    now = utcnow()
    for row in reader:
        line = reader.line_num
        details, problems = _row_details(row)
        try:
            clean = signup.clean_details(details, partial=False, locate=locate)
        except InvalidInput as exc:
            problems.extend(f"{name}: {' '.join(msgs)}" for name, msgs in exc.fields.items())
            clean = None
        if clean is not None:
            if clean.get("email") and clean["email"] in emails or \
                    clean.get("phone") and clean["phone"] in phones:
                problems.append("email or phone: this volunteer is already signed up "
                                "(or appears earlier in the file).")
        if problems:
            report.rejected += 1
            if len(report.problems) < MAX_REPORTED:
                report.problems.append(RowProblem(line, tuple(problems)))
            continue
        if clean.get("email"):
            emails.add(clean["email"])
        if clean.get("phone"):
            phones.add(clean["phone"])
        if all_or_nothing and report.rejected:
            continue  # nothing will be inserted: keep checking, stop writing
        batch.append({"weekly_cap": DEFAULT_WEEKLY_CAP, **clean, "status": "applied",
                      "dbs_level": "none",
                      "consent_given_at": now, "created_at": now, "updated_at": now,
                      "version": 1})
        report.by_district[clean["district_code"]] += 1
        if len(batch) >= batch_size:
            report.imported += _insert(batch)
    if batch and not (all_or_nothing and report.rejected):
        report.imported += _insert(batch)
    if all_or_nothing and report.rejected:
        report.imported = 0
        report.by_district.clear()
        return report
    if report.imported:
        audit.record("volunteering.volunteers.imported", "volunteer", actor=actor,
                     summary={"imported": report.imported, "rejected": report.rejected,
                              "by_district": dict(report.by_district)})
    return report


def postcode_locator():
    """``signup.locate_postcode`` for many rows: the same answers, far fewer queries.

    Until the ONS Postcode Directory is imported, the gazetteer places a full
    postcode by its postcode district in the embedded table, so one look-up
    per postcode district answers for all its postcodes.
    """
    directory_empty = db.session.execute(
        sa.select(gazetteer.GazetteerPostcode.postcode).limit(1)).first() is None
    table = load_outcodes(packs.current_pack().name)
    by_outward: dict[str, object] = {}

    @functools.lru_cache(maxsize=65536)
    def locate(raw: str):
        try:
            normal = postcodes.normalise_postcode(raw)
        except InvalidInput as exc:
            return exc
        outward = normal.split(" ", 1)[0]
        if not directory_empty or table.get(outward) is None:
            return signup.locate_postcode(normal)
        if outward not in by_outward:
            by_outward[outward] = signup.locate_postcode(normal)
        found = by_outward[outward]
        return found if isinstance(found, Exception) else dataclasses.replace(found,
                                                                            postcode=normal)

    return locate


def _insert(batch: list[dict]) -> int:
    rows = list(batch)
    batch.clear()
    db.session.execute(sa.insert(Volunteer.__table__), rows)
    return len(rows)


def _existing_contacts() -> tuple[set[str], set[str]]:
    emails, phones = set(), set()
    for email, phone in db.session.execute(sa.select(Volunteer.email, Volunteer.phone)):
        if email:
            emails.add(email)
        if phone:
            phones.add(phone)
    return emails, phones


def export_volunteers(handle: TextIO, districts: Iterable[str] | None, *, actor=None) -> int:
    """Write the volunteers of ``districts`` (None: all) as CSV; return how many."""
    writer = csv.writer(handle)
    writer.writerow(EXPORT_COLUMNS)
    query = sa.select(Volunteer).order_by(Volunteer.id).execution_options(yield_per=2000)
    if districts is not None:
        query = query.where(Volunteer.district_code.in_(list(districts)))
    count = 0
    for v in db.session.execute(query).scalars():
        writer.writerow([v.id, v.status, v.district_code, v.given_name, v.family_name,
                         v.email or "", v.phone or "", v.postcode or "", ";".join(v.skills),
                         ";".join(v.languages), ";".join(v.availability), v.max_travel_km,
                         "yes" if v.has_car else "no", v.weekly_cap, v.dbs_level,
                         v.dbs_issue_date.isoformat() if v.dbs_issue_date else "",
                         v.created_at.isoformat()])
        count += 1
    audit.record("volunteering.volunteers.exported", "volunteer", actor=actor,
                 summary={"count": count, "districts": sorted(districts) if districts else "all"})
    return count
