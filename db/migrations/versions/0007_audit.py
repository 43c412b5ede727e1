"""audit trail: an append-only table of who did what, when, in which brand

UPDATE and DELETE on it are rejected by triggers (SQLite and PostgreSQL).

Revision ID: 0007_audit
Revises: 0006_jobs
Create Date: 2026-12-02 10:50:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0007_audit'
down_revision = '0006_jobs'
branch_labels = None
depends_on = None

ACTIONS = ('sign_in', 'sign_in_failed', 'upload', 'ingest', 'review', 'export',
           'settings_change', 'model_registration', 'erasure', 'membership_change', 'job',
           'rate_limited', 'retention')
OBJECTS = ('asset', 'face', 'job', 'ingest_run', 'report', 'setting', 'model_version',
           'user', 'brand', 'erasure')
MESSAGE = 'audit_events is append-only'


def upgrade() -> None:
    op.create_table('audit_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=320), nullable=False),
    sa.Column('brand_id', sa.Integer(), nullable=True),
    sa.Column('brand', sa.String(length=200), nullable=True),
    sa.Column('action', sa.Enum(*ACTIONS, name='audit_action', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('object_kind', sa.Enum(*OBJECTS, name='audit_object', native_enum=False, create_constraint=True, length=32), nullable=True),
    sa.Column('object_id', sa.String(length=200), nullable=True),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_events'))
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index('ix_audit_events_at', ['at'], unique=False)
        batch_op.create_index('ix_audit_events_brand_id_at', ['brand_id', 'at'], unique=False)
        batch_op.create_index('ix_audit_events_actor_action_at', ['actor', 'action', 'at'],
                              unique=False)
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(f"""CREATE FUNCTION audit_events_append_only() RETURNS trigger
            LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '{MESSAGE}'; END $$""")
        for verb in ('UPDATE', 'DELETE'):
            op.execute(f"CREATE TRIGGER audit_events_no_{verb.lower()} BEFORE {verb} ON "
                       "audit_events FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()")
        op.execute("CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events "
                   "FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()")
    else:
        for verb in ('UPDATE', 'DELETE'):
            op.execute(f"CREATE TRIGGER audit_events_no_{verb.lower()} BEFORE {verb} ON "
                       f"audit_events BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END")


def downgrade() -> None:
    op.drop_table('audit_events')  # its triggers go with it
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("DROP FUNCTION IF EXISTS audit_events_append_only()")
