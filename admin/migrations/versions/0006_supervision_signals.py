"""supervision signals (#16): reference-list kinds as data, card fingerprint and activation,
household address digest and cap, per-unit rate, signals with their lines and reviews

``reference_kinds`` is seeded with the four kinds that used to be hard-coded (deceased and public
employees flagged "paid after the listed date is a problem"). New columns are nullable: existing
cards get their fingerprint on the next signal refresh (a migration cannot decrypt card numbers);
activation and address are known only from rosters imported from now on.

Revision ID: 0006_supervision_signals
Revises: be9237246f1b
Create Date: 2026-12-01 17:30:00
"""

from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa


revision = '0006_supervision_signals'
down_revision = 'be9237246f1b'
branch_labels = None
depends_on = None

KINDS = [
    {"code": "deceased", "name": "死亡人员", "date_meaning": "死亡日期", "paid_after_is_problem": True},
    {"code": "supported", "name": "特困供养人员", "date_meaning": "认定日期", "paid_after_is_problem": False},
    {"code": "public_employee", "name": "财政供养人员", "date_meaning": "入职日期", "paid_after_is_problem": True},
    {"code": "imprisoned", "name": "服刑人员", "date_meaning": "入监日期", "paid_after_is_problem": False},
]


def upgrade() -> None:
    kinds = op.create_table('reference_kinds',
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('date_meaning', sa.String(length=40), nullable=False),
    sa.Column('paid_after_is_problem', sa.Boolean(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('code')
    )
    stamp = datetime.now(timezone.utc)
    op.bulk_insert(kinds, [{**k, "active": True, "created_at": stamp} for k in KINDS])
    op.create_table('signals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('key', sa.String(length=128), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('summary', sa.String(length=300), nullable=False),
    sa.Column('region_code', sa.String(length=12), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=True),
    sa.Column('period', sa.String(length=20), nullable=False),
    sa.Column('line_count', sa.Integer(), nullable=False),
    sa.Column('total', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('first_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('cleared_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reviewed_by', sa.String(length=64), nullable=True),
    sa.Column('reviewed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('review_note', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('kind', 'key')
    )
    with op.batch_alter_table('signals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_signals_kind'), ['kind'], unique=False)
        batch_op.create_index(batch_op.f('ix_signals_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_signals_active'), ['active'], unique=False)
    op.create_table('signal_lines',
    sa.Column('signal_id', sa.Integer(), nullable=False),
    sa.Column('line_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['line_id'], ['payment_lines.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['signal_id'], ['signals.id'], ),
    sa.PrimaryKeyConstraint('signal_id', 'line_id')
    )
    with op.batch_alter_table('signal_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_signal_lines_line_id'), ['line_id'], unique=False)
    op.create_table('signal_reviews',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('signal_id', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('from_status', sa.String(length=16), nullable=False),
    sa.Column('to_status', sa.String(length=16), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['signal_id'], ['signals.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('signal_reviews', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_signal_reviews_signal_id'), ['signal_id'], unique=False)
    with op.batch_alter_table('card_accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('card_fingerprint', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('activation', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('activated_on', sa.Date(), nullable=True))
        batch_op.create_index(batch_op.f('ix_card_accounts_card_fingerprint'), ['card_fingerprint'], unique=False)
    with op.batch_alter_table('persons', schema=None) as batch_op:
        batch_op.add_column(sa.Column('address_digest', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_persons_address_digest'), ['address_digest'], unique=False)
    with op.batch_alter_table('projects', schema=None) as batch_op:
        batch_op.add_column(sa.Column('household_cap', sa.Numeric(precision=14, scale=2), nullable=True))
        batch_op.add_column(sa.Column('unit_rate', sa.Numeric(precision=14, scale=2), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('projects', schema=None) as batch_op:
        batch_op.drop_column('unit_rate')
        batch_op.drop_column('household_cap')
    with op.batch_alter_table('persons', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_persons_address_digest'))
        batch_op.drop_column('address_digest')
    with op.batch_alter_table('card_accounts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_card_accounts_card_fingerprint'))
        batch_op.drop_column('activated_on')
        batch_op.drop_column('activation')
        batch_op.drop_column('card_fingerprint')
    op.drop_table('signal_reviews')
    op.drop_table('signal_lines')
    op.drop_table('signals')
    op.drop_table('reference_kinds')
