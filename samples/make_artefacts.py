"""Regenerate the artefact-mode sample folders (samples/artefacts/good and samples/artefacts/bad).

    python samples/make_artefacts.py [--out samples/artefacts] [--profile MS1]

(with the harness installed, ``pip install -e .``: it imports ``conformance`` and ``segur_reference_dui``).

It plays, once, what the suites do in sandbox mode: the reference sandbox
(``segur_reference_dui.server.serve``), the INSi, DMP and MSSanté simulators, the candidate configured
with ``PUT /endpoints`` exactly as the suites' fixtures do (``conformance/suites/_fixtures_*.py``),
one qualified resident, every document type the corridor requires, each sent to the DMP and by
MSSanté to a professional, one more to the patient's mailbox. What the simulators *received* is
written as an artefact folder (docs/artefacts.md):

    good/capabilities.json   GET /capabilities (without the reference sandbox's ``defects`` key)
    good/cda/<TYPE>.xml      the CDA documents, as returned by POST /residents/{id}/documents
    good/dmp/<TYPE>.http     the ITI-41 requests the DMP simulator received (request line, headers, body)
    good/mss/pro-<TYPE>.eml  the messages the MSSanté simulator received (RFC 5322, as transmitted)
    good/mss/patient-<TYPE>.eml

Then ``bad/``: one deliberately broken artefact per domain, each produced by the same sandbox with a
defect switch, plus hostile files (see ``BAD`` below and ``bad/README.txt``). The documents carry
fresh ids and timestamps at each run: the folders are regenerated, not byte-identical.

Certificates: the DMP checks verify the VIHF and XAdES signatures at the time of the run, and the test
PKI of conformance.dmp.pki issues 30-day certificates. Committed captures would then fail one month
after generation, so this script installs, for its own process only, a test PKI whose certificates
last ``SAMPLE_VALIDITY`` (three years, like an IGC-Santé certificate) and prints when the earliest
one expires. Regenerate the samples before that date.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import re
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from segur_reference_dui.server import serve

from conformance.dmp.simulator import DmpSimulator
from conformance.ins.insi import fixtures as insi_fixtures
from conformance.ins.insi.simulator import InsiSimulator
from conformance.mss.simulator import MssSimulator
from conformance.profiles import load_profile
from conformance.sandbox.candidate import SandboxCandidate
from conformance.sandbox.client import SandboxClient, SandboxError
from conformance.suites import _fixtures_dmp as fx_dmp
from conformance.suites import _fixtures_ins as fx_ins
from conformance.suites import _fixtures_mss as fx_mss
from conformance.suites._fixtures_cda import decode_cda, requested_document_types

ROOT = Path(__file__).resolve().parent
DEFAULT_OUT = ROOT / "artefacts"
MAX_TOTAL_BYTES = 2 * 1024 * 1024
SAMPLE_VALIDITY = dt.timedelta(days=3 * 365)
PRO_OPTIONS = {"recipients": [fx_mss.MSS_PRO_RECIPIENT], "to_patient": False, "read_receipt": True,
               "no_reply": False}
PATIENT_OPTIONS = {"recipients": [], "to_patient": True, "read_receipt": False, "no_reply": True}


@dataclass
class Produced:
    """What one sandbox session produced, by artefact-folder path (``cda/DLU.xml`` → bytes)."""

    capabilities: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# long-lived test certificates for committed samples
# ---------------------------------------------------------------------------------------------
def install_sample_pki() -> None:
    """Make ``conformance.dmp.pki.default_pki()`` (used by the reference DUI to sign its VIHF and XAdES,
    and by the DMP simulator) a test PKI whose certificates last SAMPLE_VALIDITY. This process only."""
    from conformance.dmp import pki

    class SamplePki(pki.TestPki):
        def _issue(self, subject: Any, **kwargs: Any) -> Any:
            kwargs.setdefault("validity", SAMPLE_VALIDITY)
            return super()._issue(subject, **kwargs)

    if getattr(pki, "_default", None) is not None:
        raise SystemExit("make_artefacts: the DMP test PKI was created before the sample PKI could be installed")
    saved = pki.VALIDITY
    pki.VALIDITY = SAMPLE_VALIDITY  # the CA certificate reads it at construction
    try:
        pki._default = SamplePki("segur-conformance DMP test CA (samples)")
    finally:
        pki.VALIDITY = saved


_CERT = re.compile(rb"<(?:\w+:)?X509Certificate>([A-Za-z0-9+/=\s]+)</(?:\w+:)?X509Certificate>")


def earliest_certificate_expiry(files: dict[str, bytes]) -> dt.datetime | None:
    """The earliest notAfter of the X.509 certificates embedded in the DMP captures (VIHF, XAdES)."""
    from cryptography import x509

    ends = []
    for rel, data in files.items():
        if not rel.startswith("dmp/"):
            continue
        for match in _CERT.finditer(data):
            try:
                cert = x509.load_der_x509_certificate(base64.b64decode(b"".join(match.group(1).split())))
            except ValueError:
                continue
            ends.append(cert.not_valid_after_utc)
    return min(ends) if ends else None


# ---------------------------------------------------------------------------------------------
# one sandbox session: configured like the suites' fixtures
# ---------------------------------------------------------------------------------------------
@contextmanager
def session(defects: tuple[str, ...] = ()) -> Iterator[tuple[SandboxClient, DmpSimulator, MssSimulator]]:
    """The reference sandbox plus the three simulators, the sandbox pointed at them (PUT /endpoints)."""
    with ExitStack() as stack:
        sandbox = stack.enter_context(serve(defects=defects))
        insi = stack.enter_context(InsiSimulator(timeout_delay=fx_ins.SIMULATOR_TIMEOUT_DELAY_S))
        dmp = stack.enter_context(DmpSimulator(hold_s=fx_dmp.SIMULATOR_HOLD_S))
        mss = stack.enter_context(MssSimulator())
        client = SandboxClient(sandbox.url)
        mss_endpoint = mss.endpoint(fx_mss.MSS_SENDER)
        mss_endpoint["mdn_wait_s"] = fx_mss.MSS_MDN_WAIT_S
        client.set_endpoints({
            "insi": {"url": insi.url, "timeout_s": fx_ins.CANDIDATE_TIMEOUT_S},
            "dmp": {**dmp.endpoint(), "timeout_s": fx_dmp.CANDIDATE_TIMEOUT_S},
            "mss": mss_endpoint,
        })
        yield client, dmp, mss


def qualified_resident(client: SandboxClient) -> dict[str, Any]:
    """The INS suite's qualified resident (fixture ``qualified_resident``): created, qualified, read back."""
    ident = insi_fixtures.identity(fx_ins.QUALIFIED_IDENTITY)
    created = client.create_resident(ident.resident_body(identity_document="passeport"))
    client.qualify(str(created["id"]))
    resident = client.get_resident(str(created["id"]))
    if resident.get("status") != "QUAL" or not resident.get("ins"):
        raise SystemExit(f"make_artefacts: the reference sandbox did not qualify the resident: {resident}")
    return dict(resident)


