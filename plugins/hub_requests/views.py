"""Pages: the public "ask for help" form, the district triage queue, a request's page.

The public form needs no account and no JavaScript; it is CSRF-protected and
rate-limited. Coordinators' actions post small forms carrying the version
they were shown, so a change made meanwhile by someone else is refused.
"""

from __future__ import annotations

import phonenumbers
from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TelField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice

from hubcore import inputs
from hubcore.db import db, utcnow
from hubcore.districts import packs
from hubcore.errors import HubcoreError, InvalidInput
from hubcore.identity.permissions import (
    ALL_DISTRICTS,
    can,
    districts_for,
    require,
)
from hubcore.web.forms import Form, show_domain_errors
from hubcore.web.paging import page_args
from hubcore.web.security import public_limit

from . import (actions, candidates, intake, lifecycle, outcomes, person_details, queue, services,
               triage, visibility)
from .api import READ, WRITE, request_in_scope
from .models import (
    CALL_OUTCOMES,
    CIRCUMSTANCES,
    NEEDS,
    OUTCOMES,
    PRIORITIES,
    RECURRENCES,
    STATUSES,
    URGENCIES,
)

hub_requests = Blueprint("hub_requests", __name__, template_folder="templates",
                         static_folder="static", static_url_path="/hub-requests/static")
RECEIPT_KEY = "hub_requests.receipt"
QUEUE_PAGE = 50  # a screen or two; the most urgent first, filters and pages for the rest


@hub_requests.app_template_filter("national_phone")
def national_phone(number: str | None) -> str:
    """A stored E.164 number as people here read it: ``07700 900123``."""
    if not number:
        return ""
    try:
        parsed = phonenumbers.parse(number, "GB")
    except phonenumbers.NumberParseException:
        return number
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)


def _options(labels: dict[str, str]) -> list[SelectChoice]:
    return [SelectChoice(value, label) for value, label in labels.items()]


RECURRENCE_CHOICES = {"none": "No, just once", "weekly": "Every week",
                      "fortnightly": "Every two weeks"}


class AskForHelpForm(Form):
    """What a resident tells us; every rule is checked by ``intake.submit_request``."""

    given_name = StringField("First name")
    family_name = StringField("Last name")
    phone = TelField("Phone number", description="We will ring you on this number. "
                                                 "Give a phone number or an email address.")
    email = EmailField("Email address", description="Optional if you gave a phone number.")
    postcode = StringField("Postcode", description="For example, BL1 1AA. It tells us which "
                                                   "community hub can help you.",
                           filters=[inputs.tidy_postcode])
    address = StringField("Address (optional)")
    needs = SelectMultipleField("What do you need help with?", choices=_options(NEEDS),
                                description="Select all that apply.", validate_choice=False)
    circumstances = SelectMultipleField("Does any of this apply to you?",
                                        choices=_options(CIRCUMSTANCES),
                                        description="Select all that apply. This helps us "
                                                    "help the people in most need first.",
                                        validate_choice=False)
    urgency = RadioField("How soon do you need help?", choices=_options(URGENCIES),
                         validate_choice=False)
    description = TextAreaField("Tell us more (optional)",
                                description="Up to 2000 characters. Do not include bank "
                                            "details.")
    consent = BooleanField("I agree that the community hub may use these details to arrange "
                           "help for me, and share them with the volunteers and services "
                           "that help")


class PhoneIntakeForm(AskForHelpForm):
    recurrence = SelectField("Does this need come back?", choices=_options(RECURRENCE_CHOICES),
                             validate_choice=False)
    consent = BooleanField("The person agreed on the phone that the hub may use these details "
                           "to arrange help, and share them with the volunteers and services "
                           "that help")


class VersionedForm(Form):
    version = HiddenField()


class TransitionForm(VersionedForm):
    to = StringField("New status")  # sent by the button pressed
    reason = StringField("Reason")


