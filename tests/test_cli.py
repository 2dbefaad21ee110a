"""The gateway command line, run as a user runs it."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway.cli import cli
from tests.api.builders import care_plan, patient

COMMANDS = [[], ["serve"], ["demo"], ["db"], ["db", "upgrade"], ["validate"], ["import"],
            ["poll"], ["workflows"], ["workflows", "run"], ["mllp"], ["referrals"],
            ["referrals", "list"], ["referrals", "flag-overdue"], ["matches"],
            ["matches", "list"], ["matches", "link"], ["matches", "new"], ["operators"],
            ["operators", "add"], ["operators", "list"], ["operators", "disable"],
            ["operators", "set-role"], ["operators", "reset-password"]]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command):
    result = CliRunner().invoke(cli, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output


def test_usage_errors_exit_2():
    result = CliRunner().invoke(cli, ["serve", "--port", "notaport"])
    assert result.exit_code == 2
    assert CliRunner().invoke(cli, ["nonsense"]).exit_code == 2


def test_validate_prints_an_outcome_per_file_and_fails_on_errors(tmp_path: Path):
    good, bad, broken = tmp_path / "good.json", tmp_path / "bad.json", tmp_path / "broken.json"
    good.write_text(json.dumps(patient()))
    plan = care_plan("p1", status="bogus")
    bad.write_text(json.dumps(plan))
    broken.write_text("{")
    ok = CliRunner().invoke(cli, ["validate", str(good)])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["resourceType"] == "OperationOutcome"
    result = CliRunner().invoke(cli, ["validate", str(good), str(bad), str(broken)])
    assert result.exit_code == 1
    assert "bad.json: 1 error(s)" in result.stderr
    assert "broken.json" in result.stderr
    assert '"CarePlan.status"' in result.stdout


def test_validate_accepts_the_demo_fixtures():
    fixtures = sorted(Path("fixtures/fhir").glob("*.json"))
    assert fixtures
    result = CliRunner().invoke(cli, ["validate", *map(str, fixtures)])
    assert result.exit_code == 0, result.output


def test_validate_missing_file_is_a_usage_error():
    result = CliRunner().invoke(cli, ["validate", "/no/such/file.json"])
    assert result.exit_code == 2


def test_db_upgrade_then_serve_checks(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    env = {"GATEWAY_DATABASE_URL": url}
    upgraded = CliRunner().invoke(cli, ["db", "upgrade"], env=env)
    assert upgraded.exit_code == 0, upgraded.output
    assert "database at migration" in upgraded.output
    # Running it again is harmless.
    assert CliRunner().invoke(cli, ["db", "upgrade"], env=env).exit_code == 0


def test_serve_refuses_an_unmigrated_database(tmp_path: Path):
    env = {"GATEWAY_DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}"}
    result = CliRunner().invoke(cli, ["serve", "--port", "18999"], env=env)
    assert result.exit_code == 1
    assert result.stderr.strip().count("\n") == 0  # one line
    assert "gateway db upgrade" in result.stderr


def test_console_script_is_installed():
    completed = subprocess.run([sys.executable, "-m", "gateway.cli", "--version"],
                               capture_output=True, text=True, check=False)
    assert completed.returncode == 0
    assert "version" in completed.stdout


def test_demo_database_loads_the_whole_agency(tmp_path: Path):
    from gateway.config import Config
    from gateway.demo import prepare_demo

    db = tmp_path / "demo.db"
    config = Config(database_url=f"sqlite:///{db}", operator_keys=("k" * 32,),
                    var_dir=tmp_path / "var")
    summary = prepare_demo(config, db)
    assert ", 0 rejected;" in summary
    assert int(summary.split()[2]) >= 400  # local records accepted
    assert summary.endswith("partners: court-probate, hospital-stbrigid, pcp-cedar, school-walnut")
