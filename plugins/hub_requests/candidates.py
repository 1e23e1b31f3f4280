"""Helpers for a request, asked of whichever plugins answer ``find_helpers``.

The request still works without any: the answer is then an empty list and a
note saying why, so a coordinator knows to find a helper another way.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from hubcore.values import HelperCandidate, Task

from .lifecycle import task_for
from .models import HelpRequest

NO_PLUGIN = ("No helper-matching service is switched on, so no volunteers can be "
             "suggested. Find a helper through the hub's own contacts.")
NONE_ELIGIBLE = ("No eligible helper was found for this request right now. Try again "
                 "later, or share it with a neighbouring district.")


@dataclass(frozen=True)
class Candidates:
    """The helpers, why there are none, and the task they were found for.

    ``task`` is what the request page sends back with an offer, so the helper
    side is offered exactly the task it ranked for.
    """

    items: list[HelperCandidate]
    note: str | None
    task: Task | None = None


def candidates_for(request: HelpRequest, limit: int) -> Candidates:
    """Up to ``limit`` helpers from every plugin, merged best first."""
    hook = current_app.extensions["hubcore"].pm.hook.find_helpers
    if not hook.get_hookimpls():
        return Candidates([], NO_PLUGIN)
    task = task_for(request)
    found = [c for batch in hook(task=task, limit=limit) for c in (batch or ())]
    found.sort(key=lambda c: -c.score)
    return Candidates(found[:limit], None if found else NONE_ELIGIBLE, task)
