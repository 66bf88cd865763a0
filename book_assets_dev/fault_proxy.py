"""A seeded, loopback HTTP proxy that makes a healthy Cloud Storage (the emulator) look flaky.

It forwards every request to the upstream server and, for a chosen share of them (``rate``),
injects one fault instead, picked by a seeded random generator so a run can be repeated:

- ``throttled``: answer 429 without forwarding;
- ``unavailable``: answer 503 without forwarding;
- ``reset``: drop the connection without an answer (the client sees a reset);
- ``stall``: wait ``stall_seconds`` (a range) before forwarding — longer than a client's timeout,
  it is a lost request; shorter, a slow one;
- ``lost_response``: forward an upload, let it land, then drop the connection — the client does
  not know its object was written (only for uploads: POST/PUT).

``dead=True`` answers every request 503: a bucket that is down. Used by ``book-assets faults``
(``book_assets_dev.faults``) and the tests.
"""
from __future__ import annotations

import contextlib
import enum
import http.client
import http.server
import random
import socket
import struct
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}


class Fault(enum.Enum):
    THROTTLED = "throttled"
    UNAVAILABLE = "unavailable"
    RESET = "reset"
    STALL = "stall"
    LOST_RESPONSE = "lost_response"


@dataclass
class FaultPlan:
    """What to inject: the share of requests, the seed, and how long a stall lasts (min, max seconds)."""

    rate: float = 0.0
    seed: int = 0
    stall_seconds: tuple[float, float] = (5.0, 40.0)
    dead: bool = False
    script: list[Fault | None] = field(default_factory=list)   # the faults of the first requests, in order (then ``rate``) ...
    script_matching: str = ""                                   # ... counting only requests whose path holds this
    injected: Counter = field(default_factory=Counter)    # Fault → how many times
    requests: int = 0
    paths: list[str] = field(default_factory=list)        # "METHOD /path" of every request, in order
    drawn: list[Fault | None] = field(default_factory=list)   # the fault each of those got (None: forwarded)

    def __post_init__(self):
        self._random = random.Random(self.seed)
        self._lock = threading.Lock()

    def draw(self, request: str, is_upload: bool) -> tuple[Fault | None, float]:
        """The fault for the next request (None: forward it untouched) and, for a stall, its length."""
        with self._lock:
            self.requests += 1
            self.paths.append(request)
            if self.dead:
                fault, stall = Fault.UNAVAILABLE, 0.0
            elif self.script and self.script_matching in request:
                fault, stall = self.script.pop(0), self.stall_seconds[1]
            elif self._random.random() >= self.rate:
                fault, stall = None, 0.0
            else:
                kinds = list(Fault) if is_upload else [f for f in Fault if f is not Fault.LOST_RESPONSE]
                fault = self._random.choice(kinds)
                stall = self._random.uniform(*self.stall_seconds)
            self.drawn.append(fault)
            if fault is not None:
                self.injected[fault] += 1
            return fault, stall


def _handler(upstream: str, plan: FaultPlan) -> type[http.server.BaseHTTPRequestHandler]:
    target = urlsplit(upstream)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _relay(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            is_upload = self.command in ("POST", "PUT") and "/upload/" in self.path
            fault, stall = plan.draw(f"{self.command} {self.path}", is_upload)
            if fault in (Fault.THROTTLED, Fault.UNAVAILABLE):
                self._answer(429 if fault is Fault.THROTTLED else 503)
                return
            if fault is Fault.RESET:
                self._reset()
                return
            if fault is Fault.STALL:
                time.sleep(stall)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP | {"host"}}
            connection = http.client.HTTPConnection(target.hostname, target.port, timeout=120)
            try:
                connection.request(self.command, self.path, body=body, headers=headers)
                response = connection.getresponse()
                payload = response.read()
            finally:
                connection.close()
            if fault is Fault.LOST_RESPONSE:      # the object landed; the client never hears so
                self._reset()
                return
            with contextlib.suppress(OSError):    # a client that gave up on a stall has gone away
                self.send_response(response.status)
                for name, value in response.getheaders():
                    if name.lower() not in HOP_BY_HOP | {"content-length"}:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        def _answer(self, status: int) -> None:
            body = (b'{"error": {"code": %d, "message": "injected by the fault proxy"}}' % status)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _reset(self) -> None:
            """Close with an RST (SO_LINGER 0), as a dropped connection looks to the client."""
            with contextlib.suppress(OSError):
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.close()

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _relay

        def log_message(self, *args) -> None:
            pass

    return Handler


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def handle_error(self, request, client_address) -> None:
        """A client that hung up (after a stall or a reset) is expected here, not worth a traceback."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


@contextlib.contextmanager
def running_fault_proxy(upstream: str, plan: FaultPlan) -> Iterator[str]:
    """A proxy on a free loopback port in front of ``upstream`` (e.g. the emulator's URL); yields its URL."""
    server = _Server(("127.0.0.1", 0), _handler(upstream, plan))
    thread = threading.Thread(target=server.serve_forever, name="fault-proxy", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
