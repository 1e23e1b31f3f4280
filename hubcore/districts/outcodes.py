"""The embedded postcode-district table of each region pack.

Each pack ships ``packs/<pack>_postcodes.csv`` with one row per postcode
district (outward code) of the region: its approximate centroid and the
district (borough) most of it lies in. It lets the platform place a
postcode to within a few kilometres and send it to the right district with
nothing imported; the ONS Postcode Directory import gives full precision.

Outward codes that straddle the region's edge are listed when most of their
addresses lie inside it (WA3's Golborne and Lowton, in Wigan) and left out
when most lie outside (WA13, Lymm, in Warrington); postcodes in those are
placed by the imported directory or the geocoder. Pure functions, no Flask.
"""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from pathlib import Path

from hubcore.districts.packs import PACKS_DIR, RegionPack, load_pack
from hubcore.districts.postcodes import OUTWARD_RE, postcode_area
from hubcore.values import Location


@dataclass(frozen=True)
class OutwardCode:
    """A postcode district: its code, approximate centroid and district."""

    code: str
    location: Location
    district_code: str


@dataclass(frozen=True)
class OutcodeTable:
    """A pack's postcode districts, by outward code."""

    pack: str
    rows: dict[str, OutwardCode]

    def get(self, outward: str) -> OutwardCode | None:
        return self.rows.get(outward)

    @functools.cached_property
    def areas(self) -> frozenset[str]:
        """Postcode areas (``M``, ``BL``...) that have a district in the region."""
        return frozenset(postcode_area(code) for code in self.rows)

    def for_district(self, district_code: str) -> list[OutwardCode]:
        return [row for row in self.rows.values() if row.district_code == district_code]


def table_path(pack_name: str) -> Path:
    return PACKS_DIR / f"{pack_name}_postcodes.csv"


@functools.cache
def load_outcodes(pack_name: str) -> OutcodeTable:
    """Read and check a pack's table: valid codes, no repeats, the pack's districts."""
    pack: RegionPack = load_pack(pack_name)
    path = table_path(pack_name)
    if not path.is_file():
        raise LookupError(f"region pack {pack_name!r} has no postcode-district table ({path.name})")
    rows: dict[str, OutwardCode] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        for line, record in enumerate(csv.DictReader(handle), start=2):
            code = record["outward_code"].strip().upper()
            where = f"{path.name} line {line}"
            if not OUTWARD_RE.match(code):
                raise ValueError(f"{where}: {code!r} is not an outward code")
            if code in rows:
                raise ValueError(f"{where}: {code} is listed twice")
            if pack.get(record["district_code"]) is None:
                raise ValueError(f"{where}: {record['district_code']!r} is not a district of {pack_name}")
            latitude, longitude = float(record["latitude"]), float(record["longitude"])
            if not (49.0 <= latitude <= 61.0 and -9.0 <= longitude <= 2.1):
                raise ValueError(f"{where}: {code} is not in the United Kingdom")
            rows[code] = OutwardCode(code, Location(latitude, longitude), record["district_code"])
    return OutcodeTable(pack=pack_name, rows=rows)
