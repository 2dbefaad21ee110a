"""Named operators: the people who sign in to the console.

Each has a unique name, a role (roles.py) and a password kept only as an argon2id hash
(argon2-cffi, with its default parameters, which follow RFC 9106's recommendations). An
operator is disabled, never deleted: the audit trail names them. Disabling an operator, or
setting a new password or role, ends their open sessions.

    gateway operators add NAME --role ROLE     gateway operators list
    gateway operators disable NAME             gateway operators set-role NAME ROLE
    gateway operators reset-password NAME
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from gateway.console.roles import ROLES
from gateway.db.models import OperatorRow, OperatorSessionRow

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024

_hasher = PasswordHasher()
# Verified when the name is unknown, so that a wrong name takes as long as a wrong password.
_DUMMY_HASH = _hasher.hash("not a password of anyone's")


class OperatorError(ValueError):
    """A refused change to the operators (one line saying why)."""


@dataclass(frozen=True)
class Operator:
    id: int
    name: str
    role: str
    disabled: bool
    created_at: datetime


def hash_password(password: str) -> str:
    check_password(password)
    return _hasher.hash(password)


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise OperatorError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise OperatorError(f"a password has at most {MAX_PASSWORD_LENGTH} characters")


def password_matches(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


class OperatorStore:
    """The operator table on one session; the caller commits."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, name: str, role: str, password: str) -> Operator:
        if not NAME_PATTERN.match(name):
            raise OperatorError(f"{name!r} is not a valid operator name (2-64 characters: "
                                f"lower-case letters, digits, '.', '_', '-')")
        _check_role(role)
        if self._row(name) is not None:
            raise OperatorError(f"operator {name!r} exists already")
        now = datetime.now(UTC)
        row = OperatorRow(name=name, role=role, password_hash=hash_password(password),
                          disabled=False, created_at=now, password_changed_at=now)
        self.session.add(row)
        self.session.flush()
        return _operator(row)

    def all(self) -> list[Operator]:
        return [_operator(row) for row in
                self.session.scalars(select(OperatorRow).order_by(OperatorRow.name))]

    def get(self, name: str) -> Operator | None:
        row = self._row(name)
        return _operator(row) if row is not None else None

    def by_id(self, operator_id: int) -> Operator | None:
        row = self.session.get(OperatorRow, operator_id)
        return _operator(row) if row is not None else None

    def disable(self, name: str) -> None:
        row = self._existing(name)
        row.disabled = True
        self._end_sessions(row)

    def enable(self, name: str) -> None:
        self._existing(name).disabled = False

    def set_role(self, name: str, role: str) -> None:
        _check_role(role)
        row = self._existing(name)
        row.role = role
        self._end_sessions(row)

    def reset_password(self, name: str, password: str) -> None:
        row = self._existing(name)
        row.password_hash = hash_password(password)
        row.password_changed_at = datetime.now(UTC)
        self._end_sessions(row)

    def authenticate(self, name: str, password: str) -> Operator | None:
        """The enabled operator with this name and password, or None (either wrong, or
        disabled: the caller cannot tell which, and neither can an attacker from the time)."""
        row = self._row(name)
        if row is None:
            password_matches(_DUMMY_HASH, password)
            return None
        if not password_matches(row.password_hash, password) or row.disabled:
            return None
        if _hasher.check_needs_rehash(row.password_hash):
            row.password_hash = _hasher.hash(password)
        return _operator(row)

    def _row(self, name: str) -> OperatorRow | None:
        return self.session.scalars(select(OperatorRow).where(OperatorRow.name == name)
                                    ).one_or_none()

    def _existing(self, name: str) -> OperatorRow:
        row = self._row(name)
        if row is None:
            raise OperatorError(f"no operator {name!r}")
        return row

    def _end_sessions(self, row: OperatorRow) -> None:
        self.session.execute(delete(OperatorSessionRow)
                             .where(OperatorSessionRow.operator_id == row.id))


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise OperatorError(f"{role!r} is not a role; roles: {', '.join(ROLES)}")


def _operator(row: OperatorRow) -> Operator:
    return Operator(row.id, row.name, row.role, row.disabled, row.created_at)
