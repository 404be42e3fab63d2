"""spot checks (#16 supervision): samples drawn from a recorded seed, findings, rectification

Adds ``spot_checks`` (scope, size or rate, seed, population size and digest, who drew it and
when), ``spot_check_lines`` (the sampled lines in draw order), ``spot_findings`` (one per
sampled line: result, category, responsible unit, due date, rectification status) and
``spot_check_events`` (the history).

Revision ID: 0007_spot_checks
Revises: be9237246f1b (0005_complaints_handling; the integrator re-chains)
Create Date: 2026-12-01 17:30:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0007_spot_checks'
down_revision = '0006_supervision_signals'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('spot_checks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=True),
    sa.Column('region_code', sa.String(length=12), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=True),
    sa.Column('year', sa.Integer(), nullable=True),
    sa.Column('period', sa.String(length=20), nullable=True),
    sa.Column('sample_size', sa.Integer(), nullable=False),
    sa.Column('rate', sa.Numeric(precision=5, scale=2), nullable=True),
    sa.Column('seed', sa.BigInteger(), nullable=False),
    sa.Column('population_size', sa.Integer(), nullable=False),
    sa.Column('population_digest', sa.String(length=64), nullable=False),
    sa.Column('drawn_by', sa.String(length=64), nullable=False),
    sa.Column('drawn_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['batches.id'], ),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('spot_checks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_spot_checks_batch_id'), ['batch_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_spot_checks_region_code'), ['region_code'], unique=False)

    op.create_table('spot_check_lines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('spot_check_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('line_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['line_id'], ['payment_lines.id'], ),
    sa.ForeignKeyConstraint(['spot_check_id'], ['spot_checks.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('spot_check_id', 'line_id'),
    sa.UniqueConstraint('spot_check_id', 'position')
    )
    with op.batch_alter_table('spot_check_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_spot_check_lines_spot_check_id'), ['spot_check_id'], unique=False)

    op.create_table('spot_findings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('spot_check_id', sa.Integer(), nullable=False),
    sa.Column('line_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('result', sa.String(length=10), nullable=False),
    sa.Column('category', sa.String(length=20), nullable=True),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=True),
    sa.Column('responsible_region', sa.String(length=12), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('due_days', sa.Integer(), nullable=True),
    sa.Column('due_on', sa.Date(), nullable=True),
    sa.Column('recorded_by', sa.String(length=64), nullable=False),
    sa.Column('recorded_on', sa.Date(), nullable=False),
    sa.Column('rectification', sa.Text(), nullable=False),
    sa.Column('reported_by', sa.String(length=64), nullable=True),
    sa.Column('reported_on', sa.Date(), nullable=True),
    sa.Column('closed_by', sa.String(length=64), nullable=True),
    sa.Column('closed_on', sa.Date(), nullable=True),
    sa.ForeignKeyConstraint(['department_id'], ['departments.id'], ),
    sa.ForeignKeyConstraint(['line_id'], ['payment_lines.id'], ),
    sa.ForeignKeyConstraint(['spot_check_id'], ['spot_checks.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('spot_check_id', 'line_id')
    )
    with op.batch_alter_table('spot_findings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_spot_findings_department_id'), ['department_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_spot_findings_responsible_region'), ['responsible_region'], unique=False)
        batch_op.create_index(batch_op.f('ix_spot_findings_spot_check_id'), ['spot_check_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_spot_findings_status'), ['status'], unique=False)

    op.create_table('spot_check_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('spot_check_id', sa.Integer(), nullable=False),
    sa.Column('finding_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('from_status', sa.String(length=10), nullable=True),
    sa.Column('to_status', sa.String(length=10), nullable=True),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=True),
    sa.ForeignKeyConstraint(['finding_id'], ['spot_findings.id'], ),
    sa.ForeignKeyConstraint(['spot_check_id'], ['spot_checks.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('spot_check_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_spot_check_events_spot_check_id'), ['spot_check_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('spot_check_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_spot_check_events_spot_check_id'))
    op.drop_table('spot_check_events')
    with op.batch_alter_table('spot_findings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_spot_findings_status'))
        batch_op.drop_index(batch_op.f('ix_spot_findings_spot_check_id'))
        batch_op.drop_index(batch_op.f('ix_spot_findings_responsible_region'))
        batch_op.drop_index(batch_op.f('ix_spot_findings_department_id'))
    op.drop_table('spot_findings')
    with op.batch_alter_table('spot_check_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_spot_check_lines_spot_check_id'))
    op.drop_table('spot_check_lines')
    with op.batch_alter_table('spot_checks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_spot_checks_region_code'))
        batch_op.drop_index(batch_op.f('ix_spot_checks_batch_id'))
    op.drop_table('spot_checks')
