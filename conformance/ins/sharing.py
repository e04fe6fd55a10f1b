"""Where else the INS travels: XDS/VIHF patient ids (CX) and the patient's MSSanté address.

Why in the INS room: the DMP and MSSanté suites each see the INS in their own wrapping, but the rule
is the INS rule (protocols.md §3.4 I7, Règle 28): the same matricule and OID as the CDA recordTarget,
a valid key, and only for a qualified identity. One function per wrapping keeps the two suites from
writing it twice.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from conformance.findings import Finding, error
from conformance.ins.matricule import check_matricule

PATIENT_MAIL_DOMAIN = "patient.mssante.fr"
_CX = re.compile(r"(?P<id>[^\^]*)\^\^\^&(?P<oid>[0-9.]+)&ISO\^(?P<type>[A-Z]+)")


def expected_patient_cx(matricule: str, oid: str) -> str:
    """``matricule^^^&OID&ISO^NH``: the XDS patientId / VIHF resource-id of an INS."""
    return f"{matricule}^^^&{oid}&ISO^NH"


def check_patient_cx(value: str, cda_ins: tuple[str, str] | None, *, what: str = "patientId",
                     artefact: str = "", xpath: str = "", line: int | None = None,
                     requirements: Sequence[str] = (), test_environment: bool = False) -> list[Finding]:
    """A CX patient id carrying an INS: well formed, valid key, equal to the CDA recordTarget INS."""
    where: dict[str, Any] = {"artefact": artefact, "xpath": xpath, "line": line,
                             "requirements": tuple(requirements)}
    m = _CX.fullmatch(value or "")
    if not m:
        return [error(f"{what} hors de la forme CX matricule^^^&OID&ISO^NH", f"{what} not of the CX form "
                      "matricule^^^&OID&ISO^NH", rule="INS.CX.format", expected="matricule^^^&OID&ISO^NH",
                      found=(value or "")[:120], **where)]
    out = check_matricule(m.group("id"), m.group("oid"), test_environment=test_environment, **where)
    if m.group("type") != "NH":
        out.append(error(f"{what} : type d'identifiant NH attendu", f"{what}: identifier type NH expected",
                         rule="INS.CX.type", expected="NH", found=m.group("type"), **where))
    if cda_ins is not None and (m.group("id"), m.group("oid")) != cda_ins:
        out.append(error(f"{what} différent de l'INS du recordTarget du CDA",
                         f"{what} differs from the CDA recordTarget INS", rule="INS.CX.cda-mismatch",
                         expected=expected_patient_cx(*cda_ins), found=value[:120], **where))
    return out


def check_patient_mailbox(address: str, *, qualified: bool, matricule: str | None = None, artefact: str = "",
                          requirements: Sequence[str] = ()) -> list[Finding]:
    """``<matricule INS>@patient.mssante.fr``: only for a qualified identity, with a valid key."""
    where: dict[str, Any] = {"artefact": artefact, "requirements": tuple(requirements)}
    local, _, domain = (address or "").strip().strip("<>").rpartition("@")
    if domain.lower() != PATIENT_MAIL_DOMAIN:
        return []  # not a patient mailbox
    if not qualified:
        return [error("adresse de messagerie patient construite sur l'INS d'une identité non qualifiée (Règle 28)",
                      "patient mailbox address built on the INS of a non-qualified identity (Rule 28)",
                      rule="INS.MAIL.unqualified", expected="aucun envoi à la messagerie patient",
                      found=address[:120], **where)]
    out = check_matricule(local, None, **where)
    if matricule is not None and local != matricule:
        out.append(error("adresse patient différente de l'INS du résident", "patient address differs from the "
                         "resident's INS", rule="INS.MAIL.mismatch", expected=f"{matricule}@{PATIENT_MAIL_DOMAIN}",
                         found=address[:120], **where))
    return out