class PriorityForm(VersionedForm):
    priority = SelectField("New priority", choices=_options({p: p for p in PRIORITIES}),
                           validate_choice=False)
    priority_reason = StringField("Why")


class EscalationForm(VersionedForm):
    escalated = HiddenField()
    escalation_reason = StringField("Why does this need a senior coordinator?")


class NoteForm(Form):
    body = TextAreaField("Case note")


class CallForm(Form):
    outcome = RadioField("How did the call go?", choices=_options(CALL_OUTCOMES),
                         validate_choice=False)
    notes = TextAreaField("Notes (optional)")


class DuplicateForm(VersionedForm):
    reason = StringField("Reason (optional)")
    other_hub_agreed = BooleanField("I have agreed with the other hub that this is the same need")


class OutcomeForm(VersionedForm):
    outcome = RadioField("Was the need met?", choices=_options(OUTCOMES), validate_choice=False)
    note = TextAreaField("Anything to add (optional)")


class GivenDetailsForm(VersionedForm):
    decision = StringField("Decision")  # sent by the button pressed; checked by the domain


class ChangeRequestForm(VersionedForm):
    """A coordinator's corrections; every rule is checked by ``lifecycle.update_request``."""

    needs = SelectMultipleField("What help is needed?", choices=_options(NEEDS),
                                description="Select all that apply.", validate_choice=False)
    circumstances = SelectMultipleField("Which of these apply to the person?",
                                        choices=_options(CIRCUMSTANCES),
                                        description="Select all that apply.",
                                        validate_choice=False)
    urgency = RadioField("How soon is help needed?", choices=_options(URGENCIES),
                         validate_choice=False)
    description = TextAreaField("In their words",
                                description="Up to 2000 characters. Do not include bank "
                                            "details.")
    recurrence = SelectField("Does this need come back?", choices=_options(RECURRENCE_CHOICES),
                             validate_choice=False)


class OverflowForm(VersionedForm):
    overflow_district = SelectField("Share with", validate_choice=False,
                                    description="The hub you choose sees the request in its "
                                                "queue and can work on it too.")


# -- The public form -------------------------------------------------------------------


def _person(form: AskForHelpForm) -> dict:
    return {k: getattr(form, k).data or "" for k in
            ("given_name", "family_name", "phone", "email", "postcode", "address")}


@hub_requests.get("/help")
def ask():
    return render_template("hub_requests/ask.html", form=AskForHelpForm(), phone=False)


@hub_requests.post("/help")
@public_limit()
def ask_submit():
    form = AskForHelpForm()
    if form.validate_on_submit():
        try:
            found = intake.submit_request(
                person=_person(form), needs=form.needs.data or [],
                circumstances=form.circumstances.data or [], urgency=form.urgency.data or "",
                description=form.description.data or "", consent=bool(form.consent.data),
                channel="web", actor=None)
        except InvalidInput as exc:
            db.session.rollback()
            show_domain_errors(form, exc)
        else:
            db.session.commit()
            session[RECEIPT_KEY] = found.reference
            return redirect(url_for(".received"), 303)
    return render_template("hub_requests/ask.html", form=form, phone=False), 422


@hub_requests.get("/help/received")
def received():
    """The confirmation: shown to the browser that submitted, from its own session."""
    reference = session.get(RECEIPT_KEY)
    found = lifecycle.find_by_reference(reference) if reference else None
    if found is None:
        return redirect(url_for(".ask"))
    hub = intake.hub_contact(found.district_code)
    return render_template("hub_requests/received.html", reference=found.reference, hub=hub,
                           next_steps=intake.next_steps(found, hub))


# -- Phone intake --------------------------------------------------------------------------


