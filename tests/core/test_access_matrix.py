"""The access matrix: every route × every role × where the record lives (issue 14, item 8).

``ROUTES`` below says, for every route in the URL map, what it needs: a
permission from the registry (and how district scope applies), or only a
signed-in account, or nothing (public). It is written by hand, so it is a
statement of the rules, not a copy of the code's own answer; a route with
no row fails ``test_every_route_has_a_row`` with the rows to add.

Who holds which permission is read from the registry (``hubcore_permissions``
hooks): every role the registry knows gets an account, through an
organisation serving Bolton and Bury, and an administrator is added. Each
scoped route is called for a record in Bolton ("own"), in Bury ("second":
the second district of the organisation), in Manchester ("other") and in
Wigan shared with Bolton as overflow ("overflow"). The expected answer is
worked out from the row and the registry; a call that is allowed must have
its effect (a field changed, a row added, the record listed), and a call
that is refused must change nothing.

Records that are only read are built once per module; a call that changes
something gets a record of its own.
"""

from __future__ import annotations

import itertools
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from hubcore import audit, jobs, notify
from hubcore.api import etag_for
from hubcore.audit import AuditEntry
from hubcore.db import db as _db
from hubcore.db import utcnow
from hubcore.identity import accounts, people
from hubcore.identity.models import Account, ApiToken, Consent, Membership, Organisation, Person
from hubcore.notify import OutboxMessage
from tests.conftest import (
    BOLTON,
    BURY,
    MANCHESTER,
    PASSWORD,
    WIGAN,
    csrf_token_from,
    login,
    make_app,
)

# -- What each route needs: the table -------------------------------------------------------

PUBLIC = "public"  # no account needed (skipped by the matrix; see the OpenAPI check)
SIGNED_IN = "signed in"  # any signed-in account
ADMIN = "administrators"  # an administrator (no registry permission names it)
NOBODY = "nobody else"  # only the record's own volunteer

# How district scope applies to the permission:
ANY = "held anywhere"  # the district does not matter (or the permission is unscoped)
RECORD = "record's district"  # held where the record is; elsewhere it reads as not found
VISIBLE = "record's district or its overflow"  # as RECORD, and a neighbour it is shared with
OWNING = "found via overflow, done by its own district"  # seen as VISIBLE; acting: its district
LISTED = "list of the districts held"  # 2xx for any holder; lists only records where held
LISTED_VISIBLE = "list, overflow included"  # as LISTED, with requests shared as overflow
BODY = "district named in the request"  # a create: held in the district it lands in
OWN = "own record"  # the caller's own token or account; someone else's needs `need`
SELF = "own volunteer record"  # the caller's own offer or task; others need `need`


@dataclass(frozen=True)
class Row:
    need: str  # a registry permission, or PUBLIC, SIGNED_IN, ADMIN, NOBODY
    scope: str = ANY
    elsewhere: int | None = None  # the refusal when held but not here (default: 404; BODY 403)


