"""The CSV import's quick path: the same answers as the sign-up rules, the same rows stored.

The import checks most rows without calling ``signup.clean_details`` per row
and writes them with the driver (executemany on SQLite, COPY on PostgreSQL).
These tests prove that what it passes and stores is what the sign-up rules
and a plain SQLAlchemy Core insert would give.
"""

from __future__ import annotations

import csv
import io
import random

import sqlalchemy as sa

from hubcore.db import utcnow
from plugins.volunteering import matching, signup, vetting, volunteer_csv
from plugins.volunteering.models import DEFAULT_WEEKLY_CAP, Volunteer

from .conftest import BOLTON

HEADER = list(volunteer_csv.COLUMNS)
POSTCODES = ("BL1 1AA", "bl2 2ab", " M1 1AE ", "WN1 2XY", "M6 5PQ", "SW1A 1AA", "M1", "BL1",
             "", "ZZ9 9ZZ", "M99 9ZZ", "not one", "BL11AA", "OL1 1AA")
NAMES = ("Ann", " Bo ", "", "   ", "Seán", "x" * 100, "x" * 101, "O'Brien", "Tab\there",
         "Back\\slash", "Line\nbreak", "Zoë \"Z\"")
EMAILS = ("ann@example.org", " ANN@Example.ORG ", "", "not-an-email", "a@b", "x@y.z")
PHONES = ("07700 900123", "+44 7700 900124", "", "12", "0161 496 0000", "+1 202 555 0143",
          "0800 FLOWERS", "(01632) 960 001")
SKILLS = ("driving", "shopping;driving", "befriending, admin", "", "flying", "driving;;",
          "Driving", "languages", " shopping ; dog_walking ")
SLOTS = ("mon_morning", "sat_evening;sun_evening", "", "someday", "tue_morning, tue_morning",
         "mon_morning;fri_afternoon;wed_evening", "MON_MORNING")
LANGUAGES = ("", "Urdu", "urdu;polish", "x" * 41, ";".join(["a"] * 21), " cantonese , ")
TRAVEL = ("", "5", "0.5", "50", "50.1", "0.4", "ten", "nan", "inf", " 3 ", "1e1")
YES_NO = ("yes", "no", "Y", "n", "", "maybe", " TRUE ", "0")
CAPS = ("", "3", "0", "21", "20", "x", "-1", " 4 ", "²")


def random_rows(count: int, seed: int) -> list[list[str]]:
    rnd = random.Random(seed)
    rows = []
    for i in range(count):
        good = rnd.random() < 0.5  # half plainly good rows, half anything at all
        rows.append([
            rnd.choice(NAMES[:2] if good else NAMES) + str(i),
            rnd.choice(NAMES[:2] if good else NAMES),
            f"v{i}@example.org" if good else rnd.choice(EMAILS),
            f"07700 {900000 + i}" if good else rnd.choice(PHONES),
            rnd.choice(POSTCODES[:5] if good else POSTCODES),
            rnd.choice(SKILLS[:3] if good else SKILLS),
            rnd.choice(LANGUAGES[:3] if good else LANGUAGES),
            rnd.choice(SLOTS[:2] if good else SLOTS),
            rnd.choice(TRAVEL[:4] if good else TRAVEL),
            rnd.choice(YES_NO[:2] if good else YES_NO),
            rnd.choice(CAPS[:2] if good else CAPS),
            "yes" if good else rnd.choice(YES_NO),
        ])
    return rows


def as_csv(rows: list[list[str]], header=HEADER) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def test_quick_checks_pass_only_what_the_sign_up_rules_pass_with_the_same_values(app, db):
    checker = volunteer_csv._RowChecker(HEADER, volunteer_csv.postcode_locator(),
                                        volunteer_csv._Encoder(utcnow()))
    quick_passed = full_passed = 0
    for row in random_rows(3000, seed=7):
        cells = [*row, ""]
        quick = checker.quick(cells)
        full, problems = checker.in_full(cells)
        assert (full is None) == bool(problems), row
        if quick is not None:
            quick_passed += 1
            assert quick == full, row
        full_passed += full is not None
    # Most good rows take the quick path; the rest are still judged by the rules.
    assert quick_passed > 1000 and full_passed >= quick_passed


