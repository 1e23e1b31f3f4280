"""Work that should not make a response slower: run it once the response is sent.

``run_after_response(fn)`` during a request runs ``fn`` (in an app context of
its own) when the server closes the response, that is after the last byte
went to the client (gunicorn and Werkzeug's server both close after
writing); outside a request it runs at once. Used where the time an answer
takes must not depend on work only some requests cause: with jobs run
in-process (no ``HUBCORE_REDIS_URL``), "Forgotten your password?" would
otherwise take longer for an address that has an account.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import after_this_request, current_app, has_request_context

log = logging.getLogger(__name__)


def run_after_response(fn: Callable[[], None]) -> None:
    if not has_request_context():
        fn()
        return
    app = current_app._get_current_object()

    def run() -> None:
        with app.app_context():
            try:
                fn()
            except Exception:  # the answer is gone: log, never raise into the server
                log.exception("work after the response failed: %s",
                              getattr(fn, "__qualname__", fn))

    @after_this_request
    def schedule(response):
        response.call_on_close(run)
        return response
