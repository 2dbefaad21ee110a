"""Checkpoints of the audit chain, kept outside the database.

The hash chain (chain.py) finds any edit, removal or insertion *inside* the chain, but not two
things someone who can write the database can do: cut off its newest events together with
their links (the chain that is left still holds), or recompute every link after an edit (the
new chain holds too). A checkpoint closes both: the chain's head, as the number of events in
it and the newest link's hash, signed with an Ed25519 key the database never holds, and written
somewhere the database's writers cannot reach (targets.py: a file, syslog, an HTTP endpoint).
``gateway audit verify`` then asks of the chain it walks that it is at least as long as the
latest checkpoint and that its entry at that position has the checkpointed hash.

The format depends only on the chain's count and head hash, not on how events are stored, so
it survives a new storage of the events (issue 16's journal). One checkpoint is one JSON line:

    {"type": "gateway-audit-checkpoint", "count": 1234, "head": "<sha-256 hex>",
     "time": "2026-03-02T14:30:05Z", "key_id": "<RFC 7638 thumbprint>",
     "signature": "<JWS compact, EdDSA, whose payload is the four fields above>"}

The readable fields are for people; what verify trusts is the signed payload (and it refuses a
line whose readable fields say otherwise).
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.audit.chain import GENESIS_HASH
from gateway.db.models import AuditBatchRow

RECORD_TYPE = "gateway-audit-checkpoint"
ALGORITHM = "EdDSA"
SIGNED_FIELDS = ("count", "head", "time", "key_id")
# How much of a checkpoint file's end is read looking for its newest line.
_TAIL_CHUNK = 64 * 1024

_chain = AuditBatchRow.__table__
# The head: the newest step's count of events and hash (one row, one snapshot).
_HEAD = select(_chain.c.total, _chain.c.batch_hash).order_by(_chain.c.seq.desc()).limit(1)


class CheckpointError(Exception):
    """A key, a checkpoint or a target that cannot be used; the message is one line."""


@dataclass(frozen=True)
class Checkpoint:
    """The chain's head at one moment: ``count`` events, the newest link's hash ``head``."""

    count: int
    head: str
    time: str
    key_id: str

    def claims(self) -> dict[str, Any]:
        return {"count": self.count, "head": self.head, "time": self.time,
                "key_id": self.key_id}

    def describe(self) -> str:
        return f"checkpoint of {self.time} ({self.count} events, head {self.head[:12]}...)"


def chain_head(session: Session) -> tuple[int, str]:
    """The number of events in the chain and its newest step's hash (the genesis hash when
    there are none)."""
    row = session.connection().execute(_HEAD).one_or_none()
    return (0, GENESIS_HASH) if row is None else (int(row.total), row.batch_hash)


def make_checkpoint(session: Session, key: Ed25519PrivateKey,
                    now: datetime | None = None) -> dict[str, Any]:
    """The signed checkpoint record of the chain's current head."""
    count, head = chain_head(session)
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    checkpoint = Checkpoint(count, head, moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
                            key_id(key.public_key()))
    return sign(checkpoint, key)


def sign(checkpoint: Checkpoint, key: Ed25519PrivateKey) -> dict[str, Any]:
    signature = jwt.encode(checkpoint.claims(), key, algorithm=ALGORITHM,
                           headers={"kid": checkpoint.key_id})
    return {"type": RECORD_TYPE, **checkpoint.claims(), "signature": signature}


