"""The reference DUI's MSSanté client: builds a compliant message with its IHE_XDM.ZIP and sends it.

Behaviour (what a compliant DUI does, rem.md §2.3, protocols.md §2): SMTP with STARTTLS only
(DUI.MSS.01), the operator certificate checked against the IGC-Santé CA of ``ca_pem`` and against its
CRL (DUI.MSS.04/05/06), the applicative mailbox authenticated by its ORG client certificate (CONF.12),
X-MSS-* headers (CONF.14/15/16/21), Reply-To and the "generated automatically" mention (DUI.MSS.10),
a patient address only from a qualified INS (DUI.MSS.11), never a patient send of a document flagged
invisible to the patient, a read-receipt request when asked, DSN NOTIFY when the server offers DSN, and
In-Reply-To / References when the send answers a received message (``in_reply_to``, DUI.MSS.08; the
sandbox declares ``features.mss_reply``).
A refused recipient or a dropped connection gives ``failed`` with the reason, and the message is kept
(its Message-ID stays on the document). Notifications (MDN or "KO" e-mails) are fetched from the
operator mailbox over IMAP+STARTTLS (``imap_port``, an optional addition to contract v1) by a bounded
background poller that links them to the Message-ID and shows an integration error on the document.
"""

from __future__ import annotations

import email
import email.message
import email.policy
import email.utils
import imaplib
import re
import smtplib
import ssl
import tempfile
import threading
import time
import urllib.request
import warnings
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path
from typing import Any

from cryptography import x509
from segur_reference_dui import xdm
from segur_reference_dui.xmlsafe import XmlRejected, parse

DEFECTS = {
    "missing_x_mss_header": "N'ajoute pas l'en-tête X-MSS-NIL (référence produit) aux messages",
    "wrong_codecda": "Met un code erroné dans X-MSS-CODECDA",
    "xdm_without_readme": "Omet README.TXT dans l'archive IHE_XDM.ZIP",
    "xdm_hash_mismatch": "Déclare dans METADATA.XML un hash SHA-1 qui ne correspond pas au document",
    "patient_address_unqualified": "Écrit à la BAL patient même quand l'INS n'est pas qualifié",
    "no_tls": "Envoie en SMTP sans STARTTLS",
    "accepts_any_server_cert": "Accepte n'importe quel certificat serveur (ni AC, ni date, ni révocation)",
    "ignores_mdn_error": "Ignore les accusés d'erreur d'intégration (MDN 90x) : le document reste « envoyé »",
    "invisible_sent_to_patient": "Envoie au patient un document marqué invisible au patient",
    "no_reply_to": "Omet Reply-To et la mention « généré automatiquement » (BAL applicative)",
    "no_read_receipt_header": "Ignore la demande d'accusé de lecture (pas de Disposition-Notification-To)",
    "latin1_body": "Encode le corps du message en ISO-8859-1 au lieu d'UTF-8",
    "distrusts_igc_sante": "Ne fait confiance qu'au magasin système, pas à l'AC IGC-Santé de ca_pem : le certificat "
                           "valide de l'opérateur est refusé, aucun envoi n'aboutit",
    "message_id_without_domain": "Génère un Message-ID sans partie droite (<identifiant> au lieu de <gauche@droite>)",
    "reply_without_references": "Omet l'en-tête References sur une réponse (In-Reply-To seul)",
    "patient_address_without_key": "Construit l'adresse patient sur le matricule INS privé de sa clé (13 caractères)",
    "from_without_display_name": "Met l'adresse seule dans From, sans l'intitulé de la BAL",
    "tls_below_1_2": "Négocie TLS 1.1 avec l'opérateur (SMTP et IMAP)",
    "imap_login_before_starttls": "Tente un LOGIN IMAP en clair avant STARTTLS lors de la relève des accusés",
    "no_client_certificate": "Ne présente pas le certificat ORG AUTH_CLI de la BAL applicative à l'opérateur",
    "x_mss_mes_lowercase": "Écrit « X-MSS-MES: fin » (minuscules) au lieu de FIN",
    "rejection_reason_hidden": "Signale l'échec d'un destinataire refusé sans en donner la raison (code et texte "
                               "de l'opérateur)",
    "sent_despite_dropped_connection": "Marque le document « envoyé » quand l'opérateur coupe la connexion après DATA",
    "mdn_success_as_error": "Affiche une erreur sur le document pour tout accusé, même un accusé de succès",
}

