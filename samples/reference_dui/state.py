"""In-memory state of the reference sandbox: residents and the documents produced for them.

Domain modules (documents, insi_client, dmp_client, mss_client, psc_rp) receive these objects and
mutate them; the server only routes and serialises.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from typing import Any

_ids = itertools.count(1)


def new_id(prefix: str) -> str:
    return f"{prefix}{next(_ids):05d}"


@dataclass
class Resident:
    id: str
    traits: dict[str, Any]
    used_name: str = ""
    used_given_name: str = ""
    attributes: list[str] = field(default_factory=list)
    identity_document: str | None = None
    ins: dict[str, str] | None = None
    status: str = "PROV"
    last_error: str | None = None
    history: list[dict[str, str]] = field(default_factory=list)
    audit: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "traits": self.traits,
            "used_name": self.used_name,
            "used_given_name": self.used_given_name,
            "attributes": self.attributes,
            "identity_document": self.identity_document,
            "ins": self.ins,
            "status": self.status,
            "last_error": self.last_error,
            "history": self.history,
        }


@dataclass
class StoredDocument:
    id: str
    type: str
    resident_id: str
    cda: bytes
    dmp_status: str = "not_sent"
    dmp_error: str | None = None
    dmp_entry_uuid: str | None = None
    mss_status: str = "not_sent"
    mss_error: str | None = None
    mss_message_id: str | None = None
    mdn: dict[str, Any] | None = None
    replaces: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "resident_id": self.resident_id,
            "replaces": self.replaces,
            "dmp": {"status": self.dmp_status, "error": self.dmp_error, "entry_uuid": self.dmp_entry_uuid},
            "mss": {"status": self.mss_status, "error": self.mss_error, "message_id": self.mss_message_id,
                    "mdn": self.mdn},
        }


@dataclass
class SandboxState:
    defects: frozenset[str] = frozenset()
    endpoints: dict[str, dict[str, Any]] = field(default_factory=dict)
    residents: dict[str, Resident] = field(default_factory=dict)
    documents: dict[str, StoredDocument] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)

    def reset(self) -> None:
        with self.lock:
            self.residents.clear()
            self.documents.clear()