ROUTES: dict[tuple[str, str], Row] = {
    # Web shell and sign-in
    ("GET", "/"): Row(PUBLIC),
    ("GET", "/healthz"): Row(PUBLIC),
    ("GET", "/static/<path:filename>"): Row(PUBLIC),
    ("GET", "/login"): Row(PUBLIC),
    ("POST", "/login"): Row(PUBLIC),
    ("POST", "/logout"): Row(SIGNED_IN),
    ("GET", "/password/forgotten"): Row(PUBLIC),
    ("POST", "/password/forgotten"): Row(PUBLIC),
    ("GET", "/password/forgotten/sent"): Row(PUBLIC),
    ("GET", "/password/set/<token>"): Row(PUBLIC),
    ("POST", "/password/set/<token>"): Row(PUBLIC),
    ("GET", "/account"): Row(SIGNED_IN),
    ("GET", "/account/password"): Row(SIGNED_IN),
    ("POST", "/account/password"): Row(SIGNED_IN),
    ("POST", "/account/tokens/<id:token_id>/revoke"): Row(ADMIN, OWN),
    ("GET", "/audit"): Row("audit.read", LISTED),
    ("GET", "/audit/verify"): Row("audit.verify"),
    ("GET", "/jobs"): Row("jobs.read"),
    ("POST", "/jobs/<job_id>/requeue"): Row("jobs.manage"),
    ("POST", "/jobs/outbox/<id:message_id>/resend"): Row("jobs.manage"),
    # Identity API
    ("POST", "/api/v1/tokens"): Row(PUBLIC),
    ("GET", "/api/v1/tokens"): Row(SIGNED_IN),
    ("DELETE", "/api/v1/tokens/current"): Row(SIGNED_IN),
    ("DELETE", "/api/v1/tokens/<id:token_id>"): Row(ADMIN, OWN),
    ("GET", "/api/v1/me"): Row(SIGNED_IN),
    ("GET", "/api/v1/openapi.json"): Row(PUBLIC),
    ("POST", "/api/v1/accounts"): Row("accounts.manage"),
    ("GET", "/api/v1/accounts/<id:account_id>"): Row("accounts.manage", OWN, elsewhere=403),
    ("POST", "/api/v1/accounts/<id:account_id>/invite"): Row("accounts.manage"),
    ("POST", "/api/v1/accounts/<id:account_id>/disable"): Row("accounts.manage"),
    ("POST", "/api/v1/accounts/<id:account_id>/enable"): Row("accounts.manage"),
    ("GET", "/api/v1/organisations"): Row(SIGNED_IN),
    ("POST", "/api/v1/organisations"): Row("organisations.manage"),
    ("GET", "/api/v1/organisations/<id:organisation_id>"): Row(SIGNED_IN),
    ("PATCH", "/api/v1/organisations/<id:organisation_id>"): Row("organisations.manage"),
    ("POST", "/api/v1/organisations/<id:organisation_id>/members"): Row("accounts.manage"),
    ("POST", "/api/v1/people"): Row("people.write", BODY),
    ("GET", "/api/v1/people"): Row("people.read", LISTED),
    ("GET", "/api/v1/people/<id:person_id>"): Row("people.read", RECORD),
    ("PATCH", "/api/v1/people/<id:person_id>"): Row("people.write", RECORD),
    ("DELETE", "/api/v1/people/<id:person_id>"): Row("people.erase", RECORD),
    ("POST", "/api/v1/people/<id:person_id>/merge"): Row("people.write", RECORD),
    ("POST", "/api/v1/people/<id:person_id>/consents"): Row("people.write", RECORD),
    ("POST", "/api/v1/people/<id:person_id>/consents/<id:consent_id>/withdraw"):
        Row("people.write", RECORD),
    ("GET", "/api/v1/people/<id:person_id>/export"): Row("people.export", RECORD),
    # Districts (reference data)
    ("GET", "/api/v1/districts"): Row(PUBLIC),
    ("GET", "/api/v1/districts/<code>"): Row(PUBLIC),
    ("GET", "/api/v1/districts/lookup"): Row(PUBLIC),
    # Audit and jobs API
    ("GET", "/api/v1/audit"): Row("audit.read", LISTED),
    ("GET", "/api/v1/audit/verify"): Row("audit.verify"),
    ("GET", "/api/v1/audit/head"): Row("audit.verify"),
    ("GET", "/api/v1/jobs/failed"): Row("jobs.read"),
    ("POST", "/api/v1/jobs/failed/<job_id>/requeue"): Row("jobs.manage"),
    ("GET", "/api/v1/jobs/outbox/failed"): Row("jobs.read"),
    ("POST", "/api/v1/jobs/outbox/<id:message_id>/resend"): Row("jobs.manage"),
    # Help requests API
    ("POST", "/api/v1/help-requests"): Row(PUBLIC),
    ("GET", "/api/v1/help-requests"): Row("help_requests.read", LISTED_VISIBLE),
    ("GET", "/api/v1/help-requests/<id:request_id>"): Row("help_requests.read", VISIBLE),
    ("PATCH", "/api/v1/help-requests/<id:request_id>"): Row("help_requests.write", VISIBLE),
    ("GET", "/api/v1/help-requests/<id:request_id>/calls"): Row("help_requests.read", VISIBLE),
    ("POST", "/api/v1/help-requests/<id:request_id>/calls"):
        Row("help_requests.write", VISIBLE),
    ("GET", "/api/v1/help-requests/<id:request_id>/candidates"):
        Row("help_requests.read", VISIBLE),
    ("POST", "/api/v1/help-requests/<id:request_id>/duplicate/confirm"):
        Row("help_requests.write", VISIBLE),
    ("POST", "/api/v1/help-requests/<id:request_id>/duplicate/dismiss"):
        Row("help_requests.write", VISIBLE),
    ("POST", "/api/v1/help-requests/<id:request_id>/given-details"):
        Row("help_requests.write", VISIBLE),
    ("GET", "/api/v1/help-requests/<id:request_id>/history"):
        Row("help_requests.read", VISIBLE),
    ("GET", "/api/v1/help-requests/<id:request_id>/notes"): Row("help_requests.read", VISIBLE),
    ("POST", "/api/v1/help-requests/<id:request_id>/notes"):
        Row("help_requests.write", VISIBLE),
    ("POST", "/api/v1/help-requests/<id:request_id>/outcome"):
        Row("help_requests.write", VISIBLE),
    ("GET", "/api/v1/help-requests/<id:request_id>/services"):
        Row("help_requests.read", VISIBLE),
    ("POST", "/api/v1/help-requests/<id:request_id>/transitions"):
        Row("help_requests.write", VISIBLE),
    # Help requests pages
    ("GET", "/help"): Row(PUBLIC),
    ("POST", "/help"): Row(PUBLIC),
    ("GET", "/help/received"): Row(PUBLIC),
    ("GET", "/hub-requests/static/<path:filename>"): Row(PUBLIC),
    ("GET", "/hub-requests"): Row("help_requests.read", LISTED_VISIBLE),
    ("GET", "/hub-requests/phone"): Row("help_requests.write"),
    ("POST", "/hub-requests/phone"): Row("help_requests.write", BODY),
    ("GET", "/hub-requests/<id:request_id>"): Row("help_requests.read", VISIBLE),
    ("POST", "/hub-requests/<id:request_id>/calls"): Row("help_requests.write", VISIBLE),
    ("POST", "/hub-requests/<id:request_id>/duplicate/<any(confirm, dismiss):decision>"):
        Row("help_requests.write", VISIBLE),
    ("POST", "/hub-requests/<id:request_id>/edit"): Row("help_requests.write", VISIBLE),
    ("POST", "/hub-requests/<id:request_id>/escalation"): Row("help_requests.write", VISIBLE),
    ("POST", "/hub-requests/<id:request_id>/given-details"):
        Row("help_requests.write", VISIBLE),
    ("POST", "/hub-requests/<id:request_id>/notes"): Row("help_requests.write", VISIBLE),
    ("POST", "/hub-requests/<id:request_id>/outcome"): Row("help_requests.write", VISIBLE),
    ("POST", "/hub-requests/<id:request_id>/overflow"): Row("help_requests.write", OWNING),
    ("POST", "/hub-requests/<id:request_id>/priority"): Row("help_requests.write", VISIBLE),
    ("POST", "/hub-requests/<id:request_id>/transition"): Row("help_requests.write", VISIBLE),
    # Volunteering API
    ("POST", "/api/v1/volunteers"): Row(PUBLIC),
    ("GET", "/api/v1/volunteers"): Row("volunteering.volunteers.read", LISTED),
    ("GET", "/api/v1/volunteers/dbs-reviews"): Row("volunteering.dbs.verify", LISTED),
    ("GET", "/api/v1/volunteers/<id:volunteer_id>"):
        Row("volunteering.volunteers.read", RECORD),
    ("PATCH", "/api/v1/volunteers/<id:volunteer_id>"):
        Row("volunteering.volunteers.manage", RECORD),
    ("POST", "/api/v1/volunteers/<id:volunteer_id>/activate"):
        Row("volunteering.volunteers.manage", RECORD),
    ("POST", "/api/v1/volunteers/<id:volunteer_id>/pause"):
        Row("volunteering.volunteers.manage", RECORD),
    ("POST", "/api/v1/volunteers/<id:volunteer_id>/leave"):
        Row("volunteering.volunteers.manage", RECORD),
    ("POST", "/api/v1/volunteers/<id:volunteer_id>/dbs"): Row("volunteering.dbs.verify", RECORD),
    ("POST", "/api/v1/volunteering/offers"):
        Row("volunteering.offers.manage", RECORD, elsewhere=422),
    ("GET", "/api/v1/volunteering/offers"): Row("volunteering.offers.manage", LISTED),
    ("GET", "/api/v1/volunteering/offers/<id:offer_id>"):
        Row("volunteering.offers.manage", SELF),
    ("POST", "/api/v1/volunteering/offers/<id:offer_id>/accept"): Row(NOBODY, SELF),
    ("POST", "/api/v1/volunteering/offers/<id:offer_id>/decline"): Row(NOBODY, SELF),
    ("POST", "/api/v1/volunteering/offers/<id:offer_id>/withdraw"):
        Row("volunteering.offers.manage", RECORD),
    ("POST", "/api/v1/volunteering/batch-proposals"): Row("volunteering.offers.manage", BODY),
    ("GET", "/api/v1/volunteering/my/offers"): Row(SIGNED_IN),
    ("GET", "/api/v1/volunteering/my/assignments"): Row(SIGNED_IN),
    ("POST", "/api/v1/volunteering/assignments/<id:assignment_id>/complete"): Row(NOBODY, SELF),
    ("POST", "/api/v1/volunteering/assignments/<id:assignment_id>/release"):
        Row("volunteering.offers.manage", SELF),
    ("GET", "/api/v1/volunteering/hours"): Row("volunteering.hours.read", LISTED),
    # Volunteering pages
    ("GET", "/volunteer"): Row(PUBLIC),
    ("POST", "/volunteer"): Row(PUBLIC),
    ("GET", "/volunteer/thank-you"): Row(PUBLIC),
    ("GET", "/volunteering/volunteers"): Row("volunteering.volunteers.read", LISTED),
    ("GET", "/volunteering/volunteers/<id:volunteer_id>"):
        Row("volunteering.volunteers.read", RECORD),
    ("POST", "/volunteering/volunteers/<id:volunteer_id>/<any(activate, pause, leave):action>"):
        Row("volunteering.volunteers.manage", RECORD),
    ("POST", "/volunteering/volunteers/<id:volunteer_id>/dbs"):
        Row("volunteering.dbs.verify", RECORD),
    ("POST", "/volunteering/offers"): Row("volunteering.offers.manage", RECORD, elsewhere=302),
    ("GET", "/volunteering/hours"): Row("volunteering.hours.read", LISTED),
    ("GET", "/volunteering/my-tasks"): Row(SIGNED_IN),
    ("POST", "/volunteering/my-tasks/<id:assignment_id>/complete"): Row(NOBODY, SELF),
    ("POST", "/volunteering/my-tasks/<id:assignment_id>/release"): Row(NOBODY, SELF),
    ("POST", "/volunteering/my-tasks/offers/<id:offer_id>/<any(accept, decline):answer>"):
        Row(NOBODY, SELF),
}

# Where the record of a call lives: (its district, the district it is shared with).
PLACES = {"own": (BOLTON, None), "second": (BURY, None), "other": (MANCHESTER, None),
          "overflow": (WIGAN, BOLTON)}
POSTCODES = {BOLTON: "BL1 4AB", BURY: "BL9 0AA", MANCHESTER: "M1 1AE", WIGAN: "WN1 1XX"}
HOME = (BOLTON, BURY)  # the districts every role's organisation serves


# -- Who is asking ------------------------------------------------------------------------


def _registry_roles() -> tuple[str, ...]:
    """The roles the registry knows (core roles and every role a permission names)."""
    app = make_app("sqlite://")
    with app.app_context():
        return app.extensions["hubcore"].permissions.roles


ROLES = _registry_roles()
ACTORS = ("admin", *ROLES)
VOLUNTEER_ROLE = "volunteer"  # the role whose actor is also a volunteer (SELF routes)


@dataclass
class Actor:
    name: str
    role: str | None
    is_admin: bool
    account_id: int
    email: str
    api: object  # a test client with a bearer token
    web: object  # a test client with a signed-in session
    csrf: str  # that session's CSRF token
    districts: tuple[str, ...] = HOME

    @property
    def is_volunteer(self) -> bool:
        return self.role == VOLUNTEER_ROLE

    @property
    def account(self) -> Account:
        return _db.session.get(Account, self.account_id)


@dataclass
class Expect:
    allowed: bool
    status: int | None = None  # the refusal when not allowed
    shown: bool = True  # a list shows the place's record


# -- The records ---------------------------------------------------------------------------

_n = itertools.count(1)
BROAD_AVAILABILITY = ["mon_morning", "mon_afternoon", "mon_evening", "tue_morning",
                      "tue_afternoon", "tue_evening", "wed_morning", "wed_afternoon",
                      "wed_evening", "thu_morning", "thu_afternoon", "thu_evening",
                      "fri_morning", "fri_afternoon", "fri_evening", "sat_morning",
                      "sat_afternoon", "sat_evening", "sun_morning", "sun_afternoon",
                      "sun_evening"]


def unique(prefix: str) -> str:
    return f"{prefix}{next(_n)}"


def _phone() -> str:
    return f"07700 9{next(_n):05d}"


