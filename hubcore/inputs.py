"""What input the platform accepts at all, decided once for every route.

An attacker's first tries are ids past what a database column holds, page
numbers that overflow OFFSET, a NUL byte (PostgreSQL refuses it in text),
JSON nested thousands deep and lone surrogates (they cannot be written as
UTF-8). Each is refused here, before any view or domain function sees it:

- ``IdConverter``: the ``<id:name>`` URL converter. Ids are 1 to ``MAX_ID``
  (2**31 - 1, the largest an integer column holds on both databases); any
  other number is simply not found. Routes never use the bare ``int``.
- ``text_problem``: the one rule for text. Everywhere: no control characters
  but tab and newline, no lone surrogates. A single-line field (a name, a
  postcode, an email) also refuses tabs, newlines and Unicode format
  characters (zero-width spaces, right-to-left overrides: category Cf), which
  let a name look like another. Multi-line free text (descriptions, notes)
  keeps its newlines and tabs.
- ``refuse_hostile_request``: query arguments, form fields and path segments
  of every request are checked against that rule; a bad one is a 422 (a 404
  for a path, which names nothing that can exist).
- ``HubcoreJSONProvider``: request bodies nested deeper than ``MAX_JSON_DEPTH``,
  or holding a lone surrogate or a control character, are refused as they
  are parsed.
- ``check_schema_input``: used by ``hubcore.api.load``: every string field of
  a marshmallow schema is single-line unless it is ``FreeText`` (or a
  ``Secret``); every integer fits the database.
- ``tidy_postcode``: trim, collapse spaces, capitals, before any length check.
"""

from __future__ import annotations

import json
import re
import unicodedata
from datetime import datetime, timedelta

import marshmallow as ma
from flask import Flask, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import NotFound as HTTPNotFound
from werkzeug.routing import IntegerConverter

from hubcore.errors import InvalidInput

MAX_ID = 2**31 - 1
MAX_INTEGER = 2**31 - 1  # any whole number the API takes must fit an integer column
MAX_JSON_DEPTH = 32
CLOCK_SKEW = timedelta(minutes=5)

SINGLE_LINE, MULTILINE, ANY_TEXT = "single-line", "multiline", "any"

_LINE_BREAKS = "\t\n\r"
# Code points that are refused in any text: C0 and C1 controls but tab and
# newlines, DEL, and the surrogates (never valid on their own in UTF-8).
_NEVER = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


# -- Ids in URLs --------------------------------------------------------------


def _id_pattern(largest: int) -> str:
    """A regular expression for the whole numbers 1 to ``largest``, without leading zeros."""
    digits = str(largest)
    parts = [rf"[1-9][0-9]{{0,{len(digits) - 2}}}"] if len(digits) > 1 else []
    for i, digit in enumerate(digits):  # same length: a prefix, a smaller digit, anything after
        low = "1" if i == 0 else "0"
        if int(digit) > int(low):
            rest = len(digits) - i - 1
            parts.append(f"{digits[:i]}[{low}-{int(digit) - 1}]" + (f"[0-9]{{{rest}}}" if rest else ""))
    parts.append(digits)
    return "(?:" + "|".join(parts) + ")"


class IdConverter(IntegerConverter):
    """``<id:name>``: a record id, 1 to ``MAX_ID``; anything else does not match (404).

    The pattern itself admits only 1 to 2147483647 (no zero, no leading zeros,
    at most ten digits), so a value out of range matches no rule at all: a
    404, never a 405 because another method's rule matched the path before
    its converter refused the value.
    """

    regex = _id_pattern(MAX_ID)

    def __init__(self, map, *args, **kwargs):
        super().__init__(map, min=1, max=MAX_ID)


# -- Text -------------------------------------------------------------------------


def text_problem(value: str, rule: str = SINGLE_LINE) -> str | None:
    """Why ``value`` cannot be accepted as text under ``rule``, or None when it can."""
    if _NEVER.search(value):
        return "Remove the control characters: they cannot be stored."
    if rule == ANY_TEXT:
        return None
    if value.isprintable():
        return None
    for char in value:
        if char in _LINE_BREAKS:
            if rule == SINGLE_LINE:
                return "Keep this to one line, without tabs or line breaks."
        elif unicodedata.category(char) in ("Cc", "Cf"):
            return ("Remove the invisible formatting characters (such as zero-width spaces "
                    "or direction marks).")
    return None


