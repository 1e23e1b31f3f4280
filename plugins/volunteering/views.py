"""Pages: the public sign-up, coordinators' volunteer list and vetting, a volunteer's tasks.

Thin: a form in, a domain function, a page or a redirect out. Every POST is
CSRF-protected by the web shell; the public form works without JavaScript.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import (
    Blueprint,
    abort,
    flash,
    has_request_context,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required
from wtforms import (
    BooleanField,
    DateField,
    DecimalField,
    EmailField,
    SelectField,
    SelectMultipleField,
    StringField,
    TelField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from hubcore import inputs
from hubcore.api import load, paginate
from hubcore.db import LONDON, db, utcnow
from hubcore.districts import packs
from hubcore.errors import Conflict, HubcoreError, InvalidInput
from hubcore.identity.permissions import can, districts_for, require, require_record
from hubcore.web.forms import Form, show_domain_errors
from hubcore.web.paging import page_args
from hubcore.web.redirects import safe_next
from hubcore.web.security import public_limit

from . import hours, matching, offers, signup, vetting
from .models import DAYS, PARTS, STATUSES
from .schemas import OfferIn

volunteering = Blueprint("volunteering", __name__, template_folder="templates")
READ, MANAGE, VERIFY, HOURS = ("volunteering.volunteers.read", "volunteering.volunteers.manage",
                               "volunteering.dbs.verify", "volunteering.hours.read")
SKILL_LABELS = {"driving": "Driving", "shopping": "Shopping",
                "prescription_collection": "Collecting prescriptions",
                "befriending": "Befriending (phone or visits)", "dog_walking": "Dog walking",
                "practical_tasks": "Practical tasks", "admin": "Admin and office work",
                "languages": "Interpreting or translating"}
DAY_NAMES = dict(zip(DAYS, ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday",
                            "Saturday", "Sunday"), strict=True))


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class SignUpForm(Form):
    given_name = StringField("First name", validators=[
        InputRequired("Enter your first name."), Length(max=100)])
    family_name = StringField("Last name", validators=[Length(max=100)])
    email = EmailField("Email address", validators=[Optional(), Length(max=254)],
                       description="We will use this to contact you. Give an email address, "
                                   "a phone number, or both.")
    phone = TelField("Phone number", validators=[Optional(), Length(max=40)])
    postcode = StringField("Postcode", validators=[InputRequired("Enter your postcode."),
                                                   Length(max=10)],
                           filters=[inputs.tidy_postcode],
                           description="Your postcode tells us which district's team "
                                       "will contact you.")
    skills = MultiCheckboxField("How can you help?",
                                choices=[SelectChoice(k, v) for k, v in SKILL_LABELS.items()],
                                validate_choice=False)
    languages = StringField("Languages you speak, other than English", validators=[
        Length(max=300)], description="For example: Urdu, Polish. Leave blank if none.")
    availability = MultiCheckboxField(
        "When are you free each week?",
        choices=[SelectChoice(f"{d}_{p}", f"{DAY_NAMES[d]} {p}") for d in DAYS for p in PARTS],
        validate_choice=False)
    max_travel_km = DecimalField("How far can you travel, in kilometres?", places=1, default=5,
                                 validators=[InputRequired("Enter how far you can travel."),
                                             NumberRange(0.5, 50, "Enter a distance from 0.5 "
                                                                  "to 50 km.")])
    has_car = BooleanField("I have a car I can use when volunteering")
    consent = BooleanField("I agree that my details are stored so that the volunteer team "
                           "can contact me and offer me tasks")


class StatusForm(Form):
    reason = StringField("Reason (optional)", validators=[Length(max=500)])


class DbsForm(Form):
    level = SelectField("DBS check level", choices=[
        SelectChoice("none", "None"), SelectChoice("basic", "Basic"),
        SelectChoice("enhanced", "Enhanced, with the adults' barred list")])
    certificate_number = StringField("Certificate number", validators=[Length(max=20)],
                                     description="12 digits, on the certificate.")
    issue_date = DateField("Date of issue", validators=[Optional()],
                           description="As printed on the certificate, for example 2025-03-27.")


class HoursForm(Form):
    hours = DecimalField("Hours spent", places=2, validators=[
        InputRequired("Enter the hours you spent."),
        NumberRange(0.1, 24, "Enter the hours spent, from 0.1 to 24.")])


class ReleaseForm(Form):
    reason = TextAreaField("Why are you giving this task back?", validators=[
        InputRequired("Say why you are giving the task back."), Length(max=500)])


# -- The public front door ------------------------------------------------------------------


@volunteering.route("/volunteer", methods=["GET", "POST"])
@public_limit()
def sign_up():
    form = SignUpForm()
    if form.validate_on_submit():
        details = {
            "given_name": form.given_name.data, "family_name": form.family_name.data or "",
            "email": form.email.data or None, "phone": form.phone.data or None,
            "postcode": form.postcode.data, "skills": form.skills.data or [],
            "languages": form.languages.data or "", "availability": form.availability.data or [],
            "max_travel_km": float(form.max_travel_km.data), "has_car": form.has_car.data,
            "consent": form.consent.data,
        }
        try:
            answer = signup.sign_up_publicly(details)  # the same for details signed up before
        except InvalidInput as exc:
            db.session.rollback()
            show_domain_errors(form, exc)
        else:
            db.session.commit()
            return redirect(url_for("volunteering.signed_up", district=answer.district_name,
                                    sent=answer.sent_by))
    status = 422 if form.errors else 200
    return render_template("volunteering/sign_up.html", form=form, days=DAYS,
                           day_names=DAY_NAMES, skill_choices=list(SKILL_LABELS.items())), status


@volunteering.get("/volunteer/thank-you")
def signed_up():
    names = {d.name for d in packs.current_pack().districts}
    district = request.args.get("district", "")
    sent = request.args.get("sent")
    return render_template("volunteering/signed_up.html",
                           district=district if district in names else None,
                           sent=sent if sent in ("email", "sms") else None)


# -- Coordinators -----------------------------------------------------------------------------


@volunteering.get("/volunteering/volunteers")
@login_required
def volunteer_list():
    require(current_user, READ)
    status = request.args.get("status") or None
    if status not in (None, *STATUSES):
        status = None
    query = vetting.volunteers_in(districts_for(current_user, READ), status=status)
    shown = paginate(query, page_args(request.args, VOLUNTEERS_PAGE))
    reviews = (vetting.dbs_review_due(districts_for(current_user, VERIFY))
               if districts_for(current_user, VERIFY) else [])
    return render_template("volunteering/volunteers.html", volunteers=shown.items, page=shown,
                           status=status,
                           statuses=STATUSES, reviews=reviews, district_name=packs.district_name)




def _volunteer_page(volunteer, *, dbs_form=None, status_form=None, status=200):
    dbs_form = dbs_form or DbsForm(formdata=None, level=volunteer.dbs_level,
                                   certificate_number=volunteer.dbs_certificate_number,
                                   issue_date=volunteer.dbs_issue_date)
    return render_template(
        "volunteering/volunteer.html", volunteer=volunteer, dbs_form=dbs_form,
        status_form=status_form or StatusForm(formdata=None),
        transitions=vetting.TRANSITIONS[volunteer.status], skill_labels=SKILL_LABELS,
        effective_level=vetting.effective_level(volunteer), district_name=packs.district_name,
        can_manage=_can(MANAGE, volunteer), can_verify=_can(VERIFY, volunteer)), status


def _can(permission: str, volunteer) -> bool:
    return can(current_user, permission, volunteer.district_code)


@volunteering.get("/volunteering/volunteers/<id:volunteer_id>")
@login_required
def volunteer_detail(volunteer_id: int):
    volunteer = vetting.get_volunteer(volunteer_id)
    require_record(current_user, READ, volunteer.district_code)
    return _volunteer_page(volunteer)


VOLUNTEERS_PAGE = 50
ACTIONS = {"activate": "active", "pause": "paused", "leave": "left"}
DONE = {"active": "is now active", "paused": "is paused", "left": "has been recorded as left"}


@volunteering.post("/volunteering/volunteers/<id:volunteer_id>/<any(activate, pause, leave):action>")
@login_required
def change_status(volunteer_id: int, action: str):
    volunteer = vetting.get_volunteer(volunteer_id)
    require_record(current_user, MANAGE, volunteer.district_code)
    form = StatusForm()
    if not form.validate_on_submit():
        return _volunteer_page(volunteer, status_form=form, status=422)
    try:
        vetting.change_status(volunteer, ACTIONS[action], actor=current_user,
                              reason=form.reason.data or "")
    except Conflict as exc:
        db.session.rollback()
        flash(exc.message, "error")
    else:
        db.session.commit()
        flash(f"{volunteer.name} {DONE[ACTIONS[action]]}.", "success")
    return redirect(url_for("volunteering.volunteer_detail", volunteer_id=volunteer_id))


@volunteering.post("/volunteering/volunteers/<id:volunteer_id>/dbs")
@login_required
def verify_dbs(volunteer_id: int):
    volunteer = vetting.get_volunteer(volunteer_id)
    require_record(current_user, VERIFY, volunteer.district_code)
    form = DbsForm()
    if form.validate_on_submit():
        try:
            vetting.verify_dbs(volunteer, level=form.level.data,
                               certificate_number=form.certificate_number.data,
                               issue_date=form.issue_date.data, actor=current_user)
        except InvalidInput as exc:
            db.session.rollback()
            show_domain_errors(form, exc, {"level": "level"})
        else:
            db.session.commit()
            flash("The DBS check is recorded.", "success")
            return redirect(url_for("volunteering.volunteer_detail", volunteer_id=volunteer_id))
    db.session.rollback()
    return _volunteer_page(vetting.get_volunteer(volunteer_id), dbs_form=form, status=422)


@volunteering.get("/volunteering/hours")
@login_required
def hours_page():
    require(current_user, HOURS)
    now = utcnow()
    report = hours.hours_report(districts_for(current_user, HOURS),
                                since=now - timedelta(days=28), now=now)
    return render_template("volunteering/hours.html", report=report,
                           district_name=packs.district_name)


def offer_form_url() -> str | None:
    """Where another plugin's page posts an offer (``offer_task``); None outside a web request.

    Given to owners in every candidate from ``find_helpers`` as ``offer_url``
    so their pages can offer a task without knowing this plugin.
    """
    return url_for("volunteering.offer_task") if has_request_context() else None


@volunteering.post("/volunteering/offers")
@login_required
def offer_task():
    """Offer a task from another plugin's page: a form naming the task and, maybe, a volunteer.

    Fields: owner, owner_id, volunteer_id or helper_id (as find_helpers gave
    it; none: the best candidate), next (a path to return to). The task
    itself is asked of its owner (``task_details``), never read from the
    form; the coordinator must hold the right in the task's own district.
    """
    form = request.form
    require(current_user, "volunteering.offers.manage")
    try:
        data = load(OfferIn(), {
            "owner": form.get("owner", ""), "owner_id": form.get("owner_id", ""),
            "volunteer_id": form.get("volunteer_id")
            or matching.volunteer_id_of(form.get("helper_id", "")) or None})
        task = offers.owners_task(data["owner"], data["owner_id"], user=current_user)
        offer = offers.make_offer(task, volunteer_id=data["volunteer_id"], actor=current_user)
    except (InvalidInput, Conflict, offers.TaskOwnerUnavailable) as exc:
        db.session.rollback()
        details = "; ".join(m for msgs in exc.fields.values() for m in msgs)
        flash(f"{exc.message} {details}".strip(), "error")
    else:
        db.session.commit()
        flash(f"The task is offered to {offer.volunteer.name} until "
              f"{offer.expires_at.astimezone(LONDON):%H:%M on %d %B}.", "success")
    return redirect(safe_next(form.get("next"), url_for("volunteering.volunteer_list")))


# -- A volunteer's own tasks --------------------------------------------------------------------


def _mine():
    mine = vetting.volunteer_for_account(current_user)
    if mine is None:
        abort(404)
    return mine


@volunteering.get("/volunteering/my-tasks")
@login_required
def my_tasks():
    mine = vetting.volunteer_for_account(current_user)
    return _my_tasks_page(mine)


def _my_tasks_page(mine, *, hours_forms=None, release_forms=None, status=200):
    open_offers = offers.open_offers_for(mine) if mine else []
    assignments = offers.assignments_for(mine) if mine else []
    hours_forms = hours_forms or {}
    release_forms = release_forms or {}
    return render_template(
        "volunteering/my_tasks.html", volunteer=mine, offers=open_offers,
        active=[a for a in assignments if a.status == "active"],
        finished=[a for a in assignments if a.status != "active"],
        hours_form_for=lambda a: hours_forms.get(a.id) or HoursForm(formdata=None,
                                                                     prefix=f"a{a.id}"),
        release_form_for=lambda a: release_forms.get(a.id) or ReleaseForm(
            formdata=None, prefix=f"r{a.id}"),
        needs_text=_needs_text, due_at=_due_at), status


def _due_at(task: dict) -> datetime | None:
    return datetime.fromisoformat(task["due_at"]) if task.get("due_at") else None


def _needs_text(task: dict) -> str:
    return ", ".join(n.replace("_", " ") for n in task.get("needs", ())).capitalize()


@volunteering.post("/volunteering/my-tasks/offers/<id:offer_id>/<any(accept, decline):answer>")
@login_required
def answer_offer(offer_id: int, answer: str):
    offer = offers.get_offer(offer_id)
    try:
        if answer == "accept":
            offers.accept(offer, account=current_user)
            message = "You have the task. Thank you!"
        else:
            offers.decline(offer, account=current_user)
            message = "You declined the task. Thank you for letting us know."
    except HubcoreError as exc:
        db.session.rollback()
        if exc.status == 404:
            raise
        flash(exc.message, "error")
    else:
        db.session.commit()
        flash(message, "success")
    return redirect(url_for("volunteering.my_tasks"))


@volunteering.post("/volunteering/my-tasks/<id:assignment_id>/complete")
@login_required
def complete_task(assignment_id: int):
    mine = _mine()
    assignment = offers.get_assignment(assignment_id)
    form = HoursForm(prefix=f"a{assignment_id}")
    if form.validate_on_submit():
        try:
            offers.complete(assignment, hours=float(form.hours.data), account=current_user)
        except InvalidInput as exc:
            db.session.rollback()
            show_domain_errors(form, exc)
        except Conflict as exc:
            db.session.rollback()
            flash(exc.message, "error")
            return redirect(url_for("volunteering.my_tasks"))
        else:
            db.session.commit()
            flash(f"Thank you: {assignment.hours:g} hours logged.", "success")
            return redirect(url_for("volunteering.my_tasks"))
    return _my_tasks_page(mine, hours_forms={assignment_id: form}, status=422)


@volunteering.post("/volunteering/my-tasks/<id:assignment_id>/release")
@login_required
def release_task(assignment_id: int):
    mine = _mine()
    assignment = offers.get_assignment(assignment_id)
    if assignment.volunteer_id != mine.id:
        abort(404)
    form = ReleaseForm(prefix=f"r{assignment_id}")
    if form.validate_on_submit():
        try:
            offers.release(assignment, reason=form.reason.data, actor=current_user)
        except Conflict as exc:
            db.session.rollback()
            flash(exc.message, "error")
        else:
            db.session.commit()
            flash("The task has been given back to the hub.", "success")
        return redirect(url_for("volunteering.my_tasks"))
    return _my_tasks_page(mine, release_forms={assignment_id: form}, status=422)
