"""One shape for every recorded HTTP exchange, so a scenario's transcript reads in order.

Why: the provider (what the candidate's back end sent to the IdP) and the browser (what the candidate's
front end sent to the user) are recorded separately, in different threads. A shared sequence number
puts both in the order the auditor needs to follow a login, and one ``Step`` shape lets the redactor
and the checks treat them alike.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

MAX_BODY_CHARS = 32_000

_seq = itertools.count(1)
_seq_lock = threading.Lock()


def next_seq() -> int:
    with _seq_lock:
        return next(_seq)


def bounded(text: str, limit: int = MAX_BODY_CHARS) -> str:
    return text if len(text) <= limit else text[:limit] + f"… [{len(text) - limit} caractères tronqués]"


@dataclass
class Step:
    """One request and its answer, as seen by one actor (provider or browser)."""

    seq: int
    actor: str  # "idp" (the mock provider) or "browser" (the harness acting as the user's browser)
    kind: str  # discovery, authorize, token, userinfo, jwks, end_session, ciba_auth, ... / login, callback, ...
    method: str
    url: str
    at: float = field(default_factory=time.time)
    query: dict[str, str] = field(default_factory=dict)
    request_headers: dict[str, str] = field(default_factory=dict)
    form: dict[str, str] = field(default_factory=dict)
    request_body: str = ""
    status: int | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: Any = None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def json_body(self) -> Any:
        """The response body as JSON when it is JSON, else None (checks use it; never raises)."""
        body = self.response_body
        if isinstance(body, (dict, list)):
            return body
        if isinstance(body, str) and body[:1] in ("{", "["):
            try:
                return json.loads(body)
            except ValueError:
                return None
        return None


def ordered(*groups: list[Step]) -> list[Step]:
    """Merge several actors' steps by sequence number."""
    merged = [s for group in groups for s in group]
    return sorted(merged, key=lambda s: s.seq)
