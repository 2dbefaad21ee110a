"""named operators of the console, their sessions and failed sign-ins

Revision ID: 0009
Revises: 0008
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

_BIGINT = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('operator',
    sa.Column('id', _BIGINT, autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('disabled', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('password_changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_operator')),
    sa.UniqueConstraint('name', name=op.f('uq_operator_name'))
    )
    op.create_table('operator_session',
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('operator_id', _BIGINT, nullable=False),
    sa.Column('csrf_token', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['operator_id'], ['operator.id'],
                            name=op.f('fk_operator_session_operator_id_operator'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_operator_session'))
    )
    op.create_index('ix_operator_session_operator_id', 'operator_session', ['operator_id'],
                    unique=False)
    op.create_table('sign_in_failure',
    sa.Column('id', _BIGINT, autoincrement=True, nullable=False),
    sa.Column('username', sa.String(length=200), nullable=False),
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.Column('failed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sign_in_failure'))
    )
    op.create_index('ix_sign_in_failure_username', 'sign_in_failure', ['username'], unique=False)
    op.create_index('ix_sign_in_failure_address', 'sign_in_failure', ['address'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_sign_in_failure_address', table_name='sign_in_failure')
    op.drop_index('ix_sign_in_failure_username', table_name='sign_in_failure')
    op.drop_table('sign_in_failure')
    op.drop_index('ix_operator_session_operator_id', table_name='operator_session')
    op.drop_table('operator_session')
    op.drop_table('operator')
