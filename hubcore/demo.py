"""Demo data for ``hubcore demo``: organisations and one account per role.

Every plugin adds its own through ``hubcore_demo_data``. Running it twice
keeps what exists. The password is printed because this is demo data on a
developer's machine; ``hubcore demo`` is refused in production.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import current_app

from hubcore.db import db
from hubcore.districts import packs
from hubcore.identity import accounts
from hubcore.identity.models import Organisation

DEMO_PASSWORD = "hubcore-demo-2026"
DEMO_DOMAIN = "demo.hubcore.org.uk"


def _organisation(name: str, kind: str, districts: list[str]) -> Organisation:
    found = db.session.execute(
        sa.select(Organisation).where(Organisation.name == name)).scalar_one_or_none()
    return found or accounts.create_organisation(name=name, kind=kind, districts=districts)


def _account(email: str, name: str, *, is_admin: bool = False):
    return accounts.find_account_by_email(email) or accounts.create_account(
        email=email, name=name, password=DEMO_PASSWORD, is_admin=is_admin)


def create_demo(region: str) -> list[tuple[str, str, str]]:
    """Create the demo region; return (role, email, password) for each account."""
    pack = packs.load_pack(region)
    every = list(pack.codes)
    credentials: list[tuple[str, str, str]] = []

    def grant(role: str, slug: str, name: str, organisation: Organisation | None):
        email = f"{slug}@{DEMO_DOMAIN}"
        account = _account(email, name, is_admin=organisation is None)
        if organisation is not None:
            accounts.add_membership(account, organisation, role)
        credentials.append((role, email, DEMO_PASSWORD))

    grant("administrator", "admin", "Ada Admin", None)
    hubs = {d.code: _organisation(f"{d.name} Community Hub", "hub", [d.code])
            for d in pack.districts}
    for d in pack.districts[:2]:
        grant("coordinator", f"coordinator.{d.short.lower()}", f"{d.name} Coordinator",
              hubs[d.code])
    network = _organisation(f"{pack.title} Advice Network", "vcse", every)
    grant("network_coordinator", "network", "Nia Network", network)
    advice = _organisation(f"Citizens Advice {pack.title}", "vcse", every)
    grant("partner", "partner", "Pat Partner", advice)
    foundation = _organisation(f"{pack.title} Community Foundation",
                               "community_foundation", every)
    grant("fund_officer", "funds", "Farah Funds", foundation)
    council = _organisation(f"{pack.title} Combined Authority", "funder", every)
    grant("funder", "funder", "Frank Funder", council)
    grant("volunteer", "volunteer", "Val Volunteer", hubs[pack.districts[0].code])

    current_app.extensions["hubcore"].pm.hook.hubcore_demo_data(region=region)
    return credentials
