"""The lifecycle: legal moves only, each audited; edits, overrides, duplicates, notes, calls."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from hubcore.audit import AuditEntry, verify_chain
from hubcore.db import utcnow
from hubcore.errors import Conflict, InvalidInput, PreconditionFailed
from hubcore.identity.permissions import ALL_DISTRICTS
from hubcore.values import HelperCandidate
from plugins.hub_requests import lifecycle, queue
from plugins.hub_requests.models import HelpRequest
from tests.conftest import BOLTON, BURY, WIGAN

from .conftest import resident


def actions(db, request_id) -> list[str]:
    return list(db.session.execute(
        sa.select(AuditEntry.action).where(AuditEntry.entity_type == "help_request",
                                           AuditEntry.entity_id == str(request_id))
        .order_by(AuditEntry.seq)).scalars())


def test_the_happy_path_runs_new_to_completed_and_every_step_is_audited(submit, db):
    request = submit()
    for status in ("triaged", "matched", "assigned", "in_progress", "completed"):
        lifecycle.transition(request, status, actor=None)
    db.session.commit()
    assert [h.to_status for h in request.history] == [
        "new", "triaged", "matched", "assigned", "in_progress", "completed"]
    assert request.closed_at is not None
    assert actions(db, request.id).count("hub_requests.request.transition") == 5
    assert verify_chain().ok


@pytest.mark.parametrize("start, illegal", [
    ([], "completed"), ([], "assigned"), (["triaged"], "new"),
    (["cancelled"], "triaged"), (["triaged", "assigned", "completed"], "in_progress"),
])
def test_illegal_transitions_are_refused_and_change_nothing(submit, db, start, illegal):
    request = submit()
    for status in start:
        lifecycle.transition(request, status, actor=None)
    db.session.commit()
    version, status = request.version, request.status
    with pytest.raises(Conflict) as caught:
        lifecycle.transition(request, illegal, actor=None)
    assert caught.value.code == "illegal-transition"
    assert (request.version, request.status) == (version, status)


def test_closing_needs_a_reason(submit):
    request = submit()
    with pytest.raises(InvalidInput) as caught:
        lifecycle.transition(request, "closed", actor=None, reason="  ")
    assert "reason" in caught.value.fields
    lifecycle.transition(request, "closed", actor=None, reason="Referred to Citizens Advice")
    assert request.status_reason == "Referred to Citizens Advice"


def test_a_priority_override_keeps_its_reason_and_moves_the_due_time(submit, db):
    request = submit(needs=["practical_task"], circumstances=[], urgency="not_urgent")
    assert request.priority == "P4"
    with pytest.raises(InvalidInput):
        lifecycle.override_priority(request, "P1", "", actor=None)
    lifecycle.override_priority(request, "P1", "Carer rang: no heating", actor=None)
    db.session.commit()
    assert request.priority == "P1"
    assert request.due_at == request.created_at + timedelta(hours=8)
    assert "hub_requests.request.priority_overridden" in actions(db, request.id)
    # later edits re-score but keep the coordinator's priority
    lifecycle.update_request(request, {"needs": ["advice"]}, actor=None)
    assert request.priority == "P1" and request.needs == ["advice"]


def test_editing_what_triage_depends_on_retriages_the_request(submit):
    request = submit(needs=["advice"], circumstances=[], urgency="not_urgent")
    lifecycle.update_request(request, {"circumstances": ["mental_health_crisis"]}, actor=None)
    assert request.priority == "P1"


def test_a_finished_request_cannot_be_edited(submit):
    request = submit()
    lifecycle.transition(request, "cancelled", actor=None)
    with pytest.raises(Conflict):
        lifecycle.update_request(request, {"description": "more"}, actor=None)


def test_a_stale_version_is_refused(submit):
    request = submit()
    with pytest.raises(PreconditionFailed):
        lifecycle.check_version(request, request.version - 1)


def test_a_concurrent_update_of_the_same_row_fails_as_stale_not_as_500(submit, db):
    request = submit()
    db.session.execute(sa.update(HelpRequest).where(HelpRequest.id == request.id)
                       .values(version=HelpRequest.version + 1)
                       .execution_options(synchronize_session=False))  # someone else's
    with pytest.raises(PreconditionFailed):
        lifecycle.transition(request, "triaged", actor=None)


def test_escalation_needs_a_reason_and_raises_the_queue_position(submit, db):
    low = submit(needs=["practical_task"], circumstances=[], urgency="not_urgent")
    mid = submit(needs=["advice"], circumstances=["lives_alone"], urgency="few_days")
    with pytest.raises(InvalidInput):
        lifecycle.set_escalation(low, True, None, actor=None)
    lifecycle.set_escalation(low, True, "Neighbour worried", actor=None)
    db.session.commit()
    order = db.session.execute(queue.queue_statement(ALL_DISTRICTS, now=utcnow())).scalars()
    assert list(order) == [low.id, mid.id]


def test_overflow_is_shared_only_with_a_neighbouring_district(submit):
    request = submit()
    with pytest.raises(InvalidInput):
        lifecycle.share_overflow(request, "E08000007", actor=None)  # Stockport: not next door
    lifecycle.share_overflow(request, BURY, actor=None)
    assert request.visible_districts() == (BOLTON, BURY)


def test_overdue_requests_are_escalated_once_by_the_sweep(submit, db):
    late = submit(now=utcnow() - timedelta(days=9))
    submit()
    assert lifecycle.escalate_overdue(utcnow()) == 1
    assert lifecycle.escalate_overdue(utcnow()) == 0
    assert late.escalated and late.escalation_reason.startswith("Overdue")


# -- Duplicates ----------------------------------------------------------------------------


def test_confirming_a_duplicate_merges_it_into_the_original_and_closes_it(submit, db):
    details = resident(phone="07700 900222", email="")
    original = submit(**details, needs=["food"], circumstances=[])
    duplicate = submit(**details, needs=["food", "medication"], circumstances=["shielding"])
    lifecycle.confirm_duplicate(duplicate, actor=None)
    db.session.commit()
    assert original.needs == ["food", "medication"]
    assert "shielding" in original.circumstances
    assert (duplicate.status, duplicate.duplicate_state) == ("closed", "confirmed")
    assert duplicate.status_reason == f"Duplicate of {original.reference}"
    assert "merged" in original.notes[0].body


def test_dismissing_a_duplicate_keeps_both_open(submit, db):
    details = resident(phone="07700 900333", email="")
    original = submit(**details)
    duplicate = submit(**details)
    lifecycle.dismiss_duplicate(duplicate, actor=None, reason="Different week")
    assert (original.status, duplicate.status) == ("new", "new")
    assert duplicate.duplicate_state == "dismissed"
    with pytest.raises(Conflict):
        lifecycle.confirm_duplicate(duplicate, actor=None)


def test_a_duplicate_of_a_finished_request_cannot_be_merged(submit):
    details = resident(phone="07700 900444", email="")
    original = submit(**details)
    duplicate = submit(**details)
    lifecycle.transition(original, "cancelled", actor=None)
    with pytest.raises(Conflict):
        lifecycle.confirm_duplicate(duplicate, actor=None)


# -- Notes and calls ----------------------------------------------------------------------------


def test_notes_and_calls_are_kept_and_audited_without_their_text(submit, db):
    request = submit()
    lifecycle.add_note(request, "Daughter visits on Sundays", actor=None)
    lifecycle.log_call(request, "voicemail", "Left a message", actor=None)
    db.session.commit()
    assert [c.outcome for c in request.calls] == ["voicemail"]
    summaries = " ".join(db.session.execute(sa.select(AuditEntry.summary)).scalars())
    assert "Daughter" not in summaries and "Left a message" not in summaries


@pytest.mark.parametrize("outcome, notes, field", [
    ("shouted", "", "outcome"), ("reached", "x" * 4001, "notes")])
def test_a_bad_call_is_refused(submit, outcome, notes, field):
    with pytest.raises(InvalidInput) as caught:
        lifecycle.log_call(submit(), outcome, notes, actor=None)
    assert field in caught.value.fields


def test_an_empty_note_is_refused(submit):
    with pytest.raises(InvalidInput):
        lifecycle.add_note(submit(), "   ", actor=None)


# -- Tasks -------------------------------------------------------------------------------------


def test_a_request_is_offered_to_helpers_as_a_task_with_its_safeguarding_needs(submit):
    request = submit(needs=["essential_shopping"], circumstances=[], urgency="today")
    task = lifecycle.task_for(request)
    assert (task.owner, task.owner_id, task.district) == ("hub_requests", str(request.id),
                                                          BOLTON)
    assert (task.dbs_level, task.regulated_activity) == ("enhanced", True)
    assert task.location is not None and task.person_id == request.person_id


def test_helper_side_moves_the_request_assigned_released_completed(submit, db):
    request = submit()
    lifecycle.transition(request, "triaged", actor=None)
    helper = HelperCandidate("vol-7", "Val V.", 9.0, 1.2, source="volunteering")
    lifecycle.helper_assigned(request, helper)
    lifecycle.helper_assigned(request, helper)  # told twice: still one step
    assert (request.status, request.helper_name) == ("assigned", "Val V.")
    lifecycle.helper_released(request, "Car broke down")
    assert request.status == "triaged" and request.helper_id is None
    assert "Car broke down" in request.history[-1].reason
    lifecycle.helper_assigned(request, helper)
    lifecycle.helper_completed(request, 1.5)
    assert (request.status, request.hours) == ("completed", 1.5)


def test_a_helper_accepting_an_untriaged_request_triages_and_assigns_it(submit):
    request = submit()
    lifecycle.helper_assigned(request, HelperCandidate("vol-1", "Val", 5.0, None,
                                                       source="volunteering"))
    assert [h.to_status for h in request.history] == ["new", "triaged", "assigned"]


def test_a_second_helper_taking_over_changes_the_helper_not_the_status(submit, db):
    request = submit()
    lifecycle.helper_assigned(request, HelperCandidate("vol-1", "Val", 5.0, None))
    lifecycle.transition(request, "in_progress", actor=None)
    lifecycle.helper_assigned(request, HelperCandidate("vol-2", "Sam", 4.0, None))
    assert (request.status, request.helper_name) == ("in_progress", "Sam")
    assert "hub_requests.request.helper_changed" in actions(db, request.id)


def test_a_finished_request_refuses_a_helper(submit):
    request = submit()
    lifecycle.transition(request, "cancelled", actor=None)
    with pytest.raises(Conflict):
        lifecycle.helper_assigned(request, HelperCandidate("vol-1", "Val", 5.0, None))
    lifecycle.helper_released(request, "not needed")  # nothing to give back: no change
    assert request.status == "cancelled"


@pytest.mark.parametrize("finished, reason", [("closed", "Family stepped in"),
                                              ("cancelled", None)])
def test_a_helper_finishing_after_the_request_was_closed_is_noted_not_refused(
        submit, db, finished, reason):
    request = submit()
    lifecycle.helper_assigned(request, HelperCandidate("vol-1", "Val", 5.0, None))
    lifecycle.transition(request, finished, actor=None, reason=reason)
    closed_at, history = request.closed_at, [h.to_status for h in request.history]
    lifecycle.helper_completed(request, 1.5)
    lifecycle.helper_completed(request, 1.5)  # told twice: noted once
    db.session.commit()
    assert (request.status, request.status_reason, request.closed_at) == (
        finished, reason, closed_at)  # the outcome stands
    assert [h.to_status for h in request.history] == history
    assert request.hours == 1.5
    [note] = request.notes
    assert note.body == (f"The helper reported this task done after the request was "
                         f"{finished}, and logged 1.5 hours. The request stays {finished}.")
    assert note.author_id is None
    audited = actions(db, request.id)
    assert audited.count("hub_requests.request.helper_completed_after_finish") == 1
    assert audited.count("hub_requests.note.added") == 1
    assert verify_chain().ok


def test_a_completed_request_is_unchanged_when_the_helper_reports_it_done_again(submit, db):
    request = submit()
    lifecycle.helper_assigned(request, HelperCandidate("vol-1", "Val", 5.0, None))
    lifecycle.helper_completed(request, 2.0)
    db.session.commit()
    version, audited = request.version, actions(db, request.id)
    lifecycle.helper_completed(request, 3.0)
    db.session.commit()
    assert (request.status, request.hours, request.version) == ("completed", 2.0, version)
    assert request.notes == [] and actions(db, request.id) == audited


def test_a_task_owned_by_another_plugin_is_not_ours(submit):
    from hubcore.values import Task

    submit()
    assert lifecycle.request_for_task(Task("volunteering", "1", WIGAN, ("food",))) is None


def test_a_task_naming_another_district_does_not_reach_the_request(submit):
    """The helper side checks its caller against the task's district: a task
    made up with another district must not move this district's request."""
    from hubcore.values import Task

    request = submit()
    assert request.district_code != WIGAN
    forged = Task("hub_requests", str(request.id), WIGAN, ("food",))
    assert lifecycle.request_for_task(forged) is None
    genuine = lifecycle.task_for(request)
    assert lifecycle.request_for_task(genuine) is request
