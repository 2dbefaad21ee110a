"""referral Task (from a hospital) -> an intake record for the local case-management system.

The local system has no FHIR; it takes intake records as JSON (in its outbox folder or posted
to its webhook: gateway/adapters/intake.py). One record per referral, named by the Task, and
written again whenever the referral changes, so the latest state is what the local system has:

    {"type": "intake", "id": "IN-...", "updated_at": "...", "referral_task": "Task/...",
     "status": "requested", "consumer": "C-1001" | null,
     "person": {name, birth_date, gender, contacts, addresses, identifiers}  (always: for
               someone not yet a consumer it is all the local system has to open a case),
     "source": {"name": "St. Brigid Regional Hospital", "organization": "ORG-HOSP-STBRIGID"},
     "discharge": {"date": "...", "disposition": "...", "encounter": "..."},
     "diagnoses": [{"system": "...", "code": "...", "display": "..."}],
     "follow_up_due": {"within_7_days": "...", "within_30_days": "..."},
     "reason": "..."}
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from gateway.care.followup import due_of


def intake_record(task: Mapping[str, Any], patient: Mapping[str, Any] | None,
                  encounter: Mapping[str, Any] | None, conditions: list[Mapping[str, Any]],
                  *, consumer_id: str | None, source: Mapping[str, Any]) -> dict[str, Any]:
    due = due_of(dict(task))
    record: dict[str, Any] = {
        "type": "intake",
        "id": intake_id(str(task["id"])),
        "updated_at": (task.get("meta") or {}).get("lastUpdated") or task.get("lastModified"),
        "referral_task": f"Task/{task['id']}",
        "status": task.get("status"),
        "consumer": consumer_id,
        "person": _person(patient or {}),
        "source": dict(source),
        "reason": task.get("description") or "",
    }
    if task.get("statusReason"):
        record["status_reason"] = (task["statusReason"].get("text")
                                   or _first_display(task["statusReason"]))
    if encounter:
        disposition = (encounter.get("hospitalization") or {}).get("dischargeDisposition")
        record["discharge"] = {
            "date": (encounter.get("period") or {}).get("end"),
            "admitted": (encounter.get("period") or {}).get("start"),
            "disposition": (disposition or {}).get("text") or _first_display(disposition),
            "encounter": next((i.get("value") for i in encounter.get("identifier", [])), None),
        }
    record["diagnoses"] = [{"system": c.get("system"), "code": c.get("code"),
                            "display": c.get("display")}
                           for condition in conditions
                           for c in (condition.get("code") or {}).get("coding", [])[:1]]
    if due is not None:
        record["follow_up_due"] = {"within_7_days": due.within_7_days.isoformat(),
                                   "within_30_days": due.within_30_days.isoformat()}
    return record


def intake_id(task_id: str) -> str:
    return "IN-" + re.sub(r"[^A-Za-z0-9]", "", task_id)[:32]


def _person(patient: Mapping[str, Any]) -> dict[str, Any]:
    name = (patient.get("name") or [{}])[0]
    return {k: v for k, v in {
        "name": {"family": name.get("family"), "given": name.get("given", [])},
        "birth_date": patient.get("birthDate"),
        "gender": patient.get("gender"),
        "contacts": [{"kind": t.get("system"), "value": t.get("value"), "use": t.get("use")}
                     for t in patient.get("telecom", [])],
        "addresses": [{"lines": a.get("line", []), "city": a.get("city"),
                       "state": a.get("state"), "postal_code": a.get("postalCode")}
                      for a in patient.get("address", [])],
        "identifiers": [{"system": i.get("system"), "value": i.get("value")}
                        for i in patient.get("identifier", [])],
    }.items() if v}


def _first_display(concept: Mapping[str, Any] | None) -> str | None:
    for coding in (concept or {}).get("coding", []):
        if coding.get("display") or coding.get("code"):
            return coding.get("display") or coding.get("code")
    return None
