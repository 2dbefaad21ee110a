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


def test_an_hl7_sender_is_onboarded_without_editing_json(app, config, tmp_path):
    public = tmp_path / "jwks.json"
    hospital = json.loads((PARTNERS_DIR / "hospital-stbrigid.json").read_text())
    public.write_text(json.dumps(hospital["jwks"]))
    added = run(config, "partners", "add", "--id", "mercy", "--type", "hospital",
                "--name", "Mercy Hospital", "--organization", "org-mercy",
                "--hl7-facility", "MERCY", "--mllp-source", "10.20.0.0/16",
                "--mllp-source", "127.0.0.1", "--hl7-timezone", "America/Detroit",
                "--identifier-system", "urn:oid:2.16.840.1.113883.3.999.1",
                "--jwks", str(public), "--submits", "Task", "--submits", "ServiceRequest",
                "--submits", "MessageHeader")
    assert added.exit_code == 0, added.output
    shown = json.loads(run(config, "partners", "show", "mercy").stdout)
    assert shown["endpoints"] == {"hl7_facility": "MERCY",
                                  "mllp_sources": "10.20.0.0/16,127.0.0.1",
                                  "hl7_timezone": "America/Detroit"}
    assert shown["patient_identifier_systems"] == ["urn:oid:2.16.840.1.113883.3.999.1"]
    assert shown["jwks"] == hospital["jwks"]
    assert shown["submits"] == ["Task", "ServiceRequest", "MessageHeader"]

    updated = run(config, "partners", "update", "mercy", "--hl7-facility", "MERCY-MAIN",
                  "--mllp-source", "192.0.2.0/24")
    assert updated.exit_code == 0, updated.output
    shown = json.loads(run(config, "partners", "show", "mercy").stdout)
    assert shown["endpoints"]["hl7_facility"] == "MERCY-MAIN"
    assert shown["endpoints"]["mllp_sources"] == "192.0.2.0/24"
    assert shown["endpoints"]["hl7_timezone"] == "America/Detroit"  # untouched
    assert shown["name"] == "Mercy Hospital"


def test_bad_onboarding_options_are_one_line_errors(app, config, tmp_path):
    base = ["partners", "add", "--id", "h2", "--type", "hospital", "--name", "H2",
            "--organization", "org-h2"]
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps({"keys": [json.loads(
        (PARTNERS_DIR / "hospital-stbrigid.private.jwk.json").read_text())]}))
    for extra, words in ((["--mllp-source", "10.0.0.0/33"], "not an address or CIDR"),
                         (["--hl7-timezone", "Mars/Olympus"], "not an IANA time zone"),
                         (["--submits", "Spaceship"], "not a resource type"),
                         (["--jwks", str(secret)], "private key material")):
        refused = run(config, *base, *extra)
        assert refused.exit_code == 1, (extra, refused.output)
        assert words in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    assert run(config, "partners", "show", "h2").exit_code == 1  # nothing was stored
    missing = run(config, "partners", "update", "nobody", "--hl7-facility", "X")
    assert missing.exit_code == 1 and "no partner 'nobody'" in missing.stderr
    nothing = run(config, "partners", "update", "nobody")
    assert nothing.exit_code == 2