def check_text(value: str, field: str, rule: str = SINGLE_LINE) -> str:
    """``value``, or InvalidInput naming ``field`` when ``text_problem`` finds fault."""
    problem = text_problem(value, rule)
    if problem:
        raise InvalidInput("Some of the text cannot be accepted.", fields={field: [problem]})
    return value


def text_problems(values: dict, single_line=(), multiline=()) -> dict[str, list[str]]:
    """Field name → messages for the text in ``values`` that ``text_problem`` refuses.

    For domain functions that take text straight from callers (people, intake,
    sign-up, imports): the same rule the API schemas and the forms apply.
    """
    problems: dict[str, list[str]] = {}
    for names, rule in ((single_line, SINGLE_LINE), (multiline, MULTILINE)):
        for name in names:
            value = values.get(name)
            problem = isinstance(value, str) and text_problem(value, rule)
            if problem:
                problems[name] = [problem]
    return problems


def tidy_postcode(value):
    """``"  bL1   1aA "`` → ``"BL1 1AA"``: trimmed, single spaces, capitals.

    Done before any length check, so spacing and case never make a postcode
    too long; the full check is ``hubcore.districts.postcodes.normalise_postcode``.
    """
    if not isinstance(value, str):
        return value
    return " ".join(value.split()).upper()


def refuse_future(when: datetime | None, field: str, *, now: datetime) -> None:
    """Refuse a time that has not happened yet (beyond ``CLOCK_SKEW`` of clock drift)."""
    if when is not None and when > now + CLOCK_SKEW:
        raise InvalidInput("A time in the future cannot be recorded as past.",
                           fields={field: ["Enter a time that has already happened."]})


# -- Marshmallow fields and the check ``hubcore.api.load`` makes -------------------------


class FreeText(ma.fields.String):
    """Text that may run over several lines (a description, a note): newlines and tabs kept."""

    text_rule = MULTILINE


class Secret(ma.fields.String):
    """A password or token: any printable text, checked only for control characters."""

    text_rule = ANY_TEXT


class Postcode(ma.fields.String):
    """A postcode, tidied (``tidy_postcode``) before its validators (length) run."""

    def _deserialize(self, value, attr, data, **kwargs):
        return tidy_postcode(super()._deserialize(value, attr, data, **kwargs))


def Id(**kwargs) -> ma.fields.Integer:  # noqa: N802 (a field factory, read like a class)
    """A record id in a body or query: 1 to ``MAX_ID``."""
    return ma.fields.Integer(validate=ma.validate.Range(min=1, max=MAX_ID), **kwargs)


def check_schema_input(schema: ma.Schema, data) -> dict[str, list[str]]:
    """Problems with ``data`` (the raw input) that ``schema`` alone would let through.

    Strings are checked with ``text_problem`` (single-line unless the field is
    ``FreeText`` or ``Secret``), also inside lists, dicts and nested schemas;
    integers must fit an integer column. Returns field name → messages.
    """
    problems: dict[str, list[str]] = {}
    if not isinstance(data, dict):
        return problems
    for name, field in schema.fields.items():
        if field.dump_only:
            continue
        key = field.data_key or name
        if key not in data:
            continue
        for message in _field_problems(field, data[key]):
            problems.setdefault(key, []).append(message)
    return problems


def _field_problems(field: ma.fields.Field, value) -> list[str]:
    if value is None:
        return []
    if isinstance(field, ma.fields.Nested):
        schema = field.schema
        items = value if (field.many and isinstance(value, list)) else [value]
        return [f"{key}: {message}" for item in items
                for key, messages in check_schema_input(schema, item).items()
                for message in messages]
    if isinstance(field, ma.fields.List):
        if not isinstance(value, list):
            return []
        return [m for item in value for m in _field_problems(field.inner, item)]
    if isinstance(field, ma.fields.Dict):
        return [] if not isinstance(value, dict) else _any_text_problems(value)
    if isinstance(field, ma.fields.String):
        if not isinstance(value, str):
            return []
        problem = text_problem(value, getattr(field, "text_rule", SINGLE_LINE))
        return [problem] if problem else []
    if isinstance(field, ma.fields.Integer):
        number = _as_int(value)
        if number is not None and abs(number) > MAX_INTEGER:
            return [f"Enter a whole number no larger than {MAX_INTEGER}."]
    return []


