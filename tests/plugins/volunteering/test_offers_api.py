"""Offers: the DBS gate through the API, accepting once, declines and expiry move on."""

from __future__ import annotations

import threading
from datetime import timedelta

import sqlalchemy as sa
from click.testing import CliRunner
from flask.cli import ScriptInfo

import hubcore.cli

from hubcore import jobs
from hubcore.db import utcnow
from plugins.volunteering import offers
from plugins.volunteering.models import Assignment, Offer, Volunteer

from .conftest import BOLTON, WIGAN, a_task, offer_body


def offer_count(db, **where) -> int:
    query = sa.select(sa.func.count()).select_from(Offer)
    for key, value in where.items():
        query = query.where(getattr(Offer, key) == value)
    return db.session.execute(query).scalar_one()


# -- The DBS gate cannot be bypassed --------------------------------------------------------------


def test_regulated_task_cannot_be_offered_to_a_volunteer_without_an_enhanced_check(
        as_role, make_volunteer, db, task_owner):
    basic = make_volunteer(dbs="basic").volunteer
    coord = as_role("coordinator", BOLTON)
    for task in (a_task("1", needs=["shopping"]),
                 a_task("2", needs=["shopping"], dbs_level="none", regulated_activity=False),
                 a_task("3", needs=["befriending"], regulated_activity=True),
                 a_task("4", needs=["personal_care"])):
        response = coord.client.post("/api/v1/volunteering/offers",
                                     json=offer_body(task_owner.holds(task),
                                                     volunteer_id=basic.id))
        assert response.status_code == 422, task
        problem = response.get_json()
        assert problem["type"].endswith("volunteer-not-eligible")
        assert "enhanced DBS" in " ".join(problem["errors"]["volunteer_id"])
    assert offer_count(db) == 0


def test_best_candidate_for_a_regulated_task_is_only_ever_enhanced(as_role, make_volunteer, db,
                                                                   task_owner):
    make_volunteer(dbs="basic")
    make_volunteer()
    coord = as_role("coordinator", BOLTON)
    body = offer_body(task_owner.holds(a_task(needs=["shopping"])))
    refused = coord.client.post("/api/v1/volunteering/offers", json=body)
    assert refused.status_code == 409 and refused.get_json()["type"].endswith("no-candidate")
    enhanced = make_volunteer(dbs="enhanced").volunteer
    made = coord.client.post("/api/v1/volunteering/offers", json=body)
    assert made.status_code == 201 and made.get_json()["volunteer_id"] == enhanced.id


def test_accepting_a_regulated_task_after_the_check_was_withdrawn_is_refused(
        as_role, make_volunteer, db, coordinator_account, task_owner):
    from plugins.volunteering import vetting

    actor = make_volunteer(dbs="enhanced")
    coord = as_role("coordinator", BOLTON)
    offer_id = coord.client.post("/api/v1/volunteering/offers", json=offer_body(
        task_owner.holds(a_task(needs=["personal_care"])))).get_json()["id"]
    vetting.verify_dbs(actor.volunteer, level="basic", certificate_number="001234567891",
                       issue_date=utcnow().date(), actor=coordinator_account)
    db.session.commit()
    response = actor.client.post(f"/api/v1/volunteering/offers/{offer_id}/accept")
    assert response.status_code == 409 and response.get_json()["type"].endswith("dbs-required")
    assert db.session.execute(sa.select(sa.func.count()).select_from(Assignment)).scalar_one() == 0
    assert task_owner.events == []


# -- Offers and answers -----------------------------------------------------------------------------


def test_accepting_assigns_the_task_and_tells_its_owner(as_role, make_volunteer, db,
                                                        task_owner):
    actor = make_volunteer()
    coord = as_role("coordinator", BOLTON)
    body = offer_body(task_owner.holds(a_task("41")))
    made = coord.client.post("/api/v1/volunteering/offers", json=body)
    assert made.status_code == 201, made.get_json()
    offer = made.get_json()
    assert offer["volunteer_id"] == actor.volunteer.id and offer["status"] == "offered"
    mine = actor.client.get("/api/v1/volunteering/my/offers").get_json()
    assert [o["id"] for o in mine] == [offer["id"]]
    accepted = actor.client.post(f"/api/v1/volunteering/offers/{offer['id']}/accept")
    assert accepted.status_code == 201, accepted.get_json()
    assert accepted.get_json()["status"] == "active"
    assert task_owner.events == [("assigned", "41", f"volunteering-{actor.volunteer.id}")]
    again = actor.client.post(f"/api/v1/volunteering/offers/{offer['id']}/accept")
    assert again.status_code == 409 and "already been accepted" in again.get_json()["detail"]
    refused = coord.client.post("/api/v1/volunteering/offers", json=body)
    assert refused.status_code == 409 and refused.get_json()["type"].endswith("task-assigned")