PATIENT_DOMAIN = "patient.mssante.fr"
DEFAULT_NIL = "NIL-SEGUR-REF-0001"
SMTP_TIMEOUT = 15.0
MDN_WAIT_S = 5.0
MDN_POLL_S = 0.2
HL7 = "{urn:hl7-org:v3}"
SMTP_POLICY = SMTP.clone(max_line_length=998)  # no folding of Message-ID and the X-MSS-* headers
_MSG_ID = re.compile(r"<[^<>@\s]{1,500}@[^<>@\s]{1,500}>")


class _Refused(Exception):
    pass


def _attr(obj: Any, name: str, default: Any = None) -> Any:
    return obj.get(name, default) if isinstance(obj, dict) else getattr(obj, name, default)


def _cda_facts(cda: bytes) -> tuple[str, str]:
    """(code, title) of the CDA, read with the safe parser."""
    try:
        root = parse(cda).getroot()
    except XmlRejected:
        return "", ""
    code = root.find(f"{HL7}code")
    title = root.find(f"{HL7}title")
    return (code.get("code", "") if code is not None else "",
            "".join(title.itertext()).strip() if title is not None else "")


def patient_address(resident: Any, defects: frozenset[str] | set[str]) -> str:
    """<matricule INS>@patient.mssante.fr, only for a qualified identity (DUI.MSS.11)."""
    ins = _attr(resident, "ins") or {}
    matricule = ins.get("matricule") if isinstance(ins, dict) else None
    qualified = _attr(resident, "status") == "QUAL"
    lenient = bool(set(defects) & {"patient_address_unqualified", "ins_shared_unqualified"})  # see insi_client.py
    if not matricule or (not qualified and not lenient):
        raise _Refused("envoi au patient impossible : identité INS non qualifiée (DUI.MSS.11)")
    if "patient_address_without_key" in defects:
        matricule = str(matricule)[:13]
    return f"{matricule}@{PATIENT_DOMAIN}"


def build_message(cda: bytes, resident: Any, endpoint: dict[str, Any], defects: frozenset[str] | set[str],
                  options: dict[str, Any], recipients: list[str]) -> tuple[bytes, str]:
    """(raw RFC 5322 bytes, Message-ID) of one document send."""
    sender = str(endpoint.get("sender") or "")
    domain = sender.partition("@")[2] or "dui-reference.test"
    contact = str(endpoint.get("reply_to") or f"secretariat@{domain}")
    code, title = _cda_facts(cda)
    to_patient = any(r.lower().endswith("@" + PATIENT_DOMAIN) for r in recipients)
    msg = EmailMessage(policy=SMTP_POLICY)
    if "from_without_display_name" in defects:
        msg["From"] = sender
    else:
        msg["From"] = email.utils.formataddr((str(endpoint.get("sender_name") or "DUI de référence – BAL applicative"),
                                              sender))
    msg["To"] = ", ".join(recipients)
    if "no_reply_to" not in defects:
        msg["Reply-To"] = contact
    msg["Subject"] = f"XDM/1.0/DDM+{title or 'Document'}"
    msg["Date"] = email.utils.formatdate(localtime=True)
    message_id = email.utils.make_msgid(domain=domain)
    if "message_id_without_domain" in defects:
        message_id = message_id.partition("@")[0] + ">"
    msg["Message-ID"] = message_id
    original = str(options.get("in_reply_to") or "").strip()
    if original:  # a reply to a message received in the operator mailbox (DUI.MSS.08)
        msg["In-Reply-To"] = original
        if "reply_without_references" not in defects:
            msg["References"] = original
    msg["X-MSS-CODECDA"] = "00000-0" if "wrong_codecda" in defects else code
    msg["X-MSS-INS"] = "O" if _attr(resident, "status") == "QUAL" and _attr(resident, "ins") else "N"
    if "missing_x_mss_header" not in defects:
        msg["X-MSS-NIL"] = str(endpoint.get("nil") or DEFAULT_NIL)
    if options.get("no_reply") and to_patient:
        msg["X-MSS-MES"] = "fin" if "x_mss_mes_lowercase" in defects else "FIN"
    if options.get("read_receipt") and "no_read_receipt_header" not in defects:
        msg["Disposition-Notification-To"] = sender
    body = f"Bonjour,\r\n\r\nVeuillez trouver ci-joint le document « {title or 'document'} ».\r\n\r\n"
    if "no_reply_to" not in defects:
        body += (f"Ce message a été généré automatiquement par le logiciel DUI ; merci de ne pas y répondre "
                 f"directement. Pour toute question, contactez {contact}.\r\n")
    if "latin1_body" in defects:
        msg.set_content(body.encode("latin-1", "replace"), maintype="text", subtype="plain",
                        cte="quoted-printable", params={"charset": "iso-8859-1"})
    else:
        msg.set_content(body, charset="utf-8", cte="quoted-printable")
    package = xdm.build([cda], sender=sender, recipients=recipients, with_readme="xdm_without_readme" not in defects,
                        corrupt_hash="xdm_hash_mismatch" in defects)
    msg.add_attachment(package, maintype="application", subtype="zip", filename="IHE_XDM.ZIP")
    return msg.as_bytes(), message_id


