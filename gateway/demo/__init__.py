"""The demo: its database (fresh SQLite, migrated, loaded with the demo agency from fixtures/)
and what runs beside the demo gateway.

``console_examples`` gives the demo's console something real on every page (referrals in
different states, a match review, a dead letter). The package's other modules are the
stand-in partner FHIR server that the demo runs for its
partners and the delivery tests use: ``partner_server`` (``ReceivingFhirServer``), ``fhir_api``,
``fhir_store``, ``fhir_http``, ``faults``, and ``endpoints`` (``python -m gateway.demo.endpoints``).
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from gateway.config import Config

# Start-up cost keeps the gateway modules and requests inside the functions that use them: this
# file runs before every module of the package, so in each partner server process `gateway demo`
# starts (`python -m gateway.demo.endpoints`), and the CLI imports it. Measured, median of 11
# fresh interpreters: `import gateway.demo.partner_server` 0.18 s (0.74 s with gateway.db.engine
# up here, 1.52 s with all of them); `import gateway.demo` 0.07 s (1.64 s), or 0.004 s after
# `import gateway.cli` (1.04 s). All of them at module level import without a cycle.
if TYPE_CHECKING:
    from gateway.state import GatewayState


def prepare_demo(config: Config, db_path: Path) -> str:
    """Recreate the demo database and import ``fixtures/agency``; return a one-line summary."""
    from gateway.adapters.local_files import iter_records
    from gateway.app import create_app
    from gateway.db.engine import make_engine, upgrade
    from gateway.local.pipeline import RecordImporter, Summary, organizations_first
    from gateway.local.translate import translator_for

    for suffix in ("", "-wal", "-shm", "-writers"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    engine = make_engine(config.database_url)
    upgrade(engine)
    engine.dispose()

    state = create_app(config).extensions["gateway"]
    # Partners first: the import's changes then queue their deliveries, as in real life.
    partners = register_partners(state, config.fixtures_dir / "partners")
    agency = [config.fixtures_dir / "agency"]
    summary = Summary()
    resources: set[str] = set()
    importer = RecordImporter(state, translator_for(config))
    for outcome in importer.run(organizations_first(lambda: iter_records(agency))):
        summary.add(outcome)
        resources.update(outcome.resources)
    state.close()
    return (f"demo agency: {summary.accepted} local records -> {len(resources)} FHIR resources, "
            f"{summary.rejected} rejected; partners: {', '.join(partners)}")


# The demo's consent written the FHIR R4 way, as a consent-capture app would: its base decision
# from policyRule (OPTIN), no root type, no class (it covers every type), one nested deny.
R4_CONSENT_CONSUMER = "C-1026"
R4_CONSENT_PARTNER = "pcp-cedar"


def add_r4_consent(config: Config) -> str:
    """Store ``fixtures/fhir/consent-r4-optin.json`` (consumer C-1026's consent to the demo
    primary care clinic); return a line saying what the clinic now sees under it."""
    from gateway.app import create_app
    from gateway.auth import SYSTEM
    from gateway.mappings.ids import DEFAULT_IDENTIFIER_BASE, fhir_id
    from gateway.workflows.consent_review import disclosure_preview

    state = create_app(config).extensions["gateway"]
    try:
        patient = fhir_id("consumer", R4_CONSENT_CONSUMER, DEFAULT_IDENTIFIER_BASE)
        consent = json.loads((config.fixtures_dir / "fhir" / "consent-r4-optin.json")
                             .read_text())
        assert consent["patient"]["reference"] == f"Patient/{patient}"
        with state.writing(SYSTEM) as repository:
            repository.update("Consent", consent["id"], consent)
        view = disclosure_preview(state, patient, R4_CONSENT_PARTNER)[0]
    finally:
        state.close()
    kinds = sorted({item["resource"].split("/")[0] for item in view.sees})
    return (f"Consent/{consent['id']} (policyRule OPTIN, no root type, no class, a nested deny "
            f"of ServiceRequest): {R4_CONSENT_PARTNER} sees {len(view.sees)} of "
            f"{R4_CONSENT_CONSUMER}'s records ({', '.join(kinds)}); "
            f"gateway consents explain {patient} --partner {R4_CONSENT_PARTNER}")


def add_console_data(config: Config) -> str:
    """Referrals in different states, a match review and a dead letter, so every console page
    has something on it (gateway/demo/console_examples.py); a line saying what was made."""
    from gateway.app import create_app
    from gateway.demo.console_examples import add_console_examples

    state = create_app(config).extensions["gateway"]
    try:
        return add_console_examples(config, state)
    finally:
        state.close()


DEMO_OPERATORS = (("demo-intake", "intake"), ("demo-case-manager", "case-manager"),
                  ("demo-privacy-officer", "privacy-officer"), ("demo-admin", "admin"))


def add_demo_operators(config: Config, password: str) -> list[tuple[str, str]]:
    """One console operator per role, all with ``password``; (name, role) of each."""
    from gateway.console.operators import OperatorStore
    from gateway.db.engine import make_engine, make_session_factory

    engine = make_engine(config.database_url)
    try:
        with make_session_factory(engine)() as session, session.begin():
            store = OperatorStore(session)
            for name, role in DEMO_OPERATORS:
                store.add(name, role, password)
    finally:
        engine.dispose()
    return list(DEMO_OPERATORS)


def register_partners(state: GatewayState, directory: Path) -> list[str]:
    """Register every ``<id>.json`` partner of ``directory`` (not the private keys)."""
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


@dataclass
class Companions:
    """What runs beside the demo gateway: a FHIR endpoint per demo partner that has one, the
    drop folders of the others, and a delivery worker. Child processes, stopped by ``stop``."""

    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    endpoints: dict[str, str] = field(default_factory=dict)  # partner id -> URL or folder
    mllp_port: int | None = None

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


DEMO_MLLP_PORT = 2575  # the port IANA registered for HL7 over MLLP


def start_companions(config: Config) -> Companions:
    """Start the demo partners' endpoints and a delivery worker for the demo database.

    A demo partner's FHIR endpoint runs on the loopback port its fixture names, or on a free
    one when that is taken (the partner's registration then follows it)."""
    from gateway.app import create_app
    from gateway.partners.registry import PartnerRegistry

    companions = Companions()
    state = create_app(config).extensions["gateway"]
    logs = config.var_dir / "demo-logs"
    logs.mkdir(parents=True, exist_ok=True)
    try:
        with state.session_factory() as session, session.begin():
            registry = PartnerRegistry(session)
            for partner in registry.all():
                fhir_base = partner.endpoints.get("fhir_base")
                folder = partner.endpoints.get("drop_folder")
                if fhir_base and urlsplit(fhir_base).hostname in ("127.0.0.1", "localhost"):
                    port = _free_or_other(urlsplit(fhir_base).port or 80)
                    companions.processes.append(_spawn(
                        [sys.executable, "-m", "gateway.demo.endpoints", "--name", partner.id,
                         "--port", str(port)], logs / f"{partner.id}.log"))
                    url = f"http://127.0.0.1:{port}/fhir"
                    if url != fhir_base:
                        registry.put(replace(partner, endpoints={**partner.endpoints,
                                                                 "fhir_base": url}))
                    companions.endpoints[partner.id] = url
                elif folder:
                    path = Path(folder) if Path(folder).is_absolute() \
                        else config.var_dir.parent / folder
                    if path.resolve().is_relative_to(config.var_dir.resolve()):
                        shutil.rmtree(path, ignore_errors=True)  # last demo's deliveries
                    path.mkdir(parents=True, exist_ok=True)
                    companions.endpoints[partner.id] = str(path)
        for url in companions.endpoints.values():
            if url.startswith("http"):
                _wait_for(url + "/metadata")
        environment = {**os.environ, "GATEWAY_DATABASE_URL": config.database_url,
                       "GATEWAY_BASE_URL": config.base_url,
                       "GATEWAY_DELIVERY_POLL_SECONDS": "0.5"}
        companions.processes.append(_spawn(
            [sys.executable, "-m", "gateway.cli", "deliver", "--name", "demo-worker"],
            logs / "delivery-worker.log", environment))
        # Hospitals' HL7 v2 over MLLP (the demo hospital lists 127.0.0.1 as its source).
        companions.mllp_port = _free_or_other(DEMO_MLLP_PORT)
        companions.processes.append(_spawn(
            [sys.executable, "-m", "gateway.cli", "mllp", "--port",
             str(companions.mllp_port)], logs / "mllp.log", environment))
    except BaseException:
        companions.stop()
        raise
    finally:
        state.close()
    return companions


def _spawn(command: list[str], log_path: Path, environment: dict[str, str] | None = None
           ) -> subprocess.Popen[bytes]:
    with open(log_path, "ab") as log:
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                env=environment, start_new_session=True)


def _free_or_other(port: int) -> int:
    for candidate in (port, 0):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            return int(probe.getsockname()[1])
    raise OSError("no free loopback port")


def _wait_for(url: str, seconds: float = 15.0) -> None:
    import requests

    deadline = time.monotonic() + seconds
    while True:
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the demo partner endpoint {url} did not start") from None
            time.sleep(0.1)
