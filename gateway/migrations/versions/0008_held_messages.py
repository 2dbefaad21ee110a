"""held HL7 v2 messages: from senders not (yet) registered, kept for replay

Revision ID: 0008
Revises: 0007
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

_BIGINT = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('held_message',
    sa.Column('id', _BIGINT, autoincrement=True, nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('times_received', sa.Integer(), nullable=False),
    sa.Column('facility', sa.String(length=200), nullable=False),
    sa.Column('message_type', sa.String(length=32), nullable=False),
    sa.Column('control_id', sa.String(length=200), nullable=False),
    sa.Column('channel', sa.String(length=200), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('replayed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('replayed_by', sa.String(length=64), nullable=True),
    sa.Column('answer', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_held_message')),
    sa.UniqueConstraint('facility', 'control_id', 'channel', name=op.f('uq_held_message_facility'))
    )
    op.create_index('ix_held_message_status', 'held_message', ['status'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_held_message_status', table_name='held_message')
    op.drop_table('held_message')