def test_import_reports_each_bad_row_as_the_sign_up_rules_do(app, db):
    rows = random_rows(400, seed=11)
    report = volunteer_csv.import_volunteers(io.StringIO(as_csv(rows)), batch_size=7)
    db.session.commit()
    expected_bad = {}
    emails, phones = set(), set()
    for line, row in enumerate(rows, start=2):
        details, problems = volunteer_csv._row_details(dict(zip(HEADER, row)))
        try:
            clean = signup.clean_details(details, partial=False)
        except Exception as exc:  # noqa: BLE001 - InvalidInput, named by its fields
            problems += [f"{name}: {' '.join(msgs)}" for name, msgs in exc.fields.items()]
            clean = None
        if clean and (clean["email"] and clean["email"] in emails
                      or clean["phone"] and clean["phone"] in phones):
            problems.append("email or phone: this volunteer is already signed up "
                            "(or appears earlier in the file).")
        if problems:
            expected_bad[line] = tuple(problems)
        else:
            emails.add(clean["email"])
            phones.add(clean["phone"])
    # Names with a line break take two lines of the file: compare in order.
    assert [p.messages for p in report.problems] == list(expected_bad.values())
    assert report.rejected == len(expected_bad)
    assert report.imported == len(rows) - len(expected_bad) == count(db)


def count(db) -> int:
    return db.session.execute(sa.select(sa.func.count()).select_from(Volunteer)).scalar_one()


STORED = ", ".join(f"CAST({name} AS TEXT)" for name in volunteer_csv.INSERTED)


def stored_rows(db) -> list[tuple]:
    return [tuple(r) for r in db.session.execute(sa.text(
        f"SELECT {STORED} FROM volunteering_volunteers ORDER BY email")).all()]


def test_import_stores_exactly_what_a_core_insert_of_the_checked_rows_stores(app, db):
    rows = [row for row in random_rows(300, seed=3) if row[-1] == "yes"]
    # A name may not hold a tab (hubcore.inputs: one line); languages still carry one
    # through COPY's escaping.
    rows.append(["Slash\\here", "Back\\slash \"q\"", "odd@example.org", "", "M1 1AE",
                 "driving", "Ur\\du;Po\tlish", "mon_morning", "7.25", "yes", "", "yes"])
    report = volunteer_csv.import_volunteers(io.StringIO(as_csv(rows)), batch_size=50)
    db.session.commit()
    assert report.imported > 100
    imported = stored_rows(db)
    now = db.session.execute(sa.select(Volunteer.created_at).limit(1)).scalar_one()

    # The same rows, checked by the sign-up rules and inserted with plain Core.
    db.session.execute(sa.delete(Volunteer))
    seen, plain = set(), []
    for row in rows:
        details, problems = volunteer_csv._row_details(dict(zip(HEADER, row)))
        try:
            clean = signup.clean_details(details, partial=False)
        except Exception:  # noqa: BLE001 - a bad row: not imported either
            continue
        key = (clean["email"], clean["phone"])
        if problems or seen & {("e", key[0]), ("p", key[1])} - {("e", None), ("p", None)}:
            continue
        seen |= {("e", key[0]), ("p", key[1])}
        plain.append({"weekly_cap": DEFAULT_WEEKLY_CAP, **clean, "status": "applied",
                      "dbs_level": "none", "consent_given_at": now, "created_at": now,
                      "updated_at": now, "version": 1})
    db.session.execute(sa.insert(Volunteer.__table__), plain)
    db.session.commit()
    assert stored_rows(db) == imported
    odd = db.session.execute(sa.select(Volunteer).where(Volunteer.email == "odd@example.org")
                             ).scalar_one()
    assert (odd.given_name, odd.family_name) == ("Slash\\here", "Back\\slash \"q\"")
    assert odd.languages == ["Po\tLish", "Ur\\Du"] and odd.max_travel_km == 7.25


