"""Identity statuses (RNIV) and the sharing rule, applied to a resident as contract v1 returns it.

Why here and not in each suite: every domain (CDA, DMP, MSSanté) must answer the same question,
"may this identity's INS leave the DUI?", and the answer is one rule: only a *qualified* identity
shares its matricule and OID (INS Règle 28, protocols.md §3.2 rule 1).

Statuses (EXI SI 07): PROV (default), RECUP (retrieved from INSi), VALI (checked against a
high-trust document), QUAL (both).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from conformance.findings import Finding, error, warning
from conformance.ins.matricule import check_matricule
from conformance.ins.traits import check_traits

PROV, RECUP, VALI, QUAL = "PROV", "RECUP", "VALI", "QUAL"
STATUSES = (PROV, RECUP, VALI, QUAL)
STATUS_LABELS = {
    PROV: ("identité provisoire", "provisional identity"),
    RECUP: ("identité récupérée", "retrieved identity"),
    VALI: ("identité validée", "validated identity"),
    QUAL: ("identité qualifiée", "qualified identity"),
}
# Contract v1 names two; RNIV lists more high-trust documents (residence permit…) [S: identito-na.fr].
HIGH_TRUST_DOCUMENTS = frozenset({"passeport", "cni"})
BLOCKING_ATTRIBUTES = frozenset({"douteuse", "fictive"})  # Règle 25: force PROV, no INSi call


def may_share_ins(status: str | None) -> bool:
    """Only a qualified identity lets the matricule INS and its OID leave the system."""
    return status == QUAL


def expected_status(*, retrieved: bool, identity_document: str | None, attributes: Sequence[str] = ()) -> str:
    """The status RNIV Règle 20 gives to an identity in this situation."""
    if set(attributes) & BLOCKING_ATTRIBUTES:
        return PROV
    validated = identity_document in HIGH_TRUST_DOCUMENTS
    if retrieved:
        return QUAL if validated else RECUP
    return VALI if validated else PROV


@dataclass(frozen=True)
class ResidentIdentity:
    """The INS view of a contract v1 ``Resident``."""

    id: str
    traits: Mapping[str, Any]
    status: str
    ins: Mapping[str, str] | None
    identity_document: str | None
    attributes: tuple[str, ...]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ResidentIdentity:
        ins = data.get("ins")
        return cls(id=str(data.get("id") or ""), traits=data.get("traits") or {}, status=str(data.get("status") or ""),
                   ins=ins if isinstance(ins, Mapping) else None,
                   identity_document=data.get("identity_document"),
                   attributes=tuple(str(a) for a in data.get("attributes") or ()))

    @property
    def matricule(self) -> str | None:
        return str(self.ins.get("matricule")) if self.ins and self.ins.get("matricule") else None

    @property
    def oid(self) -> str | None:
        return str(self.ins.get("oid")) if self.ins and self.ins.get("oid") else None


def check_resident(resident: Mapping[str, Any], *, artefact: str = "", requirements: Sequence[str] = (),
                   test_environment: bool = True, with_traits: bool = True) -> list[Finding]:
    """Coherence of one stored identity: a known status, an INS only when retrieved, valid when present,
    and (``with_traits``) the traits of a retrieved identity in INSi format."""
    ident = ResidentIdentity.from_json(resident)
    name = artefact or f"resident/{ident.id}"
    where: dict[str, Any] = {"artefact": name, "requirements": tuple(requirements)}
    out: list[Finding] = []
    if ident.status not in STATUSES:
        out.append(error("statut d'identité inconnu", "unknown identity status", rule="INS.STATUS.value",
                         expected=" | ".join(STATUSES), found=ident.status, **where))
        return out
    if set(ident.attributes) & BLOCKING_ATTRIBUTES and ident.status != PROV:
        out.append(error("identité douteuse ou fictive : le statut doit rester provisoire (Règle 25)",
                         "doubtful or fictitious identity: the status must stay provisional (Rule 25)",
                         rule="INS.STATUS.attribute", expected=PROV, found=ident.status, **where))
    retrieved = ident.status in (RECUP, QUAL)
    if ident.ins and not retrieved:
        out.append(error(f"matricule INS stocké pour une {STATUS_LABELS[ident.status][0]} : "
                         "un INS n'existe qu'après récupération par l'INSi",
                         f"matricule INS stored for a {STATUS_LABELS[ident.status][1]}: "
                         "an INS exists only once retrieved from INSi",
                         rule="INS.STATUS.ins-without-retrieval", expected="ins: null", found=str(dict(ident.ins)),
                         **where))
    if retrieved and not ident.ins:
        out.append(error(f"{STATUS_LABELS[ident.status][0]} sans matricule INS",
                         f"{STATUS_LABELS[ident.status][1]} without a matricule INS",
                         rule="INS.STATUS.retrieval-without-ins", expected="ins {matricule, oid}", found="null",
                         **where))
    if ident.ins:
        out.extend(check_matricule(ident.matricule or "", ident.oid or "", artefact=name,
                                   xpath="ins", requirements=requirements, test_environment=test_environment))
    if ident.status == QUAL and ident.identity_document not in HIGH_TRUST_DOCUMENTS:
        out.append(warning("identité qualifiée sans pièce d'identité à haut niveau de confiance enregistrée",
                           "qualified identity without a recorded high-trust identity document",
                           rule="INS.STATUS.qual-without-document", expected=" | ".join(sorted(HIGH_TRUST_DOCUMENTS)),
                           found=str(ident.identity_document), **where))
    if retrieved and with_traits:
        out.extend(check_traits(ident.traits, artefact=name, xpath="traits",
                                requirements=requirements, insi_format=True))
    return out
