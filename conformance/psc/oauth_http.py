"""The HTTP side of the mock PSC provider: its answers and OAuth errors, form parsing, redirects, HTML
pages, and the request handler that bounds what a client may send (size, fields, time)."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

MAX_BODY = 64 * 1024
_DRAIN_MAX = 4 * 1024 * 1024  # an oversized body up to this is read and dropped before the 413 (bounded by the socket timeout)


@dataclass
class HttpAnswer:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"

    def encoded(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode("utf-8")
        return json.dumps(self.body, ensure_ascii=False).encode("utf-8")


class OAuthError(Exception):
    def __init__(self, status: int, error: str, description: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(description)
        self.answer = HttpAnswer(status, {"error": error, "error_description": description},
                                 {"Cache-Control": "no-store", **(headers or {})})



RECORDED_HEADERS = {"authorization", "content-type", "accept", "user-agent", "dpop"}


def parse_form(body: bytes) -> dict[str, str]:
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=100)
    except (ValueError, UnicodeDecodeError):
        raise OAuthError(400, "invalid_request", "formulaire illisible") from None
    out: dict[str, str] = {}
    for key, value in pairs:
        if key in out:  # RFC 6749 §3.1: parameters must not be repeated
            raise OAuthError(400, "invalid_request", f"paramètre répété : {key}")
        out[key] = value
    return out


def origin_of(uri: str) -> str:
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc}"


def redirect_answer(uri: str, params: dict[str, str]) -> HttpAnswer:
    sep = "&" if urlsplit(uri).query else "?"
    location = uri + (sep + urlencode(params) if params else "")
    return HttpAnswer(302, None, {"Location": location, "Cache-Control": "no-store"})


def html_page(status: int, title: str, text: str) -> HttpAnswer:
    import html

    body = (f"<!doctype html><html lang=\"fr\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"</head><body><h1>{html.escape(title)}</h1><p>{html.escape(text)}</p></body></html>")
    return HttpAnswer(status, body, {}, content_type="text/html; charset=utf-8")


def handler_for(handle: Callable[[str, str, dict[str, str], dict[str, str], bytes], HttpAnswer]
                ) -> type[BaseHTTPRequestHandler]:
    """A request handler class that reads a bounded request and answers with what ``handle`` returns."""

    class Handler(BaseHTTPRequestHandler):
        server_version = "mock-pro-sante-connect/1"
        protocol_version = "HTTP/1.1"
        timeout = 15  # a stuck client cannot hold a thread forever

        def log_message(self, format: str, *args: Any) -> None:
            return

        def setup(self) -> None:
            super().setup()
            # headers and body leave in two writes: without NODELAY, Nagle + delayed ACK cost ~40 ms a request
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def _handle(self) -> None:
            split = urlsplit(self.path)
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if length < 0 or length > MAX_BODY:
                if length <= _DRAIN_MAX:
                    # read and drop a moderately large body first: closing with unread data makes the kernel
                    # reset the connection, and a client still sending would see the reset, not the 413
                    self._discard(length)
                self._send(HttpAnswer(413, {"error": "invalid_request", "error_description": "corps trop volumineux"}))
                self.close_connection = True
                return
            body = self.rfile.read(length) if length else b""
            try:
                query = dict(parse_qsl(split.query, keep_blank_values=True, max_num_fields=100))
            except ValueError:
                self._send(HttpAnswer(400, {"error": "invalid_request", "error_description": "requête illisible"}))
                return
            headers = {k.lower(): v for k, v in self.headers.items()}
            self._send(handle(self.command, split.path, query, headers, body))

        def _discard(self, length: int) -> None:
            left = length
            while left > 0:
                chunk = self.rfile.read(min(left, 65_536))
                if not chunk:
                    return
                left -= len(chunk)

        def _send(self, answer: HttpAnswer) -> None:
            data = answer.encoded()
            self.send_response(answer.status)
            if data:
                content_type = answer.content_type
                if content_type == "application/json":
                    content_type += "; charset=utf-8"
                self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for key, value in answer.headers.items():
                self.send_header(key, value)
            self.end_headers()
            if data:
                self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _handle

        def handle(self) -> None:
            try:
                super().handle()
            except (BrokenPipeError, ConnectionResetError):  # the client hung up: no traceback on stderr
                self.close_connection = True

    return Handler
