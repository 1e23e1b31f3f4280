"""volunteering: volunteers, offers, assignments

Revision ID: 0001_volunteering
Revises:
Create Date: 2026-11-22 15:47:48

The first revision of the volunteering plugin's own branch; it depends on
the core's first revision (accounts, people).
"""

import sqlalchemy as sa
from alembic import op

import hubcore.db

revision = "0001_volunteering"
down_revision = None
branch_labels = ("volunteering",)
depends_on = "0001_core"


def upgrade():
    op.create_table('volunteering_volunteers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('given_name', sa.String(length=100), nullable=False),
    sa.Column('family_name', sa.String(length=100), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('phone', sa.String(length=20), nullable=True),
    sa.Column('postcode', sa.String(length=8), nullable=True),
    sa.Column('district_code', sa.String(length=9), nullable=False),
    sa.Column('latitude', sa.Double(), nullable=True),
    sa.Column('longitude', sa.Double(), nullable=True),
    sa.Column('skills', sa.JSON(), nullable=False),
    sa.Column('languages', sa.JSON(), nullable=False),
    sa.Column('availability', sa.JSON(), nullable=False),
    sa.Column('max_travel_km', sa.Double(), nullable=False),
    sa.Column('has_car', sa.Boolean(), nullable=False),
    sa.Column('dbs_level', sa.String(length=10), nullable=False),
    sa.Column('dbs_certificate_number', sa.String(length=20), nullable=True),
    sa.Column('dbs_issue_date', sa.Date(), nullable=True),
    sa.Column('dbs_verified_by_id', sa.Integer(), nullable=True),
    sa.Column('dbs_verified_at', hubcore.db.UTCDateTime(), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('weekly_cap', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=True),
    sa.Column('person_id', sa.Integer(), nullable=True),
    sa.Column('consent_given_at', hubcore.db.UTCDateTime(), nullable=True),
    sa.Column('created_at', hubcore.db.UTCDateTime(), nullable=False),
    sa.Column('updated_at', hubcore.db.UTCDateTime(), nullable=False),
    sa.Column('left_at', hubcore.db.UTCDateTime(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_volunteering_volunteers_account_id_accounts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['dbs_verified_by_id'], ['accounts.id'], name=op.f('fk_volunteering_volunteers_dbs_verified_by_id_accounts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_volunteering_volunteers_person_id_people'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_volunteering_volunteers')),
    sa.UniqueConstraint('account_id', name=op.f('uq_volunteering_volunteers_account_id')),
    sa.UniqueConstraint('email', name=op.f('uq_volunteering_volunteers_email')),
    sa.UniqueConstraint('phone', name=op.f('uq_volunteering_volunteers_phone'))
    )
    with op.batch_alter_table('volunteering_volunteers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_volunteering_volunteers_district_code'), ['district_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_volunteering_volunteers_left_at'), ['left_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_volunteering_volunteers_person_id'), ['person_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_volunteering_volunteers_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_volunteering_volunteers_updated_at'), ['updated_at'], unique=False)

    op.create_table('volunteering_offers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('task_owner', sa.String(length=40), nullable=False),
    sa.Column('task_owner_id', sa.String(length=60), nullable=False),
    sa.Column('district_code', sa.String(length=9), nullable=False),
    sa.Column('task', sa.JSON(), nullable=False),
    sa.Column('volunteer_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('score', sa.Double(), nullable=False),
    sa.Column('overflow', sa.Boolean(), nullable=False),
    sa.Column('offered_by_id', sa.Integer(), nullable=True),
    sa.Column('offered_at', hubcore.db.UTCDateTime(), nullable=False),
    sa.Column('expires_at', hubcore.db.UTCDateTime(), nullable=False),
    sa.Column('answered_at', hubcore.db.UTCDateTime(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['offered_by_id'], ['accounts.id'], name=op.f('fk_volunteering_offers_offered_by_id_accounts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['volunteer_id'], ['volunteering_volunteers.id'], name=op.f('fk_volunteering_offers_volunteer_id_volunteering_volunteers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_volunteering_offers'))
    )
    with op.batch_alter_table('volunteering_offers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_volunteering_offers_district_code'), ['district_code'], unique=False)
        batch_op.create_index('ix_volunteering_offers_due', ['status', 'expires_at'], unique=False)
        batch_op.create_index('ix_volunteering_offers_task', ['task_owner', 'task_owner_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_volunteering_offers_volunteer_id'), ['volunteer_id'], unique=False)

    op.create_table('volunteering_assignments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('active_key', sa.String(length=110), nullable=True),
    sa.Column('task_owner', sa.String(length=40), nullable=False),
    sa.Column('task_owner_id', sa.String(length=60), nullable=False),
    sa.Column('district_code', sa.String(length=9), nullable=False),
    sa.Column('task', sa.JSON(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=True),
    sa.Column('volunteer_id', sa.Integer(), nullable=False),
    sa.Column('offer_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('assigned_at', hubcore.db.UTCDateTime(), nullable=False),
    sa.Column('finished_at', hubcore.db.UTCDateTime(), nullable=True),
    sa.Column('hours', sa.Double(), nullable=True),
    sa.Column('release_reason', sa.String(length=500), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['offer_id'], ['volunteering_offers.id'], name=op.f('fk_volunteering_assignments_offer_id_volunteering_offers'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_volunteering_assignments_person_id_people'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['volunteer_id'], ['volunteering_volunteers.id'], name=op.f('fk_volunteering_assignments_volunteer_id_volunteering_volunteers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_volunteering_assignments')),
    sa.UniqueConstraint('active_key', name=op.f('uq_volunteering_assignments_active_key'))
    )
    with op.batch_alter_table('volunteering_assignments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_volunteering_assignments_assigned_at'), ['assigned_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_volunteering_assignments_district_code'), ['district_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_volunteering_assignments_finished_at'), ['finished_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_volunteering_assignments_person_id'), ['person_id'], unique=False)
        batch_op.create_index('ix_volunteering_assignments_task', ['task_owner', 'task_owner_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_volunteering_assignments_volunteer_id'), ['volunteer_id'], unique=False)


def downgrade():
    op.drop_table("volunteering_assignments")
    op.drop_table("volunteering_offers")
    op.drop_table("volunteering_volunteers")
