"""The example plugin's one page, reached from the menu."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user, login_required

from hubcore.identity.permissions import districts_for, require

from . import notes

example = Blueprint("example", __name__, url_prefix="/example", template_folder="templates")


@example.get("/notes")
@login_required
def notes_page():
    require(current_user, "example.notes.read")
    shown = notes.notes_in(districts_for(current_user, "example.notes.read"))
    return render_template("example/notes.html", notes=shown)