def _as_int(value) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value == value and abs(value) != float("inf") else None
    if isinstance(value, str) and len(value) < 4000:
        try:
            return int(value.strip())
        except ValueError:
            return None
    if isinstance(value, str):
        return MAX_INTEGER + 1  # thousands of digits: too large, whatever they say
    return None


def _any_text_problems(value) -> list[str]:
    """Control characters anywhere in free-form JSON (keys too)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str) and (problem := text_problem(item, ANY_TEXT)):
            return [problem]
    return []


# -- JSON bodies ---------------------------------------------------------------------


class HubcoreJSONProvider(DefaultJSONProvider):
    """Flask's JSON, refusing bodies no field could hold, as they are parsed.

    Nested deeper than ``MAX_JSON_DEPTH`` (no API shape is deeper than a few
    levels; thousands of levels exhaust the stack), a lone surrogate or a
    control character anywhere: InvalidInput (422 problem+json).
    """

    def loads(self, s, **kwargs):
        try:
            value = json.loads(s, **kwargs)
        except RecursionError:
            raise _too_deep() from None
        check_json_value(value)
        return value


def check_json_value(value) -> None:
    """Depth, surrogates and control characters of a parsed JSON value (no recursion).

    A bad string is reported under the top-level member it is in (``_body``
    when the body is not an object), as a schema's field error would be.
    """
    stack = [(value, 1, "_body")]
    while stack:
        item, depth, member = stack.pop()
        if isinstance(item, dict):
            if depth > MAX_JSON_DEPTH:
                raise _too_deep()
            for key, child in item.items():
                where = _printable(key) if depth == 1 else member
                stack.append((key, depth + 1, where))
                stack.append((child, depth + 1, where))
        elif isinstance(item, list):
            if depth > MAX_JSON_DEPTH:
                raise _too_deep()
            stack.extend((child, depth + 1, member) for child in item)
        elif isinstance(item, str) and _NEVER.search(item):
            raise InvalidInput(
                "The JSON body holds characters that cannot be stored: control characters "
                "or a lone surrogate (\\ud800-\\udfff not in a pair).",
                code="invalid-characters",
                fields={member: ["Remove the control characters: they cannot be stored."]})


def _too_deep() -> InvalidInput:
    return InvalidInput(f"The JSON body is nested more than {MAX_JSON_DEPTH} levels deep.",
                        code="json-too-deep",
                        fields={"_body": [f"Send at most {MAX_JSON_DEPTH} levels of nesting."]})


# -- Every request -----------------------------------------------------------------------


def refuse_hostile_request():
    """Check the query arguments, form fields and path segments of the request.

    A path segment that is not acceptable text names nothing that can exist:
    404. A query argument or form field: 422, naming it.
    """
    for value in (request.view_args or {}).values():
        if isinstance(value, str) and _NEVER.search(value):
            raise HTTPNotFound()
    problems: dict[str, list[str]] = {}
    sources = [request.args]
    if request.method != "GET" and request.mimetype in (
            "application/x-www-form-urlencoded", "multipart/form-data"):
        sources.append(request.form)
    for source in sources:
        for name, value in source.items(multi=True):
            for text in (name, value):
                if _NEVER.search(text):
                    problems.setdefault(_printable(name), []).append(
                        "Remove the control characters: they cannot be stored.")
                    break
    if problems:
        raise InvalidInput("Some of the text cannot be accepted.", code="invalid-characters",
                           fields=problems)


def _printable(name: str) -> str:
    return _NEVER.sub("?", name)[:60]


def init_app(app: Flask) -> None:
    """Register the ``id`` converter, the JSON provider and the request check.

    Before any blueprint: a rule is compiled with the converters known then.
    """
    app.url_map.converters["id"] = IdConverter
    app.json_provider_class = HubcoreJSONProvider
    app.json = HubcoreJSONProvider(app)
    app.before_request(refuse_hostile_request)