def produce(profile_id: str, defects: tuple[str, ...] = (), *, types: list[str] | None = None,
            dmp: bool = True, mss: bool = True, patient: bool = True) -> Produced:
    """One session: documents of ``types`` (default: the corridor's), DMP and MSSanté sends, captured."""
    profile = load_profile(profile_id)
    with session(defects) as (client, dmp_sim, mss_sim):
        caps = client.capabilities()
        caps.pop("defects", None)  # a reference-sandbox extra, not part of contract v1's capabilities
        out = Produced(caps)
        if types is None:
            types = requested_document_types(SandboxCandidate(client.base_url), profile)
        resident = qualified_resident(client)
        rid = str(resident["id"])
        for doc_type in types:
            answer = client.create_document(rid, doc_type)
            doc_id = str(answer["id"])
            out.files[f"cda/{doc_type}.xml"] = decode_cda(answer)
            if dmp:
                sub = fx_dmp.send(client, dmp_sim, doc_id, f"dmp/{doc_type}.http", doc_type)
                if not sub.raw:
                    raise SystemExit(f"make_artefacts: no ITI-41 request for {doc_type}: {sub.problem}")
                out.files[f"dmp/{doc_type}.http"] = sub.raw
                if sub.received is not None and sub.received.outcome != "Success":
                    out.notes.append(f"dmp/{doc_type}.http: the DMP simulator answered {sub.received.outcome}")
            if mss:
                cap = fx_mss.mss_send_and_capture(client, mss_sim, doc_id, dict(PRO_OPTIONS), kind="pro",
                                                  resident=resident)
                if not cap.raw:
                    raise SystemExit(f"make_artefacts: no message for {doc_type}: {cap.problem}")
                out.files[f"mss/pro-{doc_type}.eml"] = cap.raw
        if mss and patient and types:
            doc = client.create_document(rid, types[0])  # a fresh document, as the fixture mss_messages does
            cap = fx_mss.mss_send_and_capture(client, mss_sim, str(doc["id"]), dict(PATIENT_OPTIONS),
                                              kind="patient", resident=resident)
            if not cap.raw:
                raise SystemExit(f"make_artefacts: no patient message: {cap.problem}")
            out.files[f"mss/patient-{types[0]}.eml"] = cap.raw
        time.sleep(0.1)  # let the sandbox's MDN watcher threads start before the simulators stop
    if dmp:  # the test trust anchor of the captures' VIHF and XAdES, declared as a vendor would (trust.py)
        from conformance.dmp.pki import default_pki

        out.files["dmp/trust/test-ca.pem"] = default_pki().ca_pem
    return out


