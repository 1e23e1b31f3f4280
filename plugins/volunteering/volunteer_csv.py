"""CSV import and export of volunteers.

Import checks every row with the sign-up rules, reports each bad row by its
line number, and inserts the good ones through the database driver (or none
of them, ``all_or_nothing``): 500,000 rows in seconds, not minutes
(bench/volunteer_import.py). Imported volunteers start as *applied*:
vetting and DBS checks are done here, never taken on trust from a file.
One audit entry records the import, with its counts.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import json
import operator
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TextIO

import sqlalchemy as sa

from hubcore import audit
from hubcore.db import db, utcnow
from hubcore.districts import gazetteer, packs, postcodes
from hubcore.districts.outcodes import load_outcodes
from hubcore.errors import InvalidInput
from hubcore.identity import people

from . import signup
from .models import DEFAULT_WEEKLY_CAP, Volunteer

COLUMNS = ("given_name", "family_name", "email", "phone", "postcode", "skills", "languages",
           "availability", "max_travel_km", "has_car", "weekly_cap", "consent")
REQUIRED = ("given_name", "postcode", "skills", "availability", "consent")
EXPORT_COLUMNS = ("id", "status", "district", *COLUMNS[:-1], "dbs_level", "dbs_issue_date",
                  "created_at")
YES = {"yes", "y", "true", "1"}
NO = {"no", "n", "false", "0", ""}
BATCH = 5000
MAX_REPORTED = 1000  # rows with problems listed in full; the rest are counted


@dataclass(frozen=True)
class RowProblem:
    line: int
    messages: tuple[str, ...]


@dataclass
class ImportReport:
    imported: int = 0
    rejected: int = 0
    problems: list[RowProblem] = field(default_factory=list)
    by_district: Counter = field(default_factory=Counter)

    @property
    def ok(self) -> bool:
        return self.rejected == 0


def _split(value: str) -> list[str]:
    return [part.strip() for part in (value or "").replace(";", ",").split(",") if part.strip()]


def _row_details(row: dict) -> tuple[dict, list[str]]:
    """The row as sign-up details, and the problems clean_details cannot see."""
    problems = []
    details = {
        "given_name": row.get("given_name", ""), "family_name": row.get("family_name", ""),
        "email": row.get("email") or None, "phone": row.get("phone") or None,
        "postcode": row.get("postcode", ""), "skills": _split(row.get("skills", "")),
        "languages": _split(row.get("languages", "")),
        "availability": _split(row.get("availability", "")),
        "max_travel_km": row.get("max_travel_km") or 5.0,
    }
    for name in ("has_car", "consent"):
        value = (row.get(name) or "").strip().lower()
        if value not in YES | NO:
            problems.append(f"{name}: write yes or no.")
        details[name] = value in YES
    if not details.pop("consent"):
        problems.append("consent: the volunteer's consent to store their details is needed "
                        "(write yes).")
    cap = (row.get("weekly_cap") or "").strip()
    if cap:
        try:
            details["weekly_cap"] = int(cap) if cap.isdigit() else -1
        except ValueError:  # a digit int() cannot read, like "²"
            details["weekly_cap"] = -1
    return details, problems


def import_volunteers(handle: TextIO, *, all_or_nothing: bool = False, actor=None,
                      batch_size: int = BATCH) -> ImportReport:
    """Import volunteers from CSV; flush, never commit (the caller decides).

    Every row is checked by the sign-up rules (``signup.clean_details``): a
    row the quick checks of ``_RowChecker`` cannot pass whole is checked by
    them in full, which names its problems. With ``all_or_nothing`` and any
    bad row, nothing is inserted: the caller must roll back (``report.ok`` is
    False), which the CLI does.
    """
    reader = csv.reader(handle)
    header = [name.strip().lower() for name in next(reader, ())]
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        raise InvalidInput("The file does not have the columns a volunteer import needs.",
                           fields={"file": [f"The header has no {name} column."
                                            for name in missing]})
    encoder = _Encoder(utcnow())
    locate = postcode_locator()
    rows = _RowChecker(header, locate, encoder)
    writer = _Writer(batch_size, encoder.fixed)
    locate.before_query = writer.pause
    try:
        report = _check_and_write(reader, len(header), rows, writer, all_or_nothing)
    except BaseException as exc:
        writer.close(exc)
        raise
    written = writer.finish()
    if all_or_nothing and report.rejected:
        report.by_district.clear()
        return report
    report.imported = written
    if report.imported:
        audit.record("volunteering.volunteers.imported", "volunteer", actor=actor,
                     summary={"imported": report.imported, "rejected": report.rejected,
                              "by_district": dict(report.by_district)})
    return report


def _check_and_write(reader, width: int, rows: _RowChecker, writer: _Writer,
                     all_or_nothing: bool) -> ImportReport:
    """Every row checked; the good ones written (until a bad one, all_or_nothing)."""
    emails, phones = _existing_contacts()
    report = ImportReport()
    write = writer.write
    for row in reader:
        # Each row gets one empty cell after the header's, read for the columns the
        # file lacks; as with csv.DictReader, blank lines are skipped, short rows
        # are padded and cells beyond the header ignored.
        if len(row) == width:
            row.append("")
        elif not row:
            continue
        elif len(row) < width:
            row += [""] * (width + 1 - len(row))
        else:
            row = [*row[:width], ""]
        values = rows.quick(row)
        problems: list[str] = []
        if values is None:
            values, problems = rows.in_full(row)
        if values is not None:
            email, phone = values[2], values[3]
            if email and email in emails or phone and phone in phones:
                problems.append("email or phone: this volunteer is already signed up "
                                "(or appears earlier in the file).")
        if problems:
            report.rejected += 1
            if len(report.problems) < MAX_REPORTED:
                report.problems.append(RowProblem(reader.line_num, tuple(problems)))
            continue
        if email:
            emails.add(email)
        if phone:
            phones.add(phone)
        if all_or_nothing and report.rejected:
            continue  # nothing will be inserted: keep checking, stop writing
        report.by_district[values[5]] += 1
        write(values)
    return report


# The columns an import writes, in the order of the values _RowChecker gives.
INSERTED = ("given_name", "family_name", "email", "phone", "postcode", "district_code",
            "latitude", "longitude", "skills", "languages", "availability", "max_travel_km",
            "has_car", "weekly_cap", "status", "dbs_level", "consent_given_at", "created_at",
            "updated_at", "version")
PER_ROW = 14  # the rest are the same for every row
_JSON = ("skills", "languages", "availability")


class _Encoder:
    """Values as the database driver takes them, as a Core insert would bind them.

    The fixed values (status, times, version) and each distinct list are
    encoded once; per row only what SQLAlchemy's bind processors would
    change is changed.
    """

    def __init__(self, now):
        dialect = db.session.get_bind().dialect
        table = Volunteer.__table__
        self.processors = [table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
                           for name in INSERTED]
        fixed = {"status": "applied", "dbs_level": "none", "consent_given_at": now,
                 "created_at": now, "updated_at": now, "version": 1}
        self.fixed = tuple(self.column(name, fixed[name]) for name in INSERTED[PER_ROW:])
        self.json = {name: self._json_encoder(table.c[name], dialect) for name in _JSON}

    def column(self, name: str, value):
        process = self.processors[INSERTED.index(name)]
        return value if value is None or process is None else process(value)

    @staticmethod
    def _json_encoder(column, dialect):
        process = column.type.dialect_impl(dialect).bind_processor(dialect)

        def encode(value):
            value = process(value) if process is not None else value
            if not isinstance(value, str) and hasattr(value, "obj"):
                # psycopg's Json wrapper: its text, for COPY (what it would send)
                value = (value.dumps or json.dumps)(value.obj)
            return value

        return encode

    def row(self, clean: dict) -> tuple:
        """A clean_details result as the values inserted."""
        values = [clean[name] for name in INSERTED[:8]]
        values += [None] * len(_JSON)
        values += [clean["max_travel_km"], clean["has_car"],
                   clean.get("weekly_cap", DEFAULT_WEEKLY_CAP)]
        values = [value if value is None or process is None else process(value)
                  for value, process in zip(values, self.processors)]
        values[8:11] = [self.json[name](clean[name]) for name in _JSON]
        return tuple(values)


class _RowChecker:
    """Checks rows by the sign-up rules, quickly where the answer is plain.

    ``quick`` passes a row whose every cell is plainly good and gives the
    values to insert, exactly those of ``in_full`` (tests compare them over
    many rows); anything else it leaves to ``in_full``: ``_row_details`` and
    ``signup.clean_details``, which name the problems. The cells of lists,
    numbers and yes/no repeat from row to row: each distinct one is checked
    by clean_details once and remembered (a list's answer depends only on
    the set of its items).
    """

    def __init__(self, header: list[str], locate: PostcodeLocator, encoder: _Encoder):
        self.header = header
        self.locate = locate
        self.encoder = encoder
        absent = len(header)  # the empty cell after the row's own
        found = {name: i for i, name in enumerate(header)}  # the last of a repeated name
        self.cells = operator.itemgetter(*(found.get(name, absent) for name in COLUMNS))
        # Each keyed by the cell as written, then (lists) by the set of its items.
        skills = _Remembered(functools.partial(self._list, "skills"))
        availability = _Remembered(functools.partial(self._list, "availability"))
        self.skills = _Remembered(lambda cell: skills[frozenset(_split(cell))])
        self.availability = _Remembered(lambda cell: availability[frozenset(_split(cell))])
        self.languages = _Remembered(self._languages)
        self.travel = _Remembered(self._travel)
        self.cap = _Remembered(self._cap)
        self.yes_no = _Remembered(self._yes_no)
        self.car = {value: encoder.column("has_car", value) for value in (True, False)}
        self.by_district: dict[str, tuple | None] = {}

    def quick(self, row: list[str]):
        """The values to insert, or None: check the row in full."""
        (given, family, email, phone, postcode, skills, languages, availability, travel,
         car, cap, consent) = self.cells(row)
        given, family = given.strip(), family.strip()
        if not given or len(given) > 100 or len(family) > 100 \
                or not (given + family).isprintable():  # the full check says why
            return None
        email, phone, postcode = email.strip() or None, phone.strip() or None, postcode.strip()
        if email is None and phone is None or not postcode:
            return None
        yes_no = self.yes_no
        if yes_no[consent] is not True:
            return None
        car = yes_no[car]
        skills, availability = self.skills[skills], self.availability[availability]
        languages, travel, cap = self.languages[languages], self.travel[travel], self.cap[cap]
        if car is None or skills is None or availability is None or languages is None \
                or travel is None or cap is None:
            return None
        try:
            if email is not None:
                email = people.normalise_email(email)
            if phone is not None:
                phone = people.normalise_phone(phone)
            normal = postcodes.normalise_postcode(postcode)
        except InvalidInput:
            return None
        place = self.by_district.get(normal[:-4], self)  # by the outward code
        if place is self:
            place = self._district_place(normal)
        if place is None:
            return self._placed(given, family, email, phone, postcode, skills, languages,
                                availability, travel, self.car[car], cap)
        return (given, family, email, phone, normal, *place, skills, languages, availability,
                travel, self.car[car], cap)

    def _placed(self, given, family, email, phone, postcode, *rest):
        """The row's values with its postcode placed one by one (not by its district)."""
        found = self.locate(postcode)
        if isinstance(found, Exception):
            return None
        return (given, family, email, phone, found.postcode,
                *self._place_values(found), *rest)

    def _district_place(self, postcode: str):
        found = self.locate.by_district(postcode)
        place = self.by_district[postcode[:-4]] = (
            None if found is None or isinstance(found, Exception) else self._place_values(found))
        return place

    def _place_values(self, found) -> tuple:
        column = self.encoder.column
        return (column("district_code", found.district_code),
                column("latitude", found.latitude), column("longitude", found.longitude))

    def in_full(self, row: list[str]) -> tuple[tuple | None, list[str]]:
        """The values to insert (None if the row is bad) and the row's problems."""
        details, problems = _row_details(dict(zip(self.header, row)))
        try:
            clean = signup.clean_details(details, partial=False, locate=self.locate)
        except InvalidInput as exc:
            problems.extend(f"{name}: {' '.join(msgs)}" for name, msgs in exc.fields.items())
            return None, problems
        if problems:
            return None, problems
        return self.encoder.row(clean), problems

    def _one(self, name: str, value):
        try:
            return signup.clean_details({name: value}, partial=True)[name]
        except InvalidInput:
            return None

    def _list(self, name: str, items: frozenset):
        clean = self._one(name, sorted(items))
        return None if clean is None else self.encoder.json[name](clean)

    @staticmethod
    def _yes_no(cell: str) -> bool | None:
        value = cell.strip().lower()
        return value in YES if value in YES | NO else None

    def _languages(self, cell: str):
        clean = self._one("languages", _split(cell))
        return None if clean is None else self.encoder.json["languages"](clean)

    def _travel(self, cell: str):
        clean = self._one("max_travel_km", cell or 5.0)
        return None if clean is None else self.encoder.column("max_travel_km", clean)

    def _cap(self, cell: str):
        details, _ = _row_details({"weekly_cap": cell})
        if "weekly_cap" not in details:
            return DEFAULT_WEEKLY_CAP
        return self._one("weekly_cap", details["weekly_cap"])


