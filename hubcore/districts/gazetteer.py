"""Postcode to location and district.

Three sources, tried in order: the full-precision table imported from the ONS
Postcode Directory, the region pack's embedded postcode-district table, and
(if configured) a geopy geocoder.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from hubcore.db import db


class GazetteerPostcode(db.Model):
    """One full postcode from the ONS Postcode Directory (NSPL / ONSPD)."""

    __tablename__ = "gazetteer_postcodes"

    postcode: Mapped[str] = mapped_column(sa.String(8), primary_key=True)
    latitude: Mapped[float]
    longitude: Mapped[float]
    district_code: Mapped[str] = mapped_column(sa.String(9), index=True)
