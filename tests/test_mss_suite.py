"""The shipped MSSanté suite end to end, against the embedded reference sandbox: compliant, it passes;
with the reference DUI's MSS defect switches on, the test of each requirement they break fails.

The reference sandbox renders documents with the CDA room's ``segur_reference_dui.documents``; where
that module is not installed yet, a small stand-in (this file) renders the test CDA instead, so the MSS
suite is exercised either way.
"""

from __future__ import annotations

import importlib
import re
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from segur_reference_dui.defects import all_defects  # noqa: E402
from segur_reference_dui.server import serve  # noqa: F401,E402
from test_mss_helpers import cda

# Imported here, before any inline run: pytester restores sys.modules after each run, and a second
# import of cryptography's Python layer no longer matches its Rust bindings ("curve must be an
# EllipticCurve instance"). Keeping these modules in the outer snapshot avoids that.
import conformance.suites.conftest  # noqa: F401,E402
import conformance.suites.test_mss  # noqa: F401,E402

all_defects()

SUITE_DIR = Path(__file__).resolve().parents[1] / "conformance"


def _stub_documents() -> types.ModuleType:
    module = types.ModuleType("segur_reference_dui.documents")
    module.SUPPORTED_TYPES = ("DLU",)  # type: ignore[attr-defined]
    module.DEFECTS = {}  # type: ignore[attr-defined]

    def render(doc_type: str, resident: Any, defects: Any, *, replaces: Any = None) -> bytes:
        if replaces is None:
            return cda(resident)
        old = replaces.cda.decode("utf-8")
        old_id = re.search(r'<id root="1.2.250.1.999.2" extension="([^"]+)"', old).group(1)  # type: ignore[union-attr]
        set_id = re.search(r'<setId root="[^"]+" extension="([^"]+)"', old).group(1)  # type: ignore[union-attr]
        version = int(re.search(r'<versionNumber value="(\d+)"', old).group(1))  # type: ignore[union-attr]
        return cda(resident, set_id=set_id, version=version + 1, replaces=old_id)

    module.render = render  # type: ignore[attr-defined]
    return module


@pytest.fixture
def reference_documents(monkeypatch: pytest.MonkeyPatch) -> None:
    try:
        importlib.import_module("segur_reference_dui.documents")
    except ImportError:
        monkeypatch.setitem(sys.modules, "segur_reference_dui.documents", _stub_documents())


def run_suite(pytester: pytest.Pytester, *defects: str) -> dict[str, str]:
    args = ["--pyargs", "conformance.suites.test_mss", "--sandbox-url", "reference", "-p", "no:cacheprovider",
            f"--confcutdir={SUITE_DIR}", "-q", "--assert=plain"]
    for defect in defects:
        args += ["--segur-defect", defect]
    rec = pytester.inline_run(*args)
    outcomes: dict[str, str] = {}
    for report in rec.getreports("pytest_runtest_logreport"):
        name = report.nodeid.split("::")[-1]
        if report.when == "call" or report.outcome != "passed":
            outcomes[name] = report.outcome
    return outcomes


def test_compliant_reference_passes_the_mss_suite(pytester: pytest.Pytester, reference_documents: None) -> None:
    outcomes = run_suite(pytester)
    failed = {k: v for k, v in outcomes.items() if v == "failed"}
    assert not failed, failed
    assert outcomes["test_reply_headers"] == "passed"  # the reference declares features.mss_reply
    passed = {k for k, v in outcomes.items() if v == "passed"}
    assert {"test_message_structure_and_xdm_package", "test_x_mss_ins", "test_patient_address_from_qualified_ins",
            "test_expired_server_certificate_refused", "test_revoked_server_certificate_refused",
            "test_mdn_linked_to_message[error]", "test_imap_starttls", "test_replacement_is_annule_et_remplace",
            "test_rejected_recipient_shown_and_message_kept[550]", "test_tls_always"} <= passed