class _Remembered(dict):
    """A function's answers to distinct arguments (``remembered[key]``), up to LIMIT."""

    LIMIT = 100_000

    def __init__(self, function):
        super().__init__()
        self.function = function

    def __missing__(self, key):
        if len(self) >= self.LIMIT:
            self.clear()
        answer = self[key] = self.function(key)
        return answer


COPY_CHUNK = 2000  # rows sent to PostgreSQL at a time
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(value) -> str:
    """One value in COPY's text format (not None: that is \\N)."""
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, str):
        return value.translate(_COPY_ESCAPES)
    if isinstance(value, datetime):
        return value.isoformat()
    return repr(value)


class _Writer:
    """Inserts rows within the session's transaction, by the fastest way there is.

    PostgreSQL: one COPY (psycopg 3) streaming the rows while the next are
    checked, so that the server's work overlaps ours; ``pause`` ends it when
    the connection is needed for a query (a postcode district not seen yet),
    and the next row starts another. SQLite: the driver's ``executemany`` of
    a prepared INSERT per batch. Both skip SQLAlchemy's per-row work: the
    values come as the driver takes them, from ``_Encoder``.
    """

    def __init__(self, batch_size: int, fixed: tuple):
        self.batch_size = batch_size
        self.batch: list[tuple] = []
        self.written = 0
        self.fixed = fixed  # the values of INSERTED[PER_ROW:], the same for every row
        self.connection = db.session.connection()
        self.dialect = self.connection.dialect
        self.copy = self._copying = self._cursor = None
        self.lines: list[str] = []  # COPY text not yet sent
        self.fixed_text = "".join(f"\t{_copy_text(value)}" for value in fixed) + "\n"
        quote = self.dialect.identifier_preparer.quote
        columns = ", ".join(quote(name) for name in INSERTED)
        table = quote(Volunteer.__tablename__)
        if self.dialect.name == "postgresql":
            self.statement = f"COPY {table} ({columns}) FROM STDIN"
            self.write = self._copy_row
        elif self.dialect.name == "sqlite":
            # The fixed values are ours (never from the file): written into the
            # statement once rather than bound for every row.
            literals = ", ".join(str(value) if isinstance(value, int) else
                                 "'" + str(value).replace("'", "''") + "'"
                                 for value in fixed)
            self.statement = (f"INSERT INTO {table} ({columns}) "
                              f"VALUES ({'?, ' * PER_ROW}{literals})")
            self.write = self._batch_row
        else:
            raise RuntimeError(f"No bulk insert for {self.dialect.name}.")

    def _batch_row(self, values: tuple) -> None:
        batch = self.batch
        batch.append(values)
        if len(batch) >= self.batch_size:
            self._insert_batch()

    def _insert_batch(self) -> None:
        rows, self.batch = self.batch, []
        db.session.flush()  # anything pending goes first
        cursor = self.connection.connection.driver_connection.cursor()
        try:
            cursor.executemany(self.statement, rows)
        finally:
            cursor.close()
        self.written += len(rows)

    def _copy_row(self, values: tuple) -> None:
        # COPY's text format, written here: psycopg's write_row costs several times more.
        text = "\t".join(["\\N" if value is None else "t" if value is True else
                          "f" if value is False else value if type(value) is str else
                          repr(value) for value in values])
        if "\\" in text or "\n" in text or "\r" in text or text.count("\t") != PER_ROW - 1:
            text = "\t".join(["\\N" if value is None else _copy_text(value)
                              for value in values])
        lines = self.lines
        lines.append(text)
        lines.append(self.fixed_text)
        if len(lines) >= 2 * COPY_CHUNK:
            self._send()

    def _send(self) -> None:
        if self.copy is None:
            db.session.flush()  # anything pending goes first
            self._cursor = self.connection.connection.driver_connection.cursor()
            self._copying = self._cursor.copy(self.statement)
            self.copy = self._copying.__enter__()
        self.copy.write("".join(self.lines))
        self.written += len(self.lines) // 2
        self.lines = []

    def pause(self) -> None:
        """Make the connection free for a query: end the COPY under way, if any (the
        rows not sent yet wait for the next, so a query per row costs no COPY each)."""
        self._end(None)

    def close(self, error: BaseException | None) -> None:
        """Send what is left and end the COPY; with ``error``, abandon it (the
        transaction fails)."""
        if self.lines and error is None:
            self._send()
        self.lines = []
        self._end(error)

    def _end(self, error: BaseException | None) -> None:
        if self.copy is None:
            return
        copying, cursor = self._copying, self._cursor
        self.copy = self._copying = self._cursor = None
        try:
            copying.__exit__(type(error) if error else None, error,
                             error.__traceback__ if error else None)
        finally:
            cursor.close()

    def finish(self) -> int:
        """Write what is left; how many rows were written."""
        if self.batch:
            self._insert_batch()
        self.close(None)
        return self.written