@hub_requests.route("/hub-requests/phone", methods=["GET", "POST"])
@login_required
def phone_intake():
    require(current_user, WRITE)
    form = PhoneIntakeForm()
    if form.validate_on_submit():
        try:
            found = intake.submit_request(
                person=_person(form), needs=form.needs.data or [],
                circumstances=form.circumstances.data or [], urgency=form.urgency.data or "",
                description=form.description.data or "", consent=bool(form.consent.data),
                recurrence=form.recurrence.data or "none", channel="phone",
                actor=current_user)
        except InvalidInput as exc:
            db.session.rollback()
            show_domain_errors(form, exc)
        else:
            db.session.commit()
            flash(f"Request {found.reference} recorded. Give the person this reference.",
                  "success")
            return redirect(url_for(".request_page", request_id=found.id), 303)
    status = 422 if form.errors or request.method == "POST" else 200
    return render_template("hub_requests/ask.html", form=form, phone=True), status


# -- The triage queue -------------------------------------------------------------------------


@hub_requests.get("/hub-requests")
@login_required
def queue_page():
    require(current_user, READ)
    held = districts_for(current_user, READ)
    pack = packs.current_pack()
    districts = [d for d in pack.districts if held is ALL_DISTRICTS or d.code in held]
    args = request.args
    district = args.get("district") or None
    if district and (held is not ALL_DISTRICTS and district not in held):
        require(current_user, READ, district)
    status = args.get("status") if args.get("status") in STATUSES else None
    priority = args.get("priority") if args.get("priority") in PRIORITIES else None
    overdue = True if args.get("overdue") == "yes" else None
    now = utcnow()
    statement = queue.queue_statement(held, now=now, district=district, status=status,
                                      overdue=overdue, priority=priority)
    shown = queue.queue_page(statement, **page_args(args, QUEUE_PAGE))
    items = [(r, triage.effective_score(r.score, r.created_at, now, escalated=r.escalated),
              r.is_overdue(now)) for r in shown.items]
    return render_template(
        "hub_requests/queue.html", items=items, page=shown, districts=districts, district=district,
        district_name=packs.district_name(district) or None,
        status=status, priority=priority, overdue=overdue, statuses=lifecycle.STATUS_LABELS,
        priorities=PRIORITIES, needs=NEEDS,
        counts=queue.queue_counts(held, now=now, district=district),
        rules_version=triage.current_rules().version)


# -- One request ------------------------------------------------------------------------------


@hub_requests.get("/hub-requests/<id:request_id>")
@login_required
def request_page(request_id: int):
    found = request_in_scope(request_id, READ)
    return _render_request(found)


def _render_request(found, status_code: int = 200, **forms):
    now = utcnow()
    version = str(found.version)
    suggestions = candidates.candidates_for(found, 5) if found.is_open else None
    # formdata=None: a fresh form shows the request as stored, even when this
    # page is shown again after another form's POST.
    change_form = forms.get("change_form") or ChangeRequestForm(
        formdata=None, prefix="edit", version=version, needs=list(found.needs),
        circumstances=list(found.circumstances), urgency=found.urgency,
        description=found.description or "", recurrence=found.recurrence)
    overflow_form = forms.get("overflow_form") or _overflow_form(
        found, formdata=None, version=version,
        overflow_district=found.overflow_district_code or "")
    dup_link, dup_elsewhere = visibility.duplicate_link(found, current_user)
    person = visibility.person_view(found, current_user)
    return render_template(
        "hub_requests/request.html", r=found, now=now, labels=lifecycle.labels(),
        person=person, given=visibility.given_details_view(found),
        dup_link=dup_link, dup_elsewhere=dup_elsewhere,
        dups_elsewhere=visibility.duplicates_held_elsewhere(found, current_user),
        can_change_person=bool(found.person) and can(current_user, "people.write",
                                                     found.person.district_code),
        details_form=forms.get("details_form") or GivenDetailsForm(prefix="details",
                                                                   version=version),
        outcome_form=forms.get("outcome_form") or OutcomeForm(
            formdata=None, prefix="outcome", version=version, outcome=found.outcome),
        outcome_labels=OUTCOMES,
        effective=triage.effective_score(found.score, found.created_at, now,
                                         escalated=found.escalated),
        overdue=found.is_overdue(now),
        allowed=lifecycle.allowed_transitions(found), suggestions=suggestions,
        routes=services.suggestions_for(found) if found.is_open else {},
        can_write=_can_write(found), hub=intake.hub_contact(found.district_code),
        can_share=can(current_user, WRITE, found.district_code),
        shared_with=packs.district_name(found.overflow_district_code) or None,
        actions=actions.actions_for(found, current_user),
        recurrences=RECURRENCES, change_form=change_form, overflow_form=overflow_form,
        transition_form=forms.get("transition_form") or TransitionForm(prefix="move",
                                                                       version=version),
        priority_form=forms.get("priority_form") or PriorityForm(prefix="priority",
                                                                 version=version,
                                                                 priority=found.priority),
        escalation_form=forms.get("escalation_form") or EscalationForm(prefix="escalate",
                                                                       version=version),
        note_form=forms.get("note_form") or NoteForm(prefix="note"),
        call_form=forms.get("call_form") or CallForm(prefix="call"),
        duplicate_form=forms.get("duplicate_form") or DuplicateForm(prefix="dup",
                                                                    version=version),
    ), status_code


