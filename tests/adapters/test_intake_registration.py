"""The local system is registered as the intake partner once, and follows the configuration."""
from __future__ import annotations

import dataclasses
import json

from sqlalchemy import text

from gateway.adapters.intake import LOCAL_PARTNER_ID, ensure_registered
from gateway.partners.registry import PartnerRegistry


def registered(session_factory):
    with session_factory() as session:
        return PartnerRegistry(session).get(LOCAL_PARTNER_ID)


def test_registered_once_then_its_endpoints_follow_the_configuration(app, config,
                                                                     session_factory):
    assert registered(session_factory) is None
    for _ in range(2):
        with session_factory() as session, session.begin():
            ensure_registered(session, config)
    first = registered(session_factory)
    assert first.kind == "local" and first.enabled
    assert first.endpoints == {"drop_folder": str(config.var_dir / "local-outbox" / "intake")}
    moved = dataclasses.replace(config, intake_folder=config.var_dir / "elsewhere",
                                intake_webhook="http://127.0.0.1:9/intake")
    with session_factory() as session, session.begin():
        ensure_registered(session, moved)
    now = registered(session_factory)
    assert now.endpoints == {"drop_folder": str(config.var_dir / "elsewhere"),
                             "webhook": "http://127.0.0.1:9/intake"}
    with session_factory() as session:
        rows = session.execute(text("SELECT count(*), min(details) FROM partner WHERE id = :id"),
                               {"id": LOCAL_PARTNER_ID}).one()
    assert rows[0] == 1 and json.loads(rows[1])["endpoints"]["webhook"].endswith("/intake")
