"""Invented INSi test identities and the answers the simulator gives for them.

Why invented: the CNDA test base is not public, and a harness must never carry real NIRs. Every
identity below uses the INS-NIR *test* OID (``.10``), a made-up name and an order number in the
9xx range; its key is computed, never typed, so it is valid by construction. Each identity covers one
behaviour of protocols.md §3.4 (Corsica 2A/2B, born abroad, overseas, INSHISTO, corrupted key,
partial birth date, empty traits, fault, timeout, homonyms for CR 02).

The fault codes other than siram_100/desir_550 are invented and marked unconfirmed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from conformance.ins.matricule import OID_INS_NIA, OID_INS_NIR_TEST, make_matricule
from conformance.ins.traits import normalise_for_matching

# scenario switches, global (InsiSimulator(scenario=...)) or per identity
SCENARIOS = {
    "normal": "réponse nominale selon les traits (CR 00 / 01 / 02)",
    "corrupted_key": "la clé du matricule renvoyé est fausse",
    "historical": "la réponse porte aussi un matricule historique (INSHISTO)",
    "partial_date": "la date de naissance renvoyée est partielle (jour 00)",
    "empty_fields": "le nom de naissance renvoyé est vide (Règle 12)",
    "not_found": "CR 01 : aucune identité trouvée",
    "ambiguous": "CR 02 : plusieurs identités trouvées",
    "fault": "faute SOAP siram/desir",
    "timeout": "pas de réponse avant le délai du client",
}


@dataclass(frozen=True)
class FaultSpec:
    subcode: str
    desir_code: str
    text: str
    confirmed: bool


FAULTS: dict[str, FaultSpec] = {
    # protocols.md §3.3 [S] padoa/tlsi-ins fixtures
    "lps_unknown": FaultSpec("siram_100", "desir_550", "Numéro d'autorisation du logiciel inconnu", True),
    # invented: a plausible code for a malformed request (the real code is unknown)
    "bad_request": FaultSpec("siram_40", "desir_100", "Requête invalide", False),
    "service_down": FaultSpec("siram_200", "desir_900", "Service momentanément indisponible", False),
}
CR_LABELS = {"00": "OK", "01": "Aucune identité trouvée", "02": "Plusieurs identités trouvées"}


@dataclass(frozen=True)
class HistoricalIns:
    number: str  # 13 characters
    oid: str
    type: str = "NIR"
    date_start: str = ""
    date_end: str = ""

    @property
    def matricule(self) -> str:
        return make_matricule(self.number)


@dataclass(frozen=True)
class InsiIdentity:
    """One person of the simulated national base, as INSi returns it (TIQ = the traits, exactly)."""

    name: str
    number: str  # 13 characters; the key is computed
    birth_name: str
    given_names: tuple[str, ...]
    birth_date: str
    sex: str
    birthplace_code: str
    oid: str = OID_INS_NIR_TEST
    histo: tuple[HistoricalIns, ...] = ()
    scenario: str = "normal"
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def matricule(self) -> str:
        return make_matricule(self.number)

    @property
    def key(self) -> str:
        return self.matricule[13:]

    @property
    def first_given_name(self) -> str:
        return self.given_names[0]

    def traits(self) -> dict[str, Any]:
        """Contract v1 ``traits`` as INSi returns them (what a compliant DUI stores)."""
        return {"birth_name": self.birth_name, "given_names": list(self.given_names),
                "first_given_name": self.first_given_name, "birth_date": self.birth_date, "sex": self.sex,
                "birthplace_code": self.birthplace_code}

    def tiq(self) -> dict[str, str]:
        return {"NomNaissance": self.birth_name, "ListePrenom": " ".join(self.given_names), "Sexe": self.sex,
                "DateNaissance": self.birth_date, "LieuNaissance": self.birthplace_code}

    def resident_body(self, *, identity_document: str | None = None, attributes: tuple[str, ...] = (),
                      traits: dict[str, Any] | None = None) -> dict[str, Any]:
        """A ``POST /residents`` body for this person (traits as a user would type them, by default exact)."""
        t = traits or self.traits()
        if "birth_date" in t and "00" in t["birth_date"][5:]:
            # a DUI cannot store a partial date as typed; RNIV convention (unconfirmed): 1st of January
            t = dict(t, birth_date=t["birth_date"][:4] + "-01-01")
        body: dict[str, Any] = {"traits": t, "used_name": self.birth_name, "used_given_name": self.first_given_name}
        if identity_document:
            body["identity_document"] = identity_document
        if attributes:
            body["attributes"] = list(attributes)
        return body


def _p(name: str, number: str, birth_name: str, given: tuple[str, ...], date: str, sex: str, place: str,
       **kw: Any) -> InsiIdentity:
    return InsiIdentity(name, number, birth_name, given, date, sex, place, **kw)


IDENTITIES: tuple[InsiIdentity, ...] = (
    _p("qualifiable", "2410563113901", "D'ESSAI-LAFONTAINE", ("MARIE-CLAIRE", "ANNE"), "1941-05-12", "F", "63113",
       description="identité nominale : apostrophe et tirets à conserver tels quels"),
    _p("corse_2a", "150032A004902", "SIMULACRE", ("PAUL", "ANGE"), "1950-03-15", "M", "2A004",
       description="né en Corse-du-Sud (2A → 19 pour la clé)"),
    _p("corse_2b", "262072B033903", "ESSAI-BASTIA", ("LAETITIA",), "1962-07-01", "F", "2B033",
       description="née en Haute-Corse (2B → 18 pour la clé)"),
    _p("ne_etranger", "1481199139904", "FICTIF", ("JOAO", "PEDRO"), "1948-11-20", "M", "99139",
       description="né à l'étranger (département 99, code pays)"),
    _p("outre_mer", "2550197105905", "TESTOUTREMER", ("JOSEPHINE",), "1955-01-09", "F", "97105",
       description="née outre-mer (département à 3 chiffres)"),
    _p("historique", "1390875056906", "ANCIENNUMERO", ("GEORGES", "HENRI"), "1939-08-21", "M", "75056",
       histo=(HistoricalIns("7390875056907", OID_INS_NIA, "NIA", "1990-01-01", "2005-06-30"),),
       description="INSACTIF plus un INSHISTO (ancien NIA) : seul l'INSACTIF doit être retenu"),
    _p("cle_corrompue", "1440269123908", "CLEFAUSSE", ("ROBERT",), "1944-02-02", "M", "69123",
       scenario="corrupted_key", description="l'INSi renvoie une clé fausse : l'INS doit être rejeté"),
    _p("date_partielle", "2470175056909", "DATEINCONNUE", ("AMINATA",), "1947-00-00", "F", "75056",
       scenario="partial_date", description="date de naissance partielle : pas d'import de l'INS (Règle 11)"),
    _p("traits_vides", "2510344109910", "TRAITSVIDES", ("LUCIE",), "1951-03-04", "F", "44109",
       scenario="empty_fields", description="nom de naissance vide dans la réponse : pas d'import (Règle 12)"),
    _p("faute", "1600533063911", "ERREURSERVICE", ("MARC",), "1960-05-30", "M", "33063",
       scenario="fault", description="faute SOAP siram_100 / desir_550"),
    _p("delai", "1700613055912", "LENTEUR", ("JULES",), "1970-06-13", "M", "13055",
       scenario="timeout", description="pas de réponse dans le délai"),
    _p("homonyme_1", "1520633063913", "JUMEAU", ("LOUIS", "ARTHUR"), "1952-06-06", "M", "33063",
       description="homonyme : avec le seul premier prénom, CR 02"),
    _p("homonyme_2", "1520633063914", "JUMEAU", ("LOUIS", "EMILE"), "1952-06-06", "M", "33063",
       description="homonyme : avec le seul premier prénom, CR 02"),
    _p("doublon_lieu", "2450292050915", "PLUSIEURS", ("ODILE",), "1945-02-09", "F", "92050",
       description="partenaire de test pour une recherche avec lieu de naissance"),
)
BY_NAME = {i.name: i for i in IDENTITIES}

_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
MAX_NUMBERED = 999 * 12  # order number 001-999 for each of 12 birth months


def numbered(n: int) -> InsiIdentity:
    """The n-th (0-based) of as many distinct, qualifiable test identities as a run needs.

    Each behaviour test that sends for "its" resident gets its own person and INS, so a request a simulator
    receives can be attributed to its test by patient id (a background retry of an earlier test's document
    carries the earlier test's INS). Names are letters only (traits as INSi returns them), the matricule key
    is computed, the birthplace is Paris (75056).
    """
    if not 0 <= n < MAX_NUMBERED:
        raise ValueError(f"numbered identity out of range: {n}")
    month, order = divmod(n, 999)
    suffix, k = "", n
    for _ in range(3):
        k, r = divmod(k, 26)
        suffix = _LETTERS[r] + suffix
    number = f"2{43:02d}{month + 1:02d}75056{order + 1:03d}"
    return _p(f"isole_{n}", number, f"ISOLEMENT-{suffix}", ("ROSE", "TEST"), f"1943-{month + 1:02d}-17", "F",
              "75056", description="identité propre à un test (attribution des requêtes par INS)")
NOT_FOUND_TRAITS: dict[str, Any] = {"birth_name": "PERSONNE-INCONNUE", "given_names": ["NEMO"],
                                    "first_given_name": "NEMO", "birth_date": "1930-01-01", "sex": "M",
                                    "birthplace_code": "75056"}


def identity(name: str) -> InsiIdentity:
    return BY_NAME[name]


def _date_matches(sent: str, known: str) -> bool:
    if sent == known:
        return True
    if len(sent) != 10 or len(known) != 10:
        return False
    # a partial date in the base matches on its known parts (RNIV convention unconfirmed)
    return all(k == "00" or k == s for k, s in zip(known.split("-"), sent.split("-"), strict=False))


def search(traits: dict[str, Any], identities: tuple[InsiIdentity, ...] = IDENTITIES) -> list[InsiIdentity]:
    """The identities a search by traits finds: name and given names compared without case, accents,
    apostrophes or hyphens (as INSi's own matching is tolerant), sex and date exactly; the birthplace and
    every given name sent narrow the result."""
    name = normalise_for_matching(str(traits.get("birth_name") or ""))
    given = traits.get("given_names") or []
    if isinstance(given, str):
        given = given.split(" ")
    sent_given = [normalise_for_matching(g) for part in given for g in str(part).split(" ") if g.strip()]
    if not name or not sent_given:
        return []
    found = []
    for ident in identities:
        if normalise_for_matching(ident.birth_name) != name:
            continue
        if ident.sex != traits.get("sex") or not _date_matches(str(traits.get("birth_date") or ""), ident.birth_date):
            continue
        known = [normalise_for_matching(g) for g in ident.given_names]
        if sent_given[0] != known[0] or any(g not in known for g in sent_given):
            continue
        place = traits.get("birthplace_code")
        if place and place != ident.birthplace_code:
            continue
        found.append(ident)
    return found
