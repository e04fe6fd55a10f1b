"""Secrets out of OIDC transcripts before they become evidence.

Why two layers: structural redaction (by parameter, header or claim name) keeps what an auditor needs
— which client authentication was used, the claims of an id_token, that a code was used twice — while
hiding the values that would let someone replay a login. A second pass replaces every value the mock
provider knows it handed out, wherever it appears (a URL, a free-text error, a header we did not
foresee), so a forgotten field cannot leak. A redacted value keeps a short SHA-256 fingerprint, so two
uses of the same code are still visibly the same code.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus, unquote_plus

SECRET_PARAMS = frozenset({
    "client_secret", "code", "code_verifier", "access_token", "refresh_token", "auth_req_id", "password",
    "subject_token", "actor_token", "device_code", "sid_cookie",
})
JWT_PARAMS = frozenset({"id_token", "id_token_hint", "client_assertion", "logout_token", "request"})
SECRET_HEADERS = frozenset({"authorization", "cookie", "set-cookie", "proxy-authorization", "dpop"})
JWT_RE = re.compile(r"\b(eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*)\.([A-Za-z0-9_-]{8,})")
MIN_SECRET_LEN = 6
_PARAM_RE = re.compile(r"(?P<sep>^|[?&#;])(?P<key>[^=&#;?]+)=(?P<val>[^&#;]*)")


def fingerprint(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:8]


def mask(value: str) -> str:
    return f"[masqué sha256:{fingerprint(value)}]"


def mask_jwt(token: str) -> str:
    """Keep header and payload (readable evidence), hide the signature (the replayable part)."""
    parts = token.split(".")
    if len(parts) == 3 and parts[2]:
        return f"{parts[0]}.{parts[1]}.{mask(parts[2])}"
    return token  # unsigned or not a JWS: nothing secret to hide, and it is the evidence itself


class Redactor:
    """Redacts transcripts; ``known`` are literal secrets to hide wherever they appear."""

    def __init__(self, known: Iterable[str] = ()) -> None:
        variants: set[str] = set()
        for value in known:
            if not value or len(value) < MIN_SECRET_LEN:
                continue
            variants.update({value, quote_plus(value, safe=""), quote(value, safe="")})
        # longest first, so a token is replaced before any secret that is a substring of it
        self._known = sorted(variants, key=len, reverse=True)

    # -- public -----------------------------------------------------------------------------------
    def redact(self, data: Any) -> Any:
        return self._value(data, key="")

    def dumps(self, data: Any) -> str:
        """Redacted, pretty JSON; a last textual pass guarantees no known secret survives."""
        text = json.dumps(self.redact(data), ensure_ascii=False, indent=2, default=str)
        return self._text(text)

    def leaks(self, text: str) -> list[str]:
        """Known secrets still present in ``text`` (fingerprints only, never the secret itself)."""
        return sorted({fingerprint(s) for s in self._known if s in text})

    # -- internals --------------------------------------------------------------------------------
    def _value(self, value: Any, key: str) -> Any:
        lowered = key.lower()
        if isinstance(value, dict):
            return {k: self._value(v, str(k)) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self._value(v, key) for v in value]
        if not isinstance(value, str):
            return value
        if lowered in SECRET_HEADERS:
            return self._header(lowered, value)
        if lowered in JWT_PARAMS:
            return self._text(mask_jwt(value))
        if lowered in SECRET_PARAMS:
            return mask(value) if value else value
        if "://" in value and "?" in value:
            return self._text(self._url(value))
        if "=" in value and "&" in value and " " not in value:
            return self._text(self._form(value))
        if value.startswith("{") and value.endswith("}"):
            try:
                return self.dumps(json.loads(value))
            except ValueError:
                pass
        return self._text(value)

    def _header(self, name: str, value: str) -> str:
        if name == "authorization" or name == "proxy-authorization":
            scheme, _, credentials = value.partition(" ")
            return f"{scheme} {mask(credentials)}" if credentials else mask(value)
        if name in ("cookie", "set-cookie"):
            def one(part: str) -> str:
                k, sep, v = part.strip().partition("=")
                return f"{k}={mask(v)}" if sep and k.lower() not in _COOKIE_ATTRS else part.strip()
            return "; ".join(one(p) for p in value.split(";"))
        return mask(value)

    def _params(self, text: str) -> str:
        """Mask secret parameters in a query string or form body, leaving every other byte as it was."""
        def one(m: re.Match[str]) -> str:
            key = unquote_plus(m.group("key")).lower()
            value = unquote_plus(m.group("val"))
            if key in SECRET_PARAMS and value:
                return f"{m.group('sep')}{m.group('key')}={mask(value)}"
            if key in JWT_PARAMS and value:
                return f"{m.group('sep')}{m.group('key')}={mask_jwt(value)}"
            return m.group(0)
        return _PARAM_RE.sub(one, text)

    def _url(self, url: str) -> str:
        base, sep, rest = url.partition("?")
        return base + sep + self._params(rest) if sep else url

    def _form(self, body: str) -> str:
        return self._params(body)

    def _text(self, text: str) -> str:
        text = JWT_RE.sub(lambda m: f"{m.group(1)}.{mask(m.group(2))}", text)
        for secret in self._known:
            if secret in text:
                text = text.replace(secret, mask(secret))
        return text


_COOKIE_ATTRS = {"path", "domain", "expires", "max-age", "samesite", "httponly", "secure"}
