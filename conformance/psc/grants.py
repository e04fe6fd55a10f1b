"""What the mock PSC provider knows: the registered relying party, and each authorization (code flow or
CIBA) with the tokens issued for it."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from conformance.psc.behaviours import Behaviour


@dataclass(frozen=True)
class ClientRegistration:
    """What the provider knows of the relying party (as the ANS industrial portal would register it)."""

    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...] = ()
    post_logout_redirect_uris: tuple[str, ...] = ()
    jwks: dict[str, Any] | None = None  # public keys for private_key_jwt
    auth_methods: tuple[str, ...] = ("client_secret_basic", "client_secret_post", "private_key_jwt")
    allow_any_redirect_uri: bool = False  # only for a candidate whose callback the harness cannot know
    id_token_alg: str = "RS256"  # or "HS256" (signed with the client secret, the ANS connector's default)



@dataclass
class Grant:
    """One authorization (code flow or CIBA) and the tokens issued for it."""

    client_id: str
    professional: str
    sub: str
    scope: str
    nonce: str | None
    behaviour: Behaviour
    redirect_uri: str = ""
    code_challenge: str | None = None
    code_challenge_method: str | None = None
    auth_time: int = 0
    created: float = 0.0
    code_used: bool = False
    session_id: str = field(default_factory=lambda: secrets.token_hex(16))
    access_tokens: list[str] = field(default_factory=list)
    id_tokens: list[str] = field(default_factory=list)
    logged_out: bool = False


@dataclass
class CibaRequest:
    grant: Grant
    expires_at: float
    interval: int
    pending_left: int
    outcome: str
    last_poll: float | None = None
    done: bool = False
    login_hint: str = ""
    binding_message: str = ""
