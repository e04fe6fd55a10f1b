"""The reference DUI's IHE XDM package (IHE_XDM.ZIP) for its MSSanté messages, from IHE ITI TF-1 §16 and
ITI TF-3 §4.3 (media layout) and the CI-SIS MSSanté pages (protocols.md §2.2):

    INDEX.HTM, README.TXT                       at the root
    IHE_XDM/SUBSET01/METADATA.XML               one SubmitObjectsRequest (XDS.b metadata, ebRIM 3.0)
    IHE_XDM/SUBSET01/DOC0001.XML …             the documents, named by the DocumentEntry's URI slot

The DocumentEntry values are the ones this DUI sends to the DMP (``dmp_client.document_metadata``): one reading
of the CDA header per product, whatever the channel. XDM adds to each entry its ``URI`` and, on the
SubmissionSet, the ``intendedRecipient`` addresses and the sender's ``authorTelecommunication``.
"""

from __future__ import annotations

import hashlib
import io
import uuid
import zipfile
from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any

from lxml import etree
from segur_reference_dui import xds
from segur_reference_dui.dmp_client import (
    CONTENT_TYPE,
    LOCAL_IPP_OID,
    LPS_NAME,
    LPS_VERSION,
    SOURCE_ID,
    document_metadata,
    read_cda,
)

SUBSET = "IHE_XDM/SUBSET01"


def _entry(cda: bytes, name: str, corrupt_hash: bool) -> dict[str, Any]:
    facts = read_cda(cda)
    ipp = facts.ipp if facts.ipp[0] else ("inconnu", LOCAL_IPP_OID)
    source_patient_id = f"{ipp[0]}^^^&{ipp[1]}&ISO^PI"
    patient_id = f"{facts.ins[0]}^^^&{facts.ins[1]}&ISO^NH" if facts.ins[0] else source_patient_id
    md = document_metadata(facts, cda, patient_id, source_patient_id)
    if corrupt_hash:  # the xdm_hash_mismatch defect
        md["hash"] = hashlib.sha1(cda + b"\n").hexdigest()  # noqa: S324 - XDS asks for SHA-1
    md["URI"] = name
    return md


def metadata_xml(entries: list[dict[str, Any]], sender: str, recipients: Sequence[str]) -> bytes:
    set_id = f"urn:uuid:{uuid.uuid4()}"
    ss_md = {"uniqueId": f"2.25.{uuid.uuid4().int}", "sourceId": SOURCE_ID,
             "patientId": entries[0]["patientId"] if entries else "",
             "submissionTime": datetime.now(UTC).strftime("%Y%m%d%H%M%S"), "title": "Envoi MSSanté",
             "intendedRecipient": [f"^^Internet^{r}" for r in recipients],
             "authors": [{"authorTelecommunication": [f"^^Internet^{sender}"]}] if sender else [],
             "contentTypeCode": [CONTENT_TYPE]}
    objects = [xds.submission_set(set_id, ss_md)]
    for md in entries:
        entry_id = f"urn:uuid:{uuid.uuid4()}"
        objects.append(xds.document_entry(entry_id, md))
        objects.append(xds.association(f"urn:uuid:{uuid.uuid4()}", xds.HAS_MEMBER, set_id, entry_id, original=True))
    return etree.tostring(xds.submit_objects_request(objects), xml_declaration=True, encoding="UTF-8")


def _index(entries: list[dict[str, Any]]) -> bytes:
    items = "".join(f'<li><a href="{SUBSET}/{escape(md["URI"])}">{escape(md["title"] or md["URI"])}</a></li>'
                    for md in entries)
    return ("<!DOCTYPE html>\n<html lang=\"fr\"><head><meta charset=\"utf-8\"><title>IHE XDM</title></head><body>"
            f"<h1>Documents de cet envoi</h1><ul>{items}</ul><p><a href=\"README.TXT\">README.TXT</a></p>"
            "</body></html>\n").encode()


def _readme(sender: str) -> bytes:
    return (f"Support IHE XDM produit par {LPS_NAME} {LPS_VERSION}\r\n"
            f"Emetteur : {sender or 'non renseigné'}\r\n"
            f"Contenu : INDEX.HTM, {SUBSET}/METADATA.XML et les documents de {SUBSET}/\r\n").encode()


def build(documents: Sequence[bytes], *, sender: str, recipients: Sequence[str], with_readme: bool = True,
          corrupt_hash: bool = False) -> bytes:
    """IHE_XDM.ZIP for ``documents`` (CDA bytes); the keyword switches are the defects."""
    named = [(f"DOC{i:04d}.XML", cda) for i, cda in enumerate(documents, start=1)]
    entries = [_entry(cda, name, corrupt_hash) for name, cda in named]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("INDEX.HTM", _index(entries))
        if with_readme:
            archive.writestr("README.TXT", _readme(sender))
        archive.writestr(f"{SUBSET}/METADATA.XML", metadata_xml(entries, sender, recipients))
        for name, cda in named:
            archive.writestr(f"{SUBSET}/{name}", cda)
    return buffer.getvalue()
