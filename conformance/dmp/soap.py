"""SOAP 1.2 envelopes with WS-Addressing, SOAP faults and ebRS RegistryResponses.

Shared by the reference client (builds requests, reads answers), the simulator (reads requests, builds
answers) and the checks (read requests). Reading never raises on bad content: it returns what it found
and leaves the judgement to ``checks.py``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from lxml import etree

from conformance.dmp import ns
from conformance.ihe.ns import q


def new_message_id() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


# ---------------------------------------------------------------------------------------------
# building
# ---------------------------------------------------------------------------------------------
def envelope(action: str, to: str, body_child: etree._Element, *, security: etree._Element | None = None,
             message_id: str | None = None, relates_to: str | None = None,
             must_understand: bool = True) -> etree._Element:
    """A SOAP 1.2 envelope: wsa:Action/MessageID/To (mustUnderstand on Action and To), wsse:Security."""
    env = etree.Element(q(ns.SOAP12, "Envelope"), nsmap={"soap": ns.SOAP12, "wsa": ns.WSA})
    header = etree.SubElement(env, q(ns.SOAP12, "Header"))
    mu = {q(ns.SOAP12, "mustUnderstand"): "true"} if must_understand else {}
    etree.SubElement(header, q(ns.WSA, "Action"), mu).text = action
    etree.SubElement(header, q(ns.WSA, "MessageID")).text = message_id or new_message_id()
    if relates_to:
        etree.SubElement(header, q(ns.WSA, "RelatesTo")).text = relates_to
    if to:
        etree.SubElement(header, q(ns.WSA, "To"), mu).text = to
    if security is not None:
        sec = etree.SubElement(header, q(ns.WSSE, "Security"), nsmap={"wsse": ns.WSSE})
        sec.append(security)
    body = etree.SubElement(env, q(ns.SOAP12, "Body"))
    body.append(body_child)
    return env


def fault(code: str, subcode: str, reason_fr: str, *, relates_to: str | None = None) -> bytes:
    """A SOAP 1.2 Fault (``code`` is Sender or Receiver), French reason with xml:lang."""
    env = etree.Element(q(ns.SOAP12, "Envelope"), nsmap={"soap": ns.SOAP12, "wsa": ns.WSA})
    header = etree.SubElement(env, q(ns.SOAP12, "Header"))
    etree.SubElement(header, q(ns.WSA, "Action")).text = ns.WSA_FAULT
    etree.SubElement(header, q(ns.WSA, "MessageID")).text = new_message_id()
    if relates_to:
        etree.SubElement(header, q(ns.WSA, "RelatesTo")).text = relates_to
    body = etree.SubElement(env, q(ns.SOAP12, "Body"))
    f = etree.SubElement(body, q(ns.SOAP12, "Fault"))
    c = etree.SubElement(f, q(ns.SOAP12, "Code"))
    etree.SubElement(c, q(ns.SOAP12, "Value")).text = f"soap:{code}"
    if subcode:
        sc = etree.SubElement(c, q(ns.SOAP12, "Subcode"))
        etree.SubElement(sc, q(ns.SOAP12, "Value")).text = subcode
    reason = etree.SubElement(f, q(ns.SOAP12, "Reason"))
    text = etree.SubElement(reason, q(ns.SOAP12, "Text"))
    text.set("{http://www.w3.org/XML/1998/namespace}lang", "fr")
    text.text = reason_fr
    return etree.tostring(env, xml_declaration=True, encoding="UTF-8")


@dataclass(frozen=True)
class RegistryError:
    code: str
    context: str = ""
    severity: str = ns.SEVERITY_ERROR
    location: str = ""


def registry_response(status: str, errors: list[RegistryError] | tuple[RegistryError, ...] = ()
                      ) -> etree._Element:
    resp = etree.Element(q(ns.RS, "RegistryResponse"), nsmap={"rs": ns.RS}, status=status)
    if errors:
        lst = etree.SubElement(resp, q(ns.RS, "RegistryErrorList"))
        for err in errors:
            attrs = {"errorCode": err.code, "codeContext": err.context, "severity": err.severity}
            if err.location:
                attrs["location"] = err.location
            etree.SubElement(lst, q(ns.RS, "RegistryError"), attrs)
    return resp


# ---------------------------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------------------------
@dataclass
class SoapHeader:
    soap_ns: str = ""
    action: str = ""
    action_must_understand: str = ""
    message_id: str = ""
    to: str = ""
    relates_to: str = ""
    security: etree._Element | None = None
    assertion: etree._Element | None = None
    body_child: etree._Element | None = None
    problems: list[tuple[str, str, str]] = field(default_factory=list)


def read_envelope(root: etree._Element) -> SoapHeader:
    """The addressing and security facts of an envelope (no judgement, see checks.py)."""
    out = SoapHeader()
    tag = etree.QName(root)
    out.soap_ns = tag.namespace or ""
    if tag.localname != "Envelope":
        out.problems.append(("DMP.SOAP.envelope", f"élément racine {tag.localname} au lieu de Envelope",
                             f"root element {tag.localname} instead of Envelope"))
        return out
    soap = out.soap_ns
    header = root.find(q(soap, "Header"))
    body = root.find(q(soap, "Body"))
    if body is not None:
        children = [c for c in body if isinstance(c.tag, str)]
        out.body_child = children[0] if children else None
    if header is None:
        return out
    for name in ("Action", "MessageID", "To", "RelatesTo"):
        el = header.find(q(ns.WSA, name))
        if el is None:
            continue
        value = (el.text or "").strip()
        if name == "Action":
            out.action = value
            out.action_must_understand = el.get(q(soap, "mustUnderstand"), "")
        elif name == "MessageID":
            out.message_id = value
        elif name == "To":
            out.to = value
        else:
            out.relates_to = value
    out.security = header.find(q(ns.WSSE, "Security"))
    if out.security is not None:
        out.assertion = out.security.find(q(ns.SAML, "Assertion"))
    return out


@dataclass(frozen=True)
class RegistryAnswer:
    """What a DMP answered, as a client sees it."""

    kind: str  # "response" | "fault" | "other"
    status: str = ""
    errors: tuple[RegistryError, ...] = ()
    fault_code: str = ""
    fault_reason: str = ""
    payload: etree._Element | None = None

    @property
    def success(self) -> bool:
        return self.kind == "response" and self.status == ns.RESPONSE_SUCCESS

    @property
    def short_status(self) -> str:
        return self.status.rsplit(":", 1)[-1] if self.status else self.kind

    def describe(self) -> str:
        """One French line for a user: the DMP's codes and texts, as the CNDA asks (PRE_ERR)."""
        if self.kind == "fault":
            return f"Erreur SOAP du DMP ({self.fault_code}) : {self.fault_reason}".strip()
        if self.errors:
            detail = "; ".join(f"{e.code}: {e.context}".rstrip(": ") for e in self.errors)
            return f"DMP {self.short_status} — {detail}"
        return f"DMP {self.short_status}"


def read_answer(root: etree._Element) -> RegistryAnswer:
    """Interpret a SOAP answer: a Fault, or a body holding an rs:RegistryResponse (ITI-41/57) or query."""
    head = read_envelope(root)
    child = head.body_child
    if child is None:
        return RegistryAnswer("other")
    if etree.QName(child).localname == "Fault":
        soap = head.soap_ns
        values = [v.text or "" for v in child.iter(q(soap, "Value"))]
        texts = [t.text or "" for t in child.iter(q(soap, "Text"))]
        return RegistryAnswer("fault", fault_code=" / ".join(v.strip() for v in values if v.strip()),
                              fault_reason=" ".join(t.strip() for t in texts if t.strip()))
    status = child.get("status", "")
    errors = tuple(
        RegistryError(e.get("errorCode", ""), e.get("codeContext", ""), e.get("severity", ""), e.get("location", ""))
        for e in child.iter(q(ns.RS, "RegistryError"))
    )
    return RegistryAnswer("response", status=status, errors=errors, payload=child)
