"""INS suite: the candidate's identity management driven through contract v1 and the INSi simulator,
then the INS rules on every CDA document the run collects.

Behaviour scenarios (protocols.md §3.4 I1–I8) need a live sandbox and are not run in artefact mode;
the document checks run in both modes. Each test records findings; the plugin turns them into the
verdict of the requirements in its marker.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from conformance.findings import error, info, warning
from conformance.ins.cda_identity import check_cda_identity
from conformance.ins.identity import HIGH_TRUST_DOCUMENTS, PROV, QUAL, RECUP, VALI, check_resident
from conformance.ins.insi import fixtures as fx
from conformance.ins.insi.simulator import InsiSimulator, RecordedRequest
from conformance.ins.traits import compare_traits, normalise_for_matching
from conformance.plugin import skip
from conformance.sandbox.client import SandboxError, SandboxUnsupported, decode_cda
from conformance.seams import Artefact, Candidate, ContractClient, CorridorProfile, Recorder
from conformance.suites._fixtures_cda import stalled_productions

STORE = ("SC.INS/va1.01", "SC.INS/va1.30", "SC.INS/va1.56")
FILL = ("SC.INS/va1.51", "SC.INS/va1.52")
STATUSES = ("SC.INS/va1.45", "SC.INS/va1.40", "SC.INS/va1.43", "SC.INS/va1.54")
JUSTIF = ("SC.INS/va1.23", "SC.INS/va1.26", "SC.INS/va1.33", "SC.INS/va1.55")
SHARING = ("SC.INS/va1.53", "SC.INS/va1.59")


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
def _client(candidate: Candidate) -> ContractClient:
    client = candidate.require_sandbox()
    if not candidate.supports("ins"):
        skip("le candidat ne déclare pas la fonction INS (features.ins)",
             "the candidate does not declare the INS function (features.ins)")
    return client


def _calls_for(sim: InsiSimulator, since: int, traits: dict[str, Any]) -> list[RecordedRequest]:
    """The simulator requests made since ``since`` for this person (matched by birth name)."""
    name = normalise_for_matching(str(traits.get("birth_name") or ""))
    return [r for r in sim.requests_since(since)
            if normalise_for_matching(str(r.traits.get("birth_name") or "")) == name]


class Run:
    """One resident created and qualified through the contract, with what the simulator saw."""

    def __init__(self, segur: Recorder, client: ContractClient, sim: InsiSimulator, body: dict[str, Any], label: str) -> None:
        self.segur, self.client, self.sim, self.body, self.label = segur, client, sim, body, label
        self.created: dict[str, Any] = {}
        self.result: dict[str, Any] = {}
        self.resident: dict[str, Any] = {}
        self.calls: list[RecordedRequest] = []
        self.refused_status: int | None = None

    def create(self) -> Run:
        self.created = self.client.create_resident(self.body)
        return self

    def qualify(self) -> Run:
        since = self.sim.last_index
        try:
            self.result = self.client.qualify(str(self.created["id"]))
        except SandboxUnsupported:
            raise
        except SandboxError as exc:
            if exc.status is not None and 400 <= exc.status < 500:
                self.refused_status = exc.status  # an explicit refusal (e.g. doubtful identity)
                self.result = {"outcome": "refused", "message": exc.message}
            elif exc.status is not None and exc.status >= 500:
                self.segur.record(error(
                    f"{self.label} : le candidat a échoué (HTTP {exc.status}) au lieu de traiter la réponse INSi",
                    f"{self.label}: the candidate failed (HTTP {exc.status}) instead of handling the INSi answer",
                    rule="INS.BEHAVIOUR.crash", artefact=f"resident/{self.created.get('id')}",
                    expected="réponse 200 avec un résultat", found=exc.message[:200]))
                self.result = {"outcome": "crash", "message": exc.message}
            else:
                raise
        self.resident = self.client.get_resident(str(self.created["id"]))
        self.calls = _calls_for(self.sim, since, self.body.get("traits") or {})
        self._evidence()
        return self

    def _evidence(self) -> None:
        rid = self.created.get("id", "?")
        for call in self.calls:
            self.segur.evidence(f"{rid}-{call.artefact.replace('/', '-')}", call.body, kind="Log",
                                description=f"requête INSi reçue par le simulateur ({call.outcome})")
        self.segur.evidence(f"{rid}-resident.json", json.dumps(
            {"created": self.created, "qualify": self.result, "resident": self.resident}, ensure_ascii=False,
            indent=2), kind="Log", description=f"{self.label} : résident et résultat de qualification")

    @property
    def artefact(self) -> str:
        return f"resident/{self.created.get('id')}"

    @property
    def outcome(self) -> str:
        return str(self.result.get("outcome") or "")


def _expect(segur: Recorder, ok: bool, fr: str, en: str, **kw: Any) -> None:
    segur.record(info(fr, en, **kw) if ok else error(fr, en, **kw))


def _no_ins_stored(segur: Recorder, run: Run, why: str, why_en: str, requirements: tuple[str, ...]) -> None:
    ins = run.resident.get("ins")
    _expect(segur, not ins, f"{why} : aucun INS ne doit être enregistré", f"{why_en}: no INS may be stored",
            rule="INS.BEHAVIOUR.no-ins", artefact=run.artefact, expected="ins: null", found=json.dumps(ins),
            requirements=requirements)


def _clear_message(segur: Recorder, run: Run, what: str, what_en: str, requirements: tuple[str, ...]) -> None:
    message = str(run.result.get("message") or "").strip() or str(run.resident.get("last_error") or "").strip()
    _expect(segur, len(message) >= 10, f"{what} : message clair à l'utilisateur", f"{what_en}: clear user message",
            rule="INS.BEHAVIOUR.message", artefact=run.artefact, expected="message explicite",
            found=message[:200] or "(vide)", requirements=requirements)


def _require_call(segur: Recorder, run: Run, requirements: tuple[str, ...]) -> None:
    if not run.calls:
        segur.record(error("le candidat n'a pas appelé le simulateur INSi", "the candidate did not call the INSi simulator",
                           rule="INS.BEHAVIOUR.no-call", artefact=run.artefact, expected="≥ 1 requête INSi",
                           found="0", requirements=requirements))


# ---------------------------------------------------------------------------------------------
# I1: the request itself
# ---------------------------------------------------------------------------------------------
@pytest.mark.requirement("SC.INS/va1.34")
def test_insi_search_request_conforms(segur: Recorder, candidate: Candidate, insi_simulator: InsiSimulator) -> None:
    """SOAP 1.2, WS-Addressing, ContexteBAM/ContexteLPS and traits in INSi format (I1)."""
    client = _client(candidate)
    run = Run(segur, client, insi_simulator, fx.identity("corse_2a").resident_body(), "recherche par traits")
    run.create().qualify()
    _require_call(segur, run, ("SC.INS/va1.34",))
    for call in run.calls:
        segur.record(f for f in call.findings)


# ---------------------------------------------------------------------------------------------
# I2, I5, I6: what is stored after CR 00
# ---------------------------------------------------------------------------------------------
@pytest.mark.requirement(*STORE, *FILL)
def test_identity_stored_exactly_as_returned(segur: Recorder, candidate: Candidate, insi_simulator: InsiSimulator) -> None:
    """Traits typed loosely by a user are replaced by the TIQ, character for character (I2)."""
    client = _client(candidate)
    ident = fx.identity("qualifiable")
    typed = dict(ident.traits(), birth_name="D'ESSAI LAFONTAINE", given_names=["MARIE-CLAIRE"])
    body = ident.resident_body(identity_document="passeport", traits=typed)
    body.update(used_name="LAFONTAINE", used_given_name="MARIE")
    run = Run(segur, client, insi_simulator, body, "identité qualifiable").create().qualify()
    _require_call(segur, run, STORE)
    _expect(segur, run.outcome == "found", "CR 00 : identité trouvée", "CR 00: identity found",
            rule="INS.BEHAVIOUR.outcome", artefact=run.artefact, expected="found", found=run.outcome)
    stored = run.resident
    ins = stored.get("ins") or {}
    _expect(segur, ins.get("matricule") == ident.matricule and ins.get("oid") == ident.oid,
            "matricule INS et OID enregistrés tels que renvoyés (INSACTIF)",
            "matricule INS and OID stored as returned (INSACTIF)", rule="INS.STORE.ins", artefact=run.artefact,
            expected=f"{ident.oid} / {ident.matricule}", found=f"{ins.get('oid')} / {ins.get('matricule')}",
            requirements=STORE)
    segur.record(compare_traits(stored.get("traits") or {}, ident.traits(), artefact=run.artefact,
                                requirements=STORE + FILL))
    segur.record(check_resident(stored, artefact=run.artefact, requirements=STORE + FILL))
    for key, sent in (("used_name", "LAFONTAINE"), ("used_given_name", "MARIE")):
        if key not in stored:
            segur.record(warning(f"{key} non exposé par le candidat : conservation non vérifiable",
                                 f"{key} not exposed by the candidate: retention not verifiable",
                                 rule="INS.STORE.used", artefact=run.artefact, expected=sent, found="absent"))
        else:
            _expect(segur, stored.get(key) == sent, f"{key} (nom/prénom utilisé) conservé",
                    f"{key} (used name) kept", rule="INS.STORE.used", artefact=run.artefact, expected=sent,
                    found=str(stored.get(key)), requirements=STORE)


@pytest.mark.requirement(*STORE, *FILL)
def test_corrupted_key_is_rejected(segur: Recorder, candidate: Candidate, insi_simulator: InsiSimulator) -> None:
    """INSi answers CR 00 with a wrong key: the candidate must refuse the INS (I5)."""
    client = _client(candidate)
    ident = fx.identity("cle_corrompue")
    run = Run(segur, client, insi_simulator, ident.resident_body(identity_document="passeport"),
              "clé corrompue").create().qualify()
    _require_call(segur, run, STORE)
    ins = run.resident.get("ins")
    segur.refused(not ins and run.outcome != "found",
                  "matricule INS à la clé invalide renvoyé par l'INSi (identité non importée)",
                  "matricule INS with an invalid key returned by INSi (identity not imported)",
                  rule="INS.BEHAVIOUR.corrupted-key", artefact=run.artefact,
                  found=f"outcome={run.outcome}, ins={json.dumps(ins)}", requirements=STORE)
    _expect(segur, run.resident.get("status") not in (RECUP, QUAL), "statut inchangé après un INS rejeté",
            "status unchanged after a rejected INS", rule="INS.BEHAVIOUR.status", artefact=run.artefact,
            expected="PROV | VALI", found=str(run.resident.get("status")), requirements=STORE)


@pytest.mark.requirement(*STORE, *FILL)
def test_insactif_used_not_inshisto(segur: Recorder, candidate: Candidate, insi_simulator: InsiSimulator) -> None:
    """INSi returns an INSHISTO beside the INSACTIF: only the active matricule is the INS (I6)."""
    client = _client(candidate)
    ident = fx.identity("historique")
    run = Run(segur, client, insi_simulator, ident.resident_body(identity_document="passeport"),
              "INSHISTO").create().qualify()
    _require_call(segur, run, STORE)
    ins = run.resident.get("ins") or {}
    histo = {h.matricule for h in ident.histo}
    if ins.get("matricule") in histo:
        segur.record(error("le matricule historique (INSHISTO) a été retenu au lieu de l'INSACTIF",
                           "the historical matricule (INSHISTO) was kept instead of INSACTIF",
                           rule="INS.STORE.inshisto", artefact=run.artefact, expected=ident.matricule,
                           found=str(ins.get("matricule")), requirements=STORE))
    else:
        _expect(segur, ins.get("matricule") == ident.matricule and ins.get("oid") == ident.oid,
                "INSACTIF retenu comme matricule INS", "INSACTIF kept as the matricule INS",
                rule="INS.STORE.insactif", artefact=run.artefact, expected=f"{ident.oid} / {ident.matricule}",
                found=f"{ins.get('oid')} / {ins.get('matricule')}", requirements=STORE)


@pytest.mark.requirement("SC.INS/va1.28")
def test_partial_birth_date_not_imported(segur: Recorder, candidate: Candidate, insi_simulator: InsiSimulator) -> None:
    """INSi returns a birth date with day and month 00 (I8, Règle 11): no crash, no INS imported."""
    client = _client(candidate)
    ident = fx.identity("date_partielle")
    run = Run(segur, client, insi_simulator, ident.resident_body(), "date partielle").create().qualify()
    _require_call(segur, run, ("SC.INS/va1.28",))
    _no_ins_stored(segur, run, "date de naissance partielle (Règle 11)", "partial birth date (Rule 11)",
                   ("SC.INS/va1.28",))
    stored_date = str((run.resident.get("traits") or {}).get("birth_date") or "")
    segur.record(warning(
        "date de naissance conservée après une date partielle : transformation RNIV non confirmée, à revoir",
        "birth date kept after a partial date: RNIV transform unconfirmed, to be reviewed",
        rule="INS.BEHAVIOUR.partial-date-form", artefact=run.artefact, expected="règle RNIV (non confirmée)",
        found=stored_date))


@pytest.mark.requirement("SC.INS/va1.31")
def test_empty_traits_not_imported(segur: Recorder, candidate: Candidate, insi_simulator: InsiSimulator) -> None:
    """INSi returns an empty birth name (Règle 12): no INS imported, a clear message."""
    client = _client(candidate)
    run = Run(segur, client, insi_simulator, fx.identity("traits_vides").resident_body(),
              "trait vide").create().qualify()
    _require_call(segur, run, ("SC.INS/va1.31",))
    _no_ins_stored(segur, run, "nom de naissance vide renvoyé (Règle 12)", "empty birth name returned (Rule 12)",
                   ("SC.INS/va1.31",))
    _expect(segur, (run.resident.get("traits") or {}).get("birth_name") not in ("", None),
            "le nom de naissance saisi n'est pas écrasé par une valeur vide",
            "the typed birth name is not overwritten by an empty value", rule="INS.BEHAVIOUR.empty-trait",
            artefact=run.artefact, expected="nom conservé", found=str((run.resident.get("traits") or {}).get("birth_name")),
            requirements=("SC.INS/va1.31",))


# ---------------------------------------------------------------------------------------------
# I3, I4: CR 01 / 02, faults and timeouts; statuses
# ---------------------------------------------------------------------------------------------
@pytest.mark.requirement(*FILL, *STATUSES)
@pytest.mark.parametrize("case", ["cr01", "cr02"])
def test_no_ins_stored_when_not_found_or_ambiguous(segur: Recorder, candidate: Candidate, insi_simulator: InsiSimulator,
                                                   case: str) -> None:
    """CR 01 / CR 02: no INS, PROV (or VALI with a document) kept, the user is told what to do (I3)."""
    client = _client(candidate)
    if case == "cr01":
        body = {"traits": dict(fx.NOT_FOUND_TRAITS), "identity_document": "passeport"}
        expected_outcome = "not_found"
    else:
        # two invented homonyms share name, date, sex and birthplace; only their second given names differ
        ident = fx.identity("homonyme_1")
        body = ident.resident_body(traits=dict(ident.traits(), given_names=["LOUIS"]))
        expected_outcome = "ambiguous"
    run = Run(segur, client, insi_simulator, body, case.upper()).create().qualify()
    _require_call(segur, run, FILL)
    _expect(segur, run.outcome == expected_outcome, f"{case.upper()} : résultat {expected_outcome}",
            f"{case.upper()}: outcome {expected_outcome}", rule="INS.BEHAVIOUR.outcome", artefact=run.artefact,
            expected=expected_outcome, found=run.outcome, requirements=FILL)
    _no_ins_stored(segur, run, case.upper(), case.upper(), FILL)
    _clear_message(segur, run, case.upper(), case.upper(), FILL)
    status = run.resident.get("status")
    has_doc = body.get("identity_document") in HIGH_TRUST_DOCUMENTS
    _expect(segur, status in (PROV, VALI), f"{case.upper()} : statut provisoire ou validé conservé",
            f"{case.upper()}: provisional or validated status kept", rule="INS.STATUS.after-miss",
            artefact=run.artefact, expected="PROV | VALI", found=str(status), requirements=STATUSES)
    if has_doc and status == PROV:
        segur.record(warning("pièce d'identité à haut niveau de confiance enregistrée mais statut PROV (VALI attendu)",
                             "high-trust identity document recorded but status PROV (VALI expected)",
                             rule="INS.STATUS.vali", artefact=run.artefact, expected=VALI, found=PROV))


@pytest.mark.requirement(*STATUSES)
@pytest.mark.parametrize("case", ["faute", "delai"])
def test_fault_or_timeout_reported_without_status_change(segur: Recorder, candidate: Candidate,
                                                         insi_simulator: InsiSimulator, case: str) -> None:
    """SOAP fault siram/desir, or no answer in time: a clear error, no INS, no status change (I4)."""
    client = _client(candidate)
    run = Run(segur, client, insi_simulator, fx.identity(case).resident_body(), case).create()
    before = client.get_resident(str(run.created["id"]))
    run.qualify()
    _require_call(segur, run, STATUSES)
    _expect(segur, run.outcome in ("error", "refused"), "erreur INSi signalée comme une erreur",
            "INSi error reported as an error", rule="INS.BEHAVIOUR.outcome", artefact=run.artefact,
            expected="error", found=run.outcome, requirements=STATUSES)
    _clear_message(segur, run, "erreur INSi", "INSi error", STATUSES)
    _no_ins_stored(segur, run, "erreur INSi", "INSi error", STATUSES)
    _expect(segur, run.resident.get("status") == before.get("status"), "aucun changement de statut",
            "no status change", rule="INS.BEHAVIOUR.status", artefact=run.artefact,
            expected=str(before.get("status")), found=str(run.resident.get("status")), requirements=STATUSES)
    _expect(segur, run.resident.get("traits") == before.get("traits"), "traits inchangés", "traits unchanged",
            rule="INS.BEHAVIOUR.traits", artefact=run.artefact, expected="inchangés",
            found="modifiés" if run.resident.get("traits") != before.get("traits") else "inchangés",
            requirements=STATUSES)


@pytest.mark.requirement(*STATUSES, *JUSTIF)
def test_status_lifecycle(segur: Recorder, candidate: Candidate, insi_simulator: InsiSimulator) -> None:
    """PROV by default; RECUP after INSi; QUAL with a high-trust document too (Règle 20)."""
    client = _client(candidate)
    plain = Run(segur, client, insi_simulator, fx.identity("corse_2b").resident_body(), "sans pièce").create()
    _expect(segur, plain.created.get("status") == PROV and not plain.created.get("ins"),
            "statut provisoire par défaut, sans INS", "provisional status by default, no INS",
            rule="INS.STATUS.default", artefact=plain.artefact, expected=PROV,
            found=str(plain.created.get("status")), requirements=STATUSES)
    plain.qualify()
    _require_call(segur, plain, STATUSES)
    _expect(segur, plain.resident.get("status") == RECUP, "CR 00 sans pièce d'identité : statut récupérée",
            "CR 00 without an identity document: retrieved status", rule="INS.STATUS.recup",
            artefact=plain.artefact, expected=RECUP, found=str(plain.resident.get("status")), requirements=STATUSES)

    doc = Run(segur, client, insi_simulator, fx.identity("ne_etranger").resident_body(identity_document="cni"),
              "avec CNI").create()
    status = doc.created.get("status")
    _expect(segur, status in (PROV, VALI) and not doc.created.get("ins"),
            "création avec pièce d'identité : statut provisoire ou validé, sans INS",
            "creation with an identity document: provisional or validated status, no INS",
            rule="INS.STATUS.created-with-document", artefact=doc.artefact, expected=VALI, found=str(status),
            requirements=STATUSES + JUSTIF)
    if status == PROV:
        segur.record(warning("pièce d'identité à haut niveau de confiance enregistrée mais statut PROV (VALI attendu)",
                             "high-trust identity document recorded but status PROV (VALI expected)",
                             rule="INS.STATUS.vali", artefact=doc.artefact, expected=VALI, found=PROV))
    doc.qualify()
    _expect(segur, doc.resident.get("status") == QUAL, "CR 00 et pièce d'identité : statut qualifiée",
            "CR 00 and an identity document: qualified status", rule="INS.STATUS.qual", artefact=doc.artefact,
            expected=QUAL, found=str(doc.resident.get("status")), requirements=STATUSES + JUSTIF)
    for run in (plain, doc):
        segur.record(check_resident(run.resident, artefact=run.artefact, requirements=STATUSES, with_traits=False))


@pytest.mark.requirement("SC.INS/va1.20", "SC.INS/va1.44")
@pytest.mark.parametrize("attribute", ["douteuse", "fictive"])
def test_doubtful_or_fictitious_identity_never_calls_insi(segur: Recorder, candidate: Candidate,
                                                          insi_simulator: InsiSimulator, attribute: str) -> None:
    """Règle 25: the attribute forces PROV and forbids any INSi call; the simulator must see nothing."""
    client = _client(candidate)
    ident = fx.identity("outre_mer")
    run = Run(segur, client, insi_simulator, ident.resident_body(identity_document="passeport",
                                                                 attributes=(attribute,)), attribute).create()
    run.qualify()
    reqs = ("SC.INS/va1.20", "SC.INS/va1.44")
    _expect(segur, not run.calls, f"identité {attribute} : aucun appel au téléservice INSi",
            f"{attribute} identity: no call to the INSi teleservice", rule="INS.BEHAVIOUR.blocked-call",
            artefact=run.artefact, expected="0 requête", found=f"{len(run.calls)} requête(s)", requirements=reqs)
    _expect(segur, run.resident.get("status") == PROV, f"identité {attribute} : statut provisoire",
            f"{attribute} identity: provisional status", rule="INS.STATUS.attribute", artefact=run.artefact,
            expected=PROV, found=str(run.resident.get("status")), requirements=reqs)
    _no_ins_stored(segur, run, f"identité {attribute}", f"{attribute} identity", reqs)


@pytest.mark.requirement("SC.INS/va1.21", "SC.INS/va1.22")
def test_resident_creation_requires_the_strict_traits(segur: Recorder, candidate: Candidate) -> None:
    """Règle 5: creation needs the mandatory traits and nothing else."""
    client = _client(candidate)
    base = fx.identity("corse_2a").traits()
    reqs = ("SC.INS/va1.21", "SC.INS/va1.22")
    for field, label in (("birth_name", "nom de naissance"), ("given_names", "prénoms"),
                         ("birth_date", "date de naissance"), ("sex", "sexe")):
        traits = {k: v for k, v in base.items() if k != field}
        try:
            created = client.create_resident({"traits": traits})
            refused = False
        except SandboxUnsupported:
            raise
        except SandboxError as exc:
            created, refused = {}, exc.status is not None and 400 <= exc.status < 500
        segur.refused(refused, f"création d'un résident sans {label}", f"creating a resident without {field}",
                      rule="INS.CREATE.mandatory", artefact="POST /residents", requirements=reqs,
                      found=f"créé : {created.get('id')}" if created else "erreur serveur")
    created = client.create_resident({"traits": base})
    _expect(segur, bool(created.get("id")), "création acceptée avec les seuls traits",
            "creation accepted with the traits only", rule="INS.CREATE.minimal", artefact="POST /residents",
            expected="201 Resident", found=str(created.get("id")), requirements=reqs)


# ---------------------------------------------------------------------------------------------
# I7: the INS in documents
# ---------------------------------------------------------------------------------------------
def _document_types(candidate: Candidate, profile: CorridorProfile) -> list[str]:
    declared = candidate.document_types()
    wanted = [t for t in declared if t in set(getattr(profile, "document_types", ()) or declared)]
    return wanted or declared


@pytest.mark.requirement(*SHARING)
def test_no_ins_in_documents_of_unqualified_identities(segur: Recorder, candidate: Candidate, segur_profile: CorridorProfile,
                                                        insi_simulator: InsiSimulator) -> None:
    """Règle 28: a PROV or RECUP resident's documents carry the traits but no matricule INS or OID."""
    client = _client(candidate)
    types = _document_types(candidate, segur_profile)
    if not types:
        skip("le candidat ne déclare aucun type de document", "the candidate declares no document type")
    prov = Run(segur, client, insi_simulator, fx.identity("corse_2a").resident_body(), "PROV").create()
    prov.resident = client.get_resident(str(prov.created["id"]))
    recup = Run(segur, client, insi_simulator, fx.identity("corse_2b").resident_body(), "RECUP").create().qualify()
    checked = 0
    for run in (prov, recup):
        if run.resident.get("status") == QUAL:
            continue  # nothing to prove with a qualified resident here
        for doc_type in types:
            try:
                doc = client.create_document(str(run.created["id"]), doc_type)
            except SandboxUnsupported:
                continue
            cda = decode_cda(doc)
            name = f"cda/{run.resident.get('status')}-{doc_type}-{doc.get('id')}.xml"
            segur.evidence(name.replace("/", "-"), cda, kind="Document CDA",
                           description=f"document {doc_type} d'un résident {run.resident.get('status')}")
            segur.record(check_cda_identity(cda, name, resident=run.resident, test_environment=True,
                                            requirements=SHARING))
            checked += 1
    if not checked and not segur.errors:
        segur.not_evaluated("aucun document obtenu pour un résident non qualifié : Règle 28 non vérifiée",
                            "no document obtained for an unqualified resident: Rule 28 not checked")


