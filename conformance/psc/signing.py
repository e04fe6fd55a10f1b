"""The mock provider's keys and every way it signs a JWT, honest or forged.

Why a module of its own: the negative scenarios are all about *how* a token is signed (an attacker's key
under the provider's ``kid``, ``alg: none``, a ``kid`` that is not published, a rotated key). Keeping the
key ring and the forgeries together makes each forgery one small, reviewed function, built on joserfc
for everything that is real cryptography.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import itertools
import json
import threading
from typing import Any

from joserfc import jwt
from joserfc.jwk import KeySet, OctKey, RSAKey

ALG = "RS256"
_counter = itertools.count(1)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def new_rsa_key(kid: str) -> RSAKey:
    """A fresh 2048-bit RSA signing key (cryptography underneath, through joserfc)."""
    return RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": ALG})


class KeyRing:
    """Published signing keys with rotation: the newest signs, the previous one stays published.

    ``attacker`` is a key that is never published: signing with it under the current ``kid`` is the
    "bad signature" forgery; ``unpublished`` has its own ``kid`` that no JWKS ever lists.
    """

    def __init__(self, prefix: str = "psc-mock") -> None:
        self._prefix = prefix
        self._lock = threading.Lock()
        self.current = new_rsa_key(self._kid())
        self.previous: RSAKey | None = None
        self.rotations = 0

    @functools.cached_property
    def attacker(self) -> RSAKey:
        """Generated on first use: most providers never forge (RSA generation is the slow part)."""
        return new_rsa_key("attaquant")

    @functools.cached_property
    def unpublished(self) -> RSAKey:
        return new_rsa_key(f"{self._prefix}-inconnue")

    def _kid(self) -> str:
        return f"{self._prefix}-{next(_counter)}"

    def rotate(self) -> str:
        """Publish a new key and sign with it from now on; keep the previous one published (overlap)."""
        with self._lock:
            self.previous = self.current
            self.current = new_rsa_key(self._kid())
            self.rotations += 1
            return str(self.current.kid)

    def snapshot(self) -> tuple[RSAKey, RSAKey | None, int]:
        """The ring as it is (to undo a scenario's rotation with ``restore``)."""
        with self._lock:
            return self.current, self.previous, self.rotations

    def restore(self, saved: tuple[RSAKey, RSAKey | None, int]) -> None:
        """Back to a ``snapshot``: the keys published and used before, so a rotation leaks into no later run."""
        with self._lock:
            self.current, self.previous, self.rotations = saved

    def published(self) -> list[RSAKey]:
        with self._lock:
            return [k for k in (self.current, self.previous) if k is not None]

    def jwks(self) -> dict[str, Any]:
        """The public JWKS document (never a private member)."""
        return {"keys": [k.as_dict(private=False) for k in self.published()]}

    def verification_set(self) -> KeySet:
        return KeySet(list[Any](self.published()))

    # -- honest and forged signatures --------------------------------------------------------------
    def sign(self, claims: dict[str, Any], *, typ: str = "JWT") -> str:
        key = self.current
        return jwt.encode({"alg": ALG, "kid": str(key.kid), "typ": typ}, claims, key)

    def sign_with_attacker_key(self, claims: dict[str, Any], *, typ: str = "JWT") -> str:
        """Signed by a key the provider never published, but claiming the provider's current ``kid``."""
        return jwt.encode({"alg": ALG, "kid": str(self.current.kid), "typ": typ}, claims, self.attacker)

    def sign_with_unknown_kid(self, claims: dict[str, Any], *, typ: str = "JWT") -> str:
        key = self.unpublished
        return jwt.encode({"alg": ALG, "kid": str(key.kid), "typ": typ}, claims, key)

    # -- HS256 with the client secret (the ANS connector's default, protocols.md §4.2) -------------
    @staticmethod
    def sign_hs256(claims: dict[str, Any], secret: str, *, typ: str = "JWT") -> str:
        return jwt.encode({"alg": "HS256", "typ": typ}, claims, OctKey.import_key(secret))

    @staticmethod
    def sign_hs256_wrong_secret(claims: dict[str, Any], *, typ: str = "JWT") -> str:
        """HS256 under a secret that is not the client's: the symmetric "bad signature" forgery."""
        return jwt.encode({"alg": "HS256", "typ": typ}, claims, OctKey.import_key("attaquant-" + "x" * 32))

    def unsigned(self, claims: dict[str, Any], *, typ: str = "JWT") -> str:
        """``alg: none``: joserfc rightly refuses to produce it, so it is assembled by hand."""
        header = {"alg": "none", "typ": typ, "kid": str(self.current.kid)}
        return f"{b64url(_json(header))}.{b64url(_json(claims))}."


def half_hash(value: str) -> str:
    """``at_hash`` / ``c_hash`` for RS256: left half of SHA-256, base64url (OIDC Core 3.1.3.6)."""
    digest = hashlib.sha256(value.encode("ascii")).digest()
    return b64url(digest[: len(digest) // 2])


def pkce_s256(verifier: str) -> str:
    return b64url(hashlib.sha256(verifier.encode("ascii")).digest())


def signature_part(token: str) -> str:
    """The third segment of a compact JWS ('' when absent): the part redaction must hide."""
    parts = token.split(".")
    return parts[2] if len(parts) == 3 else ""


def _json(data: dict[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
