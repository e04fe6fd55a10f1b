"""The INSi simulator as a real server: answers (CR 00/01/02, verification, faults, scenarios), the
request checks (I1), and hostile requests (entities, oversize, malformed, non-ASCII, empty fields)
that get a clear fault and a finding while the simulator keeps serving."""

from __future__ import annotations

import socket
import time

import pytest
import requests
from lxml import etree

from conformance.findings import Severity
from conformance.ins.insi import fixtures as fx
from conformance.ins.insi import soap
from conformance.ins.insi.simulator import InsiSimulator
from conformance.ins.matricule import is_valid_matricule

CT = {"Content-Type": "application/soap+xml; charset=utf-8"}


@pytest.fixture(scope="module")
def sim():
    with InsiSimulator(timeout_delay=0.5) as running:
        yield running


def post(sim: InsiSimulator, body: bytes, headers: dict | None = None, timeout: float = 5) -> requests.Response:
    return requests.post(sim.url, data=body, headers=headers or CT, timeout=timeout)


def search(sim: InsiSimulator, traits: dict, **kw) -> soap.InsiResponse:
    resp = post(sim, soap.build_search_request(traits, **kw))
    return soap.parse_response(resp.content)


def errors(findings):
    return {f.rule for f in findings if f.severity is Severity.ERROR}


def warnings(findings):
    return {f.rule for f in findings if f.severity is Severity.WARNING}


# ---------------------------------------------------------------------------------------------
# fixtures data
# ---------------------------------------------------------------------------------------------
def test_fixture_identities_are_invented_test_identities_with_valid_keys() -> None:
    seen = set()
    for ident in fx.IDENTITIES:
        assert ident.oid == "1.2.250.1.213.1.4.10", ident.name
        assert is_valid_matricule(ident.matricule), ident.name
        assert ident.number[10] == "9", f"{ident.name}: order number outside the invented 9xx range"
        assert ident.matricule not in seen
        seen.add(ident.matricule)
        for h in ident.histo:
            assert is_valid_matricule(h.matricule)
    assert {i.birthplace_code[:2] for i in fx.IDENTITIES} >= {"2A", "2B", "99", "97"}


# ---------------------------------------------------------------------------------------------
# answers
# ---------------------------------------------------------------------------------------------
def test_cr00_returns_insactif_and_tiq_exactly(sim: InsiSimulator) -> None:
    ident = fx.identity("qualifiable")
    # the user typed it loosely: matching ignores case, apostrophes, hyphens; the TIQ is the reference form
    resp = search(sim, dict(ident.traits(), birth_name="d essai lafontaine", given_names=["Marie-Claire"]))
    assert resp.code == "00" and resp.actif is not None
    assert (resp.actif.matricule, resp.actif.oid) == (ident.matricule, ident.oid)
    assert resp.tiq == ident.tiq() and resp.tiq["NomNaissance"] == "D'ESSAI-LAFONTAINE"
    assert resp.histo == []


def test_cr00_with_inshisto(sim: InsiSimulator) -> None:
    ident = fx.identity("historique")
    resp = search(sim, ident.traits())
    assert resp.actif.matricule == ident.matricule
    assert [h.matricule for h in resp.histo] == [ident.histo[0].matricule]
    assert resp.histo[0].type == "NIA" and resp.histo[0].date_end


def test_cr01_and_cr02(sim: InsiSimulator) -> None:
    assert search(sim, fx.NOT_FOUND_TRAITS).code == "01"
    homonym = fx.identity("homonyme_1")
    ambiguous = search(sim, dict(homonym.traits(), given_names=["LOUIS"]))
    assert ambiguous.code == "02" and ambiguous.actif is None
    resolved = search(sim, homonym.traits())  # all given names: one identity
    assert resolved.code == "00" and resolved.actif.matricule == homonym.matricule


