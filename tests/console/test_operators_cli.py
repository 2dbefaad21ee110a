"""``gateway operators ...``: add, list, disable, set-role, reset-password."""
from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select

from gateway.cli import cli
from gateway.console.operators import OperatorStore
from gateway.db.engine import make_engine, make_session_factory
from gateway.db.models import OperatorRow

PASSWORD = "a long enough password"


def test_operators_are_added_listed_changed_and_disabled(database_url: str, tmp_path: Path):
    env = {"GATEWAY_DATABASE_URL": database_url}
    runner = CliRunner()
    engine = make_engine(database_url)
    with engine.begin() as connection:
        connection.execute(OperatorRow.__table__.delete())
    added = runner.invoke(cli, ["operators", "add", "maria", "--role", "case-manager"],
                          input=PASSWORD + "\n", env=env)
    assert added.exit_code == 0, added.output
    secret = tmp_path / "password"
    secret.write_text("another long password\n")
    assert runner.invoke(cli, ["operators", "add", "olu", "--role", "admin",
                               "--password-file", str(secret)], env=env).exit_code == 0
    again = runner.invoke(cli, ["operators", "add", "maria", "--role", "intake"],
                          input=PASSWORD + "\n", env=env)
    assert again.exit_code == 1 and "exists already" in again.output
    short = runner.invoke(cli, ["operators", "add", "kim", "--role", "intake"], input="short\n",
                          env=env)
    assert short.exit_code == 1 and "at least 12" in short.output
    bad_role = runner.invoke(cli, ["operators", "add", "kim", "--role", "boss"],
                             input=PASSWORD + "\n", env=env)
    assert bad_role.exit_code == 2
    assert runner.invoke(cli, ["operators", "set-role", "maria", "intake"],
                         env=env).exit_code == 0
    assert runner.invoke(cli, ["operators", "reset-password", "maria"],
                         input="a brand new password\n", env=env).exit_code == 0
    assert runner.invoke(cli, ["operators", "disable", "olu"], env=env).exit_code == 0
    missing = runner.invoke(cli, ["operators", "disable", "nobody"], env=env)
    assert missing.exit_code == 1 and "no operator 'nobody'" in missing.output
    listed = runner.invoke(cli, ["operators", "list"], env=env).output.splitlines()
    assert [line.split("\t")[:3] for line in listed] == [["maria", "intake", "enabled"],
                                                         ["olu", "admin", "disabled"]]
    with make_session_factory(engine)() as session:
        store = OperatorStore(session)
        assert store.authenticate("maria", "a brand new password") is not None
        assert store.authenticate("maria", PASSWORD) is None
        assert all(h.startswith("$argon2id$")
                   for h in session.scalars(select(OperatorRow.password_hash)))
    engine.dispose()
