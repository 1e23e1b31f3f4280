"""Postcode to location and district.

Three sources, tried in order: the full-precision table imported from the ONS
Postcode Directory, the region pack's embedded postcode-district table, and
(if configured) a geopy geocoder.

``locate`` is what the rest of the platform calls with a postcode a person
gave; ``locate_area`` also takes a bare outward code (``BL9``), for "which
district is this?" questions; ``lookup`` takes an already normalised query.
A valid postcode outside the configured region is refused with
``PostcodeOutsideRegion`` (a NotFound whose ``fields`` name the postcode).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TextIO

import sqlalchemy as sa
from flask import current_app
from geopy import exc as geopy_exc
from geopy.geocoders import get_geocoder_for_service
from sqlalchemy.orm import Mapped, mapped_column

from hubcore.config import ConfigError
from hubcore.db import db
from hubcore.districts import postcodes
from hubcore.districts.distance import nearest_district
from hubcore.districts.outcodes import OutcodeTable, load_outcodes
from hubcore.districts.packs import RegionPack, current_pack
from hubcore.errors import HubcoreError, InvalidInput, NotFound
from hubcore.values import Location


class GazetteerPostcode(db.Model):
    """One full postcode from the ONS Postcode Directory (NSPL / ONSPD)."""

    __tablename__ = "gazetteer_postcodes"

    postcode: Mapped[str] = mapped_column(sa.String(8), primary_key=True)
    latitude: Mapped[float]
    longitude: Mapped[float]
    district_code: Mapped[str] = mapped_column(sa.String(9), index=True)


PRECISIONS = ("postcode", "district", "geocoder")

# A geocoded place further than this from every postcode-district centroid
# of the region is outside it. Only postcode districts missing from the
# embedded table reach the geocoder, and those lie on the region's edge.
GEOCODER_MAX_KM = 5.0
GEOCODER_TIMEOUT_SECONDS = 5


@dataclass(frozen=True)
class PostcodeLocation:
    """Where a postcode is, which district it belongs to, and how sure we are.

    ``postcode`` is the normalised full postcode, or the outward code alone
    when a bare outward code was looked up. ``precision`` is ``postcode``
    (the directory's own centroid), ``district`` (the postcode district's
    centroid) or ``geocoder``; ``source`` names the table or service.
    """

    postcode: str
    latitude: float
    longitude: float
    district_code: str
    precision: str
    source: str

    @property
    def location(self) -> Location:
        return Location(self.latitude, self.longitude)

    @property
    def outward_code(self) -> str:
        return self.postcode.split(" ", 1)[0]


class PostcodeOutsideRegion(NotFound):
    """A valid postcode that is not in the configured region (or cannot be found)."""

    code = "postcode-outside-region"
    title = "Postcode not in this region"


class GeocoderUnavailable(HubcoreError):
    """The configured geocoder did not answer; trying again later may work."""

    status = 503
    code = "geocoder-unavailable"
    title = "Postcode lookup is unavailable"


def locate(postcode: str, *, field: str = "postcode") -> PostcodeLocation:
    """Place a full postcode a person gave, in any case or spacing.

    Raises InvalidInput (on ``field``) for something that is not a full UK
    postcode, PostcodeOutsideRegion for a postcode outside the region.
    """
    return lookup(postcodes.normalise_postcode(postcode, field=field), field=field)


def locate_area(text: str, *, field: str = "postcode") -> PostcodeLocation:
    """Like ``locate``, but a bare outward code (``BL9``) is accepted too."""
    return lookup(postcodes.normalise_postcode_or_outward(text, field=field), field=field)


def lookup(query: str, *, field: str = "postcode") -> PostcodeLocation:
    """Place a normalised full postcode (``"M1 1AE"``) or outward code (``"M1"``).

    Order: the imported directory (full postcodes only), the pack's embedded
    postcode-district table, then the configured geocoder. A postcode area
    the region has no district in (``SW`` for Greater Manchester) is outside
    without asking the geocoder.
    """
    pack = current_pack()
    table = load_outcodes(pack.name)
    full = postcodes.is_full_postcode(query)
    outward = query.split(" ", 1)[0]
    if full:
        row = db.session.connection().execute(_FIND_POSTCODE, {"postcode": query}).first()
        if row is not None:
            if pack.get(row.district_code) is None:
                raise _outside(query, pack, field)
            return PostcodeLocation(query, row.latitude, row.longitude, row.district_code,
                                    "postcode", "onspd")
    known = table.get(outward)
    if known is not None:
        return PostcodeLocation(query, known.location.latitude, known.location.longitude,
                                known.district_code, "district", f"embedded:{pack.name}")
    if postcodes.postcode_area(outward) not in table.areas:
        raise _outside(query, pack, field)
    return _geocode(query, pack, table, field)


# Built once: every intake and sign-up places a postcode.
_FIND_POSTCODE = (sa.select(GazetteerPostcode.latitude, GazetteerPostcode.longitude,
                            GazetteerPostcode.district_code)
                  .where(GazetteerPostcode.postcode == sa.bindparam("postcode")))


def _outside(query: str, pack: RegionPack, field: str) -> PostcodeOutsideRegion:
    kind = "postcode" if postcodes.is_full_postcode(query) else "postcode district"
    return PostcodeOutsideRegion(
        f"{query} is not a {kind} in {pack.title}.",
        fields={field: [f"Enter a postcode in {pack.title}: this service covers "
                        f"{pack.title} only."]})


# -- The geocoder ------------------------------------------------------------------


def geocoder_class(name: str) -> type:
    """The geopy geocoder class for a service name, or ConfigError naming it."""
    try:
        return get_geocoder_for_service(name)
    except geopy_exc.GeocoderNotFound:
        raise ConfigError(f"HUBCORE_GEOCODER: {name!r} is not a geopy geocoder") from None


def _geocoder():
    """The app's geocoder, built once on first use; None when none is configured."""
    hubcore = current_app.extensions["hubcore"]
    settings = hubcore.settings
    if not settings.geocoder:
        return None
    cache = current_app.extensions.setdefault("hubcore.geocoder", {})
    if settings.geocoder not in cache:
        cls = geocoder_class(settings.geocoder)
        cache[settings.geocoder] = cls(user_agent=settings.geocoder_user_agent,
                                       timeout=GEOCODER_TIMEOUT_SECONDS)
    return cache[settings.geocoder]


