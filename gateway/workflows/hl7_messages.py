"""HL7 v2 ADT messages in, ACKs out: the same path for ``POST /hl7v2`` and ``gateway mllp``.

``receive_hl7`` takes the raw bytes and the sender: over HTTP the partner behind the access
token; over MLLP the peer address, which (with MSH-4, the sending facility) names the hospital
partner whose registration lists that address (``endpoints.mllp_sources``, CIDRs) and that
facility (``endpoints.hl7_facility``). It always answers with an ACK (original acknowledgment
mode, HL7 v2.5.1 chapter 2):

- **AA**: accepted; the message became what gateway/workflows/referrals.py makes of it;
- **AE**: the content is wrong (a required field missing, a bad date): resending it unchanged
  will not help; ERR says where;
- **AR**: it cannot be processed at all (not HL7, an unknown character set, an unsupported
  message type, version or trigger, a sender we do not know) or not now (our side failed): the
  sender may try again later.

Accepted and content-refused messages are kept with their ACK, so the same MSH-10 from the
same sender gets the same ACK and changes nothing (gateway/workflows/inbound_messages.py).
A message from a sender we cannot place (its MSH-4 no registered hospital's, over MLLP or
from a partner registered with another facility) gets AR and is held for an operator, who
replays it once the facility is registered (gateway/workflows/held_messages.py). A sender
whose MSH-18 is wrong is read in the character set registered for it
(``endpoints.hl7_charset``).
"""
from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gateway.adapters import hl7v2
from gateway.adapters.adt_v2 import event_from_v2
from gateway.adapters.hl7v2 import Hl7Error, Hl7Message
from gateway.partners.registry import Partner, PartnerRegistry
from gateway.workflows import held_messages, inbound_messages
from gateway.workflows.inbound_messages import FATAL, OK, Result

if TYPE_CHECKING:
    from gateway.state import GatewayState

log = logging.getLogger(__name__)

ACK_CODE = {OK: hl7v2.ACCEPT, FATAL: hl7v2.ERROR, inbound_messages.TRANSIENT: hl7v2.REJECT}


@dataclass(frozen=True)
class Answer:
    """The ACK for a message, and what it says: ``code`` AA, AE or AR and its text;
    ``held_id`` when the message was kept for an operator (gateway/workflows/
    held_messages.py)."""

    ack: bytes
    code: str
    text: str
    held_id: int | None = None


def receive_hl7(state: GatewayState, raw: bytes, *, partner: Partner | None = None,
                peer: str | None = None) -> bytes:
    """The ACK for one message (``partner``: the authenticated sender over HTTP; ``peer``:
    the source address over MLLP)."""
    return answer_hl7(state, raw, partner=partner, peer=peer).ack


def answer_hl7(state: GatewayState, raw: bytes, *, partner: Partner | None = None,
               peer: str | None = None, replaying: bool = False) -> Answer:
    """``receive_hl7``, telling what the ACK says; ``replaying``: a held message sent again
    by an operator, which is not held a second time."""
    # Kept as received, whatever the declared charset; but PostgreSQL text cannot hold NUL:
    # a message with one is refused (below) and its record shows U+FFFD in its place.
    content = raw.decode("latin-1").replace("\x00", "\ufffd")
    # The sender first (MSH-4 is ASCII in any charset we read): its registration may name
    # the character set it really sends in, whatever its MSH-18 says.
    sender = _sender(state, hl7v2.sending_facility(raw), partner, peer)
    charset = sender.endpoints.get("hl7_charset") if isinstance(sender, Partner) else None
    try:
        if b"\x00" in raw:  # found by fuzzing: PostgreSQL cannot even store it as text
            raise Hl7Error(hl7v2.REJECT, "the message contains a NUL character (0x00), which "
                           "HL7 v2 text may not hold", "MSH", hl7v2.DATA_TYPE_ERROR)
        message = hl7v2.parse(raw, charset or None)
    except Hl7Error as error:
        inbound_messages.refuse(state, partner, message_id=None, source="hl7v2",
                                content=content, result=Result(FATAL, error.text),
                                label="HL7 v2 message", sender=peer)
        return Answer(hl7v2.ack(raw, error.ack_code, error.text, error), error.ack_code,
                      error.text)
    label = f"{message.message_type}^{message.trigger}"
    if isinstance(sender, Hl7Error):
        inbound_messages.refuse(state, None, message_id=message.control_id, source="hl7v2",
                                content=content, result=Result(FATAL, sender.text),
                                label=label, sender=f"{message.sending_facility} ({peer})"
                                if peer else message.sending_facility)
        held_id = None if replaying else held_messages.hold(
            state, raw, facility=hl7v2.sending_facility(raw), message_type=label,
            control_id=message.control_id, reason=sender.text,
            channel=f"{held_messages.HTTP}{partner.id}" if partner is not None
            else f"{held_messages.MLLP}{peer or ''}")
        # The sender is told it was kept: no need to resend once it is registered.
        text = sender.text if held_id is None else (
            f"{sender.text}; the message is held for the receiving agency and will be "
            f"processed once the sender is registered")
        return Answer(hl7v2.ack(message, sender.ack_code, text, sender), sender.ack_code,
                      text, held_id)
    try:
        event = event_from_v2(message, sender_zone=_zone(sender))
    except Hl7Error as error:
        # A message taken before gets its stored answer (an accepted one is found by
        # ``receive``, when its id is taken already).
        seen = inbound_messages.stored_answer(state, sender.id, message.control_id)
        if seen is not None:
            inbound_messages.note_repeat(state, sender, message.control_id, label, seen)
            return Answer(seen.answer.encode(message.codec, errors="replace"),
                          ACK_CODE[seen.code], seen.text)
        answer = hl7v2.ack(message, error.ack_code, error.text, error)
        if error.ack_code == hl7v2.ERROR:  # the content: the same message gets the same ACK
            inbound_messages.refuse(state, sender, message_id=message.control_id,
                                    source="hl7v2", content=content,
                                    result=Result(FATAL, error.text,
                                                  answer=answer.decode(message.codec)),
                                    label=label)
        else:  # cannot be processed: audited, not kept (the same message may do later)
            inbound_messages.refuse(state, sender, message_id=None, source="hl7v2",
                                    content=content, result=Result(FATAL, error.text),
                                    label=label)
        return Answer(answer, error.ack_code, error.text)
    result = inbound_messages.receive(state, sender, event, content,
                                      lambda r: _ack_text(message, r), label=label)
    return Answer(result.answer.encode(message.codec, errors="replace"),
                  ACK_CODE[result.code], result.text)


