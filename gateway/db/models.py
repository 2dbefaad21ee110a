"""Tables for FHIR resources, their version history and their search indexes.

A resource's current JSON is stored exactly as served (with ``meta.versionId`` and
``meta.lastUpdated`` filled in), so a read returns the stored text without re-parsing it.
Search values live in one table per search parameter type; a search never scans JSON.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# BIGINT on PostgreSQL; SQLite only auto-increments a column declared INTEGER PRIMARY KEY.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class ResourceRow(Base):
    """The current version of one resource (deleted resources keep their row, marked deleted)."""

    __tablename__ = "resource"
    __table_args__ = (
        UniqueConstraint("resource_type", "id", name="uq_resource_type_id"),
        Index("ix_resource_type_last_updated", "resource_type", "last_updated"),
    )

    pk: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    resource_type: Mapped[str] = mapped_column(String(64))
    id: Mapped[str] = mapped_column(String(64))
    version_id: Mapped[int] = mapped_column(Integer)
    last_updated: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    content: Mapped[str | None] = mapped_column(Text, nullable=True)


class ResourceVersionRow(Base):
    """Every version of every resource, for vread and history."""

    __tablename__ = "resource_version"
    __table_args__ = (
        Index("ix_resource_version_type_last_updated", "resource_type", "last_updated"),
        Index("ix_resource_version_last_updated", "last_updated"),
    )

    resource_pk: Mapped[int] = mapped_column(
        BigIntPK, ForeignKey("resource.pk", ondelete="CASCADE"), primary_key=True
    )
    version_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resource_type: Mapped[str] = mapped_column(String(64))
    id: Mapped[str] = mapped_column(String(64))
    last_updated: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    method: Mapped[str] = mapped_column(String(8))  # POST, PUT or DELETE
    content: Mapped[str | None] = mapped_column(Text, nullable=True)


def _resource_fk() -> Mapped[int]:
    return mapped_column(BigIntPK, ForeignKey("resource.pk", ondelete="CASCADE"), index=True)


class TokenIndex(Base):
    """token parameters: ``system|code`` from Coding, CodeableConcept, Identifier, code, ..."""

    __tablename__ = "search_token"
    __table_args__ = (Index("ix_search_token_lookup", "resource_type", "param", "code", "system"),)

    row_id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    resource_pk: Mapped[int] = _resource_fk()
    resource_type: Mapped[str] = mapped_column(String(64))
    param: Mapped[str] = mapped_column(String(64))
    system: Mapped[str | None] = mapped_column(String(255), nullable=True)
    code: Mapped[str | None] = mapped_column(String(255), nullable=True)


class StringIndex(Base):
    """string parameters: ``normalized`` is lower-cased without accents, for starts-with."""

    __tablename__ = "search_string"
    __table_args__ = (
        Index("ix_search_string_lookup", "resource_type", "param", "normalized",
              postgresql_ops={"normalized": "text_pattern_ops"}),
    )

    row_id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    resource_pk: Mapped[int] = _resource_fk()
    resource_type: Mapped[str] = mapped_column(String(64))
    param: Mapped[str] = mapped_column(String(64))
    normalized: Mapped[str] = mapped_column(String(512))
    exact: Mapped[str] = mapped_column(String(512))


class ReferenceIndex(Base):
    """reference parameters: local targets by type and id, anything else by its URL."""

    __tablename__ = "search_reference"
    __table_args__ = (
        Index("ix_search_reference_lookup", "resource_type", "param", "target_type", "target_id"),
        Index("ix_search_reference_target", "target_type", "target_id"),
    )

    row_id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    resource_pk: Mapped[int] = _resource_fk()
    resource_type: Mapped[str] = mapped_column(String(64))
    param: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str | None] = mapped_column(String(64), nullable=True)
    target_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    url: Mapped[str | None] = mapped_column(String(1024), nullable=True)


class DateIndex(Base):
    """date parameters as the instant range [low, high] the value covers (UTC)."""

    __tablename__ = "search_date"
    __table_args__ = (
        Index("ix_search_date_low", "resource_type", "param", "low"),
        Index("ix_search_date_high", "resource_type", "param", "high"),
    )

    row_id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    resource_pk: Mapped[int] = _resource_fk()
    resource_type: Mapped[str] = mapped_column(String(64))
    param: Mapped[str] = mapped_column(String(64))
    low: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    high: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class UriIndex(Base):
    """uri parameters (``url``, ``_profile``, ...)."""

    __tablename__ = "search_uri"
    __table_args__ = (Index("ix_search_uri_lookup", "resource_type", "param", "value"),)

    row_id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    resource_pk: Mapped[int] = _resource_fk()
    resource_type: Mapped[str] = mapped_column(String(64))
    param: Mapped[str] = mapped_column(String(64))
    value: Mapped[str] = mapped_column(String(1024))


INDEX_TABLES = (TokenIndex, StringIndex, ReferenceIndex, DateIndex, UriIndex)


class JournalRow(Base):
    """An entry of an append-only type (AuditEvent): written once, never changed, versioned or
    deleted, so it needs no version copy and no deleted flag (gateway/fhir/journal.py). Its
    JSON is stored exactly as served, with ``meta.versionId`` 1 and ``meta.lastUpdated``."""

    __tablename__ = "journal"
    __table_args__ = (
        UniqueConstraint("resource_type", "id", name="uq_journal_resource_type"),
        Index("ix_journal_type_last_updated", "resource_type", "last_updated"),
    )

    pk: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    resource_type: Mapped[str] = mapped_column(String(64))
    id: Mapped[str] = mapped_column(String(64))
    last_updated: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    content: Mapped[str] = mapped_column(Text)

    # What a StoredResource reads of a row: an entry is its first and only version, created.
    version_id = 1
    method = "POST"


def _journal_fk() -> Mapped[int]:
    return mapped_column(BigIntPK, ForeignKey("journal.pk", ondelete="CASCADE"), index=True)


class JournalTokenIndex(Base):
    """token values of journal entries (columns as ``search_token``)."""

    __tablename__ = "journal_token"
    __table_args__ = (Index("ix_journal_token_lookup", "resource_type", "param", "code",
                            "system"),)

    row_id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    resource_pk: Mapped[int] = _journal_fk()
    resource_type: Mapped[str] = mapped_column(String(64))
    param: Mapped[str] = mapped_column(String(64))
    system: Mapped[str | None] = mapped_column(String(255), nullable=True)
    code: Mapped[str | None] = mapped_column(String(255), nullable=True)


class JournalStringIndex(Base):
    """string values of journal entries (columns as ``search_string``)."""

    __tablename__ = "journal_string"
    __table_args__ = (
        Index("ix_journal_string_lookup", "resource_type", "param", "normalized",
              postgresql_ops={"normalized": "text_pattern_ops"}),
    )

    row_id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    resource_pk: Mapped[int] = _journal_fk()
    resource_type: Mapped[str] = mapped_column(String(64))
    param: Mapped[str] = mapped_column(String(64))
    normalized: Mapped[str] = mapped_column(String(512))
    exact: Mapped[str] = mapped_column(String(512))


class JournalReferenceIndex(Base):
    """reference values of journal entries (columns as ``search_reference``)."""

    __tablename__ = "journal_reference"
    __table_args__ = (
        Index("ix_journal_reference_lookup", "resource_type", "param", "target_type",
              "target_id"),
    )

    row_id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    resource_pk: Mapped[int] = _journal_fk()
    resource_type: Mapped[str] = mapped_column(String(64))
    param: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str | None] = mapped_column(String(64), nullable=True)
    target_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    url: Mapped[str | None] = mapped_column(String(1024), nullable=True)


class JournalDateIndex(Base):
    """date values of journal entries (columns as ``search_date``)."""

    __tablename__ = "journal_date"
    __table_args__ = (
        Index("ix_journal_date_low", "resource_type", "param", "low"),
        Index("ix_journal_date_high", "resource_type", "param", "high"),
    )

    row_id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    resource_pk: Mapped[int] = _journal_fk()
    resource_type: Mapped[str] = mapped_column(String(64))
    param: Mapped[str] = mapped_column(String(64))
    low: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    high: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# The journal's index table for each general one (no uri parameter is indexed for a journal
# type: search/registry.py, OFFERED_ONLY).
JOURNAL_INDEX = {TokenIndex: JournalTokenIndex, StringIndex: JournalStringIndex,
                 ReferenceIndex: JournalReferenceIndex, DateIndex: JournalDateIndex}
JOURNAL_INDEX_TABLES = tuple(JOURNAL_INDEX.values())


class LocalRecordRow(Base):
    """The last accepted version of each local case-management record.

    Kept so that unchanged records are recognised by their hash, and so that resources built
    from several records (a consumer's CareTeam from all their assignments) can be rebuilt when
    one of those records changes.
    """

    __tablename__ = "local_record"
    __table_args__ = (
        UniqueConstraint("record_type", "local_id", name="uq_local_record_type_id"),
        Index("ix_local_record_consumer", "consumer_id", "record_type"),
    )

    pk: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    record_type: Mapped[str] = mapped_column(String(32))
    local_id: Mapped[str] = mapped_column(String(64))
    consumer_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    content: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[str] = mapped_column(String(40))  # the record's own updated_at, as sent
    imported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class PollWatermarkRow(Base):
    """How far a polling source has been read: the highest updated-at seen per record type."""

    __tablename__ = "poll_watermark"

    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    record_type: Mapped[str] = mapped_column(String(32), primary_key=True)
    watermark: Mapped[str] = mapped_column(String(64))
    polled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ChangeCounterRow(Base):
    """A counter that database triggers move on every change of a kind of row (migration 0005):
    ``Consent`` counts changes to Consents' version history, for the grants cache."""

    __tablename__ = "change_counter"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


class PartnerRow(Base):
    """An organization the gateway exchanges data with (see gateway/partners/registry.py).

    The structured parts (endpoints, keys, allowed purposes and types) are JSON text: they are
    read whole with their partner and never searched.
    """

    __tablename__ = "partner"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    organization: Mapped[str] = mapped_column(String(64))  # its FHIR Organization id
    client_id: Mapped[str] = mapped_column(String(200), unique=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    details: Mapped[str] = mapped_column(Text)  # the rest of the partner, as JSON
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ClientAssertionRow(Base):
    """A SMART client assertion's ``jti``, kept until the assertion expires: a replay is a
    second insert of the same key, refused by the database whichever worker receives it."""

    __tablename__ = "client_assertion"

    client_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    jti: Mapped[str] = mapped_column(String(200), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class AccessTokenRow(Base):
    """An access token issued to a partner; only its SHA-256 is stored."""

    __tablename__ = "access_token"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partner.id"), index=True)
    scopes: Mapped[str] = mapped_column(Text)  # space-separated, as granted
    purpose: Mapped[str] = mapped_column(String(32))  # v3 ActReason code
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class AuditBatchRow(Base):
    """One step of the hash chain over the AuditEvents: the events one transaction committed
    (see gateway/audit/chain.py).

    ``batch_hash`` covers the previous step's hash and every event of the batch exactly as
    stored, in order, so changing, removing or slipping in an AuditEvent (or a step) breaks
    the chain from there on. ``event_ids`` lists the batch's events in order and
    ``event_hashes`` each one's own hash (space-separated), which tell verify which event
    changed; ``total`` counts the events of the chain up to and including this step (the
    count a checkpoint signs, read without summing the chain). ``previous_hash`` is unique:
    two steps can never follow the same one, so the chain cannot fork even if two writers
    raced past the lock.
    """

    __tablename__ = "audit_batch"

    seq: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    total: Mapped[int] = mapped_column(BigInteger)
    event_ids: Mapped[str] = mapped_column(Text)
    event_hashes: Mapped[str] = mapped_column(Text)
    previous_hash: Mapped[str] = mapped_column(String(64), unique=True)
    batch_hash: Mapped[str] = mapped_column(String(64))
    committed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class DeliveryRow(Base):
    """One delivery a partner is owed: the current state of one consumer's records that the
    partner's adapter sends (gateway/delivery/). Written in the transaction of the change that
    causes it (the transactional outbox); at most one per partner and consumer is pending, and
    later changes fold into it (``generation`` counts them)."""

    __tablename__ = "delivery"
    __table_args__ = (
        Index("uq_delivery_pending", "partner_id", "patient_id", unique=True,
              sqlite_where=text("status = 'pending'"),
              postgresql_where=text("status = 'pending'")),
        Index("ix_delivery_due", "status", "next_attempt_at"),
    )

    seq: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    partner_id: Mapped[str] = mapped_column(String(64), ForeignKey("partner.id"))
    patient_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # pending, sent, dead, withheld
    generation: Mapped[int] = mapped_column(Integer)
    cause: Mapped[str] = mapped_column(String(200))  # the last change: "CarePlan/abc"
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer)
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class InboundMessageRow(Base):
    """One message a partner sent (a FHIR notification message or an HL7 v2 ADT message), kept
    with the answer it got: the same message id from the same partner again gets the same
    answer and changes nothing (gateway/workflows/inbound_messages.py). Written in the
    transaction that takes the message in, so an accepted message and what it became are
    stored together or not at all."""

    __tablename__ = "inbound_message"
    __table_args__ = (UniqueConstraint("partner_id", "message_id"),)

    seq: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    partner_id: Mapped[str] = mapped_column(String(64), ForeignKey("partner.id"))
    message_id: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(16))  # fhir | hl7v2
    kind: Mapped[str] = mapped_column(String(16))  # discharge | admit | transfer | update
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str] = mapped_column(String(32))  # what became of it (workflow's words)
    patient_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    task_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    content: Mapped[str] = mapped_column(Text)  # the message as received (decoded text)
    response: Mapped[str] = mapped_column(Text)  # the answer given, JSON (see the workflow)


