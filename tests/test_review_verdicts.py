"""Verdict integrity: a suite test must not pass when it verified nothing.

Each case feeds a suite test (or the check it calls) a broken, empty or unreachable input and shows the
test now ends failed (ERROR finding), not evaluated (NotEvaluated) or not run (skip), never passed.
Most cases call the suite functions directly with small fakes (fast); one runs the CDA and DMP suites
in artefact mode through the plugin to check the requirement verdicts themselves.
"""

from __future__ import annotations

import contextlib
import json
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import conformance.suites.conftest  # noqa: F401  (preload before any in-process run)
from conformance.findings import Finding, NotEvaluated, Severity
from conformance.sandbox.artefacts import Artefact
from conformance.sandbox.client import SandboxUnsupported

ROOT = Path(__file__).resolve().parents[1]
GOOD = ROOT / "samples" / "artefacts" / "good"


class FakeSegur:
    """The parts of ``conformance.plugin.Recorder`` the suites use, without a pytest item."""

    def __init__(self) -> None:
        self.findings: list[Finding] = []
        self.lang = "fr"

    def record(self, findings: Any, **_kw: Any) -> list[Finding]:
        batch = [findings] if isinstance(findings, Finding) else list(findings)
        self.findings.extend(batch)
        return batch

    def evidence(self, *_a: Any, **_k: Any) -> None:
        return None

    def not_evaluated(self, reason: str, reason_en: str = "") -> None:
        raise NotEvaluated(reason, reason_en)

    def refused(self, observed: bool, what: str, what_en: str = "", **kw: Any) -> None:
        from conformance.plugin import Recorder

        Recorder.refused(self, observed, what, what_en, **kw)  # type: ignore[arg-type]

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.ERROR]


def outcome(call: Any, *args: Any, **kwargs: Any) -> str:
    """What the plugin would make of a suite test: passed, failed, not_evaluated or skipped."""
    segur = FakeSegur()
    try:
        call(segur, *args, **kwargs)
    except NotEvaluated:
        return "not_evaluated"
    except pytest.skip.Exception:
        return "skipped"
    return "failed" if segur.errors else "passed"


# ---------------------------------------------------------------------------------------------
# CDA: requirement-filtered tests on an unreadable document / a crashed model layer
# ---------------------------------------------------------------------------------------------
def _cda_results(data: bytes, name: str) -> dict[str, Any]:
    from conformance.cda.validate import validate_document

    return {name: validate_document(data, name, layers=("models",))}


@pytest.mark.parametrize("test_name", ["test_cda_document_type", "test_cda_n1_pdf_and_ins", "test_cda_title"])
def test_cda_filtered_tests_fail_on_an_unreadable_document(test_name: str) -> None:
    from conformance.suites import test_cda as suite

    docs = [Artefact("cda/DLU.xml", b"this is not XML", "cda")]
    results = _cda_results(docs[0].data, docs[0].name)
    assert outcome(lambda s: getattr(suite, test_name)(s, docs, results)) == "failed"


