"""The reference sandbox's HTTP server: contract v1 routing over the domain modules.

It is a real server on 127.0.0.1 (tests and the CLI start it), compliant by default. The routing is
here; what the DUI *does* (render a CDA, call INSi, submit to the DMP, send by MSSanté, log in with
PSC) lives in one module per domain, each with its own ``DEFECTS``.
"""

from __future__ import annotations

import base64
import json
import re
import sys
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http import cookies
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from segur_reference_dui import defects as defect_registry
from segur_reference_dui import dmp_client, documents, insi_client, mss_client, psc_rp
from segur_reference_dui.state import Resident, SandboxState, StoredDocument, new_id

PRODUCT = "DUI de référence segur-conformance"
VENDOR = "segur-conformance"
VERSION = "1.0"
BASE_PATH = "/segur/v1"
MAX_BODY = 2 * 1024 * 1024

DEFECTS = {
    "contract_v0": "Déclare la version 0 du contrat au lieu de la version 1",
    "no_corridor": "Ne déclare aucun couloir dans ses capacités",
    "creates_without_traits": "Crée un résident sans nom de naissance, prénoms, date de naissance ou sexe (Règle 5)",
}

TRAIT_FIELDS = ("birth_name", "given_names", "first_given_name", "birth_date", "sex", "birthplace_code")


class HttpError(Exception):
    def __init__(self, status: int, message: str, code: str = "error") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


