"""The embedded postcode-district tables agree with public reference data.

The tables in ``hubcore/districts/packs/*_postcodes.csv`` are written by hand.
Here they are checked against the public outcode centroid list in
``../shared/data`` (read only by tests, never copied into the project): every
outward code we list must exist there, and our centroid must lie near its.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

from hubcore.districts.distance import distance_km
from hubcore.districts.outcodes import load_outcodes, table_path
from hubcore.districts.packs import available_packs
from hubcore.values import Location

REFERENCE = Path(__file__).parents[3] / "shared" / "data" / "uk_outcodes.csv"
TOLERANCE_KM = 4.0
pytestmark = pytest.mark.requires("reference")  # CI has ../shared beside the clone


@pytest.fixture(scope="module")
def reference() -> dict[str, Location]:
    if not REFERENCE.is_file():
        pytest.skip(f"reference outcode list not found at {REFERENCE}")
    with REFERENCE.open(newline="", encoding="utf-8") as handle:
        return {row["postcode"].strip().upper(): Location(float(row["latitude"]),
                                                          float(row["longitude"]))
                for row in csv.DictReader(handle)}


def _compass(ours: Location, theirs: Location) -> str:
    """Which way our centroid lies from the reference one (without giving it away)."""
    north = ours.latitude - theirs.latitude
    east = (ours.longitude - theirs.longitude) * math.cos(math.radians(theirs.latitude))
    bearing = math.degrees(math.atan2(east, north)) % 360
    return ["north", "north-east", "east", "south-east", "south", "south-west", "west",
            "north-west"][round(bearing / 45) % 8]


def test_every_pack_ships_a_postcode_district_table():
    missing = [name for name in available_packs() if not table_path(name).is_file()]
    assert not missing


@pytest.mark.parametrize("pack_name", available_packs())
def test_every_listed_outward_code_exists_in_the_reference(pack_name, reference):
    unknown = sorted(set(load_outcodes(pack_name).rows) - set(reference))
    assert not unknown, f"not real postcode districts: {unknown}"


@pytest.mark.parametrize("pack_name", available_packs())
def test_every_centroid_is_near_the_reference_centroid(pack_name, reference):
    far = []
    for code, row in sorted(load_outcodes(pack_name).rows.items()):
        theirs = reference.get(code)
        if theirs is None:
            continue  # reported by the test above
        km = distance_km(row.location, theirs)
        if km > TOLERANCE_KM:
            far.append(f"{code}: {km:.1f} km {_compass(row.location, theirs)} of the reference")
    assert not far, "centroids too far off:\n" + "\n".join(far)
