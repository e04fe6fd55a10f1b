"""Helpers of the MSSanté suite (conformance/suites/test_mss.py): evidence of a capture, its send problems,
running one message check of profiles/mss/rules.yaml over every capture, the simulator's log."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from conformance.findings import Finding, NotEvaluated, error, warning
from conformance.mss import rules as mr
from conformance.mss.checks import Inspected, inspect
from conformance.mss.simulator import MssSimulator
from conformance.plugin import skip
from conformance.seams import Candidate, ContractClient, Recorder
from conformance.suites._fixtures_mss import MssCapture, mss_document_types


def _evidence(segur: Recorder, capture: MssCapture) -> None:
    if capture.raw:
        segur.evidence(capture.name.replace("/", "-"), capture.raw, kind="Source SMTP",
                       description=f"message {capture.kind} du document {capture.document_id or capture.name}")


def _problem(segur: Recorder, capture: MssCapture, requirements: tuple[str, ...]) -> bool:
    """True when a capture has nothing to check (the send itself failed).

    A message that never reached the operator is the failure of the send (DUI.MSS.01, test_tls_always),
    not of the message requirements: those are "not evaluated" for it (see ``_each``). A message received
    while the candidate reports a failure is a finding here.
    """
    if capture.problem and not capture.raw:
        if capture.kind == "artefact":  # the candidate's own file is unreadable: that is its finding
            segur.record(error(f"{capture.name} : {capture.problem}", f"{capture.name}: {capture.problem_en or capture.problem}",
                               rule="MSS.ARTEFACT.unreadable", artefact=capture.name, requirements=requirements))
        return True
    if capture.problem:
        segur.record(error(f"{capture.name} : {capture.problem}", f"{capture.name}: {capture.problem_en or capture.problem}",
                           rule="MSS.SEND.status", artefact=capture.name, requirements=requirements,
                           found=json.dumps(capture.outcome, ensure_ascii=False)[:200]))
    return False


def _not_sent(captures: list[MssCapture]) -> tuple[str, str]:
    """Why no message could be checked, naming the failed prerequisite (the send, and STARTTLS when refused)."""
    first = next((c for c in captures if c.problem and not c.raw), None)
    problem = first.problem if first else "aucun envoi"
    problem_en = (first.problem_en or first.problem) if first else "no send"
    blocker = first.blocker if first else ""
    if blocker and blocker != "DUI.MSS.01.01.01":
        pre = f"prérequis en échec : envoi du message ({blocker})"
        pre_en = f"failed prerequisite: sending the message ({blocker})"
    else:
        tls = "STARTTLS" in problem or "TLS" in problem
        pre = "prérequis en échec : envoi du message (DUI.MSS.01" + (", STARTTLS" if tls else "") + ")"
        pre_en = "failed prerequisite: sending the message (DUI.MSS.01" + (", STARTTLS" if tls else "") + ")"
    return (f"aucun message reçu à vérifier — {pre} ; {first.name if first else ''} : {problem}",
            f"no received message to check — {pre_en}; {first.name if first else ''}: {problem_en}")


def _each(segur: Recorder, captures: list[MssCapture], name: str, check: Callable[[Inspected], list[Finding]] | None = None,
          *, kinds: tuple[str, ...] = ("pro", "patient", "artefact")) -> int:
    """Run the message check ``name`` of profiles/mss/rules.yaml (or ``check`` in its name) on every capture of
    the given kinds; return how many were checked."""
    requirements = mr.requirements(name)
    check = check or mr.REGISTRY[name]
    checked = 0
    missing: list[MssCapture] = []
    for capture in captures:
        if capture.kind not in kinds:
            continue
        _evidence(segur, capture)
        if _problem(segur, capture, requirements):
            if capture.kind != "artefact":
                missing.append(capture)
            continue
        segur.record(check(inspect(capture.raw, capture.name, capture.ctx)))
        checked += 1
    if missing and not checked:
        raise NotEvaluated(*_not_sent(missing))
    for capture in missing:
        segur.record(warning(f"{capture.name} : non vérifié, message non reçu ({capture.problem})",
                             f"{capture.name}: not checked, message not received ({capture.problem_en or capture.problem})",
                             rule="MSS.SEND.missing", artefact=capture.name, requirements=requirements))
    return checked


def _need_messages(captures: list[MssCapture]) -> None:
    if not captures:
        skip("aucun message MSSanté à vérifier (mss/*.eml absent)", "no MSSanté message to check (no mss/*.eml)")


def _sandbox(candidate: Candidate) -> ContractClient:
    client = candidate.require_sandbox()
    if not candidate.supports("mss"):
        skip("le candidat ne déclare pas la fonction MSSanté (features.mss)",
             "the candidate does not declare the MSSanté function (features.mss)")
    return client


def _doc_for(request: pytest.FixtureRequest, candidate: Candidate, client: ContractClient) -> tuple[str, dict[str, Any]]:
    """A fresh document of the qualified resident (behaviour scenarios send it)."""
    resident = request.getfixturevalue("qualified_resident")
    types = mss_document_types(candidate, [])
    if not types:
        skip("le candidat ne déclare aucun type de document", "the candidate declares no document type")
    doc = client.create_document(str(resident["id"]), types[0])
    return str(doc["id"]), resident


def _sim_log(segur: Recorder, sim: MssSimulator, name: str, since: int = 0) -> None:
    data = {"connections": [c.to_json() for c in sim.connections[since:]],
            "messages": [m.envelope_json() for m in sim.messages],
            "notifications": sim.notifications()}
    segur.evidence(name, json.dumps(data, ensure_ascii=False, indent=1, default=str), kind="Log",
                   description="journal du simulateur d'opérateur MSSanté")


def _connections(captures: list[MssCapture]) -> list[dict[str, Any]]:
    seen: dict[int, dict[str, Any]] = {}
    for capture in captures:
        if capture.received is not None:
            seen[capture.received.connection.id] = capture.received.connection.to_json()
    return list(seen.values())


def _only(findings: list[Finding], requirement: str) -> list[Finding]:
    return [f for f in findings if requirement in f.requirements]
