"""publicity: who takes objections (printed on the village publicity list)

Adds ``batches.publicity_contact``: the office and phone that take objections during publicity,
entered with the publicity period and printed on the village notice-board list (村务公开栏).

Revision ID: 5c1e0d7a9b13
Revises: 12f796973cbf
Create Date: 2026-12-03 10:00:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = '5c1e0d7a9b13'
down_revision = '12f796973cbf'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('batches', schema=None) as batch_op:
        batch_op.add_column(sa.Column('publicity_contact', sa.String(length=200), nullable=False,
                                      server_default=''))


def downgrade() -> None:
    with op.batch_alter_table('batches', schema=None) as batch_op:
        batch_op.drop_column('publicity_contact')
