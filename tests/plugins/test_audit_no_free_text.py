"""What people type never reaches the audit log (issue 8, item 10).

Erasure never touches the audit log, so a reason, a note, a name or an
address written there could never be erased. Every action that takes free
text is driven here with a marker word, and the marker must appear in no
audit entry, in any column; the entries themselves must be there (so the
test cannot pass by recording nothing).
"""

from __future__ import annotations

import sqlalchemy as sa

from hubcore import audit
from hubcore.audit import AuditEntry
from hubcore.db import db
from hubcore.identity import accounts, people
from plugins.hub_requests import lifecycle
from plugins.hub_requests.models import HelpRequest
from plugins.volunteering import signup, vetting
from tests.conftest import BOLTON
from tests.plugins.hub_requests.conftest import submission

MARK = "Quixotrelle"  # a word no code writes
PHONE, PHONE_DIGITS = "07700 900777", "900777"


def every_entry() -> list[AuditEntry]:
    db.session.expire_all()
    return db.session.execute(sa.select(AuditEntry).order_by(AuditEntry.seq)).scalars().all()


def assert_no_marker(*markers: str) -> None:
    for entry in every_entry():
        text = " ".join(str(value) for value in (
            entry.actor_label, entry.action, entry.entity_type, entry.entity_id,
            entry.district_code, entry.summary)).lower()
        for marker in markers:
            assert marker.lower() not in text, (entry.action, entry.summary)


def test_a_help_request_and_everything_done_to_it_keeps_typed_text_out(client, make_account):
    coordinator = make_account("coordinator", (BOLTON,))
    body = submission(given_name=MARK, family_name=f"{MARK}son", phone=PHONE,
                      email=f"{MARK.lower()}@example.org", address=f"7 {MARK} Street",
                      description=f"{MARK} cannot get to the shops")
    response = client.post("/api/v1/help-requests", json=body)
    assert response.status_code == 201, response.get_data(as_text=True)
    request = db.session.execute(sa.select(HelpRequest)).scalar_one()
    twin = client.post("/api/v1/help-requests", json=body)  # flagged as its duplicate
    assert twin.status_code == 201
    duplicate = db.session.execute(sa.select(HelpRequest).where(
        HelpRequest.id != request.id)).scalar_one()

    lifecycle.update_request(request, {"description": f"{MARK} also needs bread"},
                             actor=coordinator)
    lifecycle.override_priority(request, "P1", f"{MARK} rang in tears", actor=coordinator)
    lifecycle.set_escalation(request, True, f"{MARK}'s carer is in hospital",
                             actor=coordinator)
    lifecycle.add_note(request, f"Spoke to {MARK} at 07700 900777", actor=coordinator)
    lifecycle.log_call(request, "reached", f"{MARK} was at home", actor=coordinator)
    lifecycle.transition(request, "triaged", actor=coordinator, reason=f"{MARK} checked")
    assert duplicate.duplicate_of_id == request.id
    lifecycle.dismiss_duplicate(duplicate, actor=coordinator,
                                reason=f"{MARK} asked twice on purpose")
    lifecycle.transition(request, "closed", actor=coordinator, reason=f"{MARK} moved away")
    db.session.commit()

    actions = {entry.action for entry in every_entry()}
    assert {"person.created", "hub_requests.request.created",
            "hub_requests.request.priority_overridden", "hub_requests.request.escalated",
            "hub_requests.note.added", "hub_requests.call.logged",
            "hub_requests.request.transition", "hub_requests.duplicate.dismissed"} <= actions
    assert_no_marker(MARK, PHONE_DIGITS)
    overridden = next(e for e in every_entry()
                      if e.action == "hub_requests.request.priority_overridden")
    assert '"reason_given": true' in overridden.summary  # that a reason was given, not what
    assert audit.verify_chain().ok


def test_people_accounts_organisations_and_volunteers_keep_typed_text_out(app, make_account):
    coordinator = make_account("coordinator", (BOLTON,))
    person = people.create_person({"given_name": MARK, "family_name": "Smith", "phone": PHONE,
                                   "district_code": BOLTON}, actor=coordinator)
    people.update_person(person, {"family_name": f"{MARK}-Jones",
                                  "address": f"9 {MARK} Road"}, actor=coordinator)
    account = accounts.create_account(email=f"{MARK.lower()}@example.org", name=MARK)
    accounts.issue_token(account, name=f"{MARK}'s laptop")
    accounts.create_organisation(name=f"{MARK} Food Bank", kind="vcse", districts=[BOLTON],
                                 contact_email=f"{MARK.lower()}@food.example.org",
                                 contact_phone=PHONE, actor=coordinator)
    result = signup.sign_up({"given_name": MARK, "family_name": "Khan",
                             "email": f"vol.{MARK.lower()}@example.org", "phone": PHONE,
                             "postcode": "BL1 4AB", "skills": ["shopping"],
                             "availability": ["mon_morning"], "consent": True})
    vetting.change_status(result.volunteer, "active", actor=coordinator)
    vetting.change_status(result.volunteer, "paused", actor=coordinator,
                          reason=f"{MARK} is away until June")
    db.session.commit()

    actions = {entry.action for entry in every_entry()}
    assert {"person.created", "person.updated", "account.created", "token.issued",
            "organisation.created", "volunteering.volunteer.signed_up",
            "volunteering.volunteer.paused"} <= actions
    assert_no_marker(MARK, PHONE_DIGITS)