def test_per_identity_scenarios(sim: InsiSimulator) -> None:
    bad = search(sim, fx.identity("cle_corrompue").traits())
    assert bad.code == "00" and not is_valid_matricule(bad.actif.matricule)
    partial = search(sim, fx.identity("date_partielle").resident_body()["traits"])
    assert partial.code == "00" and partial.tiq["DateNaissance"] == "1947-00-00"
    empty = search(sim, fx.identity("traits_vides").traits())
    assert empty.tiq["NomNaissance"] == ""
    fault = post(sim, soap.build_search_request(fx.identity("faute").traits()))
    parsed = soap.parse_response(fault.content)
    assert fault.status_code == 500 and (parsed.fault_subcode, parsed.fault_code) == ("siram_100", "desir_550")


def test_timeout_scenario_is_bounded_and_recorded_on_arrival(sim: InsiSimulator) -> None:
    before = sim.last_index
    with pytest.raises(requests.Timeout):
        post(sim, soap.build_search_request(fx.identity("delai").traits()), timeout=0.2)
    assert [r.outcome for r in sim.requests_since(before)] == ["timeout"]
    started = time.monotonic()
    resp = post(sim, soap.build_search_request(fx.identity("delai").traits()), timeout=5)
    assert resp.status_code == 504 and time.monotonic() - started < 3


@pytest.mark.parametrize("scenario", ["corrupted_key", "historical", "partial_date", "empty_fields", "not_found",
                                      "ambiguous", "fault"])
def test_global_scenarios(scenario: str) -> None:
    ident = fx.identity("corse_2b")
    with InsiSimulator(scenario=scenario) as sim:
        resp = search(sim, ident.traits())
    if scenario == "corrupted_key":
        assert not is_valid_matricule(resp.actif.matricule)
    elif scenario == "historical":
        assert resp.histo and is_valid_matricule(resp.histo[0].matricule) and resp.actif.matricule == ident.matricule
    elif scenario == "partial_date":
        assert resp.tiq["DateNaissance"].endswith("-00")
    elif scenario == "empty_fields":
        assert resp.tiq["NomNaissance"] == ""
    elif scenario == "not_found":
        assert resp.code == "01"
    elif scenario == "ambiguous":
        assert resp.code == "02"
    else:
        assert resp.fault_subcode == "siram_100"


def test_switches_are_validated_and_per_identity_override() -> None:
    with pytest.raises(ValueError):
        InsiSimulator(scenario="nope")
    with pytest.raises(ValueError):
        InsiSimulator(host="0.0.0.0")
    with InsiSimulator() as sim:
        sim.set_identity_scenario("corse_2a", "not_found")
        assert search(sim, fx.identity("corse_2a").traits()).code == "01"
        sim.set_identity_scenario("corse_2a", None)
        assert search(sim, fx.identity("corse_2a").traits()).code == "00"
        sim.reset()
        assert sim.requests == []


def test_verification_operation(sim: InsiSimulator) -> None:
    ident = fx.identity("corse_2a")
    ok = post(sim, soap.build_verify_request(ident.matricule, ident.oid, ident.traits()))
    assert soap.parse_response(ok.content).code == "00"
    wrong = post(sim, soap.build_verify_request(fx.identity("corse_2b").matricule, ident.oid, ident.traits()))
    assert soap.parse_response(wrong.content).code == "01"
    assert errors(sim.requests[-1].findings) == set()


# ---------------------------------------------------------------------------------------------
# request checks (I1)
# ---------------------------------------------------------------------------------------------
GOOD_TRAITS = fx.identity("corse_2a").traits()


def _mutate(data: bytes, fn) -> bytes:
    root = etree.fromstring(data)
    fn(root)
    return etree.tostring(root)


def _drop(local: str):
    def fn(root):
        for el in root.iter():
            if isinstance(el.tag, str) and etree.QName(el).localname == local:
                el.getparent().remove(el)
                return
    return fn