class MatchReviewRow(Base):
    """A hospital event whose person matched a consumer only uncertainly: an operator decides
    (link to a candidate, or take them in as a new consumer) before it becomes a referral."""

    __tablename__ = "match_review"
    __table_args__ = (Index("ix_match_review_status", "status"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    partner_id: Mapped[str] = mapped_column(String(64), ForeignKey("partner.id"))
    message_id: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))  # open | linked | created
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    event: Mapped[str] = mapped_column(Text)  # the AdtEvent, JSON
    candidates: Mapped[str] = mapped_column(Text)  # [{patient_id, score, grade, reasons}]
    resolved_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    patient_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    task_id: Mapped[str | None] = mapped_column(String(64), nullable=True)


class HeldMessageRow(Base):
    """An HL7 v2 message from a sender the gateway could not place (a sending facility no
    partner registers): answered AR as before, and kept here, whole, for an operator to replay
    once the facility is registered (gateway/workflows/held_messages.py). The same message
    sent again (a sender retrying after the AR) is the same row, counted."""

    __tablename__ = "held_message"
    __table_args__ = (UniqueConstraint("facility", "control_id", "channel"),
                      Index("ix_held_message_status", "status"))

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    times_received: Mapped[int] = mapped_column(Integer, default=1)
    facility: Mapped[str] = mapped_column(String(200))  # MSH-4.1 as sent
    message_type: Mapped[str] = mapped_column(String(32))  # e.g. ADT^A03
    control_id: Mapped[str] = mapped_column(String(200))  # MSH-10
    # How it came: "mllp:<peer address>" or "http:<partner id>" (the authenticated sender).
    channel: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)  # why it was not taken (the AR's text)
    content: Mapped[bytes] = mapped_column(LargeBinary)  # the bytes as received
    status: Mapped[str] = mapped_column(String(16))  # held | replayed
    replayed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    replayed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    answer: Mapped[str | None] = mapped_column(Text, nullable=True)  # the replay's ACK code+text


