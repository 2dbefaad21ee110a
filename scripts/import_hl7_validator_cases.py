#!/usr/bin/env python3
"""Copy HL7's public validator test cases that this validator can take into the test suite.

From a checkout of the repository FHIR/fhir-test-cases (its ``validator/manifest.json``), keeps
the R4 JSON cases that need no IG package, profile, supporting file, logical model or
terminology server (a case whose expected outcome a terminology server gave is left out), and
no option of the Java validator's: a case whose manifest entry sets one (``JAVA_OPTIONS``, e.g.
``noHtmlInMarkdown``, ``validateContains``) is left out whatever the value, as are modules such
as tx, questionnaire, dsig, json5 and matchetype, and files over 100 kB. For each it copies the file
and records HL7's expected outcome as HL7 wrote it: the number of error and fatal issues in
the Java validator's OperationOutcome (``outcomes/java/...``). Writes
``tests/validation/hl7_cases/`` (the files and ``manifest.json``).

Usage: python scripts/import_hl7_validator_cases.py GIT_DIR_OF_FHIR_TEST_CASES
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "tests" / "validation" / "hl7_cases"
NEEDS_MORE = ("packages", "supporting", "supporting5", "profiles", "profile", "logical",
              "bundle-param", "ips", "package-map", "tx-dependent", "fetcher", "advisor",
              "certificate", "sct")
# The manifest keys that set an option of the Java validator away from its default (HL7's test
# runner, ValidationTests.java, reads each): a case that needs one is left out, whatever the
# option's value, since we validate with the defaults only.
JAVA_OPTIONS = ("for-publication", "security-checks", "validateReference",
                "assumeValidRestReferences", "allowed-extension-domain",
                "allowed-extension-domains", "examples", "language", "best-practice",
                "crumb-trail", "default-version", "new-xver-mode", "wrong-displays", "suppress",
                "enforceAggregationOutsideBundles", "validateContains", "noHtmlInMarkdown",
                "r5-bundle-relative-reference-policy", "allow-comments", "no-tx",
                "no-experimental-content", "debug", "txLog")
MODULES_LEFT_OUT = ("tx", "tx-advanced", "matchetype", "json5", "dsig", "questionnaire", "cda",
                    "cdshooks", "shc", "xver", "measure", "security")
MAX_BYTES = 100_000


def show(git_dir: str, path: str) -> str:
    return subprocess.run(["git", "--git-dir", git_dir, "show", f"HEAD:{path}"],
                          capture_output=True, text=True, check=True).stdout


def _needs_terminology_server(outcome: dict) -> bool:
    """Whether HL7's expected outcome came from a terminology server (its issues say which)."""
    return any(extension.get("url", "").endswith("/operationoutcome-issue-server")
               for issue in outcome.get("issue", []) for extension in issue.get("extension", []))


def main() -> int:
    git_dir = sys.argv[1]
    commit = subprocess.run(["git", "--git-dir", git_dir, "rev-parse", "HEAD"],
                            capture_output=True, text=True, check=True).stdout.strip()
    manifest = json.loads(show(git_dir, "validator/manifest.json"))
    cases = []
    for case in manifest["test-cases"]:
        if case.get("version") != "4.0" or not case["file"].endswith(".json") \
                or any(key in case for key in NEEDS_MORE + JAVA_OPTIONS) \
                or case.get("use-test") is False or case.get("module") in MODULES_LEFT_OUT \
                or not isinstance(case.get("java"), str):
            continue
        try:
            source = show(git_dir, f"validator/{case['file']}")
            outcome = json.loads(show(git_dir, f"validator/outcomes/{case['java']}"))
        except subprocess.CalledProcessError:
            continue
        if len(source.encode()) > MAX_BYTES or _needs_terminology_server(outcome):
            continue
        (OUT / case["file"]).write_text(source)
        errors = [issue for issue in outcome.get("issue", [])
                  if issue.get("severity") in ("error", "fatal")]
        cases.append({"name": case["name"], "file": case["file"],
                      "module": case.get("module", ""), "expected_errors": len(errors),
                      "expected": [(i.get("details") or {}).get("text", i.get("diagnostics", ""))
                                   for i in errors]})
    (OUT / "manifest.json").write_text(json.dumps(
        {"source": f"https://github.com/FHIR/fhir-test-cases validator/ at {commit}",
         "license": "Apache-2.0 (HL7 FHIR test cases)", "cases": cases}, indent=1) + "\n")
    print(f"wrote {len(cases)} cases to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
