"""consent change counter

The grants cache (gateway/privacy/enforcement.py) must notice any change to any Consent, made
by any worker or import, at the next request. A database trigger keeps one counter moving with
every change to a Consent's version history, so no code path that writes Consents (the
repository, the bulk import, PostgreSQL COPY) can forget it, and reading it is one primary-key
lookup. On PostgreSQL the trigger is a deferred constraint trigger: the counter row is locked
only at commit, after every other lock the transaction takes, so it cannot join a deadlock.

Revision ID: 0005
Revises: 0004
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

# An upsert, so that the counter comes back if its row is ever deleted.
COUNT_CHANGE = ("INSERT INTO change_counter (name, value) VALUES ('Consent', 1) "
                "ON CONFLICT (name) DO UPDATE SET value = change_counter.value + 1")

_SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER consent_version_inserted AFTER INSERT ON resource_version
       WHEN NEW.resource_type = 'Consent'
       BEGIN {COUNT_CHANGE}; END""",
    f"""CREATE TRIGGER consent_version_updated AFTER UPDATE ON resource_version
       WHEN OLD.resource_type = 'Consent' OR NEW.resource_type = 'Consent'
       BEGIN {COUNT_CHANGE}; END""",
    f"""CREATE TRIGGER consent_version_deleted AFTER DELETE ON resource_version
       WHEN OLD.resource_type = 'Consent'
       BEGIN {COUNT_CHANGE}; END""",
]

_POSTGRES_TRIGGERS = [
    f"""CREATE FUNCTION count_consent_change() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
           {COUNT_CHANGE};
           RETURN NULL;
       END $$""",
    """CREATE CONSTRAINT TRIGGER consent_version_inserted AFTER INSERT ON resource_version
       DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
       WHEN (NEW.resource_type = 'Consent') EXECUTE FUNCTION count_consent_change()""",
    """CREATE CONSTRAINT TRIGGER consent_version_updated AFTER UPDATE ON resource_version
       DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
       WHEN (OLD.resource_type = 'Consent' OR NEW.resource_type = 'Consent')
       EXECUTE FUNCTION count_consent_change()""",
    """CREATE CONSTRAINT TRIGGER consent_version_deleted AFTER DELETE ON resource_version
       DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
       WHEN (OLD.resource_type = 'Consent') EXECUTE FUNCTION count_consent_change()""",
]


def upgrade() -> None:
    op.create_table('change_counter',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_change_counter'))
    )
    op.execute("INSERT INTO change_counter (name, value) SELECT 'Consent', count(*) "
               "FROM resource_version WHERE resource_type = 'Consent'")
    statements = _POSTGRES_TRIGGERS if op.get_bind().dialect.name == "postgresql" \
        else _SQLITE_TRIGGERS
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    for name in ("consent_version_inserted", "consent_version_updated",
                 "consent_version_deleted"):
        if op.get_bind().dialect.name == "postgresql":
            op.execute(f"DROP TRIGGER {name} ON resource_version")
        else:
            op.execute(f"DROP TRIGGER {name}")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION count_consent_change()")
    op.drop_table('change_counter')
