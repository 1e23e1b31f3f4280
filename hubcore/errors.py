"""Domain errors: a code, a human sentence, and the HTTP status they mean.

Domain functions raise these without knowing about HTTP; the API turns them
into ``application/problem+json`` (RFC 9457) and pages into an error summary.
"""

from __future__ import annotations


class HubcoreError(Exception):
    """Base for every error a person or client should see explained."""

    status = 400
    code = "bad-request"
    title = "Bad request"

    def __init__(self, message: str, *, code: str | None = None,
                 fields: dict[str, list[str]] | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if status:
            self.status = status
        self.fields = fields or {}


class InvalidInput(HubcoreError):
    """The input cannot be accepted; ``fields`` maps each field to its messages."""

    status = 422
    code = "invalid-input"
    title = "Some of the information is not right"


class Unauthorised(HubcoreError):
    status = 401
    code = "unauthorised"
    title = "Sign in needed"


class Forbidden(HubcoreError):
    status = 403
    code = "forbidden"
    title = "Not allowed"


class NotFound(HubcoreError):
    status = 404
    code = "not-found"
    title = "Not found"


class Conflict(HubcoreError):
    """The request clashes with the current state (an illegal transition, a duplicate)."""

    status = 409
    code = "conflict"
    title = "Conflict with the current state"


class PreconditionFailed(HubcoreError):
    """The client's ``If-Match`` no longer matches: someone else changed it first."""

    status = 412
    code = "stale-write"
    title = "Changed by someone else"


class PreconditionRequired(HubcoreError):
    status = 428
    code = "if-match-required"
    title = "If-Match header required"
