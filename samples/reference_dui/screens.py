"""The screens of the reference DUI that GET /ui/snapshot answers (contract 1.1, optional): one
self-contained HTML page per step, no script, no external resource, every value escaped.

They stand for what a real DUI shows right after the step the harness drove; the harness stores them as
captures under the manual proofs it maps to the step (conformance/sandbox/ui_snapshots.yaml).
"""

from __future__ import annotations

from html import escape
from typing import Any

from segur_reference_dui.state import Resident, StoredDocument

STATUS_LABELS = {"PROV": "Identité provisoire", "RECUP": "Identité récupérée", "VALI": "Identité validée",
                 "QUAL": "Identité qualifiée"}
#: the traits that come from INSi once the identity is qualified: shown locked (INS Règle 26)
INSI_TRAITS = (("birth_name", "Nom de naissance"), ("given_names", "Prénom(s) de naissance"),
               ("first_given_name", "Premier prénom de naissance"), ("birth_date", "Date de naissance"),
               ("sex", "Sexe"), ("birthplace_code", "Code lieu de naissance"))
STYLE = ("body{font:15px sans-serif;margin:24px;color:#1b1b1b}h1{font-size:20px}table{border-collapse:collapse}"
         "th,td{border:1px solid #bbb;padding:6px 10px;text-align:left}.lock{color:#555}"
         ".st{display:inline-block;padding:4px 10px;border-radius:4px;background:#dfe9f7;font-weight:bold}")


def _page(title: str, body: str) -> bytes:
    return (f'<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f"<style>{STYLE}</style></head><body><h1>{escape(title)}</h1>{body}</body></html>").encode()


def _value(value: Any) -> str:
    if isinstance(value, list):
        return escape(" ".join(str(v) for v in value))
    return escape("" if value is None else str(value))


def _identity_line(resident: Resident) -> str:
    t = resident.traits
    ins = resident.ins or {}
    return (f"{_value(t.get('birth_name'))} {_value(t.get('first_given_name'))} — né(e) le {_value(t.get('birth_date'))}"
            + (f" — INS {_value(ins.get('matricule'))}" if ins.get("matricule") else ""))


def resident_identity(resident: Resident) -> bytes:
    """The identity screen: the INS status and the traits, locked when they come from INSi."""
    locked = resident.status == "QUAL"
    rows = []
    for key, label in INSI_TRAITS:
        mark = ' <span class="lock">verrouillé : non modifiable (issu de l\'INSi)</span>' if locked else ""
        rows.append(f"<tr><th>{escape(label)}</th><td><input value=\"{_value(resident.traits.get(key))}\""
                    f"{' readonly' if locked else ''}>{mark}</td></tr>")
    ins = resident.ins or {}
    for key, label in (("matricule", "Matricule INS"), ("oid", "OID")):
        if ins.get(key):
            mark = ' <span class="lock">verrouillé : non modifiable (issu de l\'INSi)</span>' if locked else ""
            rows.append(f"<tr><th>{label}</th><td><input value=\"{_value(ins.get(key))}\" readonly>{mark}</td></tr>")
    for key, label in (("used_name", "Nom utilisé"), ("used_given_name", "Prénom utilisé")):
        rows.append(f"<tr><th>{label}</th><td><input value=\"{_value(getattr(resident, key))}\"> modifiable</td></tr>")
    status = STATUS_LABELS.get(resident.status, resident.status)
    body = (f'<p>Statut de l\'identité : <span class="st">{escape(status)}</span></p>'
            f"<table>{''.join(rows)}</table>")
    return _page(f"Dossier de l'usager {resident.id} — identité", body)


def dmp_sent(doc: StoredDocument, resident: Resident) -> bytes:
    rows = [("Usager", _identity_line(resident)), ("Document", _value(doc.type)),
            ("Envoi au DMP", _value(doc.dmp_status)), ("Identifiant de l'entrée", _value(doc.dmp_entry_uuid)),
            ("Erreur", _value(doc.dmp_error))]
    table = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    return _page(f"Envoi au DMP — document {doc.id}", f"<table>{table}</table>")


def mss_sent(doc: StoredDocument, resident: Resident) -> bytes:
    mdn = doc.mdn or {}
    rows = [("Usager", _identity_line(resident)), ("Document joint", _value(doc.type)),
            ("Envoi MSSanté", _value(doc.mss_status)), ("Message-ID", _value(doc.mss_message_id)),
            ("Accusé", _value(mdn.get("disposition") if isinstance(mdn, dict) else "")),
            ("Erreur", _value(doc.mss_error))]
    table = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    return _page(f"Messages envoyés — document {doc.id}", f"<table>{table}</table>")
