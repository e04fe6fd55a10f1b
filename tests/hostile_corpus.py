"""The harness's own hostile corpus (issue 15 item 6): small inputs built to crash, hang or exhaust a parser.

``corpus()`` returns every input as a ``Hostile`` (family, file name, bytes, what it attacks, where it is fed);
``write_artefact_folder`` lays the file-shaped ones out as an artefact folder (cda/, mss/, dmp/, psc/).
Families: XML (entities, DTD, XInclude, depth, width, encodings, huge attributes and names), MIME/XDM (zip
bombs, zip slip, symlinks, encrypted entries, entry count, lying sizes, MIME nesting), MTOM/SOAP (truncation,
missing parts, lying lengths, signature wrapping), JSON (depth, size, types) and JWT (alg, kid, size).

Everything is generated in memory from the good samples of ``samples/artefacts/good`` (themselves made by
the reference sandbox) or from nothing; the largest input stays around 1 MB, so the whole corpus is CI-sized.
The big versions (48 MB, 12 million nodes) belong to ``benchmarks/bench_xml_bounds.py``.

    python tests/hostile_corpus.py OUT_DIR     # write the corpus as files (one folder per family + artefacts/)
"""

from __future__ import annotations

import base64
import io
import json
import struct
import sys
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from email import policy
from email.parser import BytesParser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOOD = ROOT / "samples" / "artefacts" / "good"

#: where an input is fed: the offline command, artefact mode, and the simulators
VALIDATE, ARTEFACTS, DMP, INSI, MSS, PSC = "validate", "artefacts", "dmp", "insi", "mss", "psc"


@dataclass(frozen=True)
class Hostile:
    family: str  # xml, mime, mtom, json, jwt
    name: str  # file name, with the extension that routes it (.xml CDA, .eml, .http, .json, .jwt)
    data: bytes
    what: str
    targets: tuple[str, ...]


# ---------------------------------------------------------------------------------------------
# XML
# ---------------------------------------------------------------------------------------------
CDA_HEAD = b'<?xml version="1.0" encoding="UTF-8"?>\n'
CDA_OPEN = b'<ClinicalDocument xmlns="urn:hl7-org:v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
CDA_CLOSE = b"</ClinicalDocument>"


def _cda(body: bytes, head: bytes = CDA_HEAD) -> bytes:
    return head + CDA_OPEN + b"<realmCode code=\"FR\"/><title>t</title>" + body + CDA_CLOSE