def test_a_volunteer_cannot_answer_someone_elses_offer(as_role, make_volunteer, db, task_owner):
    first, other = make_volunteer(), make_volunteer()
    coord = as_role("coordinator", BOLTON)
    offer = coord.client.post("/api/v1/volunteering/offers", json=offer_body(
        task_owner.holds(a_task()), volunteer_id=first.volunteer.id)).get_json()
    assert other.client.post(f"/api/v1/volunteering/offers/{offer['id']}/accept") \
        .status_code == 404
    assert coord.client.post(f"/api/v1/volunteering/offers/{offer['id']}/decline") \
        .status_code == 404
    assert offer_count(db, status="offered") == 1


def test_decline_moves_the_task_to_the_next_candidate(as_role, make_volunteer, db, task_owner):
    first = make_volunteer(postcode="BL1 1AA")
    second = make_volunteer(postcode="BL3 1AA")
    coord = as_role("coordinator", BOLTON)
    offer = coord.client.post("/api/v1/volunteering/offers",
                              json=offer_body(task_owner.holds(a_task()))).get_json()
    assert offer["volunteer_id"] == first.volunteer.id
    declined = first.client.post(f"/api/v1/volunteering/offers/{offer['id']}/decline")
    assert declined.status_code == 200
    assert declined.get_json()["next_offer_made"] is True
    [following] = second.client.get("/api/v1/volunteering/my/offers").get_json()
    assert following["task"]["owner_id"] == "1"
    # Nobody is left after the second declines; the first is not asked again.
    assert second.client.post(f"/api/v1/volunteering/offers/{following['id']}/decline") \
        .get_json()["next_offer_made"] is False
    assert offer_count(db) == 2


def test_coordinator_of_another_district_cannot_offer_or_see_offers(as_role, make_volunteer,
                                                                    db, task_owner):
    make_volunteer()
    body = offer_body(task_owner.holds(a_task()))
    wigan = as_role("coordinator", WIGAN)
    assert wigan.client.post("/api/v1/volunteering/offers", json=body).status_code == 422  # as if unknown
    bolton = as_role("coordinator", BOLTON)
    offer = bolton.client.post("/api/v1/volunteering/offers", json=body)
    offer_id = offer.get_json()["id"]
    assert wigan.client.get(f"/api/v1/volunteering/offers/{offer_id}").status_code == 404
    assert wigan.client.post(f"/api/v1/volunteering/offers/{offer_id}/withdraw") \
        .status_code == 404
    assert wigan.client.get("/api/v1/volunteering/offers?owner=hub_requests&owner_id=1") \
        .get_json() == []
    assert offer_count(db, status="offered") == 1


def test_bad_offer_input_is_refused_and_nothing_changes(as_role, make_volunteer, db, task_owner):
    make_volunteer()
    task = task_owner.holds(a_task())
    coord = as_role("coordinator", BOLTON)
    for body in ({}, {"owner": "hub_requests"}, {"owner_id": "1"},
                 {"owner": "", "owner_id": "1"}, {"owner": "hub_requests", "owner_id": 1},
                 offer_body(task, volunteer_id=99999), offer_body(task, volunteer_id="x")):
        response = coord.client.post("/api/v1/volunteering/offers", json=body)
        assert response.status_code == 422, (body, response.get_json())
    assert offer_count(db) == 0


def test_offer_api_schema_names_the_task_by_owner_and_id_only(client):
    offer_in = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]["OfferIn"]
    assert set(offer_in["properties"]) == {"owner", "owner_id", "volunteer_id"}
    assert set(offer_in["required"]) == {"owner", "owner_id"}


# -- Expiry ------------------------------------------------------------------------------------------------


