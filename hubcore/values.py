"""Plain, typed values that cross plugin boundaries.

A plugin never hands another plugin its own model: it hands one of these.
They are frozen dataclasses so a hook implementation cannot change what the
caller and the other implementations see. Hooks grow by adding optional
fields here, never by changing what a field means.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Location:
    latitude: float
    longitude: float


@dataclass(frozen=True)
class Permission:
    """A permission a plugin defines, and the roles that hold it.

    ``scoped`` permissions are held only in the districts served by the
    organisation through which the role is held; unscoped ones everywhere.
    """

    name: str
    description: str
    roles: tuple[str, ...]
    scoped: bool = True


@dataclass(frozen=True)
class PluginSetting:
    """A setting a plugin reads from ``HUBCORE_<NAME IN CAPITALS>``.

    ``name`` starts with the plugin's name (``hub_requests_retention_days``);
    ``kind`` is int, float, bool or str; ``default`` is used when it is unset.
    """

    name: str
    kind: type
    default: object
    description: str


@dataclass(frozen=True)
class NavItem:
    """One entry in the web shell's menu; ``order`` sorts, lower first."""

    label: str
    endpoint: str
    order: int = 100


@dataclass(frozen=True)
class Task:
    """A piece of help someone needs, as the helper side sees it.

    ``owner`` names the plugin that owns it and ``owner_id`` its id there;
    ``person_id`` is the core person it is for (continuity of helpers).
    """

    owner: str
    owner_id: str
    district: str
    needs: tuple[str, ...]
    location: Location | None = None
    due_at: datetime | None = None
    priority: int = 3
    dbs_level: str = "none"  # none | basic | enhanced
    max_distance_km: float | None = None
    person_id: int | None = None
    languages: tuple[str, ...] = ()
    regulated_activity: bool = False


@dataclass(frozen=True)
class ScoreComponent:
    name: str
    points: float
    reason: str


@dataclass(frozen=True)
class HelperCandidate:
    """A ranked helper for a task, with the score explained part by part."""

    helper_id: str
    display_name: str
    score: float
    distance_km: float | None
    breakdown: tuple[ScoreComponent, ...] = ()
    overflow: bool = False  # from a neighbouring district
    source: str = ""  # the plugin that proposed it
    # Where the owner's page may POST an offer of the task to this helper (a
    # form naming owner, owner_id, helper_id and next: the helper side asks
    # the owner for the task through ``task_details``); None when the helper
    # side takes no offers from pages.
    offer_url: str | None = None


@dataclass(frozen=True)
class HelpRequestInfo:
    """What other plugins may know about a help request (new, or shown on its page)."""

    id: int
    reference: str
    district: str
    person_id: int | None
    needs: tuple[str, ...]
    circumstances: tuple[str, ...] = ()
    priority: str = "P4"
    due_at: datetime | None = None
    location: Location | None = None


@dataclass(frozen=True)
class RequestAction:
    """A link another plugin offers on a help request's page.

    ``url`` is a page on this site (followed with GET, e.g. a form prefilled
    for the person); ``hint`` says in a sentence what happens there.
    """

    label: str
    url: str
    hint: str = ""


@dataclass(frozen=True)
class Need:
    """A need to route to a service: a taxonomy code and free words."""

    code: str
    description: str = ""


@dataclass(frozen=True)
class PersonInfo:
    """What a plugin may know of a core person when routing or assessing."""

    id: int
    district: str | None
    postcode: str | None
    location: Location | None = None
    age: int | None = None


@dataclass(frozen=True)
class ServiceSuggestion:
    service_id: str
    service_name: str
    organisation_name: str
    score: float
    reasons: tuple[str, ...] = ()
    source: str = ""


@dataclass(frozen=True)
class GrantApplicationInfo:
    id: int
    applicant_type: str  # individual | group
    amount_pence: int
    district: str | None
    person_id: int | None = None
    bank_account_hash: str | None = None
    address_hash: str | None = None


@dataclass(frozen=True)
class RiskSignal:
    code: str
    description: str
    raises_tier: bool = True
    source: str = ""


@dataclass(frozen=True)
class RetentionRule:
    """How long a plugin keeps a kind of closed record, and why."""

    record: str
    keep_days: int
    reason: str


@dataclass(frozen=True)
class PersonDataSection:
    """One plugin's part of a subject access export."""

    source: str
    title: str
    records: list[dict] = field(default_factory=list)