def xml_inputs() -> list[tuple[str, bytes, str]]:
    """(name, bytes, what) of the XML family; each is also a plausible CDA document (root, namespace)."""
    laughs = (b'<!DOCTYPE ClinicalDocument [<!ENTITY a "aaaaaaaaaa">'
              + b"".join(b'<!ENTITY %s "%s">' % (bytes([98 + i]), (b"&" + bytes([97 + i]) + b";") * 10)
                         for i in range(9))
              + b"]>")
    out = [
        ("billion-laughs.xml", CDA_HEAD + laughs + CDA_OPEN + b"<title>&j;</title>" + CDA_CLOSE,
         "internal DTD, 10 nested entity levels (10^10 expansions)"),
        ("xxe-file.xml", CDA_HEAD + b'<!DOCTYPE ClinicalDocument [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
         + CDA_OPEN + b"<title>&e;</title>" + CDA_CLOSE, "external entity to a local file"),
        ("xxe-network.xml", CDA_HEAD + b'<!DOCTYPE ClinicalDocument [<!ENTITY % p SYSTEM "http://127.0.0.1:9/x.dtd">'
         b" %p;]>" + CDA_OPEN + CDA_CLOSE, "external parameter entity to a (closed) loopback port"),
        ("dtd-external.xml", CDA_HEAD + b'<!DOCTYPE ClinicalDocument SYSTEM "http://127.0.0.1:9/cda.dtd">'
         + CDA_OPEN + CDA_CLOSE, "external DTD subset"),
        ("xinclude.xml", _cda(b'<component xmlns:xi="http://www.w3.org/2001/XInclude">'
                              b'<xi:include href="/etc/passwd" parse="text"/></component>'),
         "XInclude of a local file"),
        ("deep-10000.xml", _cda(b"<component>" * 10_000 + b"</component>" * 10_000), "10,000 nested elements"),
        ("wide-150000.xml", _cda(b"<b/>" * 150_000), "150,000 empty siblings (600 KB): denser than the node budget"),
        ("huge-attribute.xml", _cda(b'<code code="' + b"A" * 1_000_000 + b'"/>'), "a 1 MB attribute value"),
        ("many-attributes.xml", _cda(b"<code " + b" ".join(b'a%d="1"' % i for i in range(40_000)) + b"/>"),
         "40,000 attributes on one element"),
        ("long-name.xml", _cda(b"<" + b"n" * 200_000 + b"/>"), "a 200,000-character element name"),
        ("namespaces.xml", _cda(b"<x " + b" ".join(b'xmlns:p%d="urn:x:%d"' % (i, i) for i in range(20_000))
                                + b"/>"), "20,000 namespace declarations"),
        ("comments.xml", _cda(b"<!--c-->" * 100_000), "100,000 comments"),
        ("utf16.xml", ('<?xml version="1.0" encoding="UTF-16"?>' + CDA_OPEN.decode() + CDA_CLOSE.decode())
         .encode("utf-16"), "UTF-16 with BOM"),
        ("utf32.xml", ('<?xml version="1.0" encoding="UTF-32"?>' + CDA_OPEN.decode() + CDA_CLOSE.decode())
         .encode("utf-32"), "UTF-32 with BOM"),
        ("latin1.xml", _cda(b"<title>\xe9</title>", b'<?xml version="1.0" encoding="ISO-8859-1"?>\n'),
         "ISO-8859-1 declared and used"),
        ("ebcdic.xml", ('<?xml version="1.0" encoding="cp500"?>' + CDA_OPEN.decode() + CDA_CLOSE.decode())
         .encode("cp500"), "EBCDIC"),
        ("bad-utf8.xml", _cda(b"<title>\xff\xfe\xc3\x28</title>"), "invalid UTF-8 bytes"),
        ("bom-mismatch.xml", b"\xef\xbb\xbf" + _cda(b"", b'<?xml version="1.0" encoding="UTF-16"?>'),
         "UTF-8 BOM with a UTF-16 declaration"),
        ("nul-bytes.xml", _cda(b"<title>\x00\x00</title>"), "NUL characters"),
        ("truncated.xml", _cda(b"<component><section><text>")[:-40], "document cut in the middle"),
        ("unclosed-cdata.xml", _cda(b"<text><![CDATA[" + b"x" * 1000), "CDATA never closed"),
        ("empty.xml", b"", "empty file"),
        ("not-xml.xml", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "binary bytes"),
        ("pi-stylesheet.xml", CDA_HEAD + b'<?xml-stylesheet href="http://127.0.0.1:9/x.xsl"?>' + CDA_OPEN
         + CDA_CLOSE, "stylesheet processing instruction to a loopback URL"),
    ]
    return out


# ---------------------------------------------------------------------------------------------
# MIME / XDM
# ---------------------------------------------------------------------------------------------
def _zip(entries: list[tuple[str | zipfile.ZipInfo, bytes]], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buf, "w", method) as zf:
        warnings.simplefilter("ignore", UserWarning)  # a duplicated name is the point of one input
        for name, data in entries:
            zf.writestr(name, data)
    return buf.getvalue()


def _symlink(name: str, target: str) -> tuple[zipfile.ZipInfo, bytes]:
    info = zipfile.ZipInfo(name)
    info.create_system = 3  # unix
    info.external_attr = (0o120777 << 16)  # S_IFLNK
    return info, target.encode()


def _patch_central(data: bytes, patch: Callable[[bytearray, int], None]) -> bytes:
    """Apply ``patch(buf, offset)`` to every central-directory header of a zip."""
    buf = bytearray(data)
    pos = buf.find(b"PK\x01\x02")
    while pos >= 0:
        patch(buf, pos)
        pos = buf.find(b"PK\x01\x02", pos + 4)
    return bytes(buf)