def test_sweep_expires_offers_and_moves_on(app, make_volunteer, db, coordinator_account):
    first = make_volunteer(postcode="BL1 1AA").volunteer
    second = make_volunteer(postcode="BL3 1AA").volunteer
    now = utcnow()
    offer = offers.make_offer(a_task(priority=1), volunteer_id=None, actor=coordinator_account,
                              now=now)
    db.session.commit()
    assert offer.volunteer_id == first.id
    assert offer.expires_at == now + offers.OFFER_TTL[1]
    assert "volunteering_offers_expired" not in jobs.sweep(now + timedelta(minutes=30))
    later = now + timedelta(hours=2)
    assert jobs.sweep(later)["volunteering_offers_expired"] == 1
    assert "volunteering_offers_expired" not in jobs.sweep(later)  # idempotent
    db.session.commit()
    statuses = {o.volunteer_id: o.status for o in offers.offers_for_task("hub_requests", "1")}
    assert statuses == {first.id: "expired", second.id: "offered"}


def test_hubcore_sweep_command_expires_due_offers(app, make_volunteer, db, coordinator_account):
    make_volunteer(postcode="BL1 1AA")
    second = make_volunteer(postcode="BL3 1AA").volunteer
    offer = offers.make_offer(a_task(), volunteer_id=None, actor=coordinator_account)
    offer.expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    result = CliRunner().invoke(hubcore.cli.main, ["sweep"],
                                obj=ScriptInfo(create_app=lambda: app))
    assert result.exit_code == 0, result.output
    assert "volunteering_offers_expired: 1" in result.output
    db.session.expire_all()
    assert db.session.get(Offer, offer.id).status == "expired"
    assert offer_count(db, status="offered", volunteer_id=second.id) == 1


def test_scheduled_sweep_job_expires_due_offers(app, make_volunteer, db, coordinator_account):
    make_volunteer(postcode="BL1 1AA")
    make_volunteer(postcode="BL3 1AA")
    offer = offers.make_offer(a_task(), volunteer_id=None, actor=coordinator_account)
    offer.expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    job = jobs.enqueue(jobs.SWEEP_JOB)
    assert job.return_value()["volunteering_offers_expired"] == 1
    db.session.rollback()
    assert db.session.get(Offer, offer.id).status == "expired"
    assert offer_count(db, status="offered") == 1


def test_an_expired_offer_cannot_be_accepted(make_volunteer, db, coordinator_account):
    actor = make_volunteer()
    offer = offers.make_offer(a_task(), volunteer_id=None, actor=coordinator_account)
    offer.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    response = actor.client.post(f"/api/v1/volunteering/offers/{offer.id}/accept")
    assert response.status_code == 409 and response.get_json()["type"].endswith("offer-expired")


# -- One task, one volunteer ---------------------------------------------------------------------------


