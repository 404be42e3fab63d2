"""bank: bank files, results, corrections and re-issue, arrival SMS

Adds to each payment line the payment request (首次发放 or 补发) that sent it to the bank and the
day a failed line must be corrected by; to each payment request its kind; to each bank's share
of a request its exports and imported result; and the tables of corrections of failed lines, of
arrival SMS (one per paid line) and of the sandbox SMS gateway's deliveries.

Revision ID: 713d7ebfa9b6
Revises: 5c1e0d7a9b13
Create Date: 2026-12-01 14:38:04.068166
"""

from alembic import op
import sqlalchemy as sa


revision = '713d7ebfa9b6'
down_revision = '5c1e0d7a9b13'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sms_sandbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ref', sa.String(length=40), nullable=False),
    sa.Column('phone_masked', sa.String(length=20), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('ref')
    )
    op.create_table('line_corrections',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('line_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('card_account_id', sa.Integer(), nullable=True),
    sa.Column('name_before', sa.String(length=40), nullable=True),
    sa.Column('name_after', sa.String(length=40), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('corrected_by', sa.String(length=64), nullable=False),
    sa.Column('corrected_on', sa.Date(), nullable=False),
    sa.Column('reissue_line_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.ForeignKeyConstraint(['batch_id'], ['batches.id'], ),
    sa.ForeignKeyConstraint(['card_account_id'], ['card_accounts.id'], ),
    sa.ForeignKeyConstraint(['line_id'], ['payment_lines.id'], ),
    sa.ForeignKeyConstraint(['reissue_line_id'], ['payment_lines.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('line_corrections', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_line_corrections_batch_id'), ['batch_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_line_corrections_line_id'), ['line_id'], unique=False)

    op.create_table('sms_messages',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('line_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_error', sa.String(length=200), nullable=False),
    sa.Column('gateway', sa.String(length=16), nullable=False),
    sa.Column('gateway_id', sa.String(length=64), nullable=False),
    sa.Column('queued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['batch_id'], ['batches.id'], ),
    sa.ForeignKeyConstraint(['line_id'], ['payment_lines.id'], ),
    sa.ForeignKeyConstraint(['person_id'], ['persons.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('line_id')
    )
    with op.batch_alter_table('sms_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sms_messages_batch_id'), ['batch_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_sms_messages_status'), ['status'], unique=False)

    with op.batch_alter_table('payment_lines', schema=None) as batch_op:
        batch_op.add_column(sa.Column('payment_request_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('correction_due_on', sa.Date(), nullable=True))
        batch_op.create_index(batch_op.f('ix_payment_lines_payment_request_id'), ['payment_request_id'], unique=False)
        batch_op.create_foreign_key('fk_payment_lines_payment_request_id', 'payment_requests', ['payment_request_id'], ['id'])

    with op.batch_alter_table('payment_request_banks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('export_count', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('exported_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('exported_by', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('results_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('results_by', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('paid_count', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('failed_count', sa.Integer(), nullable=False, server_default='0'))

    with op.batch_alter_table('payment_requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=16), nullable=False, server_default='payment'))



def downgrade() -> None:
    with op.batch_alter_table('payment_requests', schema=None) as batch_op:
        batch_op.drop_column('kind')

    with op.batch_alter_table('payment_request_banks', schema=None) as batch_op:
        batch_op.drop_column('failed_count')
        batch_op.drop_column('paid_count')
        batch_op.drop_column('results_by')
        batch_op.drop_column('results_at')
        batch_op.drop_column('exported_by')
        batch_op.drop_column('exported_at')
        batch_op.drop_column('export_count')

    with op.batch_alter_table('payment_lines', schema=None) as batch_op:
        batch_op.drop_constraint('fk_payment_lines_payment_request_id', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_payment_lines_payment_request_id'))
        batch_op.drop_column('correction_due_on')
        batch_op.drop_column('payment_request_id')

    with op.batch_alter_table('sms_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sms_messages_status'))
        batch_op.drop_index(batch_op.f('ix_sms_messages_batch_id'))

    op.drop_table('sms_messages')
    with op.batch_alter_table('line_corrections', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_line_corrections_line_id'))
        batch_op.drop_index(batch_op.f('ix_line_corrections_batch_id'))

    op.drop_table('line_corrections')
    op.drop_table('sms_sandbox')
