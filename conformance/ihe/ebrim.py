"""Building ebRIM objects from the plain metadata mapping (the inverse of ``xds.DocumentEntry.metadata``).

Used by the reference client (ITI-41 submissions, ITI-57 updates) and by the simulator (ITI-18 answers).
Keeping the builder the exact inverse of the parser is what lets a round-trip test pin both.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from lxml import etree

from conformance.ihe import ns
from conformance.ihe.ns import q


def _slot(parent: etree._Element, name: str, values: Iterable[str]) -> None:
    values = [v for v in values if v not in (None, "")]
    if not values:
        return
    slot = etree.SubElement(parent, q(ns.RIM, "Slot"), name=name)
    vl = etree.SubElement(slot, q(ns.RIM, "ValueList"))
    for v in values:
        etree.SubElement(vl, q(ns.RIM, "Value")).text = str(v)


def _localized(parent: etree._Element, child: str, value: str) -> None:
    if not value:
        return
    holder = etree.SubElement(parent, q(ns.RIM, child))
    etree.SubElement(holder, q(ns.RIM, "LocalizedString"), value=value)


def _coded_values(value: Any) -> list[dict[str, str]]:
    if not value:
        return []
    if isinstance(value, Mapping):
        return [dict(value)]
    out = []
    for v in value:
        if isinstance(v, Mapping):
            out.append(dict(v))
        elif isinstance(v, (tuple, list)):
            out.append({"code": v[0], "scheme": v[1] if len(v) > 1 else "", "display": v[2] if len(v) > 2 else ""})
    return out


def _classification(parent: etree._Element, obj_id: str, scheme: str, coded: Mapping[str, str], n: int) -> None:
    cl = etree.SubElement(parent, q(ns.RIM, "Classification"), id=f"{obj_id}-cl{n}",
                          classificationScheme=scheme, classifiedObject=obj_id,
                          nodeRepresentation=coded.get("code", ""))
    cl.set("objectType", "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:Classification")
    _slot(cl, "codingScheme", [coded.get("scheme", "")])
    _localized(cl, "Name", coded.get("display", "") or coded.get("code", ""))


def _author(parent: etree._Element, obj_id: str, scheme: str, author: Mapping[str, Any], n: int) -> None:
    cl = etree.SubElement(parent, q(ns.RIM, "Classification"), id=f"{obj_id}-au{n}",
                          classificationScheme=scheme, classifiedObject=obj_id, nodeRepresentation="")
    for name in ("authorInstitution", "authorPerson", "authorRole", "authorSpecialty", "authorTelecommunication"):
        _slot(cl, name, author.get(name) or [])


def _external_id(parent: etree._Element, obj_id: str, scheme: str, value: str, label: str, n: int) -> None:
    ext = etree.SubElement(parent, q(ns.RIM, "ExternalIdentifier"), id=f"{obj_id}-ei{n}",
                           identificationScheme=scheme, registryObject=obj_id, value=value)
    _localized(ext, "Name", label)


def extrinsic_object(entry_id: str, md: Mapping[str, Any], *, status: str = "", lid: str = "") -> etree._Element:
    attrs = {"id": entry_id, "mimeType": md.get("mimeType") or "text/xml", "objectType": ns.OBJ_STABLE_DE}
    if status:
        attrs["status"] = status
    if lid:
        attrs["lid"] = lid
    eo = etree.Element(q(ns.RIM, "ExtrinsicObject"), attrs)
    for name in ("creationTime", "hash", "languageCode", "legalAuthenticator", "repositoryUniqueId",
                 "serviceStartTime", "serviceStopTime", "size", "sourcePatientId"):
        _slot(eo, name, [md.get(name) or ""])
    _slot(eo, "sourcePatientInfo", md.get("sourcePatientInfo") or [])
    for name in ("version",):
        _slot(eo, name, [md.get(name) or ""])
    _localized(eo, "Name", md.get("title") or "")
    _localized(eo, "Description", md.get("comments") or "")
    n = 0
    for author in md.get("authors") or []:
        n += 1
        _author(eo, entry_id, ns.DE_SCHEMES["author"], author, n)
    for name, scheme in ns.DE_SCHEMES.items():
        if name == "author":
            continue
        for coded in _coded_values(md.get(name)):
            n += 1
            _classification(eo, entry_id, scheme, coded, n)
    if md.get("patientId"):
        _external_id(eo, entry_id, ns.DE_IDENTIFIERS["patientId"], md["patientId"], "XDSDocumentEntry.patientId", 1)
    if md.get("uniqueId"):
        _external_id(eo, entry_id, ns.DE_IDENTIFIERS["uniqueId"], md["uniqueId"], "XDSDocumentEntry.uniqueId", 2)
    return eo


def submission_set(ss_id: str, md: Mapping[str, Any]) -> list[etree._Element]:
    """The RegistryPackage and its SubmissionSet classification (two sibling objects)."""
    rp = etree.Element(q(ns.RIM, "RegistryPackage"), id=ss_id, objectType=ns.OBJ_REGISTRY_PACKAGE)
    _slot(rp, "submissionTime", [md.get("submissionTime") or ""])
    _slot(rp, "intendedRecipient", md.get("intendedRecipient") or [])
    _localized(rp, "Name", md.get("title") or "")
    n = 0
    for author in md.get("authors") or []:
        n += 1
        _author(rp, ss_id, ns.SS_SCHEMES["author"], author, n)
    for coded in _coded_values(md.get("contentTypeCode")):
        n += 1
        _classification(rp, ss_id, ns.SS_SCHEMES["contentTypeCode"], coded, n)
    for i, (name, label) in enumerate((("uniqueId", "XDSSubmissionSet.uniqueId"),
                                       ("sourceId", "XDSSubmissionSet.sourceId"),
                                       ("patientId", "XDSSubmissionSet.patientId")), start=1):
        if md.get(name):
            _external_id(rp, ss_id, ns.SS_IDENTIFIERS[name], md[name], label, i)
    cl = etree.Element(q(ns.RIM, "Classification"), id=f"{ss_id}-ss", classifiedObject=ss_id,
                       classificationNode=ns.NODE_SUBMISSION_SET)
    return [rp, cl]


def association(assoc_id: str, kind: str, source: str, target: str,
                slots: Mapping[str, Iterable[str]] | None = None) -> etree._Element:
    el = etree.Element(q(ns.RIM, "Association"), id=assoc_id, associationType=kind, sourceObject=source,
                       targetObject=target)
    for name, values in (slots or {}).items():
        _slot(el, name, values)
    return el


def submit_objects_request(objects: Iterable[etree._Element]) -> etree._Element:
    req = etree.Element(q(ns.LCM, "SubmitObjectsRequest"), nsmap={"lcm": ns.LCM, "rim": ns.RIM})
    rol = etree.SubElement(req, q(ns.RIM, "RegistryObjectList"))
    for obj in objects:
        rol.append(obj)
    return req


def adhoc_query(query_id: str, params: Mapping[str, Iterable[str]], return_type: str = "LeafClass"
                ) -> etree._Element:
    """An ITI-18 ``query:AdhocQueryRequest`` (values already in ebRS quoting, e.g. ``('urn:...')``)."""
    req = etree.Element(q(ns.QUERY, "AdhocQueryRequest"), nsmap={"query": ns.QUERY, "rim": ns.RIM})
    etree.SubElement(req, q(ns.QUERY, "ResponseOption"), returnComposedObjects="true", returnType=return_type)
    aq = etree.SubElement(req, q(ns.RIM, "AdhocQuery"), id=query_id)
    for name, values in params.items():
        _slot(aq, name, values)
    return req
