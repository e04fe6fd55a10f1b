"""Regenerate the sample messages of the vendor protocol pages (docs/samples/, quoted in docs/insi.md,
docs/dmp.md and docs/mss.md):

    python tests/vendor_kit_samples.py            # writes docs/samples/*

Every sample is produced by the reference sandbox (the candidate side) talking to the harness's own
simulators (the national-service side), never typed by hand:

    insi-request.xml            the reference DUI's INSi search by traits (RECSANSVITALE), as the simulator got it
    insi-answer-cr00.xml        the simulator's answers: CR 00 (one identity), CR 01 (none), CR 02 (several)
    insi-answer-cr01.xml
    insi-answer-cr02.xml
    insi-fault.xml              a SOAP 1.2 fault (siram_100 / desir_550: unknown software authorisation)
    dmp-td02.http               the TD0.2 request ("does a DMP exist for this INS") before the ITI-41
    dmp-iti41.http              one ITI-41 Provide and Register request (MTOM, VIHF, CDA, XAdES), raw HTTP
    dmp-trust.pem               the test trust anchor of the VIHF and XAdES certificates of those two captures
    mss-message.eml             one MSSanté message to a professional (XDM, X-MSS-*, read receipt asked)

The DMP captures carry certificates of a long-lived sample PKI (samples/make_artefacts.py, three years); the
tests (tests/test_vendor_kit_docs.py) re-check them with the harness's own checks and say when to regenerate.
The pages quote the small samples inline; the tests compare the quotes with these files.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "docs" / "samples"


def _make_artefacts():  # samples/ is not a package: load the script as a module
    spec = importlib.util.spec_from_file_location("make_artefacts", ROOT / "samples" / "make_artefacts.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_artefacts"] = module
    spec.loader.exec_module(module)
    return module


def _pretty(xml: bytes) -> bytes:
    from lxml import etree

    root = etree.fromstring(xml)
    etree.indent(root, space="  ")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8") + b"\n"


def insi_samples() -> dict[str, bytes]:
    from segur_reference_dui import insi_client

    from conformance.ins.insi import fixtures as fx
    from conformance.ins.insi.simulator import InsiSimulator

    out: dict[str, bytes] = {}
    sim = InsiSimulator()
    request = insi_client.build_request(fx.identity("qualifiable").traits(), "uuid:2c4a6f5e-8d1b-4e37-9a0c-5b7e3d9f1a24")
    out["insi-request.xml"] = _pretty(request)
    ctype = 'application/soap+xml; charset=utf-8'
    for name, ident in (("insi-answer-cr00.xml", "qualifiable"), ("insi-answer-cr01.xml", None),
                        ("insi-answer-cr02.xml", "homonyme_1")):
        traits = fx.identity(ident).traits() if ident else dict(fx.identity("qualifiable").traits(),
                                                                 birth_name="PERSONNE-INCONNUE")
        if ident == "homonyme_1":
            traits = dict(traits, given_names=["LOUIS"])
        status, answer, rec = sim.answer(insi_client.build_request(traits, "uuid:2c4a6f5e-8d1b-4e37-9a0c-5b7e3d9f1a24"),
                                         ctype)
        assert status == 200, (name, status, rec.outcome)
        out[name] = _pretty(answer)
    status, answer, _ = sim.answer(insi_client.build_request(fx.identity("faute").traits(), "uuid:0"), ctype)
    assert status == 500
    out["insi-fault.xml"] = _pretty(answer)
    return out


def dmp_mss_samples() -> dict[str, bytes]:
    ma = _make_artefacts()
    ma.install_sample_pki()
    from conformance.dmp.pki import default_pki
    from conformance.suites import _fixtures_dmp as fx_dmp
    from conformance.suites import _fixtures_mss as fx_mss

    out: dict[str, bytes] = {}
    with ma.session() as (client, dmp_sim, mss_sim):
        resident = ma.qualified_resident(client)
        doc_id = str(client.create_document(str(resident["id"]), "PPA")["id"])
        mark = dmp_sim.mark()
        sub = fx_dmp.send(client, dmp_sim, doc_id, "dmp/PPA.http", "PPA")
        assert sub.raw, sub.problem
        td02 = [r for r in dmp_sim.since(mark) if r.kind == "TD0.2"]
        assert td02, "no TD0.2 request"
        out["dmp-td02.http"] = td02[0].as_http()
        out["dmp-iti41.http"] = sub.raw
        cap = fx_mss.mss_send_and_capture(client, mss_sim, doc_id, dict(ma.PRO_OPTIONS), kind="pro", resident=resident)
        assert cap.raw, cap.problem
        out["mss-message.eml"] = cap.raw
    out["dmp-trust.pem"] = default_pki().ca_pem
    return out


def main() -> int:
    SAMPLES.mkdir(parents=True, exist_ok=True)
    files = {**insi_samples(), **dmp_mss_samples()}
    for name, data in sorted(files.items()):
        (SAMPLES / name).write_bytes(data)
        print(f"{SAMPLES / name}  {len(data)} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
