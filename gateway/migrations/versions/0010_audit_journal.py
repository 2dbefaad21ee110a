"""the audit journal: AuditEvents in their own tables, the hash chain one step per batch

Revision ID: 0010
Revises: 0009

Moves every stored AuditEvent out of the general resource tables (``resource``, its version
copy and its search index rows) into ``journal`` and the journal's index tables, each event's
JSON and index rows copied as they are, and turns each link of ``audit_chain`` into a step of
``audit_batch`` holding that one event. A one-event step has the hash the link had
(gateway/audit/chain.py), so the chain, its count and its head are unchanged and the
checkpoints signed before still hold. Nothing is recomputed but each event's own hash (which
only tells verify which event of a step changed); what ``gateway audit verify`` found before
the migration it still finds after it. There is no downgrade: restore the backup taken
before the upgrade.
"""
from __future__ import annotations

import hashlib
import json

import sqlalchemy as sa
from alembic import op

from gateway.fhir import json_text

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

_BIGINT = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
# (general index table, journal index table, its value columns)
_INDEXES = (
    ("search_token", "journal_token", ("system", "code")),
    ("search_string", "journal_string", ("normalized", "exact")),
    ("search_reference", "journal_reference", ("target_type", "target_id", "url")),
    ("search_date", "journal_date", ("low", "high")),
)
_CHUNK = 500