class SandboxApp:
    """Contract v1 over ``SandboxState``; one method per route, returning (status, json, headers)."""

    def __init__(self, defects: frozenset[str]) -> None:
        self.state = SandboxState(defects=defects)
        self._rp: Any = None
        self.routes: list[tuple[str, re.Pattern[str], Callable[..., Any]]] = [
            ("GET", re.compile(r"/capabilities"), self.capabilities),
            ("POST", re.compile(r"/reset"), self.reset),
            ("PUT", re.compile(r"/endpoints"), self.set_endpoints),
            ("POST", re.compile(r"/residents"), self.create_resident),
            ("GET", re.compile(r"/residents/(?P<rid>[\w-]+)"), self.get_resident),
            ("POST", re.compile(r"/residents/(?P<rid>[\w-]+)/qualify"), self.qualify),
            ("POST", re.compile(r"/residents/(?P<rid>[\w-]+)/documents"), self.create_document),
            ("GET", re.compile(r"/documents/(?P<did>[\w-]+)"), self.get_document),
            ("POST", re.compile(r"/documents/(?P<did>[\w-]+)/dmp"), self.send_dmp),
            ("POST", re.compile(r"/documents/(?P<did>[\w-]+)/mss"), self.send_mss),
            ("POST", re.compile(r"/psc/login"), self.psc_login),
            ("GET", re.compile(r"/psc/callback"), self.psc_callback),
            ("GET", re.compile(r"/psc/session"), self.psc_session),
            ("POST", re.compile(r"/psc/logout"), self.psc_logout),
            ("GET", re.compile(r"/ui/snapshot"), self.ui_snapshot),
        ]

    @property
    def defects(self) -> frozenset[str]:
        return self.state.defects

    # -- routes ---------------------------------------------------------------------------------
    def capabilities(self, req: Request) -> Any:
        doc_types = list(documents.declared_types(self.defects))
        features = {"ins": True, "dmp": True, "mss": True, "psc": True}  # every domain module is part of the sandbox
        features["mss_reply"] = features["mss"]  # optional: POST /documents/{id}/mss accepts in_reply_to
        features["ui_snapshot"] = True  # optional (contract 1.1): GET /ui/snapshot
        return 200, {
            "contract": "0" if "contract_v0" in self.defects else "1",
            "product": PRODUCT,
            "version": VERSION,
            "vendor": VENDOR,
            "corridors": [] if "no_corridor" in self.defects else ["MS1", "MS2-PDE", "MS2-PDS"],
            "document_types": doc_types,
            "features": features,
            "defects": sorted(self.defects),
        }

    def reset(self, req: Request) -> Any:
        self.state.reset()
        self._rp = None
        return 204, None

    def set_endpoints(self, req: Request) -> Any:
        body = req.json_object()
        for key, value in body.items():
            if key not in ("insi", "dmp", "mss", "psc"):
                raise HttpError(400, f"service inconnu : {key}", "bad_request")
            if not isinstance(value, dict):
                raise HttpError(400, f"{key} doit être un objet", "bad_request")
            self.state.endpoints[key] = value
            if key == "psc":
                self._rp = None
        return 204, None

    def create_resident(self, req: Request) -> Any:
        body = req.json_object()
        traits = body.get("traits")
        if not isinstance(traits, dict):
            raise HttpError(400, "traits manquants", "bad_request")
        missing = [f for f in TRAIT_FIELDS if traits.get(f) in (None, "", [])]
        if missing and "creates_without_traits" not in self.defects:
            raise HttpError(422, f"traits stricts manquants : {', '.join(missing)}", "missing_traits")
        resident = Resident(
            id=new_id("R"),
            traits=dict(traits),
            used_name=str(body.get("used_name") or ""),
            used_given_name=str(body.get("used_given_name") or ""),
            attributes=[str(a) for a in body.get("attributes") or []],
            identity_document=body.get("identity_document"),
        )
        if resident.identity_document == "cni" and "cni_not_high_trust" in self.defects:
            pass  # insi_client.py's defect: the CNI is not taken for a high-trust document
        elif resident.identity_document in ("passeport", "cni") and not {"douteuse", "fictive"} & set(
                resident.attributes):
            resident.status = "VALI"  # identity checked on a high-trust document (INS Règle 20)
        with self.state.lock:
            self.state.residents[resident.id] = resident
        return 201, resident.to_json()

    def _resident(self, rid: str) -> Resident:
        resident = self.state.residents.get(rid)
        if resident is None:
            raise HttpError(404, f"résident inconnu : {rid}", "not_found")
        return resident

    def _document(self, did: str) -> StoredDocument:
        doc = self.state.documents.get(did)
        if doc is None:
            raise HttpError(404, f"document inconnu : {did}", "not_found")
        return doc

    def _endpoint(self, name: str) -> dict[str, Any]:
        endpoint = self.state.endpoints.get(name)
        if not endpoint:
            raise HttpError(409, f"point d'accès {name} non configuré (PUT /endpoints)", "no_endpoint")
        return endpoint

    def get_resident(self, req: Request, rid: str) -> Any:
        return 200, self._resident(rid).to_json()

    def qualify(self, req: Request, rid: str) -> Any:
        resident = self._resident(rid)
        result = dict(insi_client.qualify(resident, self._endpoint("insi"), self.defects))
        result["resident"] = resident.to_json()
        return 200, result

    def create_document(self, req: Request, rid: str) -> Any:
        body = req.json_object()
        doc_type = body.get("type")
        if not isinstance(doc_type, str):
            raise HttpError(400, "type de document manquant", "bad_request")
        if doc_type not in documents.declared_types(self.defects):
            raise HttpError(501, f"type de document non produit : {doc_type}", "unsupported")
        resident = self._resident(rid)
        replaces = None
        options = body.get("options") or {}
        if isinstance(options, dict) and options.get("replaces"):
            replaces = self._document(str(options["replaces"]))
        cda = documents.render(doc_type, resident, self.defects, replaces=replaces)
        doc = StoredDocument(id=new_id("D"), type=doc_type, resident_id=rid, cda=cda,
                             replaces=replaces.id if replaces else None)
        with self.state.lock:
            self.state.documents[doc.id] = doc
        return 201, {"id": doc.id, "type": doc_type, "resident_id": rid,
                     "cda_base64": base64.b64encode(cda).decode("ascii"), "media_type": "text/xml"}

    def get_document(self, req: Request, did: str) -> Any:
        return 200, self._document(did).to_json()

    def send_dmp(self, req: Request, did: str) -> Any:
        doc = self._document(did)
        body = req.json_object()
        replaces = self._document(str(body["replaces"])) if body.get("replaces") else None
        resident = self._resident(doc.resident_id)
        return 200, dmp_client.submit(doc, resident, self._endpoint("dmp"), self.defects, replaces=replaces)

    def send_mss(self, req: Request, did: str) -> Any:
        doc = self._document(did)
        resident = self._resident(doc.resident_id)
        return 200, mss_client.send(doc, resident, self._endpoint("mss"), self.defects, req.json_object())

    # -- Pro Santé Connect: the browser session is the "sid" cookie -----------------------------
    def _relying_party(self) -> Any:
        if self._rp is None:
            self._rp = psc_rp.PscRelyingParty(self._endpoint("psc"), self.defects)
        return self._rp

    def psc_login(self, req: Request) -> Any:
        sid = req.cookie("sid") or uuid.uuid4().hex
        result = self._relying_party().login(sid)
        return 200, result, {"Set-Cookie": f"sid={sid}; Path=/; HttpOnly; SameSite=Lax"}

    def psc_callback(self, req: Request) -> Any:
        return 200, self._relying_party().callback(req.query, req.cookie("sid") or "")

    def psc_session(self, req: Request) -> Any:
        return 200, self._relying_party().session(req.cookie("sid") or "")

    def psc_logout(self, req: Request) -> Any:
        return 200, self._relying_party().logout(req.cookie("sid") or "")

    # -- contract 1.1 (optional): the screen after a step, as a self-contained HTML page -----------
    def ui_snapshot(self, req: Request) -> Any:
        from segur_reference_dui import screens

        step = req.query.get("step", "")
        if step == "resident_identity":
            page = screens.resident_identity(self._resident(req.query.get("resident", "")))
        elif step in ("dmp_sent", "mss_sent"):
            doc = self._document(req.query.get("document", ""))
            page = getattr(screens, step)(doc, self._resident(doc.resident_id))
        else:
            raise HttpError(501, f"écran non rendu : {step!r}", "unsupported")
        return 200, RawBody(page, "text/html; charset=utf-8")

    # -- dispatch -------------------------------------------------------------------------------
    def dispatch(self, req: Request) -> tuple[int, Any, dict[str, str]]:
        path = req.path
        if not path.startswith(BASE_PATH):
            raise HttpError(404, f"chemin inconnu : {path}", "not_found")
        sub = path[len(BASE_PATH):] or "/"
        allowed = False
        for method, pattern, handler in self.routes:
            match = pattern.fullmatch(sub)
            if not match:
                continue
            allowed = True
            if method != req.method:
                continue
            result = handler(req, **match.groupdict())
            status, payload = result[0], result[1]
            headers = result[2] if len(result) > 2 else {}
            return status, payload, headers
        if allowed:
            raise HttpError(405, "méthode non autorisée", "method_not_allowed")
        raise HttpError(404, f"chemin inconnu : {path}", "not_found")


