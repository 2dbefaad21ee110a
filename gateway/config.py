"""Configuration: the one place that reads the environment.

Every entry point (``serve``, ``demo``, ``import``, ``deliver``, the tests) builds a ``Config``
and hands it to ``create_app``; nothing else looks at ``os.environ``.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# An operator key is a bearer secret with full access: at least this many characters (a
# `secrets.token_urlsafe(24)`, what `gateway demo` generates, has 32), so guessing one is
# hopeless even before failures are throttled.
MIN_OPERATOR_KEY_LENGTH = 32
DEFAULT_DATABASE_URL = f"sqlite:///{PROJECT_ROOT / 'var' / 'gateway.db'}"


@dataclass(frozen=True)
class Config:
    database_url: str = DEFAULT_DATABASE_URL
    base_url: str = "http://127.0.0.1:8080"
    operator_keys: tuple[str, ...] = ()
    max_body_bytes: int = 5 * 1024 * 1024
    # The largest HL7 v2 message taken, over MLLP and over HTTP (POST /hl7v2) alike.
    hl7_max_message_bytes: int = 1 << 20
    default_page_size: int = 50
    max_page_size: int = 1000
    profiles_dir: Path = PROJECT_ROOT / "profiles"
    fixtures_dir: Path = PROJECT_ROOT / "fixtures"
    var_dir: Path = PROJECT_ROOT / "var"
    # Off only for the tests' and demo's throwaway databases, which the app migrates itself.
    require_migrated_database: bool = True
    prometheus_multiproc_dir: str | None = None
    # The local id of the agency's own organization record; found among the imported
    # organization records (kind "agency") when not set.
    agency_organization: str | None = None
    terminology_dir: Path = PROJECT_ROOT / "profiles" / "terminology"
    # The gateway's own private JWK, for SMART Backend Services client authentication to
    # partners whose outbound_auth method is "smart".
    client_key_file: Path | None = None
    # Delivery (gateway deliver): attempts before a delivery is a dead letter; the first
    # backoff window (it doubles per attempt); how long a claim is a worker's own; the read
    # timeout of a send; how long a partner that keeps failing is left alone; how often an
    # idle worker looks for due deliveries.
    delivery_max_attempts: int = 10
    delivery_backoff_seconds: float = 2.0
    delivery_lease_seconds: float = 120.0
    delivery_timeout_seconds: float = 30.0
    delivery_breaker_cooldown_seconds: float = 5.0
    delivery_poll_seconds: float = 1.0
    # Referral intake for the local case-management system (gateway/adapters/intake.py):
    # the folder its intake records are written to (default: var/local-outbox/intake) and/or
    # a webhook they are posted to.
    intake_folder: Path | None = None
    intake_webhook: str | None = None
    # Who may connect to ``gateway mllp`` (CIDRs); empty: the hospital partners' mllp_sources.
    mllp_allowed_sources: tuple[str, ...] = ()
    # Audit checkpoints (gateway/audit/checkpoint.py): the Ed25519 private key that signs the
    # chain head (a PEM file the database never holds), the public key verify checks with
    # (default: derived from the private key), where checkpoints go (file paths,
    # syslog://host:port, syslog+tcp://host:port, syslog:///dev/log, http(s) URLs) and how
    # often ``gateway serve`` writes one (seconds; 0: only on demand).
    audit_checkpoint_key: Path | None = None
    audit_checkpoint_public_key: Path | None = None
    audit_checkpoint_targets: tuple[str, ...] = ()
    audit_checkpoint_interval: float = 0.0
    # The agency's IANA time zone: the console shows dates and times in it and counts days
    # ("due in 3 days") by its calendar.
    agency_timezone: str = "UTC"
    # Wrong bearer tokens from one source address: after this many within the window, its
    # requests are answered 429 until the oldest failure leaves the window (gateway/auth.py).
    auth_max_failures: int = 20
    auth_failure_window_seconds: float = 60.0
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def fhir_base_url(self) -> str:
        return self.base_url.rstrip("/") + "/fhir"

    def with_overrides(self, **changes: object) -> Config:
        return replace(self, **changes)  # type: ignore[arg-type]


class ConfigError(ValueError):
    """A configuration the gateway refuses to start with (one line, for the command line)."""


def check_config(config: Config) -> None:
    """A ConfigError for a configuration no entry point may run with."""
    for index, key in enumerate(config.operator_keys, start=1):
        if len(key) < MIN_OPERATOR_KEY_LENGTH:
            raise ConfigError(
                f"GATEWAY_OPERATOR_KEYS: operator key {index} has {len(key)} characters; at "
                f"least {MIN_OPERATOR_KEY_LENGTH} are required (for example: python3 -c "
                f"'import secrets; print(secrets.token_urlsafe(32))')")
    if config.auth_max_failures < 1 or config.auth_failure_window_seconds <= 0:
        raise ConfigError("GATEWAY_AUTH_MAX_FAILURES and GATEWAY_AUTH_FAILURE_WINDOW_SECONDS "
                          "must be positive")


def _keys(raw: str | None) -> tuple[str, ...]:
    return tuple(key.strip() for key in (raw or "").split(",") if key.strip())


def _path(raw: str | None) -> Path | None:
    return Path(raw).expanduser() if raw and raw.strip() else None


def config_from_env(environ: Mapping[str, str] | None = None) -> Config:
    """Build the configuration from ``GATEWAY_*`` environment variables (INTERFACE.md)."""
    env = os.environ if environ is None else environ
    config = Config()
    return config.with_overrides(
        database_url=env.get("GATEWAY_DATABASE_URL") or config.database_url,
        base_url=env.get("GATEWAY_BASE_URL") or config.base_url,
        operator_keys=_keys(env.get("GATEWAY_OPERATOR_KEYS")),
        max_body_bytes=int(env.get("GATEWAY_MAX_BODY_BYTES") or config.max_body_bytes),
        hl7_max_message_bytes=int(env.get("GATEWAY_HL7_MAX_MESSAGE_BYTES")
                                  or config.hl7_max_message_bytes),
        prometheus_multiproc_dir=env.get("PROMETHEUS_MULTIPROC_DIR"),
        agency_organization=env.get("GATEWAY_AGENCY_ORGANIZATION") or None,
        var_dir=Path(env["GATEWAY_VAR_DIR"]) if env.get("GATEWAY_VAR_DIR") else config.var_dir,
        client_key_file=Path(env["GATEWAY_CLIENT_KEY_FILE"])
        if env.get("GATEWAY_CLIENT_KEY_FILE") else None,
        intake_folder=Path(env["GATEWAY_INTAKE_FOLDER"]) if env.get("GATEWAY_INTAKE_FOLDER")
        else None,
        intake_webhook=env.get("GATEWAY_INTAKE_WEBHOOK") or None,
        mllp_allowed_sources=_keys(env.get("GATEWAY_MLLP_ALLOWED_SOURCES")),
        audit_checkpoint_key=_path(env.get("GATEWAY_AUDIT_CHECKPOINT_KEY")),
        audit_checkpoint_public_key=_path(env.get("GATEWAY_AUDIT_CHECKPOINT_PUBLIC_KEY")),
        audit_checkpoint_targets=_keys(env.get("GATEWAY_AUDIT_CHECKPOINT_TARGET")),
        audit_checkpoint_interval=float(env.get("GATEWAY_AUDIT_CHECKPOINT_INTERVAL") or 0),
        agency_timezone=env.get("GATEWAY_AGENCY_TIMEZONE") or config.agency_timezone,
        delivery_max_attempts=int(env.get("GATEWAY_DELIVERY_MAX_ATTEMPTS")
                                  or config.delivery_max_attempts),
        auth_max_failures=int(env.get("GATEWAY_AUTH_MAX_FAILURES") or config.auth_max_failures),
        **{name: float(env[f"GATEWAY_{name.upper()}"]) for name in (
            "delivery_backoff_seconds", "delivery_lease_seconds", "delivery_timeout_seconds",
            "delivery_breaker_cooldown_seconds", "delivery_poll_seconds",
            "auth_failure_window_seconds")
           if env.get(f"GATEWAY_{name.upper()}")},
    )


def test_database_url(environ: Mapping[str, str] | None = None) -> tuple[str | None, bool]:
    """The extra database the tests run against, and whether it must be reachable."""
    env = os.environ if environ is None else environ
    return env.get("GATEWAY_TEST_DATABASE_URL") or None, env.get("GATEWAY_REQUIRE_POSTGRES") == "1"


def browser_required(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the console's browser tests must run (GATEWAY_REQUIRE_BROWSER=1, as in CI)
    rather than skip when no browser is installed."""
    env = os.environ if environ is None else environ
    return env.get("GATEWAY_REQUIRE_BROWSER") == "1"
