"""The demo database: fresh SQLite, migrated, loaded with the demo agency from fixtures/."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from gateway.config import Config
from gateway.db.engine import make_engine, upgrade

if TYPE_CHECKING:
    from gateway.state import GatewayState


def prepare_demo(config: Config, db_path: Path) -> str:
    """Recreate the demo database and import ``fixtures/agency``; return a one-line summary."""
    from gateway.adapters.local_files import iter_records
    from gateway.app import create_app
    from gateway.local.pipeline import RecordImporter, Summary, organizations_first
    from gateway.local.translate import translator_for

    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    engine = make_engine(config.database_url)
    upgrade(engine)
    engine.dispose()

    state = create_app(config).extensions["gateway"]
    agency = [config.fixtures_dir / "agency"]
    summary = Summary()
    resources: set[str] = set()
    importer = RecordImporter(state, translator_for(config))
    for outcome in importer.run(organizations_first(lambda: iter_records(agency))):
        summary.add(outcome)
        resources.update(outcome.resources)
    partners = register_partners(state, config.fixtures_dir / "partners")
    state.engine.dispose()
    return (f"demo agency: {summary.accepted} local records -> {len(resources)} FHIR resources, "
            f"{summary.rejected} rejected; partners: {', '.join(partners)}")


def register_partners(state: GatewayState, directory: Path) -> list[str]:
    """Register every ``<id>.json`` partner of ``directory`` (not the private keys)."""
    import json

    from gateway.partners.registry import Partner, PartnerRegistry

    registered = []
    with state.session_factory() as session, session.begin():
        registry = PartnerRegistry(session)
        for path in sorted(directory.glob("*.json")):
            if path.name.endswith(".private.jwk.json"):
                continue
            partner = Partner.from_json(json.loads(path.read_text()))
            registry.put(partner)
            registered.append(partner.id)
    return registered