class World:
    """One app and database for the module: the actors, and records that are only read."""

    def __init__(self, app):
        self.app = app
        self.registry = app.extensions["hubcore"].permissions
        self.admin_id = None
        self.actors: dict[str, Actor] = {}
        self.anon_api = app.test_client()
        self.anon_web = app.test_client()
        self.anon_csrf = ""
        self.people: dict[str, int] = {}
        self.requests: dict[str, int] = {}
        self.volunteers: dict[str, int] = {}
        self.offers: dict[str, int] = {}
        self.shared_assignment: int | None = None
        self.names: dict[str, dict[str, str]] = {}
        self.volunteer_id: int | None = None  # the volunteer actor's volunteer record
        self.other_account_id: int | None = None
        self.organisation_id: int | None = None

    # Who holds what: from the registry, worked out here (not by calling ``can``).
    def holds(self, actor: Actor, permission: str, district: str | None) -> bool:
        if actor.is_admin:
            return True
        perm = self.registry.get(permission)
        if actor.role not in perm.roles:
            return False
        return district is None or not perm.scoped or district in actor.districts

    @property
    def admin(self) -> Account:
        return _db.session.get(Account, self.admin_id)

    def build(self) -> None:
        from plugins.hub_requests import lifecycle

        admin = accounts.create_account(email="matrix-admin@example.org", name="Matrix Admin",
                                        password=PASSWORD, is_admin=True)
        _db.session.commit()
        self.admin_id = admin.id
        for name in ACTORS:
            role = None if name == "admin" else name
            if role is None:
                account = admin
            else:
                account = accounts.create_account(
                    email=f"matrix-{role}@example.org", name=f"Matrix {role}",
                    password=PASSWORD)
                organisation = accounts.create_organisation(
                    name=f"Matrix {role} organisation", kind="hub", districts=list(HOME))
                accounts.add_membership(account, organisation, role)
            _token, secret = accounts.issue_token(account)
            _db.session.commit()
            api = self.app.test_client()
            api.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {secret}"
            web = self.app.test_client()
            login(web, account.email)
            csrf = csrf_token_from(web.get("/account").get_data(as_text=True))
            self.actors[name] = Actor(name, role, role is None, account.id, account.email,
                                      api, web, csrf)
        self.anon_csrf = csrf_token_from(self.anon_web.get("/login").get_data(as_text=True))
        other = accounts.create_account(email="matrix-other@example.org", name="Someone Else",
                                        password=PASSWORD)
        organisation = accounts.create_organisation(name="Matrix shared organisation",
                                                    kind="vcse", districts=[MANCHESTER])
        _db.session.commit()
        self.other_account_id, self.organisation_id = other.id, organisation.id
        if VOLUNTEER_ROLE in self.actors:
            actor = self.actors[VOLUNTEER_ROLE]
            volunteer = self.new_volunteer(BOLTON, email=actor.email)
            assert volunteer.account_id == actor.account_id, "the volunteer actor is linked"
            self.volunteer_id = volunteer.id
        for place, (district, _shared) in PLACES.items():
            label = place.capitalize()
            names = {"person": f"Sharedperson{label}", "request_person": f"Sharedasker{label}",
                     "volunteer": f"Sharedvolunteer{label}", "audit": f"matrix-{place}"}
            self.names[place] = names
            person = people.create_person({"given_name": names["person"],
                                           "family_name": "Matrix", "phone": _phone(),
                                           "postcode": POSTCODES[district]})
            _db.session.flush()
            self.people[place] = person.id
            request = self.new_request(place, given_name=names["request_person"])
            for to in ("triaged", "matched"):  # the pages' queue is read with ?status=matched
                lifecycle.transition(request, to, actor=admin)
            self.requests[place] = request.id
            volunteer = self.new_volunteer(district, given_name=names["volunteer"], dbs_days=(
                3 * 365 - 30))  # verified, and due for review within 60 days
            self.volunteers[place] = volunteer.id
            audit.record("test.matrix", "matrix", names["audit"], district=district)
            _db.session.commit()
            if self.volunteer_id is not None:
                self.offers[place] = self.new_offer(place, request=request).id
        if self.volunteer_id is not None:
            self.shared_assignment = self.new_assignment("own").id
        _db.session.commit()

    # Fresh records, for calls that change something.
    def new_person(self, district: str, **details) -> Person:
        person = people.create_person({"given_name": unique("Person"), "family_name": "Matrix",
                                       "phone": _phone(), "postcode": POSTCODES[district],
                                       **details})
        _db.session.commit()
        return person

    def new_request(self, place: str, *, person: dict | None = None, **details):
        from plugins.hub_requests import intake, lifecycle

        district, shared = PLACES[place]
        person = person or {"given_name": details.pop("given_name", unique("Asker")),
                            "family_name": "Matrix", "phone": _phone(), "email": "",
                            "postcode": POSTCODES[district], "address": "1 Matrix Street"}
        request = intake.submit_request(person=person, needs=["food"], circumstances=[],
                                        urgency="few_days", description="Shopping, please.",
                                        consent=True, channel="web", **details)
        _db.session.flush()
        if shared:
            lifecycle.share_overflow(request, shared, actor=self.admin)
        _db.session.commit()
        return request

    def new_duplicate(self, place: str):
        """A request flagged as a possible duplicate of an open one (the same person)."""
        district = PLACES[place][0]
        person = {"given_name": unique("Twin"), "family_name": "Matrix", "phone": _phone(),
                  "email": "", "postcode": POSTCODES[district], "address": "2 Matrix Street"}
        self.new_request(place, person=dict(person))
        duplicate = self.new_request(place, person=dict(person))
        assert duplicate.duplicate_state == "suspected"
        return duplicate

    def new_given_details(self, place: str):
        """A request whose asker gave an address that differs from their stored record."""
        district = PLACES[place][0]
        person = {"given_name": unique("Mover"), "family_name": "Matrix", "phone": _phone(),
                  "email": "", "postcode": POSTCODES[district], "address": "3 Matrix Street"}
        self.new_request(place, person=dict(person))
        moved = self.new_request(place, person={**person, "address": "4 Other Street"})
        assert moved.given_details
        return moved

    def new_finished_request(self, place: str):
        from hubcore.values import HelperCandidate
        from plugins.hub_requests import lifecycle

        request = self.new_request(place)
        lifecycle.helper_assigned(request, HelperCandidate("v1", "Val Helper", 1.0, None))
        lifecycle.helper_completed(request, 1.5, now=utcnow())
        _db.session.commit()
        assert request.status == "completed"
        return request

    def new_volunteer(self, district: str, *, status: str = "active", email: str | None = None,
                      given_name: str | None = None, dbs_days: int | None = None):
        from plugins.volunteering import signup, vetting
        from tests.plugins.volunteering.conftest import signup_body

        result = signup.sign_up(signup_body(
            given_name=given_name or unique("Volunteer"), family_name="Matrix",
            email=email or f"{unique('volunteer')}@example.org", phone=_phone(),
            postcode=POSTCODES[district], skills=["shopping", "befriending"],
            availability=BROAD_AVAILABILITY, max_travel_km=20))
        volunteer = result.volunteer
        if dbs_days is not None:
            vetting.verify_dbs(volunteer, level="basic", certificate_number="001234567890",
                               issue_date=date.today() - timedelta(days=dbs_days),
                               actor=self.admin)
        if status != "applied":
            vetting.change_status(volunteer, "active", actor=self.admin)
        if status in ("paused", "left"):
            vetting.change_status(volunteer, status, actor=self.admin)
        _db.session.commit()
        return volunteer

    def new_offer(self, place: str, *, request=None):
        """An open offer to the volunteer actor, of a task in the place's district."""
        from plugins.hub_requests import lifecycle
        from plugins.volunteering import offers
        from plugins.volunteering.models import Volunteer

        request = request or self.new_request(place)
        offer = offers._create_offer(lifecycle.task_for(request),
                                     _db.session.get(Volunteer, self.volunteer_id), score=1.0,
                                     overflow=False, actor=self.admin, now=utcnow())
        _db.session.commit()
        return offer

    def new_assignment(self, place: str):
        from plugins.volunteering import offers

        offer = self.new_offer(place)
        volunteer_account = self.actors[VOLUNTEER_ROLE].account
        assignment = offers.accept(offer, account=volunteer_account)
        _db.session.commit()
        return assignment


