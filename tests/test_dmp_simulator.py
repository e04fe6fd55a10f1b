"""The DMP simulator as a real HTTPS server: registry/repository behaviour, scenarios, hostile input."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

import pytest
import requests
from cryptography import x509
from lxml import etree
from segur_reference_dui import dmp_client

from conformance.dmp import ns, soap
from conformance.dmp.checks import CheckContext, check_submission
from conformance.dmp.iti41 import load_artefact
from conformance.dmp.mtom import build_mtom
from conformance.dmp.pki import default_pki
from conformance.dmp.samples import PATIENT_CX, synthetic_cda, unique_id_of
from conformance.dmp.simulator import DmpSimulator
from conformance.ihe import ebrim

# the harness's test CA (its own builders) and the reference DUI's own CA (it signs with its own PKI)
TRUST = [default_pki().ca.cert, *x509.load_pem_x509_certificates(dmp_client.trust_anchors_pem())]


@pytest.fixture(scope="module")
def sim():
    with DmpSimulator(trust=TRUST, hold_s=1.0) as running:
        yield running


@pytest.fixture(scope="module")
def ca_file(tmp_path_factory, sim) -> str:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    path.write_text(sim.ca_pem)
    return str(path)


@pytest.fixture(autouse=True)
def normal(sim):
    sim.set_scenario("normal")
    yield
    sim.set_scenario("normal")


def iti41(cda: bytes | None = None, *, defects=frozenset(), replaces_uuid=None) -> tuple[str, bytes]:
    cda = cda or synthetic_cda()
    facts = dmp_client.read_cda(cda)
    ident = dmp_client.vihf_identity(facts, PATIENT_CX)
    ctype, body, _ = dmp_client.build_iti41(cda, facts, patient_cx=PATIENT_CX, source_patient_id=PATIENT_CX,
                                            to="https://x/dmp/repository",
                                            keypair=dmp_client.cachet_for(ident.structure_id), defects=defects,
                                            replaces_uuid=replaces_uuid)
    return ctype, body


def post(sim, ca_file, path: str, body: bytes, ctype: str, timeout: float = 10) -> requests.Response:
    return requests.post(sim.url + path, data=body, headers={"Content-Type": ctype}, verify=ca_file, timeout=timeout)


def answer(resp: requests.Response) -> soap.RegistryAnswer:
    return soap.read_answer(etree.fromstring(resp.content))


def registry_call(sim, ca_file, action: str, payload: etree._Element) -> soap.RegistryAnswer:
    ident = dmp_client.vihf_identity(dmp_client.read_cda(synthetic_cda()), PATIENT_CX)
    env = soap.envelope(action, sim.url + "/registry", payload,
                        security=dmp_client.security(ident, dmp_client.cachet_for(ident.structure_id), set()))
    return answer(post(sim, ca_file, "/registry", etree.tostring(env), "application/soap+xml"))


def submit(sim, ca_file, cda: bytes, **kw) -> soap.RegistryAnswer:
    ctype, body = iti41(cda, **kw)
    return answer(post(sim, ca_file, "/repository", body, ctype))


def find(sim, ca_file, statuses=(ns.STATUS_APPROVED,)) -> dict[str, str]:
    q = ebrim.adhoc_query(ns.QUERY_FIND_DOCUMENTS, {"$XDSDocumentEntryPatientId": [f"'{PATIENT_CX}'"],
                                                    "$XDSDocumentEntryStatus": ["(" + ",".join(f"'{s}'" for s in statuses)
                                                                                + ")"]})
    got = registry_call(sim, ca_file, ns.ACTION_ITI18, q)
    assert got.success
    out = {}
    for eo in got.payload.iter(f"{{{ns.RIM}}}ExtrinsicObject"):
        for ext in eo.findall(f"{{{ns.RIM}}}ExternalIdentifier"):
            if ext.get("identificationScheme") == ns.DE_IDENTIFIERS["uniqueId"]:
                out[ext.get("value")] = eo.get("id")
    return out


# ---------------------------------------------------------------------------------------------
def test_https_with_test_ca_and_nothing_else(sim, ca_file) -> None:
    assert sim.url.startswith("https://127.0.0.1:")
    with pytest.raises(requests.exceptions.SSLError):
        requests.post(sim.url + "/td02", data=b"<x/>", timeout=5)  # system trust does not know our CA
    ctx = ssl.create_default_context(cafile=ca_file)
    with socket.create_connection(("127.0.0.1", sim.port), timeout=5) as raw, \
            ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        assert tls.version() in ("TLSv1.2", "TLSv1.3")


def test_plain_http_mode() -> None:
    with DmpSimulator(tls=False) as plain:
        ctype, body = iti41()
        resp = requests.post(plain.url + "/repository", data=body, headers={"Content-Type": ctype}, timeout=10)
        assert answer(resp).success and plain.submissions()[0].outcome == "Success"


def test_provide_and_register_then_query(sim, ca_file) -> None:
    sim.reset()
    cda = synthetic_cda()
    got = submit(sim, ca_file, cda)
    assert got.success, got.describe()
    rec = sim.submissions(PATIENT_CX)[-1]
    assert rec.kind == "ITI-41" and rec.outcome == "Success" and not [f for f in rec.findings if f.is_error]
    assert rec.as_http().startswith(b"POST /dmp/repository HTTP/1.1\r\n")
    replayed = load_artefact("dmp/replayed.http", rec.as_http())  # evidence is a valid artefact-mode capture
    assert not [f for f in check_submission(replayed, CheckContext(trust=TRUST)) if f.is_error]
    uid = unique_id_of(cda)
    entries = find(sim, ca_file)
    assert uid in entries and len(entries) == 2  # the document and its signature document
    q = ebrim.adhoc_query(ns.QUERY_GET_DOCUMENTS, {"$XDSDocumentEntryUniqueId": [f"('{uid}')"]})
    got = registry_call(sim, ca_file, ns.ACTION_ITI18, q)
    eos = list(got.payload.iter(f"{{{ns.RIM}}}ExtrinsicObject"))
    assert len(eos) == 1 and eos[0].get("status") == ns.STATUS_APPROVED
    unknown = registry_call(sim, ca_file, ns.ACTION_ITI18, ebrim.adhoc_query("urn:uuid:0", {}))
    assert unknown.status == ns.RESPONSE_FAILURE and unknown.errors[0].code == "XDSUnknownStoredQuery"


def test_replacement_deprecates_and_refuses_a_deprecated_target(sim, ca_file) -> None:
    sim.reset()
    old = synthetic_cda()
    assert submit(sim, ca_file, old).success
    target = find(sim, ca_file)[unique_id_of(old)]
    assert submit(sim, ca_file, synthetic_cda(replaces=unique_id_of(old)), replaces_uuid=target).success
    assert sim.entries[target].status == ns.STATUS_DEPRECATED
    again = submit(sim, ca_file, synthetic_cda(replaces=unique_id_of(old)), replaces_uuid=target)
    assert again.status == ns.RESPONSE_FAILURE and again.errors[0].code == "XDSRegistryDeprecatedDocumentError"
    wrong = submit(sim, ca_file, synthetic_cda(replaces=unique_id_of(old)), replaces_uuid="urn:uuid:0")
    assert wrong.status == ns.RESPONSE_FAILURE and "urn:uuid:0" in wrong.errors[0].context


def test_iti57_status_and_metadata_updates(sim, ca_file) -> None:
    sim.reset()
    cda = synthetic_cda()
    assert submit(sim, ca_file, cda).success
    entry_uuid = find(sim, ca_file)[unique_id_of(cda)]

    def status_update(original: str, new: str) -> soap.RegistryAnswer:
        objects = ebrim.submission_set("SS57", {"uniqueId": "1.2.9.57", "sourceId": "1.2.8", "patientId": PATIENT_CX,
                                                "submissionTime": "20240312101800"})
        objects.append(ebrim.association("U1", ns.ASSOC_UPDATE_STATUS, "SS57", entry_uuid,
                                         {"OriginalStatus": [original], "NewStatus": [new]}))
        return registry_call(sim, ca_file, ns.ACTION_ITI57, ebrim.submit_objects_request(objects))

    assert status_update(ns.STATUS_APPROVED, ns.STATUS_ARCHIVED).success  # TD3.3d archive
    assert sim.entries[entry_uuid].status == ns.STATUS_ARCHIVED
    assert status_update(ns.STATUS_ARCHIVED, ns.STATUS_APPROVED).success  # unarchive
    bad = status_update(ns.STATUS_ARCHIVED, ns.STATUS_DELETED)
    assert bad.status == ns.RESPONSE_FAILURE and bad.errors[0].code == "XDSMetadataUpdateError"
    # TD3.3a: hide from professionals, as a new version of the metadata (MASQUE_PS)
    stored = sim.entries[entry_uuid]
    md = dict(stored.metadata, confidentialityCode=stored.metadata["confidentialityCode"] + [
        {"code": "MASQUE_PS", "scheme": "1.2.250.1.213.1.1.4.13", "display": "Masqué aux PS"}])
    new_uuid = "urn:uuid:00000000-0000-0000-0000-000000000057"
    objects = [ebrim.extrinsic_object(new_uuid, md, lid=stored.lid)]
    objects += ebrim.submission_set("SS58", {"uniqueId": "1.2.9.58", "sourceId": "1.2.8", "patientId": PATIENT_CX,
                                             "submissionTime": "20240312101800"})
    objects.append(ebrim.association("M1", ns.ASSOC_HAS_MEMBER, "SS58", new_uuid,
                                     {"SubmissionSetStatus": ["Original"], "PreviousVersion": ["1"]}))
    assert registry_call(sim, ca_file, ns.ACTION_ITI57, ebrim.submit_objects_request(objects)).success
    assert sim.entries[entry_uuid].status == ns.STATUS_DEPRECATED
    assert sim.entries[new_uuid].version == 2
    assert [c["code"] for c in sim.entries[new_uuid].metadata["confidentialityCode"]] == ["N", "MASQUE_PS"]
    stale = registry_call(sim, ca_file, ns.ACTION_ITI57, ebrim.submit_objects_request(objects))
    assert stale.errors and stale.errors[0].code in ("XDSMetadataUpdateError", "XDSMetadataVersionError")
    assert status_update(ns.STATUS_APPROVED, ns.STATUS_DELETED).status == ns.RESPONSE_FAILURE  # old version now


def test_td02_and_td03(sim, ca_file) -> None:
    mark = sim.mark()
    facts = dmp_client.read_cda(synthetic_cda())
    ident = dmp_client.vihf_identity(facts, PATIENT_CX)
    endpoint = {"url": sim.url, "ca_pem": sim.ca_pem}
    assert dmp_client._td02(endpoint, ident, dmp_client.cachet_for(ident.structure_id), set(), PATIENT_CX) == "ACTIF"
    env = soap.envelope(ns.ACTION_TD03, sim.url + "/td03", etree.Element("x"))
    assert post(sim, ca_file, "/td03", etree.tostring(env), "application/soap+xml").status_code == 200
    kinds = [r.kind for r in sim.since(mark)]
    assert kinds == ["TD0.2", "TD0.3"] and sim.since(mark)[0].patient_id == PATIENT_CX


@pytest.mark.parametrize("scenario, check", [
    ("unknown_patient", lambda a: a.status == ns.RESPONSE_FAILURE and a.errors[0].code == "XDSUnknownPatientId"),
    ("metadata_error", lambda a: a.errors[0].code == "XDSRegistryMetadataError" and a.errors[0].context),
    ("partial_success", lambda a: a.status == ns.RESPONSE_PARTIAL and a.errors[0].code == "XDSExtraMetadataNotSaved"),
    ("soap_fault", lambda a: a.kind == "fault" and "VIHF" in a.fault_reason),
])
def test_forced_answers(sim, ca_file, scenario, check) -> None:
    sim.set_scenario(scenario, times=1)
    ctype, body = iti41()
    assert check(answer(post(sim, ca_file, "/repository", body, ctype)))
    assert sim.scenario == "normal"  # consumed
    assert sim.submissions()[-1].scenario == scenario


def test_http_500_and_timeout(sim, ca_file) -> None:
    ctype, body = iti41()
    sim.set_scenario("http_500", times=1)
    resp = post(sim, ca_file, "/repository", body, ctype)
    assert resp.status_code == 500 and "text/plain" in resp.headers["Content-Type"]
    sim.set_scenario("timeout", times=1)
    with pytest.raises((requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError)):
        post(sim, ca_file, "/repository", body, ctype, timeout=0.5)
    sim.set_scenario("timeout", times=1)
    with pytest.raises(requests.exceptions.ConnectionError):  # held, then dropped without an answer
        post(sim, ca_file, "/repository", body, ctype, timeout=5)
    assert answer(post(sim, ca_file, "/repository", body, ctype)).success


def test_strict_answers_follow_the_findings(sim, ca_file) -> None:
    for defect, expected in (("vihf_unsigned", "fault"), ("hash_mismatch", "XDSRepositoryMetadataError"),
                             ("no_signature_document", "XDSRegistryMetadataError")):
        got = submit(sim, ca_file, synthetic_cda(), defects=frozenset({defect}))
        assert (got.kind == "fault") if expected == "fault" else (got.errors[0].code == expected), defect
        assert sim.submissions()[-1].outcome != "Success"


def _raw(sim, ca_file, payload: bytes) -> bytes:
    ctx = ssl.create_default_context(cafile=ca_file)
    with socket.create_connection(("127.0.0.1", sim.port), timeout=5) as raw, \
            ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        tls.sendall(payload)
        return tls.recv(4096)


def test_hostile_requests_get_answers_and_the_simulator_keeps_serving(sim, ca_file) -> None:
    ctype, body = iti41()
    entity = build_mtom(b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><x>&b;</x>', [])
    deep = build_mtom(b"<a>" * 5000 + b"</a>" * 5000, [])
    cases = [
        entity,
        deep,
        (ctype, body[: len(body) // 2]),  # truncated MIME
        (ctype, body.replace(b"Content-ID: <doc1", b"Content-ID: <gone")),  # xop:Include to a missing part
        ("text/plain", b"bonjour"),  # wrong content type
        ("multipart/related; boundary=x", b"--x\r\n\r\n\xff\xfe" + b"\x00" * 100 + b"\r\n--x--"),  # binary garbage
        ("application/soap+xml", b""),
    ]
    for c, b in cases:
        resp = post(sim, ca_file, "/repository", b, c)
        assert resp.status_code in (200, 500)
        got = answer(resp)
        assert got.kind == "fault" or got.status == ns.RESPONSE_FAILURE
        assert sim.submissions()[-1].findings, "every hostile request is recorded with its findings"
    assert _raw(sim, ca_file, b"POST /dmp/repository HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999\r\n\r\n"
                ).startswith(b"HTTP/1.1 413")
    assert _raw(sim, ca_file, b"POST /dmp/repository HTTP/1.1\r\nHost: x\r\n\r\n").startswith(b"HTTP/1.1 411")
    assert requests.get(sim.url + "/repository", verify=ca_file, timeout=5).status_code == 405
    assert post(sim, ca_file, "/nowhere", b"<x/>", "application/soap+xml").status_code == 404
    with socket.create_connection(("127.0.0.1", sim.port), timeout=5) as plain:  # plain HTTP on the TLS port
        plain.sendall(b"GET / HTTP/1.1\r\n\r\n")
        plain.recv(100)
    assert answer(post(sim, ca_file, "/repository", body, ctype)).success  # still serving


def test_endpoint_and_lifecycle(tmp_path: Path) -> None:
    with DmpSimulator() as s:
        ep = s.endpoint()
        assert ep["url"] == s.url and "BEGIN CERTIFICATE" in ep["ca_pem"]
        with pytest.raises(ValueError):
            s.set_scenario("nope")
    with pytest.raises(ValueError):
        DmpSimulator(host="0.0.0.0")
