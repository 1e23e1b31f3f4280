"""``audit.record`` refuses text a person typed (issue 8, item 10).

The rule (see ``hubcore.audit``): a key that names typed text (its last word
is reason, note, comment, description, message, text...) may not carry a
string, at any depth; personal keys are masked; values are ids, counts,
codes, flags and dates, nothing else. A refused summary writes nothing.
"""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from hubcore import audit
from hubcore.audit import AuditEntry
from tests.conftest import BOLTON


def count(db) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry))


@pytest.mark.parametrize("summary", [
    {"reason": "She rang in tears"},
    {"priority_reason": "x"},
    {"escalation-reason": "carer in hospital"},
    {"notes": "spoke to her son"},
    {"Description": "cannot get out"},
    {"changes": {"comment": "moved in with her daughter"}},
    {"history": [{"message": "called twice"}]},
    {"reasons": ["one", "two"]},
    {"status_text": "anything"},
    {"when": object()},
])
def test_record_refuses_free_text_and_writes_nothing(app, db, summary):
    with pytest.raises(audit.SummaryNotAllowed):
        audit.record("case.updated", "case", 1, district=BOLTON, summary=summary)
    db.session.rollback()
    assert count(db) == 0


def test_record_keeps_what_says_a_reason_was_given_without_its_words(app, db):
    entry = audit.record("case.updated", "case", 1, district=BOLTON, summary={
        "reason_given": True, "reason_length": 17, "reason_code": "overdue", "note_id": 4,
        "reason": None, "notes": 3, "on": date(2026, 1, 2), "context": "sweep",
    })
    db.session.commit()
    assert audit.verify_chain().ok
    assert '"reason_code": "overdue"' in entry.summary and '"on": "2026-01-02"' in entry.summary


def test_the_refusal_names_the_key_but_never_repeats_the_text(app):
    with pytest.raises(audit.SummaryNotAllowed) as refused:
        audit.redact({"reason": "Mrs Quixotrelle rang"})
    assert "'reason'" in str(refused.value) and "Quixotrelle" not in str(refused.value)
