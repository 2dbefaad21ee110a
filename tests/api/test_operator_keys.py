"""Operator keys: at least 32 characters (refused at start-up otherwise), and wrong bearer
tokens throttled per source address (429 with Retry-After, an OperationOutcome), found by the
security review: 900 wrong keys in a row were answered 401 at full speed."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from gateway.app import create_app
from gateway.auth import FailureThrottle
from gateway.cli import cli
from gateway.config import ConfigError, check_config, config_from_env
from gateway.fhir.errors import FhirError
from tests.conftest import OPERATOR_KEY


def _wrong(client, source: str = "192.0.2.7"):
    return client.get("/fhir/Patient", headers={"Authorization": "Bearer not-the-key"},
                      environ_base={"REMOTE_ADDR": source})


def _right(client, source: str = "192.0.2.7"):
    return client.get("/fhir/Patient", headers={"Authorization": f"Bearer {OPERATOR_KEY}"},
                      environ_base={"REMOTE_ADDR": source})


def test_wrong_keys_from_one_source_are_throttled(app, client):
    limit = app.extensions["gateway"].config.auth_max_failures
    for _ in range(limit):
        assert _wrong(client).status_code == 401
    throttled = _wrong(client)
    assert throttled.status_code == 429
    assert throttled.get_json()["resourceType"] == "OperationOutcome"
    assert throttled.get_json()["issue"][0]["code"] == "throttled"
    assert 1 <= int(throttled.headers["Retry-After"]) <= 60
    # While throttled the token is not looked at, or guesses could go on unhindered.
    assert _right(client).status_code == 429
    # Other sources are not affected; nor is a caller without a token counted.
    assert _right(client, "192.0.2.8").status_code == 200
    assert _wrong(client, "192.0.2.8").status_code == 401


def test_successful_requests_count_nothing(app, client):
    limit = app.extensions["gateway"].config.auth_max_failures
    for _ in range(limit * 2):
        assert _right(client).status_code == 200
    for _ in range(limit - 1):
        assert _wrong(client).status_code == 401
    assert _right(client).status_code == 200


def test_the_throttle_lets_a_source_try_again_after_the_window():
    now = [1000.0]
    throttle = FailureThrottle(3, 60.0, clock=lambda: now[0])
    for _ in range(3):
        throttle.check("a")
        throttle.failed("a")
    with pytest.raises(FhirError) as raised:
        throttle.check("a")
    assert raised.value.status == 429
    assert raised.value.headers["Retry-After"] == "60"
    now[0] += 30
    with pytest.raises(FhirError):
        throttle.check("a")
    now[0] += 31
    throttle.check("a")  # the failures have left the window


def test_the_throttle_remembers_a_bounded_number_of_sources():
    throttle = FailureThrottle(1, 60.0, max_sources=100)
    for number in range(1000):
        throttle.failed(f"10.0.{number // 256}.{number % 256}")
    assert len(throttle._failures) == 100


@pytest.mark.parametrize("keys", ["short", f"{'x' * 40},{'y' * 31}"])
def test_short_operator_keys_are_refused_at_start_up(keys, tmp_path):
    config = config_from_env({"GATEWAY_OPERATOR_KEYS": keys,
                              "GATEWAY_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"})
    with pytest.raises(ConfigError, match="at least 32"):
        check_config(config)
    with pytest.raises(ConfigError):
        create_app(config)
    for command in (["serve", "--port", "18998"], ["demo", "--port", "18997",
                                                   "--db", str(tmp_path / "demo.db")]):
        result = CliRunner().invoke(cli, command, env={
            "GATEWAY_OPERATOR_KEYS": keys, "GATEWAY_VAR_DIR": str(tmp_path),
            "GATEWAY_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"})
        assert result.exit_code == 1, result.output
        assert result.stderr.strip().count("\n") == 0
        assert "at least 32 are required" in result.stderr
    assert not (tmp_path / "demo.db").exists()


def test_a_32_character_key_is_accepted():
    check_config(config_from_env({"GATEWAY_OPERATOR_KEYS": "k" * 32}))
