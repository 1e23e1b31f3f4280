"""Pages: the public sign-up form, coordinators' vetting, a volunteer's tasks."""

from __future__ import annotations

import sqlalchemy as sa

from plugins.volunteering import offers
from plugins.volunteering.models import Assignment, Volunteer
from tests.conftest import PASSWORD, login, submit_form

from .conftest import BOLTON, WIGAN, a_task

FORM = {"given_name": "Sam", "family_name": "Okafor", "email": "sam@example.org",
        "phone": "", "postcode": "bl1 1aa", "skills": ["befriending", "shopping"],
        "languages": "Yoruba", "availability": ["mon_morning", "sat_evening"],
        "max_travel_km": "4", "has_car": "y", "consent": "y"}


def volunteers(db) -> list[Volunteer]:
    return db.session.execute(sa.select(Volunteer)).scalars().all()


def test_public_sign_up_form_sends_the_volunteer_to_their_district(client, db):
    page = client.get("/volunteer")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'for="given_name"' in html and "<legend" in html
    assert "<script" not in html
    response = submit_form(client, "/volunteer", FORM, follow_redirects=True)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "The Bolton volunteer team will contact you" in html
    [volunteer] = volunteers(db)
    assert volunteer.postcode == "BL1 1AA" and volunteer.skills == ["befriending", "shopping"]
    assert volunteer.availability == ["mon_morning", "sat_evening"]
    assert volunteer.languages == ["Yoruba"] and volunteer.has_car


def test_sign_up_form_without_a_csrf_token_is_refused(client, db):
    response = client.post("/volunteer", data=FORM)
    assert response.status_code == 400
    assert volunteers(db) == []


def test_sign_up_form_errors_are_summarised_and_nothing_is_stored(client, db):
    response = submit_form(client, "/volunteer", {**FORM, "postcode": "SW1A 1AA",
                                                   "consent": "", "skills": [],
                                                   "email": "nope"})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "There is a problem" in html
    assert 'href="#consent"' in html and 'href="#skills"' in html and 'href="#postcode"' in html
    assert volunteers(db) == []


def test_sign_up_form_answers_a_returning_volunteer_as_a_new_one(client, db):
    """The page never says who is signed up; the volunteer is told by email instead."""
    first = submit_form(client, "/volunteer", FORM, follow_redirects=True)
    again = submit_form(client, "/volunteer", FORM, follow_redirects=True)
    assert first.status_code == again.status_code == 200
    assert first.request.full_path == again.request.full_path
    assert first.get_data(as_text=True) == again.get_data(as_text=True)
    assert "Check your email" in again.get_data(as_text=True)
    assert len(volunteers(db)) == 1


def test_signed_out_menu_offers_the_sign_up(client):
    assert 'href="/volunteer"' in client.get("/").get_data(as_text=True)


def test_coordinator_vets_and_activates_from_the_pages(client, db, make_account):
    submit_form(client, "/volunteer", FORM)
    [volunteer] = volunteers(db)
    coordinator = make_account("coordinator", (BOLTON,))
    staff = client.application.test_client()
    login(staff, coordinator.email)
    listing = staff.get("/volunteering/volunteers").get_data(as_text=True)
    assert "Sam Okafor" in listing
    detail_url = f"/volunteering/volunteers/{volunteer.id}"
    bad = submit_form(staff, f"{detail_url}/dbs", {"level": "enhanced",
                                                   "certificate_number": "12",
                                                   "issue_date": "2025-01-01"},
                      page_url=detail_url)
    assert bad.status_code == 422 and "12-digit" in bad.get_data(as_text=True)
    good = submit_form(staff, f"{detail_url}/dbs", {"level": "enhanced",
                                                    "certificate_number": "001234567890",
                                                    "issue_date": "2025-06-01"},
                       page_url=detail_url, follow_redirects=True)
    assert "The DBS check is recorded" in good.get_data(as_text=True)
    activated = submit_form(staff, f"{detail_url}/activate", {}, page_url=detail_url,
                            follow_redirects=True)
    assert "is now active" in activated.get_data(as_text=True)
    db.session.expire_all()
    volunteer = db.session.get(Volunteer, volunteer.id)
    assert volunteer.status == "active" and volunteer.dbs_level == "enhanced"


