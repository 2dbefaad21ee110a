"""A Node FHIR client (fhir-kit-client, installed from the npm registry by this test's set-up)
against a running gateway: read, search, paging, create, conditional create, update, conditional
update, patch (JSON Patch and FHIRPath Patch), history, vread, transaction and delete.

Skipped where node or npm is missing, except in CI (CI=true), where that is a failure."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.api.test_real_clients_conformance import served  # noqa: F401 - fixture
from tests.conftest import OPERATOR_KEY

HERE = Path(__file__).parent / "node_client"
INSTALL_DIR = Path(__file__).resolve().parents[2] / "var" / "node-client"


@pytest.fixture(scope="session")
def node_client() -> Path:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        if os.environ.get("CI"):
            pytest.fail("node and npm are needed for the Node client test in CI")
        pytest.skip("node or npm is not installed")
    INSTALL_DIR.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "exercise.mjs"):
        shutil.copyfile(HERE / name, INSTALL_DIR / name)
    if not (INSTALL_DIR / "node_modules" / "fhir-kit-client").exists():
        installed = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--silent"],
                                   cwd=INSTALL_DIR, capture_output=True, text=True, timeout=300)
        if installed.returncode != 0:
            message = f"npm install fhir-kit-client failed: {installed.stderr[-500:]}"
            if os.environ.get("CI"):
                pytest.fail(message)
            pytest.skip(message)
    return INSTALL_DIR / "exercise.mjs"


def test_a_node_client_runs_every_interaction(served, node_client):  # noqa: F811
    base, _ = served
    run = subprocess.run(["node", str(node_client), f"{base}/fhir", OPERATOR_KEY],
                         capture_output=True, text=True, timeout=120)
    steps = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert [s["step"] for s in steps] == [
        "create", "conditional create", "read", "search", "paging", "update",
        "conditional update", "JSON Patch", "FHIRPath Patch", "history", "vread",
        "transaction", "delete"]
    assert all(s["ok"] for s in steps)
