"""One hospital event (admit, transfer, discharge, update), whichever way it arrived.

The Da Vinci Unsolicited Notifications adapter (``davinci.py``, FHIR messaging) and the HL7 v2
adapter (``hl7v2.py``, ADT over MLLP or HTTP) both turn what they receive into an ``AdtEvent``
whose parts are plain FHIR R4 resources (as dicts): the Patient as the hospital knows them, the
Encounter (with its period, class and discharge disposition), the diagnoses as Conditions and
the sending facility as an Organization. The referral workflow (gateway/workflows/referrals.py)
then works on FHIR alone and never needs to know which wire format brought the event.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# What happened at the hospital: Da Vinci notification-event codes / HL7 v2 trigger events.
DISCHARGE = "discharge"  # notification-discharge, ADT^A03
ADMIT = "admit"  # notification-admit, ADT^A01 (also A04, a registration)
TRANSFER = "transfer"  # notification-transfer, ADT^A02
UPDATE = "update"  # ADT^A08: patient information changed; no care-team action
CANCEL_ADMIT = "cancel-admit"  # ADT^A11: the admission (A01/A04) did not happen
CANCEL_DISCHARGE = "cancel-discharge"  # ADT^A13: the discharge (A03) did not happen
MERGE = "merge"  # ADT^A40/A34: the prior MRN (MRG-1) is merged into the surviving one (PID-3)
# A hospital's referral posted as a Task + ServiceRequest (gateway/workflows/
# hospital_referrals.py): only its person needs matching; ``message_id`` is the Task's id.
REFERRAL = "referral"
KINDS = (DISCHARGE, ADMIT, TRANSFER, UPDATE, REFERRAL, CANCEL_ADMIT, CANCEL_DISCHARGE, MERGE)


@dataclass(frozen=True)
class AdtEvent:
    """What a hospital told us. ``message_id`` (MessageHeader.id or MSH-10) with the sending
    partner is the idempotency key; ``source`` is ``fhir`` or ``hl7v2``."""

    kind: str
    message_id: str
    source: str
    patient: dict[str, Any]
    encounter: dict[str, Any] | None = None
    conditions: tuple[dict[str, Any], ...] = ()
    facility: dict[str, Any] | None = None
    # When the message says it happened (MessageHeader/Bundle timestamp, EVN-2 or MSH-7).
    occurred: str | None = None
    # The sending facility as the message names it (MSH-4, MessageHeader.sender.display).
    sender_name: str | None = None
    notes: tuple[str, ...] = field(default=())
    # A merge: the identifiers the patient had before (MRG-1), as FHIR Identifiers.
    prior_identifiers: tuple[dict[str, Any], ...] = field(default=())
