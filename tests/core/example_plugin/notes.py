"""The example plugin's rules, as plain functions: they flush, never commit."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from hubcore import audit
from hubcore.db import db
from hubcore.errors import Conflict
from hubcore.values import Task

from .models import ExampleNote

OWNER = "example"  # the name tasks owned by this plugin carry in Task.owner
RETENTION_DAYS = 30
ERASED = "[erased]"


def create_note(*, district: str, body: str, person_id: int | None, actor) -> ExampleNote:
    note = ExampleNote(district_code=district, body=body, person_id=person_id)
    db.session.add(note)
    db.session.flush()
    audit.record("example.note.created", "example_note", note.id, actor=actor,
                 district=district, summary={"length": len(body)})
    return note


def notes_in(districts) -> list[ExampleNote]:
    """Notes in the given districts (an ALL_DISTRICTS set matches every one)."""
    notes = db.session.execute(sa.select(ExampleNote).order_by(ExampleNote.id)).scalars()
    return [note for note in notes if note.district_code in districts]


def find_note(district: str, body: str) -> ExampleNote | None:
    return db.session.execute(
        sa.select(ExampleNote).where(ExampleNote.district_code == district,
                                     ExampleNote.body == body)
    ).scalar_one_or_none()


def note_for_task(task: Task) -> ExampleNote | None:
    """The note behind ``task`` if this plugin owns it, else None."""
    if task.owner != OWNER:
        return None
    return db.session.get(ExampleNote, int(task.owner_id))


def open_note(owner: str, owner_id: str) -> ExampleNote | None:
    """The open note ``owner``/``owner_id`` names, if this plugin owns it."""
    if owner != OWNER or not owner_id.isdigit():
        return None
    note = db.session.get(ExampleNote, int(owner_id))
    return note if note is not None and note.status == "open" else None


def task_for(note: ExampleNote) -> Task:
    return Task(owner=OWNER, owner_id=str(note.id), district=note.district_code,
                needs=("practical_task",), person_id=note.person_id)


def _move(note: ExampleNote, allowed_from: str, to: str, action: str, summary: dict) -> None:
    if note.status != allowed_from:
        raise Conflict(f"A {note.status} note cannot become {to}.",
                       code="illegal-transition")
    note.status = to
    db.session.flush()
    audit.record(action, "example_note", note.id, district=note.district_code, summary=summary)


def assign(note: ExampleNote, helper_id: str) -> None:
    note.helper_id = helper_id
    _move(note, "open", "assigned", "example.note.assigned", {"helper_id": helper_id})


def release(note: ExampleNote, reason: str) -> None:
    note.helper_id = None
    _move(note, "assigned", "open", "example.note.released", {"reason_given": bool(reason)})


def complete(note: ExampleNote, hours: float, now: datetime) -> None:
    note.hours = hours
    note.closed_at = now
    _move(note, "assigned", "completed", "example.note.completed", {"hours": hours})


def purge_closed(now: datetime) -> int:
    """Delete notes closed more than RETENTION_DAYS before ``now``."""
    cutoff = now - timedelta(days=RETENTION_DAYS)
    ids = db.session.execute(
        sa.select(ExampleNote.id).where(ExampleNote.closed_at < cutoff)
    ).scalars().all()
    if not ids:
        return 0
    db.session.execute(sa.delete(ExampleNote).where(ExampleNote.id.in_(ids)))
    audit.record("example.notes.purged", "example_note", summary={"count": len(ids)})
    return len(ids)


def export_for_person(person_id: int) -> list[dict]:
    notes = db.session.execute(
        sa.select(ExampleNote).where(ExampleNote.person_id == person_id).order_by(ExampleNote.id)
    ).scalars()
    return [{"id": n.id, "district": n.district_code, "body": n.body, "status": n.status,
             "created_at": n.created_at.isoformat()} for n in notes]


def erase_for_person(person_id: int) -> int:
    """Blank the text of the person's notes and unlink them; the counts stay."""
    notes = db.session.execute(
        sa.select(ExampleNote).where(ExampleNote.person_id == person_id)
    ).scalars().all()
    for note in notes:
        note.body = ERASED
        note.person_id = None
    db.session.flush()
    if notes:
        audit.record("example.person.erased", "person", person_id,
                     summary={"records": len(notes)})
    return len(notes)
