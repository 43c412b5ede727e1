"""Safe downloads: a URL guard, timeouts, bounded retries, per-host limits, size caps.

Every URL is checked before any connection and again on every redirect hop: only
http(s), and the host must not resolve to a private, loopback, link-local, reserved,
multicast or unspecified address unless it is allow-listed (``BRANDMOOD_ALLOW_HOSTS``:
comma-separated host names, IP addresses or CIDR networks; tests allow ``127.0.0.1``).
The resolver is injectable, so tests can make a name "resolve" to a refused address.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from brandmood.core.settings import load_config

DEFAULT_WORKERS = 8
MB = 1 << 20
IMAGE_MAX_BYTES = 30 * MB
VIDEO_MAX_BYTES = 500 * MB
TEXT_MAX_BYTES = 20 * MB
ALLOW_ENV = "BRANDMOOD_ALLOW_HOSTS"
_SECRET_PARAMS = {"access_token", "key", "token", "api_key", "client_secret",
                  "appsecret_proof"}
_REDIRECTS = {301, 302, 303, 307, 308}
_CHUNK = 1 << 16

Resolver = Callable[[str], list[str]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class BlockedURLError(ValueError):
    """The guard refused a URL (scheme or address); the message says why."""


class FetchError(RuntimeError):
    """A download or API call failed after its retries; the message is safe to show."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def redact(url: str) -> str:
    """``url`` with secret query parameters (tokens, API keys) replaced by ``***``."""
    parts = urlsplit(url)
    if not parts.query:
        return url
    query = [(k, "***" if k.lower() in _SECRET_PARAMS else v)
             for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    return urlunsplit(parts._replace(query=urlencode(query, safe="*")))


def system_resolver(host: str) -> list[str]:
    """Every address ``host`` resolves to (IPv4 and IPv6)."""
    infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    return sorted({info[4][0] for info in infos})


def _refusal(ip: IPAddress) -> str | None:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for attr, what in (("is_loopback", "loopback"), ("is_link_local", "link-local"),
                       ("is_multicast", "multicast"), ("is_unspecified", "unspecified"),
                       ("is_reserved", "reserved"), ("is_private", "private")):
        if getattr(ip, attr):
            return what
    return None if ip.is_global else "non-public"


class UrlGuard:
    """Refuses URLs that are not http(s) or that reach non-public addresses."""

    def __init__(self, allow: Iterable[str] = (), *, resolver: Resolver | None = None) -> None:
        self.resolver = resolver or system_resolver
        self._names: set[str] = set()
        self._nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for item in (a.strip() for a in allow):
            if not item:
                continue
            try:
                self._nets.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                self._names.add(item.lower().rstrip("."))

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, *, extra: Iterable[str] = (),
                 resolver: Resolver | None = None) -> UrlGuard:
        """A guard allowing what ``BRANDMOOD_ALLOW_HOSTS`` (and ``extra``) lists."""
        return cls([*load_config(env).allow_hosts, *extra], resolver=resolver)

    def _allowed_ip(self, ip: IPAddress) -> bool:
        return any(ip in net for net in self._nets)

    def _resolve(self, host: str) -> list[IPAddress]:
        try:
            addrs = [ipaddress.ip_address(a.split("%")[0]) for a in self.resolver(host)]
        except (OSError, UnicodeError) as exc:
            raise FetchError(f"cannot resolve host {host}: {exc}") from None
        if not addrs:
            raise FetchError(f"cannot resolve host {host}")
        return addrs

    def check(self, url: str) -> None:
        """Return if ``url`` may be fetched.

        Raises:
            BlockedURLError: for another scheme, no host, or a refused address.
        """
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https"):
            raise BlockedURLError(f"refused {parts.scheme or 'schemeless'!s} URL: "
                                  "only http and https are fetched")
        host = (parts.hostname or "").lower().rstrip(".")
        if not host:
            raise BlockedURLError("refused URL without a host")
        if host not in self._names:
            self.checked_addresses(host)

    def checked_addresses(self, host: str) -> list[IPAddress]:
        """Resolve ``host`` and return its addresses if every one may be reached.

        Raises:
            BlockedURLError: if any address is refused.
            FetchError: if the name does not resolve.
        """
        host = host.lower().rstrip(".").strip("[]")
        try:
            addrs = [ipaddress.ip_address(host)]
        except ValueError:
            addrs = self._resolve(host)
        if host in self._names:
            return addrs
        for ip in addrs:
            why = _refusal(ip)
            if why and not self._allowed_ip(ip):
                raise BlockedURLError(f"refused {host}: resolves to {why} address {ip} "
                                      f"(allow it with {ALLOW_ENV})")
        return addrs


