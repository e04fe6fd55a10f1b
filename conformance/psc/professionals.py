"""Invented test professionals the mock Pro Santé Connect provider logs in.

Why invented: the harness must never carry a real person's RPPS number. Every national id below is
``8`` + an 11-digit RPPS-like number in the ``99999`` range (no real RPPS starts there) with a Luhn
key, so it looks and validates like a real ``idNat_PS`` without belonging to anyone. The claims follow
the shape Pro Santé Connect returns for ``scope_all`` (protocols.md §4.2): identity, ``SubjectNameID``,
and ``SubjectRefPro.exercices[].activities[]`` with TRE code values, here in medico-social settings
(EHPAD, MAS, protection de l'enfance) because the DUI corridors are social and medico-social.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from stdnum import luhn

SECTEUR_OID = "1.2.250.1.71.4.2.4"  # TRE_R02 SecteurActivite
PROFESSION_OID = "1.2.250.1.71.1.2.7"  # TRE_G15 Profession
PALIER_ECPS = "APPPRIP3^1.2.250.1.213.1.5.1.1.1"


def rpps_like(base10: str) -> str:
    """An 11-digit RPPS-like number: 10 invented digits plus the Luhn key."""
    if len(base10) != 10 or not base10.isdigit():
        raise ValueError("base10 must be 10 digits")
    return base10 + luhn.calc_check_digit(base10)


def _activity(*, secteur: str, raison_sociale: str, structure_id: str, finess: str, siret: str,
              mode: str = "S", genre: str = "GENR01", code_postal: str = "63000",
              commune: str = "63113", role: str = "") -> dict[str, Any]:
    return {
        "codeModeExercice": mode,  # TRE_R23: S salarié, L libéral
        "codeSecteurDactivite": secteur,  # TRE_R02
        "codeSectionPharmacien": "",
        "codeRole": role,
        "codeGenreActivite": genre,
        "numeroSiretSite": siret,
        "numeroSirenSite": siret[:9],
        "numeroFinessSite": finess,
        "numeroFinessetablissementJuridique": "",
        "identifiantTechniqueDeLaStructure": structure_id,
        "raisonSocialeSite": raison_sociale,
        "enseigneCommercialeSite": "",
        "complementDestinataire": "",
        "complementPointGeographique": "",
        "numeroVoie": "12",
        "indiceRepetitionVoie": "",
        "codeTypeDeVoie": "R",
        "libelleVoie": "des Tilleuls",
        "mentionDistribution": "",
        "bureauCedex": "",
        "codePostal": code_postal,
        "codeCommune": commune,
        "codePays": "99000",
        "telephone": "",
        "telephone2": "",
        "telecopie": "",
        "adresseEMail": "",
        "codeDepartement": code_postal[:2],
        "ancienIdentifiantDeLaStructure": "",
        "autoriteDenregistrement": "ARS/ARS/ARS",
    }


@dataclass(frozen=True)
class Professional:
    """One invented professional: what PSC would say about them."""

    key: str
    rpps: str
    given_name: str
    family_name: str
    email: str
    civilite: str
    exercices: tuple[dict[str, Any], ...]
    roles: tuple[str, ...] = ()
    label: str = ""
    sub: str = field(default="")

    @property
    def subject_name_id(self) -> str:
        """idNat_PS: ``8`` + RPPS (protocols.md §4.2)."""
        return "8" + self.rpps

    @property
    def keycloak_sub(self) -> str:
        """The opaque ``sub`` (Keycloak user id); stable per professional unless overridden."""
        return self.sub or f"f:psc-mock:{self.key}"

    def primary_activity(self) -> dict[str, Any]:
        return dict(self.exercices[0]["activities"][0])

    def userinfo(self, *, scope: str = "openid scope_all", sub: str | None = None) -> dict[str, Any]:
        """The userinfo claims for a scope: identity always, practice situations with ``scope_all``."""
        claims: dict[str, Any] = {
            "sub": sub or self.keycloak_sub,
            "SubjectNameID": self.subject_name_id,
            "preferred_username": self.subject_name_id,
            "given_name": self.given_name,
            "family_name": self.family_name,
            "email": self.email,
            "email_verified": True,
        }
        scopes = set(scope.split())
        if "scope_all" in scopes or "rpps" in scopes:
            activity = self.primary_activity()
            claims.update({
                "SubjectRefPro": {"codeCivilite": self.civilite, "exercices": copy.deepcopy(list(self.exercices))},
                "SubjectOrganization": activity["raisonSocialeSite"],
                "SubjectOrganizationID": activity["identifiantTechniqueDeLaStructure"],
                "SubjectRole": list(self.roles),
                "Secteur_Activite": f"{activity['codeSecteurDactivite']}^{SECTEUR_OID}",
                "Palier_Authentification": PALIER_ECPS,
                "UITVersion": "1.0",
                "PSI_Locale": "1.2.250.1.213.1.3.1.1",
                "Mode_Acces_Raison": "",
                "Acces_Regulation_Medicale": "FAUX",
                "otherIds": [{"identifiant": self.subject_name_id, "origine": "RPPS", "qualite": 1}],
            })
        return claims

    def exercice_summary(self) -> dict[str, str]:
        """What a relying party is expected to show for the chosen practice situation."""
        exercice = self.exercices[0]
        activity = exercice["activities"][0]
        return {
            "codeProfession": exercice["codeProfession"],
            "codeSavoirFaire": exercice.get("codeSavoirFaire", ""),
            "codeSecteurDactivite": activity["codeSecteurDactivite"],
            "identifiantTechniqueDeLaStructure": activity["identifiantTechniqueDeLaStructure"],
            "raisonSocialeSite": activity["raisonSocialeSite"],
        }


def _exercice(*, profession: str, categorie: str, civilite: str, nom: str, prenom: str,
              savoir_faire: tuple[str, str] = ("", ""), activities: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "codeProfession": profession,  # TRE_G15
        "codeCategorieProfessionnelle": categorie,  # TRE_R09: C civil
        "codeTypeSavoirFaire": savoir_faire[0],
        "codeSavoirFaire": savoir_faire[1],
        "codeCiviliteDexercice": civilite,
        "nomDexercice": nom,
        "prenomDexercice": prenom,
        "activities": activities,
    }


_EHPAD = dict(secteur="SA17", raison_sociale="EHPAD LES TILLEULS (FICTIF)", structure_id="R10999990000017",
              finess="639999017", siret="99999001700017")
_MAS = dict(secteur="SA16", raison_sociale="MAS LE VERGER (FICTIF)", structure_id="R10999990000016",
            finess="639999016", siret="99999001600016", code_postal="15000", commune="15014")
_MECS = dict(secteur="SA20", raison_sociale="MECS LES CHARMILLES (FICTIF)", structure_id="R10999990000020",
             finess="639999020", siret="99999002000020")
_CABINET = dict(secteur="SA07", raison_sociale="CABINET DU DR VERNET (FICTIF)", structure_id="R10999990000007",
                finess="", siret="99999000700007", mode="L")

PROFESSIONALS: dict[str, Professional] = {
    p.key: p
    for p in (
        Professional(
            key="ide-ehpad", rpps=rpps_like("9999900012"), given_name="CLAIRE", family_name="VERNIERE",
            email="soins@ehpad-tilleuls.test", civilite="MME",
            label="Infirmière coordinatrice en EHPAD",
            exercices=(_exercice(profession="60", categorie="C", civilite="MME", nom="VERNIERE", prenom="CLAIRE",
                                 activities=[_activity(**_EHPAD)]),),
            roles=("60^1.2.250.1.71.1.2.7",),
        ),
        Professional(
            key="medco-ehpad", rpps=rpps_like("9999900023"), given_name="PAUL", family_name="VERNET",
            email="p.vernet@ehpad-tilleuls.test", civilite="M",
            label="Médecin coordonnateur d'EHPAD, aussi en cabinet",
            exercices=(
                _exercice(profession="10", categorie="C", civilite="DR", nom="VERNET", prenom="PAUL",
                          savoir_faire=("S", "SM54"), activities=[_activity(**_EHPAD), _activity(**_CABINET)]),
            ),
            roles=("10^1.2.250.1.71.1.2.7",),
        ),
        Professional(
            key="kine-mas", rpps=rpps_like("9999900034"), given_name="ANAIS", family_name="ROUSSILHE",
            email="a.roussilhe@mas-verger.test", civilite="MME",
            label="Masseur-kinésithérapeute en maison d'accueil spécialisée",
            exercices=(_exercice(profession="70", categorie="C", civilite="MME", nom="ROUSSILHE", prenom="ANAIS",
                                 activities=[_activity(**_MAS)]),),
            roles=("70^1.2.250.1.71.1.2.7",),
        ),
        Professional(
            key="pediatre-mecs", rpps=rpps_like("9999900045"), given_name="JULIEN", family_name="MALAVAL",
            email="j.malaval@mecs-charmilles.test", civilite="M",
            label="Pédiatre en maison d'enfants à caractère social",
            exercices=(_exercice(profession="10", categorie="C", civilite="DR", nom="MALAVAL", prenom="JULIEN",
                                 savoir_faire=("S", "SM40"), activities=[_activity(**_MECS)]),),
            roles=("10^1.2.250.1.71.1.2.7",),
        ),
        # shares the e-mail of "ide-ehpad" (a service mailbox): identification must use SubjectNameID
        Professional(
            key="ide-ehpad-nuit", rpps=rpps_like("9999900056"), given_name="SAMIA", family_name="BELKACEM",
            email="soins@ehpad-tilleuls.test", civilite="MME",
            label="Infirmière de nuit en EHPAD (même boîte aux lettres de service)",
            exercices=(_exercice(profession="60", categorie="C", civilite="MME", nom="BELKACEM", prenom="SAMIA",
                                 activities=[_activity(**_EHPAD)]),),
            roles=("60^1.2.250.1.71.1.2.7",),
        ),
    )
}

DEFAULT_PROFESSIONAL = "ide-ehpad"


def by_key(key: str) -> Professional:
    try:
        return PROFESSIONALS[key]
    except KeyError:
        raise KeyError(f"unknown test professional {key!r}; known: {', '.join(PROFESSIONALS)}") from None


def by_subject_name_id(national_id: str) -> Professional | None:
    """Find a professional by idNat_PS (CIBA ``login_hint``)."""
    for pro in PROFESSIONALS.values():
        if pro.subject_name_id == national_id:
            return pro
    return None
