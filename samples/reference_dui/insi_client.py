"""The reference DUI's INSi client: search by traits, then apply the answer to the resident (RNIV rules).

Why written apart from the harness's own SOAP code (conformance/ins/insi/soap.py): the reference DUI
plays a vendor's product, so its request is built and its answer read by independent code (and the
key is checked with python-stdnum, not with the harness's matricule module). A shared bug could
otherwise hide itself from the checks.

What a compliant DUI does here (protocols.md §3.4, rem.md §2.1):
- no INSi call for a doubtful or fictitious identity (Règle 25);
- CR 00: matricule = INSACTIF (never INSHISTO), key verified, OID kept, the five traits stored exactly
  as returned; status RECUP, or QUAL when a high-trust document was recorded;
- CR 00 with a partial birth date (Règle 11) or an empty name, given names or sex (Règle 12): no import;
- CR 01 / 02, fault or timeout: no INS stored, status unchanged, a clear message for the user.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import requests
from lxml import etree
from segur_reference_dui.xmlsafe import XmlRejected, parse
from stdnum.fr import nir

DEFECTS = {
    "wrong_key_accepted": "Accepte un matricule INS dont la clé est fausse",
    "traits_recased": "Réécrit la casse des traits renvoyés par l'INSi au lieu de les stocker tels quels",
    "ins_shared_unqualified": "Transmet l'INS (CDA, DMP, MSSanté) pour une identité non qualifiée",
    "historical_matricule_used": "Retient le matricule historique (INSHISTO) au lieu de l'INSACTIF",
    "insi_no_message_id": "Envoie la requête INSi sans en-tête WS-Addressing MessageID",
    "insi_called_for_doubtful": "Appelle l'INSi pour une identité douteuse ou fictive (Règle 25)",
    "partial_date_imported": "Importe l'INS quand l'INSi renvoie une date de naissance partielle (Règle 11)",
    "empty_traits_imported": "Importe l'INS et écrase le nom quand l'INSi renvoie un trait vide (Règle 12)",
    "cni_not_high_trust": "Ne reconnaît pas la CNI comme pièce à haut niveau de confiance : jamais VALI ni QUAL avec "
                          "elle (Règle 20)",
    "status_changed_on_error": "Passe l'identité en « récupérée » quand l'INSi répond une erreur ou ne répond pas",
}

SOAP = "http://www.w3.org/2003/05/soap-envelope"
WSA = "http://www.w3.org/2005/08/addressing"
BAM = "urn:siram:bam:ctxbam"
LPS = "urn:siram:lps:ctxlps"
RECSANS = "http://www.cnamts.fr/INSiRecSans"
ACTION = "urn:ServiceIdentiteCertifiee:1.0.0:rechercherInsAvecTraitsIdentite"
INS_OIDS = ("1.2.250.1.213.1.4.8", "1.2.250.1.213.1.4.9", "1.2.250.1.213.1.4.10", "1.2.250.1.213.1.4.11")
HIGH_TRUST = ("passeport", "cni")
LPS_AUTHORISATION = "SEGUR-REF-0001"  # invented CNDA authorisation number of the reference DUI
DEFAULT_TIMEOUT_S = 10.0


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _el(parent: etree._Element, ns: str, name: str, text: str | None = None, **attrs: str) -> etree._Element:
    el = etree.SubElement(parent, f"{{{ns}}}{name}", attrs)
    if text is not None:
        el.text = text
    return el


def build_request(traits: dict[str, Any], message_id: str, defects: set[str] | frozenset[str] = frozenset()) -> bytes:
    """SOAP 1.2 + WS-Addressing + ContexteBAM/ContexteLPS around RECSANSVITALE, traits in INSi format."""
    env = etree.Element(f"{{{SOAP}}}Envelope", nsmap={"soap": SOAP, "wsa": WSA, "ctxbam": BAM, "ctxlps": LPS,
                                                     "insi_recsans_ins": RECSANS})
    header = _el(env, SOAP, "Header")
    _el(header, WSA, "Action", ACTION)
    if "insi_no_message_id" not in defects:
        _el(header, WSA, "MessageID", message_id)
    bam = _el(header, BAM, "ContexteBAM", Version="01_02")
    _el(bam, BAM, "Id", str(uuid.uuid4()))
    _el(bam, BAM, "Temps", _now())
    _el(bam, BAM, "Emetteur", LPS_AUTHORISATION)
    _el(bam, BAM, "COUVERTURE")
    lps = _el(header, LPS, "ContexteLPS", Nature="CTXLPS")
    _el(lps, LPS, "Id", str(uuid.uuid4()))
    _el(lps, LPS, "Temps", _now())
    _el(lps, LPS, "Emetteur", LPS_AUTHORISATION)
    soft = _el(lps, LPS, "LPS")
    _el(soft, LPS, "IDAM", LPS_AUTHORISATION, R="4")
    _el(soft, LPS, "Version", "1.0")
    _el(soft, LPS, "Instance", str(uuid.uuid4()))
    _el(soft, LPS, "Nom", "DUI de référence segur-conformance")
    body = _el(_el(env, SOAP, "Body"), RECSANS, "RECSANSVITALE")
    _el(body, RECSANS, "NomNaissance", str(traits.get("birth_name") or "").strip().upper())
    given = traits.get("given_names") or []
    for name in ([given] if isinstance(given, str) else given):
        for part in str(name).split():
            _el(body, RECSANS, "Prenom", part.upper())
    _el(body, RECSANS, "Sexe", str(traits.get("sex") or "").upper())
    _el(body, RECSANS, "DateNaissance", str(traits.get("birth_date") or ""))
    if traits.get("birthplace_code"):
        _el(body, RECSANS, "LieuNaissance", str(traits["birthplace_code"]).upper())
    return etree.tostring(env, xml_declaration=True, encoding="UTF-8")


def _find(root: etree._Element, *names: str) -> etree._Element | None:
    el: etree._Element | None = root
    for name in names:
        if el is None:
            return None
        el = next((c for c in el if isinstance(c.tag, str) and etree.QName(c).localname == name), None)
    return el


def _all(root: etree._Element | None, name: str) -> list[etree._Element]:
    if root is None:
        return []
    return [c for c in root if isinstance(c.tag, str) and etree.QName(c).localname == name]


def _text(el: etree._Element | None) -> str:
    return "".join(el.itertext()) if el is not None else ""


def _matricule(el: etree._Element | None) -> dict[str, str] | None:
    if el is None:
        return None
    return {"matricule": _text(_find(el, "IdIndividu", "NumIdentifiant")).strip()
            + _text(_find(el, "IdIndividu", "Cle")).strip(),
            "oid": _text(_find(el, "OID")).strip()}


def _key_ok(matricule: str) -> bool:
    # stdnum upper-cases and strips; an INS is exact, so refuse anything stdnum would have to clean
    return len(matricule) == 15 and matricule == matricule.strip().upper() and nir.is_valid(matricule)


def _fail(resident: Any, outcome: str, message: str, defects: set[str] | frozenset[str] = frozenset()
          ) -> dict[str, str]:
    resident.last_error = message if outcome == "error" else None
    if outcome == "error" and "status_changed_on_error" in defects:
        resident.status = "RECUP"
    _audit(resident, outcome, message)
    return {"outcome": outcome, "message": message}


def _audit(resident: Any, outcome: str, message: str) -> None:
    log = getattr(resident, "audit", None)
    if isinstance(log, list):
        log.append({"at": _now(), "event": "insi_search", "outcome": outcome, "message": message})


def _status_without_ins(resident: Any) -> str:
    if resident.ins:
        return str(resident.status)
    return "VALI" if resident.identity_document in HIGH_TRUST else "PROV"


def qualify(resident: Any, endpoint: dict[str, Any], defects: set[str] | frozenset[str]) -> dict[str, str]:
    """Search INSi by the resident's traits and apply the answer; returns {"outcome", "message"}."""
    blocked = {"douteuse", "fictive"} & set(resident.attributes or ())
    if blocked and "insi_called_for_doubtful" not in defects:
        resident.status = "PROV"
        return _fail(resident, "error", f"identité {', '.join(sorted(blocked))} : appel au téléservice INSi "
                                        "interdit, le statut reste provisoire (Règle 25)")
    url = str(endpoint.get("url") or "")
    if not url.startswith(("http://", "https://")):
        return _fail(resident, "error", "téléservice INSi non configuré (adresse invalide)")
    timeout = float(endpoint.get("timeout_s") or DEFAULT_TIMEOUT_S)
    message_id = f"uuid:{uuid.uuid4()}"
    try:
        resp = requests.post(url, data=build_request(resident.traits, message_id, defects), timeout=timeout,
                             headers={"Content-Type": f'application/soap+xml; charset=utf-8; action="{ACTION}"'})
    except requests.Timeout:
        return _fail(resident, "error", "le téléservice INSi n'a pas répondu dans le délai : réessayez plus tard ; "
                                        "l'identité n'est pas modifiée", defects)
    except requests.RequestException as exc:
        return _fail(resident, "error", f"téléservice INSi injoignable ({exc.__class__.__name__}) : "
                                        "l'identité n'est pas modifiée")
    try:
        root = parse(resp.content[:1024 * 1024], max_bytes=1024 * 1024, max_depth=32).getroot()
    except XmlRejected as exc:
        return _fail(resident, "error", f"réponse INSi illisible ({exc.reason}) : l'identité n'est pas modifiée")
    body = _find(root, "Body")
    fault = _find(body, "Fault") if body is not None else None
    if fault is not None:
        sub = _text(_find(fault, "Code", "Subcode", "Value")).split(":")[-1]
        err = _find(fault, "Detail", "Erreur")
        code = err.get("code", "") if err is not None else ""
        reason = _text(_find(fault, "Reason", "Text")).strip()
        return _fail(resident, "error", f"erreur du téléservice INSi {sub} / {code} : {reason} ; "
                                        "l'identité n'est pas modifiée", defects)
    result = _find(body, "RESULTAT") if body is not None else None
    code = _text(_find(result, "CR", "CodeCR")).strip() if result is not None else ""
    if code == "01":
        resident.status = _status_without_ins(resident)
        return _fail(resident, "not_found", "aucune identité trouvée par l'INSi : vérifiez les traits saisis "
                                            "(aucun INS enregistré)")
    if code == "02":
        resident.status = _status_without_ins(resident)
        return _fail(resident, "ambiguous", "plusieurs identités trouvées par l'INSi : ajoutez les autres prénoms "
                                            "de naissance ou le lieu de naissance puis relancez (aucun INS enregistré)")
    if code != "00":
        return _fail(resident, "error", f"réponse INSi inattendue (CR {code or 'absent'}) : l'identité n'est pas modifiée")
    assert result is not None  # a CodeCR was read from it
    return _apply_found(resident, result, defects)


