"""Helpers for a request, asked of whichever plugins answer ``find_helpers``.

The request still works without any: the answer is then an empty list and a
note saying why, so a coordinator knows to find a helper another way.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from hubcore.plugins import collect
from hubcore.values import HelperCandidate, Task

from .lifecycle import task_for
from .models import HelpRequest

NO_PLUGIN = ("No helper-matching service is switched on, so no volunteers can be "
             "suggested. Find a helper through the hub's own contacts.")
NONE_ELIGIBLE = ("No eligible helper was found for this request right now. Try again "
                 "later, or share it with a neighbouring district.")
SOME_FAILED = ("Helpers from {names} could not be found just now because of a fault, "
               "so this list may be incomplete. Try again later.")


@dataclass(frozen=True)
class Candidates:
    """The helpers, why there are none, and the task they were found for.

    ``task`` is the task the helpers were ranked for: the one the helper side
    reads back through ``task_details`` when the page makes an offer.
    """

    items: list[HelperCandidate]
    note: str | None
    task: Task | None = None


def candidates_for(request: HelpRequest, limit: int) -> Candidates:
    """Up to ``limit`` helpers from every plugin, merged best first.

    A plugin that fails is left out (and logged) and the note says whose
    helpers are missing, so "none eligible" is never said when it is unknown.
    """
    pm = current_app.extensions["hubcore"].pm
    if not pm.hook.find_helpers.get_hookimpls():
        return Candidates([], NO_PLUGIN)
    task = task_for(request)
    found = collect(pm, "find_helpers", task=task, limit=limit)
    ranked = sorted(found, key=lambda c: -c.score)[:limit]
    if found.failed:
        note = SOME_FAILED.format(names=", ".join(found.failed))
    else:
        note = None if ranked else NONE_ELIGIBLE
    return Candidates(ranked, note, task)
