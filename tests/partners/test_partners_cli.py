"""gateway partners list|show|add|disable|enable."""
from __future__ import annotations

import json

from click.testing import CliRunner

from gateway.cli import cli

from .conftest import PARTNERS_DIR


def run(config, *args):
    return CliRunner().invoke(cli, list(args), env={"GATEWAY_DATABASE_URL": config.database_url})


def test_add_list_show_disable(app, config):
    files = sorted(str(p) for p in PARTNERS_DIR.glob("*.json") if ".private." not in p.name)
    added = run(config, "partners", "add", *files)
    assert added.exit_code == 0, added.output
    assert added.stdout.count("added ") == 4
    again = run(config, "partners", "add", files[0])
    assert again.stdout.startswith("replaced ")

    listing = run(config, "partners", "list").stdout.splitlines()
    assert [line.split("\t")[:3] for line in listing] == [
        ["court-probate", "court", "enabled"], ["hospital-stbrigid", "hospital", "enabled"],
        ["pcp-cedar", "physical-health", "enabled"], ["school-walnut", "school", "enabled"]]

    shown = json.loads(run(config, "partners", "show", "pcp-cedar").stdout)
    expected = json.loads((PARTNERS_DIR / "pcp-cedar.json").read_text())
    assert shown["organization"] == expected["organization"]
    assert shown == expected

    assert run(config, "partners", "disable", "pcp-cedar").exit_code == 0
    assert "disabled" in run(config, "partners", "list").stdout.splitlines()[2]
    assert run(config, "partners", "enable", "pcp-cedar").exit_code == 0


def test_errors_are_one_line(app, config, tmp_path):
    missing = run(config, "partners", "show", "nobody")
    assert missing.exit_code == 1
    assert missing.stderr.strip() == "gateway: error: no partner 'nobody'"

    private = tmp_path / "leaky.json"
    partner = json.loads((PARTNERS_DIR / "school-walnut.json").read_text())
    secret = json.loads((PARTNERS_DIR / "school-walnut.private.jwk.json").read_text())
    private.write_text(json.dumps({**partner, "jwks": {"keys": [secret]}}))
    refused = run(config, "partners", "add", str(private))
    assert refused.exit_code == 1
    assert "private key material" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1

    bad_kind = tmp_path / "bad.json"
    bad_kind.write_text(json.dumps({**partner, "type": "bank"}))
    assert "type: must be one of" in run(config, "partners", "add", str(bad_kind)).stderr

    taken = tmp_path / "taken.json"
    run(config, "partners", "add", str(PARTNERS_DIR / "school-walnut.json"))
    taken.write_text(json.dumps({**partner, "id": "other-school"}))
    clash = run(config, "partners", "add", str(taken))
    assert clash.exit_code == 1 and "already partner 'school-walnut'" in clash.stderr
