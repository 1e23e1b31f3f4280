"""Background work of the hub requests plugin (run through ``hubcore.jobs``)."""

from __future__ import annotations

import logging

from flask import current_app

from hubcore.db import db

from .intake import request_info
from .models import HelpRequest

log = logging.getLogger(__name__)


def announce_created(request_id: int) -> int:
    """Tell every plugin's ``help_request_created`` of one committed request.

    Each implementation runs in an app context and transaction of its own:
    its writes are committed when it returns and rolled back if it raises; an
    exception is logged, never raised. Returns how many implementations ran
    without error; a request gone by now (erased) is announced to no one.
    """
    found = db.session.get(HelpRequest, request_id)
    if found is None:
        log.info("help request %s is gone: not announced", request_id)
        return 0
    info = request_info(found)
    db.session.remove()
    app = current_app._get_current_object()
    heard = 0
    for impl in app.extensions["hubcore"].pm.hook.help_request_created.get_hookimpls():
        with app.app_context():
            try:
                impl.function(**{name: info for name in impl.argnames})
                db.session.commit()
                heard += 1
            except Exception:
                db.session.rollback()
                log.exception("help_request_created in plugin %s failed for %s",
                              impl.plugin_name, info.reference)
            finally:
                db.session.remove()
    return heard