def test_coordinator_of_another_district_cannot_see_the_volunteer_page(client, db,
                                                                      make_account):
    submit_form(client, "/volunteer", FORM)
    [volunteer] = volunteers(db)
    wigan = make_account("coordinator", (WIGAN,))
    staff = client.application.test_client()
    login(staff, wigan.email)
    assert "Sam Okafor" not in staff.get("/volunteering/volunteers").get_data(as_text=True)
    assert staff.get(f"/volunteering/volunteers/{volunteer.id}").status_code == 404


def test_volunteer_accepts_an_offer_and_logs_hours_on_my_tasks(app, db, make_volunteer,
                                                              coordinator_account, task_owner):
    from hubcore.identity import accounts
    from hubcore.identity.models import Account

    actor = make_volunteer()
    account = db.session.get(Account, actor.volunteer.account_id)
    accounts.set_password(account, PASSWORD)
    offer = offers.make_offer(a_task("90"), volunteer_id=None, actor=coordinator_account)
    db.session.commit()
    browser = app.test_client()
    login(browser, account.email)
    page = browser.get("/volunteering/my-tasks").get_data(as_text=True)
    assert "Befriending" in page and "Accept" in page
    accept_url = f"/volunteering/my-tasks/offers/{offer.id}/accept"
    accepted = submit_form(browser, accept_url, {}, page_url="/volunteering/my-tasks",
                           follow_redirects=True)
    assert "You have the task" in accepted.get_data(as_text=True)
    assignment = db.session.execute(sa.select(Assignment)).scalar_one()
    done_url = f"/volunteering/my-tasks/{assignment.id}/complete"
    bad = submit_form(browser, done_url, {f"a{assignment.id}-hours": "99"},
                      page_url="/volunteering/my-tasks")
    assert bad.status_code == 422 and "from 0.1 to 24" in bad.get_data(as_text=True)
    done = submit_form(browser, done_url, {f"a{assignment.id}-hours": "1.5"},
                       page_url="/volunteering/my-tasks", follow_redirects=True)
    assert "1.5 hours logged" in done.get_data(as_text=True)
    assert task_owner.events == [("assigned", "90", f"volunteering-{actor.volunteer.id}"),
                                 ("completed", "90", 1.5)]


def test_coordinator_offers_a_task_from_a_form(app, db, make_volunteer, coordinator_account,
                                              task_owner):
    volunteer = make_volunteer().volunteer
    task_owner.holds(a_task("12", priority=2))
    staff = app.test_client()
    login(staff, coordinator_account.email)
    response = submit_form(staff, "/volunteering/offers", {
        "owner": "hub_requests", "owner_id": "12", "next": "/volunteering/volunteers"},
        page_url="/volunteering/volunteers", follow_redirects=True)
    assert f"The task is offered to {volunteer.name}" in response.get_data(as_text=True)
    [offer] = offers.offers_for_task("hub_requests", "12")
    assert offer.volunteer_id == volunteer.id and offer.task["priority"] == 2
    assert task_owner.asked == [("hub_requests", "12")]


def test_hours_page_shows_the_coordinators_districts(app, db, make_volunteer,
                                                    coordinator_account):
    make_volunteer(given_name="Hattie")
    staff = app.test_client()
    login(staff, coordinator_account.email)
    html = staff.get("/volunteering/hours").get_data(as_text=True)
    assert "Hattie" in html and "under" in html


def test_offer_form_takes_the_helper_id_find_helpers_gave_and_keeps_the_dbs_gate(
        app, db, make_volunteer, coordinator_account, task_owner):
    basic = make_volunteer(dbs="basic").volunteer
    task_owner.holds(a_task("13", needs=("essential_shopping",)))
    task_owner.holds(a_task("14", needs=("befriending",)))
    staff = app.test_client()
    login(staff, coordinator_account.email)
    fields = {"owner": "hub_requests", "next": "/volunteering/volunteers",
              "helper_id": f"volunteering-{basic.id}"}
    refused = submit_form(staff, "/volunteering/offers", {**fields, "owner_id": "13"},
                          page_url="/volunteering/volunteers", follow_redirects=True)
    assert "cannot be offered this task" in refused.get_data(as_text=True)
    assert offers.offers_for_task("hub_requests", "13") == []
    made = submit_form(staff, "/volunteering/offers", {**fields, "owner_id": "14"},
                       page_url="/volunteering/volunteers", follow_redirects=True)
    assert f"offered to {basic.name}" in made.get_data(as_text=True)