@pytest.mark.parametrize("test_name", ["test_cda_document_type", "test_cda_n1_pdf_and_ins", "test_cda_title"])
def test_cda_filtered_tests_are_not_evaluated_when_the_models_crashed(test_name: str,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from conformance.cda import validate
    from conformance.suites import test_cda as suite

    def boom(*_a: Any, **_k: Any) -> Any:
        raise RuntimeError("model bug")

    monkeypatch.setattr(validate, "run_models", boom)
    data = (GOOD / "cda" / "DLU.xml").read_bytes()
    docs = [Artefact("cda/DLU.xml", data, "cda")]
    results = _cda_results(data, docs[0].name)
    assert "models" not in results["cda/DLU.xml"].layers_run
    assert outcome(lambda s: getattr(suite, test_name)(s, docs, results)) == "not_evaluated"


def test_cda_filtered_tests_still_pass_on_a_good_document() -> None:
    from conformance.suites import test_cda as suite

    data = (GOOD / "cda" / "DLU.xml").read_bytes()
    docs = [Artefact("cda/DLU.xml", data, "cda")]
    results = _cda_results(data, docs[0].name)
    for fn in (suite.test_cda_document_type, suite.test_cda_n1_pdf_and_ins, suite.test_cda_title):
        assert outcome(lambda s, fn=fn: fn(s, docs, results)) == "passed", fn.__name__


# ---------------------------------------------------------------------------------------------
# DMP
# ---------------------------------------------------------------------------------------------
def _submission(name: str, data: bytes, **kw: Any) -> Any:
    from conformance.dmp.checks import CheckContext
    from conformance.dmp.iti41 import load_artefact
    from conformance.suites._fixtures_dmp import DmpSubmission

    return DmpSubmission(name=name, request=load_artefact(name, data), context=CheckContext(at_capture_time=True),
                         raw=data, **kw)


@pytest.mark.parametrize("test_name", ["test_documents_are_sent_as_cda_r2", "test_vihf_signed_and_complete",
                                       "test_xds_metadata", "test_metadata_agree_with_the_cda_header",
                                       "test_xades_signature_document"])
def test_dmp_unreadable_request_fails_every_submission_check(test_name: str) -> None:
    from conformance.suites import test_dmp as suite

    subs = [_submission("dmp/garbage.xml", b"<Envelope><not-soap")]
    assert subs[0].request.submission is None
    assert outcome(lambda s: getattr(suite, test_name)(subs, s)) == "failed"


def test_dmp_cda_format_not_evaluated_without_document_content() -> None:
    from conformance.suites import test_dmp as suite

    sub = _submission("dmp/DLU.http", (GOOD / "dmp" / "DLU.http").read_bytes())
    assert outcome(lambda s: suite.test_documents_are_sent_as_cda_r2([sub], s)) == "passed"
    sub.request.documents = {k: None for k in sub.request.documents}  # an envelope-only capture
    assert outcome(lambda s: suite.test_documents_are_sent_as_cda_r2([sub], s)) == "not_evaluated"


def test_dmp_cda_format_check_flags_an_empty_submission() -> None:
    from conformance.dmp.checks import check_cda_format
    from conformance.dmp.iti41 import Iti41Request
    from conformance.ihe.xds import Submission

    req = Iti41Request(artefact="dmp/empty.xml", submission=Submission())
    findings = check_cda_format(req)
    assert any(f.is_error and f.rule == "DMP.CDA.no_document" for f in findings), findings
    assert not any(f.rule == "DMP.CDA.ok" for f in findings)


class _SandboxCandidate:
    mode = "sandbox"
    client = object()

    def require_sandbox(self) -> Any:
        return self.client


@dataclass
class _Sim:
    requests: list[Any] = field(default_factory=list)


@pytest.mark.parametrize("test_name", ["test_dmp_existence_checked_before_feeding",
                                       "test_no_access_authorisation_asked_to_feed"])
def test_dmp_td0_tests_are_not_evaluated_when_nothing_was_fed(test_name: str) -> None:
    from conformance.dmp.checks import CheckContext
    from conformance.suites import test_dmp as suite
    from conformance.suites._fixtures_dmp import DmpSubmission

    subs = [DmpSubmission(name="dmp/DLU", request=None, context=CheckContext(), problem="no ITI-41 received")]
    fn = getattr(suite, test_name)
    assert outcome(lambda s: fn(_SandboxCandidate(), subs, _Sim(), s)) == "not_evaluated"


# ---------------------------------------------------------------------------------------------
# MSSanté
# ---------------------------------------------------------------------------------------------
PLAIN_MESSAGE = textwrap.dedent("""\
    From: DUI <bal@dui.test-ci-sis.mssante.fr>
    To: dr@test-ci-sis.mssante.fr
    Subject: bonjour
    Message-ID: <1@dui.test>
    MIME-Version: 1.0
    Content-Type: text/plain; charset=utf-8

    texte seul, sans document
    """).replace("\n", "\r\n").encode()


def _capture(raw: bytes, name: str = "mss/plain.eml", **kw: Any) -> Any:
    from conformance.mss.checks import MessageContext
    from conformance.suites._fixtures_mss import MssCapture

    return MssCapture(name, raw, kw.pop("ctx", MessageContext()), kw.pop("kind", "artefact"), **kw)


@pytest.mark.parametrize("test_name", ["test_x_mss_codecda", "test_x_mss_ins"])
def test_mss_cda_headers_not_evaluated_without_any_cda(test_name: str) -> None:
    from conformance.suites import test_mss as suite

    captures = [_capture(PLAIN_MESSAGE)]
    assert outcome(lambda s: getattr(suite, test_name)(s, captures)) == "not_evaluated"
    good = [_capture((GOOD / "mss" / "pro-DLU.eml").read_bytes(), "mss/pro-DLU.eml")]
    assert outcome(lambda s: getattr(suite, test_name)(s, good)) == "passed"


def test_mss_no_reply_header_not_run_without_a_patient_message() -> None:
    from conformance.suites import test_mss as suite

    class Folder:
        mode = "artefacts"

    captures = [_capture((GOOD / "mss" / "pro-DLU.eml").read_bytes(), "mss/pro-DLU.eml")]
    assert outcome(lambda s: suite.test_x_mss_mes_fin_when_no_reply(s, captures, Folder())) == "skipped"
    captures.append(_capture((GOOD / "mss" / "patient-PPA.eml").read_bytes(), "mss/patient-PPA.eml"))
    assert outcome(lambda s: suite.test_x_mss_mes_fin_when_no_reply(s, captures, Folder())) == "passed"


def test_mss_cleartext_session_fails_tls_version_and_ciphers() -> None:
    from conformance.mss import checks as mc

    findings = mc.check_transport({"id": 1, "starttls": False, "plaintext_commands": []})
    for rid in ("DUI.MSS.01", "SC.MSS/CONF.01", "SC.MSS/CONF.03"):
        assert any(f.is_error and rid in f.requirements for f in findings), rid


@dataclass
class _Conn:
    id: int
    data: dict[str, Any]
    server_cert: str = "valid"

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, **self.data}


