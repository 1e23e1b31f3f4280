"""example plugin: example_notes

Revision ID: 0001_example
Revises:
Create Date: 2026-11-22 16:00:00

The first revision of the example plugin's own branch: no down_revision,
its own branch label, and a dependency on the core's first revision
(the table points at ``people``).
"""

import sqlalchemy as sa
from alembic import op

import hubcore.db

revision = "0001_example"
down_revision = None
branch_labels = ("example",)
depends_on = "0001_core"


def upgrade():
    op.create_table(
        "example_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("district_code", sa.String(length=9), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("helper_id", sa.String(length=60), nullable=True),
        sa.Column("hours", sa.Double(), nullable=True),
        sa.Column("created_at", hubcore.db.UTCDateTime(), nullable=False),
        sa.Column("closed_at", hubcore.db.UTCDateTime(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], ondelete="SET NULL",
                                name=op.f("fk_example_notes_person_id_people")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_example_notes")),
    )
    with op.batch_alter_table("example_notes") as batch_op:
        batch_op.create_index(batch_op.f("ix_example_notes_district_code"), ["district_code"])
        batch_op.create_index(batch_op.f("ix_example_notes_person_id"), ["person_id"])
        batch_op.create_index(batch_op.f("ix_example_notes_closed_at"), ["closed_at"])


def downgrade():
    op.drop_table("example_notes")
