"""hub_requests: contact details given with a request that differ from the person's record

Revision ID: 0002_hub_requests_given_details
Revises: 0001_hub_requests
Create Date: 2026-12-04 18:40:00

Public intake never changes a stored person: details that differ (another
postcode or address) are kept on the request for the coordinator to check.
"""

import sqlalchemy as sa
from alembic import op


revision = '0002_hub_requests_given_details'
down_revision = '0001_hub_requests'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('hub_requests_requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('given_details', sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table('hub_requests_requests', schema=None) as batch_op:
        batch_op.drop_column('given_details')
