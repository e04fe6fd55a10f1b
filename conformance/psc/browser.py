"""The harness acting as the professional's browser during a Pro Santé Connect login.

Why: an OIDC login crosses three parties. The candidate's front end sends the browser to the provider,
the provider sends it back to the candidate's ``redirect_uri`` with a code. The harness plays the
browser with a ``requests.Session`` (cookies kept, redirects followed one hop at a time so each hop is
recorded) and never leaves the loopback interface: an ``authorization_url`` pointing at the real PSC
(a hard-coded production URL) is reported, not followed.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from http.client import HTTPException
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
import urllib3

from conformance.psc.transcript import Step, bounded, next_seq
from conformance.sandbox.client import (
    SandboxError,
    SandboxTimeout,
    SandboxUnsupported,
    answer_deadline,
    bounded_session,
)

MAX_REDIRECTS = 10
DEFAULT_TIMEOUT = 20.0
MAX_RESPONSE = 1024 * 1024
_RECORDED_RESPONSE_HEADERS = ("location", "content-type", "set-cookie", "cache-control")


class LeftLoopback(Exception):
    """The candidate sent the browser outside 127.0.0.1 (e.g. the production PSC): not followed."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.url = url


def is_loopback_url(url: str) -> bool:
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class Landing:
    """Where a navigation ended: the last answer after following redirects."""

    url: str
    status: int
    json: Any = None
    text: str = ""
    hops: int = 0

    @property
    def json_object(self) -> dict[str, Any] | None:
        return self.json if isinstance(self.json, dict) else None


@dataclass
class Browser:
    """One browser session (one cookie jar) against the candidate's sandbox base URL."""

    base_url: str
    labels: dict[str, str] = field(default_factory=dict)  # URL prefix -> step kind, for a readable transcript
    timeout: float = DEFAULT_TIMEOUT
    max_redirects: int = MAX_REDIRECTS
    steps: list[Step] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        self.http = bounded_session()  # no proxy, and a whole-answer deadline a trickling candidate cannot defeat
        self.http.headers["User-Agent"] = "segur-conformance-browser/1"

    def close(self) -> None:
        self.http.close()

    # -- the sandbox contract routes the browser calls ------------------------------------------
    def start_login(self) -> dict[str, Any]:
        """POST /psc/login: the candidate answers where to send the browser."""
        return self._contract("POST", "/psc/login", "login")

    def session(self) -> dict[str, Any]:
        return self._contract("GET", "/psc/session", "session")

    def logout(self) -> dict[str, Any]:
        return self._contract("POST", "/psc/logout", "logout")

    def _contract(self, method: str, path: str, kind: str) -> dict[str, Any]:
        url = self.base_url + path
        resp = self._send(method, url, kind, json_body={} if method == "POST" else None)
        if resp.status_code == 501:
            raise SandboxUnsupported(f"opération non prise en charge par le candidat : {method} {path}",
                                     f"operation not supported by the candidate: {method} {path}", 501)
        data = _json_or_none(resp)
        if resp.status_code != 200 or not isinstance(data, dict):
            raise SandboxError(
                f"réponse inattendue {resp.status_code} à {method} {path} : {resp.text[:200]}",
                f"unexpected {resp.status_code} answer to {method} {path}: {resp.text[:200]}", resp.status_code)
        return data

    # -- navigation -----------------------------------------------------------------------------
    def navigate(self, url: str, *, stop_at: str | None = None) -> Landing:
        """GET ``url`` and follow redirects hop by hop (each recorded), staying on loopback.

        ``stop_at``: a URL (without query) the browser must not load: navigation stops when a redirect points
        there and the landing is that URL, not requested (to hand a callback to another browser session).
        """
        hops = 0
        while True:
            if stop_at is not None and url.split("?")[0] == stop_at:
                return Landing(url=url, status=0, text="non suivi (arrêt demandé par le scénario)", hops=hops)
            if not is_loopback_url(url):
                self._note_refused(url)
                raise LeftLoopback(url)
            resp = self._send("GET", url, self._label(url))
            location = resp.headers.get("Location")
            if resp.status_code in (301, 302, 303, 307, 308) and location:
                hops += 1
                if hops > self.max_redirects:
                    return Landing(url=url, status=resp.status_code, text="trop de redirections", hops=hops)
                url = urljoin(url, location)
                continue
            return Landing(url=url, status=resp.status_code, json=_json_or_none(resp),
                           text=bounded(resp.text, 4000), hops=hops)

    def get_once(self, url: str) -> requests.Response:
        """One GET without following redirects (for the end-session hop and replays)."""
        if not is_loopback_url(url):
            self._note_refused(url)
            raise LeftLoopback(url)
        return self._send("GET", url, self._label(url))

    # -- recording ------------------------------------------------------------------------------
    def _label(self, url: str) -> str:
        best = ""
        kind = "navigation"
        for prefix, label in self.labels.items():
            if url.startswith(prefix) and len(prefix) > len(best):
                best, kind = prefix, label
        return kind

    def _note_refused(self, url: str) -> None:
        self.steps.append(Step(seq=next_seq(), actor="browser", kind="refused", method="GET", url=url,
                               note="adresse hors 127.0.0.1 : non suivie par le harnais"))

    def _send(self, method: str, url: str, kind: str, json_body: Any = None) -> requests.Response:
        step = Step(seq=next_seq(), actor="browser", kind=kind, method=method, url=url,
                    request_headers={"Cookie": "; ".join(f"{c.name}={c.value}" for c in self.http.cookies)}
                    if self.http.cookies else {})
        self.steps.append(step)
        watch = answer_deadline(self.timeout)
        try:
            with watch:
                resp = self.http.request(method, url, json=json_body, timeout=self.timeout, allow_redirects=False,
                                         stream=True)
                raw = resp.raw.read(MAX_RESPONSE + 1, decode_content=True)
                resp.close()
            if len(raw) > MAX_RESPONSE:
                step.note = f"réponse tronquée à {MAX_RESPONSE} octets"
            resp._content = raw[:MAX_RESPONSE]  # bounded: the candidate's answers are untrusted
            resp._content_consumed = True  # type: ignore[attr-defined]
        except (requests.RequestException, urllib3.exceptions.HTTPError, HTTPException, OSError) as exc:
            if watch.expired:
                step.note = f"pas de réponse complète en {self.timeout:g} s"
                raise SandboxTimeout(f"pas de réponse complète en {self.timeout:g} s ({method} {url})",
                                     f"no complete answer within {self.timeout:g} s ({method} {url})") from None
            step.note = f"échec réseau : {type(exc).__name__}"
            raise SandboxError(f"{url} injoignable ({type(exc).__name__})",
                               f"{url} unreachable ({type(exc).__name__}: {exc})") from None
        step.status = resp.status_code
        step.response_headers = {k: v for k, v in resp.headers.items() if k.lower() in _RECORDED_RESPONSE_HEADERS}
        body = _json_or_none(resp)
        step.response_body = body if body is not None else bounded(resp.text, 4000)
        return resp


def _json_or_none(resp: requests.Response) -> Any:
    if "json" not in resp.headers.get("Content-Type", "") and resp.text[:1] not in ("{", "["):
        return None
    try:
        return resp.json()
    except ValueError:
        return None
