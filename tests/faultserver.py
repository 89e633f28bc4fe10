"""A real HTTP/1.1 server on 127.0.0.1 that serves given bytes and misbehaves on request.

    with FaultServer() as server:
        server.add("/ep.mp3", mp3, etag='"v1"', faults=[Fault(status=503), Fault(drop_after=5000)])
        url = server.url("/ep.mp3")

Each route answers like a decent audio host (Range -> 206, If-None-Match/If-Modified-Since ->
304, HEAD, keep-alive). `faults` are used up one per request, in order; `default` applies to
every request after that. Every request is recorded in `server.requests`.
Use it as the pytest fixture `fault_server` (import it into the test module).
"""

from __future__ import annotations

import re
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest


@dataclass
class Fault:
    """How one response departs from the normal one; the default Fault() departs in nothing."""

    status: int | None = None  # answer this status (with `body` or a short text) instead
    headers: dict[str, str] = field(default_factory=dict)  # extra headers, e.g. Retry-After
    body: bytes | None = None  # replaces the route's body (with `status`, or alone: 200)
    content_type: str | None = None  # replaces the route's content type
    delay: float = 0.0  # stall this long before the response headers
    drop_after: int | None = None  # close the connection after this many body bytes
    pause_after: int | None = None  # stall `pause` seconds after this many body bytes
    pause: float = 0.0
    drip: float = 0.0  # send the body one byte at a time, this many seconds apart
    ignore_range: bool = False  # answer 200 and the whole body to a Range request
    content_length: int | None = None  # announce this Content-Length instead of the true one;
    # -1: announce none and end the body by closing the connection (as HTTP/1.0 servers do)


@dataclass
class Route:
    body: bytes = b""
    content_type: str = "audio/mpeg"
    etag: str | None = None
    last_modified: str | None = None
    redirect: str | None = None  # answer `redirect_status` with this Location
    redirect_status: int = 302
    faults: list[Fault] = field(default_factory=list)
    default: Fault = field(default_factory=Fault)

    def next_fault(self) -> Fault:
        return self.faults.pop(0) if self.faults else self.default


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]  # header names lower-cased


@dataclass(frozen=True)
class Response:
    path: str
    status: int
    sent: int  # body bytes written


_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so the client's connection pooling is real
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib's name
        pass

    def do_GET(self) -> None:
        self._serve(head=False)

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def _serve(self, head: bool) -> None:
        owner = self.server.owner
        path = urlsplit(self.path).path
        headers = {k.lower(): v for k, v in self.headers.items()}
        with owner.lock:
            owner.requests.append(Request(self.command, path, headers))
            route = owner.routes.get(path)
            fault = route.next_fault() if route else Fault(status=404)
        try:
            self._respond(route, fault, headers, head)
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            self.close_connection = True  # the client gave up (e.g. its read timeout)

    def _respond(self, route: Route | None, fault: Fault, headers: dict[str, str], head: bool) -> None:
        if fault.delay and self.server.owner.stopping.wait(fault.delay):
            return
        if route is None or fault.status is not None:
            status = fault.status or 404
            body = fault.body if fault.body is not None else f"{status} {self.responses.get(status, ('',))[0]}\n".encode()
            self._send(status, {"Content-Type": fault.content_type or "text/plain", **fault.headers}, body, fault, head)
            return
        if route.redirect:
            self._send(route.redirect_status, {"Location": route.redirect, **fault.headers}, b"", fault, head)
            return
        body = fault.body if fault.body is not None else route.body
        base = {"Content-Type": fault.content_type or route.content_type, "Accept-Ranges": "bytes"}
        if route.etag:
            base["ETag"] = route.etag
        if route.last_modified:
            base["Last-Modified"] = route.last_modified

        inm, ims = headers.get("if-none-match"), headers.get("if-modified-since")
        if (route.etag and inm == route.etag) or (
            inm is None and route.last_modified and ims == route.last_modified
        ):
            self._send(304, {k: v for k, v in base.items() if k != "Content-Type"}, None, fault, head)
            return

        m = _RANGE.match(headers.get("range", ""))
        if_range = headers.get("if-range")
        if m and not fault.ignore_range and if_range in (None, route.etag, route.last_modified):
            start = int(m[1])
            end = min(int(m[2]) if m[2] else len(body) - 1, len(body) - 1)
            if start >= len(body):
                self._send(416, {**base, "Content-Range": f"bytes */{len(body)}"}, b"", fault, head)
                return
            base["Content-Range"] = f"bytes {start}-{end}/{len(body)}"
            self._send(206, base, body[start : end + 1], fault, head)
            return
        self._send(200, base, body, fault, head)

    def _send(self, status: int, headers: dict[str, str], body: bytes | None, fault: Fault, head: bool) -> None:
        path = urlsplit(self.path).path
        self.send_response(status)
        for name, value in {**headers, **fault.headers}.items():
            self.send_header(name, value)
        announced = len(body or b"") if fault.content_length is None else fault.content_length
        if body is not None and announced >= 0:
            self.send_header("Content-Length", str(announced))
        if announced < 0:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if head or not body:
            self.wfile.flush()
            self._log(path, status, 0)
            return
        cut = len(body) if fault.drop_after is None else min(fault.drop_after, len(body))
        sent, paused = 0, fault.pause_after is None
        while sent < cut and fault.drip:
            try:
                self.wfile.write(body[sent : sent + 1])
                self.wfile.flush()
            except OSError:
                return  # the client gave up on us
            sent += 1
            if self.server.owner.stopping.wait(fault.drip):
                return
        while sent < cut:
            if not paused and sent + 8192 > fault.pause_after:  # type: ignore[operator]
                stop = min(fault.pause_after, cut)  # type: ignore[type-var]
                self.wfile.write(body[sent:stop])
                self.wfile.flush()
                sent, paused = stop, True
                if self.server.owner.stopping.wait(fault.pause):
                    return
                continue
            piece = body[sent : min(cut, sent + 8192)]
            self.wfile.write(piece)
            sent += len(piece)
        self.wfile.flush()
        self._log(path, status, sent)
        if sent < announced:
            # Fewer bytes than announced: close, as a crashed or cut-off server would.
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


    def _log(self, path: str, status: int, sent: int) -> None:
        with self.server.owner.lock:
            self.server.owner.responses.append(Response(path, status, sent))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: FaultServer

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients hanging up mid-response is the point of this server


class FaultServer:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[Request] = []
        self.responses: list[Response] = []  # logged once the body (or its cut-off part) is out
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def add(self, path: str, body: bytes = b"", **route: object) -> Route:
        r = Route(body=body, **route)  # type: ignore[arg-type]
        with self.lock:
            self.routes[path] = r
        return r

    def redirect(self, path: str, to: str, status: int = 302) -> Route:
        return self.add(path, redirect=to if "://" in to else self.url(to), redirect_status=status)

    def hits(self, path: str, method: str = "GET") -> list[Request]:
        with self.lock:
            return [r for r in self.requests if r.path == path and r.method == method]

    def statuses(self, path: str) -> list[int]:
        # A response is logged just after its last byte, so the client can be ahead of the log.
        deadline = time.monotonic() + 2.0
        while True:
            with self.lock:
                done = [r.status for r in self.responses if r.path == path]
                asked = sum(1 for r in self.requests if r.path == path)
            if len(done) >= asked or time.monotonic() > deadline:
                return done
            time.sleep(0.01)

    def start(self) -> FaultServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@pytest.fixture
def fault_server():
    with FaultServer() as server:
        yield server