def _geocode(query: str, pack: RegionPack, table: OutcodeTable, field: str) -> PostcodeLocation:
    geocoder = _geocoder()
    if geocoder is None:
        raise _outside(query, pack, field)
    name = current_app.extensions["hubcore"].settings.geocoder
    try:
        found = geocoder.geocode(f"{query}, United Kingdom", exactly_one=True)
    except geopy_exc.GeopyError as exc:
        current_app.logger.warning("geocoder %s failed for a postcode: %s", name, exc)
        raise GeocoderUnavailable(
            "We cannot look up that postcode right now. Please try again later.") from None
    if found is None:
        raise _outside(query, pack, field)
    place = Location(round(found.latitude, 6), round(found.longitude, 6))
    nearest = nearest_district(place, pack)
    if nearest.distance_km > GEOCODER_MAX_KM:
        raise _outside(query, pack, field)
    return PostcodeLocation(query, place.latitude, place.longitude, nearest.district.code,
                            "geocoder", f"geocoder:{name}")


# -- Importing the ONS Postcode Directory -----------------------------------------


@dataclass(frozen=True)
class ImportResult:
    """What an import did: postcodes in the region stored, rows left out and why.

    ``skipped_invalid`` counts the region's rows that cannot be used:
    terminated postcodes, no coordinates, a malformed postcode. ``boundary``
    counts postcodes outside the region kept because their postcode district
    straddles its edge, so that a lookup refuses them instead of guessing
    the district from the embedded table.
    """

    imported: int
    skipped_outside: int
    skipped_invalid: int
    boundary: int = 0


_POSTCODE_COLUMNS = ("pcds", "pcd", "pcd7", "pcd8", "pcd2")
_LA_COLUMNS = ("oslaua", "laua", "lad")
_LA_PATTERN = re.compile(r"^lad\d{2}cd$")  # NSPL from 2024: lad23cd, lad24cd...
IMPORT_BATCH = 5000


@dataclass(frozen=True)
class _Columns:
    postcode: int
    la: int
    latitude: int
    longitude: int
    terminated: int | None