def test_good_request_has_no_error_and_is_recorded_as_evidence(sim: InsiSimulator) -> None:
    before = sim.last_index
    body = soap.build_search_request(GOOD_TRAITS)
    assert search(sim, GOOD_TRAITS).code == "00"
    rec = sim.requests_since(before)[0]
    assert errors(rec.findings) == set() and warnings(rec.findings) == set()
    assert rec.operation == "search" and rec.outcome == "00" and rec.body.startswith(b"<?xml")
    assert len(rec.body) == len(body) and rec.artefact.startswith("insi/request-")
    assert all(f.artefact == rec.artefact for f in rec.findings)
    assert sim.check_requests()


@pytest.mark.parametrize("mutation,rule", [
    (_drop("Action"), "INSI.REQ.wsa-action"),
    (_drop("MessageID"), "INSI.REQ.wsa-messageid"),
    (_drop("ContexteBAM"), "INSI.REQ.ContexteBAM"),
    (_drop("ContexteLPS"), "INSI.REQ.ContexteLPS"),
    (_drop("NomNaissance"), "INSI.REQ.trait.NomNaissance"),
    (_drop("DateNaissance"), "INSI.REQ.trait.DateNaissance"),
    (_drop("Prenom"), "INSI.REQ.trait.Prenom"),
])
def test_missing_parts_are_errors(sim: InsiSimulator, mutation, rule: str) -> None:
    data = soap.build_search_request({**GOOD_TRAITS, "given_names": ["PAUL"]})
    resp = post(sim, _mutate(data, mutation))
    assert rule in errors(sim.requests[-1].findings)
    assert resp.status_code in (400, 500) or soap.parse_response(resp.content).code
    assert soap.check_request(_mutate(data, mutation), CT["Content-Type"])  # the same checks, offline


@pytest.mark.parametrize("traits,rule", [
    ({"birth_name": "Simulacre"}, "INSI.REQ.trait.NomNaissance"),
    ({"given_names": ["paul"]}, "INSI.REQ.trait.Prenom"),
    ({"birth_date": "15/03/1950"}, "INSI.REQ.trait.DateNaissance"),
    ({"sex": "H"}, "INSI.REQ.trait.Sexe"),
    ({"birthplace_code": "Ajaccio"}, "INSI.REQ.trait.LieuNaissance"),
])
def test_traits_not_in_insi_format_are_errors(traits: dict, rule: str) -> None:
    assert rule in errors(soap.check_request(soap.build_search_request({**GOOD_TRAITS, **traits})))


def test_soap11_wrong_media_and_unknown_action() -> None:
    soap11 = soap.build_search_request(GOOD_TRAITS, soap_ns=soap.SOAP11)
    assert "INSI.REQ.soap12" in errors(soap.check_request(soap11))
    good = soap.build_search_request(GOOD_TRAITS)
    assert "INSI.REQ.content-type" in errors(soap.check_request(good, "text/xml; charset=utf-8"))
    renamed = good.replace(soap.ACTION_SEARCH.encode(), b"urn:autre:action")
    assert "INSI.REQ.wsa-action" in errors(soap.check_request(renamed))
    crossed = good.replace(soap.ACTION_SEARCH.encode(), soap.ACTION_VERIFY.encode())
    assert "INSI.REQ.action-body" in errors(soap.check_request(crossed))


def test_unconfirmed_facts_only_warn() -> None:
    good = soap.build_search_request(GOOD_TRAITS, message_id="urn:msg:1")
    other_ns = good.replace(soap.WSA.encode(), b"http://schemas.xmlsoap.org/ws/2004/08/addressing")
    assert errors(soap.check_request(other_ns)) == set()
    assert {"INSI.REQ.wsa-ns", "INSI.REQ.wsa-messageid.form"} <= warnings(soap.check_request(other_ns))
    bam_ns = soap.build_search_request(GOOD_TRAITS).replace(soap.CTXBAM.encode(), b"urn:autre")
    assert errors(soap.check_request(bam_ns)) == set() and "INSI.REQ.ContexteBAM.ns" in warnings(
        soap.check_request(bam_ns))
    assert {k for k, v in soap.unconfirmed_facts().items()} >= {"wsa_ns", "action_verify", "verif_ns"}