def test_message_and_behaviour_defects_are_caught(pytester: pytest.Pytester, reference_documents: None) -> None:
    outcomes = run_suite(pytester, "missing_x_mss_header", "wrong_codecda", "xdm_without_readme", "no_reply_to",
                         "latin1_body", "accepts_any_server_cert", "ignores_mdn_error",
                         "patient_address_unqualified", "invisible_sent_to_patient", "no_read_receipt_header")
    expected_failures = {
        "test_x_mss_nil_on_every_message", "test_x_mss_codecda", "test_message_structure_and_xdm_package",
        "test_applicative_mailbox_reply_to_and_mention", "test_utf8", "test_read_receipt_request",
        "test_expired_server_certificate_refused", "test_revoked_server_certificate_refused",
        "test_untrusted_server_certificate_refused", "test_mdn_linked_to_message[error]",
        "test_no_patient_send_without_qualified_ins[RECUP]", "test_invisible_document_never_sent_to_patient",
    }
    missed = {name for name in expected_failures if outcomes.get(name) != "failed"}
    assert not missed, {name: outcomes.get(name) for name in missed}
    assert outcomes["test_message_id_on_every_message"] == "passed"


def test_no_tls_defect_is_caught(pytester: pytest.Pytester, reference_documents: None) -> None:
    """(xdm_hash_mismatch and the other message defects are caught one by one in test_mss_client.py.)"""
    outcomes = run_suite(pytester, "no_tls")
    assert outcomes["test_tls_always"] == "failed"


def test_reply_scenario_needs_the_declared_feature(pytester: pytest.Pytester, reference_documents: None,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A candidate that does not declare features.mss_reply is not asked to reply: not run (manual proof)."""
    from conformance.sandbox.candidate import Candidate

    original = Candidate.supports
    monkeypatch.setattr(Candidate, "supports", lambda self, f: f != "mss_reply" and original(self, f))
    outcomes = run_suite(pytester, "reply_without_references")
    assert outcomes["test_reply_headers"] == "skipped"


def test_new_gate_defects_fail_their_tests(pytester: pytest.Pytester, reference_documents: None) -> None:
    """Defects added for the self-proof gate, run together: each fails its own test."""
    outcomes = run_suite(pytester, "reply_without_references", "from_without_display_name", "x_mss_mes_lowercase",
                         "imap_login_before_starttls", "rejection_reason_hidden", "sent_despite_dropped_connection",
                         "mdn_success_as_error", "tls_below_1_2", "message_id_without_domain")
    expected_failures = {
        "test_reply_headers", "test_from_display_name", "test_x_mss_mes_fin_when_no_reply", "test_imap_starttls",
        "test_rejected_recipient_shown_and_message_kept[550]", "test_dropped_connection_shown",
        "test_mdn_linked_to_message[success]", "test_tls_version", "test_message_id_on_every_message",
    }
    missed = {name for name in expected_failures if outcomes.get(name) != "failed"}
    assert not missed, {name: outcomes.get(name) for name in missed}
    assert outcomes["test_mdn_linked_to_message[error]"] == "passed"


def test_artefact_mode_checks_the_eml_files(pytester: pytest.Pytester, tmp_path: Path) -> None:
    """Artefact mode: the message checks run on mss/*.eml; behaviour scenarios are not run."""
    from test_mss_helpers import message

    folder = tmp_path / "artefacts"
    (folder / "mss").mkdir(parents=True)
    good = message(read_receipt=True)
    (folder / "mss" / "good.eml").write_bytes(good)
    (folder / "mss" / "bad.eml").write_bytes(good.replace(b"X-MSS-NIL:", b"X-Autre:"))
    (folder / "mss" / "garbage.eml").write_bytes(b"\x00\x01 pas un message")
    rec = pytester.inline_run("--pyargs", "conformance.suites.test_mss", "--artefacts", str(folder),
                              "-p", "no:cacheprovider", f"--confcutdir={SUITE_DIR}", "-q", "--assert=plain")
    outcomes = {r.nodeid.split("::")[-1]: r.outcome for r in rec.getreports("pytest_runtest_logreport")
                if r.when == "call" or r.outcome == "skipped"}
    assert outcomes["test_x_mss_nil_on_every_message"] == "failed"
    assert outcomes["test_message_id_on_every_message"] == "failed"  # garbage.eml has none
    assert outcomes["test_tls_always"] == "skipped"
    assert outcomes["test_mdn_linked_to_message[error]"] == "skipped"


def test_every_refusal_finding_names_its_rule() -> None:
    """Issue 12 item 17: every finding carries a rule id, the negative scenarios' refusals included."""
    import ast

    missing = []
    for path in sorted((SUITE_DIR / "suites").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "refused"
                    and not any(k.arg == "rule" for k in node.keywords)):
                missing.append(f"{path.name}:{node.lineno}")
    assert not missing, missing