@pytest.fixture(scope="module")
def world(database_template, tmp_path_factory):
    if database_template["kind"] == "sqlite":
        path = tmp_path_factory.mktemp("matrix") / "matrix.sqlite3"
        shutil.copyfile(database_template["path"], path)
        url = f"sqlite:///{path}"
    else:
        url = database_template["url"]
    app = make_app(url)
    context = app.app_context()
    context.push()
    try:
        built = World(app)
        built.build()
        yield built
    finally:
        _db.session.remove()
        if database_template["kind"] == "postgresql":
            with _db.engine.begin() as conn:
                quoted = ", ".join(f'"{t}"' for t in database_template["tables"])
                conn.execute(sa.text(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE"))
        _db.engine.dispose()
        context.pop()


# -- The expected answer ----------------------------------------------------------------------


def expect(w: World, actor: Actor, row: Row, place: str) -> Expect:
    """What ``actor`` gets from a route with ``row`` for a record in ``place``."""
    if row.need == SIGNED_IN:
        return Expect(True)
    district, shared = PLACES[place]
    if row.scope == OWN:  # "own": the caller's own token or account; else someone else's
        if place == "own":
            return Expect(True)
        allowed = actor.is_admin if row.need == ADMIN else w.holds(actor, row.need, None)
        return Expect(allowed, None if allowed else row.elsewhere or 404)
    scope = row.scope
    if scope == SELF:
        if actor.is_volunteer:
            return Expect(True)
        if row.need == NOBODY:
            return Expect(False, 404)
        scope = RECORD
    if row.need == ADMIN:
        return Expect(actor.is_admin, None if actor.is_admin else 403)
    if not w.holds(actor, row.need, None):
        return Expect(False, 403)
    here = w.holds(actor, row.need, district)
    via_overflow = shared is not None and w.holds(actor, row.need, shared)
    if scope == ANY:
        return Expect(True)
    if scope == LISTED:
        return Expect(True, shown=here)
    if scope == LISTED_VISIBLE:
        return Expect(True, shown=here or via_overflow)
    if scope == BODY:
        return Expect(here, None if here else row.elsewhere or 403)
    visible = here or (scope in (VISIBLE, OWNING) and via_overflow)
    if not visible:
        return Expect(False, row.elsewhere or 404)
    if scope == OWNING and not here:
        return Expect(False, 403)
    return Expect(True)


def places_for(row: Row) -> tuple[str, ...]:
    if row.need == SIGNED_IN or (row.scope == ANY and row.need != ADMIN):
        return ("own",)
    if row.scope == OWN:
        return ("own", "other")
    return tuple(PLACES)


# -- How each route is called, and what it must change ------------------------------------------


@dataclass
class Call:
    method: str
    path: str
    json: dict | None = None
    form: dict | None = None
    headers: dict = field(default_factory=dict)
    bearer: str | None = None  # call with this token instead of the actor's own
    ok: int | None = None  # the status when allowed (default: 200; a page's POST 302)
    effect: Callable[[], bool] | None = None  # did the call change what it should?
    shows: Callable[[object], bool] | None = None  # does the answer show the record?
    client: object = None  # call with this client instead of the actor's
    shown: bool | None = None  # whether `shows` holds when allowed, if the case knows better

    @property
    def page(self) -> bool:
        return not self.path.startswith("/api/")

    def expected_ok(self) -> int:
        if self.ok is not None:
            return self.ok
        return 302 if self.page and self.method == "POST" else 200


CASES: dict[tuple[str, str], Callable[[World, Actor, str], Call]] = {}


def case(method: str, rule: str):
    def register(function):
        CASES[(method, rule)] = function
        return function
    return register


def fresh(model, id_):
    _db.session.expire_all()
    return _db.session.get(model, id_)


def text_has(*needles: str) -> Callable[[object], bool]:
    return lambda response: response.status_code == 200 and all(
        n in response.get_data(as_text=True) for n in needles)


def json_ids(key: str = "id", items: str | None = "items") -> Callable[[object], set]:
    def ids(response):
        body = response.get_json(silent=True)
        if body is None or (isinstance(body, dict) and "status" in body and "title" in body):
            return set()
        rows = body[items] if items and isinstance(body, dict) else body
        return {r[key] for r in rows}
    return ids


def lists(id_, **kwargs) -> Callable[[object], bool]:
    found = json_ids(**kwargs)
    return lambda response: id_ in found(response)


def is_record(id_, key: str = "id") -> Callable[[object], bool]:
    def shows(response):
        body = response.get_json(silent=True)
        return isinstance(body, dict) and body.get(key) == id_
    return shows


# Identity: tokens, accounts, organisations


@case("POST", "/logout")
def _logout(w, actor, place):
    client = w.app.test_client()
    login(client, actor.email)
    token = csrf_token_from(client.get("/account").get_data(as_text=True))

    def signed_out():
        return client.get("/account").status_code == 302
    return Call("POST", "/logout", form={"csrf_token": token}, client=client, effect=signed_out)


@case("GET", "/account")
def _account_page(w, actor, place):
    return Call("GET", "/account", shows=text_has(actor.email))


@case("GET", "/account/password")
def _password_page(w, actor, place):
    return Call("GET", "/account/password", shows=text_has("Current password"))


@case("POST", "/account/password")
def _change_password(w, actor, place):
    # A password change ends the account's other sessions, so it is made on an account
    # of its own (any signed-in account may change its password), from a session of its own.
    email = f"{unique('changer')}@example.org"
    accounts.create_account(email=email, name="Changer", password=PASSWORD)
    _db.session.commit()
    client = w.app.test_client()
    login(client, email)
    token = csrf_token_from(client.get("/account").get_data(as_text=True))
    new = unique("a brand new passphrase ")

    def changed():
        _db.session.expire_all()
        try:
            accounts.authenticate(email, new)
        except Exception:
            return False
        return True
    return Call("POST", "/account/password", client=client, effect=changed,
                form={"current_password": PASSWORD, "new_password": new, "csrf_token": token})


def _token_of(account_id: int) -> ApiToken:
    token, _secret = accounts.issue_token(_db.session.get(Account, account_id))
    _db.session.commit()
    return token


def _revoked(token_id: int) -> Callable[[], bool]:
    return lambda: fresh(ApiToken, token_id).revoked_at is not None


def _whose_token(w, actor, place) -> ApiToken:
    return _token_of(actor.account_id if place == "own" else w.other_account_id)


@case("POST", "/account/tokens/<id:token_id>/revoke")
def _revoke_token_page(w, actor, place):
    token = _whose_token(w, actor, place)
    return Call("POST", f"/account/tokens/{token.id}/revoke", effect=_revoked(token.id))


@case("DELETE", "/api/v1/tokens/<id:token_id>")
def _revoke_token(w, actor, place):
    token = _whose_token(w, actor, place)
    return Call("DELETE", f"/api/v1/tokens/{token.id}", ok=204, effect=_revoked(token.id))


@case("DELETE", "/api/v1/tokens/current")
def _revoke_current(w, actor, place):
    token, secret = accounts.issue_token(actor.account)
    _db.session.commit()
    return Call("DELETE", "/api/v1/tokens/current", bearer=secret, ok=204,
                effect=_revoked(token.id))


@case("GET", "/api/v1/tokens")
def _list_tokens(w, actor, place):
    mine = _token_of(actor.account_id).id
    theirs = _token_of(w.other_account_id).id
    found = json_ids(items=None)
    return Call("GET", "/api/v1/tokens",
                shows=lambda r: mine in found(r) and theirs not in found(r))


@case("GET", "/api/v1/me")
def _me(w, actor, place):
    return Call("GET", "/api/v1/me", shows=is_record(actor.account_id))


@case("POST", "/api/v1/accounts")
def _create_account(w, actor, place):
    email = f"{unique('new')}@example.org"
    return Call("POST", "/api/v1/accounts", json={"email": email, "name": "New Person"}, ok=201,
                effect=lambda: accounts.find_account_by_email(email) is not None)


@case("GET", "/api/v1/accounts/<id:account_id>")
def _get_account(w, actor, place):
    account_id = actor.account_id if place == "own" else w.other_account_id
    return Call("GET", f"/api/v1/accounts/{account_id}", shows=is_record(account_id))


@case("POST", "/api/v1/accounts/<id:account_id>/invite")
def _invite(w, actor, place):
    email = f"{unique('invitee')}@example.org"
    account = accounts.create_account(email=email, name="Invitee")
    _db.session.commit()

    def invited():
        _db.session.expire_all()
        return _db.session.execute(sa.select(sa.func.count()).select_from(OutboxMessage).where(
            OutboxMessage.recipient == email)).scalar_one() > 0
    return Call("POST", f"/api/v1/accounts/{account.id}/invite", ok=202, effect=invited)


def _switched(active: bool):
    def make(w, actor, place):
        account = accounts.create_account(email=f"{unique('switch')}@example.org",
                                          name="Switched", password=None)
        account.active = not active
        _db.session.commit()
        account_id = account.id

        def switched():
            _db.session.expire_all()
            return _db.session.get(Account, account_id).active is active
        return Call("POST", f"/api/v1/accounts/{account_id}/{'enable' if active else 'disable'}",
                    effect=switched)
    return make


case("POST", "/api/v1/accounts/<id:account_id>/disable")(_switched(False))
case("POST", "/api/v1/accounts/<id:account_id>/enable")(_switched(True))


@case("GET", "/api/v1/audit/head")
def _audit_head_api(w, actor, place):
    return Call("GET", "/api/v1/audit/head",
                shows=lambda r: "seq" in (r.get_json(silent=True) or {}))


@case("GET", "/api/v1/organisations")
def _list_organisations(w, actor, place):
    return Call("GET", "/api/v1/organisations?per_page=200",
                shows=lists(w.organisation_id))


@case("GET", "/api/v1/organisations/<id:organisation_id>")
def _get_organisation(w, actor, place):
    return Call("GET", f"/api/v1/organisations/{w.organisation_id}",
                shows=is_record(w.organisation_id))


@case("POST", "/api/v1/organisations")
def _create_organisation(w, actor, place):
    name = unique("Matrix new organisation ")

    def made():
        return _db.session.execute(sa.select(Organisation).where(
            Organisation.name == name)).first() is not None
    return Call("POST", "/api/v1/organisations", ok=201, effect=made,
                json={"name": name, "kind": "vcse", "districts": [BOLTON]})


@case("PATCH", "/api/v1/organisations/<id:organisation_id>")
def _update_organisation(w, actor, place):
    organisation = accounts.create_organisation(name=unique("Matrix org "), kind="vcse",
                                                districts=[BOLTON])
    _db.session.commit()
    name = unique("Renamed org ")
    return Call("PATCH", f"/api/v1/organisations/{organisation.id}", json={"name": name},
                headers={"If-Match": etag_for("organisation", organisation.id,
                                              organisation.version)},
                effect=lambda: fresh(Organisation, organisation.id).name == name)


@case("POST", "/api/v1/organisations/<id:organisation_id>/members")
def _add_member(w, actor, place):
    account = accounts.create_account(email=f"{unique('member')}@example.org", name="Member")
    _db.session.commit()

    def member():
        _db.session.expire_all()
        return _db.session.execute(sa.select(Membership).where(
            Membership.account_id == account.id)).first() is not None
    return Call("POST", f"/api/v1/organisations/{w.organisation_id}/members", ok=201,
                json={"account_id": account.id, "role": "partner"}, effect=member)


# People


def _etag_person(person) -> dict:
    return {"If-Match": etag_for("person", person.id, person.version)}


@case("POST", "/api/v1/people")
def _create_person(w, actor, place):
    name = unique("Created")
    district = PLACES[place][0]

    def made():
        _db.session.expire_all()
        return _db.session.execute(sa.select(Person).where(
            Person.given_name == name)).first() is not None
    return Call("POST", "/api/v1/people", ok=201, effect=made, json={
        "given_name": name, "family_name": "Matrix", "postcode": POSTCODES[district]})


@case("GET", "/api/v1/people")
def _list_people(w, actor, place):
    return Call("GET", f"/api/v1/people?per_page=200&q={w.names[place]['person']}",
                shows=lists(w.people[place]))


@case("GET", "/api/v1/people/<id:person_id>")
def _get_person(w, actor, place):
    return Call("GET", f"/api/v1/people/{w.people[place]}", shows=is_record(w.people[place]))


@case("GET", "/api/v1/people/<id:person_id>/export")
def _export_person(w, actor, place):
    return Call("GET", f"/api/v1/people/{w.people[place]}/export",
                shows=text_has(w.names[place]["person"]))


@case("PATCH", "/api/v1/people/<id:person_id>")
def _update_person(w, actor, place):
    person = w.new_person(PLACES[place][0])
    return Call("PATCH", f"/api/v1/people/{person.id}", json={"address": "9 Changed Road"},
                headers=_etag_person(person),
                effect=lambda: fresh(Person, person.id).address == "9 Changed Road")


@case("DELETE", "/api/v1/people/<id:person_id>")
def _erase_person(w, actor, place):
    person = w.new_person(PLACES[place][0])
    return Call("DELETE", f"/api/v1/people/{person.id}",
                effect=lambda: fresh(Person, person.id).erased_at is not None)


@case("POST", "/api/v1/people/<id:person_id>/merge")
def _merge_people(w, actor, place):
    survivor = w.new_person(PLACES[place][0])
    duplicate = w.new_person(PLACES[place][0])
    return Call("POST", f"/api/v1/people/{survivor.id}/merge",
                json={"duplicate_id": duplicate.id}, headers=_etag_person(survivor),
                effect=lambda: fresh(Person, duplicate.id).merged_into_id == survivor.id)


def _consents(person_id: int) -> list[Consent]:
    _db.session.expire_all()
    return _db.session.execute(sa.select(Consent).where(
        Consent.person_id == person_id)).scalars().all()


@case("POST", "/api/v1/people/<id:person_id>/consents")
def _record_consent(w, actor, place):
    person = w.new_person(PLACES[place][0])
    return Call("POST", f"/api/v1/people/{person.id}/consents", ok=201,
                json={"purpose": "contact", "scope": "the hub", "method": "verbal"},
                effect=lambda: len(_consents(person.id)) == 1)


@case("POST", "/api/v1/people/<id:person_id>/consents/<id:consent_id>/withdraw")
def _withdraw_consent(w, actor, place):
    person = w.new_person(PLACES[place][0])
    consent = people.record_consent(person, purpose="contact", scope="the hub",
                                    method="verbal", recorded_by=w.admin)
    _db.session.commit()
    return Call("POST", f"/api/v1/people/{person.id}/consents/{consent.id}/withdraw",
                effect=lambda: fresh(Consent, consent.id).withdrawn_at is not None)


# Audit and jobs


def _audit_query(w, place) -> str:
    return f"action=test.matrix&entity_id={w.names[place]['audit']}"


@case("GET", "/api/v1/audit")
def _audit_api(w, actor, place):
    marker = w.names[place]["audit"]
    return Call("GET", f"/api/v1/audit?{_audit_query(w, place)}",
                shows=lambda r: marker in json_ids("entity_id")(r))


@case("GET", "/audit")
def _audit_page(w, actor, place):
    # Filtered by action only: the entity id filter would echo the marker into the form.
    return Call("GET", "/audit?action=test.matrix",
                shows=text_has(w.names[place]["audit"]))


@case("GET", "/api/v1/audit/verify")
def _audit_verify_api(w, actor, place):
    return Call("GET", "/api/v1/audit/verify",
                shows=lambda r: (r.get_json(silent=True) or {}).get("ok") is True)


@case("GET", "/audit/verify")
def _audit_verify_page(w, actor, place):
    return Call("GET", "/audit/verify", shows=text_has("audit"))


FIXED_JOBS: set[str] = set()


def flaky_job(label: str) -> str:
    """Fails until the test says its cause is fixed (as an operator would fix it)."""
    if label not in FIXED_JOBS:
        raise RuntimeError(f"job {label} is not fixed yet")
    return "done"


def _failed_job() -> str:
    label = unique("job")
    job = jobs.enqueue(f"{__name__}.flaky_job", label, retry=False)
    assert job.id in {j.id for j in jobs.failed_jobs()}
    FIXED_JOBS.add(label)  # only a requeue can run it again now
    return job.id


def _requeued(job_id: str) -> Callable[[], bool]:
    return lambda: job_id not in {j.id for j in jobs.failed_jobs()}


def _failed_message() -> int:
    message = notify.queue_message("email", f"{unique('failed')}@example.org", "Subject",
                                   "Body")
    _db.session.flush()
    message.attempts = 1
    notify._record_failure(message, notify.DeliveryError("refused", permanent=True), utcnow())
    _db.session.commit()
    return message.id


def _resent(message_id: int) -> Callable[[], bool]:
    return lambda: fresh(OutboxMessage, message_id).status != "failed"


@case("GET", "/api/v1/jobs/failed")
def _jobs_failed(w, actor, place):
    job_id = _failed_job()
    return Call("GET", "/api/v1/jobs/failed", shows=lists(job_id, items=None))


@case("POST", "/api/v1/jobs/failed/<job_id>/requeue")
def _requeue_api(w, actor, place):
    job_id = _failed_job()
    return Call("POST", f"/api/v1/jobs/failed/{job_id}/requeue", effect=_requeued(job_id))


@case("GET", "/api/v1/jobs/outbox/failed")
def _outbox_failed(w, actor, place):
    message_id = _failed_message()
    return Call("GET", "/api/v1/jobs/outbox/failed", shows=lists(message_id, items=None))


@case("POST", "/api/v1/jobs/outbox/<id:message_id>/resend")
def _resend_api(w, actor, place):
    message_id = _failed_message()
    return Call("POST", f"/api/v1/jobs/outbox/{message_id}/resend", effect=_resent(message_id))


@case("GET", "/jobs")
def _jobs_page(w, actor, place):
    job_id = _failed_job()
    return Call("GET", "/jobs", shows=text_has(job_id))


@case("POST", "/jobs/<job_id>/requeue")
def _requeue_page(w, actor, place):
    job_id = _failed_job()
    return Call("POST", f"/jobs/{job_id}/requeue", effect=_requeued(job_id))


@case("POST", "/jobs/outbox/<id:message_id>/resend")
def _resend_page(w, actor, place):
    message_id = _failed_message()
    return Call("POST", f"/jobs/outbox/{message_id}/resend", effect=_resent(message_id))


# Help requests


def _help_request(id_):
    from plugins.hub_requests.models import HelpRequest

    return fresh(HelpRequest, id_)


def _etag_request(request) -> dict:
    return {"If-Match": etag_for("help_request", request.id, request.version)}


def _shared_request(w, place):
    return _help_request(w.requests[place])


@case("GET", "/api/v1/help-requests")
def _queue_api(w, actor, place):
    request = _shared_request(w, place)
    return Call("GET", f"/api/v1/help-requests?per_page=200&reference={request.reference}",
                shows=lists(request.id))


@case("GET", "/hub-requests")
def _queue_page(w, actor, place):
    request = _shared_request(w, place)
    return Call("GET", "/hub-requests?status=matched&per_page=100",
                shows=text_has(request.reference))


for _tail in ("", "/calls", "/history", "/notes", "/candidates", "/services"):
    def _read_request(w, actor, place, _tail=_tail):
        request = _shared_request(w, place)
        shows = (is_record(request.id) if not _tail
                 else lambda r: r.status_code == 200 and r.mimetype == "application/json")
        return Call("GET", f"/api/v1/help-requests/{request.id}{_tail}", shows=shows)
    case("GET", f"/api/v1/help-requests/<id:request_id>{_tail}")(_read_request)


@case("GET", "/hub-requests/<id:request_id>")
def _request_page(w, actor, place):
    request = _shared_request(w, place)
    return Call("GET", f"/hub-requests/{request.id}", shows=text_has(request.reference))


@case("PATCH", "/api/v1/help-requests/<id:request_id>")
def _patch_request(w, actor, place):
    request = w.new_request(place)
    return Call("PATCH", f"/api/v1/help-requests/{request.id}",
                json={"description": "Changed by the matrix."}, headers=_etag_request(request),
                effect=lambda: _help_request(request.id).description == "Changed by the matrix.")


@case("POST", "/api/v1/help-requests/<id:request_id>/transitions")
def _transition_api(w, actor, place):
    request = w.new_request(place)
    return Call("POST", f"/api/v1/help-requests/{request.id}/transitions",
                json={"to": "triaged"}, headers=_etag_request(request),
                effect=lambda: _help_request(request.id).status == "triaged")


@case("POST", "/api/v1/help-requests/<id:request_id>/notes")
def _note_api(w, actor, place):
    request = w.new_request(place)
    return Call("POST", f"/api/v1/help-requests/{request.id}/notes", ok=201,
                json={"body": "A note from the matrix."},
                effect=lambda: len(_help_request(request.id).notes) == 1)


@case("POST", "/api/v1/help-requests/<id:request_id>/calls")
def _call_api(w, actor, place):
    request = w.new_request(place)
    return Call("POST", f"/api/v1/help-requests/{request.id}/calls", ok=201,
                json={"outcome": "reached"},
                effect=lambda: len(_help_request(request.id).calls) == 1)


@case("POST", "/api/v1/help-requests/<id:request_id>/duplicate/confirm")
def _confirm_api(w, actor, place):
    request = w.new_duplicate(place)
    return Call("POST", f"/api/v1/help-requests/{request.id}/duplicate/confirm",
                json={"other_hub_agreed": True}, headers=_etag_request(request),
                effect=lambda: _help_request(request.id).duplicate_state == "confirmed")


@case("POST", "/api/v1/help-requests/<id:request_id>/duplicate/dismiss")
def _dismiss_api(w, actor, place):
    request = w.new_duplicate(place)
    return Call("POST", f"/api/v1/help-requests/{request.id}/duplicate/dismiss",
                json={"reason": "Two different needs."}, headers=_etag_request(request),
                effect=lambda: _help_request(request.id).duplicate_state == "dismissed")


@case("POST", "/api/v1/help-requests/<id:request_id>/given-details")
def _given_details_api(w, actor, place):
    request = w.new_given_details(place)
    return Call("POST", f"/api/v1/help-requests/{request.id}/given-details",
                json={"decision": "keep_record"}, headers=_etag_request(request),
                effect=lambda: not _help_request(request.id).given_details)


@case("POST", "/api/v1/help-requests/<id:request_id>/outcome")
def _outcome_api(w, actor, place):
    request = w.new_finished_request(place)
    return Call("POST", f"/api/v1/help-requests/{request.id}/outcome",
                json={"outcome": "met"}, headers=_etag_request(request),
                effect=lambda: _help_request(request.id).outcome == "met")


def _page_action(path: str, request, form: dict, effect) -> Call:
    return Call("POST", f"/hub-requests/{request.id}/{path}", form=form, ok=303, effect=effect)


@case("POST", "/hub-requests/<id:request_id>/transition")
def _transition_page(w, actor, place):
    request = w.new_request(place)
    return _page_action("transition", request,
                        {"move-to": "triaged", "move-version": request.version},
                        lambda: _help_request(request.id).status == "triaged")


@case("POST", "/hub-requests/<id:request_id>/priority")
def _priority_page(w, actor, place):
    request = w.new_request(place)
    to = "P1" if request.priority != "P1" else "P4"
    return _page_action("priority", request,
                        {"priority-priority": to, "priority-priority_reason": "The matrix says",
                         "priority-version": request.version},
                        lambda: _help_request(request.id).priority == to)


@case("POST", "/hub-requests/<id:request_id>/escalation")
def _escalation_page(w, actor, place):
    request = w.new_request(place)
    return _page_action("escalation", request,
                        {"escalate-escalated": "yes",
                         "escalate-escalation_reason": "Needs a senior look",
                         "escalate-version": request.version},
                        lambda: _help_request(request.id).escalated)


@case("POST", "/hub-requests/<id:request_id>/notes")
def _note_page(w, actor, place):
    request = w.new_request(place)
    return _page_action("notes", request, {"note-body": "A note from the matrix."},
                        lambda: len(_help_request(request.id).notes) == 1)


@case("POST", "/hub-requests/<id:request_id>/calls")
def _call_page(w, actor, place):
    request = w.new_request(place)
    return _page_action("calls", request, {"call-outcome": "reached"},
                        lambda: len(_help_request(request.id).calls) == 1)


@case("POST", "/hub-requests/<id:request_id>/edit")
def _edit_page(w, actor, place):
    request = w.new_request(place)
    form = {"edit-needs": list(request.needs), "edit-circumstances": list(request.circumstances),
            "edit-urgency": request.urgency, "edit-recurrence": request.recurrence or "none",
            "edit-description": "Edited by the matrix.", "edit-version": request.version}
    return _page_action("edit", request, form,
                        lambda: _help_request(request.id).description == "Edited by the matrix.")


# A neighbour each place's request may be shared with (Salford borders Wigan).
SHARE_WITH = {"own": WIGAN, "second": MANCHESTER, "other": BURY, "overflow": "E08000006"}


@case("POST", "/hub-requests/<id:request_id>/overflow")
def _overflow_page(w, actor, place):
    request = w.new_request(place)
    to = SHARE_WITH[place]
    return _page_action("overflow", request,
                        {"share-overflow_district": to, "share-version": request.version},
                        lambda: _help_request(request.id).overflow_district_code == to)


@case("POST", "/hub-requests/<id:request_id>/duplicate/<any(confirm, dismiss):decision>")
def _duplicate_page(w, actor, place):
    request = w.new_duplicate(place)
    return _page_action("duplicate/dismiss", request,
                        {"dup-reason": "Two needs", "dup-version": request.version},
                        lambda: _help_request(request.id).duplicate_state == "dismissed")


@case("POST", "/hub-requests/<id:request_id>/outcome")
def _outcome_page(w, actor, place):
    request = w.new_finished_request(place)
    return _page_action("outcome", request,
                        {"outcome-outcome": "met", "outcome-version": request.version},
                        lambda: _help_request(request.id).outcome == "met")


@case("POST", "/hub-requests/<id:request_id>/given-details")
def _given_details_page(w, actor, place):
    request = w.new_given_details(place)
    return _page_action("given-details", request,
                        {"details-decision": "keep_record", "details-version": request.version},
                        lambda: not _help_request(request.id).given_details)


@case("GET", "/hub-requests/phone")
def _phone_page(w, actor, place):
    return Call("GET", "/hub-requests/phone", shows=text_has("consent"))


@case("POST", "/hub-requests/phone")
def _phone_intake(w, actor, place):
    from plugins.hub_requests.models import HelpRequest

    name = unique("Caller")
    district = PLACES[place][0]

    def recorded():
        _db.session.expire_all()
        return _db.session.execute(sa.select(HelpRequest).join(Person).where(
            Person.given_name == name)).first() is not None
    return Call("POST", "/hub-requests/phone", ok=303, effect=recorded, form={
        "given_name": name, "family_name": "Matrix", "phone": _phone(), "email": "",
        "postcode": POSTCODES[district], "address": "5 Matrix Street", "needs": ["food"],
        "urgency": "few_days", "description": "By phone", "recurrence": "none",
        "consent": "y"})


# Volunteering


def _volunteer(id_):
    from plugins.volunteering.models import Volunteer

    return fresh(Volunteer, id_)


def _offer(id_):
    from plugins.volunteering.models import Offer

    return fresh(Offer, id_)


def _assignment(id_):
    from plugins.volunteering.models import Assignment

    return fresh(Assignment, id_)


def _etag_volunteer(volunteer) -> dict:
    return {"If-Match": etag_for("volunteer", volunteer.id, volunteer.version)}


@case("GET", "/api/v1/volunteers")
def _list_volunteers(w, actor, place):
    return Call("GET", "/api/v1/volunteers?per_page=200", shows=lists(w.volunteers[place]))


@case("GET", "/api/v1/volunteers/dbs-reviews")
def _dbs_reviews(w, actor, place):
    return Call("GET", "/api/v1/volunteers/dbs-reviews",
                shows=lists(w.volunteers[place], key="volunteer_id", items=None))


@case("GET", "/api/v1/volunteering/hours")
def _hours_api(w, actor, place):
    return Call("GET", "/api/v1/volunteering/hours",
                shows=lists(w.volunteers[place], key="volunteer_id", items="volunteers"))


@case("GET", "/volunteering/hours")
def _hours_page(w, actor, place):
    return Call("GET", "/volunteering/hours", shows=text_has(w.names[place]["volunteer"]))


@case("GET", "/volunteering/volunteers")
def _volunteers_page(w, actor, place):
    return Call("GET", "/volunteering/volunteers", shows=text_has(w.names[place]["volunteer"]))


@case("GET", "/api/v1/volunteers/<id:volunteer_id>")
def _get_volunteer(w, actor, place):
    return Call("GET", f"/api/v1/volunteers/{w.volunteers[place]}",
                shows=is_record(w.volunteers[place]))


@case("GET", "/volunteering/volunteers/<id:volunteer_id>")
def _volunteer_page(w, actor, place):
    return Call("GET", f"/volunteering/volunteers/{w.volunteers[place]}",
                shows=text_has(w.names[place]["volunteer"]))


@case("PATCH", "/api/v1/volunteers/<id:volunteer_id>")
def _patch_volunteer(w, actor, place):
    volunteer = w.new_volunteer(PLACES[place][0])
    return Call("PATCH", f"/api/v1/volunteers/{volunteer.id}", json={"given_name": "Renamed"},
                headers=_etag_volunteer(volunteer),
                effect=lambda: _volunteer(volunteer.id).given_name == "Renamed")


for _action, _from, _to in (("activate", "applied", "active"), ("pause", "active", "paused"),
                            ("leave", "active", "left")):
    def _status_api(w, actor, place, _action=_action, _from=_from, _to=_to):
        volunteer = w.new_volunteer(PLACES[place][0], status=_from)
        return Call("POST", f"/api/v1/volunteers/{volunteer.id}/{_action}", json={},
                    effect=lambda: _volunteer(volunteer.id).status == _to)
    case("POST", f"/api/v1/volunteers/<id:volunteer_id>/{_action}")(_status_api)


@case("POST", "/volunteering/volunteers/<id:volunteer_id>/<any(activate, pause, leave):action>")
def _status_page(w, actor, place):
    volunteer = w.new_volunteer(PLACES[place][0])
    return Call("POST", f"/volunteering/volunteers/{volunteer.id}/pause", form={"reason": ""},
                effect=lambda: _volunteer(volunteer.id).status == "paused")


@case("POST", "/api/v1/volunteers/<id:volunteer_id>/dbs")
def _dbs_api(w, actor, place):
    volunteer = w.new_volunteer(PLACES[place][0])
    return Call("POST", f"/api/v1/volunteers/{volunteer.id}/dbs",
                json={"level": "enhanced", "certificate_number": "001234567890",
                      "issue_date": (date.today() - timedelta(days=30)).isoformat()},
                headers=_etag_volunteer(volunteer),
                effect=lambda: _volunteer(volunteer.id).dbs_level == "enhanced")


@case("POST", "/volunteering/volunteers/<id:volunteer_id>/dbs")
def _dbs_page(w, actor, place):
    volunteer = w.new_volunteer(PLACES[place][0])
    return Call("POST", f"/volunteering/volunteers/{volunteer.id}/dbs",
                form={"level": "enhanced", "certificate_number": "001234567890",
                      "issue_date": (date.today() - timedelta(days=30)).isoformat()},
                effect=lambda: _volunteer(volunteer.id).dbs_level == "enhanced")


def _offers_of(request_id: int) -> list:
    from plugins.volunteering.models import Offer

    _db.session.expire_all()
    return _db.session.execute(sa.select(Offer).where(
        Offer.task_owner == "hub_requests", Offer.task_owner_id == str(request_id))
    ).scalars().all()


def _offerable(w, place):
    """An open request and an active volunteer beside the person who asked."""
    request = w.new_request(place)
    volunteer = w.new_volunteer(PLACES[place][0])
    return request, volunteer


@case("POST", "/api/v1/volunteering/offers")
def _make_offer_api(w, actor, place):
    request, volunteer = _offerable(w, place)
    return Call("POST", "/api/v1/volunteering/offers", ok=201,
                json={"owner": "hub_requests", "owner_id": str(request.id),
                      "volunteer_id": volunteer.id},
                effect=lambda: len(_offers_of(request.id)) == 1)


@case("POST", "/volunteering/offers")
def _make_offer_page(w, actor, place):
    request, volunteer = _offerable(w, place)
    return Call("POST", "/volunteering/offers",
                form={"owner": "hub_requests", "owner_id": str(request.id),
                      "volunteer_id": str(volunteer.id)},
                effect=lambda: len(_offers_of(request.id)) == 1)


@case("GET", "/api/v1/volunteering/offers")
def _list_offers(w, actor, place):
    request_id = w.requests[place]
    return Call("GET", f"/api/v1/volunteering/offers?owner=hub_requests&owner_id={request_id}",
                shows=lists(w.offers[place], items=None))


@case("GET", "/api/v1/volunteering/offers/<id:offer_id>")
def _get_offer(w, actor, place):
    return Call("GET", f"/api/v1/volunteering/offers/{w.offers[place]}",
                shows=is_record(w.offers[place]))


@case("POST", "/api/v1/volunteering/offers/<id:offer_id>/withdraw")
def _withdraw_offer(w, actor, place):
    offer = w.new_offer(place)
    return Call("POST", f"/api/v1/volunteering/offers/{offer.id}/withdraw",
                effect=lambda: _offer(offer.id).status == "withdrawn")


@case("POST", "/api/v1/volunteering/offers/<id:offer_id>/accept")
def _accept_api(w, actor, place):
    offer = w.new_offer(place)
    return Call("POST", f"/api/v1/volunteering/offers/{offer.id}/accept", ok=201,
                effect=lambda: _offer(offer.id).status == "accepted")


@case("POST", "/api/v1/volunteering/offers/<id:offer_id>/decline")
def _decline_api(w, actor, place):
    offer = w.new_offer(place)
    return Call("POST", f"/api/v1/volunteering/offers/{offer.id}/decline",
                effect=lambda: _offer(offer.id).status == "declined")


@case("POST", "/volunteering/my-tasks/offers/<id:offer_id>/<any(accept, decline):answer>")
def _answer_page(w, actor, place):
    offer = w.new_offer(place)
    return Call("POST", f"/volunteering/my-tasks/offers/{offer.id}/accept",
                effect=lambda: _offer(offer.id).status == "accepted")


@case("POST", "/api/v1/volunteering/assignments/<id:assignment_id>/complete")
def _complete_api(w, actor, place):
    assignment = w.new_assignment(place)
    return Call("POST", f"/api/v1/volunteering/assignments/{assignment.id}/complete",
                json={"hours": 1.5},
                effect=lambda: _assignment(assignment.id).status == "completed")


@case("POST", "/api/v1/volunteering/assignments/<id:assignment_id>/release")
def _release_api(w, actor, place):
    assignment = w.new_assignment(place)
    return Call("POST", f"/api/v1/volunteering/assignments/{assignment.id}/release",
                json={"reason": "Cannot make it"},
                effect=lambda: _assignment(assignment.id).status == "released")


@case("POST", "/volunteering/my-tasks/<id:assignment_id>/complete")
def _complete_page(w, actor, place):
    assignment = w.new_assignment(place)
    return Call("POST", f"/volunteering/my-tasks/{assignment.id}/complete",
                form={f"a{assignment.id}-hours": "1.5"},
                effect=lambda: _assignment(assignment.id).status == "completed")


@case("POST", "/volunteering/my-tasks/<id:assignment_id>/release")
def _release_page(w, actor, place):
    assignment = w.new_assignment(place)
    return Call("POST", f"/volunteering/my-tasks/{assignment.id}/release",
                form={f"r{assignment.id}-reason": "Cannot make it"},
                effect=lambda: _assignment(assignment.id).status == "released")


@case("POST", "/api/v1/volunteering/batch-proposals")
def _batch_proposals(w, actor, place):
    from tests.plugins.volunteering.conftest import task_json

    district = PLACES[place][0]
    return Call("POST", "/api/v1/volunteering/batch-proposals",
                json={"tasks": [task_json("matrix-1", district=district, needs=["shopping"])]},
                shows=lambda r: [p.get("owner_id") for p in (r.get_json(silent=True) or [])
                                 if isinstance(p, dict)] == ["matrix-1"])


@case("GET", "/api/v1/volunteering/my/offers")
def _my_offers(w, actor, place):
    offer_id = w.offers["own"]
    return Call("GET", "/api/v1/volunteering/my/offers", shown=actor.is_volunteer,
                shows=lists(offer_id, items=None))


@case("GET", "/api/v1/volunteering/my/assignments")
def _my_assignments(w, actor, place):
    assignment_id = w.shared_assignment
    return Call("GET", "/api/v1/volunteering/my/assignments", shown=actor.is_volunteer,
                shows=lists(assignment_id, items=None))


@case("GET", "/volunteering/my-tasks")
def _my_tasks(w, actor, place):
    form_url = f"/volunteering/my-tasks/offers/{w.offers['own']}/accept"
    return Call("GET", "/volunteering/my-tasks", shown=actor.is_volunteer,
                shows=text_has(form_url))


# -- The tests ---------------------------------------------------------------------------------


def _url_map_routes(app) -> dict[tuple[str, str], str]:
    return {(method, rule.rule): rule.endpoint for rule in app.url_map.iter_rules()
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"})}


def _row_template(method: str, rule: str, endpoint: str, document: dict) -> str:
    path = re.sub(r"<(?:[^:<>]+:)?(\w+)>", r"{\1}", rule)
    operation = document["paths"].get(path, {}).get(method.lower())
    if operation is not None and "security" not in operation:
        row = "Row(PUBLIC)"  # the OpenAPI document says so
    else:
        row = 'Row("<permission>" or SIGNED_IN, <ANY, RECORD, VISIBLE, LISTED, BODY, ...>)'
    return f'    ("{method}", "{rule}"): {row},  # {endpoint}'



def test_every_route_has_a_row_and_every_row_a_route(world):
    routes = _url_map_routes(world.app)
    document = world.anon_api.get("/api/v1/openapi.json").get_json()
    missing = sorted(set(routes) - set(ROUTES))
    stale = sorted(set(ROUTES) - set(routes))
    message = []
    if missing:
        message.append("Routes without a row in ROUTES (tests/core/test_access_matrix.py); "
                       "add these rows, saying what each needs:\n"
                       + "\n".join(_row_template(m, r, routes[(m, r)], document)
                                   for m, r in missing))
    if stale:
        message.append("Rows for routes that no longer exist; remove them:\n"
                       + "\n".join(f'    ("{m}", "{r}")' for m, r in stale))
    assert not message, "\n\n".join(message)


def test_every_row_names_a_permission_the_registry_holds_and_has_a_case(world):
    special = {PUBLIC, SIGNED_IN, ADMIN, NOBODY}
    unknown = {key: row.need for key, row in ROUTES.items()
               if row.need not in special and row.need not in world.registry.permissions}
    assert not unknown, f"rows naming permissions the registry does not hold: {unknown}"
    no_case = sorted(key for key, row in ROUTES.items()
                     if row.need != PUBLIC and key not in CASES)
    assert not no_case, (
        "Rows without a case (how to call the route and what it must change); add to CASES:\n"
        + "\n".join(f'@case("{m}", "{r}")' for m, r in no_case))
    assert not set(CASES) - set(ROUTES), "cases for routes with no row"


def test_the_table_and_the_openapi_document_agree_on_what_is_public(world):
    document = world.anon_api.get("/api/v1/openapi.json").get_json()
    for (method, rule), row in ROUTES.items():
        if not rule.startswith("/api/v1/"):
            continue
        path = re.sub(r"<(?:[^:<>]+:)?(\w+)>", r"{\1}", rule)
        operation = document["paths"].get(path, {}).get(method.lower())
        if rule == "/api/v1/openapi.json":
            assert row.need == PUBLIC
            continue
        assert operation is not None, f"{method} {rule} is not in the OpenAPI document"
        public = "security" not in operation
        assert public == (row.need == PUBLIC), (
            f"{method} {rule}: the table says {row.need!r}, OpenAPI says "
            f"{'public' if public else 'signed in'}")
        if not public:
            assert {"401", "403"} <= set(operation["responses"]), f"{method} {rule}"


def _run(w: World, actor: Actor | None, call: Call):
    if call.page:
        client = (call.client or actor.web) if actor else w.anon_web
        data = dict(call.form or {})
        if call.method != "GET" and actor is None:
            data["csrf_token"] = w.anon_csrf
        elif call.method != "GET":
            data.setdefault("csrf_token", actor.csrf)
        return client.open(call.path, method=call.method, data=data if data else None)
    client = (call.client or actor.api) if actor else w.anon_api
    headers = dict(call.headers)
    if call.bearer and actor is not None:
        headers["Authorization"] = f"Bearer {call.bearer}"
    return client.open(call.path, method=call.method, json=call.json, headers=headers)


SIGNED_OUT = sorted(key for key, row in ROUTES.items() if row.need != PUBLIC)


@pytest.mark.parametrize("route", SIGNED_OUT, ids=[f"{m} {r}" for m, r in SIGNED_OUT])
def test_signed_out_every_route_asks_to_sign_in_and_changes_nothing(world, route):
    method, rule = route
    if route not in CASES:
        pytest.fail(f'no case for {method} {rule}: add @case("{method}", "{rule}")')
    call = CASES[route](world, world.actors["admin"], "own")
    response = _run(world, None, call)
    if call.page:
        assert response.status_code == 302, (route, response.status_code)
        assert response.headers["Location"].startswith("/login?next="), response.headers
    else:
        assert response.status_code == 401, (route, response.status_code)
        assert response.mimetype == "application/problem+json"
    if call.effect is not None:
        assert not call.effect(), f"{method} {rule} changed something for a signed-out caller"
    if call.shows is not None:
        assert not call.shows(response), f"{method} {rule} shows a record when signed out"

MATRIX = [(route, actor, place) for route in sorted(ROUTES) if ROUTES[route].need != PUBLIC
          for actor in ACTORS for place in places_for(ROUTES[route])]


@pytest.mark.parametrize(("route", "actor_name", "place"), MATRIX,
                         ids=[f"{m} {r} | {a} | {p}" for (m, r), a, p in MATRIX])
def test_access_matrix(world, route, actor_name, place):
    actor = world.actors[actor_name]
    row = ROUTES[route]
    expected = expect(world, actor, row, place)
    if route not in CASES:
        pytest.fail(f'no case for {route[0]} {route[1]}: add @case("{route[0]}", "{route[1]}")')
    call = CASES[route](world, actor, place)
    response = _run(world, actor, call)
    what = f"{route[0]} {route[1]} as {actor_name}, record in {place} ({PLACES[place][0]})"
    if expected.allowed:
        assert response.status_code == call.expected_ok(), (
            what, response.status_code, response.get_data(as_text=True)[:500])
    else:
        assert response.status_code == expected.status, (
            what, expected.status, response.status_code, response.get_data(as_text=True)[:500])
        if not call.page and expected.status >= 400:
            assert response.mimetype == "application/problem+json", what
    if call.effect is not None:
        happened = call.effect()
        assert happened == expected.allowed, (
            f"{what}: {'no effect' if expected.allowed else 'changed something'} "
            f"(answer {response.status_code})")
    if call.shows is not None:
        if expected.allowed:
            shown = expected.shown if call.shown is None else call.shown
            assert call.shows(response) == shown, (
                f"{what}: the record is {'missing' if shown else 'listed'}")
        else:
            assert not call.shows(response), f"{what}: a refusal shows the record"