def _encrypted_flag(data: bytes) -> bytes:
    buf = bytearray(_patch_central(data, lambda b, p: b.__setitem__(slice(p + 8, p + 10),
                                                                   struct.pack("<H", 1))))
    pos = buf.find(b"PK\x03\x04")
    while pos >= 0:
        buf[pos + 6:pos + 8] = struct.pack("<H", 1)
        pos = buf.find(b"PK\x03\x04", pos + 4)
    return bytes(buf)


def _lying_sizes(data: bytes, size: int) -> bytes:
    """Every central header claims ``size`` uncompressed bytes (offset 24)."""
    return _patch_central(data, lambda b, p: b.__setitem__(slice(p + 24, p + 28), struct.pack("<I", size)))


def xdm_inputs(cda: bytes) -> list[tuple[str, bytes, str]]:
    """(name, zip bytes, what): IHE_XDM.ZIP attachments."""
    good = [("IHE_XDM/SUBSET01/DOC0001.XML", cda), ("IHE_XDM/SUBSET01/METADATA.XML", b"<x/>"),
            ("INDEX.HTM", b"<html/>"), ("README.TXT", b"readme")]
    bomb_inner = _zip([("IHE_XDM/SUBSET01/DOC0001.XML", b"\0" * 30_000_000)])
    nested = _zip([("IHE_XDM/SUBSET01/DOC0001.XML", bomb_inner), ("IHE_XDM/SUBSET01/INNER.ZIP", bomb_inner)])
    return [
        ("zip-bomb", bomb_inner, "one entry of 30 MB of zeros, deflated to ~30 KB"),
        ("zip-nested", nested, "a zip bomb inside the zip"),
        ("zip-slip", _zip(good + [("../../../../tmp/segur-slip.txt", b"x"), ("/etc/segur-abs.txt", b"x"),
                                  ("IHE_XDM/../../escape.XML", b"<x/>")]), "entries escaping the folder"),
        ("zip-symlink", _zip(good + [_symlink("IHE_XDM/SUBSET01/LINK.XML", "/etc/passwd")]),
         "a symbolic link entry to /etc/passwd"),
        ("zip-encrypted", _encrypted_flag(_zip(good)), "every entry flagged encrypted"),
        ("zip-entries", _zip([(f"IHE_XDM/SUBSET01/F{i:05d}.TXT", b"") for i in range(6000)],
                             zipfile.ZIP_STORED), "6,000 entries"),
        ("zip-lying-size", _lying_sizes(_zip(good), 0xFFFFFFF0), "central directory claims 4 GB per entry"),
        ("zip-lying-small", _lying_sizes(_zip(good), 1), "central directory claims 1 byte per entry"),
        ("zip-truncated", _zip(good)[:-30], "end of central directory cut"),
        ("zip-duplicate", _zip(good + [("IHE_XDM/SUBSET01/DOC0001.XML", b"<other/>")]), "a duplicated entry name"),
        ("zip-not-a-zip", b"PK\x03\x04" + b"\xff" * 500, "zip signature then garbage"),
    ]


def _message_with_zip(template: bytes, zipped: bytes) -> bytes:
    msg = BytesParser(policy=policy.default).parsebytes(template)
    for part in msg.walk():
        if (part.get_filename() or "").upper() == "IHE_XDM.ZIP":
            part.set_content(zipped, maintype="application", subtype="zip", filename="IHE_XDM.ZIP")
            break
    return msg.as_bytes()