def _pinned_adapter(guard: UrlGuard, pool_size: int) -> HTTPAdapter:
    """An adapter whose connections go only to addresses the guard has just checked.

    The check before a request resolves the host once; without pinning, the socket
    connect would resolve it again, and a DNS-rebinding host could answer a private
    address the second time. Here the connect itself resolves through the guard and
    dials the checked address (TLS still verifies the certificate for the host name).
    """
    class _Pinned:
        def _new_conn(self):  # urllib3 dials ``_dns_host``; SNI and Host use ``host``
            self._dns_host = str(guard.checked_addresses(self.host)[0])
            return super()._new_conn()

    class _HTTPConn(_Pinned, HTTPConnection):
        pass

    class _HTTPSConn(_Pinned, HTTPSConnection):
        pass

    class _HTTPPool(HTTPConnectionPool):
        ConnectionCls = _HTTPConn

    class _HTTPSPool(HTTPSConnectionPool):
        ConnectionCls = _HTTPSConn

    class _Adapter(HTTPAdapter):
        def init_poolmanager(self, *args, **kwargs) -> None:
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool,
                                                       "https": _HTTPSPool}

    return _Adapter(pool_connections=16, pool_maxsize=max(pool_size, 1))


@dataclass(frozen=True)
class FetchLimits:
    """Timeouts, retries and caps of a :class:`Fetcher`."""

    connect_timeout_s: float = 5.0
    read_timeout_s: float = 30.0
    retries: int = 2
    backoff_s: float = 0.25
    max_retry_after_s: float = 30.0
    max_redirects: int = 5
    per_host: int = DEFAULT_WORKERS
    image_max_bytes: int = IMAGE_MAX_BYTES
    video_max_bytes: int = VIDEO_MAX_BYTES


@dataclass(frozen=True)
class Download:
    """A downloaded file (in the caller's folder), hashed while it streamed."""

    path: Path
    sha256: str
    size: int
    final_url: str