def postcode_locator() -> PostcodeLocator:
    """``signup.locate_postcode`` for many rows: the same answers, far fewer queries."""
    return PostcodeLocator()


class PostcodeLocator:
    """Places postcodes as ``signup.locate_postcode`` does, for a whole file.

    Until the ONS Postcode Directory is imported, the gazetteer places a full
    postcode by its postcode district in the embedded table, so one look-up
    per postcode district answers for all its postcodes.
    """

    def __init__(self):
        self.directory_empty = db.session.execute(
            sa.select(gazetteer.GazetteerPostcode.postcode).limit(1)).first() is None
        self.table = load_outcodes(packs.current_pack().name)
        self.by_outward: dict[str, object] = {}
        self.before_query = lambda: None  # called before the database is asked
        self.locate = functools.lru_cache(maxsize=65536)(self._locate)

    def __call__(self, raw: str):
        """The place of a postcode, or the error that says why it has none."""
        return self.locate(raw)

    def by_district(self, postcode: str):
        """The place of a (normal) postcode's district, which is the postcode's but for
        the postcode itself; the error that says why it has none; or None: place
        the postcode by itself."""
        outward = postcode[:-4]
        if not self.directory_empty or self.table.get(outward) is None:
            return None
        found = self.by_outward.get(outward)
        if found is None:
            self.before_query()
            found = self.by_outward[outward] = signup.locate_postcode(postcode)
        return found

    def _locate(self, raw: str):
        try:
            normal = postcodes.normalise_postcode(raw)
        except InvalidInput as exc:
            return exc
        found = self.by_district(normal)
        if found is None:
            self.before_query()
            return signup.locate_postcode(normal)
        return found if isinstance(found, Exception) else dataclasses.replace(found,
                                                                            postcode=normal)