def _columns(header: list[str]) -> _Columns:
    names = [name.strip().lstrip("\ufeff").lower() for name in header]

    def first(candidates: Iterable[str]) -> int | None:
        return next((names.index(c) for c in candidates if c in names), None)

    postcode = first(_POSTCODE_COLUMNS)
    la = first(_LA_COLUMNS)
    if la is None:
        la = next((i for i, name in enumerate(names) if _LA_PATTERN.match(name)), None)
    latitude, longitude = first(("lat",)), first(("long", "lng"))
    missing = [label for label, index in (("postcode (pcds or pcd)", postcode),
                                          ("local authority (oslaua, laua or ladNNcd)", la),
                                          ("lat", latitude), ("long", longitude))
               if index is None]
    if missing:
        raise InvalidInput(
            "This is not an ONS Postcode Directory (ONSPD or NSPL) CSV file.",
            code="not-a-postcode-directory",
            fields={"file": [f"The header has no {name} column." for name in missing]})
    return _Columns(postcode, la, latitude, longitude, first(("doterm",)))


def import_onspd(file_handle: TextIO, *, pack: RegionPack | None = None,
                 batch_size: int = IMPORT_BATCH) -> ImportResult:
    """Load the region's postcodes from an ONSPD or NSPL CSV; rerunning updates them.

    Reads the columns by header name, so either directory and any release
    works; keeps postcodes whose local authority is one of the pack's
    districts (plus boundary ones, see ImportResult); upserts in batches
    with SQLAlchemy Core. Flushes through the session; the caller commits.
    """
    pack = pack or current_pack()
    region = frozenset(pack.codes)
    boundary_outcodes = frozenset(load_outcodes(pack.name).rows)
    reader = csv.reader(file_handle)
    header = next(reader, None)
    if header is None:
        raise InvalidInput("The file is empty.", code="not-a-postcode-directory",
                           fields={"file": ["The file has no header row."]})
    cols = _columns(header)
    width = max(c for c in (cols.postcode, cols.la, cols.latitude, cols.longitude,
                            cols.terminated) if c is not None) + 1
    upsert = _upsert_statement()
    imported = outside = invalid = boundary = 0
    batch: dict[str, dict] = {}
    for row in reader:
        if len(row) < width:
            invalid += 1
            continue
        la = row[cols.la].strip()
        in_region = la in region
        if not in_region:
            raw = row[cols.postcode].strip()
            if raw[:-3].replace(" ", "").upper() not in boundary_outcodes:
                outside += 1
                continue
        parsed = _parse_row(row, cols)
        if parsed is None:
            if in_region:
                invalid += 1
            else:
                outside += 1
            continue
        parsed["district_code"] = la
        batch[parsed["postcode"]] = parsed
        if in_region:
            imported += 1
        else:
            boundary += 1
        if len(batch) >= batch_size:
            _write(upsert, batch)
    if batch:
        _write(upsert, batch)
    return ImportResult(imported=imported, skipped_outside=outside, skipped_invalid=invalid,
                        boundary=boundary)


def _parse_row(row: list[str], cols: _Columns) -> dict | None:
    """The row as a table row, or None when it is terminated or unusable."""
    if cols.terminated is not None and row[cols.terminated].strip():
        return None
    try:
        postcode = postcodes.normalise_postcode(row[cols.postcode])
        latitude = float(row[cols.latitude])
        longitude = float(row[cols.longitude])
    except (InvalidInput, ValueError):
        return None
    if not (49.0 <= latitude <= 61.0 and -9.0 <= longitude <= 2.1):
        return None  # ONSPD's 99.999999 (no grid reference) lands here too
    return {"postcode": postcode, "latitude": latitude, "longitude": longitude}


def _upsert_statement():
    """INSERT ... ON CONFLICT (postcode) DO UPDATE for SQLite and PostgreSQL, else None."""
    table = GazetteerPostcode.__table__
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:
        return None
    statement = insert(table)
    return statement.on_conflict_do_update(
        index_elements=[table.c.postcode],
        set_={name: statement.excluded[name]
              for name in ("latitude", "longitude", "district_code")})


def _write(upsert, batch: dict[str, dict]) -> None:
    rows = list(batch.values())
    batch.clear()
    table = GazetteerPostcode.__table__
    if upsert is None:  # another database: replace the batch's rows
        db.session.execute(table.delete().where(table.c.postcode.in_([r["postcode"] for r in rows])))
        db.session.execute(table.insert(), rows)
        return
    db.session.execute(upsert, rows)