def _apply_found(resident: Any, result: etree._Element, defects: set[str] | frozenset[str]) -> dict[str, str]:
    indiv = _find(result, "INDIVIDU")
    actif = _matricule(_find(indiv, "INSACTIF")) if indiv is not None else None
    histo = [m for m in (_matricule(h) for h in _all(indiv, "INSHISTO")) if m]
    tiq = _find(indiv, "TIQ") if indiv is not None else None
    if actif is None or tiq is None:
        return _fail(resident, "error", "réponse INSi CR 00 sans INSACTIF ou sans traits : aucun INS enregistré")
    chosen = histo[0] if "historical_matricule_used" in defects and histo else actif
    if chosen["oid"] not in INS_OIDS:
        return _fail(resident, "error", f"OID d'INS inconnu renvoyé par l'INSi ({chosen['oid'][:40]}) : "
                                        "aucun INS enregistré")
    if not _key_ok(chosen["matricule"]) and "wrong_key_accepted" not in defects:
        return _fail(resident, "error", "clé du matricule INS renvoyé par l'INSi invalide : identité non importée, "
                                        "contactez le support")
    values = {name: _text(_find(tiq, name)) for name in ("NomNaissance", "ListePrenom", "Sexe", "DateNaissance",
                                                          "LieuNaissance")}
    if (not values["NomNaissance"].strip() or not values["ListePrenom"].strip() or not values["Sexe"].strip()) \
            and "empty_traits_imported" not in defects:
        return _fail(resident, "error", "l'INSi a renvoyé un nom, des prénoms ou un sexe vides : INS non importé "
                                        "(Règle 12)")
    date = values["DateNaissance"]
    if len(date) == 10 and (date[5:7] == "00" or date[8:10] == "00") and "partial_date_imported" not in defects:
        return _fail(resident, "error", "date de naissance partielle renvoyée par l'INSi (jour ou mois 00) : "
                                        "INS non importé (Règle 11)")
    given = values["ListePrenom"].split(" ") or [""]
    traits: dict[str, Any] = {"birth_name": values["NomNaissance"], "given_names": given, "first_given_name": given[0],
              "birth_date": date, "sex": values["Sexe"], "birthplace_code": values["LieuNaissance"]}
    if "traits_recased" in defects:
        traits = {k: ([g.title() for g in v] if isinstance(v, list) else v.title() if k in
                      ("birth_name", "first_given_name") else v) for k, v in traits.items()}
    resident.traits = traits
    resident.ins = {"matricule": chosen["matricule"], "oid": chosen["oid"]}
    resident.history = [h for h in histo if h != chosen]
    high_trust = resident.identity_document in HIGH_TRUST and not (
        resident.identity_document == "cni" and "cni_not_high_trust" in defects)
    resident.status = "QUAL" if high_trust else "RECUP"
    resident.last_error = None
    message = ("identité qualifiée : INS récupéré et pièce d'identité à haut niveau de confiance enregistrée"
               if resident.status == "QUAL" else "identité récupérée : INS enregistré (pièce d'identité à vérifier "
                                                 "pour la qualifier)")
    _audit(resident, "found", message)
    return {"outcome": "found", "message": message}
