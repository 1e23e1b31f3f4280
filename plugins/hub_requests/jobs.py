"""Background work of the hub requests plugin (run through ``hubcore.jobs``)."""

from __future__ import annotations

import logging
from contextlib import contextmanager

from flask import Flask, current_app

from hubcore.db import db
from hubcore.plugins import collect

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
    heard = collect(app.extensions["hubcore"].pm, "help_request_created",
                    run_in=lambda: _own_transaction(app), request=info)
    if heard.failed:
        log.warning("help request %s was not heard by %s", info.reference,
                    ", ".join(heard.failed))
    return len(heard.answered)


@contextmanager
def _own_transaction(app: Flask):
    """One listener's app context and transaction: committed if it returns, else rolled back."""
    with app.app_context():
        try:
            yield
            db.session.commit()
        except Exception:
            db.session.rollback()
            raise
        finally:
            db.session.remove()