# -- TLS -----------------------------------------------------------------------------------------
_PEM_BLOCK = re.compile(rb"-----BEGIN (CERTIFICATE|X509 CRL)-----\r?\n.*?-----END \1-----", re.S)


def split_bundle(pem: str) -> tuple[list[x509.Certificate], list[x509.CertificateRevocationList]]:
    """The CA certificates and CRLs of ``ca_pem`` (PEM blocks in any order; unreadable blocks skipped)."""
    certs, crls = [], []
    for match in _PEM_BLOCK.finditer(pem.encode("ascii", "replace")[:4 * 1024 * 1024]):
        try:
            if match.group(1) == b"CERTIFICATE":
                certs.append(x509.load_pem_x509_certificate(match.group(0)))
            else:
                crls.append(x509.load_pem_x509_crl(match.group(0)))
        except ValueError:
            continue
    return certs, crls


def tls_context(endpoint: dict[str, Any], defects: frozenset[str] | set[str]) -> ssl.SSLContext:
    """Client context: the IGC-Santé CA of ``ca_pem`` only, hostname checked, the ORG client certificate."""
    if "accepts_any_server_cert" in defects:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif "distrusts_igc_sante" in defects:
        ctx = ssl.create_default_context()  # the system store only: the IGC-Santé test CA is not in it
    else:
        certs, _ = split_bundle(str(endpoint.get("ca_pem") or ""))
        if not certs:
            raise _Refused("aucune autorité de certification (ca_pem) configurée")
        from cryptography.hazmat.primitives.serialization import Encoding

        ctx = ssl.create_default_context(cadata="".join(c.public_bytes(Encoding.PEM).decode("ascii") for c in certs))
    if "tls_below_1_2" in defects:
        with warnings.catch_warnings():  # TLS 1.1 is deprecated: that is the defect
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
            ctx.maximum_version = ssl.TLSVersion.TLSv1_1
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    else:
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    cert, key = endpoint.get("client_cert_pem"), endpoint.get("client_key_pem")
    if cert and key and "no_client_certificate" not in defects:
        with tempfile.TemporaryDirectory(prefix="dui-mss-") as tmp:
            cert_path, key_path = Path(tmp) / "client.pem", Path(tmp) / "client.key"
            cert_path.write_text(str(cert), encoding="ascii")
            key_path.write_text(str(key), encoding="ascii")
            key_path.chmod(0o600)
            ctx.load_cert_chain(str(cert_path), str(key_path))
    return ctx