# ---------------------------------------------------------------------------------------------
# hostile requests: a clear fault and a finding, and the simulator keeps serving
# ---------------------------------------------------------------------------------------------
HOSTILE = {
    "entities": b'<?xml version="1.0"?><!DOCTYPE e [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                b'<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Body>&x;'
                b"</soap:Body></soap:Envelope>",
    "billion_laughs": b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><l>&b;</l>',
    "malformed": b"<soap:Envelope xmlns:soap='http://www.w3.org/2003/05/soap-envelope'><soap:Body>",
    "not_soap": b"<hello/>",
    "no_body": b"<soap:Envelope xmlns:soap='http://www.w3.org/2003/05/soap-envelope'/>",
    "empty": b"",
    "binary": bytes(range(256)),
    "deep": b"<a>" * 100 + b"</a>" * 100,
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_bodies_get_a_fault_and_a_finding(sim: InsiSimulator, name: str) -> None:
    before = sim.last_index
    resp = post(sim, HOSTILE[name])
    assert resp.status_code in (400, 500)
    fault = soap.parse_response(resp.content)
    assert fault.is_fault and fault.fault_text
    rec = sim.requests_since(before)[0]
    assert errors(rec.findings), name
    assert search(sim, GOOD_TRAITS).code == "00"  # still serving


def test_non_ascii_and_empty_traits(sim: InsiSimulator) -> None:
    resp = search(sim, {**GOOD_TRAITS, "birth_name": "SIMULÂCRE-ŒUF", "given_names": ["PAÛL"]})
    assert resp.code == "01"  # no such person; no crash
    assert "INSI.REQ.trait.NomNaissance" in warnings(sim.requests[-1].findings)
    empty = post(sim, soap.build_search_request({**GOOD_TRAITS, "birth_name": "", "given_names": [""]}))
    parsed = soap.parse_response(empty.content)
    assert empty.status_code == 500 and parsed.fault_subcode == "siram_40"
    assert "INSI.REQ.trait.NomNaissance" in errors(sim.requests[-1].findings)
    assert search(sim, GOOD_TRAITS).code == "00"


def test_oversize_missing_length_wrong_path_and_method(sim: InsiSimulator) -> None:
    big = post(sim, b"<a>" + b"x" * (soap.MAX_REQUEST_BYTES + 1) + b"</a>")
    assert big.status_code == 413 and "INSI.REQ.size" in errors(sim.requests[-1].findings)
    host, port = sim.url.split("//")[1].split("/")[0].split(":")
    with socket.create_connection((host, int(port)), timeout=5) as raw:
        raw.sendall(b"POST /lps HTTP/1.1\r\nHost: x\r\nContent-Type: application/soap+xml\r\n\r\n")
        assert b" 411 " in raw.recv(4096).split(b"\r\n")[0] + b" "
    assert requests.post(sim.url.replace("/lps", "/other"), data=b"<a/>", timeout=5).status_code == 404
    assert requests.get(sim.url, timeout=5).status_code == 405
    assert search(sim, GOOD_TRAITS).code == "00"


def test_stop_is_prompt_even_with_a_pending_timeout() -> None:
    sim = InsiSimulator(timeout_delay=30).start()
    try:
        with pytest.raises(requests.Timeout):
            post(sim, soap.build_search_request(fx.identity("delai").traits()), timeout=0.3)
    finally:
        started = time.monotonic()
        sim.stop()
    assert time.monotonic() - started < 5
    with pytest.raises(RuntimeError):
        _ = sim.url