def _can_write(found) -> bool:
    held = districts_for(current_user, WRITE)
    return held is ALL_DISTRICTS or any(d in held for d in found.visible_districts())


def _overflow_form(found, **kwargs) -> OverflowForm:
    """The sharing form, offering the request's neighbouring districts by name."""
    form = OverflowForm(prefix="share", **kwargs)
    own = packs.district(found.district_code)
    neighbours = sorted(((code, packs.district_name(code)) for code in
                         (own.neighbours if own else ())), key=lambda n: n[1])
    form.overflow_district.choices = [SelectChoice("", "Not shared"),
                                      *(SelectChoice(c, name) for c, name in neighbours)]
    return form


def _changes(found, form: ChangeRequestForm) -> dict:
    """Only what the coordinator changed, so an untouched field re-triages nothing."""
    submitted = {"needs": form.needs.data or [], "circumstances": form.circumstances.data or [],
                 "urgency": form.urgency.data or "",
                 "description": (form.description.data or "").replace("\r\n", "\n").strip(),
                 "recurrence": form.recurrence.data or ""}
    stored = {"needs": found.needs, "circumstances": found.circumstances,
              "urgency": found.urgency, "description": found.description or "",
              "recurrence": found.recurrence}
    changes = {}
    for key, value in submitted.items():
        same = (set(value) == set(stored[key])) if isinstance(value, list) else (
            value == stored[key])
        if not same:
            changes[key] = value
    return changes


def _act(request_id: int, form_name: str, form, action):
    """Run one coordinator action from the request page; errors go back on the page."""
    found = request_in_scope(request_id, WRITE)
    if form.validate_on_submit():
        try:
            if isinstance(form, VersionedForm):
                lifecycle.check_version(found, _int(form.version.data))
            message = action(found, form)
        except InvalidInput as exc:
            db.session.rollback()
            show_domain_errors(form, exc)
        except HubcoreError as exc:
            db.session.rollback()
            flash(exc.message, "error")
            return redirect(url_for(".request_page", request_id=request_id), 303)
        else:
            db.session.commit()
            flash(message, "success")
            return redirect(url_for(".request_page", request_id=request_id), 303)
    found = request_in_scope(request_id, WRITE)
    return _render_request(found, 422, **{form_name: form})


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@hub_requests.post("/hub-requests/<id:request_id>/transition")
@login_required
def transition(request_id: int):
    def run(found, form):
        lifecycle.transition(found, form.to.data or "", actor=current_user,
                             reason=form.reason.data)
        return f"{found.reference} is now {lifecycle.STATUS_LABELS[found.status].lower()}."
    return _act(request_id, "transition_form", TransitionForm(prefix="move"), run)


@hub_requests.post("/hub-requests/<id:request_id>/priority")
@login_required
def priority(request_id: int):
    def run(found, form):
        lifecycle.override_priority(found, form.priority.data, form.priority_reason.data,
                                    actor=current_user)
        return f"{found.reference} is now {found.priority}."
    return _act(request_id, "priority_form", PriorityForm(prefix="priority"), run)


