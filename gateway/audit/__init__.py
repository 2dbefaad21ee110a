"""The accounting of disclosures: AuditEvents in an append-only, tamper-evident hash chain.

    event = disclosure_event(requester_kind="partner", ..., recorded=now)   # events.py, pure
    audit_event_id = record(repository, event)   # log.py, in the caller's transaction
    result = verify_chain(session)               # verify.py, `gateway audit verify`
"""