def _race(calls):
    """Run the calls at the same moment, each on its own thread; return their responses."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(i, call):
        barrier.wait()
        results[i] = call()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_two_volunteers_accepting_at_once_assign_the_task_once(make_volunteer, db,
                                                               coordinator_account, task_owner):
    first, second = make_volunteer(), make_volunteer()
    task = a_task("77")
    now = utcnow()
    offer_a = offers._create_offer(task, first.volunteer, score=1, overflow=False,
                                   actor=coordinator_account, now=now)
    offer_b = offers._create_offer(task, second.volunteer, score=1, overflow=False,
                                   actor=coordinator_account, now=now)
    db.session.commit()
    a_id, b_id = offer_a.id, offer_b.id
    responses = _race([
        lambda: first.client.post(f"/api/v1/volunteering/offers/{a_id}/accept"),
        lambda: second.client.post(f"/api/v1/volunteering/offers/{b_id}/accept"),
    ])
    assert all(r is not None for r in responses)
    codes = sorted(r.status_code for r in responses)
    assert codes == [201, 409], [r.get_json() for r in responses]
    loser = next(r for r in responses if r.status_code == 409)
    assert "Another volunteer has already taken this task" in loser.get_json()["detail"]
    db.session.expire_all()
    assert db.session.execute(sa.select(sa.func.count()).select_from(Assignment)).scalar_one() \
        == 1
    assert [e[0] for e in task_owner.events] == ["assigned"]


def test_two_clicks_on_one_offer_accept_once(make_volunteer, db, coordinator_account):
    actor = make_volunteer()
    offer = offers.make_offer(a_task("78"), volunteer_id=None, actor=coordinator_account)
    db.session.commit()
    url = f"/api/v1/volunteering/offers/{offer.id}/accept"
    responses = _race([lambda: actor.client.post(url), lambda: actor.client.post(url)])
    assert all(r is not None for r in responses)
    assert sorted(r.status_code for r in responses) == [201, 409]
    db.session.expire_all()
    assert db.session.execute(sa.select(sa.func.count()).select_from(Assignment)).scalar_one() \
        == 1


# -- Completing and giving back -----------------------------------------------------------------------------


def _assigned(actor, coordinator_account, db, owner_id="5"):
    offer = offers.make_offer(a_task(owner_id), volunteer_id=actor.volunteer.id,
                              actor=coordinator_account)
    db.session.commit()
    response = actor.client.post(f"/api/v1/volunteering/offers/{offer.id}/accept")
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def test_completing_logs_hours_and_tells_the_owner(as_role, make_volunteer, db,
                                                   coordinator_account, task_owner):
    actor = make_volunteer()
    assignment_id = _assigned(actor, coordinator_account, db)
    bad = actor.client.post(f"/api/v1/volunteering/assignments/{assignment_id}/complete",
                            json={"hours": 0})
    assert bad.status_code == 422
    done = actor.client.post(f"/api/v1/volunteering/assignments/{assignment_id}/complete",
                             json={"hours": 1.5})
    assert done.status_code == 200 and done.get_json()["status"] == "completed"
    assert task_owner.events[-1] == ("completed", "5", 1.5)
    again = actor.client.post(f"/api/v1/volunteering/assignments/{assignment_id}/complete",
                              json={"hours": 2})
    assert again.status_code == 409
    coord = as_role("coordinator", BOLTON)
    report = coord.client.get("/api/v1/volunteering/hours").get_json()
    assert report["districts"] == {BOLTON: 1.5}
    [row] = report["volunteers"]
    assert row["hours"] == 1.5 and row["tasks"] == 1 and row["use"] == "usual"
    wigan = as_role("coordinator", WIGAN)
    assert wigan.client.get("/api/v1/volunteering/hours").get_json()["volunteers"] == []


def test_coordinator_gives_a_task_back_and_the_owner_requeues_it(as_role, make_volunteer, db,
                                                                coordinator_account,
                                                                task_owner):
    actor = make_volunteer()
    assignment_id = _assigned(actor, coordinator_account, db, owner_id="6")
    wigan = as_role("coordinator", WIGAN)
    assert wigan.client.post(f"/api/v1/volunteering/assignments/{assignment_id}/release",
                             json={"reason": "x"}).status_code == 404
    coord = as_role("coordinator", BOLTON)
    released = coord.client.post(f"/api/v1/volunteering/assignments/{assignment_id}/release",
                                 json={"reason": "Volunteer is unwell"})
    assert released.status_code == 200 and released.get_json()["status"] == "released"
    assert task_owner.events[-1] == ("released", "6", "Volunteer is unwell")
    # Released, the task can be offered again, to someone not yet asked.
    other = make_volunteer().volunteer
    again = coord.client.post("/api/v1/volunteering/offers",
                              json=offer_body(task_owner.holds(a_task("6"))))
    assert again.status_code == 201 and again.get_json()["volunteer_id"] == other.id


def test_pausing_a_volunteer_gives_back_their_tasks(as_role, make_volunteer, db,
                                                    coordinator_account, task_owner):
    actor = make_volunteer()
    _assigned(actor, coordinator_account, db, owner_id="8")
    coord = as_role("coordinator", BOLTON)
    assert coord.client.post(f"/api/v1/volunteers/{actor.volunteer.id}/pause",
                             json={"reason": "On holiday"}).status_code == 200
    assert task_owner.events[-1] == ("released", "8", "On holiday")
    assert db.session.get(Volunteer, actor.volunteer.id).status == "paused"


def test_find_helpers_hook_answers_with_explained_candidates(app, make_volunteer):
    volunteer = make_volunteer().volunteer
    pm = app.extensions["hubcore"].pm
    results = [c for batch in pm.hook.find_helpers(task=a_task(), limit=5) for c in batch]
    mine = [c for c in results if c.source == "volunteering"]
    assert [c.helper_id for c in mine] == [f"volunteering-{volunteer.id}"]
    assert {p.name for p in mine[0].breakdown} >= {"distance", "load", "fairness", "language",
                                                   "continuity"}