# ---------------------------------------------------------------------------------------------
# the bad folder
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BadArtefact:
    """One broken file of bad/: how it was made and what artefact mode must report on it
    (requirement → rules of the ERROR findings expected on this very file)."""

    path: str
    how: str
    description: str
    fails: dict[str, tuple[str, ...]]


BAD: tuple[BadArtefact, ...] = (
    BadArtefact("cda/DLU-wrong_code.xml", "reference sandbox, defect wrong_code",
                "DLU whose ClinicalDocument/code is 11488-4 instead of 74207-2",
                {"DOC/AUTO.03": ("CDA.DLU.code",)}),
    BadArtefact("cda/hostile-entity.xml", "the good PPA with an internal DTD declaring entities",
                "hostile XML: <!DOCTYPE> with <!ENTITY> declarations (nested, billion-laughs shape, and an external "
                "SYSTEM entity); must be refused, never expanded",
                {"DOC/AUTO.03": ("CDA.XML",), "SC.INS/va1.59": ("INS.CDA.parse",)}),
    BadArtefact("dmp/PPA-hash_mismatch.http", "reference sandbox, defect hash_mismatch",
                "ITI-41 request whose XDS hash slot is not the SHA-1 of the document sent",
                {"DUI.DMP.01": ("DMP.XDS.hash",)}),
    BadArtefact("dmp/truncated.http", "the good PPA capture cut in the middle of its MTOM body",
                "truncated HTTP capture (capture stopped mid-request)",
                {"DUI.DMP.01": ("DMP.MTOM.truncated",)}),
    BadArtefact("mss/pro-PPA-wrong_codecda.eml", "reference sandbox, defect wrong_codecda",
                "message whose X-MSS-CODECDA header does not match the attached CDA",
                {"SC.MSS/CONF.15": ("MSS.HDR.CODECDA",)}),
    BadArtefact("mss/truncated.eml", "the good PPA message cut in the middle of its IHE_XDM.ZIP part",
                "truncated RFC 5322 message (no closing MIME boundary, base64 cut)",
                {"MSS/XDM.01": ("MSS.XDM.ZIP",)}),
)
#: Failures of the folder as a whole: bad/ holds no readable PPA, which the corridor requires.
BAD_FOLDER_FAILS: dict[str, tuple[str, ...]] = {"DOC/AUTO.05": ("CDA.CORRIDOR.produced",)}

HOSTILE_DTD = (b'<!DOCTYPE ClinicalDocument [\n'
               b'  <!ENTITY lol "lol">\n'
               b'  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">\n'
               b'  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">\n'
               b'  <!ENTITY ext SYSTEM "file:///etc/hostname">\n'
               b']>\n')


def hostile_entity_xml(cda: bytes) -> bytes:
    """A real CDA with a DOCTYPE declaring entities (billion-laughs shape, external entity) and using them."""
    head, sep, rest = cda.partition(b"<ClinicalDocument")
    if not sep:
        raise SystemExit("make_artefacts: no <ClinicalDocument in the PPA")
    rest = rest.replace(b"<title>", b"<title>&lol3;&ext;", 1)
    return head + HOSTILE_DTD + sep + rest