def _index_table(name: str, *columns: sa.Column) -> None:
    op.create_table(
        name,
        sa.Column('row_id', _BIGINT, autoincrement=True, nullable=False),
        sa.Column('resource_pk', _BIGINT, nullable=False),
        sa.Column('resource_type', sa.String(length=64), nullable=False),
        sa.Column('param', sa.String(length=64), nullable=False),
        *columns,
        sa.ForeignKeyConstraint(['resource_pk'], ['journal.pk'],
                                name=op.f(f'fk_{name}_resource_pk_journal'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('row_id', name=op.f(f'pk_{name}')),
    )
    with op.batch_alter_table(name) as batch:
        batch.create_index(batch.f(f'ix_{name}_resource_pk'), ['resource_pk'], unique=False)


def upgrade() -> None:
    op.create_table(
        'journal',
        sa.Column('pk', _BIGINT, autoincrement=True, nullable=False),
        sa.Column('resource_type', sa.String(length=64), nullable=False),
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('last_updated', sa.DateTime(timezone=True), nullable=False),
        sa.Column('content', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('pk', name=op.f('pk_journal')),
        sa.UniqueConstraint('resource_type', 'id', name='uq_journal_resource_type'),
    )
    op.create_index('ix_journal_type_last_updated', 'journal',
                    ['resource_type', 'last_updated'], unique=False)
    _index_table('journal_token', sa.Column('system', sa.String(length=255), nullable=True),
                 sa.Column('code', sa.String(length=255), nullable=True))
    op.create_index('ix_journal_token_lookup', 'journal_token',
                    ['resource_type', 'param', 'code', 'system'], unique=False)
    _index_table('journal_string', sa.Column('normalized', sa.String(length=512), nullable=False),
                 sa.Column('exact', sa.String(length=512), nullable=False))
    op.create_index('ix_journal_string_lookup', 'journal_string',
                    ['resource_type', 'param', 'normalized'], unique=False,
                    postgresql_ops={'normalized': 'text_pattern_ops'})
    _index_table('journal_reference',
                 sa.Column('target_type', sa.String(length=64), nullable=True),
                 sa.Column('target_id', sa.String(length=64), nullable=True),
                 sa.Column('url', sa.String(length=1024), nullable=True))
    op.create_index('ix_journal_reference_lookup', 'journal_reference',
                    ['resource_type', 'param', 'target_type', 'target_id'], unique=False)
    _index_table('journal_date', sa.Column('low', sa.DateTime(timezone=True), nullable=False),
                 sa.Column('high', sa.DateTime(timezone=True), nullable=False))
    op.create_index('ix_journal_date_low', 'journal_date', ['resource_type', 'param', 'low'],
                    unique=False)
    op.create_index('ix_journal_date_high', 'journal_date', ['resource_type', 'param', 'high'],
                    unique=False)
    op.create_table(
        'audit_batch',
        sa.Column('seq', _BIGINT, autoincrement=True, nullable=False),
        sa.Column('total', sa.BigInteger(), nullable=False),
        sa.Column('event_ids', sa.Text(), nullable=False),
        sa.Column('event_hashes', sa.Text(), nullable=False),
        sa.Column('previous_hash', sa.String(length=64), nullable=False),
        sa.Column('batch_hash', sa.String(length=64), nullable=False),
        sa.Column('committed_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('seq', name=op.f('pk_audit_batch')),
        sa.UniqueConstraint('previous_hash', name=op.f('uq_audit_batch_previous_hash')),
    )
    _move_events_to_journal()
    _links_to_steps()
    op.drop_table('audit_chain')


def _move_events_to_journal() -> None:
    bind = op.get_bind()
    # Every AuditEvent, deleted or not (the repository never deleted one, but a row changed
    # behind its back is moved as it is, for verify to report).
    bind.execute(sa.text(
        "INSERT INTO journal (resource_type, id, last_updated, content) "
        "SELECT resource_type, id, last_updated, COALESCE(content, '') FROM resource "
        "WHERE resource_type = 'AuditEvent' ORDER BY pk"))
    for general, journal, columns in _INDEXES:
        names = ", ".join(columns)
        values = ", ".join(f"i.{c}" for c in columns)
        bind.execute(sa.text(
            f"INSERT INTO {journal} (resource_pk, resource_type, param, {names}) "
            f"SELECT j.pk, i.resource_type, i.param, {values} FROM {general} i "
            f"JOIN resource r ON r.pk = i.resource_pk "
            f"JOIN journal j ON j.resource_type = r.resource_type AND j.id = r.id "
            f"WHERE r.resource_type = 'AuditEvent' ORDER BY i.row_id"))
    for general, _, _ in (*_INDEXES, ("search_uri", None, None)):
        bind.execute(sa.text(
            f"DELETE FROM {general} WHERE resource_type = 'AuditEvent' OR resource_pk IN "
            f"(SELECT pk FROM resource WHERE resource_type = 'AuditEvent')"))
    bind.execute(sa.text("DELETE FROM resource_version WHERE resource_type = 'AuditEvent'"))
    bind.execute(sa.text("DELETE FROM resource WHERE resource_type = 'AuditEvent'"))


def _links_to_steps() -> None:
    bind = op.get_bind()
    after, total = 0, 0
    while True:
        links = bind.execute(sa.text(
            "SELECT c.seq, c.audit_event_id, c.recorded_at, c.previous_hash, c.entry_hash, "
            "j.content FROM audit_chain c LEFT JOIN journal j "
            "ON j.resource_type = 'AuditEvent' AND j.id = c.audit_event_id "
            "WHERE c.seq > :after ORDER BY c.seq LIMIT :chunk"),
            {"after": after, "chunk": _CHUNK}).all()
        if not links:
            return
        steps = []
        for link in links:
            total += 1
            steps.append({"total": total, "event_ids": link.audit_event_id,
                          "event_hashes": _event_hash(link.content),
                          "previous_hash": link.previous_hash, "batch_hash": link.entry_hash,
                          "committed_at": link.recorded_at})
        bind.execute(sa.text(
            "INSERT INTO audit_batch (total, event_ids, event_hashes, previous_hash, "
            "batch_hash, committed_at) VALUES (:total, :event_ids, :event_hashes, "
            ":previous_hash, :batch_hash, :committed_at)"), steps)  # seq in the chain's order
        after = links[-1].seq


def _event_hash(content: str | None) -> str:
    """The event's own hash as gateway/audit/chain.py computes it (canonical JSON); for a
    missing or unreadable event, one that no event has, so verify reports it."""
    try:
        event = json_text.loads_stored(content or "")
    except json.JSONDecodeError:
        return "0" * 64
    text = json_text.dumps(event, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def downgrade() -> None:
    raise NotImplementedError(
        "0010 moved the AuditEvents into the audit journal; moving them back is not supported "
        "(restore the backup taken before the upgrade)")
