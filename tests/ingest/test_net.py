"""URL guard and downloads, against a server on 127.0.0.1 only."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from ingest.net import (
    BlockedURLError,
    Fetcher,
    FetchError,
    FetchLimits,
    UrlGuard,
    redact,
)
from tests.ingest.conftest import Reply, jpeg_bytes


def _resolver(table: dict[str, list[str]], calls: list[str] | None = None):
    def resolve(host: str) -> list[str]:
        if calls is not None:
            calls.append(host)
        if host not in table:
            raise OSError(f"unknown host {host}")
        return table[host]
    return resolve


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://127.0.0.1/x", "gopher://a/b",
                                 "javascript:alert(1)", "http:///nohost"])
def test_guard_refuses_other_schemes_and_hostless(url: str) -> None:
    with pytest.raises(BlockedURLError):
        UrlGuard(["127.0.0.1"]).check(url)


@pytest.mark.parametrize("addr", ["127.0.0.1", "10.0.0.1", "172.16.5.4", "192.168.1.1",
                                  "169.254.169.254", "0.0.0.0", "::1", "fe80::1",
                                  "::ffff:10.0.0.1", "fc00::1", "224.0.0.1", "240.0.0.1"])
def test_guard_refuses_non_public_addresses_after_resolution(addr: str) -> None:
    guard = UrlGuard(resolver=_resolver({"cdn.example": [addr]}))
    with pytest.raises(BlockedURLError, match=r"refused cdn\.example"):
        guard.check("https://cdn.example/a.jpg")


def test_guard_refuses_when_any_resolved_address_is_private() -> None:
    guard = UrlGuard(resolver=_resolver({"mixed.example": ["93.184.216.34", "10.1.2.3"]}))
    with pytest.raises(BlockedURLError, match=r"10\.1\.2\.3"):
        guard.check("http://mixed.example/")


def test_guard_accepts_public_addresses_and_allow_list() -> None:
    guard = UrlGuard(["127.0.0.1", "10.9.0.0/16", "intranet.local"],
                     resolver=_resolver({"cdn.example": ["93.184.216.34"],
                                         "files.corp": ["10.9.3.4"]}))
    guard.check("https://cdn.example/a.jpg")
    guard.check("http://127.0.0.1:8080/x.jpg")
    guard.check("http://files.corp/x.jpg")
    guard.check("http://intranet.local/x.jpg")
    with pytest.raises(BlockedURLError):
        guard.check("http://127.0.0.2/x.jpg")  # loopback, but not the allowed address


def test_guard_allow_list_from_environment() -> None:
    guard = UrlGuard.from_env({"BRANDMOOD_ALLOW_HOSTS": " 127.0.0.1 , ,10.0.0.0/8"})
    guard.check("http://127.0.0.1/a")
    guard.check("http://10.2.3.4/a")
    with pytest.raises(BlockedURLError):
        UrlGuard.from_env({}).check("http://127.0.0.1/a")


def test_redirect_to_refused_host_is_blocked_before_connecting(server, tmp_path: Path) -> None:
    calls: list[str] = []
    guard = UrlGuard(["127.0.0.1"], resolver=_resolver(
        {"metadata.internal": ["169.254.169.254"], "corp.internal": ["10.0.0.1"]}, calls))
    fetcher = Fetcher(guard, FetchLimits(retries=0))
    for target in ("http://metadata.internal/latest/meta-data/", "http://corp.internal/x.jpg"):
        url = server.route(f"/r{len(calls)}", Reply(302, b"", {"Location": target}))
        with pytest.raises(BlockedURLError, match="refused"):
            fetcher.download(url, tmp_path)
    assert calls == ["metadata.internal", "corp.internal"]
    assert not list(tmp_path.iterdir())  # nothing downloaded


def test_redirect_within_allowed_host_is_followed(server, fetcher, tmp_path: Path) -> None:
    data = jpeg_bytes(1)
    server.serve_file("/final.jpg", data)
    url = server.route("/start", Reply(301, b"", {"Location": "/final.jpg"}))
    dl = fetcher.download(url, tmp_path)
    assert dl.path.read_bytes() == data and dl.size == len(data)
    assert dl.final_url.endswith("/final.jpg")


def test_retries_5xx_then_succeeds(server, fetcher, tmp_path: Path) -> None:
    data, answers = jpeg_bytes(2), iter([Reply(503), Reply(502)])
    server.route("/flaky.jpg", lambda q: next(answers, Reply(200, data)))
    dl = fetcher.download(server.url("/flaky.jpg"), tmp_path)
    assert dl.path.read_bytes() == data
    assert server.hits["/flaky.jpg"] == 3


def test_429_honours_retry_after_and_gives_up_after_bounded_retries(server, tmp_path) -> None:
    waits: list[float] = []
    f = Fetcher(UrlGuard(["127.0.0.1"]), FetchLimits(retries=2, max_retry_after_s=30),
                sleep=waits.append)
    server.route("/busy.jpg", Reply(429, b"slow down", {"Retry-After": "7"}))
    with pytest.raises(FetchError, match="HTTP 429"):
        f.download(server.url("/busy.jpg"), tmp_path)
    assert waits == [7.0, 7.0]
    assert server.hits["/busy.jpg"] == 3


def test_dead_url_fails_with_reason(fetcher, tmp_path: Path) -> None:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    with pytest.raises(FetchError, match="connection failed"):
        fetcher.download(f"http://127.0.0.1:{port}/gone.jpg", tmp_path)


def test_timeout_fails_with_reason(server, tmp_path: Path) -> None:
    f = Fetcher(UrlGuard(["127.0.0.1"]),
                FetchLimits(read_timeout_s=0.2, retries=1, backoff_s=0.01))
    server.route("/slow.jpg", Reply(200, jpeg_bytes(3), delay_s=1.0))
    with pytest.raises(FetchError, match="timed out"):
        f.download(server.url("/slow.jpg"), tmp_path)


def test_size_cap_by_detected_type(server, tmp_path: Path) -> None:
    data = jpeg_bytes(4, size=400)
    f = Fetcher(UrlGuard(["127.0.0.1"]), FetchLimits(image_max_bytes=len(data) // 2))
    server.serve_file("/big.jpg", data, "application/octet-stream")
    with pytest.raises(FetchError, match="cap"):
        f.download(server.url("/big.jpg"), tmp_path)
    assert not list(tmp_path.iterdir())  # the partial file is gone


def test_per_host_concurrency_limit(server, tmp_path: Path) -> None:
    """Eight downloads from one host with a per-host limit of two: exactly two at a time.

    The server counts a request open until just before its last body byte (inside the
    client's span), so ``peak`` cannot exceed what the fetcher had open: no timing can
    make a correct fetcher fail. Each request waits until two are open (or all eight
    have arrived), so a correct fetcher always reaches two. The answer stalls between
    headers and body: a fetcher that frees the slot at the headers lets more in.
    """
    n, limit, data = 8, 2, jpeg_bytes(5)

    def gate(_query) -> Reply:
        with server.changed:
            server.changed.wait_for(lambda: server.active >= limit
                                    or server.hits["/a.jpg"] == n, timeout=60)
        return Reply(200, data, {"Content-Type": "image/jpeg"}, stall_s=0.05)

    server.route("/a.jpg", gate)
    f = Fetcher(UrlGuard(["127.0.0.1"]), FetchLimits(per_host=limit), pool_size=n)
    done: list[int] = []
    threads = [threading.Thread(target=lambda: done.append(
        f.download(server.url("/a.jpg"), tmp_path).size)) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert done == [len(data)] * n
    assert server.hits["/a.jpg"] == n
    assert server.peak == limit


def test_redact_hides_tokens() -> None:
    url = "https://graph.example/v1/me/media?fields=id&access_token=SECRET123&key=K2"
    out = redact(url)
    assert "SECRET123" not in out and "K2" not in out and "fields=id" in out


def test_connection_dials_the_address_the_guard_checked(server, tmp_path: Path) -> None:
    """The socket goes to the guard's resolution, not to a second system lookup."""
    data = jpeg_bytes(3)
    server.serve_file("/pinned.jpg", data)
    port = server.url("/").split(":")[2].split("/")[0]
    guard = UrlGuard(["127.0.0.1"], resolver=_resolver({"cdn.test": ["127.0.0.1"]}))
    dl = Fetcher(guard, FetchLimits(retries=0)).download(
        f"http://cdn.test:{port}/pinned.jpg", tmp_path)
    assert dl.path.read_bytes() == data


def test_dns_rebinding_between_check_and_connect_is_refused(tmp_path: Path) -> None:
    """A name that answers public first and private on the next lookup never connects."""
    answers = iter([["93.184.216.34"], ["10.0.0.1"]])
    calls: list[str] = []

    def rebinding(host: str) -> list[str]:
        calls.append(host)
        return next(answers, ["10.0.0.1"])

    fetcher = Fetcher(UrlGuard(resolver=rebinding), FetchLimits(retries=0))
    with pytest.raises(BlockedURLError, match=r"10\.0\.0\.1"):
        fetcher.download("http://rebind.example/a.jpg", tmp_path)
    assert calls == ["rebind.example", "rebind.example"]
    assert not list(tmp_path.iterdir())
