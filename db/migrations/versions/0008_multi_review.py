"""multi review: several reviews per face, one per reviewer (issue 15)

A face's label becomes the consensus of its reviews (db/queries/consensus.py). Before, the
review table was a log whose newest row per face won; the upgrade keeps exactly that row of
each face, under the reviewer "legacy", so every face keeps the label it counted under
(with the default of one review per face). Superseded older rows are dropped.

Revision ID: 0008_multi_review
Revises: 0007_audit
Create Date: 2026-12-02 10:45:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = '0008_multi_review'
down_revision = '0007_audit'
branch_labels = None
depends_on = None

LEGACY_REVIEWER = 'legacy'


def upgrade() -> None:
    op.execute(sa.text(
        "DELETE FROM review WHERE id NOT IN "
        "(SELECT newest FROM (SELECT max(id) AS newest FROM review GROUP BY face_id) AS kept)"))
    op.execute(sa.text("UPDATE review SET reviewer = :who").bindparams(who=LEGACY_REVIEWER))
    with op.batch_alter_table('review') as batch_op:
        batch_op.create_unique_constraint(batch_op.f('uq_review_face_id'),
                                          ['face_id', 'reviewer'])


def downgrade() -> None:
    with op.batch_alter_table('review') as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_review_face_id'), type_='unique')
