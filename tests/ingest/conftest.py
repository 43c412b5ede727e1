"""A local HTTP server on 127.0.0.1 speaking real formats, and helpers for real media.

Nothing here connects anywhere but 127.0.0.1: fetchers get a guard that allows only
127.0.0.1, and name resolution is injected where a test needs a host name.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
from PIL import Image

from ingest.net import Fetcher, FetchLimits, UrlGuard


@dataclass
class Reply:
    """One HTTP answer; ``delay_s`` before the headers, ``stall_s`` between them and the body."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    stall_s: float = 0.0


Route = Reply | Callable[[dict[str, list[str]]], Reply]


class LocalServer:
    """Routes by path; counts hits; measures how many requests are open at once.

    A request counts as open from its arrival until just before the last byte of its
    answer is sent, a span that lies inside the client's own (a client cannot have read
    the answer before that byte), so ``peak`` never exceeds what the client had open.
    ``changed`` is notified whenever ``hits`` or ``active`` change; a callable route runs
    while its request is open and may wait on it.
    """

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.hits: dict[str, int] = {}
        self.queries: list[tuple[str, dict[str, list[str]]]] = []
        self.active = 0
        self.peak = 0
        self.latency_s = 0.0
        self._lock = threading.Lock()
        self.changed = threading.Condition(self._lock)
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                server._serve(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def route(self, path: str, reply: Route) -> str:
        self.routes[path] = reply
        return self.url(path)

    def serve_file(self, path: str, data: bytes, content_type: str = "image/jpeg") -> str:
        return self.route(path, Reply(200, data, {"Content-Type": content_type}))

    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        query = parse_qs(parts.query)
        with self.changed:
            self.hits[parts.path] = self.hits.get(parts.path, 0) + 1
            self.queries.append((parts.path, query))
            self.active += 1
            self.peak = max(self.peak, self.active)
            self.changed.notify_all()
        open_ = True
        try:
            route = self.routes.get(parts.path)
            reply = Reply(404, b"not found") if route is None else (
                route(query) if callable(route) else route)
            if self.latency_s or reply.delay_s:
                time.sleep(self.latency_s + reply.delay_s)
            h.send_response(reply.status)
            for k, v in reply.headers.items():
                h.send_header(k, v)
            h.send_header("Content-Length", str(len(reply.body)))
            h.end_headers()
            if reply.stall_s:
                time.sleep(reply.stall_s)
            h.wfile.write(reply.body[:-1])
            open_ = self._close_request()
            h.wfile.write(reply.body[-1:])
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            if open_:
                self._close_request()

    def _close_request(self) -> bool:
        with self.changed:
            self.active -= 1
            self.changed.notify_all()
        return False

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[LocalServer]:
    """A fresh HTTP server on 127.0.0.1 (random port)."""
    srv = LocalServer()
    yield srv
    srv.close()


@pytest.fixture
def fetcher() -> Iterator[Fetcher]:
    """A fetcher allowed to reach 127.0.0.1 only, with short timeouts and no real sleeps."""
    f = Fetcher(UrlGuard(["127.0.0.1"]),
                FetchLimits(connect_timeout_s=1.0, read_timeout_s=1.0, retries=2,
                            backoff_s=0.01, max_retry_after_s=0.05))
    yield f
    f.close()


def jpeg_bytes(seed: int, size: int = 96) -> bytes:
    """A distinct small JPEG (smooth random pattern; seeds give unrelated pictures)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
    img = Image.fromarray(small).resize((size, size), Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def read(path: Path) -> bytes:
    return Path(path).read_bytes()
