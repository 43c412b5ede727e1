"""rollups: pre-aggregated face, asset and engagement counts the dashboard pages read,
with the per-asset ledger that keeps them exact; built from the existing faces

Revision ID: 0010_rollups
Revises: 0009_erasure
Create Date: 2026-12-02 10:50:00
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.orm import Session


revision = '0010_rollups'
down_revision = '0009_erasure'
branch_labels = None
depends_on = None


_LABELS = ('neutral', 'happy', 'sad', 'surprise', 'fear', 'anger', 'disgust', 'contempt',
           'uncertain')


def _cell() -> list[sa.Column]:
    return [sa.Column('brand_id', sa.Integer(), nullable=False),
            sa.Column('day', sa.String(length=10), nullable=False),
            sa.Column('campaign_id', sa.Integer(), nullable=False),
            sa.Column('channel_id', sa.Integer(), nullable=False)]


def upgrade() -> None:
    op.create_table('rollup_faces', *_cell(),
    sa.Column('ambassador_id', sa.Integer(), nullable=False),
    *(sa.Column(f'n_{label}', sa.Integer(), nullable=False) for label in _LABELS),
    sa.PrimaryKeyConstraint('brand_id', 'day', 'campaign_id', 'channel_id', 'ambassador_id',
                            name=op.f('pk_rollup_faces')),
    sqlite_with_rowid=False
    )
    op.create_table('rollup_assets', *_cell(),
    sa.Column('analyzed', sa.Boolean(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('dominant', sa.String(length=16), nullable=False),
    sa.Column('dominant_certain', sa.String(length=16), nullable=False),
    sa.Column('n_assets', sa.Integer(), nullable=False),
    sa.CheckConstraint('n_assets > 0', name=op.f('ck_rollup_assets_n_assets_pos')),
    sa.PrimaryKeyConstraint('brand_id', 'day', 'campaign_id', 'channel_id', 'analyzed',
                            'run_id', 'dominant', 'dominant_certain',
                            name=op.f('pk_rollup_assets')),
    sqlite_with_rowid=False
    )
    op.create_table('rollup_engagement',
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('channel_id', sa.Integer(), nullable=False),
    sa.Column('dominant', sa.String(length=16), nullable=False),
    sa.Column('dominant_certain', sa.String(length=16), nullable=False),
    sa.Column('metric', sa.String(length=16), nullable=False),
    sa.Column('value', sa.Float(), nullable=False),
    sa.Column('n_assets', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('brand_id', 'campaign_id', 'channel_id', 'dominant',
                            'dominant_certain', 'metric', 'value',
                            name=op.f('pk_rollup_engagement')),
    sqlite_with_rowid=False
    )
    op.create_table('rollup_asset_state',
    sa.Column('asset_id', sa.Integer(), autoincrement=False, nullable=False),
    *_cell(),
    sa.Column('analyzed', sa.Boolean(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('dominant', sa.String(length=16), nullable=False),
    sa.Column('dominant_certain', sa.String(length=16), nullable=False),
    sa.Column('likes', sa.Float(), nullable=False),
    sa.Column('comments', sa.Float(), nullable=False),
    sa.Column('shares', sa.Float(), nullable=False),
    sa.Column('views', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('asset_id', name=op.f('pk_rollup_asset_state'))
    )
    with op.batch_alter_table('rollup_asset_state', schema=None) as batch_op:
        batch_op.create_index('ix_rollup_asset_state_cell',
                              ['brand_id', 'day', 'campaign_id', 'channel_id'], unique=False)
    # existing data: the same code the app keeps the rollups with (one bulk rebuild)
    from db.queries.rollups import rebuild_rollups

    with Session(bind=op.get_bind()) as session:
        rebuild_rollups(session=session)
        session.flush()


def downgrade() -> None:
    with op.batch_alter_table('rollup_asset_state', schema=None) as batch_op:
        batch_op.drop_index('ix_rollup_asset_state_cell')
    op.drop_table('rollup_asset_state')
    op.drop_table('rollup_engagement')
    op.drop_table('rollup_assets')
    op.drop_table('rollup_faces')
