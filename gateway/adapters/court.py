"""Courts and probation (partner kind ``court``): a compliance summary, no clinical content.

The summary is a FHIR ``document`` Bundle: a Composition whose sections state the plan's status
and period and the next plan review date (when the consumer shared the plan with the court),
and the services scheduled versus attended over the last 30 days (counts only, which services
they are is clinical; scheduled when the consumer shared "services", attended when they shared
"attendance"), followed by the Patient, CarePlan(s) and CareTeam(s) as the decision point shows
them to a court (status, period, team; no goals, activities, reasons or notes). The counts and
the review date are derived from the agency's records.
"""
from __future__ import annotations

import uuid
from datetime import date, timedelta
from html import escape
from typing import Any

from gateway.adapters.payload import DeliveryContext, Payload
from gateway.adapters.records import names
from gateway.care.dates import add_months
from gateway.fhir import json_text
from gateway.mappings.codes import EXT_LAST_REVIEW, EXT_REVIEW_FREQUENCY, FHIR_BASE

WINDOW_DAYS = 30
SUMMARY_TYPE = {"system": f"{FHIR_BASE}/CodeSystem/cmh-document-type",
                "code": "court-compliance-summary", "display": "Court compliance summary"}
DAYS_PER_UNIT = {"d": 1.0, "wk": 7.0, "mo": 365.25 / 12, "a": 365.25, "h": 1 / 24.0}


def build(context: DeliveryContext) -> Payload | None:
    records = context.records
    found = records.of_types(["CarePlan", "CareTeam"])
    plans, teams = found["CarePlan"], found["CareTeam"]
    shares_services = records.covers("ServiceRequest")
    shares_attendance = records.covers("Encounter")
    if not (plans or teams or shares_services or shares_attendance):
        return None
    patient = records.patient()
    today = context.now.date()
    scheduled, attended = _services(context, {p["id"] for p in plans} if plans else None,
                                    today)
    reviews = [review for plan in plans
               if (review := _next_review(context.agency.read("CarePlan", plan["id"])))]
    composition = _composition(
        context, plans, scheduled if shares_services else None,
        attended if shares_attendance else "not shared", min(reviews, default=None))
    resources = ([patient] if patient is not None else []) + plans + teams
    base = context.base_url.rstrip("/")
    bundle = {
        "resourceType": "Bundle", "type": "document",
        "identifier": {"system": f"{FHIR_BASE}/delivery", "value": context.delivery_id},
        "timestamp": context.now.isoformat(timespec="seconds"),
        "entry": [{"fullUrl": f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, composition['id'])}",
                   "resource": composition}] + [
            {"fullUrl": f"{base}/{r['resourceType']}/{r['id']}", "resource": r}
            for r in resources]}
    files = {f"{context.delivery_id}.json":
             json_text.dumps(bundle, indent=1).encode()}
    return Payload(records.patient_id, names(resources), bundle, files)


def _services(context: DeliveryContext, plan_ids: set[str] | None, today: date
              ) -> tuple[float, int | None]:
    """(contacts scheduled in the window, contacts attended in it or None if not recorded).
    ``plan_ids``: count only those plans' services (None: every active service)."""
    scheduled = 0.0
    agency = context.agency.of_types(["ServiceRequest", "Encounter"])
    for service in agency["ServiceRequest"]:
        based_on = {b.get("reference", "").split("/")[-1] for b in service.get("basedOn", [])}
        if service.get("status") != "active" or (plan_ids is not None
                                                 and not based_on & plan_ids):
            continue
        repeat = (service.get("occurrenceTiming") or {}).get("repeat") or {}
        days = DAYS_PER_UNIT.get(repeat.get("periodUnit", ""), 0.0) * float(
            repeat.get("period") or 0)
        if days > 0:
            scheduled += float(repeat.get("frequency") or 1) * WINDOW_DAYS / days
    encounters = agency["Encounter"]
    if not encounters:
        return scheduled, None
    since = today - timedelta(days=WINDOW_DAYS)
    attended = sum(1 for e in encounters if e.get("status") == "finished"
                   and since.isoformat() <= ((e.get("period") or {}).get("start") or "")[:10])
    return scheduled, attended


def _next_review(plan: dict[str, Any] | None) -> date | None:
    if plan is None or plan.get("status") != "active":
        return None
    extensions = {e.get("url"): e for e in plan.get("extension", [])}
    months = (extensions.get(EXT_REVIEW_FREQUENCY) or {}).get("valueDuration", {}).get("value")
    last = (extensions.get(EXT_LAST_REVIEW) or {}).get("valueDate") or (
        plan.get("period") or {}).get("start")
    if not months or not last:
        return None
    return add_months(date.fromisoformat(last[:10]), int(months))


def _composition(context: DeliveryContext, plans: list[dict[str, Any]],
                 scheduled: float | None, attended: int | str | None,
                 next_review: date | None) -> dict[str, Any]:
    statuses = "; ".join(
        f"{p.get('status')} since {(p.get('period') or {}).get('start', 'unknown')}"
        + (f" until {p['period']['end']}" if (p.get("period") or {}).get("end") else "")
        for p in plans) or "not shared"
    scheduled_text = "not shared" if scheduled is None else str(round(scheduled))
    attended_text = "not recorded" if attended is None else str(attended)
    review_text = (next_review.isoformat() if next_review
                   else "not scheduled" if plans else "not shared")
    sections = [
        ("Plan status", statuses, [f"CarePlan/{p['id']}" for p in plans]),
        (f"Services, last {WINDOW_DAYS} days",
         f"scheduled: {scheduled_text}; attended: {attended_text}", []),
        ("Next plan review", review_text, []),
    ]
    return {
        "resourceType": "Composition", "id": context.delivery_id, "status": "final",
        "type": {"coding": [SUMMARY_TYPE], "text": SUMMARY_TYPE["display"]},
        "subject": {"reference": f"Patient/{context.records.patient_id}"},
        "date": context.now.isoformat(timespec="seconds"),
        "author": [{"display": "Community mental-health agency (fhir-care-gateway)"}],
        "title": "Compliance summary", "confidentiality": "R",
        "section": [{"title": title,
                     "text": {"status": "generated", "div": '<div xmlns="http://www.w3.org/'
                              f'1999/xhtml">{escape(text)}</div>'},
                     **({"entry": [{"reference": r} for r in refs]} if refs else {})}
                    for title, text, refs in sections],
    }
