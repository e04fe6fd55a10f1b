"""Issue 13: every finding leads to the stored evidence file and line; evidence opens readably.

Unit tests on hand-written inputs (tests/data/report, README there), then one MS1 run with two defects
(hash_mismatch, wrong_codecda): every finding that names an artefact links to a file of the bundle, with
its SHA-256, and the line lands on the value the finding reports.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from lxml import html as lxml_html

from conformance.evidence import EvidenceStore, link_findings, match_score, sniff_extension, stored_line
from conformance.report.viewer import pretty_xml, render_view, write_views

DATA = Path(__file__).parent / "data" / "report"


def _results(findings: list[dict], evidence: list[dict], nodeid: str = "t::a") -> dict:
    return {"requirements": [{"id": "R.1", "tests": [{"nodeid": nodeid}], "findings": findings}],
            "evidence": evidence}


def _store(tmp_path: Path, name: str, data: bytes, test: str = "t::a", folder: str = "test_a",
           aliases: tuple[str, ...] = ()) -> dict:
    return EvidenceStore(tmp_path).add(name, data, test=test, folder=folder, aliases=aliases).to_dict()


# ---------------------------------------------------------------------------------------------
# finding → stored file and line
# ---------------------------------------------------------------------------------------------
def test_soap_line_is_counted_in_the_stored_capture_not_in_the_envelope(tmp_path: Path) -> None:
    data = (DATA / "hand-written-iti41.http").read_bytes()
    ev = _store(tmp_path, "dmp_DOC-1.http", data, aliases=("dmp/0002-iti41.http",))
    # the check parsed the SOAP part alone: the envelope is its line 2
    finding = {"artefact": "dmp/0002-iti41.http", "line": 2, "xpath": "/Envelope/Body/x", "found":
               "da39a3ee5e6b4b0d3255bfef95601890afd80709", "severity": "error"}
    counts = link_findings(_results([finding], [ev]), tmp_path)
    assert counts == {"with_artefact": 1, "linked": 1, "with_line": 1}
    assert finding["evidence"] == ev["path"] and finding["evidence_sha256"] == hashlib.sha256(data).hexdigest()
    lines = data.split(b"\n")
    assert b"da39a3ee" in lines[finding["evidence_line"] - 1]
    assert finding["evidence_line"] == 11  # 9 lines of HTTP and part headers, then <?xml, then the envelope


def test_names_match_across_separators_tokens_and_containers(tmp_path: Path) -> None:
    assert match_score("mss/pro-D00002.eml", {"path": "evidence/t/mss-pro-D00002.eml"}) == 90
    assert match_score("dmp/PPA-D00002.http", {"path": "evidence/t/dmp_PPA-D00002.http"}) == 90
    assert match_score("resident/R00021", {"path": "evidence/t/R00021-resident.json"}) >= 50
    assert match_score("dmp/0001-td02.http", {"path": "evidence/t/td02-1.http"}) >= 50
    assert match_score("dmp/0011-td02.http", {"path": "evidence/t/td02-1.http"}) == 0
    assert match_score("smtp/connexion-3", {"path": "evidence/t/connexions-smtp.json"}) == 10
    # a different document of the same type is not it
    assert match_score("dmp/0002-iti41.http", {"path": "evidence/t/dmp_PPA-D00002.http"}) == 0
    assert match_score("cda/PPA-D00002.xml", {"path": "evidence/t/cda-PROV-PPA-D00037.xml"}) == 0


def test_json_container_links_to_the_entry_with_that_id(tmp_path: Path) -> None:
    data = json.dumps([{"id": 1, "tls": "TLSv1.3"}, {"id": 2, "tls": "TLSv1.2"}], indent=1).encode()
    ev = _store(tmp_path, "connexions-smtp.json", data)
    finding = {"artefact": "smtp/connexion-2", "line": None, "found": "TLSv1.2"}
    link_findings(_results([finding], [ev]), tmp_path)
    assert finding["evidence"] == ev["path"]
    assert data.split(b"\n")[finding["evidence_line"] - 1].strip() == b'"id": 2,'


def test_ambiguous_names_with_different_contents_are_not_guessed(tmp_path: Path) -> None:
    a = _store(tmp_path, "cda-DOC-1.xml", b"<a/>", test="t::x", folder="x")
    b = _store(tmp_path, "cda-DOC-1.xml", b"<b/>", test="t::y", folder="y")
    finding = {"artefact": "cda/DOC-1.xml", "line": 1}
    link_findings(_results([finding], [a, b], nodeid="t::other"), tmp_path)
    assert "evidence" not in finding
    own = {"artefact": "cda/DOC-1.xml", "line": 1}
    link_findings(_results([own], [a, b], nodeid="t::y"), tmp_path)  # its own test's file wins
    assert own["evidence"] == b["path"]


def test_found_value_corrects_a_line_that_does_not_hold_it() -> None:
    data = b"line one\nX-MSS-CODECDA: 00000-0\nline three\n"
    assert stored_line(data, {"artefact": "m.eml", "line": 3, "found": "00000-0"}, 90) == 2
    assert stored_line(data, {"artefact": "m.eml", "line": 3, "found": "absent-value"}, 90) == 3
    assert stored_line(data, {"artefact": "m.eml#PART.ZIP", "line": 2, "found": ""}, 90) is None
    assert stored_line(data, {"artefact": "m.eml", "line": 99, "found": ""}, 90) is None


def test_every_stored_file_gets_a_meaningful_extension(tmp_path: Path) -> None:
    assert sniff_extension(b"POST /dmp/td02 HTTP/1.1\r\nHost: x\r\n\r\n<a/>") == ".http"
    assert sniff_extension(b"HTTP/1.1 200 OK\r\n\r\n") == ".http"
    assert sniff_extension(b"  <?xml version='1.0'?><a/>") == ".xml"
    assert sniff_extension(b'{"a": 1}') == ".json"
    assert sniff_extension((DATA / "hand-written.eml").read_bytes()) == ".eml"
    assert sniff_extension(b"plain words") == ".txt"
    ref = EvidenceStore(tmp_path).add("td02-1", b"POST /td02 HTTP/1.1\r\n\r\n", folder="t")
    assert ref.path == "evidence/t/td02-1.http" and (tmp_path / ref.path).is_file()
    assert EvidenceStore(tmp_path).add("doc.xml", b"{}", folder="t").path.endswith("/doc.xml")


# ---------------------------------------------------------------------------------------------
# readable views
# ---------------------------------------------------------------------------------------------
def _doc(page: str) -> lxml_html.HtmlElement:
    return lxml_html.fromstring(page)


def test_mail_view_shows_headers_parts_and_numbered_source() -> None:
    data = (DATA / "hand-written.eml").read_bytes()
    doc = _doc(render_view("evidence/t/hand-written.eml", data, kind="Source SMTP"))
    cells = [" ".join(tr.itertext()) for tr in doc.iter("tr")]
    codecda = next(c for c in cells if "X-MSS-CODECDA" in c)
    assert "11488-4" in codecda and "l.7" in codecda  # header, value and its source line
    tree = " ".join(doc.xpath("//ul[@class='tree']")[0].itertext())
    assert "multipart/mixed" in tree and "text/plain" in tree and "note.txt" in tree
    line7 = doc.get_element_by_id("L7")
    assert "X-MSS-CODECDA: 11488-4" in "".join(line7.itertext())
    assert len(doc.xpath("//div[@class='src']/p")) == len(data.rstrip(b"\n").split(b"\n"))
    assert doc.xpath("//a[text()='fichier brut']/@href") == ["hand-written.eml"]


def test_mail_view_lists_an_xdm_archive_and_shows_its_xml(tmp_path: Path) -> None:
    import base64
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:  # the archive is written by the standard library, not our builders
        z.writestr("IHE_XDM/SUBSET01/METADATA.XML", "<SubmitObjectsRequest>\n<x/>\n</SubmitObjectsRequest>")
        z.writestr("IHE_XDM/SUBSET01/DOC0001.XML", "<ClinicalDocument/>")
    b64 = base64.encodebytes(buf.getvalue()).replace(b"\n", b"\r\n")
    data = (b"From: a@b.test\r\nTo: c@d.test\r\nSubject: XDM\r\nMIME-Version: 1.0\r\n"
            b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nbody\r\n--b\r\n'
            b'Content-Type: application/zip; name="IHE_XDM.ZIP"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
            + b64 + b"--b--\r\n")
    doc = _doc(render_view("evidence/t/m.eml", data))
    text = " ".join(doc.itertext())
    assert "IHE_XDM/SUBSET01/METADATA.XML" in text and "IHE_XDM/SUBSET01/DOC0001.XML" in text
    assert "<SubmitObjectsRequest>" in text  # shown, escaped, with its own numbered lines
    assert doc.get_element_by_id("Z0-0-L2") is not None


def test_http_view_pretty_prints_the_envelope_under_its_own_line_number() -> None:
    data = (DATA / "hand-written-iti41.http").read_bytes()
    doc = _doc(render_view("evidence/t/req.http", data))
    text = " ".join(doc.itertext())
    assert "POST /repository HTTP/1.1" in text and "<root@example.test>" in text
    parts = [" ".join(tr.itertext()) for tr in doc.xpath("//h2[text()='Parties MIME']/following-sibling::table[1]//tr")]
    assert any("application/xop+xml" in p for p in parts) and any("text/xml" in p for p in parts)
    envelope = doc.get_element_by_id("L11")
    pretty = envelope.xpath(".//span[@class='pp']")[0].text
    assert pretty.count("\n") >= 8 and "da39a3ee5e6b4b0d3255bfef95601890afd80709" in pretty
    assert doc.get_element_by_id("L12") is not None  # numbering goes on after the long line


def test_base64_runs_are_folded_but_keep_their_anchors() -> None:
    data = b"head\n" + b"\n".join([b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJz"] * 20) + b"\ntail\n"
    doc = _doc(render_view("evidence/t/x.txt", data))
    folded = doc.xpath("//details[@class='b64']")
    assert len(folded) == 1 and "20" in folded[0].xpath("summary")[0].text
    assert doc.get_element_by_id("L2").getparent() is folded[0]
    assert doc.get_element_by_id("L22") is not None


def test_pretty_xml_indents_fragments_and_keeps_text_with_its_element() -> None:
    out = pretty_xml('<a><b x="1">v</b><c/></a>')
    assert out.split("\n") == ['<a>', '  <b x="1">v</b>', '  <c/>', '</a>']


def test_hostile_evidence_is_escaped_in_its_view(tmp_path: Path) -> None:
    page = render_view("evidence/t/x.xml", b"<script>alert(1)</script>\n<img src=x onerror=alert(1)>")
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "default-src 'none'" in page


def test_views_are_written_next_to_each_viewable_file(tmp_path: Path) -> None:
    ev = [_store(tmp_path, "m.eml", (DATA / "hand-written.eml").read_bytes()),
          _store(tmp_path, "shot.png", b"\x89PNG\r\n\x1a\n")]
    written = write_views({"evidence": ev + [{"path": "../../etc/passwd"}]}, tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in written] == ["evidence/test_a/m.eml.view.html"]


# ---------------------------------------------------------------------------------------------
# one MS1 run with two defects
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def defective_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    report = tmp_path_factory.mktemp("links") / "bundle"
    proc = subprocess.run(
        [sys.executable, "-m", "conformance.cli", "run", "--profile", "MS1", "--defect", "hash_mismatch",
         "--defect", "wrong_codecda", "--report-dir", str(report)], capture_output=True, text=True, timeout=900)
    assert (report / "results.json").is_file(), proc.stdout[-2000:] + proc.stderr[-2000:]
    return report


@pytest.mark.slow
def test_every_finding_with_an_artefact_links_to_a_file_of_the_bundle(defective_run: Path) -> None:
    results = json.loads((defective_run / "results.json").read_text(encoding="utf-8"))
    findings = [f for r in results["requirements"] for f in r["findings"] if f.get("artefact")]
    linked = [f for f in findings if f.get("evidence")]
    for f in linked:
        target = defective_run / f["evidence"]
        assert target.is_file(), f["evidence"]
        assert hashlib.sha256(target.read_bytes()).hexdigest() == f["evidence_sha256"], f["evidence"]
        if f.get("evidence_line"):
            assert f["evidence_line"] <= len(target.read_bytes().split(b"\n")), f
    # blocking and warning findings all lead to their file; the few left are API calls never stored
    unlinked = [f for f in findings if not f.get("evidence")]
    assert not [f for f in unlinked if f["severity"] != "info"], unlinked[:5]
    assert len(linked) / len(findings) >= 0.95, (len(linked), len(findings))
    assert all(re.match(r"^(POST|GET|PUT) |^documents/|^smtp$", f["artefact"]) for f in unlinked), \
        sorted({f["artefact"] for f in unlinked})
    # the defects' findings land on the value they report
    by_rule = {}
    for f in linked:
        by_rule.setdefault(f["rule"], []).append(f)
    for rule, needle in (("DMP.XDS.hash", None), ("MSS.HDR.CODECDA", b"X-MSS-CODECDA:")):
        assert by_rule.get(rule), rule
        for f in by_rule[rule]:
            line = (defective_run / f["evidence"]).read_bytes().split(b"\n")[f["evidence_line"] - 1]
            assert (needle or f["found"].encode()) in line, (rule, f["evidence"], f["evidence_line"])
            assert f["found"].encode() in line
    stored = [p for p in (defective_run / "evidence").rglob("*") if p.is_file() and not p.name.endswith(".view.html")]
    assert all(p.suffix for p in stored), [p.name for p in stored if not p.suffix]


@pytest.mark.slow
def test_report_links_open_the_view_at_the_line(defective_run: Path) -> None:
    doc = lxml_html.fromstring((defective_run / "report.html").read_bytes())
    links = doc.xpath("//a[contains(concat(' ', @class, ' '), ' fl ')]/@href")
    assert len(links) > 100
    checked = 0
    for link in dict.fromkeys(links):
        path, _, anchor = link.partition("#")
        view = defective_run / path
        assert view.is_file() and view.name.endswith(".view.html"), link
        if anchor:
            assert f'id="{anchor}"' in view.read_text(encoding="utf-8"), link
            checked += 1
    assert checked > 50
    hash_rows = [tr for tr in doc.iter("tr") if "DMP.XDS.hash" in " ".join(tr.itertext())]
    assert hash_rows and all(re.search(r"\.http\.view\.html#L\d+$", tr.xpath(".//a[contains(@class,'fl')]/@href")[0])
                             for tr in hash_rows)


@pytest.mark.slow
def test_browser_clicks_each_blocking_finding_and_lands_on_its_value(defective_run: Path) -> None:
    """Headless Chromium: click every blocking or warning finding link of the report; the new tab shows the
    evidence view scrolled to the targeted line, which holds the value the finding reports as found."""
    import os

    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright (Python) is not installed")
    chromium = Path(os.environ.get("SEGUR_CHROMIUM", "/usr/bin/chromium"))
    if not chromium.is_file():
        pytest.skip(f"no browser at {chromium}: install Debian's chromium to run this test")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(chromium), args=["--no-sandbox", "--disable-gpu"],
                                     headless=True, timeout=30_000)
        try:
            context = browser.new_context()
            context.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file://")
                          else route.abort())
            page = context.new_page()
            page.goto((defective_run / "report.html").as_uri())
            page.wait_for_selector("html[data-ready='1']")
            page.click("#b-expand")  # warnings may sit in folded (passed) requirements
            rows = page.locator("details.req tr.s-error:has(a.fl), details.req tr.s-warning:has(a.fl)")
            count = rows.count()
            assert count >= 17  # 8 hash + 9 X-MSS-CODECDA findings at least
            landed = 0
            for i in range(count):
                row = rows.nth(i)
                row.scroll_into_view_if_needed()
                link = row.locator("a.fl").first
                anchor = (link.get_attribute("href") or "").partition("#")[2]
                found = row.locator("td").nth(5).inner_text().strip()
                with context.expect_page() as new:
                    link.click()
                view = new.value
                view.wait_for_load_state()
                assert view.url.split("#")[0].endswith(".view.html"), view.url
                if anchor:
                    target = view.evaluate("document.querySelector(':target') && document.querySelector(':target').id")
                    assert target == anchor, (view.url, target)
                    box = view.evaluate(f"document.getElementById('{anchor}').getBoundingClientRect().top")
                    assert -2 <= box < view.viewport_size["height"], (view.url, box)
                    if found:
                        assert found in view.locator(f"#{anchor}").inner_text(), (view.url, found)
                    landed += 1
                view.close()
            assert landed >= 17
        finally:
            browser.close()


@pytest.mark.slow
def test_defective_report_and_its_views_have_no_serious_or_critical_axe_violation(defective_run: Path) -> None:
    """axe-core (issue 13 item 8) on the report of the run with two defects and on one view of each kind."""
    import os

    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright (Python) is not installed")
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from report_axe import SKIP_REASON, axe_source, run_axe

    chromium = Path(os.environ.get("SEGUR_CHROMIUM", "/usr/bin/chromium"))
    if not chromium.is_file():
        pytest.skip(f"no browser at {chromium}: install Debian's chromium to run this test")
    if axe_source() is None:
        pytest.skip(SKIP_REASON)
    views = {}
    for view in sorted((defective_run / "evidence").rglob("*.view.html")):
        views.setdefault(view.name.removesuffix(".view.html").rsplit(".", 1)[-1], view)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(chromium), args=["--no-sandbox", "--disable-gpu"],
                                     headless=True, timeout=30_000)
        try:
            assert run_axe(browser, defective_run / "report.html") == []
            for view in views.values():
                assert run_axe(browser, view) == [], view
        finally:
            browser.close()
