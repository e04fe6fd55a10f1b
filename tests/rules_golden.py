"""Golden findings of the DMP and MSSanté checks on a fixed set of inputs (issue 17: rules as data).

The inputs are what the checks received during MS1 campaigns of the reference sandbox, compliant and under
each DMP and MSSanté defect switch, and in tests/test_dmp_checks.py and tests/test_mss_checks.py, recorded
once (tests/data/rules_golden/inputs.zip). ``golden.json.gz`` holds the findings the checks gave on them
before the rules moved to data; tests/test_dmp_rules_golden.py and tests/test_mss_rules_golden.py replay
the inputs and require the very same findings (rule, severity, messages, place, expected, found,
requirements, proofs), in the same order.

Regenerate only when a verdict change is intended:  python tests/rules_golden.py --write
"""

from __future__ import annotations

import gzip
import inspect
import json
import sys
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent / "data" / "rules_golden"
INPUTS = DATA / "inputs.zip"
GOLDEN = DATA / "golden.json.gz"
_FIELDS = ("rule", "severity", "message", "message_en", "artefact", "xpath", "line", "expected", "found",
           "requirements", "proofs")

DMP_CHECKS = ("check_transport", "check_addressing", "check_vihf", "check_patient_ids", "check_authorship",
              "check_metadata", "check_hash_size", "check_associations", "check_signature", "check_cda_format",
              "check_replacement", "check_against_cda", "check_submission")
MSS_CHECKS = ("check_mime", "check_xdm", "check_subject", "check_codecda", "check_x_mss_ins", "check_x_mss_nil",
              "check_x_mss_mes", "check_message_id", "check_reply_headers", "check_from", "check_applicative",
              "check_read_receipt", "check_delivery_receipt_request", "check_patient_address",
              "check_invisible_to_patient", "check_charsets", "check_body_type", "check_replacement")


def normalise(findings: list[Any]) -> list[dict[str, Any]]:
    out = []
    for f in findings:
        d = f.to_dict()
        out.append({k: d[k] for k in _FIELDS})
    return out


def inputs() -> Iterator[tuple[str, str, bytes, dict[str, Any]]]:
    """(room, name, raw bytes, meta) of every recorded input."""
    with zipfile.ZipFile(INPUTS) as z:
        for name in sorted(n for n in z.namelist() if n.endswith(".json")):
            meta = json.loads(z.read(name))
            raw = z.read(name[:-5] + ".bin")
            yield name.split("/", 1)[0], name[:-5], raw, meta


def _dmp_context(meta: dict[str, Any]) -> Any:
    from cryptography import x509

    from conformance.dmp.checks import CheckContext

    ctx = meta.get("ctx") or {}
    trust = ctx.get("trust")
    return CheckContext(
        trust=None if trust is None else [x509.load_pem_x509_certificate(p.encode()) for p in trust],
        vihf_version=ctx.get("vihf_version") or CheckContext().vihf_version,
        known_entries=ctx.get("known_entries") or {}, registry_known=bool(ctx.get("registry_known")),
        at_capture_time=True)  # the clock is the VIHF IssueInstant: replays do not age


def run_dmp(name: str, raw: bytes, meta: dict[str, Any]) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    from conformance.dmp import checks
    from conformance.dmp.iti41 import parse_request
    from conformance.findings import NotEvaluated

    if name.startswith("td02/"):
        yield "check_td02", normalise(checks.check_td02(raw, meta["content_type"], meta["patient_id"],
                                                        **meta.get("kw") or {}))
        return
    req = parse_request(raw, meta["content_type"], artefact=meta["artefact"], http_headers=meta["http_headers"])
    req.method, req.path = meta.get("method") or "", meta.get("path") or ""
    ctx = _dmp_context(meta)
    for check in DMP_CHECKS:
        fn: Callable[..., list[Any]] = getattr(checks, check)
        args = (req, ctx) if "ctx" in inspect.signature(fn).parameters else (req,)
        try:
            yield check, normalise(fn(*args))
        except NotEvaluated as exc:
            yield check, [{"not_evaluated": exc.reason}]


def run_mss(name: str, raw: bytes, meta: dict[str, Any]) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    from conformance.mss import checks

    if name.startswith("conn/"):
        connection = json.loads(raw)
        yield meta["fn"], normalise(getattr(checks, meta["fn"])(connection, meta["artefact"]))
        return
    ctx = checks.MessageContext(**meta["ctx"]) if meta.get("ctx") else None
    it = checks.inspect(raw, meta["artefact"], ctx)
    for check in MSS_CHECKS:
        yield check, normalise(getattr(checks, check)(it))
    yield "check_message", normalise(checks.check_message(raw, meta["artefact"], ctx))


