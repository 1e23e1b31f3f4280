"""The one permission check, with district scope.

A permission is held through a role; a role is held through a membership of
an organisation; the organisation serves districts. So a Bolton hub's
coordinator holds ``people.read`` in Bolton only. Administrators hold every
permission everywhere. Plugins add permissions through ``hubcore_permissions``.
"""

from __future__ import annotations

from dataclasses import dataclass

import pluggy
from flask import current_app

from hubcore.errors import Forbidden, Unauthorised
from hubcore.values import Permission

# Roles the core knows; plugins' permissions may name more.
CORE_ROLES = (
    "coordinator",  # hub staff: triage, match, refer, within their districts
    "network_coordinator",  # oversees referrals across the network's districts
    "partner",  # a referral partner's staff
    "fund_officer",  # a community foundation's grants staff
    "funder",  # a council or funder: reads money and need, audits
    "volunteer",
)


class _All(frozenset):
    """Every district: what an administrator (or an unscoped permission) holds."""

    def __contains__(self, item) -> bool:
        return True

    def __repr__(self) -> str:
        return "ALL_DISTRICTS"


ALL_DISTRICTS = _All()


@dataclass
class Registry:
    permissions: dict[str, Permission]

    @classmethod
    def from_hooks(cls, pm: pluggy.PluginManager) -> "Registry":
        merged: dict[str, Permission] = {}
        for batch in pm.hook.hubcore_permissions():
            for perm in batch or ():
                known = merged.get(perm.name)
                if known is not None and known != perm:
                    raise ValueError(f"permission {perm.name!r} is defined twice, differently")
                merged[perm.name] = perm
        return cls(merged)

    @property
    def roles(self) -> tuple[str, ...]:
        named = {role for perm in self.permissions.values() for role in perm.roles}
        return tuple(sorted(set(CORE_ROLES) | named))

    def get(self, name: str) -> Permission:
        try:
            return self.permissions[name]
        except KeyError:
            raise LookupError(f"unknown permission {name!r}") from None


def registry() -> Registry:
    return current_app.extensions["hubcore"].permissions


def districts_for(account, permission: str) -> frozenset[str]:
    """The districts in which ``account`` holds ``permission`` (maybe ALL_DISTRICTS)."""
    perm = registry().get(permission)
    if account is None or not getattr(account, "is_authenticated", False):
        return frozenset()
    if not account.active:
        return frozenset()
    if account.is_admin:
        return ALL_DISTRICTS
    districts: set[str] = set()
    for membership in account.memberships:
        if membership.role not in perm.roles:
            continue
        if not perm.scoped:
            return ALL_DISTRICTS
        districts.update(membership.organisation.district_codes)
    return frozenset(districts)


def organisations_for(account, permission: str) -> set[int]:
    """Ids of the organisations through which ``account`` holds ``permission``."""
    perm = registry().get(permission)
    if account is None or not getattr(account, "is_authenticated", False):
        return set()
    return {m.organisation_id for m in account.memberships if m.role in perm.roles}


def can(account, permission: str, district: str | None = None) -> bool:
    """True when ``account`` holds ``permission`` (in ``district``, if given).

    ``district=None`` asks whether the permission is held anywhere; a record
    without a district is visible only to holders of ALL_DISTRICTS.
    """
    held = districts_for(account, permission)
    if district is None:
        return bool(held) or held is ALL_DISTRICTS
    return district in held


def require(account, permission: str, district: str | None = None) -> None:
    """Raise Unauthorised (not signed in) or Forbidden unless ``can`` allows it."""
    if account is None or not getattr(account, "is_authenticated", False):
        raise Unauthorised("Sign in to do this.")
    if not can(account, permission, district):
        where = f" in {district}" if district else ""
        raise Forbidden(f"You do not have permission to do this{where}.")


def require_record(account, permission: str, district: str | None) -> None:
    """Like ``require`` for one record: a record outside scope reads as not found.

    Saying 404 rather than 403 does not reveal that a resident of another
    district exists.
    """
    from hubcore.errors import NotFound

    if account is None or not getattr(account, "is_authenticated", False):
        raise Unauthorised("Sign in to do this.")
    held = districts_for(account, permission)
    if held is ALL_DISTRICTS:
        return
    if district is None or district not in held:
        if held:
            raise NotFound("No such record, or it is not in your districts.")
        raise Forbidden("You do not have permission to do this.")
