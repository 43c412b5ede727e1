"""erasure: consent records for recognition, the erasure audit log, and the retention
marker on assets (issue 14)

Revision ID: 0009_erasure
Revises: 0008_multi_review
Create Date: 2026-12-02 10:45:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = '0009_erasure'
down_revision = '0008_multi_review'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('ambassador_consent',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ambassador_id', sa.Integer(), nullable=False),
    sa.Column('given_by', sa.String(length=200), nullable=False),
    sa.Column('basis', sa.Text(), nullable=False),
    sa.Column('consented_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('recorded_by', sa.String(length=200), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('withdrawn_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('length(basis) > 0', name=op.f('ck_ambassador_consent_basis_not_empty')),
    sa.CheckConstraint('length(given_by) > 0', name=op.f('ck_ambassador_consent_given_by_not_empty')),
    sa.ForeignKeyConstraint(['ambassador_id'], ['ambassador.id'], name=op.f('fk_ambassador_consent_ambassador_id_ambassador'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ambassador_consent'))
    )
    with op.batch_alter_table('ambassador_consent', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ambassador_consent_ambassador_id'), ['ambassador_id'], unique=False)

    op.create_table('erasure_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('ambassador', 'face', 'asset', 'campaign', 'channel', 'brand', 'consent', 'retention', name='erasure_kind', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('subject', sa.String(length=64), nullable=False),
    sa.Column('counts', sa.JSON(), nullable=False),
    sa.Column('erased_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('erased_by', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_erasure_log'))
    )
    with op.batch_alter_table('erasure_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_erasure_log_subject'), ['subject'], unique=False)

    # nullable: every stored asset keeps its media until a retention pass removes them
    with op.batch_alter_table('asset', schema=None) as batch_op:
        batch_op.add_column(sa.Column('media_removed_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # Not batch mode: on SQLite it would copy and drop the asset table, and dropping it
    # deletes every face, frame and count through their ON DELETE CASCADE keys. SQLite
    # (3.35+) and PostgreSQL both drop a plain column in place.
    op.execute('ALTER TABLE asset DROP COLUMN media_removed_at')
    with op.batch_alter_table('erasure_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_erasure_log_subject'))
    op.drop_table('erasure_log')
    with op.batch_alter_table('ambassador_consent', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ambassador_consent_ambassador_id'))
    op.drop_table('ambassador_consent')