def truncated(data: bytes, marker: bytes) -> bytes:
    """``data`` cut in the middle of the part after ``marker`` (the first occurrence after the headers)."""
    start = data.find(marker)
    if start < 0:
        start = len(data) // 3
    return data[: start + (len(data) - start) // 2]


def make_bad(profile_id: str, good: Produced) -> Produced:
    caps = dict(good.capabilities)
    bad = Produced(caps)
    dlu = produce(profile_id, ("wrong_code",), types=["DLU"], dmp=False, mss=False)
    bad.files["cda/DLU-wrong_code.xml"] = dlu.files["cda/DLU.xml"]
    bad.files["cda/hostile-entity.xml"] = hostile_entity_xml(good.files["cda/PPA.xml"])
    hashed = produce(profile_id, ("hash_mismatch",), types=["PPA"], mss=False)
    bad.files["dmp/PPA-hash_mismatch.http"] = hashed.files["dmp/PPA.http"]
    bad.files["dmp/truncated.http"] = truncated(good.files["dmp/PPA.http"], b"\r\n\r\n--")
    bad.files["dmp/trust/test-ca.pem"] = good.files["dmp/trust/test-ca.pem"]
    coded = produce(profile_id, ("wrong_codecda",), types=["PPA"], dmp=False, patient=False)
    bad.files["mss/pro-PPA-wrong_codecda.eml"] = coded.files["mss/pro-PPA.eml"]
    bad.files["mss/truncated.eml"] = truncated(good.files["mss/pro-PPA.eml"], b"IHE_XDM.ZIP")
    assert set(bad.files) == {b.path for b in BAD}, sorted(bad.files)
    return bad


def bad_readme() -> str:
    lines = ["Deliberately non-conformant artefacts, written by samples/make_artefacts.py (see docs/artefacts.md).",
             "Each file, how it was made, and what artefact mode must report on it (requirement: rules of the",
             "ERROR findings on that file). Other findings may follow from the same file (e.g. the truncated",
             "message also fails the X-MSS-* header checks, the hostile XML also fails SC.INS/va1.53).", ""]
    for b in BAD:
        fails = "; ".join(f"{req}: {', '.join(rules)}" for req, rules in b.fails.items())
        lines += [f"{b.path}", f"    {b.description}", f"    made from: {b.how}", f"    must fail: {fails}", ""]
    fails = "; ".join(f"{req}: {', '.join(rules)}" for req, rules in BAD_FOLDER_FAILS.items())
    lines += ["(the folder as a whole)", "    no readable PPA among cda/*.xml, which corridor MS1 requires",
              f"    must fail: {fails}", ""]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------------------------
def write_folder(folder: Path, produced: Produced, readme: str | None = None) -> int:
    """(Re)write one artefact folder; only the sub-folders this script owns are replaced."""
    folder.mkdir(parents=True, exist_ok=True)
    for sub in ("cda", "dmp", "mss"):
        if (folder / sub).is_dir():
            shutil.rmtree(folder / sub)
    (folder / "capabilities.json").write_text(
        json.dumps(produced.capabilities, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    if readme is not None:
        (folder / "README.txt").write_text(readme, encoding="utf-8")
    total = 0
    for rel, data in sorted(produced.files.items()):
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        total += len(data)
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where good/ and bad/ are written")
    parser.add_argument("--profile", default="MS1", help="corridor whose document types are produced")
    args = parser.parse_args(argv)
    started = time.monotonic()
    install_sample_pki()
    try:
        good = produce(args.profile)
        bad = make_bad(args.profile, good)
    except SandboxError as exc:
        print(f"make_artefacts: the reference sandbox refused a step: {exc.message}", file=sys.stderr)
        return 1
    size = write_folder(args.out / "good", good)
    size += write_folder(args.out / "bad", bad, bad_readme())
    for note in good.notes + bad.notes:
        print(f"note: {note}", file=sys.stderr)
    print(f"{len(good.files)} good and {len(bad.files)} bad artefacts, {size} bytes, in {args.out} "
          f"({time.monotonic() - started:.1f} s)")
    expiry = earliest_certificate_expiry({**good.files, **bad.files})
    if expiry is not None:
        print(f"the DMP captures' signing certificates expire on {expiry:%Y-%m-%d}: regenerate before then")
    if size > MAX_TOTAL_BYTES:
        print(f"make_artefacts: warning: {size} bytes exceed the {MAX_TOTAL_BYTES}-byte budget for committed "
              "samples", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
