"""face ita: the skin-tone angle of each face crop, for the fairness check (issue 14)

Revision ID: 0004_face_ita
Revises: 0003
Create Date: 2026-12-01 09:00:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = '0004_face_ita'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # nullable, no default: existing faces get theirs from `brandmood fairness backfill`
    with op.batch_alter_table('face') as batch_op:
        batch_op.add_column(sa.Column('ita', sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('face') as batch_op:
        batch_op.drop_column('ita')
