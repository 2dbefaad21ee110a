"""Getting a payload to a partner: POST to its FHIR base, or files into its drop folder.

HTTP uses one ``requests.Session`` per worker (connection reuse) with explicit connect and read
timeouts; any failure becomes a SendResult (no exception leaves a send), which retry.py
classifies. A drop folder gets each file written under a temporary name in the same folder,
flushed to disk and renamed (atomic on POSIX), so a reader never sees half a file; files are
named after the delivery, so sending again replaces rather than duplicates.
"""
from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import requests

from gateway.adapters.payload import Notification
from gateway.delivery.outbound_auth import OutboundAuth, OutboundAuthError
from gateway.delivery.retry import SendResult
from gateway.fhir import json_text
from gateway.partners.registry import Partner

FHIR_JSON = "application/fhir+json"


class FhirTransport:
    def __init__(self, session: requests.Session, auth: OutboundAuth,
                 timeout: tuple[float, float] = (5.0, 30.0)) -> None:
        self.session = session
        self.auth = auth
        self.timeout = timeout

    def send(self, partner: Partner, bundle: dict[str, Any],
             headers: dict[str, str] | None = None) -> SendResult:
        url = partner.endpoints["fhir_base"].rstrip("/")
        result = self._post(partner, url, bundle, headers or {})
        if result.status == 401 and partner.outbound_auth.get("method") == "smart":
            # The partner may have ended our token early: once more with a fresh one.
            self.auth.forget(partner.id)
            result = self._post(partner, url, bundle, headers or {})
        return result

    def _post(self, partner: Partner, url: str, bundle: dict[str, Any],
              headers: dict[str, str]) -> SendResult:
        return post(self.session, self.auth, partner, url, self.timeout,
                    {"Content-Type": FHIR_JSON, "Accept": FHIR_JSON, **headers},
                    json_text.dumps(bundle).encode())


class RestHookTransport:
    """R4 rest-hook notifications without payload: an empty POST per Subscription."""

    def __init__(self, session: requests.Session, auth: OutboundAuth,
                 timeout: tuple[float, float] = (5.0, 30.0)) -> None:
        self.session = session
        self.auth = auth
        self.timeout = timeout

    def notify(self, partner: Partner, notifications: tuple[Notification, ...]) -> SendResult:
        """All of them, or the first failure (sent again as a whole: a repeated empty
        notification only makes the partner look once more)."""
        for notification in notifications:
            result = post(self.session, self.auth, partner, notification.endpoint,
                          self.timeout, dict(notification.headers), b"")
            if not result.ok:
                return result
        return SendResult(200)


def post(session: requests.Session, auth: OutboundAuth, partner: Partner, url: str,
         timeout: tuple[float, float], headers: dict[str, str], body: bytes) -> SendResult:
    """One POST to a partner, authenticated as its registration says; never raises."""
    try:
        headers = {**headers, **auth.headers(partner)}
    except OutboundAuthError as error:
        return SendResult(None, f"authentication: {error}")
    try:
        response = session.post(url, data=body, headers=headers, timeout=timeout)
    except requests.Timeout:
        return SendResult(None, f"timed out after {timeout[1]:g}s")
    except requests.ConnectionError as error:
        return SendResult(None, f"connection failed: {_first_line(error)}")
    except requests.RequestException as error:
        return SendResult(None, f"request failed: {_first_line(error)}")
    if 200 <= response.status_code < 300:
        return SendResult(response.status_code)
    return SendResult(response.status_code,
                      f"HTTP {response.status_code} from {url}: {_outcome_text(response)}",
                      response.headers.get("Retry-After"))


class DropFolderTransport:
    def __init__(self, root: Path) -> None:
        self.root = root  # relative drop folders are under it

    def folder(self, partner: Partner) -> Path:
        folder = Path(partner.endpoints["drop_folder"])
        return folder if folder.is_absolute() else self.root / folder

    def send(self, partner: Partner, files: dict[str, bytes]) -> SendResult:
        folder = self.folder(partner)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            for name, content in files.items():
                write_atomically(folder / name, content)
        except OSError as error:
            return SendResult(None, f"drop folder {folder}: {error}")
        return SendResult(200)


def write_atomically(path: Path, content: bytes) -> None:
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(temporary, "wb") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _outcome_text(response: requests.Response) -> str:
    try:
        body = response.json()
        issues = body.get("issue", []) if isinstance(body, dict) else []
        text = "; ".join(i.get("diagnostics") or (i.get("details") or {}).get("text") or
                         i.get("code", "") for i in issues)
        if text:
            return text[:500]
    except ValueError:
        pass
    return response.text[:500]


def _first_line(error: BaseException) -> str:
    return (str(error).splitlines() or [type(error).__name__])[0][:300]
