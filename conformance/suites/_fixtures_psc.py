"""Pro Santé Connect fixtures: the mock provider for the session, wired to the candidate's sandbox.

Why session scope: the candidate caches the provider's discovery document and JWKS like a real relying
party would; one provider for the whole run keeps that realistic (and lets the key-rotation scenario
mean something). Environment overrides exist for vendors whose sandbox differs from the defaults:
``SEGUR_PSC_REDIRECT_URI`` (the candidate's callback, default ``<sandbox-url>/psc/callback``),
``SEGUR_PSC_CLIENT_ID`` and ``SEGUR_PSC_CLIENT_SECRET`` (default: a fixed id and a fresh random secret),
``SEGUR_PSC_ID_TOKEN_ALG`` (``RS256`` by default, ``HS256`` for a relying party registered like the ANS
connector's default, id_token signed with the client secret).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest

from conformance.plugin import skip
from conformance.psc.provider import ClientRegistration, MockPscProvider
from conformance.psc.scenarios import PscHarness
from conformance.sandbox.client import SandboxUnsupported
from conformance.seams import Candidate

PSC_DEFAULT_CLIENT_ID = "segur-conformance-dui"


@pytest.fixture(scope="session")
def psc_provider() -> Iterator[MockPscProvider]:
    """The mock PSC OpenID provider on 127.0.0.1 (ephemeral port), for the whole run."""
    client = ClientRegistration(
        client_id=os.environ.get("SEGUR_PSC_CLIENT_ID") or PSC_DEFAULT_CLIENT_ID,
        client_secret=os.environ.get("SEGUR_PSC_CLIENT_SECRET") or secrets.token_urlsafe(32),
        id_token_alg=os.environ.get("SEGUR_PSC_ID_TOKEN_ALG") or "RS256",
    )
    with MockPscProvider(client) as provider:
        yield provider


@pytest.fixture(scope="session")
def psc_harness(candidate: Candidate, psc_provider: MockPscProvider) -> PscHarness:
    """The provider registered for the candidate's callback, and the candidate pointed at the provider."""
    client = candidate.require_sandbox()  # behaviour scenarios: skipped (not_run) in artefact mode
    if not candidate.supports("psc"):
        skip("le candidat ne déclare pas Pro Santé Connect (features.psc = false)",
             "the candidate does not declare Pro Santé Connect (features.psc = false)")
    redirect_uri = os.environ.get("SEGUR_PSC_REDIRECT_URI") or f"{client.base_url}/psc/callback"
    harness = PscHarness(psc_provider, client.base_url, redirect_uri)
    harness.register()
    try:
        client.set_endpoints({"psc": harness.endpoint_config()})
    except SandboxUnsupported:
        skip("le candidat ne prend pas en charge PUT /endpoints pour PSC (501)",
             "the candidate does not support PUT /endpoints for PSC (501)")
    return harness