# ---------------------------------------------------------------------------------------------
# metadata mutations: the campaigns seldom break a DocumentEntry or SubmissionSet rule, so every rule of
# profiles/dmp/rules.yaml is also met on one compliant request with its parsed metadata edited
# ---------------------------------------------------------------------------------------------
def _c(code: str, scheme: str) -> Any:
    from conformance.ihe.xds import Coded

    return Coded(code, scheme)


def _pop(mapping: dict[str, Any], *names: str) -> None:
    for name in names:
        mapping.pop(name, None)


def _two_authors(e: Any) -> None:
    import copy

    bad = copy.deepcopy(e.authors[0])
    bad.person = ["^SANS^ID", "123^PS^^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^RPPS"]
    bad.institution = ["Nom seul"]
    e.authors[0].person = ["456^PS^^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^ADELI"]
    e.authors.append(bad)


_CONF = "2.16.840.1.113883.5.25"
DE_MUTATIONS: dict[str, Callable[[Any], None]] = {
    "object_type": lambda e: setattr(e, "object_type", "urn:uuid:34268e47-fdf5-41a6-ba33-82133c465248"),
    "object_type_empty": lambda e: setattr(e, "object_type", ""),
    "no_mime_type": lambda e: setattr(e, "mime_type", ""),
    "no_title": lambda e: setattr(e, "title", ""),
    "no_unique_id": lambda e: _pop(e.identifiers, "uniqueId"),
    "unique_id_root": lambda e: e.identifiers.update(uniqueId="pas-un-oid^x"),
    "unique_id_uuid": lambda e: e.identifiers.update(uniqueId="0f8fad5b-d9cb-469f-a165-70867728950e^1"),
    "missing_slots": lambda e: _pop(e.slots, "creationTime", "languageCode", "serviceStartTime", "sourcePatientId",
                                    "legalAuthenticator"),
    "bad_dtm": lambda e: e.slots.update(creationTime=["2024-01-01"], serviceStartTime=["x"],
                                        serviceStopTime=["20241301"]),
    "legal_authenticator": lambda e: e.slots.update(legalAuthenticator=["^NOM^Prenom"]),
    "no_author": lambda e: setattr(e, "authors", []),
    "author_without_person": lambda e: setattr(e.authors[0], "person", []),
    "author_person_incomplete": lambda e: setattr(e.authors[0], "person", ["^NOM^^^^^^^&1.2&ISO"]),
    "author_person_type": lambda e: setattr(e.authors[0], "person",
                                            ["123^NOM^^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^RPPS",
                                             "124^NOM^^^^^^^&1.2.250.1.71.4.2.1&ISO"]),
    "author_institution": lambda e: setattr(e.authors[0], "institution",
                                            ["Nom", "^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^1"]),
    "two_authors": _two_authors,
    "codes_missing": lambda e: _pop(e.codes, "classCode", "typeCode", "formatCode", "confidentialityCode",
                                    "healthcareFacilityTypeCode", "practiceSettingCode"),
    "codes_incomplete": lambda e: e.codes.update(classCode=[_c("", "1.2.250.1.213.1.1.4.1")],
                                                 typeCode=[_c("74207-2", "")]),
    "codes_out_of_valueset": lambda e: e.codes.update(classCode=[_c("77", "1.2.250.1.213.1.1.4.1")],
                                                      typeCode=[_c("00000-0", "2.16.840.1.113883.6.1")],
                                                      practiceSettingCode=[_c("NOPE", "1.2.250.1.213.1.1.4.9")]),
    "class_system": lambda e: e.codes.update(classCode=[_c("10", "1.2.3.4")]),
    "confidentiality_first": lambda e: e.codes.update(confidentialityCode=[_c("MASQUE_PS", "1.2.250.1.213.1.1.4.13"),
                                                                           _c("N", _CONF)]),
    "confidentiality_count": lambda e: e.codes.update(confidentialityCode=[_c("N", _CONF)] * 5),
    "confidentiality_mixed": lambda e: e.codes.update(confidentialityCode=[_c("R", ""), _c("X", _CONF),
                                                                           _c("", ""), _c("V", _CONF)]),
    "format_system": lambda e: e.codes.update(formatCode=[_c("urn:x:y", "9.9.9")]),
    "facility_sector": lambda e: e.codes.update(healthcareFacilityTypeCode=[_c("SA99", "1.2.250.1.71.4.2.4")]),
    "facility_medico_social": lambda e: e.codes.update(healthcareFacilityTypeCode=[_c("SA16", "1.2.250.1.71.4.2.4")]),
    "facility_out_of_valueset": lambda e: e.codes.update(healthcareFacilityTypeCode=[_c("XYZ", "1.2.250.1.71.4.2.4")]),
    "practice_setting": lambda e: e.codes.update(practiceSettingCode=[_c("AMBULATOIRE", "1.2.250.1.213.1.1.4.9")]),
    "source_patient_info": lambda e: e.slots.update(sourcePatientInfo=["PID-99|x", "PID-5|NOM^PRENOM", "X" * 200]),
}
SS_MUTATIONS: dict[str, Callable[[Any], None]] = {
    "no_ids": lambda s: _pop(s.identifiers, "uniqueId", "sourceId"),
    "bad_ids": lambda s: s.identifiers.update(uniqueId="abc", sourceId="1.2.x"),
    "no_submission_time": lambda s: _pop(s.slots, "submissionTime"),
    "bad_submission_time": lambda s: s.slots.update(submissionTime=["20241340"]),
    "no_content_type": lambda s: _pop(s.codes, "contentTypeCode"),
    "content_type_out": lambda s: s.codes.update(contentTypeCode=[_c("ZZZ", "1.2.3"), _c("", "")]),
    "no_author": lambda s: setattr(s, "authors", []),
}


