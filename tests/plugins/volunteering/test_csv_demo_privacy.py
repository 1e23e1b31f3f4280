"""CSV import and export, demo data, subject access, erasure and retention."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import sqlalchemy as sa
from click.testing import CliRunner
from flask.cli import ScriptInfo

import hubcore.cli
from hubcore.audit import verify_chain
from hubcore.db import utcnow
from plugins.volunteering import demo_data, offers, privacy, volunteer_csv
from plugins.volunteering.models import Assignment, Offer, Volunteer

from .conftest import BOLTON, a_task

HEADER = ("given_name,family_name,email,phone,postcode,skills,languages,availability,"
          "max_travel_km,has_car,weekly_cap,consent\n")
GOOD_1 = "Ann,Lee,ann@example.org,,BL1 1AA,befriending;shopping,,mon_morning,5,yes,3,yes\n"
GOOD_2 = "Bo,Ng,,07700 900321,M1 1AE,driving,Cantonese,sat_evening;sun_evening,10,no,,yes\n"
BAD_POSTCODE = "Cy,Ray,cy@example.org,,SW1A 1AA,befriending,,mon_morning,5,no,3,yes\n"
BAD_MANY = "Di,,not-email,,BL1 1AA,flying,,someday,500,maybe,3,no\n"
DUPLICATE = "Ann,Again,ANN@example.org,,BL2 1AA,admin,,tue_morning,5,no,3,yes\n"


def count(db) -> int:
    return db.session.execute(sa.select(sa.func.count()).select_from(Volunteer)).scalar_one()


def run(app, *args):
    return CliRunner().invoke(hubcore.cli.main, list(args),
                              obj=ScriptInfo(create_app=lambda: app))


def test_import_reports_bad_rows_by_line_and_imports_the_good_ones(app, db):
    text = HEADER + GOOD_1 + BAD_POSTCODE + GOOD_2 + BAD_MANY + DUPLICATE
    report = volunteer_csv.import_volunteers(io.StringIO(text), batch_size=1)
    db.session.commit()
    assert report.imported == 2 and report.rejected == 3
    lines = {p.line: " ".join(p.messages) for p in report.problems}
    assert set(lines) == {3, 5, 6}
    assert "postcode" in lines[3]
    for field in ("email", "skills", "availability", "max_travel_km", "has_car", "consent"):
        assert field in lines[5]
    assert "already signed up" in lines[6]
    ann = db.session.execute(sa.select(Volunteer).where(Volunteer.email == "ann@example.org")
                             ).scalar_one()
    assert ann.status == "applied" and ann.district_code == BOLTON
    assert ann.skills == ["befriending", "shopping"] and ann.has_car
    assert count(db) == 2


def test_import_all_or_nothing_imports_nothing_when_a_row_is_bad(app, db, tmp_path):
    path = tmp_path / "volunteers.csv"
    path.write_text(HEADER + GOOD_1 + GOOD_2 + BAD_POSTCODE, encoding="utf-8")
    result = run(app, "import", "volunteers", str(path), "--all-or-nothing")
    assert result.exit_code == 1
    assert "line 4:" in result.output and "Nothing imported" in result.output
    db.session.rollback()
    assert count(db) == 0


def test_import_command_imports_good_rows_and_names_the_bad(app, db, tmp_path):
    path = tmp_path / "volunteers.csv"
    path.write_text(HEADER + GOOD_1 + BAD_POSTCODE + GOOD_2, encoding="utf-8")
    result = run(app, "import", "volunteers", str(path))
    assert "line 3:" in result.output and "Imported 2 volunteers" in result.output
    assert result.exit_code == 1  # some rows were bad
    db.session.rollback()
    assert count(db) == 2
    ok = tmp_path / "ok.csv"
    ok.write_text(HEADER + "Eve,Oak,eve@example.org,,BL3 1AA,admin,,fri_morning,5,no,,yes\n",
                  encoding="utf-8")
    assert run(app, "import", "volunteers", str(ok)).exit_code == 0


def test_import_refuses_a_file_without_the_needed_columns(app, db, tmp_path):
    path = tmp_path / "wrong.csv"
    path.write_text("name,email\nAnn,ann@example.org\n", encoding="utf-8")
    result = run(app, "import", "volunteers", str(path))
    assert result.exit_code == 1 and "no postcode column" in result.output


def test_export_writes_the_districts_volunteers_and_reimports(app, db, tmp_path):
    volunteer_csv.import_volunteers(io.StringIO(HEADER + GOOD_1 + GOOD_2))
    db.session.commit()
    out = tmp_path / "out.csv"
    result = run(app, "export", "volunteers", "--district", BOLTON, "-o", str(out))
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [r["email"] for r in rows] == ["ann@example.org"]
    assert rows[0]["skills"] == "befriending;shopping"


def test_demo_creates_thousands_of_volunteers_once(app, db):
    from hubcore.districts import packs

    made = demo_data.seed("greater_manchester")
    db.session.commit()
    assert made > 3000
    assert demo_data.seed("greater_manchester") == 0
    districts = set(db.session.execute(sa.select(Volunteer.district_code).distinct()).scalars())
    assert districts == set(packs.load_pack("greater_manchester").codes)
    postcodes = db.session.execute(sa.select(Volunteer.postcode).limit(50)).scalars().all()
    from hubcore.districts.postcodes import is_valid_postcode

    assert all(is_valid_postcode(p) for p in postcodes)


# -- Subject access, erasure, retention ----------------------------------------------------------


def test_subject_access_and_erasure_cover_a_volunteer_and_the_help_they_gave(
        app, db, make_volunteer, coordinator_account, task_owner):
    from hubcore.identity import people

    actor = make_volunteer()
    volunteer = actor.volunteer
    resident = people.create_person({"given_name": "Rita", "postcode": "BL1 1AA"})
    offer = offers.make_offer(a_task("3", person_id=resident.id), volunteer_id=None,
                              actor=coordinator_account)
    db.session.commit()
    assert actor.client.post(f"/api/v1/volunteering/offers/{offer.id}/accept").status_code == 201
    person = people.get_person(volunteer.person_id)
    export = people.export_person(person)
    [section] = [s for s in export["sections"] if s["source"] == "volunteering"]
    assert section["records"][0]["email"] == volunteer.email
    resident_export = people.export_person(resident)
    [helped] = [s for s in resident_export["sections"] if s["source"] == "volunteering"]
    assert helped["records"][0]["kind"] == "help received"

    counts = people.erase_person(person)
    db.session.commit()
    assert counts["volunteering"] >= 1
    db.session.expire_all()
    erased = db.session.get(Volunteer, volunteer.id)
    assert erased.given_name == "Erased" and erased.email is None and erased.status == "left"
    assert task_owner.events[-1][0] == "released"
    people.erase_person(resident)
    db.session.commit()
    assignment = db.session.execute(sa.select(Assignment)).scalar_one()
    assert assignment.person_id is None and assignment.task["person_id"] is None
    assert db.session.execute(sa.select(Offer)).scalar_one().task["person_id"] is None
    assert verify_chain().ok


def test_retention_purges_old_records_and_anonymises_long_gone_volunteers(
        app, db, make_volunteer, coordinator_account):
    actor = make_volunteer()
    offer = offers.make_offer(a_task("4"), volunteer_id=None, actor=coordinator_account)
    db.session.commit()
    actor.client.post(f"/api/v1/volunteering/offers/{offer.id}/decline")
    gone = make_volunteer(status="left").volunteer
    later = utcnow() + timedelta(days=privacy.LEFT_VOLUNTEER_DAYS + 1)
    from hubcore import jobs

    done = jobs.sweep(later)
    db.session.commit()
    assert done["volunteering_offers_purged"] == 1
    assert done["volunteering_volunteers_anonymised"] == 1
    assert db.session.get(Volunteer, gone.id).given_name == "Erased"
    assert "volunteering_offers_purged" not in jobs.sweep(later)
    rules = [r for batch in app.extensions["hubcore"].pm.hook.retention_rules() for r in batch]
    assert any(r.record == "finished volunteer task" for r in rules)


def test_import_places_postcodes_exactly_as_the_gazetteer_does(app, db):
    from hubcore.districts import gazetteer
    from plugins.volunteering import signup

    locate = volunteer_csv.postcode_locator()
    for raw in ("bl1 1aa", "M1 1AE", "WN1 2XY", "SW1A 1AA", "not a postcode", "M99 9ZZ"):
        fast, slow = locate(raw), signup.locate_postcode(raw)
        if isinstance(slow, Exception):
            assert type(fast) is type(slow) and fast.fields == slow.fields
        else:
            assert fast == slow == gazetteer.locate(raw)


def test_import_command_is_found_by_the_installed_hubcore_command(app, db, database_url,
                                                                   tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    from tests.conftest import TEST_SECRET

    path = tmp_path / "volunteers.csv"
    path.write_text(HEADER + GOOD_1, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBCORE_")}
    env.update(HUBCORE_ENV="testing", HUBCORE_DATABASE_URL=database_url,
               HUBCORE_SECRET_KEY=TEST_SECRET)
    hubcore = Path(sys.executable).with_name("hubcore")
    done = subprocess.run([str(hubcore), "import", "volunteers", str(path)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Imported 1 volunteers" in done.stdout
    db.session.rollback()
    assert count(db) == 1
