"""The reference sandbox as a real HTTP server: contract v1 routing, errors, defect switches."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import requests
import yaml
from segur_reference_dui.defects import UnknownDefect, all_defects
from segur_reference_dui.server import serve

from conformance.sandbox.client import SandboxClient, SandboxError, SandboxUnsupported

ROOT = Path(__file__).resolve().parents[1]
TRAITS = {"birth_name": "TESTE", "given_names": ["ALICE", "MARIE"], "first_given_name": "ALICE",
          "birth_date": "1941-05-12", "sex": "F", "birthplace_code": "63113"}


@pytest.fixture
def sandbox():
    with serve() as running:
        yield running


def test_capabilities_declare_contract_v1_and_corridors(sandbox) -> None:
    caps = SandboxClient(sandbox.url).capabilities()
    assert caps["contract"] == "1"
    assert set(caps["corridors"]) == {"MS1", "MS2-PDE", "MS2-PDS"}
    assert caps["product"] and caps["vendor"] and caps["version"]
    assert sandbox.url.startswith("http://127.0.0.1:")


def test_resident_round_trip_and_missing_traits(sandbox) -> None:
    client = SandboxClient(sandbox.url)
    created = client.create_resident({"traits": TRAITS, "used_name": "DUPONT"})
    assert created["status"] == "PROV" and created["ins"] is None
    assert client.get_resident(created["id"])["traits"] == TRAITS
    with pytest.raises(SandboxError) as err:
        client.create_resident({"traits": {**TRAITS, "sex": ""}})
    assert err.value.status == 422 and "sex" in err.value.message


def test_errors_are_json_and_never_crash_the_server(sandbox) -> None:
    base = sandbox.url
    assert requests.get(f"{base}/residents/R99999", timeout=5).status_code == 404
    assert requests.get(f"{base}/nowhere", timeout=5).status_code == 404
    assert requests.delete(f"{base}/capabilities", timeout=5).status_code == 405
    bad = requests.post(f"{base}/residents", data=b"{not json", timeout=5)
    assert bad.status_code == 400 and bad.json()["code"] == "bad_json"
    big = requests.post(f"{base}/residents", data=b"x" * (3 * 1024 * 1024), timeout=10)
    assert big.status_code == 413
    assert requests.get(f"{base}/capabilities", timeout=5).status_code == 200  # still serving


def test_unconfigured_endpoint_is_a_clear_error(sandbox) -> None:
    client = SandboxClient(sandbox.url)
    rid = client.create_resident({"traits": TRAITS})["id"]
    try:
        client.qualify(rid)
    except SandboxUnsupported:
        pytest.skip("INS client not installed in this build")
    except SandboxError as exc:
        assert exc.status == 409 and "insi" in exc.message


def test_unreachable_sandbox_is_sandbox_error_not_a_pass() -> None:
    with serve() as running:
        url = running.url
    with pytest.raises(SandboxError) as err:
        SandboxClient(url, timeout=2).capabilities()
    assert "injoignable" in err.value.message


def test_defect_switches_are_validated_and_change_behaviour() -> None:
    with pytest.raises(UnknownDefect):
        serve(defects=["no_such_defect"])
    assert "no_corridor" in all_defects()
    with serve(defects=["no_corridor", "contract_v0"]) as running:
        caps = SandboxClient(running.url).capabilities()
    assert caps["corridors"] == [] and caps["contract"] == "0"


def test_sandbox_refuses_non_loopback_bind() -> None:
    with pytest.raises(ValueError):
        serve(host="0.0.0.0")


def test_openapi_contract_lists_every_route_the_server_serves() -> None:
    spec = yaml.safe_load((ROOT / "docs" / "sandbox-api.yaml").read_text(encoding="utf-8"))
    documented = {(m.upper(), re.sub(r"\{\w+\}", "{}", p)) for p, ops in spec["paths"].items()
                  for m in ops if m in ("get", "post", "put", "delete")}
    from segur_reference_dui.server import SandboxApp

    served = set()
    for method, pattern, _ in SandboxApp(frozenset()).routes:
        served.add((method, re.sub(r"\(\?P<\w+>[^)]*\)", "{}", pattern.pattern)))
    assert served == documented


# -- the reference DUI's own builders (issue 17 item 3: built like a vendor's, not with the harness's code) -------
def _mtom_parts(content_type: str, body: bytes) -> dict[str, bytes]:
    import email
    import email.policy

    msg = email.message_from_bytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body,
                                   policy=email.policy.HTTP)
    return {str(part["Content-ID"]).strip("<>"): part.get_payload(decode=True) for part in msg.iter_parts()}


def test_mtom_parts_keep_their_exact_bytes() -> None:
    """An all-ASCII part with bare LF line ends is the trap: the email generator would rewrite it to CRLF."""
    from segur_reference_dui.dmp_client import mtom

    ascii_lf = b"<?xml version='1.0'?>\n<a>\n line\n</a>\n"
    utf8 = "<doc>é à\r\nfin</doc>".encode()
    ctype, body = mtom(b"<soap/>", [("a@x", ascii_lf, "text/xml"), ("b@x", utf8, "text/xml")], "urn:action")
    assert 'start-info="application/soap+xml"' in ctype and 'type="application/xop+xml"' in ctype
    parts = _mtom_parts(ctype, body)
    assert parts["a@x"] == ascii_lf and parts["b@x"] == utf8


def test_vihf_and_xades_verify_with_a_third_party_library() -> None:
    """The DUI signs by hand over cryptography (dsig.py); signxml, another reading of XML-DSig, must accept it."""
    from cryptography import x509
    from lxml import etree
    from segur_reference_dui import dmp_client, vihf
    from signxml import XMLVerifier

    signer = dmp_client.cachet_for("1990000018")
    identity = vihf.VihfIdentity(name_id="810100000001", subject_id="COORDINATRICE Claire",
                                 structure_id="1990000018", sector="SA17^1.2.250.1.71.4.2.4",
                                 resource_id="1^^^&1.2.250.1.213.1.4.10&ISO^NH", roles=[("10", vihf.G15_PROFESSION, "")])
    assertion = vihf.build(identity, signer)
    ca = x509.load_pem_x509_certificate(dmp_client.trust_anchors_pem())
    assert signer.cert.issuer == ca.subject
    signed = XMLVerifier().verify(etree.tostring(assertion), x509_cert=signer.cert_pem.decode()).signed_xml
    assert signed.get("ID") == assertion.get("ID")
    tampered = etree.tostring(assertion).replace(b"COORDINATRICE", b"USURPATEUR")
    with pytest.raises(Exception, match="(?i)digest"):
        XMLVerifier().verify(tampered, x509_cert=signer.cert_pem.decode())
    document = dmp_client.signature_document([("1.2.3.4", b"<ClinicalDocument/>")], signer)
    results = XMLVerifier().verify(document, x509_cert=signer.cert_pem.decode(), expect_references=2)
    assert {etree.QName(r.signed_xml).localname for r in results} == {"Manifest", "SignedProperties"}


def test_the_dui_refuses_doctype_and_deep_xml() -> None:
    from segur_reference_dui.xmlsafe import XmlRejected, parse

    with pytest.raises(XmlRejected, match="DOCTYPE"):
        parse(b'<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>')
    with pytest.raises(XmlRejected, match="niveaux"):
        parse(b"<a>" * 40 + b"</a>" * 40, max_depth=32)
    assert parse(b"<a><b/></a>").getroot().tag == "a"