def _revoked(der: bytes | None, endpoint: dict[str, Any]) -> bool:
    """CRL check of the operator certificate: the CRLs of ``ca_pem``, else the loopback CDP of the cert."""
    if not der:
        return False
    cert = x509.load_der_x509_certificate(der)
    certs, crls = split_bundle(str(endpoint.get("ca_pem") or ""))
    if not crls:
        crls = _fetch_crls(cert)
    issuers = {c.subject: c for c in certs}
    for crl in crls:
        issuer = issuers.get(crl.issuer)
        if issuer is None or not crl.is_signature_valid(issuer.public_key()):  # type: ignore[arg-type]
            continue
        if crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None:
            return True
    return False


def _fetch_crls(cert: x509.Certificate) -> list[x509.CertificateRevocationList]:
    try:
        cdp = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except x509.ExtensionNotFound:
        return []
    out = []
    for point in cdp:
        for name in point.full_name or []:
            url = str(name.value)
            if not url.startswith(("http://127.0.0.1", "http://localhost")):
                continue  # the reference DUI runs offline: only the simulator's own CRL server
            try:
                with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - loopback only
                    out.append(x509.load_der_x509_crl(resp.read(1024 * 1024)))
            except (OSError, ValueError):
                continue
    return out


# -- send ----------------------------------------------------------------------------------------
def _recipients(document: Any, resident: Any, options: dict[str, Any], defects: frozenset[str] | set[str]) -> list[str]:
    given = options.get("recipients") or []
    if not isinstance(given, list):
        raise _Refused("recipients doit être une liste d'adresses")
    recipients = [str(r).strip() for r in given if str(r).strip()]
    if options.get("to_patient"):
        if options.get("invisible_to_patient") and "invisible_sent_to_patient" not in defects:
            raise _Refused("document invisible au patient : envoi à la BAL patient refusé (INVISIBLE_PATIENT)")
        recipients.append(patient_address(resident, defects))
    if not recipients:
        raise _Refused("aucun destinataire")
    original = options.get("in_reply_to")
    if original is not None and not (isinstance(original, str) and _MSG_ID.fullmatch(original.strip())):
        raise _Refused("in_reply_to doit être le Message-ID <gauche@droite> du message auquel on répond")
    bad = [r for r in recipients if "@" not in r or any(c in r for c in " <>,;\r\n")]
    if bad:
        raise _Refused(f"adresse invalide : {bad[0]}")
    return list(dict.fromkeys(recipients))


def _set(document: Any, **values: Any) -> None:
    for key, value in values.items():
        setattr(document, key, value)


def send(document: Any, resident: Any, endpoint: dict[str, Any], defects: frozenset[str] | set[str],
         options: dict[str, Any]) -> dict[str, Any]:
    """Send ``document`` by MSSanté; returns {"status": "sent"|"failed"|"refused", "message_id", "error"}."""
    defects = frozenset(defects)
    missing = [k for k in ("host", "port", "sender") if not endpoint.get(k)]
    if missing:
        return _outcome(document, "failed", None, f"point d'accès MSSanté incomplet : {', '.join(missing)}")
    try:
        recipients = _recipients(document, resident, options, defects)
        raw, message_id = build_message(bytes(_attr(document, "cda") or b""), resident, endpoint, defects, options,
                                        recipients)
    except _Refused as exc:
        return _outcome(document, "refused", None, str(exc))
    except XmlRejected as exc:
        return _outcome(document, "failed", None, f"document CDA illisible, archive XDM impossible : {exc.reason}")
    _set(document, mss_raw=raw, mdn=None)
    try:
        error = _transmit(raw, recipients, endpoint, defects)
    except _Refused as exc:
        error = str(exc)
    if error:
        return _outcome(document, "failed", message_id, error)
    outcome = _outcome(document, "sent", message_id, None)
    if endpoint.get("imap_port"):
        _watch_notifications(document, endpoint, defects, message_id)
    return outcome


