"""people: one record per normalised identity, and merged records

Revision ID: 0003_people_identity
Revises: 0002_account_sessions
Create Date: 2026-12-04 18:30:00

Adds ``people.merged_into_id`` and two partial unique indexes, (name_key,
phone) and (name_key, email), so that concurrent intakes of the same person
find one record. A database that already holds two records of one identity
cannot take the indexes: the upgrade stops and names them, rather than
merging anyone silently (merge them with ``POST /api/v1/people/{id}/merge``
on a version that has it, or by hand, then upgrade again).
"""

from alembic import op
import sqlalchemy as sa


revision = '0003_people_identity'
down_revision = '0002_account_sessions'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('people', schema=None) as batch_op:
        batch_op.add_column(sa.Column('merged_into_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_people_merged_into_id'), ['merged_into_id'],
                              unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_people_merged_into_id_people'), 'people',
                                    ['merged_into_id'], ['id'], ondelete='SET NULL')
    bind = op.get_bind()
    for column in ('phone', 'email'):
        clashes = bind.execute(sa.text(
            f"SELECT name_key, {column}, COUNT(*) FROM people WHERE {column} IS NOT NULL "
            f"GROUP BY name_key, {column} HAVING COUNT(*) > 1")).fetchall()
        if clashes:
            ids = bind.execute(sa.text(
                f"SELECT p.id FROM people p JOIN (SELECT name_key, {column} FROM people "
                f"WHERE {column} IS NOT NULL GROUP BY name_key, {column} HAVING COUNT(*) > 1) d "
                f"ON p.name_key = d.name_key AND p.{column} = d.{column} ORDER BY p.id"
            )).scalars().all()
            raise RuntimeError(
                f"{len(clashes)} groups of people share a name and {column} (people ids "
                f"{', '.join(map(str, ids[:50]))}); merge them before upgrading, so that "
                "nobody is merged silently.")
    op.create_index('uq_people_name_phone', 'people', ['name_key', 'phone'], unique=True,
                    sqlite_where=sa.text('phone IS NOT NULL'),
                    postgresql_where=sa.text('phone IS NOT NULL'))
    op.create_index('uq_people_name_email', 'people', ['name_key', 'email'], unique=True,
                    sqlite_where=sa.text('email IS NOT NULL'),
                    postgresql_where=sa.text('email IS NOT NULL'))


def downgrade():
    op.drop_index('uq_people_name_email', table_name='people')
    op.drop_index('uq_people_name_phone', table_name='people')
    with op.batch_alter_table('people', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_people_merged_into_id_people'),
                                 type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_people_merged_into_id'))
        batch_op.drop_column('merged_into_id')
