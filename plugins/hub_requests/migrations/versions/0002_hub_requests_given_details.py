"""hub_requests: details given that differ from the person's record; outcomes

Revision ID: 0002_hub_requests_given_details
Revises: 0001_hub_requests
Create Date: 2026-12-04 18:40:00

Public intake never changes a stored person: details that differ (another
postcode or address) are kept on the request for the coordinator to check.
A finished request records its outcome (was the need met?), set by the
coordinator.
"""

import sqlalchemy as sa
from alembic import op

import hubcore.db


revision = '0002_hub_requests_given_details'
down_revision = '0001_hub_requests'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('hub_requests_requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('given_details', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('outcome', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('outcome_at', hubcore.db.UTCDateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table('hub_requests_requests', schema=None) as batch_op:
        batch_op.drop_column('outcome_at')
        batch_op.drop_column('outcome')
        batch_op.drop_column('given_details')
