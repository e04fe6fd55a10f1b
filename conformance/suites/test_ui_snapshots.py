"""Harness-captured screens for manual proofs (issue 14 item 6; contract 1.1, optional GET /ui/snapshot).

Not a verdict: right after the harness drove a step (here the qualification of the shared test resident), it
asks the candidate for the screen the user sees and stores it under the manual proofs
conformance/sandbox/ui_snapshots.yaml maps the step to, marked "capture du harnais — à examiner". A
candidate that does not declare ``features.ui_snapshot`` is never asked (the check is "not run"); a capture
that cannot be made is "not run" with its reason, never a failure of the campaign.
"""

from __future__ import annotations

import pytest

from conformance.findings import NotEvaluated
from conformance.plugin import skip
from conformance.sandbox import ui_capture
from conformance.sandbox.client import SandboxError, SandboxUnsupported
from conformance.seams import Candidate, Recorder


@pytest.mark.harness_check("HARNESS.UI_SNAPSHOT", "Captures d'écran du harnais pour les preuves manuelles "
                           "(contrat 1.1, facultatif)", "Harness-captured screens for manual proofs "
                           "(contract 1.1, optional)")
def test_resident_identity_screen_after_qualification(candidate: Candidate, segur: Recorder,
                                                      request: pytest.FixtureRequest) -> None:
    step = "resident_identity"
    client = candidate.require_sandbox()
    if not candidate.supports("ui_snapshot"):
        skip("le candidat ne déclare pas features.ui_snapshot (GET /ui/snapshot, facultatif) : aucune capture",
             "the candidate does not declare features.ui_snapshot (GET /ui/snapshot, optional): no capture")
    proofs = [p for p in ui_capture.steps()[step]["proofs"] if _in_profile(segur, p)]
    if not proofs:
        skip("aucune preuve manuelle du profil n'est documentée par cet écran",
             "no manual proof of the profile is documented by this screen")
    try:  # the step: the shared test resident, qualified by the candidate (INS suite fixture)
        resident = request.getfixturevalue("qualified_resident")
    except NotEvaluated as exc:
        skip(f"pas de capture : {exc.reason}", f"no capture: {exc.reason_en}")
    try:
        shot = ui_capture.fetch(client, step, resident=str(resident["id"]))
    except SandboxUnsupported as exc:
        skip(f"capture non prise en charge (501) : {exc.message}", f"capture not supported (501): {exc.message_en}")
    except SandboxError as exc:
        skip(f"capture impossible : {exc.message}", f"capture impossible: {exc.message_en}")
    what = ui_capture.steps()[step]
    note = (f"{ui_capture.MARK} — {what['title']} / {what['title_en']} — résident / resident {resident['id']}, "
            f"statut INS / INS status {resident.get('status')}")
    refs = [segur.evidence(f"{step}{shot.suffix}", shot.data, kind="Capture du harnais", description=note)]
    if shot.media_type == "text/html":
        png, why, why_en = ui_capture.render_png(shot.data)
        if png is not None:
            refs.append(segur.evidence(f"{step}.png", png, kind="Capture du harnais", description=note))
        else:
            note += f" — pas d'image : {why} / no image: {why_en}"
    for ref in refs:
        segur.capture(proofs, ref, note)


def _in_profile(segur: Recorder, proof_id: str) -> bool:
    """The proof is a manual proof of a requirement of the run's profile."""
    wanted = set(segur.profile.requirement_ids)
    for req in segur.catalogue:
        if req.id not in wanted:
            continue
        for scenario in req.to_dict().get("scenarios", []):
            if any(p.get("id") == proof_id and p.get("method") == "manual" for p in scenario.get("proofs", [])):
                return True
    return False
