"""Session fixtures of the INS suite, also used by the CDA, DMP and MSSanté suites.

``insi_simulator`` starts the INSi simulator once and gives its URL to the candidate (PUT /endpoints);
``qualified_resident`` makes the candidate qualify one invented identity, so every other suite has a
resident whose INS it may share. When the candidate cannot qualify it, the dependent tests are *not
evaluated* (never passed): a CDA check on a resident that is not qualified would prove nothing.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest

from conformance.findings import NotEvaluated
from conformance.ins.insi import fixtures as insi_fixtures
from conformance.ins.insi.simulator import InsiSimulator
from conformance.plugin import skip
from conformance.sandbox.client import SandboxError, SandboxUnsupported
from conformance.seams import Candidate

# Our simulator holds a "timeout" request this long; the candidate is asked (through the optional
# endpoint key timeout_s) to give up earlier. A candidate that ignores timeout_s gets a 504 fault at
# the end of the delay, which it must report as an error too.
SIMULATOR_TIMEOUT_DELAY_S = 3.0
CANDIDATE_TIMEOUT_S = 1.0
QUALIFIED_IDENTITY = "qualifiable"


@pytest.fixture(scope="session")
def insi_simulator(candidate: Candidate) -> Iterator[InsiSimulator]:
    """The INSi simulator, started once; in sandbox mode the candidate is told to use it."""
    with InsiSimulator(timeout_delay=SIMULATOR_TIMEOUT_DELAY_S) as sim:
        client = candidate.client
        if client is not None:
            try:
                try:
                    client.set_endpoints({"insi": {"url": sim.url, "timeout_s": CANDIDATE_TIMEOUT_S}})
                except SandboxError as exc:
                    if isinstance(exc, SandboxUnsupported) or exc.status not in (400, 422):
                        raise
                    client.set_endpoints({"insi": {"url": sim.url}})  # strict schema: url only
            except SandboxUnsupported:
                skip("le candidat ne permet pas de configurer le téléservice INSi (PUT /endpoints)",
                     "the candidate does not let the INSi teleservice be configured (PUT /endpoints)")
            except SandboxError as exc:
                raise NotEvaluated(f"configuration du simulateur INSi refusée : {exc.message}",
                                   f"INSi simulator configuration refused: {exc.message_en}") from None
        yield sim


def _qualify(candidate: Candidate, ident: insi_fixtures.InsiIdentity, who_fr: str, who_en: str) -> dict[str, Any]:
    """Have the candidate create and qualify ``ident``; the resident as ``GET /residents/{id}`` (status QUAL).

    Not supported → skip; refused or not qualified → not evaluated (the dependants' prerequisite failed)."""
    client = candidate.require_sandbox()
    if not candidate.supports("ins"):
        skip("le candidat ne déclare pas la fonction INS (features.ins)",
             "the candidate does not declare the INS function (features.ins)")
    try:
        created = client.create_resident(ident.resident_body(identity_document="passeport"))
        result = client.qualify(str(created["id"]))
        resident = client.get_resident(str(created["id"]))
    except SandboxUnsupported as exc:
        skip(f"qualification INS non prise en charge par le candidat : {exc.message}",
             f"INS qualification not supported by the candidate: {exc.message_en}")
    except SandboxError as exc:
        raise NotEvaluated(f"qualification du {who_fr} impossible : {exc.message}",
                           f"could not qualify {who_en}: {exc.message_en}") from None
    if resident.get("status") != "QUAL" or not resident.get("ins"):
        raise NotEvaluated(
            f"le candidat n'a pas qualifié le {who_fr} (résultat {result.get('outcome')!r}, statut "
            f"{resident.get('status')!r}) : prérequis en échec (qualification INS), les contrôles qui exigent une "
            "identité qualifiée ne peuvent pas s'exécuter",
            f"the candidate did not qualify {who_en} (outcome {result.get('outcome')!r}, status "
            f"{resident.get('status')!r}): failed prerequisite (INS qualification), checks that need a qualified "
            "identity cannot run")
    return resident


@pytest.fixture(scope="session")
def qualified_resident(candidate: Candidate, insi_simulator: InsiSimulator) -> dict[str, Any]:
    """A resident the candidate qualified (status QUAL, INS from the simulator), shared by the run's suites."""
    return _qualify(candidate, insi_fixtures.identity(QUALIFIED_IDENTITY), "résident de test", "the test resident")


_OWN_IDENTITIES = itertools.count()


@pytest.fixture()
def own_qualified_resident(candidate: Candidate, insi_simulator: InsiSimulator) -> dict[str, Any]:
    """A resident of this test alone, qualified by the candidate: its own person and INS, so that what the
    simulators receive for it is attributable to this test (and a retry of an earlier test's send is not)."""
    ident = insi_simulator.register(insi_fixtures.numbered(next(_OWN_IDENTITIES)))
    return _qualify(candidate, ident, "résident propre au test", "this test's own resident")
