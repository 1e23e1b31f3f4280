"""Reading the audit log: ``/api/v1/audit`` and the ``/audit`` page.

Holders of ``audit.read`` see the entries of their own districts; entries
without a district (accounts, organisations, the platform itself) and the
chain verification are for administrators only.
"""

from __future__ import annotations

import json

import marshmallow as ma
from flask import Blueprint, render_template, request
from flask_login import current_user, login_required

from hubcore import audit
from hubcore.api import PageArgs, json_response, load, operation, paginate
from hubcore.districts import packs
from hubcore.errors import InvalidInput
from hubcore.identity.permissions import ALL_DISTRICTS, can, districts_for, require
from hubcore.web.pages import web

audit_api = Blueprint("audit_api", __name__, url_prefix="/api/v1/audit")
TAGS = ("audit",)
FILTERS = ("entity_type", "entity_id", "action", "district")


class AuditFilterSchema(ma.Schema):
    entity_type = ma.fields.String(load_default=None, validate=ma.validate.Length(max=60))
    entity_id = ma.fields.String(load_default=None, validate=ma.validate.Length(max=60))
    action = ma.fields.String(load_default=None, validate=ma.validate.Length(max=100))
    district = ma.fields.String(load_default=None, validate=ma.validate.Regexp(
        r"^[EWSN]\d{8}$", error="Give a district's ONS code, like E08000001."))


class AuditEntrySchema(ma.Schema):
    seq = ma.fields.Integer(metadata={"description": "Position in the chain, from 1, gapless"})
    at = ma.fields.AwareDateTime()
    actor_id = ma.fields.Integer(allow_none=True)
    actor_label = ma.fields.String()
    action = ma.fields.String()
    entity_type = ma.fields.String()
    entity_id = ma.fields.String(allow_none=True)
    district = ma.fields.String(attribute="district_code", allow_none=True)
    summary = ma.fields.Function(lambda entry: json.loads(entry.summary),
                                 metadata={"type": "object"})
    prev_hash = ma.fields.String()
    hash = ma.fields.String()


class VerifySchema(ma.Schema):
    ok = ma.fields.Boolean()
    checked = ma.fields.Integer()
    broken_seq = ma.fields.Integer(allow_none=True)
    reason = ma.fields.String()
    head_seq = ma.fields.Integer(metadata={
        "description": "The newest entry's seq (0: an empty log). Note it down with head_hash "
                       "and pass both as expect_head later."})
    head_hash = ma.fields.String()
    key_id = ma.fields.String(metadata={
        "description": "The id (a fingerprint, not the key) of the key the newest stretch of "
                       "the chain is under; 'unkeyed' for entries written before keying"})
    current_key_id = ma.fields.String(metadata={
        "description": "The id of the key new entries are written under"})


class HeadSchema(ma.Schema):
    seq = ma.fields.Integer(metadata={"description": "The newest entry's seq (0: empty)"})
    hash = ma.fields.String()


def _expect_head(text: str) -> None:
    try:
        audit.parse_head(text)
    except ValueError as exc:
        raise ma.ValidationError(str(exc)) from None


class VerifyArgs(ma.Schema):
    expect_head = ma.fields.String(load_default=None, validate=_expect_head, metadata={
        "description": "SEQ:HASH noted down from an earlier verification: the chain must "
                       "still reach entry SEQ, with that hash (else it was cut short or "
                       "rewritten)", "example": "1204:" + "0" * 64})


def _verify_from_query() -> audit.VerifyResult:
    args = load(VerifyArgs(), {"expect_head": request.args["expect_head"]}
                if request.args.get("expect_head") else {})
    expect = audit.parse_head(args["expect_head"]) if args["expect_head"] else None
    return audit.verify_chain(expect_head=expect)


def visible_entries(account, filters: dict):
    """The statement for what ``account`` may read, or raise Unauthorised/Forbidden."""
    require(account, "audit.read")
    held = districts_for(account, "audit.read")
    return audit.select_entries(None if held is ALL_DISTRICTS else held,
                                **{name: filters.get(name) for name in FILTERS})


def _filters_from_query() -> dict:
    return load(AuditFilterSchema(),
                {name: request.args[name] for name in FILTERS if request.args.get(name)})


@audit_api.get("")
@operation(summary="Read the audit log, newest first", tags=TAGS, query=AuditFilterSchema,
           response=AuditEntrySchema, paged=True)
def list_entries():
    statement = visible_entries(current_user, _filters_from_query())
    page = paginate(statement)
    return json_response(page.body(AuditEntrySchema(many=True).dump(page.items)))


@audit_api.get("/verify")
@operation(summary="Recompute the audit chain and report the first broken entry",
           tags=TAGS, query=VerifyArgs, response=VerifySchema)
def verify():
    require(current_user, "audit.verify")
    return json_response(VerifySchema().dump(_verify_from_query()))


@audit_api.get("/head")
@operation(summary="The newest audit entry's seq and hash, to note down (not verified)",
           tags=TAGS, response=HeadSchema)
def head():
    require(current_user, "audit.verify")
    seq, hash_ = audit.head()
    return json_response({"seq": seq, "hash": hash_})


# -- Pages, on the web shell's blueprint (endpoints web.audit_log, web.audit_verify) --


@web.get("/audit")
@login_required
def audit_log():
    require(current_user, "audit.read")
    can_verify = can(current_user, "audit.verify")
    errors: dict[str, list[str]] = {}
    filters = {name: request.args.get(name, "").strip() for name in FILTERS}
    page_args = {"page": 1, "per_page": 50}
    try:
        filters |= load(AuditFilterSchema(), {k: v for k, v in filters.items() if v})
        page_args = load(PageArgs(), {k: request.args[k] for k in ("page", "per_page")
                                      if request.args.get(k)})
    except InvalidInput as exc:
        errors = exc.fields
    if errors:
        page = None
    else:
        page = paginate(visible_entries(current_user, filters), page_args)
    return render_template(
        "audit_log.html", page=page, filters={k: v or "" for k, v in filters.items()},
        errors=errors, districts=_district_choices(current_user),
        summaries={e.seq: json.loads(e.summary) for e in (page.items if page else [])},
        district_name=packs.district_name, can_verify=can_verify,
        head=audit.head() if can_verify else None,
        pages=max(1, -(-page.total // page.per_page)) if page else 1,
    ), (422 if errors else 200)


@web.get("/audit/verify")
@login_required
def audit_verify():
    require(current_user, "audit.verify")
    expect_head = request.args.get("expect_head", "").strip()
    try:
        result = _verify_from_query()
    except InvalidInput as exc:
        return render_template("audit_verify.html", result=None, errors=exc.fields,
                               expect_head=expect_head), 422
    return render_template("audit_verify.html", result=result, errors={},
                           expect_head=expect_head)


def _district_choices(account) -> list[tuple[str, str]]:
    held = districts_for(account, "audit.read")
    codes = packs.current_pack().codes if held is ALL_DISTRICTS else sorted(held)
    return [(code, packs.district_name(code)) for code in codes]