class OperatorRow(Base):
    """A named person who signs in to the console (gateway/console/operators.py): a role, an
    argon2 password hash, and whether the account is disabled (it is never deleted: the audit
    trail names it)."""

    __tablename__ = "operator"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(32))  # intake | case-manager | privacy-officer | admin
    password_hash: Mapped[str] = mapped_column(String(255))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    password_changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class OperatorSessionRow(Base):
    """A signed-in console session, kept on the server so that every gunicorn worker knows it
    and so that disabling an operator or changing a password ends it at once. The cookie
    carries a random token; only its SHA-256 is stored."""

    __tablename__ = "operator_session"
    __table_args__ = (Index("ix_operator_session_operator_id", "operator_id"),)

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    operator_id: Mapped[int] = mapped_column(
        BigIntPK, ForeignKey("operator.id", ondelete="CASCADE"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SignInFailureRow(Base):
    """A failed console sign-in, counted per username and per address for throttling
    (gateway/console/sessions.py); rows older than the throttling window are removed."""

    __tablename__ = "sign_in_failure"
    __table_args__ = (Index("ix_sign_in_failure_username", "username"),
                      Index("ix_sign_in_failure_address", "address"))

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(64))
    failed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def over_long(table: type[Base], values: dict[str, object]) -> tuple[str, int] | None:
    """(the first name in ``values`` whose string is longer than its ``String(n)`` column in
    ``table``, n), or None. PostgreSQL refuses an over-long value at insert (SQLite stores
    it): writers of outside input check with this first and answer with a 4xx."""
    for name, value in values.items():
        length = getattr(table.__table__.c[name].type, "length", None)
        if isinstance(value, str) and length is not None and len(value) > length:
            return name, length
    return None
