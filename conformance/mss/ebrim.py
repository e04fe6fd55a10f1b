"""Reading the ebRIM ``SubmitObjectsRequest`` of an XDM ``METADATA.XML`` into plain objects.

Why here and not in the DMP room: when this was written, ``conformance/dmp/xds.py`` did not exist yet;
the URIs and scheme ids are imported from ``conformance.dmp.ns`` so both rooms agree on them. The
reader is deliberately forgiving (it records what it finds, with lines); judging is done by
``conformance.mss.xdm``. ``DocumentEntry.as_mapping()`` gives the plain slot/classification mapping
that ``conformance.dmp.metadata_vs_cda.compare_metadata_with_cda`` takes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from conformance.dmp.ns import (
    DE_IDENTIFIERS,
    DE_SCHEMES,
    LCM,
    NODE_SUBMISSION_SET,
    RIM,
    SS_IDENTIFIERS,
    SS_SCHEMES,
)

NS = {"rim": RIM, "lcm": LCM}


@dataclass(frozen=True)
class Coded:
    code: str
    scheme: str
    display: str


@dataclass
class RegistryObject:
    """What DocumentEntries and SubmissionSets share: id, slots, classifications, external ids."""

    id: str
    line: int | None
    xpath: str
    slots: dict[str, list[str]] = field(default_factory=dict)
    classifications: dict[str, list[Coded]] = field(default_factory=dict)
    author_slots: list[dict[str, list[str]]] = field(default_factory=list)
    identifiers: dict[str, str] = field(default_factory=dict)
    title: str = ""
    attributes: dict[str, str] = field(default_factory=dict)

    def slot(self, name: str) -> str | None:
        values = self.slots.get(name)
        return values[0] if values else None

    def code(self, name: str) -> Coded | None:
        values = self.classifications.get(name)
        return values[0] if values else None


@dataclass
class DocumentEntry(RegistryObject):
    @property
    def uri(self) -> str | None:
        return self.slot("URI")

    @property
    def mime_type(self) -> str:
        return self.attributes.get("mimeType", "")

    def as_mapping(self) -> dict[str, Any]:
        """A plain mapping of XDS metadata (slot and classification values by XDS attribute name)."""
        out: dict[str, Any] = {"entryUUID": self.id, "title": self.title, "mimeType": self.mime_type}
        for name, values in self.slots.items():
            out[name] = values[0] if len(values) == 1 else list(values)
        for name, codes in self.classifications.items():
            if name == "author":
                continue
            first = codes[0]
            out[name] = {"code": first.code, "codingScheme": first.scheme, "displayName": first.display}
            if len(codes) > 1:
                out[name + "List"] = [{"code": c.code, "codingScheme": c.scheme, "displayName": c.display}
                                      for c in codes]
        for name, value in self.identifiers.items():
            out[name] = value
        if self.author_slots:
            out["author"] = [{k: (v[0] if len(v) == 1 else list(v)) for k, v in a.items()} for a in self.author_slots]
        return out


@dataclass
class SubmissionSet(RegistryObject):
    pass


@dataclass
class Association:
    id: str
    type: str
    source: str
    target: str
    slots: dict[str, list[str]]
    line: int | None


@dataclass
class SubmitObjects:
    document_entries: list[DocumentEntry] = field(default_factory=list)
    submission_sets: list[SubmissionSet] = field(default_factory=list)
    associations: list[Association] = field(default_factory=list)
    root_tag: str = ""


_DE_SCHEME_NAMES = {v: k for k, v in DE_SCHEMES.items()}
_SS_SCHEME_NAMES = {v: k for k, v in SS_SCHEMES.items()}
_DE_ID_NAMES = {v: k for k, v in DE_IDENTIFIERS.items()}
_SS_ID_NAMES = {v: k for k, v in SS_IDENTIFIERS.items()}


def _slots(el: etree._Element) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for slot in el.findall("rim:Slot", NS):
        name = slot.get("name") or ""
        out.setdefault(name, []).extend((v.text or "").strip() for v in slot.findall("rim:ValueList/rim:Value", NS))
    return out


def _name(el: etree._Element) -> str:
    loc = el.find("rim:Name/rim:LocalizedString", NS)
    return (loc.get("value") or "") if loc is not None else ""


def _fill(obj: RegistryObject, el: etree._Element, schemes: dict[str, str], ids: dict[str, str]) -> None:
    obj.slots = _slots(el)
    obj.title = _name(el)
    obj.attributes = {k: v for k, v in el.attrib.items() if isinstance(k, str)}
    for cl in el.findall("rim:Classification", NS):
        scheme = cl.get("classificationScheme") or ""
        name = schemes.get(scheme)
        if name is None:
            continue
        if name == "author":
            obj.author_slots.append(_slots(cl))
            continue
        cl_slots = _slots(cl)
        coding = (cl_slots.get("codingScheme") or [""])[0]
        obj.classifications.setdefault(name, []).append(
            Coded(code=cl.get("nodeRepresentation") or "", scheme=coding, display=_name(cl)))
    for ext in el.findall("rim:ExternalIdentifier", NS):
        name = ids.get(ext.get("identificationScheme") or "")
        if name:
            obj.identifiers[name] = ext.get("value") or ""


def read_submit_objects(tree: etree._ElementTree) -> SubmitObjects:
    """Collect DocumentEntries, SubmissionSets and Associations (no judgement here)."""
    root = tree.getroot()
    out = SubmitObjects(root_tag=str(root.tag))
    lists = root.findall("rim:RegistryObjectList", NS)
    container = lists[0] if lists else root
    ss_ids: set[str] = set()
    for cl in container.iter(f"{{{RIM}}}Classification"):
        if cl.get("classificationNode") == NODE_SUBMISSION_SET:
            ss_ids.add(cl.get("classifiedObject") or "")
    for el in container:
        if not isinstance(el.tag, str):
            continue
        local = etree.QName(el).localname
        path = tree.getpath(el)
        if local == "ExtrinsicObject":
            de = DocumentEntry(id=el.get("id") or "", line=el.sourceline, xpath=path)
            _fill(de, el, _DE_SCHEME_NAMES, _DE_ID_NAMES)
            out.document_entries.append(de)
        elif local == "RegistryPackage":
            pkg_id = el.get("id") or ""
            is_ss = pkg_id in ss_ids or any(
                cl.get("classificationNode") == NODE_SUBMISSION_SET for cl in el.findall("rim:Classification", NS))
            if is_ss:
                ss = SubmissionSet(id=pkg_id, line=el.sourceline, xpath=path)
                _fill(ss, el, _SS_SCHEME_NAMES, _SS_ID_NAMES)
                out.submission_sets.append(ss)
        elif local == "Association":
            out.associations.append(Association(
                id=el.get("id") or "", type=el.get("associationType") or "", source=el.get("sourceObject") or "",
                target=el.get("targetObject") or "", slots=_slots(el), line=el.sourceline))
    return out