@dataclass
class _Received:
    connection: _Conn


class _MssCandidate(_SandboxCandidate):
    def supports(self, _feature: str) -> bool:
        return True

    def document_types(self) -> list[str]:
        return ["DLU"]


@pytest.mark.parametrize("test_name", ["test_tls_version", "test_cipher_suites"])
def test_mss_tls_tests_fail_on_a_cleartext_delivery(test_name: str) -> None:
    from conformance.suites import test_mss as suite

    conn = _Conn(1, {"starttls": False, "plaintext_commands": ["MAIL FROM"], "tls_version": "", "cipher": ""})
    captures = [_capture(b"x", kind="pro", received=_Received(conn))]

    @dataclass
    class Sim:
        connections: list[_Conn]

    assert outcome(lambda s: getattr(suite, test_name)(s, _MssCandidate(), captures, Sim([conn]))) == "failed"


def test_mss_tls_always_not_evaluated_when_no_connection_delivered() -> None:
    from conformance.suites import test_mss as suite

    @dataclass
    class Sim:
        connections: list[_Conn]

    sim = Sim([_Conn(1, {"starttls": False, "plaintext_commands": [], "tls_version": "", "cipher": ""})])
    captures = [_capture(b"", kind="pro", problem="nothing received")]
    assert outcome(lambda s: suite.test_tls_always(s, _MssCandidate(), captures, sim)) == "not_evaluated"


class _CertSim:
    """An operator the candidate never reaches: the send fails before any connection."""

    def __init__(self) -> None:
        self.connections: list[_Conn] = []
        self.messages: list[Any] = []
        self.imap = None

    @contextlib.contextmanager
    def use(self, **_kw: Any) -> Any:
        yield self

    def notifications(self) -> list[Any]:
        return []


