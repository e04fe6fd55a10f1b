"""The named checks of the CDA header (``kind: check`` in the models): the INS identity rule, shared with
conformance.ins, real dates and times, and registered language tags."""

from __future__ import annotations

import re
from dataclasses import replace

import langcodes
from lxml import etree

from conformance.cda.model_types import Rule
from conformance.cda.rule_engine import (
    Emitter,
    EvalContext,
    as_list,
    evaluate_xpath,
    locate,
    min_severity,
    node_value,
    register_check,
)
from conformance.findings import Finding, Severity
from conformance.ins.cda_identity import check_cda_identity


@register_check("ins_identity")
def _check_ins_identity(root: etree._Element, ctx: EvalContext, rule: Rule,
                        requirements: tuple[str, ...]) -> list[Finding]:
    """The INS rule of the CI-SIS header (cda.md §1.1), by the INS room's own reader and checks."""
    return [replace(f, requirements=tuple(dict.fromkeys((*requirements, *f.requirements))))
            for f in check_cda_identity(root.getroottree(), ctx.artefact, resident=ctx.resident,
                                        test_environment=ctx.test_environment)]


# ---------------------------------------------------------------------------------------------
# header data types (issue 12 item 14): a timestamp is a real date and time, a language tag exists
# ---------------------------------------------------------------------------------------------
_TS_RE = re.compile(r"(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\.\d{1,4})?(?:([+-])(\d+))?")
_MAX_TS_CHECKED = 500


def timestamp_problem(value: str) -> tuple[str, str, bool] | None:
    """Why an HL7 TS value is not a real date/time: (fr, en, impossible) or None when it is fine.

    ``impossible`` is True for a component out of range (month 13, 30 February, hour 24…): no
    reading of the value is a moment. An offset of other than four digits (``+100``) is a malformed
    offset, reported apart (``impossible`` False): the XSD pattern of the kit accepts it.
    """
    import calendar

    m = _TS_RE.fullmatch(value.strip())
    if m is None:
        return ("valeur qui n'a pas la forme AAAA[MM[JJ[hh[mm[ss]]]]][.s][±hhmm]",
                "value not of the form YYYY[MM[DD[hh[mm[ss]]]]][.s][±hhmm]", True)
    year, month, day, hour, minute, second, _frac, sign, offset = m.groups()
    if month is not None and not 1 <= int(month) <= 12:
        return (f"mois {month} hors de 01..12", f"month {month} not in 01..12", True)
    if day is not None:
        last = calendar.monthrange(int(year), int(month))[1]
        if not 1 <= int(day) <= last:
            return (f"jour {day} hors de 01..{last}", f"day {day} not in 01..{last}", True)
    if hour is not None and not int(hour) <= 23:
        return (f"heure {hour} hors de 00..23", f"hour {hour} not in 00..23", True)
    if minute is not None and not int(minute) <= 59:
        return (f"minute {minute} hors de 00..59", f"minute {minute} not in 00..59", True)
    if second is not None and not int(second) <= 60:
        return (f"seconde {second} hors de 00..60", f"second {second} not in 00..60", True)
    if sign is not None:
        if len(offset) != 4:
            return (f"décalage UTC {sign}{offset} : 4 chiffres ±hhmm attendus",
                    f"UTC offset {sign}{offset}: four digits ±hhmm expected", False)
        if int(offset[:2]) > 14 or int(offset[2:]) > 59:
            return (f"décalage UTC {sign}{offset} hors de -1200..+1400", f"UTC offset {sign}{offset} out of range",
                    True)
    return None


@register_check("header_timestamps")
def _check_header_timestamps(root: etree._Element, ctx: EvalContext, rule: Rule,
                             requirements: tuple[str, ...]) -> list[Finding]:
    """Every ``@value`` the rule's XPath selects is a real date/time (HL7 V3 TS, ISO 8601)."""
    emit = Emitter(rule, ctx, requirements)
    out: list[Finding] = []
    for node in as_list(evaluate_xpath(rule.xpath, root))[:_MAX_TS_CHECKED]:
        value = node_value(node)
        problem = timestamp_problem(value)
        if problem is None:
            continue
        fr, en, impossible = problem
        where, line = locate(node, root)
        out.append(emit.finding(xpath=where, line=line, expected="date et heure réelles (HL7 TS)", found=value,
                                suffix=(f" : {fr}", f": {en}"),
                                severity=None if impossible else min_severity(emit.severity, Severity.WARNING)))
    return out


@register_check("language_tag")
def _check_language_tag(root: etree._Element, ctx: EvalContext, rule: Rule,
                        requirements: tuple[str, ...]) -> list[Finding]:
    """``languageCode/@code`` is a registered BCP 47 tag (IANA subtag registry, through langcodes)."""
    emit = Emitter(rule, ctx, requirements)
    out: list[Finding] = []
    for node in as_list(evaluate_xpath(rule.xpath, root))[:10]:
        value = node_value(node)
        if value and len(value) <= 64 and langcodes.tag_is_valid(value):
            continue
        where, line = locate(node, root)
        out.append(emit.finding(xpath=where, line=line, expected="étiquette BCP 47 enregistrée (fr-FR)",
                                found=value or "(vide)"))
    return out
