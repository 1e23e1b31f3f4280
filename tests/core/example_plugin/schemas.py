"""The example plugin's API shapes (marshmallow, at the boundary only)."""

from __future__ import annotations

import marshmallow as ma

from hubcore.districts import packs


def _known_district(code: str) -> None:
    if packs.current_pack().get(code) is None:
        raise ma.ValidationError("Not a district of this region.")


class NoteIn(ma.Schema):
    district = ma.fields.String(required=True, validate=_known_district)
    body = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=2000))


class NoteOut(ma.Schema):
    id = ma.fields.Integer()
    district = ma.fields.String(attribute="district_code")
    body = ma.fields.String()
    status = ma.fields.String()
    created_at = ma.fields.AwareDateTime()
