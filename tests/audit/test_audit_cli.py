"""gateway audit verify: exit 0 with a count, or exit 1 with the first broken entry."""
from __future__ import annotations

from click.testing import CliRunner, Result
from sqlalchemy import text

from gateway.cli import cli
from gateway.config import Config

from .builders import chain_seqs, operator_disclosure, partner_disclosure, record_events


def run(config: Config, *args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env={"GATEWAY_DATABASE_URL": config.database_url})


def test_an_intact_chain(app, config):
    assert run(config, "audit", "verify").stdout == "audit chain intact: 0 entries\n"
    record_events(app.extensions["gateway"], [partner_disclosure(), operator_disclosure(),
                                              partner_disclosure(outcome="deny")])
    verified = run(config, "audit", "verify")
    assert verified.exit_code == 0, verified.output
    assert verified.stdout == "audit chain intact: 3 entries\n"


def test_a_broken_chain_is_one_line_and_exit_1(app, config):
    state = app.extensions["gateway"]
    ids = record_events(state, [partner_disclosure(), operator_disclosure(),
                                partner_disclosure(outcome="deny")])
    with state.engine.begin() as connection:
        connection.execute(text("UPDATE journal SET content = replace(content, :a, :b) "
                                "WHERE id = :id"),
                           {"a": '"outcome":"0"', "b": '"outcome":"4"', "id": ids[1]})
    broken = run(config, "audit", "verify")
    assert broken.exit_code == 1
    assert broken.stdout == ""
    assert broken.stderr == (
        f"gateway: error: audit chain broken at entry {chain_seqs(state)[ids[1]]} "
        f"(AuditEvent/{ids[1]}): the AuditEvent or its entry hash was changed after it was "
        f"recorded\n")


def test_an_unmigrated_database_is_refused(tmp_path):
    config_url = f"sqlite:///{tmp_path / 'empty.db'}"
    result = CliRunner().invoke(cli, ["audit", "verify"], env={"GATEWAY_DATABASE_URL": config_url})
    assert result.exit_code == 1
    assert result.stderr.startswith("gateway: error: database ")
    assert "run 'gateway db upgrade'" in result.stderr