def _outcome(document: Any, status: str, message_id: str | None, error: str | None) -> dict[str, Any]:
    _set(document, mss_status=status, mss_error=error)
    if message_id:
        _set(document, mss_message_id=message_id)  # the message is kept even when sending failed
    return {"status": status, "message_id": message_id, "error": error}


def _transmit(raw: bytes, recipients: list[str], endpoint: dict[str, Any], defects: frozenset[str]) -> str | None:
    """SMTP dialogue; None on success, else the error to show the user."""
    host, port = str(endpoint["host"]), int(endpoint["port"])
    try:
        ctx = tls_context(endpoint, defects)
        with smtplib.SMTP(host, port, timeout=SMTP_TIMEOUT) as smtp:
            smtp.ehlo()
            if "no_tls" not in defects:
                if not smtp.has_extn("starttls"):
                    return "le serveur MSSanté ne propose pas STARTTLS : envoi refusé"
                smtp.starttls(context=ctx)
                if "accepts_any_server_cert" not in defects and _revoked(
                        smtp.sock.getpeercert(binary_form=True), endpoint):  # type: ignore[union-attr]
                    smtp.quit()
                    return "certificat du serveur MSSanté révoqué : envoi refusé"
                smtp.ehlo()
            rcpt_options = ["NOTIFY=SUCCESS,FAILURE,DELAY"] if smtp.has_extn("dsn") else []
            refused = smtp.sendmail(str(endpoint["sender"]), recipients, raw, rcpt_options=rcpt_options)
            if refused and "rejection_reason_hidden" in defects:
                return "échec de l'envoi MSSanté"
            if refused:
                return "destinataire(s) refusé(s) : " + "; ".join(
                    f"{addr} ({code} {msg.decode('utf-8', 'replace')})" for addr, (code, msg) in refused.items())
    except smtplib.SMTPRecipientsRefused as exc:
        if "rejection_reason_hidden" in defects:
            return "échec de l'envoi MSSanté"
        return "destinataire(s) refusé(s) : " + "; ".join(
            f"{addr} ({code} {msg.decode('utf-8', 'replace')})" for addr, (code, msg) in exc.recipients.items())
    except smtplib.SMTPResponseException as exc:
        if "rejection_reason_hidden" in defects:
            return "échec de l'envoi MSSanté"
        text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        return f"refus du serveur MSSanté : {exc.smtp_code} {text}"
    except ssl.SSLCertVerificationError as exc:
        return f"certificat du serveur MSSanté refusé : {exc.verify_message or exc.reason}"
    except smtplib.SMTPServerDisconnected as exc:
        if "sent_despite_dropped_connection" in defects:
            return None  # the defect: no reply to DATA taken for a success
        return f"échec de l'envoi MSSanté : {exc.__class__.__name__}: {exc}"[:500]
    except (TimeoutError, ssl.SSLError, smtplib.SMTPException, OSError) as exc:
        return f"échec de l'envoi MSSanté : {exc.__class__.__name__}: {exc}"[:500]
    return None


# -- notifications ---------------------------------------------------------------------------------
def _watch_notifications(document: Any, endpoint: dict[str, Any], defects: frozenset[str], message_id: str) -> None:
    """Poll the operator mailbox (bounded) for the MDN or KO e-mail answering ``message_id``."""
    wait = float(endpoint.get("mdn_wait_s") or MDN_WAIT_S)
    thread = threading.Thread(target=_poll, args=(document, endpoint, defects, message_id, time.monotonic() + wait),
                              name=f"mdn-{message_id[:20]}", daemon=True)
    thread.start()