class Fetcher:
    """HTTP client for downloads and API calls, shared by the job's worker threads."""

    def __init__(self, guard: UrlGuard | None = None, limits: FetchLimits | None = None, *,
                 pool_size: int = DEFAULT_WORKERS,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.guard = guard or UrlGuard.from_env()
        self.limits = limits or FetchLimits()
        self.sleep = sleep
        self.session = requests.Session()
        self.session.trust_env = False  # no proxies from the environment
        adapter = _pinned_adapter(self.guard, pool_size)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self._slots: dict[str, threading.BoundedSemaphore] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        self.session.close()

    def _slot(self, url: str) -> threading.BoundedSemaphore:
        host = (urlsplit(url).hostname or "").lower()
        with self._lock:
            return self._slots.setdefault(host, threading.BoundedSemaphore(self.limits.per_host))

    def _attempt(self, slot: threading.BoundedSemaphore, url: str, *,
                 params: dict[str, Any] | None, headers: dict[str, str] | None,
                 stream: bool) -> requests.Response | str:
        """One try in one of the host's slots.

        Returns:
            The response, its slot still held, or why the try failed (slot released).
        """
        slot.acquire()
        try:
            return self._follow(url, params=params, headers=headers, stream=stream)
        except BaseException as exc:
            slot.release()
            if isinstance(exc, requests.Timeout):
                return "timed out"
            if isinstance(exc, requests.ConnectionError):
                return "connection failed" + (": refused" if "refused" in str(exc) else "")
            if isinstance(exc, requests.RequestException):
                raise FetchError(f"request failed: {type(exc).__name__}") from None
            raise

    def _follow(self, url: str, *, params: dict[str, Any] | None,
                headers: dict[str, str] | None, stream: bool) -> requests.Response:
        """One request, following redirects by hand so each hop passes the guard."""
        timeout = (self.limits.connect_timeout_s, self.limits.read_timeout_s)
        for _ in range(self.limits.max_redirects + 1):
            self.guard.check(url)
            resp = self.session.get(url, params=params, headers=headers, stream=stream,
                                    timeout=timeout, allow_redirects=False)
            location = resp.headers.get("Location")
            if resp.status_code not in _REDIRECTS or not location:
                return resp
            resp.close()
            url, params = urljoin(resp.url, location), None
        raise FetchError(f"more than {self.limits.max_redirects} redirects")

    def _wait_s(self, resp: requests.Response | None, attempt: int) -> float:
        wait = self.limits.backoff_s * (2 ** attempt)
        if resp is not None and resp.headers.get("Retry-After", "").strip().isdigit():
            wait = float(resp.headers["Retry-After"])
        return min(wait, self.limits.max_retry_after_s)

    @contextmanager
    def request(self, url: str, *, params: dict[str, Any] | None = None,
                headers: dict[str, str] | None = None, stream: bool = False,
                retry_status: bool = True) -> Iterator[requests.Response]:
        """GET with retries on connection errors, timeouts, 429 (Retry-After) and 5xx.

        Use as ``with fetcher.request(url) as resp:``. The response holds one of its
        host's ``limits.per_host`` slots until the block ends, so a streamed body counts
        against the limit until it is read, not only until its headers arrive.

        Raises:
            BlockedURLError: if the guard refuses the URL or a redirect.
            FetchError: if every attempt failed (message without secrets).
        """
        slot, last = self._slot(url), "no attempt"
        for attempt in range(self.limits.retries + 1):
            final = attempt == self.limits.retries
            got = self._attempt(slot, url, params=params, headers=headers, stream=stream)
            if isinstance(got, str):
                last, wait = got, self._wait_s(None, attempt)
            elif final or not (retry_status and (got.status_code == 429
                                                 or got.status_code >= 500)):
                try:
                    yield got
                finally:
                    got.close()
                    slot.release()
                return
            else:
                last, wait = f"HTTP {got.status_code}", self._wait_s(got, attempt)
                got.close()
                slot.release()
            if not final:
                self.sleep(wait)
        host = urlsplit(url).hostname
        raise FetchError(f"{host}: {last} after {self.limits.retries + 1} attempts")

    def get_json(self, url: str, *, params: dict[str, Any] | None = None,
                 retry_status: bool = True) -> tuple[int, Any]:
        """Status and parsed JSON body of a GET (4xx bodies included, for API errors).

        Raises:
            FetchError: on network failure or a body that is not JSON.
        """
        with self.request(url, params=params, retry_status=retry_status) as resp:
            try:
                return resp.status_code, resp.json()
            except ValueError:
                raise FetchError(f"{urlsplit(url).hostname}: HTTP {resp.status_code}, "
                                 "answer is not JSON", status=resp.status_code) from None

    def get_text(self, url: str, *, max_bytes: int = TEXT_MAX_BYTES) -> bytes:
        """Body of a GET (feeds), at most ``max_bytes``.

        Raises:
            FetchError: on a non-200 answer, a too large body or network failure.
        """
        with self.request(url, stream=True) as resp:
            if resp.status_code != 200:
                raise FetchError(f"HTTP {resp.status_code} from {redact(url)}",
                                 status=resp.status_code)
            data = bytearray()
            for block in resp.iter_content(_CHUNK):
                data += block
                if len(data) > max_bytes:
                    raise FetchError(f"{redact(url)} is larger than {max_bytes // MB} MB")
            return bytes(data)

    def download(self, url: str, folder: Path, *,
                 on_bytes: Callable[[int], None] | None = None) -> Download:
        """Stream ``url`` into a new file in ``folder`` while hashing it.

        The cap is the video cap until the first bytes show an image (then the image cap).

        Raises:
            BlockedURLError, FetchError: refused, unreachable, non-200, or over the cap.
        """
        from ingest.media import sniff_kind

        with self.request(url, stream=True) as resp:
            if resp.status_code != 200:
                raise FetchError(f"HTTP {resp.status_code}", status=resp.status_code)
            declared = resp.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > self.limits.video_max_bytes:
                raise FetchError(f"{int(declared) // MB} MB is over the "
                                 f"{self.limits.video_max_bytes // MB} MB cap")
            fd, tmp = tempfile.mkstemp(dir=folder, prefix="dl-")
            try:
                h, size, cap = hashlib.sha256(), 0, self.limits.video_max_bytes
                with os.fdopen(fd, "wb") as fh:
                    for block in resp.iter_content(_CHUNK):
                        if size == 0 and sniff_kind(block) == "image":
                            cap = self.limits.image_max_bytes
                        size += len(block)
                        if size > cap:
                            raise FetchError(f"larger than the {cap // MB} MB cap")
                        fh.write(block)
                        h.update(block)
                        if on_bytes:
                            on_bytes(len(block))
                return Download(Path(tmp), h.hexdigest(), size, resp.url)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
