"""The DMP suite end to end: the compliant reference sandbox passes, each of its DMP defects is caught by
the test that should catch it, and artefact mode judges captured requests the same way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import segur_reference_dui.dmp_client  # noqa: F401
import segur_reference_dui.server  # noqa: F401

# Imported here, before any in-process run: pytester restores sys.modules after each run, and a module
# re-imported in the next run would no longer match objects cached by the first (C extensions keep
# their first classes: cryptography's registered hashes, libyaml's nodes; the process-wide test PKI).
import yaml  # noqa: F401
import yaml.cyaml  # noqa: F401

import conformance.cda.models  # noqa: F401
import conformance.dmp.simulator  # noqa: F401
import conformance.suites.conftest  # noqa: F401
from conformance.dmp.mtom import parse_mtom
from conformance.dmp.samples import PATIENT_CX, synthetic_cda

SUITE = "conformance.suites.test_dmp"
DMP_AUTOMATED = ("DUI.DMP.01", "SC.DMP/va1.01", "DUI.DMP.02", "DUI.DMP.03", "DUI.DMP.04", "SC.DMP/CONF.01",
                 "SC.DMP/CONF.05", "SC.DMP/ALI/PROG.01")


def _run(pytester: pytest.Pytester, *args: str) -> dict[str, dict[str, Any]]:
    """Run the DMP suite in-process; per test name: outcome and the rules of its ERROR findings."""
    rec = pytester.inline_run("--pyargs", SUITE, "-p", "no:cacheprovider", *args)
    out: dict[str, dict[str, Any]] = {}
    for rep in rec.getreports("pytest_runtest_logreport"):
        name = rep.nodeid.split("::")[-1]
        entry = out.setdefault(name, {"outcome": "passed", "errors": set(), "requirements": set()})
        for key, value in rep.user_properties:
            if key != "segur":
                continue
            entry["requirements"].update(value["requirements"])
            entry["errors"].update(f["rule"] for f in value["findings"] if f["severity"] == "error")
            if value["outcome"] not in ("passed",) and rep.when in ("setup", "call"):
                entry["outcome"] = value["outcome"]
    return out


def test_compliant_reference_sandbox_passes_every_dmp_test(pytester: pytest.Pytester) -> None:
    results = _run(pytester, "--sandbox-url", "reference")
    assert results, "the DMP suite collected nothing"
    # the collected documents replace nothing: that test skips; the replacement scenario is played apart
    assert results.pop("test_replacements_in_the_submissions")["outcome"] == "skipped"
    bad = {k: v for k, v in results.items() if v["outcome"] != "passed"}
    assert not bad, bad
    covered = set().union(*(v["requirements"] for v in results.values()))
    assert set(DMP_AUTOMATED) <= covered


DEFECTS = {
    "hash_mismatch": ("test_xds_metadata", "DMP.XDS.hash"),
    "vihf_unsigned": ("test_vihf_signed_and_complete", "DMP.VIHF.unsigned"),
    "vihf_missing_attribute": ("test_vihf_signed_and_complete", "DMP.VIHF.attribute_missing"),
    "metadata_mismatch": ("test_metadata_agree_with_the_cda_header", "DMP.META.title"),
    "no_signature_document": ("test_xades_signature_document", "DMP.DSG.missing"),
    "wrong_rplc_target": ("test_replacement_targets_the_current_entry", "DMP.RPLC.unknown_target"),
    "submits_unqualified": ("test_refuses_to_feed_without_a_qualified_ins", "DMP.INS.unqualified"),
    "no_td02": ("test_dmp_existence_checked_before_feeding", "DMP.TD02.missing"),
    "marks_sent_after_failure": ("test_dmp_error_is_shown_and_document_not_sent[metadata_error]",
                                 "DMP.ERROR.marked_sent"),
    "mtom_no_start_info": ("test_iti41_transport_and_addressing", "DMP.MTOM.start_info"),
    "wrong_mime_type": ("test_documents_are_sent_as_cda_r2", "DMP.CDA.mime_type"),
    "calls_td03": ("test_no_access_authorisation_asked_to_feed", "DMP.TD03.called"),
}


# Defects that do not hide one another run together (each in-process run costs seconds of start-up):
# the first group spoils every submission's content, the second only behaviours around it.
GROUPS = (("hash_mismatch", "vihf_unsigned", "vihf_missing_attribute", "metadata_mismatch", "no_signature_document",
           "mtom_no_start_info", "wrong_mime_type"),
          ("wrong_rplc_target", "submits_unqualified", "marks_sent_after_failure", "no_td02", "calls_td03"))


def test_defect_groups_cover_every_reference_dmp_defect() -> None:
    from segur_reference_dui.dmp_client import DEFECTS as REFERENCE

    assert sorted(d for g in GROUPS for d in g) == sorted(DEFECTS) == sorted(REFERENCE)


@pytest.mark.parametrize("group", GROUPS, ids=["content", "behaviour"])
def test_each_reference_defect_is_caught(pytester: pytest.Pytester, group: tuple[str, ...]) -> None:
    args = ["--sandbox-url", "reference"]
    for defect in group:
        args += ["--segur-defect", defect]
    keywords = sorted({DEFECTS[d][0].split("[")[0] for d in group})
    results = _run(pytester, *args, "-k", " or ".join(keywords))
    for defect in group:
        test, rule = DEFECTS[defect]
        got = results[test]
        assert got["outcome"] == "failed", (defect, got)
        assert rule in got["errors"], (defect, got)


# ---------------------------------------------------------------------------------------------
# artefact mode
# ---------------------------------------------------------------------------------------------
def _captures(folder: Path, *, anchors: bool = True) -> None:
    from segur_reference_dui import dmp_client

    (folder / "dmp").mkdir(parents=True)
    if anchors:  # the candidate declares its test trust anchors in the folder
        (folder / "dmp" / "trust").mkdir()
        (folder / "dmp" / "trust" / "test-ca.pem").write_bytes(dmp_client.trust_anchors_pem())
    cda = synthetic_cda()
    facts = dmp_client.read_cda(cda)
    ident = dmp_client.vihf_identity(facts, PATIENT_CX)
    key = dmp_client.cachet_for(ident.structure_id)
    for name, defects in (("good", frozenset()), ("unsigned", frozenset({"vihf_unsigned"}))):
        ctype, body, _ = dmp_client.build_iti41(cda, facts, patient_cx=PATIENT_CX, source_patient_id=PATIENT_CX,
                                                to="https://dmp.example/repository", keypair=key, defects=defects)
        head = f"POST /repository HTTP/1.1\r\nHost: dmp.example\r\nContent-Type: {ctype}\r\n" \
               f"Content-Length: {len(body)}\r\n\r\n"
        (folder / "dmp" / f"{name}.http").write_bytes(head.encode() + body)
        if name == "good":
            (folder / "dmp" / "envelope-only.xml").write_bytes(parse_mtom(ctype, body).root.body)


def test_artefact_mode_judges_the_captures(pytester: pytest.Pytester, tmp_path: Path) -> None:
    _captures(tmp_path)
    results = _run(pytester, "--artefacts", str(tmp_path))
    vihf = results["test_vihf_signed_and_complete"]
    assert vihf["outcome"] == "failed" and vihf["errors"] == {"DMP.VIHF.unsigned"}
    for test in ("test_iti41_transport_and_addressing", "test_xds_metadata", "test_xades_signature_document",
                 "test_metadata_agree_with_the_cda_header", "test_documents_are_sent_as_cda_r2"):
        assert results[test]["outcome"] == "passed", (test, results[test])
    assert results["test_refuses_to_feed_without_a_qualified_ins"]["outcome"] == "skipped"


def test_artefact_mode_without_trust_anchors_does_not_pass_the_signature_proofs(pytester: pytest.Pytester,
                                                                              tmp_path: Path) -> None:
    _captures(tmp_path, anchors=False)
    results = _run(pytester, "--artefacts", str(tmp_path))
    assert results["test_xades_signature_document"]["outcome"] == "not_evaluated", results["test_xades_signature_document"]
    assert results["test_vihf_signed_and_complete"]["outcome"] == "failed"  # the unsigned capture still fails
    assert results["test_xds_metadata"]["outcome"] == "passed"


def test_artefact_mode_survives_a_hostile_capture(pytester: pytest.Pytester, tmp_path: Path) -> None:
    (tmp_path / "dmp").mkdir()
    (tmp_path / "dmp" / "entities.xml").write_bytes(b'<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>')
    (tmp_path / "dmp" / "garbage.http").write_bytes(b"\x00\xff" * 100)
    results = _run(pytester, "--artefacts", str(tmp_path))
    transport = results["test_iti41_transport_and_addressing"]
    assert transport["outcome"] == "failed"
    assert {"DMP.SOAP.unreadable", "DMP.HTTP.unreadable"} <= transport["errors"]