def _kit_valuesets() -> Any:
    """Value sets as a CI-SIS kit gives them (authoritative: a miss is an error), each holding one other code."""
    from conformance.dmp.valuesets import ValueSets

    names = ("classCode", "typeCode", "formatCode", "confidentialityCode", "healthcareFacilityTypeCode",
             "practiceSettingCode", "contentTypeCode")
    return ValueSets({n: {("AUTRE", "1.2.3")} for n in names}, {n: f"kit:JDV_{n}.xml" for n in names})


def run_mutations() -> dict[str, list[dict[str, Any]]]:
    """check_metadata on the first compliant campaign request, its metadata edited by each mutation; ``kit:``
    the unedited request judged against value sets from a kit."""
    from conformance.dmp import checks
    from conformance.dmp.iti41 import parse_request

    base = next((name, raw, meta) for kind, name, raw, meta in inputs()
                if kind == "dmp" and meta.get("origin") == "compliant")
    out: dict[str, list[dict[str, Any]]] = {}
    for target, table in (("DocumentEntry", DE_MUTATIONS), ("SubmissionSet", SS_MUTATIONS)):
        for label, mutate in table.items():
            _, raw, meta = base
            req = parse_request(raw, meta["content_type"], artefact=meta["artefact"],
                                http_headers=meta["http_headers"])
            assert req.submission is not None and req.submission.submission_set is not None
            mutate(req.submission.documents[0] if target == "DocumentEntry" else req.submission.submission_set)
            out[f"{target}:{label}"] = normalise(checks.check_metadata(req, _dmp_context(meta)))
    _, raw, meta = base
    req = parse_request(raw, meta["content_type"], artefact=meta["artefact"], http_headers=meta["http_headers"])
    ctx = _dmp_context(meta)
    ctx.valuesets = _kit_valuesets()
    out["kit:every_code_outside"] = normalise(checks.check_metadata(req, ctx))
    return out


def run(room: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for kind, name, raw, meta in inputs():
        if (kind in ("dmp", "td02")) != (room == "dmp"):
            continue
        runner = run_dmp if kind in ("dmp", "td02") else run_mss
        out[name] = dict(runner(name, raw, meta))
    return out


def load_golden() -> dict[str, dict[str, dict[str, Any]]]:
    return json.loads(gzip.decompress(GOLDEN.read_bytes()))


def main(argv: list[str]) -> int:
    if "--write" in argv:
        data = {"dmp": run("dmp"), "mss": run("mss"), "dmp_mutations": run_mutations()}
        GOLDEN.write_bytes(gzip.compress(json.dumps(data, ensure_ascii=False, sort_keys=True).encode(), mtime=0))
        print(f"{GOLDEN}: {sum(len(v) for v in data.values())} inputs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
