"""A repository for the benchmarks' seeders, which write without an app: the gateway's own
requester (SYSTEM), with the hooks a SYSTEM write runs in the app (the outbox, the audit chain;
gateway/app.py registers the same)."""
from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from gateway.audit import chain
from gateway.auth import SYSTEM
from gateway.delivery import outbox
from gateway.fhir.hooks import RepositoryHooks
from gateway.fhir.repository import Repository
from gateway.fhir.search import SearchParameterRegistry
from gateway.fhir.validation import Validator
from gateway.privacy.enforcement import AccessPolicy


def system_repository(session: Session, validator: Validator,
                      registry: SearchParameterRegistry, base_url: str, **options: Any
                      ) -> Repository:
    hooks = RepositoryHooks()
    outbox.register(hooks)
    chain.register(hooks)
    return Repository(session, validator, registry, base_url,
                      access=AccessPolicy(SYSTEM, session, base_url), hooks=hooks, **options)
