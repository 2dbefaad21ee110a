"""The demo database: fresh SQLite, migrated, loaded from fixtures/."""
from __future__ import annotations

import json
from pathlib import Path

from gateway.config import Config
from gateway.db.engine import make_engine, upgrade


def prepare_demo(config: Config, db_path: Path) -> str:
    """Recreate the demo database and load the FHIR fixtures; return a one-line summary."""
    from gateway.app import create_app
    from gateway.fhir.bundles import process_bundle
    from gateway.fhir.http import Prefer

    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    engine = make_engine(config.database_url)
    upgrade(engine)
    engine.dispose()

    app = create_app(config)
    loaded = 0
    with app.app_context():
        state = app.extensions["gateway"]
        for path in sorted((config.fixtures_dir / "fhir").glob("*.json")):
            bundle = json.loads(path.read_text())
            response = process_bundle(state, bundle, Prefer(return_="minimal"))
            loaded += len(response["entry"])
    state.engine.dispose()
    return f"{loaded} FHIR resources loaded from fixtures/fhir"
