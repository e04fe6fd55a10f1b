"""HTTP client for sandbox contract v1 (docs/sandbox-api.yaml).

Two failure kinds matter to the verdicts: the sandbox is unreachable or broken (``SandboxError``: the
check could not run → ``error``), and the candidate does not support an operation (``SandboxUnsupported``,
HTTP 501: the requirement is ``not_run``). Neither may ever turn into ``passed``.
"""

from __future__ import annotations

import base64
from typing import Any

import requests

CONTRACT_VERSION = "1"
DEFAULT_TIMEOUT = 30.0
MAX_RESPONSE_BYTES = 100 * 1024 * 1024  # a CDA of 50 MB in base64, with room


class SandboxError(RuntimeError):
    """The sandbox could not be reached or answered something outside the contract."""

    def __init__(self, message: str, message_en: str = "", status: int | None = None) -> None:
        super().__init__(message_en or message)
        self.message = message
        self.message_en = message_en or message
        self.status = status


class SandboxUnsupported(SandboxError):
    """HTTP 501: the candidate declares it does not implement this operation."""


class SandboxClient:
    def __init__(self, base_url: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.http = requests.Session()
        self.http.trust_env = False  # never go through a proxy: the sandbox is local to the vendor's CI

    # -- plumbing -------------------------------------------------------------------------------
    def request(self, method: str, path: str, *, json: Any = None, expect: tuple[int, ...] = (200, 201, 204),
                session: requests.Session | None = None, params: dict[str, str] | None = None,
                timeout: float | None = None) -> Any:
        url = f"{self.base_url}{path}"
        http = session or self.http
        try:
            resp = http.request(method, url, json=json, params=params, timeout=timeout or self.timeout,
                                allow_redirects=False, stream=True)
            body = bytearray()
            for chunk in resp.iter_content(65536):  # the answer comes from the candidate: bounded
                body += chunk
                if len(body) > MAX_RESPONSE_BYTES:
                    resp.close()
                    raise SandboxError(
                        f"réponse trop volumineuse à {method} {path} (> {MAX_RESPONSE_BYTES} octets)",
                        f"answer too large to {method} {path} (> {MAX_RESPONSE_BYTES} bytes)")
            resp._content = bytes(body)  # so .json() / .text read what was bounded here
        except requests.RequestException as exc:
            raise SandboxError(
                f"bac à sable injoignable ({method} {path}) : {exc.__class__.__name__}",
                f"sandbox unreachable ({method} {path}): {exc.__class__.__name__}: {exc}",
            ) from None
        if resp.status_code == 501:
            raise SandboxUnsupported(
                f"opération non prise en charge par le candidat : {method} {path}",
                f"operation not supported by the candidate: {method} {path}",
                501,
            )
        if resp.status_code not in expect:
            detail = _error_text(resp)
            raise SandboxError(
                f"réponse inattendue {resp.status_code} à {method} {path} : {detail}",
                f"unexpected {resp.status_code} answer to {method} {path}: {detail}",
                resp.status_code,
            )
        if resp.status_code == 204 or not resp.content:
            return None
        try:
            return resp.json()
        except (ValueError, RecursionError):
            raise SandboxError(
                f"réponse non JSON à {method} {path}", f"non-JSON answer to {method} {path}", resp.status_code
            ) from None

    def obj(self, method: str, path: str, **kw: Any) -> dict[str, Any]:
        """``request`` for the operations whose answer is a JSON object: anything else is a SandboxError
        (a clear "could not evaluate"), not a TypeError deep in a suite."""
        data = self.request(method, path, **kw)
        if not isinstance(data, dict):
            raise SandboxError(f"réponse à {method} {path} : objet JSON attendu, reçu {type(data).__name__}",
                               f"answer to {method} {path}: JSON object expected, got {type(data).__name__}")
        return data

    # -- contract v1 ----------------------------------------------------------------------------
    def capabilities(self) -> dict[str, Any]:
        caps = self.request("GET", "/capabilities")
        if not isinstance(caps, dict):
            raise SandboxError("capacités illisibles", "unreadable capabilities")
        return caps

    def reset(self) -> None:
        self.request("POST", "/reset")

    def set_endpoints(self, endpoints: dict[str, Any]) -> None:
        self.request("PUT", "/endpoints", json=endpoints)

    def create_resident(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.obj("POST", "/residents", json=body)

    def get_resident(self, resident_id: str) -> dict[str, Any]:
        return self.obj("GET", f"/residents/{resident_id}")

    def qualify(self, resident_id: str) -> dict[str, Any]:
        return self.obj("POST", f"/residents/{resident_id}/qualify", json={})

    def create_document(self, resident_id: str, doc_type: str, options: dict[str, Any] | None = None
                        ) -> dict[str, Any]:
        body: dict[str, Any] = {"type": doc_type}
        if options:
            body["options"] = options
        return self.obj("POST", f"/residents/{resident_id}/documents", json=body)

    def get_document(self, doc_id: str) -> dict[str, Any]:
        return self.obj("GET", f"/documents/{doc_id}")

    def send_dmp(self, doc_id: str, replaces: str | None = None) -> dict[str, Any]:
        body = {"replaces": replaces} if replaces else {}
        return self.obj("POST", f"/documents/{doc_id}/dmp", json=body, timeout=120)

    def send_mss(self, doc_id: str, **options: Any) -> dict[str, Any]:
        return self.obj("POST", f"/documents/{doc_id}/mss", json=options, timeout=120)

    def psc_login(self, session: requests.Session | None = None) -> dict[str, Any]:
        return self.obj("POST", "/psc/login", json={}, session=session)

    def psc_session(self, session: requests.Session | None = None) -> dict[str, Any]:
        return self.obj("GET", "/psc/session", session=session)

    def psc_logout(self, session: requests.Session | None = None) -> dict[str, Any]:
        return self.obj("POST", "/psc/logout", json={}, session=session)


def decode_cda(document: dict[str, Any]) -> bytes:
    """The CDA bytes of a ``POST /residents/{id}/documents`` answer."""
    raw = document.get("cda_base64")
    if not isinstance(raw, str):
        raise SandboxError("document sans champ cda_base64", "document without cda_base64 field")
    try:
        return base64.b64decode(raw, validate=True)
    except ValueError:
        raise SandboxError("cda_base64 n'est pas du base64 valide", "cda_base64 is not valid base64") from None


def _error_text(resp: requests.Response) -> str:
    try:
        data = resp.json()
        if isinstance(data, dict) and "error" in data:
            return str(data["error"])[:300]
    except (ValueError, RecursionError):
        pass
    return resp.text[:300]