class _FailingClient:
    def create_document(self, _rid: str, _t: str, _o: Any = None) -> dict[str, Any]:
        return {"id": "d1"}

    def send_mss(self, _doc: str, **_kw: Any) -> dict[str, Any]:
        return {"status": "failed", "message_id": "", "error": "envoi impossible (aucune connexion)"}

    def get_document(self, _doc: str) -> dict[str, Any]:
        return {"mss": {"status": "failed"}}


class _Request:
    def getfixturevalue(self, _name: str) -> dict[str, Any]:
        return {"id": "r1"}


@pytest.mark.parametrize("test_name", ["test_untrusted_server_certificate_refused",
                                       "test_expired_server_certificate_refused",
                                       "test_revoked_server_certificate_refused"])
def test_mss_certificate_refusal_needs_a_connection_attempt(test_name: str) -> None:
    from conformance.suites import test_mss as suite

    cand = _MssCandidate()
    cand.client = _FailingClient()
    sim = _CertSim()
    fn = getattr(suite, test_name)
    assert outcome(lambda s: fn(s, _Request(), cand, sim)) == "not_evaluated"
    # the same answer after a real handshake with the bad certificate is a refusal
    variant = {"untrusted": "untrusted", "expired": "expired", "revoked": "revoked"}[test_name.split("_")[1]]

    @contextlib.contextmanager
    def use(**_kw: Any) -> Any:
        sim.connections.append(_Conn(len(sim.connections) + 1, {}, server_cert=variant))
        yield sim

    sim.use = use  # type: ignore[method-assign]
    assert outcome(lambda s: fn(s, _Request(), cand, sim)) == "passed"


# ---------------------------------------------------------------------------------------------
# INS: Règle 28 on unqualified residents with no document at all
# ---------------------------------------------------------------------------------------------
def test_ins_rule_28_not_evaluated_when_no_document_was_produced() -> None:
    from conformance.suites import test_ins as suite

    class Client:
        n = 0

        def create_resident(self, body: dict[str, Any]) -> dict[str, Any]:
            self.n += 1
            return {"id": f"r{self.n}", "status": "PROV", "ins": None, "traits": body["traits"]}

        def get_resident(self, rid: str) -> dict[str, Any]:
            return {"id": rid, "status": "PROV", "ins": None}

        def qualify(self, _rid: str) -> dict[str, Any]:
            return {"outcome": "found"}

        def create_document(self, _rid: str, _t: str) -> dict[str, Any]:
            raise SandboxUnsupported("501", "501", status=501)

    class Sim:
        last_index = 0

        def requests_since(self, _i: int) -> list[Any]:
            return []

    cand = _MssCandidate()
    cand.client = Client()

    class Profile:
        document_types = ("DLU",)

    assert outcome(lambda s: suite.test_no_ins_in_documents_of_unqualified_identities(
        s, cand, Profile(), Sim())) == "not_evaluated"


# ---------------------------------------------------------------------------------------------
# through the plugin: requirement verdicts in artefact mode
# ---------------------------------------------------------------------------------------------
def test_unreadable_artefacts_never_give_passed_verdicts(pytester: pytest.Pytester, tmp_path: Path) -> None:
    folder = tmp_path / "folder"
    (folder / "cda").mkdir(parents=True)
    (folder / "dmp").mkdir()
    (folder / "cda" / "DLU.xml").write_bytes(b"not xml at all")
    (folder / "dmp" / "DLU.xml").write_bytes(b"<Envelope><broken")
    report = tmp_path / "rep"
    pytester.inline_run("--pyargs", "conformance.suites.test_cda", "conformance.suites.test_dmp",
                        "-p", "no:cacheprovider", "--artefacts", str(folder), "--segur-report", str(report),
                        "--segur-profile", "MS1")
    results = json.loads((report / "results.json").read_text(encoding="utf-8"))
    verdicts = {r["id"]: r["verdict"] for r in results["requirements"]}
    for rid in ("DOC/AUTO.03", "DOC/AUTO.04", "SC.CDA/META.01", "SC.DOC/va1.04", "DUI.DMP.01", "SC.DMP/va1.01"):
        assert verdicts[rid] in ("failed", "error"), (rid, verdicts[rid])