def _poll(document: Any, endpoint: dict[str, Any], defects: frozenset[str], message_id: str, deadline: float) -> None:
    try:
        ctx = tls_context(endpoint, defects)
        imap = imaplib.IMAP4(str(endpoint["host"]), int(endpoint["imap_port"]), timeout=SMTP_TIMEOUT)
    except (OSError, ssl.SSLError, imaplib.IMAP4.error, _Refused):
        return
    seen: set[bytes] = set()
    try:
        if "imap_login_before_starttls" in defects:
            try:  # the defect: credentials offered in clear (the operator refuses LOGIN)
                imap.login(str(endpoint.get("sender") or ""), "mot-de-passe")
            except imaplib.IMAP4.error:
                pass
        imap.starttls(ssl_context=ctx)
        imap.authenticate("EXTERNAL", lambda _: b"")
        imap.select("INBOX", readonly=True)
        while time.monotonic() < deadline:
            _, data = imap.uid("SEARCH", None, "ALL")  # type: ignore[arg-type]
            for uid in (data[0] or b"").split():
                if uid in seen:
                    continue
                seen.add(uid)
                _, fetched = imap.uid("FETCH", uid.decode(), "(BODY.PEEK[])")
                raw = next((item[1] for item in fetched if isinstance(item, tuple)), b"")
                notice = read_notification(raw)
                if notice is not None and notice["original_message_id"] == message_id:
                    _apply_notice(document, notice, defects)
                    return
            time.sleep(MDN_POLL_S)
            imap.noop()
    except (OSError, ssl.SSLError, imaplib.IMAP4.error, ValueError):
        return
    finally:
        try:
            imap.logout()
        except (OSError, imaplib.IMAP4.error, ssl.SSLError):
            pass


# RFC 8098 with the ANS shape: "Disposition: automatic-action/MDN-sent-automatically; processed/Error: 902^label"
_ERROR = re.compile(r"processed\s*/\s*error\s*:\s*([^\s^;]+)\s*(?:\^\s*([^;]*))?", re.I)
_KO = re.compile(r"\[KO Int[ée]gration syst[èe]me !\]\s*\[(\d{3})\]")
MAX_NOTICE_BYTES = 30 * 1024 * 1024


def read_notification(raw: bytes) -> dict[str, str] | None:
    """An MDN (multipart/report; report-type=disposition-notification) or a "KO" e-mail, as this DUI keeps it
    on the document; None for any other message."""
    if not raw or len(raw) > MAX_NOTICE_BYTES:
        return None
    try:
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        subject = str(msg.get("Subject") or "")
        if msg.get_content_type() == "multipart/report":
            for part in list(msg.iter_parts())[:10]:
                if part.get_content_type() != "message/disposition-notification":
                    continue
                fields = part.get_payload()
                fields = fields[0] if isinstance(fields, list) and fields else fields
                if not isinstance(fields, email.message.Message):
                    fields = email.message_from_string(str(fields), policy=email.policy.default)
                disposition = " ".join(str(fields.get("Disposition") or "").split())
                error = _ERROR.search(disposition)
                return {"kind": "mdn", "original_message_id": str(fields.get("Original-Message-ID") or "").strip(),
                        "disposition": disposition, "error_code": error.group(1) if error else "",
                        "error_label": (error.group(2) or "").strip() if error else "", "subject": subject}
        ko = _KO.search(subject)
        if ko:
            return {"kind": "error-mail", "original_message_id": str(msg.get("In-Reply-To") or "").strip(),
                    "disposition": "", "error_code": ko.group(1), "error_label": "", "subject": subject}
    except (ValueError, TypeError, LookupError, IndexError, RecursionError):
        return None
    return None


def _apply_notice(document: Any, notice: dict[str, str], defects: frozenset[str]) -> None:
    """Link the notification to the sent message and show an integration error on the document."""
    data = dict(notice)
    data["received_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    is_error = bool(notice["error_code"])
    if not is_error and "mdn_success_as_error" in defects:
        _set(document, mdn=data, mss_status="failed",
             mss_error=f"erreur signalée par l'accusé du destinataire : {notice['disposition']}")
    elif is_error and "ignores_mdn_error" not in defects:
        _set(document, mdn=data, mss_status="failed",
             mss_error=f"erreur d'intégration chez le destinataire : {notice['error_code']}^{notice['error_label']}"
             .rstrip("^"))
    else:
        _set(document, mdn=data)