def test_imported_volunteers_count_as_changes_for_the_matching_index(app, db, admin):
    index = matching.current_index()
    text = as_csv([[f"Imp{i}", "Ort", f"imp{i}@example.org", "", "BL1 1AA", "shopping", "",
                    "mon_morning", "5", "no", "", "yes"] for i in range(30)])
    report = volunteer_csv.import_volunteers(io.StringIO(text))
    db.session.commit()
    assert report.imported == 30
    index = matching.current_index()
    imported = db.session.execute(sa.select(Volunteer.id)).scalars().all()
    assert set(imported) <= set(index.seen)  # seen by the refresh, by updated_at
    assert not set(imported) & set(index.district(BOLTON).ids.tolist())  # applied, not active
    vetting.change_status(db.session.get(Volunteer, imported[0]), "active",
                          actor=admin.account)
    db.session.commit()
    assert imported[0] in matching.current_index().district(BOLTON).ids.tolist()


def test_a_file_with_a_bad_row_late_imports_nothing_all_or_nothing(app, db):
    rows = [[f"Ok{i}", "", f"ok{i}@example.org", "", postcode, "admin", "", "sun_evening",
             "", "yes", "", "yes"]
            for i, postcode in enumerate(["BL1 1AA", "M1 1AE", "WN1 2XY", "BL2 2AB"] * 30)]
    rows.insert(100, ["Bad", "", "bad@example.org", "", "SW1A 1AA", "admin", "",
                      "sun_evening", "", "yes", "", "yes"])
    report = volunteer_csv.import_volunteers(io.StringIO(as_csv(rows)), all_or_nothing=True,
                                             batch_size=10)
    assert report.imported == 0 and report.rejected == 1
    assert report.problems[0].line == 102
    db.session.rollback()
    assert count(db) == 0


def test_columns_the_file_lacks_and_ragged_rows_read_as_empty_cells(app, db):
    header = ["Postcode", "given_name", "skills", "availability", "consent", "email", "extra"]
    text = as_csv([["BL1 1AA", "Ann", "admin", "mon_morning", "yes", "a@example.org", "x"],
                   [],
                   ["BL1 1AA", "Bo", "admin", "mon_morning", "yes", "b@example.org", "x", "y"],
                   ["BL1 1AA", "Cy", "admin", "mon_morning", "yes"]], header)
    report = volunteer_csv.import_volunteers(io.StringIO(text))
    assert report.imported == 2
    assert [(p.line, p.messages[0].split(":")[0]) for p in report.problems] == [(5, "email")]
    db.session.commit()
    ann = db.session.execute(sa.select(Volunteer).where(Volunteer.given_name == "Ann")
                             ).scalar_one()
    assert (ann.family_name, ann.phone, ann.max_travel_km, ann.has_car, ann.weekly_cap) == (
        "", None, 5.0, False, DEFAULT_WEEKLY_CAP)


def test_with_a_postcode_directory_each_postcode_is_placed_by_it(app, db):
    """The directory answers per postcode (a query each, between rows being written)."""
    from hubcore.districts import gazetteer

    for i in range(60):
        db.session.add(gazetteer.GazetteerPostcode(
            postcode=f"BL1 {i % 9 + 1}A{'BDEFGHJ'[i % 7]}", latitude=53.5 + i / 1000,
            longitude=-2.4, district_code=BOLTON))
    db.session.flush()
    listed = db.session.execute(sa.select(gazetteer.GazetteerPostcode.postcode)).scalars().all()
    rows = [[f"Dir{i}", "", f"dir{i}@example.org", "", postcode.lower(), "admin", "",
             "sun_evening", "", "yes", "", "yes"]
            for i, postcode in enumerate([*sorted(listed), "BL1 1ZZ"])]
    report = volunteer_csv.import_volunteers(io.StringIO(as_csv(rows)), batch_size=4)
    db.session.commit()
    assert report.imported == len(listed) + 1
    for v in db.session.execute(sa.select(Volunteer)).scalars():
        place = gazetteer.locate(v.postcode)
        assert (v.latitude, v.longitude, v.district_code) == (
            place.latitude, place.longitude, place.district_code)
    assert len({v.latitude for v in db.session.execute(sa.select(Volunteer)).scalars()}) > 50
