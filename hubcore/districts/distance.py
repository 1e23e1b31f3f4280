"""Distances between places, through geopy.

``distance_km`` is exact (geodesic on the WGS-84 ellipsoid, ~80 µs a call):
use it for the few distances a person sees. ``great_circle_km`` is a sphere
(~6 µs, within 0.5 %): use it to compare or filter many. Pure functions.
"""

from __future__ import annotations

from dataclasses import dataclass

from geopy.distance import geodesic, great_circle

from hubcore.districts.outcodes import load_outcodes
from hubcore.districts.packs import District, RegionPack
from hubcore.values import Location


def distance_km(a: Location, b: Location) -> float:
    """The exact distance in kilometres between two places."""
    return geodesic((a.latitude, a.longitude), (b.latitude, b.longitude)).km


def great_circle_km(a: Location, b: Location) -> float:
    """A fast approximate distance in kilometres, for comparing many places."""
    return great_circle((a.latitude, a.longitude), (b.latitude, b.longitude)).km


@dataclass(frozen=True)
class NearestDistrict:
    """The district whose nearest postcode-district centroid is closest to a place."""

    district: District
    outward_code: str
    distance_km: float


def nearest_district(location: Location, pack: RegionPack) -> NearestDistrict:
    """The pack's district nearest to ``location``, by postcode-district centroids.

    Always answers, however far away the place is: the caller decides what
    distance means "outside the region" (``distance_km`` says how far it is
    from the nearest centroid).
    """
    table = load_outcodes(pack.name)
    best = min(table.rows.values(), key=lambda row: great_circle_km(location, row.location))
    district = pack.get(best.district_code)
    assert district is not None  # load_outcodes checks every row's district
    return NearestDistrict(district=district, outward_code=best.code,
                           distance_km=distance_km(location, best.location))
