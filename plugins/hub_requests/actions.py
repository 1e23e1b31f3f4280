"""Links other plugins offer on a request's page, asked of ``help_request_actions``.

A grants plugin offers "Apply for a hardship grant" prefilled for the person,
and so on; each plugin decides whether its action applies and whether the
user may take it. With none enabled, or for a finished request, there are none.
"""

from __future__ import annotations

from flask import current_app

from hubcore.plugins import collect
from hubcore.values import RequestAction

from .intake import request_info
from .models import HelpRequest


def actions_for(request: HelpRequest, user) -> list[RequestAction]:
    """Every plugin's actions for this open request and user, in plugin order.

    A plugin that fails is logged and left out: the page shows the others'.
    """
    if not request.is_open:
        return []
    pm = current_app.extensions["hubcore"].pm
    if not pm.hook.help_request_actions.get_hookimpls():
        return []
    return list(collect(pm, "help_request_actions", request=request_info(request), user=user))
