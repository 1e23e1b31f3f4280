"""Referral routes for a request's needs, asked of the plugins that answer ``suggest_services``.

Advice for the coordinator to act on with the person, never acted on
automatically. A grants plugin can answer for financial hardship, a
referrals plugin for advice, and so on; with none enabled the list is empty.
"""

from __future__ import annotations

from flask import current_app

from hubcore.identity.people import person_info
from hubcore.plugins import collect
from hubcore.values import Need, ServiceSuggestion

from .models import NEEDS, HelpRequest

PER_NEED = 3


def suggestions_for(request: HelpRequest) -> dict[str, list[ServiceSuggestion]]:
    """Need code -> up to three suggested services, best first (needs with none left out).

    A plugin that fails is logged and left out; the others' routes still show.
    """
    if request.person is None or request.person.erased_at is not None:
        return {}
    pm = current_app.extensions["hubcore"].pm
    if not pm.hook.suggest_services.get_hookimpls():
        return {}
    person = person_info(request.person)
    found: dict[str, list[ServiceSuggestion]] = {}
    for code in request.needs:
        routes = sorted(collect(pm, "suggest_services", need=Need(code, NEEDS.get(code, code)),
                                person=person), key=lambda s: -s.score)
        if routes:
            found[code] = routes[:PER_NEED]
    return found