def _collected_documents(request: pytest.FixtureRequest, candidate: Candidate, segur_profile: CorridorProfile) -> list[Artefact]:
    """The CDA colleague's ``cda_documents`` when present; otherwise our own (artefact folder or sandbox)."""
    try:
        return list(request.getfixturevalue("cda_documents"))
    except pytest.FixtureLookupError:
        pass
    if candidate.mode != "sandbox":
        return list(candidate.files("cda"))
    client = candidate.require_sandbox()  # sandbox mode: never skips
    resident = request.getfixturevalue("qualified_resident")
    out: list[Artefact] = []
    for doc_type in _document_types(candidate, segur_profile):
        try:
            doc = client.create_document(str(resident["id"]), doc_type)
        except SandboxUnsupported:
            continue
        out.append(Artefact(f"cda/{doc_type}-{doc.get('id')}.xml", decode_cda(doc), "cda",
                            {"resident_id": resident["id"], "type": doc_type}))
    return out


@pytest.mark.requirement(*SHARING)
def test_ins_in_every_collected_document(segur: Recorder, request: pytest.FixtureRequest, candidate: Candidate,
                                         segur_profile: CorridorProfile) -> None:
    """Every CDA of the run: INS root and key valid, traits present with BR/CL qualifiers, and for a
    known resident no INS unless qualified, the INS and traits equal to what the candidate stored."""
    documents = _collected_documents(request, candidate, segur_profile)
    if not documents:
        skip("aucun document CDA collecté", "no CDA document collected")
    stalled = stalled_productions(documents)
    if stalled:
        segur.not_evaluated(*stalled)
    residents: dict[str, dict[str, Any]] = {}
    for doc in documents:
        name = getattr(doc, "name", "document")
        if getattr(doc, "problem", ""):
            segur.record(error(f"document illisible : {doc.problem}", f"unreadable document: {doc.problem}",
                               rule="INS.CDA.read", artefact=name, requirements=SHARING))
            continue
        resident = None
        rid = (getattr(doc, "meta", None) or {}).get("resident_id")
        client = candidate.client
        if rid and client is not None:
            if rid not in residents:
                try:
                    residents[rid] = client.get_resident(str(rid))
                except SandboxError:
                    residents[rid] = {}
            resident = residents[rid] or None
        segur.record(check_cda_identity(doc.data, name, resident=resident,
                                        test_environment=candidate.mode == "sandbox", requirements=SHARING))