def mime_inputs(eml: bytes, cda: bytes) -> list[tuple[str, bytes, str]]:
    out = [(f"{name}.eml", _message_with_zip(eml, data), what) for name, data, what in xdm_inputs(cda)]
    head, _, _ = eml.partition(b"\n\n") if b"\r\n\r\n" not in eml else eml.partition(b"\r\n\r\n")
    nested = b"Content-Type: multipart/mixed; boundary=b0\r\n\r\n"
    for i in range(1, 500):
        nested += b"--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n" % (i - 1, i)
    out += [
        ("mime-nested.eml", b"From: a@b\r\nTo: c@d\r\nSubject: x\r\nMIME-Version: 1.0\r\n" + nested,
         "500 nested multiparts"),
        ("mime-parts.eml", b"From: a@b\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=z\r\n\r\n"
         + b"--z\r\nContent-Type: text/plain\r\n\r\nx\r\n" * 5000 + b"--z--\r\n", "5,000 parts"),
        ("mime-long-header.eml", b"From: a@b\r\nSubject: " + b"x" * 300_000 + b"\r\n\r\nbody", "a 300 KB header line"),
        ("mime-headers.eml", b"".join(b"X-H%d: v\r\n" % i for i in range(20_000)) + b"\r\nbody", "20,000 headers"),
        ("mime-no-boundary.eml", head + b"\r\n\r\n" + b"no boundary anywhere\r\n" * 100, "multipart without its "
         "boundary in the body"),
        ("mime-bad-base64.eml", eml.replace(b"Content-Transfer-Encoding: base64",
                                            b"Content-Transfer-Encoding: base64\r\nX-Broken: 1", 1)
         .replace(b"UEsDB", b"!!!!!", 1), "attachment base64 corrupted"),
        ("mime-unknown-cte.eml", eml.replace(b"Content-Transfer-Encoding: base64",
                                             b"Content-Transfer-Encoding: x-segur-unknown"), "unknown encoding"),
        ("mime-truncated.eml", eml[: len(eml) // 2], "message cut in the middle of the attachment"),
        ("mime-binary.eml", bytes(range(256)) * 200, "binary bytes"),
        ("mime-empty.eml", b"", "empty file"),
    ]
    return out


# ---------------------------------------------------------------------------------------------
# MTOM / SOAP (ITI-41 captures)
# ---------------------------------------------------------------------------------------------
def _split_http(capture: bytes) -> tuple[bytes, bytes]:
    head, _, body = capture.partition(b"\r\n\r\n")
    return head, body


def _with_length(head: bytes, body: bytes, length: int | None = None) -> bytes:
    lines = [ln for ln in head.split(b"\r\n") if not ln.lower().startswith(b"content-length:")]
    lines.append(b"content-length: %d" % (len(body) if length is None else length))
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def mtom_inputs(capture: bytes) -> list[tuple[str, bytes, str]]:
    head, body = _split_http(capture)
    boundary = head.split(b'boundary="', 1)[1].split(b'"', 1)[0] if b'boundary="' in head else b"b"
    parts = body.split(b"--" + boundary)
    without_doc = b"--".join([]) or (b"--" + boundary).join(p for p in parts if b"Content-ID: <doc1" not in p)
    soap_start = body.find(b"<soap:Envelope")
    assertion_start = body.find(b"<saml:Assertion")
    assertion_end = body.find(b"</saml:Assertion>") + len(b"</saml:Assertion>")
    assertion = body[assertion_start:assertion_end]
    # signature wrapping: the signed assertion moved into a wrapper, an unsigned forged one in its place
    forged = assertion.replace(b"COORDINATRICE Claire", b"ATTAQUANT Mallory").split(b"<ds:Signature", 1)[0]
    forged += b"</saml:Assertion>" if not forged.endswith(b"</saml:Assertion>") else b""
    forged = forged.replace(b'ID="_', b'ID="_forged', 1)
    wrapped = body.replace(assertion, forged + b"<wsse:Wrapper>" + assertion + b"</wsse:Wrapper>", 1) \
        if assertion_start > 0 else body
    doubled = body.replace(assertion, assertion + assertion, 1) if assertion_start > 0 else body
    deep_soap = body[:soap_start] + b"<a>" * 5000 + body[soap_start:] if soap_start > 0 else body
    many_parts = b"".join(b"--%s\r\nContent-Type: text/plain\r\nContent-ID: <p%d@x>\r\n\r\nx\r\n" % (boundary, i)
                          for i in range(3000)) + b"--%s--\r\n" % boundary
    return [
        ("mtom-truncated.http", _with_length(head, body[: len(body) // 2]), "MTOM body cut in half"),
        ("mtom-missing-part.http", _with_length(head, without_doc), "the xop:Include'd document part removed"),
        ("mtom-length-larger.http", _with_length(head, body, len(body) + 1_000_000),
         "Content-Length 1 MB larger than the body"),
        ("mtom-length-smaller.http", _with_length(head, body, 100), "Content-Length of 100 bytes"),
        ("mtom-length-negative.http", _with_length(head, body, -1), "negative Content-Length"),
        ("mtom-length-huge.http", head + b"\r\ncontent-length: 99999999999999999999999\r\n\r\n" + body,
         "Content-Length beyond 64 bits"),
        ("mtom-no-boundary.http", _with_length(head.replace(b"boundary=", b"x-boundary="), body),
         "multipart/related without a boundary parameter"),
        ("mtom-boundary-absent.http", _with_length(head, body.replace(b"--" + boundary, b"--other")),
         "the declared boundary never appears"),
        ("mtom-many-parts.http", _with_length(head, many_parts), "3,000 MIME parts"),
        ("soap-signature-wrapping.http", _with_length(head, wrapped),
         "signed VIHF assertion moved into a wrapper, a forged unsigned one in its place"),
        ("soap-two-assertions.http", _with_length(head, doubled), "the VIHF assertion twice"),
        ("soap-deep.http", _with_length(head, deep_soap), "5,000 levels before the SOAP envelope"),
        ("http-chunked-huge.http", b"POST /dmp/repository HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
         b"FFFFFFFFFFFFFFFF\r\nx\r\n", "a chunk announcing 2^64 bytes"),
        ("http-headers.http", b"POST /dmp/repository HTTP/1.1\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(20_000))
         + b"\r\n", "20,000 headers"),
        ("http-garbage.http", bytes(range(256)) * 100, "binary bytes"),
        ("http-empty.http", b"", "empty file"),
    ]


# ---------------------------------------------------------------------------------------------
# JSON and JWT
# ---------------------------------------------------------------------------------------------
def json_inputs() -> list[tuple[str, bytes, str]]:
    return [
        ("json-deep.json", b"[" * 100_000 + b"]" * 100_000, "100,000 nested arrays"),
        ("json-deep-object.json", b'{"a":' * 50_000 + b"1" + b"}" * 50_000, "50,000 nested objects"),
        ("json-big-string.json", b'{"id_token": "' + b"a" * 1_000_000 + b'"}', "a 1 MB string"),
        ("json-big-number.json", b'{"expires_in": 1' + b"0" * 100_000 + b"}", "a 100,000-digit number"),
        ("json-float.json", b'{"expires_in": 1e999, "iat": NaN, "exp": -Infinity}', "infinite and NaN numbers"),
        ("json-array-top.json", b"[1, 2, 3]", "an array where an object is due"),
        ("json-types.json", b'{"iss": 5, "aud": {"x": []}, "exp": "tomorrow", "sub": null}', "wrong types"),
        ("json-duplicate-keys.json", b'{"sub": "a", "sub": "b"}', "duplicated keys"),
        ("json-bad-utf8.json", b'{"sub": "\xff\xfe"}', "invalid UTF-8"),
        ("json-utf16.json", '{"sub": "x"}'.encode("utf-16"), "UTF-16 with BOM"),
        ("json-empty.json", b"", "empty"),
    ]


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _jwt(header: dict | bytes, payload: dict | bytes, signature: bytes = b"") -> bytes:
    h = header if isinstance(header, bytes) else json.dumps(header).encode()
    p = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return _b64(h) + b"." + _b64(p) + b"." + _b64(signature)


def jwt_inputs() -> list[tuple[str, bytes, str]]:
    claims = {"iss": "segur-conformance-dui", "sub": "segur-conformance-dui", "aud": "x", "exp": 4102444800,
              "jti": "hostile"}
    return [
        ("jwt-alg-none.jwt", _jwt({"alg": "none", "typ": "JWT"}, claims), "alg none, no signature"),
        ("jwt-alg-none-case.jwt", _jwt({"alg": "nOnE"}, claims), "alg none in mixed case"),
        ("jwt-alg-hs256-empty.jwt", _jwt({"alg": "HS256"}, claims), "HS256 with an empty signature"),
        ("jwt-alg-unknown.jwt", _jwt({"alg": "XX999"}, claims, b"sig"), "unknown algorithm"),
        ("jwt-alg-missing.jwt", _jwt({"typ": "JWT"}, claims, b"sig"), "no alg"),
        ("jwt-kid-traversal.jwt", _jwt({"alg": "RS256", "kid": "../../../../etc/passwd"}, claims, b"s" * 256),
         "kid with a path traversal"),
        ("jwt-kid-huge.jwt", _jwt({"alg": "RS256", "kid": "k" * 100_000}, claims, b"s" * 256), "a 100 KB kid"),
        ("jwt-kid-object.jwt", _jwt({"alg": "RS256", "kid": {"$ne": 1}}, claims, b"s" * 256), "kid as an object"),
        ("jwt-jku.jwt", _jwt({"alg": "RS256", "jku": "http://127.0.0.1:9/jwks", "x5u": "http://127.0.0.1:9/c"},
                             claims, b"s" * 256), "jku/x5u to a loopback URL"),
        ("jwt-embedded-jwk.jwt", _jwt({"alg": "RS256", "jwk": {"kty": "RSA", "n": "AQAB", "e": "AQAB"}}, claims,
                                      b"s" * 256), "an embedded attacker key"),
        ("jwt-crit.jwt", _jwt({"alg": "RS256", "crit": ["x-unknown"], "x-unknown": 1}, claims, b"s" * 256),
         "an unknown critical header"),
        ("jwt-size.jwt", _jwt({"alg": "RS256"}, {**claims, "pad": "p" * 700_000}, b"s" * 256), "a 1 MB token"),
        ("jwt-deep-header.jwt", _jwt(b'{"alg":"RS256","x":' + b"[" * 50_000 + b"]" * 50_000 + b"}", claims,
                                     b"s"), "header JSON 50,000 levels deep"),
        ("jwt-segments.jwt", b"a.b.c.d.e", "five segments"),
        ("jwt-not-base64.jwt", b"!!!.@@@.###", "segments not base64url"),
        ("jwt-not-json.jwt", _b64(b"\xff\xfe") + b"." + _b64(b"[1]") + b".", "header not JSON, payload an array"),
        ("jwt-empty.jwt", b"", "empty"),
    ]


# ---------------------------------------------------------------------------------------------
# the corpus
# ---------------------------------------------------------------------------------------------
def corpus(good: Path = GOOD) -> list[Hostile]:
    cda = (good / "cda" / "PPA.xml").read_bytes()
    eml = (good / "mss" / "pro-PPA.eml").read_bytes()
    capture = (good / "dmp" / "PPA.http").read_bytes()
    out = [Hostile("xml", n, d, w, (VALIDATE, ARTEFACTS, INSI, DMP)) for n, d, w in xml_inputs()]
    out += [Hostile("mime", n, d, w, (VALIDATE, ARTEFACTS, MSS)) for n, d, w in mime_inputs(eml, cda)]
    out += [Hostile("mtom", n, d, w, (VALIDATE, ARTEFACTS, DMP)) for n, d, w in mtom_inputs(capture)]
    out += [Hostile("json", n, d, w, (ARTEFACTS, PSC)) for n, d, w in json_inputs()]
    out += [Hostile("jwt", n, d, w, (PSC,)) for n, d, w in jwt_inputs()]
    names = [h.name for h in out]
    assert len(names) == len(set(names)), "duplicate corpus names"
    return out


KIND_OF = {"xml": "cda", "mime": "mss", "mtom": "dmp", "json": "psc"}


def write_artefact_folder(folder: Path, items: list[Hostile], capabilities: bytes | None = None) -> int:
    """The inputs fed to artefact mode, laid out as an artefact folder; returns how many files."""
    count = 0
    for h in items:
        if ARTEFACTS not in h.targets:
            continue
        sub = folder / KIND_OF[h.family]
        sub.mkdir(parents=True, exist_ok=True)
        (sub / h.name).write_bytes(h.data)
        count += 1
    if capabilities is not None:
        (folder / "capabilities.json").write_bytes(capabilities)
    return count


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__)
        return 2
    out = Path(argv[0])
    items = corpus()
    for h in items:
        (out / h.family).mkdir(parents=True, exist_ok=True)
        (out / h.family / h.name).write_bytes(h.data)
    n = write_artefact_folder(out / "artefacts", items, (GOOD / "capabilities.json").read_bytes())
    total = sum(len(h.data) for h in items)
    print(f"{len(items)} hostile inputs ({total / 1e6:.1f} MB) in {out}; {n} in {out / 'artefacts'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
