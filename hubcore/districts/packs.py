"""Region packs: the districts of a region, as data shipped with the platform.

A pack is a JSON file in ``packs/``: the region's name and title, and each
district's ONS code, name, three-letter short code (used in references such
as ``BOL-7K3Q``) and neighbours (for overflow when a district runs short).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

from flask import current_app, has_app_context

PACKS_DIR = Path(__file__).with_name("packs")


@dataclass(frozen=True)
class District:
    code: str
    name: str
    short: str
    region: str
    neighbours: tuple[str, ...]


@dataclass(frozen=True)
class RegionPack:
    name: str
    title: str
    districts: tuple[District, ...]

    def get(self, code: str) -> District | None:
        return next((d for d in self.districts if d.code == code), None)

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(d.code for d in self.districts)


@functools.cache
def available_packs() -> tuple[str, ...]:
    """The packs shipped with the platform (files do not change while it runs)."""
    return tuple(sorted(path.stem for path in PACKS_DIR.glob("*.json")))


@functools.cache
def load_pack(name: str) -> RegionPack:
    path = PACKS_DIR / f"{name}.json"
    if not path.is_file():
        raise LookupError(f"no region pack named {name!r}; available: {', '.join(available_packs())}")
    raw = json.loads(path.read_text(encoding="utf-8"))
    districts = tuple(
        District(code=d["code"], name=d["name"], short=d["short"], region=raw["name"],
                 neighbours=tuple(d.get("neighbours", ())))
        for d in raw["districts"]
    )
    codes = {d.code for d in districts}
    for d in districts:
        stray = set(d.neighbours) - codes
        if stray:
            raise ValueError(f"pack {name}: {d.code} has unknown neighbours {sorted(stray)}")
    return RegionPack(name=raw["name"], title=raw["title"], districts=districts)


def current_pack() -> RegionPack:
    """The region pack the running app is configured for."""
    name = (current_app.extensions["hubcore"].settings.region
            if has_app_context() else "greater_manchester")
    return load_pack(name)


def district(code: str) -> District | None:
    """The district with this ONS code: the running region's first, then any pack."""
    if has_app_context():
        found = current_pack().get(code)
        if found is not None:
            return found
    for name in available_packs():
        found = load_pack(name).get(code)
        if found is not None:
            return found
    return None


def district_name(code: str | None) -> str:
    """A district's name for people to read; an unknown code is shown as it is."""
    if not code:
        return ""
    found = district(code)
    return found.name if found else code
