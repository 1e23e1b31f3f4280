"""Background work of the example plugin, enqueued by dotted path."""

from __future__ import annotations

from hubcore.db import db

from . import notes


def note_help_request(reference: str, district: str, person_id: int | None) -> int:
    """Note a new help request in its district; run by the worker, so it commits."""
    body = f"Help request {reference} arrived: see whether the hub can help."
    note = notes.find_note(district, body) or notes.create_note(
        district=district, body=body, person_id=person_id, actor=None)
    db.session.commit()
    return note.id
