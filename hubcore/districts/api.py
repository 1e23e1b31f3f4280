"""Public API of the region: its districts, and which district a postcode is in.

Both are public (no account): a resident's form, a volunteer's sign-up and
partner systems ask "which district is this postcode?" before anything else.
"""

from __future__ import annotations

import marshmallow as ma
from flask import Blueprint, request

from hubcore.api import json_response, load, operation
from hubcore.districts import gazetteer
from hubcore.districts.packs import District, current_pack
from hubcore.errors import NotFound
from hubcore.web.security import public_limit

districts_api = Blueprint("districts_api", __name__, url_prefix="/api/v1")

# Decimal places shown for each precision: ~10 m for a postcode centroid (a
# postcode covers about 15 addresses), ~1 km for a postcode district's.
DECIMALS = {"postcode": 4, "geocoder": 4, "district": 2}


class DistrictSchema(ma.Schema):
    code = ma.fields.String(required=True, metadata={"description": "ONS code", "example": "E08000001"})
    name = ma.fields.String(required=True, metadata={"example": "Bolton"})
    short = ma.fields.String(required=True, metadata={"description": "Three-letter code used in references",
                                                      "example": "BOL"})
    neighbours = ma.fields.List(ma.fields.String(), required=True,
                                metadata={"description": "ONS codes of neighbouring districts"})


class RegionSchema(ma.Schema):
    name = ma.fields.String(required=True, metadata={"example": "greater_manchester"})
    title = ma.fields.String(required=True, metadata={"example": "Greater Manchester"})
    districts = ma.fields.List(ma.fields.Nested(DistrictSchema), required=True)


class DistrictRefSchema(ma.Schema):
    code = ma.fields.String(required=True)
    name = ma.fields.String(required=True)
    short = ma.fields.String(required=True)


class LookupQuerySchema(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    postcode = ma.fields.String(
        required=True, validate=ma.validate.Length(max=40),
        error_messages={"required": "Enter a postcode."},
        metadata={"description": "A full UK postcode in any case or spacing, or a postcode "
                                 "district (outward code) alone", "example": "M1 1AE"})


class LookupSchema(ma.Schema):
    postcode = ma.fields.String(required=True, metadata={
        "description": "The postcode, normalised; the outward code alone when one was asked",
        "example": "M1 1AE"})
    outward_code = ma.fields.String(required=True, metadata={"example": "M1"})
    district = ma.fields.Nested(DistrictRefSchema, required=True)
    latitude = ma.fields.Float(required=True)
    longitude = ma.fields.Float(required=True)
    precision = ma.fields.String(required=True, validate=ma.validate.OneOf(gazetteer.PRECISIONS),
                                 metadata={"description": "postcode: the postcode's own centroid; "
                                                          "district: its postcode district's; "
                                                          "geocoder: from a geocoding service"})
    source = ma.fields.String(required=True, metadata={"example": "onspd"})


def _district_body(district: District) -> dict:
    return {"code": district.code, "name": district.name, "short": district.short,
            "neighbours": list(district.neighbours)}


@districts_api.get("/districts")
@operation(summary="The region and its districts", tags=("districts",),
           response=RegionSchema, public=True)
def list_districts():
    pack = current_pack()
    body = {"name": pack.name, "title": pack.title,
            "districts": [_district_body(d) for d in pack.districts]}
    return json_response(RegionSchema().dump(body))


@districts_api.get("/districts/lookup")
@public_limit()
@operation(summary="Find the district and location of a postcode", tags=("districts",),
           query=LookupQuerySchema, response=LookupSchema, public=True, errors=(404, 429, 503))
def lookup_postcode():
    args = load(LookupQuerySchema(), request.args.to_dict())
    place = gazetteer.locate_area(args["postcode"])
    district = current_pack().get(place.district_code)
    decimals = DECIMALS[place.precision]
    body = {
        "postcode": place.postcode,
        "outward_code": place.outward_code,
        "district": {"code": district.code, "name": district.name, "short": district.short},
        "latitude": round(place.latitude, decimals),
        "longitude": round(place.longitude, decimals),
        "precision": place.precision,
        "source": place.source,
    }
    return json_response(LookupSchema().dump(body))


@districts_api.get("/districts/<code>")
@operation(summary="One district of the region", tags=("districts",),
           response=DistrictSchema, public=True, errors=(404,))
def get_district(code: str):
    district = current_pack().get(code)
    if district is None:
        raise NotFound(f"There is no district {code} in {current_pack().title}.")
    return json_response(DistrictSchema().dump(_district_body(district)))