def open_checkpoint(record: dict[str, Any], public_key: Ed25519PublicKey) -> Checkpoint:
    """The checkpoint a record vouches for, once its signature verifies with ``public_key``;
    CheckpointError otherwise (another key, an edited line, not a checkpoint)."""
    signature = record.get("signature")
    if record.get("type") != RECORD_TYPE or not isinstance(signature, str):
        raise CheckpointError("not a gateway audit checkpoint")
    expected_key = key_id(public_key)
    try:
        header = jwt.get_unverified_header(signature)
    except jwt.PyJWTError as error:
        raise CheckpointError(f"checkpoint refused: unreadable signature ({error})") from None
    if header.get("kid") != expected_key:
        raise CheckpointError(
            f"checkpoint refused: signed with another key (key id {header.get('kid')}, the "
            f"public key's is {expected_key})")
    try:
        claims = jwt.decode(signature, public_key, algorithms=[ALGORITHM],
                            options={"require": list(SIGNED_FIELDS)})
    except jwt.PyJWTError as error:
        raise CheckpointError(f"checkpoint refused: the signature does not verify with the "
                              f"public key ({error})") from None
    if any(record.get(name) != claims.get(name) for name in SIGNED_FIELDS):
        raise CheckpointError("checkpoint refused: its fields differ from what was signed")
    count, head = claims["count"], claims["head"]
    if not isinstance(count, int) or count < 0 or not isinstance(head, str) \
            or len(head) != 64:
        raise CheckpointError("checkpoint refused: a malformed count or head")
    return Checkpoint(count, head, str(claims["time"]), str(claims["key_id"]))


def latest_record(path: Path) -> dict[str, Any] | None:
    """The newest checkpoint record in a file of JSON lines (syslog-style prefixes before the
    JSON are skipped), or None when it holds none. Reads only the file's end."""
    try:
        with path.open("rb") as file:
            file.seek(0, os.SEEK_END)
            end = file.tell()
            tail = b""
            while end > 0:
                start = max(0, end - _TAIL_CHUNK)
                file.seek(start)
                tail = file.read(end - start) + tail
                end = start
                lines = tail.split(b"\n")
                # The first piece may be a partial line unless the file's start was reached.
                for line in reversed(lines if end == 0 else lines[1:]):
                    record = _parse_line(line)
                    if record is not None:
                        return record
                tail = lines[0] if end > 0 else b""
    except OSError as error:
        raise CheckpointError(f"cannot read checkpoints from {path}: "
                              f"{error.strerror or error}") from None
    return None


def _parse_line(line: bytes) -> dict[str, Any] | None:
    start = line.find(b"{")
    if start < 0:
        return None
    try:
        record = json.loads(line[start:].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return record if isinstance(record, dict) and record.get("type") == RECORD_TYPE else None


# Keys: Ed25519 in PEM files (PKCS#8 private, SubjectPublicKeyInfo public).

def generate_key_pair(private_path: Path, public_path: Path) -> str:
    """Write a new key pair (the private key readable by its owner only); its key id."""
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    try:
        descriptor = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(private_pem)
        public_path.write_bytes(public_pem(key.public_key()))
    except OSError as error:
        raise CheckpointError(f"cannot write the key pair: {error.strerror or error}: "
                              f"{error.filename or private_path}") from None
    return key_id(key.public_key())


def public_pem(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.PEM,
                                   serialization.PublicFormat.SubjectPublicKeyInfo)


def load_private_key(path: Path) -> Ed25519PrivateKey:
    data = _read_key(path, "private")
    try:
        key: Any = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):  # not PEM, or encrypted
        key = None
    if not isinstance(key, Ed25519PrivateKey):
        raise CheckpointError(f"{path} is not an unencrypted Ed25519 private key in PEM "
                              f"(make one with 'gateway audit keygen')")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """An Ed25519 public key; a private key file gives its public half."""
    data = _read_key(path, "public")
    try:
        key: Any = serialization.load_pem_public_key(data)
    except ValueError:
        try:
            key = serialization.load_pem_private_key(data, password=None).public_key()
        except (ValueError, TypeError):
            key = None
    if not isinstance(key, Ed25519PublicKey):
        raise CheckpointError(f"{path} is not an Ed25519 public key in PEM")
    return key


def _read_key(path: Path, kind: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise CheckpointError(f"cannot read the {kind} key {path}: "
                              f"{error.strerror or error}") from None


def key_id(public_key: Ed25519PublicKey) -> str:
    """The RFC 7638 JWK thumbprint (SHA-256, base64url) of an Ed25519 public key."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    jwk = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": _b64(raw)},
                     separators=(",", ":"), sort_keys=True)
    return _b64(hashlib.sha256(jwk.encode()).digest())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")
