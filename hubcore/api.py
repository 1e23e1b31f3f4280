"""API conventions for ``/api/v1`` and every plugin's API.

One error shape (RFC 9457 ``application/problem+json``), one way to load and
dump with marshmallow, pagination, ``ETag`` / ``If-Match`` for optimistic
concurrency, ``Idempotency-Key`` for public creates, and the OpenAPI 3
document built from the schemas that views declare with ``@operation``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import marshmallow as ma
import sqlalchemy as sa
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, Flask, Response, current_app, g, jsonify, request
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.exceptions import HTTPException

from hubcore import inputs
from hubcore.db import UTCDateTime, db, utcnow
from hubcore.errors import (
    HubcoreError,
    InvalidInput,
    PreconditionFailed,
    PreconditionRequired,
)

PROBLEM_JSON = "application/problem+json"
MAX_PER_PAGE = 200
# OFFSET must fit the databases' integers: 10 million pages of 200 is far past
# any real list, and still 2 * 10**9 rows, under 2**31.
MAX_PAGE = 10_000_000


# -- Errors ------------------------------------------------------------------


def problem(status: int, title: str, detail: str = "", *, code: str = "",
            errors: dict | None = None, headers: dict | None = None) -> Response:
    body = {
        "type": f"https://hubcore.example/problems/{code or status}",
        "title": title,
        "status": status,
        "detail": detail or title,
        "instance": request.path,
    }
    if errors:
        body["errors"] = errors
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_JSON)
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def is_api_request() -> bool:
    return request.path.startswith("/api/")


def register_error_handlers(app: Flask) -> None:
    """Turn domain errors and HTTP errors under ``/api/`` into problem+json."""

    @app.errorhandler(HubcoreError)
    def handle_domain_error(exc: HubcoreError):
        db.session.rollback()  # bad input changes nothing
        if is_api_request():
            return problem(exc.status, exc.title, exc.message, code=exc.code,
                           errors=exc.fields or None)
        from hubcore.web.pages import render_error_page

        return render_error_page(exc.status, exc.title, exc.message)

    @app.errorhandler(ma.ValidationError)
    def handle_validation_error(exc: ma.ValidationError):
        return handle_domain_error(invalid_from_marshmallow(exc))

    @app.errorhandler(HTTPException)
    def handle_http_error(exc: HTTPException):
        if not is_api_request():
            from hubcore.web.pages import render_error_page

            return render_error_page(exc.code or 500, exc.name, exc.description or "")
        headers = {}
        if exc.code == 405 and exc.response is None:
            headers["Allow"] = ", ".join(getattr(exc, "valid_methods", None) or [])
        return problem(exc.code or 500, exc.name, exc.description or "",
                       code=str(exc.code), headers=headers)

    @app.errorhandler(Exception)
    def handle_unexpected(exc: Exception):
        db.session.rollback()
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        if is_api_request():
            return problem(500, "Internal server error",
                           "Something went wrong on our side; nothing was changed.")
        from hubcore.web.pages import render_error_page

        return render_error_page(500, "Sorry, there is a problem with the service",
                                 "Nothing was changed. Please try again later.")


def invalid_from_marshmallow(exc: ma.ValidationError) -> InvalidInput:
    messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
    fields = {name: _flatten(msgs) for name, msgs in messages.items()}
    return InvalidInput("Check the highlighted fields and try again.", fields=fields)


def _flatten(messages) -> list[str]:
    if isinstance(messages, str):
        return [messages]
    if isinstance(messages, dict):
        out = []
        for key, value in messages.items():
            out.extend(f"{key}: {m}" for m in _flatten(value))
        return out
    out = []
    for item in messages:
        out.extend(_flatten(item))
    return out


# -- Loading and dumping --------------------------------------------------------


def load(schema: ma.Schema, data=None, *, partial: bool = False) -> dict:
    """Validate the request body (or ``data``) with ``schema``; 422 on failure.

    Besides the schema's own rules, ``inputs.check_schema_input`` refuses
    control characters (and, in single-line fields, line breaks and invisible
    format characters) and whole numbers too large for the database, so no
    schema has to remember to.
    """
    if data is None:
        if not request.is_json:
            raise InvalidInput("Send a JSON body with Content-Type: application/json.",
                               fields={"_body": ["A JSON object is required."]})
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            raise InvalidInput("The request body must be a JSON object.",
                               fields={"_body": ["A JSON object is required."]})
    problems = inputs.check_schema_input(schema, data)
    if problems:
        raise InvalidInput("Check the highlighted fields and try again.", fields=problems)
    try:
        return schema.load(data, partial=partial)
    except ma.ValidationError as exc:
        raise invalid_from_marshmallow(exc) from None


def json_response(body, status: int = 200, *, etag: str | None = None,
                  headers: dict | None = None) -> Response:
    response = jsonify(body)
    response.status_code = status
    if etag:
        response.headers["ETag"] = etag
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


# -- Pagination ---------------------------------------------------------------


class PageArgs(ma.Schema):
    page = ma.fields.Integer(load_default=1, validate=ma.validate.Range(min=1, max=MAX_PAGE))
    per_page = ma.fields.Integer(
        load_default=50, validate=ma.validate.Range(min=1, max=MAX_PER_PAGE)
    )


@dataclass
class Page:
    items: list
    page: int
    per_page: int
    total: int

    def body(self, dumped: list) -> dict:
        pages = max(1, -(-self.total // self.per_page))
        return {
            "items": dumped,
            "page": self.page,
            "per_page": self.per_page,
            "total": self.total,
            "pages": pages,
        }


def paginate(statement: sa.Select, args: dict | None = None, *,
             rows: Callable[[list], list] | None = None) -> Page:
    """Run ``statement`` for the page named by ``?page=&per_page=``.

    ``rows``: when ``statement`` selects only ids (a costly order is found on
    ids alone), turns the page's ids into its items, in that order.
    """
    if args is None:
        args = load(PageArgs(), {k: v for k, v in request.args.items()
                                 if k in ("page", "per_page")})
    page, per_page = args["page"], args["per_page"]
    total = db.session.execute(
        sa.select(sa.func.count()).select_from(statement.order_by(None).subquery())
    ).scalar_one()
    items = list(db.session.execute(
        statement.limit(per_page).offset((page - 1) * per_page)
    ).scalars())
    return Page(rows(items) if rows is not None and items else items, page, per_page, total)


# -- ETag / If-Match ---------------------------------------------------------


def etag_for(kind: str, ident, version: int) -> str:
    return '"' + hashlib.sha256(f"{kind}:{ident}:{version}".encode()).hexdigest()[:20] + '"'


def check_if_match(current: str) -> None:
    """Refuse a write unless the client names the version it last read.

    Missing header: 428, so a client cannot overwrite blindly, unless the view's
    ``@operation`` declares ``if_match="optional"``. Stale: 412.
    """
    header = request.headers.get("If-Match")
    if not header:
        if g.get("if_match") == "optional":
            return  # the operation declares If-Match optional: no header, no check
        raise PreconditionRequired(
            "Send the ETag you last read in an If-Match header, so that nobody's "
            "change is overwritten."
        )
    offered = {tag.strip() for tag in header.split(",")}
    if "*" in offered or current in offered or f"W/{current}" in offered:
        return
    raise PreconditionFailed(
        "Someone else changed this since you read it. Reload it and try again."
    )


# -- Idempotency ---------------------------------------------------------------


class IdempotencyKey(db.Model):
    """A stored response to replay when a client retries the same create."""

    __tablename__ = "api_idempotency_keys"
    __table_args__ = (sa.UniqueConstraint("scope", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(sa.String(200))
    key: Mapped[str] = mapped_column(sa.String(200))
    request_hash: Mapped[str] = mapped_column(sa.String(64))
    status_code: Mapped[int]
    response_body: Mapped[str] = mapped_column(sa.Text)
    response_headers: Mapped[str] = mapped_column(sa.Text, default="{}")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


_KEY_PATTERN = re.compile(r"^[A-Za-z0-9_\-:.]{8,200}$")
_REPLAYED_HEADERS = ("Location", "ETag")


def idempotent(view: Callable) -> Callable:
    """Make a create safe to retry with the same ``Idempotency-Key``.

    The first response is stored in the same transaction as what the view
    created; a retry with the same key and body gets it back and creates
    nothing; the same key with a different body is refused (422). The view
    must flush, not commit: this wrapper commits once for both.
    """

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        key = request.headers.get("Idempotency-Key")
        if key is None:
            response = current_app.make_response(view(*args, **kwargs))
            db.session.commit()
            return response
        if not _KEY_PATTERN.fullmatch(key):
            raise InvalidInput(
                "Idempotency-Key must be 8 to 200 letters, digits or - _ : .",
                fields={"Idempotency-Key": ["Use a random value such as a UUID."]},
            )
        # A signed-in caller's keys are their own: nobody else can replay them.
        from flask_login import current_user

        caller = (f"account:{current_user.id}" if current_user.is_authenticated
                  else "anonymous")
        scope = f"{request.method} {request.path} {caller}"
        body_hash = hashlib.sha256(request.get_data()).hexdigest()
        stored = _find_key(scope, key)
        if stored is not None:
            return _replay(stored, body_hash)
        response = current_app.make_response(view(*args, **kwargs))
        if response.status_code >= 400:
            db.session.rollback()
            return response
        try:
            # A Core insert: public creates are the busiest writes, and the ORM's
            # unit of work would cost more than the row.
            db.session.connection().execute(_STORE_KEY, dict(
                scope=scope, key=key, request_hash=body_hash,
                status_code=response.status_code,
                response_body=response.get_data(as_text=True),
                response_headers=json.dumps({h: response.headers[h] for h in
                                             _REPLAYED_HEADERS if h in response.headers}),
                created_at=utcnow()))
            db.session.commit()
        except sa.exc.IntegrityError:
            # A concurrent retry with this key committed first: ours is undone.
            db.session.rollback()
            stored = _find_key(scope, key)
            if stored is None:
                raise
            return _replay(stored, body_hash)
        return response

    wrapper.__idempotent__ = True  # the OpenAPI document describes the header from this
    return wrapper


_KEYS = IdempotencyKey.__table__
_STORE_KEY = _KEYS.insert()
_FIND_KEY = (sa.select(_KEYS.c.request_hash, _KEYS.c.status_code, _KEYS.c.response_body,
                       _KEYS.c.response_headers)
             .where(_KEYS.c.scope == sa.bindparam("scope"), _KEYS.c.key == sa.bindparam("key")))


def _find_key(scope: str, key: str):
    """The stored response for this key (a row), or None. Built once: every public
    create asks."""
    return db.session.connection().execute(_FIND_KEY, {"scope": scope, "key": key}).first()


def _replay(stored, body_hash: str) -> Response:
    if stored.request_hash != body_hash:
        raise InvalidInput(
            "This Idempotency-Key was already used for a different request.",
            code="idempotency-key-reused",
            fields={"Idempotency-Key": ["Use a new key for a new request."]},
        )
    response = Response(stored.response_body, status=stored.status_code,
                        mimetype="application/json")
    for name, value in json.loads(stored.response_headers).items():
        response.headers[name] = value
    response.headers["Idempotent-Replayed"] = "true"
    return response


# -- OpenAPI -----------------------------------------------------------------------


def operation(*, summary: str, tags: tuple[str, ...] = (), body: type[ma.Schema] | None = None,
              query: type[ma.Schema] | None = None, response: type[ma.Schema] | None = None,
              status: int = 200, many: bool = False, paged: bool = False,
              public: bool = False, errors: tuple[int, ...] = (),
              headers: tuple[str, ...] = (), if_match: str | None = None,
              body_required: bool = True, description: str = "") -> Callable:
    """Describe a view for the OpenAPI document.

    What the document promises and what the view enforces come from here:
    ``if_match="required"`` (a change to a versioned record) or ``"optional"``
    is what ``check_if_match`` applies at run time (428 without the header only
    when required), and ``Idempotency-Key`` is described from ``@idempotent``.
    ``body_required=False``: the view also accepts no body at all.
    """
    if if_match not in (None, "required", "optional"):
        raise ValueError(f"if_match must be 'required', 'optional' or None, not {if_match!r}")
    if "If-Match" in headers:  # the older spelling: a listed If-Match was always required
        if_match = if_match or "required"
    headers = tuple(h for h in headers if h not in ("If-Match", "Idempotency-Key"))

    def decorate(view):
        meta = dict(summary=summary, tags=tags, body=body, query=query, response=response,
                    status=status, many=many, paged=paged, public=public, errors=errors,
                    headers=headers, if_match=if_match, body_required=body_required,
                    description=description)

        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            g.if_match = if_match
            return view(*args, **kwargs)

        wrapper.__openapi__ = meta
        return wrapper

    return decorate


_CONVERTER = re.compile(r"<(?:(?P<conv>[a-z]+):)?(?P<name>\w+)>")
_PARAM_TYPES = {"int": {"type": "integer"}, "string": {"type": "string"},
                "id": {"type": "integer", "minimum": 1, "maximum": inputs.MAX_ID},
                "uuid": {"type": "string", "format": "uuid"}, None: {"type": "string"}}


class ProblemSchema(ma.Schema):
    type = ma.fields.String()
    title = ma.fields.String(required=True)
    status = ma.fields.Integer(required=True)
    detail = ma.fields.String()
    instance = ma.fields.String()
    errors = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.List(ma.fields.String()))


def build_openapi(app: Flask) -> dict:
    """Walk the URL map and describe every view marked with ``@operation``."""
    marshmallow = MarshmallowPlugin()
    spec = APISpec(
        title="Hubcore API", version="1", openapi_version="3.0.3",
        plugins=[marshmallow],
        info={"description": "Community response coordination. Errors are "
                             "application/problem+json (RFC 9457)."},
    )
    spec.components.schema("Problem", schema=ProblemSchema)
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    paths: dict[str, dict] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        view = app.view_functions.get(rule.endpoint)
        meta = getattr(view, "__openapi__", None)
        if meta is None:
            continue
        path = _CONVERTER.sub(lambda m: "{" + m["name"] + "}", rule.rule)
        params = [
            {"name": m["name"], "in": "path", "required": True,
             "schema": _PARAM_TYPES.get(m["conv"], {"type": "string"})}
            for m in _CONVERTER.finditer(rule.rule)
        ]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _describe(
                meta, params, method, idempotent=getattr(view, "__idempotent__", False))
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    document = spec.to_dict()
    # A rule across fields (one required when another has some value) is declared
    # next to the fields, in the schema's ``Meta.openapi``.
    for key, name in marshmallow.converter.refs.items():
        extra = getattr(getattr(key[0], "Meta", None), "openapi", None)
        if extra:
            document["components"]["schemas"][name].update(extra)
    return document


def _describe(meta: dict, params: list, method: str, *, idempotent: bool = False) -> dict:
    problem_ref = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    op: dict = {"summary": meta["summary"], "tags": list(meta["tags"]),
                "parameters": list(params), "responses": {}}
    if meta.get("description"):
        op["description"] = meta["description"]
    if meta["query"] is not None:
        op["parameters"].append({"in": "query", "schema": meta["query"]})
    query_fields = meta["query"]._declared_fields if meta["query"] is not None else {}
    if meta["paged"] and "page" not in query_fields:
        for name, minimum, maximum in (("page", 1, MAX_PAGE), ("per_page", 1, MAX_PER_PAGE)):
            schema = {"type": "integer", "minimum": minimum}
            if maximum:
                schema["maximum"] = maximum
            op["parameters"].append({"name": name, "in": "query", "schema": schema})
    codes = set(meta["errors"])
    if meta.get("if_match"):
        required = meta["if_match"] == "required"
        op["parameters"].append({
            "name": "If-Match", "in": "header", "required": required,
            "description": "The ETag you last read of this record: " + (
                "without it the change is refused (428), " if required else
                "optional here; when sent, ") + "a stale one is refused (412).",
            "schema": {"type": "string", "minLength": 1}})
        codes.add(412)
        if required:
            codes.add(428)
    if idempotent:
        op["parameters"].append({
            "name": "Idempotency-Key", "in": "header", "required": False,
            "description": "Makes the create safe to retry: a retry with the same key and "
                           "body gets the first response back (with Idempotent-Replayed: "
                           "true) and creates nothing; the same key with another body is "
                           "refused (422). 8 to 200 letters, digits or - _ : . "
                           "(a UUID will do).",
            "schema": {"type": "string", "pattern": _KEY_PATTERN.pattern,
                       "minLength": 8, "maxLength": 200}})
        codes.add(422)
    for header in meta["headers"]:
        op["parameters"].append({"name": header, "in": "header", "required": False,
                                 "schema": {"type": "string"}})
    if meta["body"] is not None:
        op["requestBody"] = {"required": meta.get("body_required", True),
                             "content": {"application/json": {"schema": meta["body"]}}}
    if meta["response"] is not None:
        schema = meta["response"]
        if meta["many"] or meta["paged"]:
            schema = {"type": "array", "items": schema}
        if meta["paged"]:
            schema = {"type": "object", "properties": {
                "items": schema, "page": {"type": "integer"}, "per_page": {"type": "integer"},
                "total": {"type": "integer"}, "pages": {"type": "integer"}}}
        op["responses"][str(meta["status"])] = {
            "description": meta["summary"], "content": {"application/json": {"schema": schema}}}
    else:
        op["responses"][str(meta["status"])] = {"description": meta["summary"]}
    if meta["body"] is not None or meta["query"] is not None or meta["paged"]:
        codes.add(422)
    if not meta["public"]:
        codes.update({401, 403})
        op["security"] = [{"bearer": []}]
    for code in sorted(codes):
        op["responses"][str(code)] = {"description": _ERROR_TEXT.get(code, "Error"),
                                      "content": problem_ref}
    return op


_ERROR_TEXT = {400: "Bad request", 401: "Sign in needed", 403: "Not allowed",
               404: "Not found", 409: "Conflict with the current state",
               412: "Changed by someone else (stale If-Match)",
               422: "Invalid input, with a message per field",
               428: "If-Match header required", 429: "Too many requests"}


core_api = Blueprint("core_api", __name__, url_prefix="/api/v1")


@core_api.get("/openapi.json")
def openapi_document():
    return jsonify(build_openapi(current_app))
