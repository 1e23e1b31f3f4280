"""The example plugin's API: load → domain function → dump."""

from __future__ import annotations

from flask import Blueprint
from flask_login import current_user

from hubcore.api import etag_for, idempotent, json_response, load, operation
from hubcore.identity.permissions import require

from . import notes
from .schemas import NoteIn, NoteOut

example_api = Blueprint("example_api", __name__, url_prefix="/api/v1/example")


@example_api.post("/notes")
@operation(summary="Write a note for a district", tags=("example",), body=NoteIn,
           response=NoteOut, status=201, errors=(404,))
@idempotent
def create_note():
    data = load(NoteIn())
    require(current_user, "example.notes.write", data["district"])
    note = notes.create_note(district=data["district"], body=data["body"], person_id=None,
                             actor=current_user)
    return json_response(NoteOut().dump(note), 201,
                         etag=etag_for("example_note", note.id, note.version))
