"""DMP suite: every ITI-41 submission of the candidate checked point by point (protocols.md §1.6), then
the behaviour scenarios against the DMP simulator (errors, unavailability, unqualified INS, replacement).

The artefact checks run in both modes (sandbox: what the simulator received; artefacts: dmp/*.http or
*.xml). Behaviour scenarios need a live sandbox and are not run in artefact mode. Each finding names
its submission, so one bad document never hides the others.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from conformance.dmp import checks, engine, ns, trust
from conformance.dmp.checks import CheckContext
from conformance.dmp.iti41 import Iti41Request
from conformance.dmp.simulator import DmpSimulator
from conformance.findings import Finding, error, info, warning
from conformance.plugin import skip
from conformance.sandbox.client import SandboxError, SandboxUnsupported
from conformance.seams import Candidate, ContractClient, Recorder
from conformance.suites._fixtures_dmp import (
    DmpSubmission,
    describe_foreign,
    document_for,
    document_uid,
    send,
    split_by_document,
)

# requirement ids of the checks come from their declaration (profiles/dmp/checks.yaml), written once there;
# the behaviour scenarios below belong to no check and name their own
FEED = engine.requirements("reader")
CDA_SENT = engine.requirements("cda_format")
REPLACE = engine.requirements("replacement")
TD02 = engine.requirements("td02")
ERRORS = "DUI.DMP.03"
UNQUALIFIED = "DUI.DMP.04"
NO_TD03 = "SC.DMP/CONF.05"
BACKGROUND = "SC.DMP/ALI/PROG.01"


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
def _evidence(segur: Recorder, sub: DmpSubmission) -> None:
    if sub.raw:
        segur.evidence(sub.name.replace("/", "_"), sub.raw, kind="Message SOAP (VIHF)",
                       description=f"requête ITI-41 ({sub.doc_type or sub.name})",
                       artefact=sub.request.artefact if sub.request is not None else "")
    if sub.extra.get("foreign"):
        segur.evidence(Path(sub.name).stem + "-other-tests.json",
                       json.dumps(sub.extra["foreign"], ensure_ascii=False, indent=2, default=str), kind="Log",
                       description="requêtes ITI-41 reçues pendant ce test pour d'autres documents (nouvel essai d'un "
                                   "test précédent) : non imputées à ce test")


def _each(segur: Recorder, submissions: list[DmpSubmission], check: Callable[[Iti41Request, CheckContext], list[Finding]],
          *, with_problems: bool = False, requirements: tuple[str, ...] = FEED) -> None:
    """Run one check on every submission; a submission without a readable request is a finding."""
    for sub in submissions:
        _evidence(segur, sub)
        if sub.request is None:
            segur.record(error(sub.problem or "requête ITI-41 absente", sub.problem_en or "ITI-41 request missing",
                               rule="DMP.SUBMISSION.missing", artefact=sub.name, requirements=requirements))
            continue
        if with_problems:
            segur.record(sub.request.problems)
        elif not sub.request.readable:
            # the checks return nothing on a request they cannot read: that must not read as a pass
            first = next((f for f in sub.request.problems if f.is_error), None)
            segur.record(error(f"requête ITI-41 illisible, vérification impossible : "
                               f"{first.message if first else 'soumission absente'}",
                               f"unreadable ITI-41 request, check impossible: "
                               f"{(first.message_en or first.message) if first else 'no submission'}",
                               rule="DMP.SUBMISSION.unreadable", artefact=sub.name, line=first.line if first else None,
                               expected="SubmitObjectsRequest lisible", found=first.rule if first else "absent",
                               requirements=requirements))
            continue
        segur.record(check(sub.request, sub.context))


def _client(candidate: Candidate) -> ContractClient:
    client = candidate.require_sandbox()
    if not candidate.supports("dmp"):
        skip("le candidat ne déclare pas l'alimentation du DMP (features.dmp)",
             "the candidate does not declare feeding the DMP (features.dmp)")
    return client


def _log(segur: Recorder, name: str, payload: dict[str, Any]) -> None:
    segur.evidence(name, json.dumps(payload, ensure_ascii=False, indent=2, default=str), kind="Log",
                   description="réponse du candidat et réponse du DMP simulé")


# ---------------------------------------------------------------------------------------------
# every submission, both modes
# ---------------------------------------------------------------------------------------------
@pytest.mark.requirement("DUI.DMP.01.01.01")
def test_every_document_reaches_the_dmp(dmp_submissions: list[DmpSubmission], segur: Recorder) -> None:
    for sub in dmp_submissions:
        _evidence(segur, sub)
        if sub.request is None:
            segur.record(error(sub.problem or "requête ITI-41 absente", sub.problem_en or "ITI-41 request missing",
                               rule="DMP.SUBMISSION.missing", artefact=sub.name, requirements=FEED))
            continue
        if sub.received is not None:
            if sub.received.outcome != "Success":
                segur.record(error(f"le DMP simulé a refusé la soumission : {sub.received.outcome}",
                                   f"the DMP simulator refused the submission: {sub.received.outcome}",
                                   rule="DMP.SUBMISSION.refused", artefact=sub.name, requirements=FEED,
                                   expected="Success", found=sub.received.outcome))
            status = (sub.result or {}).get("status")
            if sub.received.outcome == "Success" and status != "sent":
                segur.record(error("document accepté par le DMP mais non marqué « envoyé » par le candidat",
                                   "document accepted by the DMP but not marked 'sent' by the candidate",
                                   rule="DMP.SUBMISSION.status", artefact=sub.name, requirements=FEED,
                                   expected="sent", found=str(status)))
        segur.record(info("requête ITI-41 reçue", "ITI-41 request received", rule="DMP.SUBMISSION.received",
                          artefact=sub.name, requirements=FEED))


@engine.marker("reader", "transport", "addressing")
def test_iti41_transport_and_addressing(dmp_submissions: list[DmpSubmission], segur: Recorder) -> None:
    _each(segur, dmp_submissions, lambda r, _c: checks.check_transport(r) + checks.check_addressing(r),
          with_problems=True)


def _trust_evaluated(segur: Recorder, what: str, what_en: str, submissions: Sequence[DmpSubmission] = ()) -> None:
    """A signature whose certificate chain could not be judged (no declared anchor) is not a pass; the anchors
    a verdict relied on are kept as evidence (dmp-trust-anchors.pem)."""
    anchors = next((s.context.trust for s in submissions if s.context.trust), None)
    if anchors:
        from cryptography.hazmat.primitives.serialization import Encoding

        segur.evidence("dmp-trust-anchors.pem", b"".join(c.public_bytes(Encoding.PEM) for c in anchors), kind="Log",
                       description="ancres de confiance de test déclarées pour les certificats du VIHF et du XAdES")
    if not segur.errors and any(f.rule in trust.NOT_EVALUATED_RULES for f in segur.findings):
        segur.not_evaluated(f"{what} : chaîne de confiance non évaluée, aucune ancre déclarée ; {trust.HINT_FR}",
                            f"{what_en}: trust chain not evaluated, no anchor declared; {trust.HINT_EN}")


@engine.marker("vihf", "patient_ids", "authorship")
def test_vihf_signed_and_complete(dmp_submissions: list[DmpSubmission], segur: Recorder) -> None:
    _each(segur, dmp_submissions, lambda r, c: checks.check_vihf(r, c) + checks.check_patient_ids(r, c)
          + checks.check_authorship(r))
    _trust_evaluated(segur, "certificat du VIHF", "VIHF certificate", dmp_submissions)


@engine.marker("metadata", "hash_size", "associations")
def test_xds_metadata(dmp_submissions: list[DmpSubmission], segur: Recorder) -> None:
    _each(segur, dmp_submissions, lambda r, c: checks.check_metadata(r, c) + checks.check_hash_size(r)
          + checks.check_associations(r))


@engine.marker("against_cda")
def test_metadata_agree_with_the_cda_header(dmp_submissions: list[DmpSubmission], segur: Recorder) -> None:
    _each(segur, dmp_submissions, lambda r, _c: checks.check_against_cda(r))


@engine.marker("signature")
def test_xades_signature_document(dmp_submissions: list[DmpSubmission], segur: Recorder) -> None:
    _each(segur, dmp_submissions, lambda r, c: checks.check_signature(r, c))
    _trust_evaluated(segur, "certificat du document de signature XAdES", "XAdES signature document certificate",
                     dmp_submissions)


@engine.marker("cda_format")
def test_documents_are_sent_as_cda_r2(dmp_submissions: list[DmpSubmission], segur: Recorder) -> None:
    _each(segur, dmp_submissions, lambda r, _c: checks.check_cda_format(r), requirements=CDA_SENT)
    seen = sum(1 for s in dmp_submissions if s.request is not None and s.request.submission is not None
               for e in s.request.submission.documents if s.request.documents.get(e.id) is not None)
    if not seen and not segur.errors:
        segur.not_evaluated("aucun contenu de document dans les soumissions : format CDA R2 non vérifiable",
                            "no document content in the submissions: CDA R2 format cannot be checked")


@pytest.mark.requirement(*REPLACE)
def test_replacements_in_the_submissions(dmp_submissions: list[DmpSubmission], segur: Recorder) -> None:
    """Any RPLC (or CDA relatedDocument) among the collected submissions is consistent (D9).

    Without any replacement among them there is nothing to judge: skipped, so that DUI.DMP.02 is not
    reported as passed on documents that replace nothing (artefact mode relies on this test alone).
    """
    replacing = [s for s in dmp_submissions if s.request is not None and s.request.submission is not None
                 and (s.request.submission.associations_of(ns.ASSOC_RPLC)
                      or any(checks.related_document(s.request, e.id) for e in s.request.submission.documents))]
    if not replacing:
        skip("aucune soumission de remplacement (RPLC) parmi les soumissions collectées",
             "no replacement submission (RPLC) among the collected submissions")
    _each(segur, replacing, lambda r, c: checks.check_replacement(r, c), requirements=REPLACE)


# ---------------------------------------------------------------------------------------------
# sandbox only: what the candidate does around the ITI-41
# ---------------------------------------------------------------------------------------------
@engine.marker("td02")
def test_dmp_existence_checked_before_feeding(candidate: Candidate, dmp_submissions: list[DmpSubmission],
                                              dmp_simulator: DmpSimulator, segur: Recorder) -> None:
    candidate.require_sandbox()
    if not any(sub.received is not None for sub in dmp_submissions):
        segur.not_evaluated("aucune requête ITI-41 reçue : ordre TD0.2 / ITI-41 non vérifiable",
                            "no ITI-41 request received: TD0.2 / ITI-41 order cannot be checked")
    for sub in dmp_submissions:
        if sub.received is None:
            continue
        before = [r for r in sub.extra.get("all_requests", []) if r.kind == "TD0.2" and r.seq < sub.received.seq]
        if before:
            td02 = before[-1]
            segur.evidence(f"td02-{td02.seq}", td02.as_http(), kind="Log",
                           description="appel TD0.2 (existence du DMP) précédant l'ITI-41")
            segur.record(info("appel TD0.2 avant l'alimentation", "TD0.2 call before feeding", rule="DMP.TD02.ok",
                              artefact=sub.name, requirements=TD02))
            segur.record(checks.check_td02(td02.body, td02.headers.get("content-type", ""), sub.received.patient_id,
                                           artefact=f"dmp/{td02.seq:04d}-td02.http", requirements=TD02))
        else:
            # SC.DMP/CONF.01 [Vd] itself requires the TD0.2 call before feeding; only its message format is
            # not public (the simulator's stand-in is <url>/td02, docs/sandbox-api.yaml)
            segur.record(error(
                "aucun appel d'existence du DMP (TD0.2) reçu avant la requête ITI-41 (exigé par SC.DMP/CONF.01 ; "
                "le simulateur l'attend sur <url>/td02)",
                "no DMP existence call (TD0.2) received before the ITI-41 request (required by SC.DMP/CONF.01; "
                "the simulator expects it at <url>/td02)", rule="DMP.TD02.missing", artefact=sub.name,
                requirements=TD02, expected="TD0.2 puis ITI-41", found="ITI-41 seul"))


@pytest.mark.requirement(NO_TD03)
def test_no_access_authorisation_asked_to_feed(candidate: Candidate, dmp_submissions: list[DmpSubmission],
                                               dmp_simulator: DmpSimulator, segur: Recorder) -> None:
    candidate.require_sandbox()
    if not any(sub.received is not None for sub in dmp_submissions):
        segur.not_evaluated("aucune alimentation du DMP reçue : absence de TD0.3 sans objet",
                            "no DMP feed received: the absence of TD0.3 proves nothing")
    calls = [r for r in dmp_simulator.requests if r.kind == "TD0.3"]
    for call in calls:
        segur.record(error("demande d'autorisation d'accès (TD0.3) pendant l'alimentation du DMP",
                           "access authorisation request (TD0.3) while feeding the DMP", rule="DMP.TD03.called",
                           artefact=f"dmp/{call.seq:04d}-td03.http", requirements=(NO_TD03,), expected="aucun TD0.3",
                           found=f"TD0.3 reçu à {call.received_at}"))
        segur.evidence(f"td03-{call.seq}", call.as_http(), kind="Log")
    if not calls:
        segur.record(info("aucun TD0.3 pendant les alimentations", "no TD0.3 while feeding", rule="DMP.TD03.none",
                          requirements=(NO_TD03,)))


# ---------------------------------------------------------------------------------------------
# behaviour scenarios (sandbox only)
# ---------------------------------------------------------------------------------------------
def _scenario_send(candidate: Candidate, dmp_simulator: DmpSimulator, resident: dict[str, Any], doc_type: str,
                   scenario: str) -> tuple[DmpSubmission, dict[str, Any]]:
    client = _client(candidate)
    doc_id = document_for(client, str(resident["id"]), doc_type)
    # the trap is set for this document only: a background retry of an earlier test's document cannot take it
    dmp_simulator.set_scenario(scenario, times=1, unique_id=document_uid(doc_id) or None)
    try:
        sub = send(client, dmp_simulator, doc_id, f"dmp/{scenario}-{doc_id}.http", doc_type)
    finally:
        dmp_simulator.set_scenario("normal")
    state = client.get_document(doc_id)
    return sub, state


ERROR_SCENARIOS = {
    "unknown_patient": ("patient inconnu (XDSUnknownPatientId)", "unknown patient (XDSUnknownPatientId)"),
    "metadata_error": ("erreur de métadonnées (XDSRegistryMetadataError)", "metadata error"),
    "soap_fault": ("faute SOAP (VIHF invalide)", "SOAP fault (invalid VIHF)"),
    "partial_success": ("succès partiel (PartialSuccess)", "partial success"),
}


@pytest.mark.requirement("DUI.DMP.03.01.01")
@pytest.mark.parametrize("scenario", list(ERROR_SCENARIOS))
def test_dmp_error_is_shown_and_document_not_sent(scenario: str, candidate: Candidate, dmp_simulator: DmpSimulator,
                                                  own_qualified_resident: dict[str, Any], dmp_document_type: str,
                                                  segur: Recorder) -> None:
    what, what_en = ERROR_SCENARIOS[scenario]
    sub, state = _scenario_send(candidate, dmp_simulator, own_qualified_resident, dmp_document_type, scenario)
    _evidence(segur, sub)
    _log(segur, f"{scenario}-answer", {"candidate": sub.result, "document": state,
                                       "dmp": sub.received.outcome if sub.received else None})
    if sub.received is None:
        segur.not_evaluated(f"le candidat n'a rien envoyé au DMP : scénario « {what} » non joué ({sub.result})",
                            f"the candidate sent nothing to the DMP: scenario '{what_en}' not played")
    result = sub.result or {}
    status = result.get("status")
    doc_status = ((state or {}).get("dmp") or {}).get("status")
    where = {"artefact": sub.name, "requirements": (ERRORS,)}
    if not (result.get("error") or ((state or {}).get("dmp") or {}).get("error")):
        segur.record(error(f"{what} : aucune erreur restituée par le candidat", f"{what_en}: no error shown by the "
                           "candidate", rule="DMP.ERROR.not_shown", expected="message d'erreur du DMP", found="null",
                           **where))
    severe = scenario != "partial_success"  # whether PartialSuccess means "not sent" is not settled [?]
    for label, value in (("réponse", status), ("état du document", doc_status)):
        if value == "sent":
            make = error if severe else warning
            segur.record(make(f"{what} : document marqué « envoyé » ({label})", f"{what_en}: document marked 'sent'",
                              rule="DMP.ERROR.marked_sent", expected="failed | queued", found="sent", **where))
    if not segur.errors:
        segur.record(info(f"{what} : erreur restituée, document non marqué envoyé", f"{what_en}: error shown, "
                          "document not marked sent", rule="DMP.ERROR.ok", **where))


@pytest.mark.requirement("DUI.DMP.03.02.01", BACKGROUND)
@pytest.mark.parametrize("scenario", ["http_500", "timeout"])
def test_unavailable_dmp_keeps_the_document(scenario: str, candidate: Candidate, dmp_simulator: DmpSimulator,
                                            own_qualified_resident: dict[str, Any], dmp_document_type: str,
                                            segur: Recorder) -> None:
    sub, state = _scenario_send(candidate, dmp_simulator, own_qualified_resident, dmp_document_type, scenario)
    _evidence(segur, sub)
    _log(segur, f"{scenario}-answer", {"candidate": sub.result, "document": state,
                                       "dmp": sub.received.outcome if sub.received else None})
    if sub.received is None:
        segur.not_evaluated(f"le candidat n'a rien envoyé au DMP : scénario {scenario} non joué",
                            f"the candidate sent nothing to the DMP: scenario {scenario} not played")
    where = {"artefact": sub.name, "requirements": (ERRORS, BACKGROUND)}
    status = (sub.result or {}).get("status")
    doc_status = ((state or {}).get("dmp") or {}).get("status")
    if status == "sent" or doc_status == "sent":
        segur.record(error("DMP indisponible mais document marqué « envoyé »", "DMP unavailable but document marked "
                           "'sent'", rule="DMP.UNAVAILABLE.marked_sent", expected="queued | failed",
                           found=f"{status} / {doc_status}", **where))
    elif doc_status not in ("queued", "failed"):
        segur.record(error("après l'échec, le document n'est ni en attente ni en échec : perdu ?",
                           "after the failure the document is neither queued nor failed: lost?",
                           rule="DMP.UNAVAILABLE.lost", expected="queued | failed", found=str(doc_status), **where))
    if not ((sub.result or {}).get("error") or ((state or {}).get("dmp") or {}).get("error")):
        segur.record(warning("indisponibilité du DMP non signalée à l'utilisateur", "DMP unavailability not shown to "
                             "the user", rule="DMP.UNAVAILABLE.not_shown", **where))
    if not segur.errors:
        segur.record(info("document conservé pour un nouvel essai", "document kept for a later retry",
                          rule="DMP.UNAVAILABLE.ok", **where))


UNQUALIFIED_RESIDENT = {  # invented; never qualified by this test (no INSi call is asked)
    "traits": {"birth_name": "DMPTEST", "given_names": ["CLAIRE", "ANNE"], "first_given_name": "CLAIRE",
               "birth_date": "1950-02-03", "sex": "F", "birthplace_code": "75056"},
}


@pytest.mark.requirement(UNQUALIFIED)
def test_refuses_to_feed_without_a_qualified_ins(candidate: Candidate, dmp_simulator: DmpSimulator,
                                                 dmp_document_type: str, segur: Recorder) -> None:
    client = _client(candidate)
    resident = client.create_resident(UNQUALIFIED_RESIDENT)  # not qualified: status PROV
    if resident.get("status") == "QUAL":
        segur.not_evaluated("le résident créé est déjà qualifié : scénario impossible",
                            "the created resident is already qualified: scenario impossible")
    doc_id = document_for(client, str(resident["id"]), dmp_document_type)
    mark = dmp_simulator.mark()
    try:
        result = client.send_dmp(doc_id)
    except SandboxUnsupported:
        raise  # 501: the DMP is not supported, the proof is not run (never "did not show it refused")
    except SandboxError as exc:
        result = {"status": None, "error": exc.message, "http_status": exc.status}
    # only requests carrying this test's document count: another test's background retry is not this resident's
    sent, foreign = split_by_document(dmp_simulator.since(mark, "ITI-41"), document_uid(doc_id))
    _log(segur, "unqualified-answer", {"resident_status": resident.get("status"), "candidate": result,
                                       "document_unique_id": document_uid(doc_id), "iti41_received": len(sent),
                                       "other_tests_requests": describe_foreign(foreign)})
    for r in sent:
        segur.evidence(f"unqualified-iti41-{r.seq}", r.as_http(), kind="Message SOAP (VIHF)",
                       artefact=f"dmp/{r.seq:04d}-iti41.http")
        segur.record(error("requête ITI-41 envoyée pour un usager dont l'INS n'est pas qualifiée",
                           "ITI-41 request sent for a resident whose INS is not qualified", rule="DMP.INS.unqualified",
                           artefact=f"dmp/{r.seq:04d}-iti41.http", requirements=(UNQUALIFIED,),
                           expected="aucun envoi", found=f"ITI-41 ({r.outcome}), patient {r.patient_id}"))
    segur.refused(result.get("status") == "refused" and bool(result.get("error")) and not sent,
                  "alimentation du DMP pour une identité non qualifiée",
                  "feeding the DMP for an unqualified identity", rule="DMP.INS.unqualified.refusal",
                  requirements=(UNQUALIFIED,), found=str(result.get("status")))


@pytest.mark.requirement(*REPLACE)
def test_replacement_targets_the_current_entry(candidate: Candidate, dmp_simulator: DmpSimulator,
                                               own_qualified_resident: dict[str, Any], dmp_document_type: str,
                                               segur: Recorder) -> None:
    client = _client(candidate)
    rid = str(own_qualified_resident["id"])
    first = send(client, dmp_simulator, document_for(client, rid, dmp_document_type), "dmp/replaced.http",
                 dmp_document_type)
    _evidence(segur, first)
    if first.received is None or first.received.outcome != "Success" or first.document_id is None:
        segur.not_evaluated(f"premier envoi non abouti, remplacement impossible à jouer ({first.result})",
                            "first submission failed, replacement cannot be played")
        return
    first_seq = first.received.seq
    new_id = document_for(client, rid, dmp_document_type, {"replaces": first.document_id})
    second = send(client, dmp_simulator, new_id, "dmp/replacement.http", dmp_document_type,
                  replaces=first.document_id)
    _evidence(segur, second)
    _log(segur, "replacement-answer", {"first": first.result, "second": second.result,
                                       "dmp": second.received.outcome if second.received else None})
    where = {"artefact": second.name, "requirements": REPLACE}
    if second.request is None or second.received is None:
        segur.record(error("aucune requête ITI-41 de remplacement reçue", "no replacement ITI-41 received",
                           rule="DMP.RPLC.not_sent", **where))
        return
    rplc = [a for a in (second.request.submission.associations if second.request.submission else [])
            if a.type == ns.ASSOC_RPLC]
    if not rplc:
        segur.record(error("remplacement envoyé sans association RPLC (nouveau document au lieu d'une nouvelle "
                           "version)", "replacement sent without an RPLC association", rule="DMP.RPLC.missing",
                           expected=ns.ASSOC_RPLC, found="absente", **where))
    segur.record(checks.check_replacement(second.request, second.context))
    queried = [r for r in second.extra.get("all_requests", []) if r.kind == "ITI-18"
               and r.seq < second.received.seq]
    if not queried:
        segur.record(warning("aucune requête ITI-18 avant le remplacement : entryUUID non relue dans le DMP",
                             "no ITI-18 before the replacement: entryUUID not read again from the DMP",
                             rule="DMP.RPLC.no_query", **where))
    old = [e for e in dmp_simulator.entries_of(second.received.patient_id)
           if e.submission == first_seq and not e.metadata.get("classCode", [{}])[0].get("code", "")
           .startswith("urn:oid:1.3.6.1.4.1.19376.1.2.1.1.1")]
    if second.received.outcome == "Success" and old and old[0].status != ns.STATUS_DEPRECATED:
        targeted = ", ".join(a.target for a in rplc) or "aucune association RPLC"
        segur.record(error(f"l'ancienne fiche n'a pas été remplacée dans le DMP simulé (toujours active) : entryUUID "
                           f"à remplacer {old[0].entry_uuid}, entryUUID visé par le RPLC {targeted}",
                           f"the old entry was not replaced in the simulated DMP (still approved): entryUUID to replace "
                           f"{old[0].entry_uuid}, entryUUID targeted by the RPLC {targeted}",
                           rule="DMP.RPLC.not_deprecated", expected=f"{ns.STATUS_DEPRECATED} ({old[0].entry_uuid})",
                           found=f"{old[0].status}; RPLC → {targeted}", **where))
    if second.received.outcome != "Success":
        segur.record(error(f"remplacement refusé par le DMP simulé : {second.received.outcome}",
                           f"replacement refused by the DMP simulator: {second.received.outcome}",
                           rule="DMP.RPLC.refused", **where))
