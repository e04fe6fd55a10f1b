"""The behaviour switches of the mock PSC provider, as one table per answer kind.

Each row is a negative (or the nominal) behaviour: its French description, shown in transcripts and
validated by ``Behaviour.validate``, and the mutator that implements it: an edit of the claims before
signing, a replacement of the honest signature, or an edit of the authorize redirect. The provider
(``conformance.psc.provider``) only looks a switch up and applies its row; adding a behaviour is adding
a row here. ``Behaviour`` is the set of switches of the next logins, validated against these tables.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from conformance.psc import professionals
from conformance.psc.signing import KeyRing

CIBA_OUTCOMES = ("approve", "deny", "expire")


@dataclass(frozen=True)
class Mint:
    """What a mutator may use: the clock, the provider's address and keys, the client's signing."""

    now: int
    lifetime: int
    base_url: str
    keys: KeyRing
    hs256_secret: str | None = None  # the client's secret when it expects HS256 id_tokens, else RS256

    def sign(self, claims: dict[str, Any]) -> str:
        """The honest signature the client expects (RS256 under a published key, or HS256 with its secret)."""
        if self.hs256_secret is not None:
            return self.keys.sign_hs256(claims, self.hs256_secret)
        return self.keys.sign(claims)

    def sign_wrongly(self, claims: dict[str, Any]) -> str:
        """A forged signature under the expected header (the provider's kid, or HS256 with another secret)."""
        if self.hs256_secret is not None:
            return self.keys.sign_hs256_wrong_secret(claims)
        return self.keys.sign_with_attacker_key(claims)


ClaimsEdit = Callable[[dict[str, Any], Mint], None]
Signer = Callable[[Mint, dict[str, Any]], str]


@dataclass(frozen=True)
class Mutator:
    """One behaviour of the provider: what it does (French, shown in transcripts) and how.

    ``claims`` edits the claims in place before signing; ``sign`` replaces the honest signature
    (None: the token kind's honest one); ``redirect`` edits the authorize answer's parameters.
    """

    text: str
    claims: ClaimsEdit | None = None
    sign: Signer | None = None
    redirect: Callable[[dict[str, str]], None] | None = None


ID_TOKEN_BEHAVIOURS: dict[str, Mutator] = {
    "nominal": Mutator("id_token conforme"),
    "bad_signature": Mutator("signé par une clé non publiée sous le kid du fournisseur", sign=Mint.sign_wrongly),
    "alg_none": Mutator("non signé (alg: none)", sign=lambda m, c: m.keys.unsigned(c)),
    "wrong_iss": Mutator("iss différent de l'émetteur configuré",
                         lambda c, m: c.update(iss=m.base_url + "/auth/realms/autre-royaume")),
    "wrong_aud": Mutator("aud ne contient pas le client_id",
                         lambda c, m: c.update(aud="autre-client-psc", azp="autre-client-psc")),
    "expired": Mutator("exp dépassé (jeton expiré depuis 10 minutes)",
                       lambda c, m: c.update(iat=m.now - 900, auth_time=m.now - 900, exp=m.now - 600)),
    "iat_future": Mutator("iat dans le futur (+1 h)",
                          lambda c, m: c.update(iat=m.now + 3600, exp=m.now + 3600 + m.lifetime)),
    "wrong_nonce": Mutator("nonce différent de celui envoyé", lambda c, m: c.update(nonce=secrets.token_hex(16))),
    "acr_eidas2": Mutator("acr = eidas2 au lieu de eidas1", lambda c, m: c.update(acr="eidas2")),
    "acr_missing": Mutator("acr absent", lambda c, m: c.pop("acr")),
    "unknown_kid": Mutator("signé par une clé dont le kid n'est publié dans aucun JWKS",
                           sign=lambda m, c: m.keys.sign_with_unknown_kid(c)),
}
USERINFO_BEHAVIOURS: dict[str, Mutator] = {  # a behaviour with its own ``sign`` always answers a JWT
    "nominal": Mutator("userinfo conforme"),
    "sub_differs": Mutator("sub de userinfo différent de celui de l'id_token",
                           lambda c, m: c.update(sub="f:psc-mock:autre-sujet")),
    "bad_signature": Mutator("userinfo JWT signé par une clé non publiée",
                             sign=lambda m, c: m.keys.sign_with_attacker_key(c)),
}
STATE_BEHAVIOURS: dict[str, Mutator] = {
    "nominal": Mutator("state renvoyé tel quel"),
    "tampered": Mutator("state modifié au retour",
                        redirect=lambda a: a.update(state=a["state"][::-1] + "-altere") if "state" in a else None),
}


@dataclass(frozen=True)
class Behaviour:
    """The switches of the next logins. Replace it whole with ``configure`` (thread-safe)."""

    professional: str = professionals.DEFAULT_PROFESSIONAL
    id_token: str = "nominal"
    userinfo: str = "nominal"
    userinfo_format: str = "json"  # or "jwt" (application/jwt)
    state: str = "nominal"
    sub: str | None = None  # override the professional's opaque sub
    token_lifetime: int = 120
    ciba_outcome: str = "approve"
    ciba_pending_polls: int = 1
    ciba_interval: int = 2
    ciba_expires_in: int = 120

    def validate(self) -> Behaviour:
        professionals.by_key(self.professional)
        for value, allowed, name in ((self.id_token, ID_TOKEN_BEHAVIOURS, "id_token"),
                                     (self.userinfo, USERINFO_BEHAVIOURS, "userinfo"),
                                     (self.state, STATE_BEHAVIOURS, "state")):
            if value not in allowed:
                raise ValueError(f"unknown {name} switch {value!r}; known: {', '.join(allowed)}")
        if self.userinfo_format not in ("json", "jwt"):
            raise ValueError("userinfo_format must be 'json' or 'jwt'")
        if self.ciba_outcome not in CIBA_OUTCOMES:
            raise ValueError(f"ciba_outcome must be one of {CIBA_OUTCOMES}")
        return self
