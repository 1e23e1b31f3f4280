"""The page of a list a web page shows: ``?page=`` read forgivingly.

An API answers a bad page number with a 422; a person who edits the address
bar, or follows an old link past the end, gets the first page instead.
Templates show the count and the Previous / Next links with the macros in
``templates/_pagination.html``.
"""

from __future__ import annotations

from hubcore.api import PageArgs, load
from hubcore.errors import InvalidInput


def page_args(args, per_page: int) -> dict:
    """``{"page": n, "per_page": per_page}`` from the query string; page 1 if it is not valid."""
    try:  # PageArgs bounds the page too, so OFFSET never overflows
        return load(PageArgs(), {"page": args.get("page", "1"), "per_page": per_page})
    except InvalidInput:
        return {"page": 1, "per_page": per_page}
