"""SVRL (Schematron Validation Report Language) → findings.

The compiled schematrons write standard SVRL, so this module also reads SVRL produced elsewhere (for
example by the ANS Java chain) and the two can be compared. It is the only place that decides how a
failed assert becomes a Finding: message = the assert text, rule = schematron file + assert id (or
pattern id), xpath = the SVRL location, line = that location evaluated on the document, severity from
@role/@flag.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from lxml import etree

from conformance.findings import Finding, Severity
from conformance.safexml import Limits, parse_bytes

SVRL_NS = "http://purl.oclc.org/dsdl/svrl"
SC_NS = "urn:segur-conformance:schematron"
HL7_NS = "urn:hl7-org:v3"
_S = f"{{{SVRL_NS}}}"

# Severity words seen in schematrons (ISO leaves @role/@flag free text).
_ERROR_WORDS = {"error", "fatal", "erreur", "err", "critical"}
_WARNING_WORDS = {"warning", "warn", "avertissement", "alerte"}
_INFO_WORDS = {"info", "information", "informational", "note", "hint"}

DEAD_RULE = "CDA.SCH.DEAD_RULE"
MAX_FINDINGS_PER_REPORT = 500


@dataclass(frozen=True)
class SvrlResult:
    """One failed-assert or successful-report, with the pattern and rule it came from."""

    kind: str  # "failed-assert" | "successful-report"
    text: str
    test: str = ""
    location: str = ""
    id: str = ""
    role: str = ""
    flag: str = ""
    see: str = ""
    pattern: str = ""
    rule_context: str = ""
    rule_id: str = ""
    dead_rule: bool = False


@dataclass
class SvrlReport:
    title: str = ""
    phase: str = ""
    active_patterns: int = 0
    fired_rules: int = 0
    results: list[SvrlResult] = field(default_factory=list)

    @property
    def failed_asserts(self) -> list[SvrlResult]:
        return [r for r in self.results if r.kind == "failed-assert" and not r.dead_rule]

    @property
    def successful_reports(self) -> list[SvrlResult]:
        return [r for r in self.results if r.kind == "successful-report" and not r.dead_rule]


def parse_svrl(data: str | bytes) -> SvrlReport:
    """Read an SVRL document (ours or the official chain's) into a flat report.

    SVRL is a flat list: active-pattern, then that pattern's fired-rules, each followed by its
    failed-asserts and successful-reports. We keep the current pattern and rule while walking it.
    """
    raw = data.encode("utf-8") if isinstance(data, str) else data
    root = parse_bytes(raw).getroot()
    report = SvrlReport(title=root.get("title", ""), phase=root.get("phase", ""))
    pattern = rule_context = rule_id = ""
    dead = False
    for el in root:
        if not isinstance(el.tag, str) or not el.tag.startswith(_S):
            continue
        name = el.tag[len(_S):]
        if name == "active-pattern":
            report.active_patterns += 1
            pattern = el.get("id") or el.get("name") or ""
            dead = el.get(f"{{{SC_NS}}}shadow") == "dead-rule"
            rule_context = rule_id = ""
        elif name == "fired-rule":
            if not dead:
                report.fired_rules += 1
            rule_context = el.get("context", "")
            rule_id = el.get("id", "")
        elif name in ("failed-assert", "successful-report"):
            text_el = el.find(_S + "text")
            text = " ".join("".join(text_el.itertext()).split()) if text_el is not None else ""
            report.results.append(
                SvrlResult(
                    kind=name,
                    text=text,
                    test=" ".join(el.get("test", "").split()),
                    location=el.get("location", ""),
                    id=el.get("id", ""),
                    role=el.get("role", ""),
                    flag=el.get("flag", ""),
                    see=el.get("see", ""),
                    pattern=pattern,
                    rule_context=rule_context,
                    rule_id=rule_id,
                    dead_rule=dead,
                )
            )
    return report


_QUIET_ROOT = "<svrl:schematron-output"
_QUIET_XMLDECL = re.compile(r"<\?xml[ \t\r\n]")
_QUIET_ENCODING = re.compile(r"""encoding\s*=\s*["']([^"']*)["']""")
_QUIET_DECL = f'xmlns:svrl="{SVRL_NS}"'
_QUIET_ACTIVE = "<svrl:active-pattern"
_QUIET_FIRED = "<svrl:fired-rule"
_QUIET_NAME_ENDS = (" ", "\t", "\n", "\r", "/", ">")


def _count_elements(text: str, start: str) -> int:
    """Occurrences of the start tag ``start`` followed by the end of the name — str.count, not a regular
    expression (≈ 6× faster on the 60 KB SVRL of StrucMin). Saxon writes ``<svrl:fired-rule `` or
    ``<svrl:fired-rule/>``: when those two account for every occurrence of ``start``, that is the
    count; otherwise each end of the name is counted."""
    every = text.count(start)
    spaced = text.count(start + " ")
    if spaced == every or spaced + text.count(start + "/") == every:
        return every
    return sum(text.count(start + end) for end in _QUIET_NAME_ENDS)


_QUIET_CHARREF = re.compile(r"&#(x[0-9A-Fa-f]{1,8}|[0-9]{1,10});")
# characters a reference may stand for in a text read without a tree: none can be part of a name, of
# "dead-rule" or of the namespace URI (Saxon writes them for line ends, tabs and quotes in values)
_QUIET_HARMLESS = frozenset('\t\n\r "\'<>&')


def _harmless_refs(text: str) -> bool:
    if "&" not in text or "&#" not in text:  # a one-character search is ≈ 3× faster: first
        return True
    if text.count("&#") != len(refs := _QUIET_CHARREF.findall(text)):
        return False  # a malformed reference: the parser says what it is
    for ref in refs:
        code = int(ref[1:], 16) if ref[0] == "x" else int(ref)
        if code > 0x10FFFF or chr(code) not in _QUIET_HARMLESS:
            return False
    return True


def quiet_report(text: str) -> SvrlReport | None:
    """The report of an SVRL text that reports nothing, read without building a tree (issue 16).

    Most documents fire hundreds of rules and fail none; :func:`parse_svrl` then builds a tree only
    to count them (≈ 1.6 ms per call on StrucMin's 57 KB SVRL of the kit's DLU, against ≈ 0.27 ms
    here: a dozen ``str.count``/``in`` passes, no regular expression, no tree). Returns the very
    report :func:`parse_svrl` would return, or None when that is not certain, and the caller parses. Certain means, in a well-formed text as Saxon serialises it
    (a character reference only for white space, a quote, ``<``, ``>`` or ``&``, which cannot be
    part of a name; a text with any other is parsed):
    no ``failed-assert``/``successful-report``/``dead-rule`` anywhere, so no result and no dead
    pattern; every ``<`` but the declaration's and the final root end tag's starts ``<svrl:``, so
    no comment, CDATA, DOCTYPE or other processing instruction, and every ``<`` opens a tag (text
    and attribute values escape it); the SVRL namespace named once,
    as the root's ``svrl`` prefix, so every SVRL element is ``svrl:…`` and every ``svrl:…`` is
    SVRL; one end tag (the root's), so every other element is empty and a child of the root —
    the only elements ``parse_svrl`` counts. Title and phase come from the root start tag,
    parsed on its own.
    """
    limits = Limits()
    # the UTF-8 size: at least len(text) (a smaller node budget: conservative), at most 4 × len(text)
    size = len(text) if text.isascii() or 4 * len(text) <= limits.max_bytes else len(text.encode("utf-8"))
    tags = text.count("<")
    if size > limits.max_bytes or 2 * tags + 2 * text.count("=") + 1 > limits.node_budget(size):
        return None  # the full parse might refuse it (safexml's own upper bound): let it say so
    # an XML declaration ("<?xml-stylesheet" is a processing instruction), and one that names no other
    # encoding than UTF-8: parse_svrl reads the text by it (independent review)
    declared = _QUIET_XMLDECL.match(text) is not None
    decl_end = text.find("?>") if declared else -1
    if declared:
        named = _QUIET_ENCODING.search(text, 0, max(decl_end, 0))
        if named is not None and named.group(1).lower() != "utf-8":
            return None
    if (
        "failed-assert" in text
        or "successful-report" in text
        or "dead-rule" in text
        # every "<" but the declaration's and the root's end tag opens an svrl: element — so no
        # comment, CDATA, DOCTYPE, other processing instruction or end tag (one count, not three)
        or tags != text.count("<svrl:") + (2 if declared else 1)
        or not text.rstrip().endswith("</svrl:schematron-output>")
        # a character reference could spell a name or "dead-rule"
        or not _harmless_refs(text)
        or text.count(SVRL_NS) != 1
        or text.count("xmlns:svrl=") != 1
    ):
        return None
    body = text[decl_end + 2:] if declared else text
    body = body.lstrip()
    end = body.find(">")
    if not body.startswith(_QUIET_ROOT) or end < 0 or body[end - 1] == "/" or _QUIET_DECL not in body[:end]:
        return None
    try:
        root = etree.fromstring(body[: end + 1] + "</svrl:schematron-output>")
    except etree.XMLSyntaxError:
        return None
    if root.tag != _S + "schematron-output":
        return None
    return SvrlReport(
        title=root.get("title", ""),
        phase=root.get("phase", ""),
        active_patterns=_count_elements(text, _QUIET_ACTIVE),
        fired_rules=_count_elements(text, _QUIET_FIRED),
    )


def severity_of(role: str, flag: str = "") -> Severity:
    """error/fatal → ERROR, warning → WARNING, info → INFO; no role → ERROR (an assert is a SHALL)."""
    for word in (role, flag):
        w = (word or "").strip().lower()
        if w in _ERROR_WORDS:
            return Severity.ERROR
        if w in _WARNING_WORDS:
            return Severity.WARNING
        if w in _INFO_WORDS:
            return Severity.INFO
    return Severity.ERROR


_LOCATION_SAFE = re.compile(r"^[/\w:\-.\[\]@*()=' ,]+$")


def resolve_line(tree: etree._ElementTree | None, location: str) -> int | None:
    """Line of the node an SVRL location points to, evaluated with lxml (None when unknown)."""
    if tree is None or not location or len(location) > 4000 or not _LOCATION_SAFE.match(location):
        return None
    try:
        hits = tree.xpath(location, namespaces={"cda": HL7_NS})
    except (etree.XPathError, TypeError, ValueError):
        return None
    if not isinstance(hits, list) or not hits:
        return None
    node = hits[0]
    if isinstance(node, etree._Element):
        return node.sourceline
    parent = getattr(node, "getparent", lambda: None)()
    return parent.sourceline if parent is not None else None


def location_of(node: etree._Element) -> str:
    """The location format of the compiled schematrons (``/cda:ClinicalDocument[1]/cda:author[1]``).

    XSD findings use it too, so both layers point at nodes the same way.
    """
    steps: list[str] = []
    el: etree._Element | None = node
    while el is not None:
        if not isinstance(el.tag, str):
            return ""
        q = etree.QName(el)
        ns, ln = q.namespace or "", q.localname
        if ns == HL7_NS:
            name = f"cda:{ln}"
        elif not ns:
            name = ln
        else:
            name = f"*[local-name()='{ln}' and namespace-uri()='{ns}']"
        pos = 1
        for sib in el.itersiblings(preceding=True):
            if isinstance(sib.tag, str) and sib.tag == el.tag:
                pos += 1
        steps.append(f"/{name}[{pos}]")
        el = el.getparent()
    return "".join(reversed(steps))


def to_findings(
    report: SvrlReport,
    *,
    schematron: str,
    artefact: str,
    tree: etree._ElementTree | None = None,
    requirements: Iterable[str] = (),
    limit: int = MAX_FINDINGS_PER_REPORT,
) -> list[Finding]:
    """One Finding per failed-assert / successful-report (dead-rule shadows become WARNINGs)."""
    reqs = tuple(requirements)
    out: list[Finding] = []
    for res in report.results[:limit]:
        ident = res.id or res.pattern or res.rule_id or "?"
        line = resolve_line(tree, res.location)
        verb_fr = "assertion non respectée" if res.kind == "failed-assert" else "rapport déclenché"
        verb_en = "failed assertion" if res.kind == "failed-assert" else "successful report"
        if res.dead_rule:
            out.append(
                Finding(
                    message=(
                        f"Règle du kit jamais exécutée par la chaîne officielle (règle morte, {schematron}) "
                        f"mais non respectée par le document : {res.text}"
                    ),
                    message_en=(
                        f"Kit rule never run by the official chain (dead rule, {schematron}) that the "
                        f"document does not meet (kit text, French): {res.text}"
                    ),
                    severity=Severity.WARNING,
                    rule=f"{DEAD_RULE}:{schematron}#{ident}",
                    artefact=artefact,
                    xpath=res.location,
                    line=line,
                    expected=res.test,
                    found="false" if res.kind == "failed-assert" else "true",
                    requirements=reqs,
                )
            )
            continue
        out.append(
            Finding(
                message=f"[{schematron}] {verb_fr} : {res.text}",
                message_en=f"[{schematron}] {verb_en} (kit text, French): {res.text}",
                severity=severity_of(res.role, res.flag),
                rule=f"{schematron}#{ident}",
                artefact=artefact,
                xpath=res.location,
                line=line,
                expected=res.test,
                found="false" if res.kind == "failed-assert" else "true",
                requirements=reqs,
            )
        )
    dropped = len(report.results) - limit
    if dropped > 0:
        out.append(
            Finding(
                message=f"[{schematron}] {dropped} résultats supplémentaires non détaillés (limite {limit})",
                message_en=f"[{schematron}] {dropped} more results not listed (limit {limit})",
                severity=Severity.ERROR if any(
                    severity_of(r.role, r.flag) is Severity.ERROR and not r.dead_rule
                    for r in report.results[limit:]
                ) else Severity.WARNING,
                rule=f"{schematron}#truncated",
                artefact=artefact,
                found=str(dropped),
                requirements=reqs,
            )
        )
    return out