@hub_requests.post("/hub-requests/<id:request_id>/escalation")
@login_required
def escalation(request_id: int):
    def run(found, form):
        escalate = form.escalated.data == "yes"
        lifecycle.set_escalation(found, escalate, form.escalation_reason.data,
                                 actor=current_user)
        return f"{found.reference} is {'escalated' if escalate else 'no longer escalated'}."
    return _act(request_id, "escalation_form", EscalationForm(prefix="escalate"), run)


@hub_requests.post("/hub-requests/<id:request_id>/notes")
@login_required
def note(request_id: int):
    def run(found, form):
        lifecycle.add_note(found, form.body.data, actor=current_user)
        return "Note added."
    return _act(request_id, "note_form", NoteForm(prefix="note"), run)


@hub_requests.post("/hub-requests/<id:request_id>/calls")
@login_required
def call(request_id: int):
    def run(found, form):
        lifecycle.log_call(found, form.outcome.data or "", form.notes.data or "",
                           actor=current_user)
        return "Call logged."
    return _act(request_id, "call_form", CallForm(prefix="call"), run)


@hub_requests.post("/hub-requests/<id:request_id>/edit")
@login_required
def change(request_id: int):
    def run(found, form):
        changes = _changes(found, form)
        lifecycle.update_request(found, changes, actor=current_user)  # a finished one: 409
        if not changes:
            return "Nothing was changed."
        triaged = {"needs", "circumstances", "urgency"} & set(changes)
        return f"{found.reference} is updated." + (
            f" Triage now says {found.priority}." if triaged else "")
    return _act(request_id, "change_form", ChangeRequestForm(prefix="edit"), run)


@hub_requests.post("/hub-requests/<id:request_id>/overflow")
@login_required
def overflow(request_id: int):
    found = request_in_scope(request_id, WRITE)
    require(current_user, WRITE, found.district_code)  # only the owning district shares it

    def run(found, form):
        district = form.overflow_district.data or None
        lifecycle.update_request(found, {"overflow_district": district}, actor=current_user)
        if district is None:
            return f"{found.reference} is not shared with another hub."
        return f"{found.reference} is shared with the {packs.district_name(district)} hub."
    return _act(request_id, "overflow_form", _overflow_form(found), run)


@hub_requests.post("/hub-requests/<id:request_id>/duplicate/<any(confirm, dismiss):decision>")
@login_required
def duplicate(request_id: int, decision: str):
    def run(found, form):
        if decision == "confirm":
            link, _elsewhere = visibility.duplicate_link(found, current_user)
            original = lifecycle.confirm_duplicate(
                found, actor=current_user, other_hub_agreed=bool(form.other_hub_agreed.data))
            if link is None:
                return "Merged into the other hub's request and closed."
            return f"Merged into {original.reference} and closed."
        lifecycle.dismiss_duplicate(found, actor=current_user, reason=form.reason.data)
        return "Duplicate flag dismissed: both requests stay open."
    return _act(request_id, "duplicate_form", DuplicateForm(prefix="dup"), run)


@hub_requests.post("/hub-requests/<id:request_id>/outcome")
@login_required
def outcome(request_id: int):
    def run(found, form):
        outcomes.record_outcome(found, form.outcome.data, form.note.data, actor=current_user)
        return f"Outcome recorded for {found.reference}."
    return _act(request_id, "outcome_form", OutcomeForm(prefix="outcome"), run)


@hub_requests.post("/hub-requests/<id:request_id>/given-details")
@login_required
def given_details(request_id: int):
    def run(found, form):
        person_details.settle_given_details(found, form.decision.data, actor=current_user)
        if form.decision.data == "apply":
            return "The person's record now has the details given with this request."
        return "The person's record is kept as it was."
    return _act(request_id, "details_form", GivenDetailsForm(prefix="details"), run)

