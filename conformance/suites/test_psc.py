"""Pro Santé Connect suite: the candidate's relying party against the mock PSC provider.

Thin on purpose: each test runs one scenario of ``conformance.psc.scenarios`` (protocols.md §4.5
numbering), stores the redacted transcript as the "Transcription OIDC" proof and records the findings.
Sandbox mode only: in artefact mode the ``psc_harness`` fixture skips (verdict ``not_run``).
"""

from __future__ import annotations

import pytest

from conformance.psc.scenarios import BY_ID, PscHarness, run_scenario
from conformance.seams import Recorder

NEGATIVE_ID_TOKEN = ("bad_signature", "alg_none", "wrong_iss", "wrong_aud", "expired", "iat_future",
                     "wrong_nonce", "unknown_kid")
NEGATIVE_USERINFO = ("userinfo_sub_differs", "userinfo_bad_signature")
NEGATIVE_STATE = ("state_tampered", "state_reuse", "state_other_session")


def _run(segur: Recorder, harness: PscHarness, scenario_id: str) -> None:
    scenario = BY_ID[scenario_id]
    result = run_scenario(scenario, harness)
    segur.evidence(result.evidence_name, result.transcript, kind="Transcription OIDC",
                   description=f"{scenario.ref} — {scenario.title} (secrets masqués)")
    segur.record(result.findings)
    if result.not_evaluated:
        segur.not_evaluated(*result.not_evaluated)


@pytest.mark.requirement("SC.PSC.01.01.01", "SC.PSC.08")
def test_psc_nominal_login(segur: Recorder, psc_harness: PscHarness) -> None:
    """P1–P4: discovery on the wallet path, authorization request, code exchange, userinfo, identity."""
    _run(segur, psc_harness, "nominal")


@pytest.mark.requirement("SC.PSC.01.01.01")
def test_psc_userinfo_as_signed_jwt(segur: Recorder, psc_harness: PscHarness) -> None:
    """P4: userinfo answered as application/jwt is verified and read."""
    _run(segur, psc_harness, "userinfo_jwt")


@pytest.mark.requirement("SC.PSC.01.01.01")
def test_psc_key_rotation_is_followed(segur: Recorder, psc_harness: PscHarness) -> None:
    """A token signed by a newly published key is accepted after the JWKS is refetched."""
    _run(segur, psc_harness, "key_rotation")


@pytest.mark.requirement("SC.PSC.01.03.01")
def test_psc_logout_through_end_session(segur: Recorder, psc_harness: PscHarness) -> None:
    """P15: logout redirects to end_session with id_token_hint and closes the local session."""
    _run(segur, psc_harness, "logout")


@pytest.mark.requirement("SC.PSC.02")
def test_psc_professional_identified_by_subject_name_id(segur: Recorder, psc_harness: PscHarness) -> None:
    """Identification by SubjectNameID: a changed sub keeps the account, a shared e-mail does not merge."""
    _run(segur, psc_harness, "identity_by_rpps")


@pytest.mark.requirement("SC.PSC.01.02.01")
@pytest.mark.parametrize("scenario_id", NEGATIVE_ID_TOKEN)
def test_psc_refuses_invalid_id_token(segur: Recorder, psc_harness: PscHarness, scenario_id: str) -> None:
    """P5–P10, P13: the candidate positively refuses a forged or invalid id_token."""
    _run(segur, psc_harness, scenario_id)


@pytest.mark.requirement("SC.PSC.01.02.01", "SC.PSC.08")
def test_psc_refuses_acr_other_than_eidas1(segur: Recorder, psc_harness: PscHarness) -> None:
    """P11: an id_token with acr=eidas2 is refused."""
    _run(segur, psc_harness, "acr_eidas2")


@pytest.mark.requirement("SC.PSC.01.02.01", "SC.PSC.08")
def test_psc_missing_acr_is_reported(segur: Recorder, psc_harness: PscHarness) -> None:
    """P11: a missing acr should be refused; acceptance is a warning (the ANS connector defaults to eidas1)."""
    _run(segur, psc_harness, "acr_missing")


@pytest.mark.requirement("SC.PSC.01.02.01")
@pytest.mark.parametrize("scenario_id", NEGATIVE_STATE)
def test_psc_refuses_tampered_or_replayed_state(segur: Recorder, psc_harness: PscHarness, scenario_id: str) -> None:
    """P12: a state that is not the one sent, already used, or issued for another browser session is refused."""
    _run(segur, psc_harness, scenario_id)


@pytest.mark.requirement("SC.PSC.01.02.01")
@pytest.mark.parametrize("scenario_id", NEGATIVE_USERINFO)
def test_psc_refuses_invalid_userinfo(segur: Recorder, psc_harness: PscHarness, scenario_id: str) -> None:
    """P14: a userinfo JWT about another subject, or badly signed, is refused."""
    _run(segur, psc_harness, scenario_id)