def replay_held(state: GatewayState, ids: list[int], *, by: str
                ) -> list[held_messages.Replayed]:
    """Send held messages through ``answer_hl7`` again, each from the channel it came by."""
    def receive(raw: bytes, partner_id: str | None, peer: str | None) -> tuple[str, str]:
        partner = None
        if partner_id is not None:
            with state.session_factory() as session:
                partner = PartnerRegistry(session).get(partner_id)
            if partner is None or not partner.enabled:
                return hl7v2.REJECT, f"partner {partner_id} is not registered or disabled"
        answer = answer_hl7(state, raw, partner=partner, peer=peer, replaying=True)
        return answer.code, answer.text

    return held_messages.replay(state, ids, receive, by=by)


def _ack_text(message: Hl7Message, result: Result) -> str:
    code = ACK_CODE[result.code]
    error = None if code == hl7v2.ACCEPT else Hl7Error(
        code, result.text, "", hl7v2.APPLICATION_INTERNAL_ERROR)
    return hl7v2.ack(message, code, result.text, error).decode(message.codec)


def _sender(state: GatewayState, facility: str, partner: Partner | None,
            peer: str | None) -> Partner | Hl7Error:
    """The sending hospital, or why we cannot tell (an AR); ``facility`` is MSH-4.1."""
    if partner is not None:
        expected = partner.endpoints.get("hl7_facility")
        if expected and expected != facility:
            return Hl7Error(hl7v2.REJECT, f"MSH-4 {facility!r} is not {partner.id}'s "
                                          f"facility {expected!r}", "MSH-4")
        if partner.kind != "hospital" and "MessageHeader" not in partner.submits:
            return Hl7Error(hl7v2.REJECT, f"{partner.id} is not registered to send ADT "
                                          f"messages", "MSH-4")
        return partner
    with state.session_factory() as session:
        partners = PartnerRegistry(session).all()
    found = [p for p in partners if p.enabled and p.kind == "hospital"
             and _listed(peer, p.endpoints.get("mllp_sources", ""))
             and p.endpoints.get("hl7_facility", facility) == facility]
    if len(found) != 1:
        log.warning("HL7 v2 from %s, MSH-4 %r: %d hospital partners match", peer, facility,
                    len(found))
        return Hl7Error(hl7v2.REJECT, f"no single registered hospital sends as {facility!r} "
                                      f"from {peer}", "MSH-4")
    return found[0]


def _zone(partner: Partner) -> ZoneInfo | None:
    """The hospital's time zone (``endpoints.hl7_timezone``, an IANA name), in which times
    sent without an offset are read; None: such times keep only their date."""
    name = partner.endpoints.get("hl7_timezone")
    try:
        return ZoneInfo(name) if name else None
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("partner %s: unknown hl7_timezone %r", partner.id, name)
        return None


def _listed(peer: str | None, sources: str) -> bool:
    if not peer:
        return False
    try:
        address = ipaddress.ip_address(peer.split("%")[0])
        return any(address in ipaddress.ip_network(s.strip(), strict=False)
                   for s in sources.split(",") if s.strip())
    except ValueError:
        return False


def mllp_sources(state: GatewayState) -> list[str]:
    """Who may connect to the MLLP listener: GATEWAY_MLLP_ALLOWED_SOURCES when set, otherwise
    every enabled hospital partner's ``endpoints.mllp_sources``."""
    configured = state.config.mllp_allowed_sources
    if configured:
        return list(configured)
    with state.session_factory() as session:
        partners = PartnerRegistry(session).all()
    return list(dict.fromkeys(
        source.strip() for p in partners if p.enabled and p.kind == "hospital"
        for source in p.endpoints.get("mllp_sources", "").split(",") if source.strip()))