@dataclass(frozen=True)
class RawBody:
    """An answer that is not JSON (the screen of GET /ui/snapshot)."""

    data: bytes
    content_type: str


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: Any
    body: bytes

    def json_object(self) -> dict[str, Any]:
        if not self.body:
            return {}
        try:
            data = json.loads(self.body)
        except ValueError:
            raise HttpError(400, "corps JSON invalide", "bad_json") from None
        if not isinstance(data, dict):
            raise HttpError(400, "le corps doit être un objet JSON", "bad_json")
        return data

    def cookie(self, name: str) -> str | None:
        raw = self.headers.get("Cookie")
        if not raw:
            return None
        jar: cookies.SimpleCookie = cookies.SimpleCookie()
        try:
            jar.load(raw)
        except cookies.CookieError:
            return None
        morsel = jar.get(name)
        return morsel.value if morsel else None


def _handler_for(app: SandboxApp) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "segur-reference-dui/1"
        protocol_version = "HTTP/1.1"
        timeout = 30  # a silent or slow client cannot hold a worker thread forever
        disable_nagle_algorithm = True  # headers and body are two writes: avoid a 40 ms delayed-ACK stall

        def log_message(self, format: str, *args: Any) -> None:  # quiet: tests and CLI own the output
            return

        def _handle(self) -> None:
            split = urlsplit(self.path)
            length_text = (self.headers.get("Content-Length") or "0").strip()
            if not (length_text.isascii() and length_text.isdecimal()):  # "abc", "-5", "²": no traceback
                self._send(400, {"error": "Content-Length invalide", "code": "bad_length"}, {})
                self.close_connection = True
                return
            length = int(length_text)
            if length > MAX_BODY:
                self._send(413, {"error": "corps trop volumineux", "code": "too_large"}, {})
                return
            body = self.rfile.read(length) if length else b""
            req = Request(self.command, split.path, dict(parse_qsl(split.query)), self.headers, body)
            try:
                status, payload, headers = app.dispatch(req)
            except HttpError as exc:
                self._send(exc.status, {"error": exc.message, "code": exc.code}, {})
                return
            except Exception as exc:  # a bug in the sandbox must answer 500, not kill the thread
                self._send(500, {"error": f"erreur interne : {exc.__class__.__name__}: {exc}",
                                 "code": "internal"}, {})
                return
            self._send(status, payload, headers)

        def _send(self, status: int, payload: Any, headers: dict[str, str]) -> None:
            ctype = "application/json; charset=utf-8"
            if isinstance(payload, RawBody):
                data, ctype = payload.data, payload.content_type
            else:
                data = b"" if payload is None else json.dumps(payload, ensure_ascii=False).encode("utf-8")
            self.send_response(status)
            if data:
                self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            if data:
                self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _handle

    return Handler


class _QuietServer(ThreadingHTTPServer):
    """A client that hangs up or times out mid-request is its own problem: one line on stderr at most,
    never a traceback in the operator's terminal (the server keeps serving either way)."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):  # broken pipe, reset, timeout
            return
        print(f"segur-reference-dui: requête de {client_address[0]} abandonnée "
              f"({exc.__class__.__name__}: {exc})", file=sys.stderr)


class RunningSandbox:
    """A started reference sandbox; stop() or use as a context manager."""

    def __init__(self, httpd: ThreadingHTTPServer, app: SandboxApp) -> None:
        self.httpd = httpd
        self.app = app
        host, port = httpd.server_address[:2]
        host_text = host.decode() if isinstance(host, bytes) else str(host)
        self.url = f"http://{host_text}:{port}{BASE_PATH}"
        self.thread = threading.Thread(target=httpd.serve_forever, name="reference-dui", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)

    def __enter__(self) -> RunningSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(host: str = "127.0.0.1", port: int = 0, defects: tuple[str, ...] | list[str] = ()) -> RunningSandbox:
    """Start the reference sandbox in a daemon thread and return it (port 0 → an ephemeral port)."""
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError("the reference sandbox binds to the loopback interface only")
    app = SandboxApp(defect_registry.validate(list(defects)))
    httpd = _QuietServer((host, port), _handler_for(app))
    httpd.daemon_threads = True
    return RunningSandbox(httpd, app)