def _existing_contacts() -> tuple[set[str], set[str]]:
    emails, phones = set(), set()
    for email, phone in db.session.execute(sa.select(Volunteer.email, Volunteer.phone)):
        if email:
            emails.add(email)
        if phone:
            phones.add(phone)
    return emails, phones


def export_volunteers(handle: TextIO, districts: Iterable[str] | None, *, actor=None) -> int:
    """Write the volunteers of ``districts`` (None: all) as CSV; return how many."""
    writer = csv.writer(handle)
    writer.writerow(EXPORT_COLUMNS)
    query = sa.select(Volunteer).order_by(Volunteer.id).execution_options(yield_per=2000)
    if districts is not None:
        query = query.where(Volunteer.district_code.in_(list(districts)))
    count = 0
    for v in db.session.execute(query).scalars():
        writer.writerow([v.id, v.status, v.district_code, v.given_name, v.family_name,
                         v.email or "", v.phone or "", v.postcode or "", ";".join(v.skills),
                         ";".join(v.languages), ";".join(v.availability), v.max_travel_km,
                         "yes" if v.has_car else "no", v.weekly_cap, v.dbs_level,
                         v.dbs_issue_date.isoformat() if v.dbs_issue_date else "",
                         v.created_at.isoformat()])
        count += 1
    audit.record("volunteering.volunteers.exported", "volunteer", actor=actor,
                 summary={"count": count, "districts": sorted(districts) if districts else "all"})
    return count
