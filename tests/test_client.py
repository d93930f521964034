"""SuiteClient: redaction at capture, never a retry of the request under test, setup retries, transport errors."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from misbehaving_servers import DEEP_JSON, Drip, Flood, MisbehavingServer, always

from conformance import evidence
from conformance.client import RateLimiter, SuiteClient, TokenBucket, retry_delay
from conformance.config import Settings
from conformance.errors import (
    DeadlineExceeded,
    HarnessError,
    RateLimited,
    ResponseTooDeep,
    ResponseTooLarge,
    TargetUnreachable,
    UnexpectedResponse,
)
from conformance.evidence import Redactor, Secret

TOKEN = "pt-client-test-5f2a9c0b7e13d4a8"


class FakeServer:
    """A loopback HTTP server whose every answer comes from `answer(handler) -> (status, headers, body)`."""

    def __init__(self, answer: Callable[[BaseHTTPRequestHandler], tuple[int, dict[str, str], bytes]]) -> None:
        self.hits = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                outer.hits += 1
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                status, headers, body = answer(self)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _any

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def make_client(base_url: str, *, timeout_s: float = 2.0, transport=None, sleep=time.sleep, max_bytes=4 * 1024**2):
    settings = Settings(base_url=base_url, pat=Secret(TOKEN), environment_id="env_1", provisioner="hook",
                        timeout_s=timeout_s, max_response_bytes=max_bytes)  # fmt: skip
    exchanges: list[evidence.Exchange] = []
    http = httpx.Client(transport=transport, timeout=timeout_s, follow_redirects=False) if transport else None
    client = SuiteClient(settings, exchanges.append, Redactor(settings.secrets()), RateLimiter(0, 0), http=http,
                         sleep=sleep)  # fmt: skip
    return client, exchanges


@pytest.fixture
def hanging_port() -> Iterator[int]:
    """A listener that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    yield listener.getsockname()[1]
    listener.close()


def test_secrets_are_redacted_at_capture() -> None:
    def echo(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"echo": request.content.decode(errors="replace"), "url": str(request.url)})

    client, exchanges = make_client("http://target.test", transport=httpx.MockTransport(echo))
    client.request("POST", f"/x?token={TOKEN}", role=evidence.SETUP, content=f'{{"t": "{TOKEN}"}}'.encode())
    client.stop("env_1", "work_1", content=b"\xff" + TOKEN.encode())
    dumped = repr([exchange.to_dict() for exchange in exchanges])
    assert TOKEN not in dumped
    first = exchanges[0]
    assert first.request_headers["Authorization"] == "Bearer ${QODER_PAT}"
    assert "${QODER_PAT}" in first.url and "${QODER_PAT}" in first.request_body
    assert "${QODER_PAT}" in first.response_body
    assert exchanges[1].request_body_base64 is not None and exchanges[1].role == evidence.UNDER_TEST


def test_token_none_and_caller_authorization() -> None:
    seen: list[str | None] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization"))
        return httpx.Response(200, json={})

    client, _ = make_client("http://target.test", transport=httpx.MockTransport(record))
    client.stop("env_1", "w", token=None)
    client.stop("env_1", "w", token="pt-other")
    client.stop("env_1", "w", token=None, headers={"Authorization": "Bearer "})
    assert seen == [None, "Bearer pt-other", "Bearer"]


def test_under_test_is_never_retried_on_503() -> None:
    with FakeServer(lambda handler: (503, {"Retry-After": "0"}, b"busy")) as server:
        client, exchanges = make_client(server.base_url)
        with pytest.raises(RateLimited, match=r"rate limited: POST .* answered 503"):
            client.stop("env_1", "work_1", content=b"{}")
    assert server.hits == 1 and len(exchanges) == 1 and exchanges[0].status == 503


def test_setup_is_retried_on_429_honouring_retry_after() -> None:
    answers = iter([(429, {"Retry-After": "1"}, b""), (200, {"Content-Type": "application/json"}, b"{}")])
    slept: list[float] = []
    with FakeServer(lambda handler: next(answers)) as server:
        client, exchanges = make_client(server.base_url, sleep=slept.append)
        response = client.request("POST", "/sessions", role=evidence.SETUP, content=b"{}")
    assert response.status_code == 200 and server.hits == 2 and slept == [1.0]
    assert [e.status for e in exchanges] == [429, 200]


def test_setup_gives_up_after_three_tries() -> None:
    with FakeServer(lambda handler: (503, {}, b"")) as server:
        client, _ = make_client(server.base_url, sleep=lambda s: None)
        assert client.request("GET", "/x", role=evidence.SETUP).status_code == 503
    assert server.hits == 3


def test_gateway_html_to_the_request_under_test_is_an_unexpected_response() -> None:
    html = (502, {"Content-Type": "text/html"}, b"<html>Bad Gateway</html>")
    with FakeServer(lambda handler: html) as server:
        client, _ = make_client(server.base_url)
        with pytest.raises(UnexpectedResponse, match="502 \\(Bad Gateway\\) with a text/html body"):
            client.stop("env_1", "w", content=b"{}")


def test_timeout_raises_target_unreachable_within_the_timeout(hanging_port: int) -> None:
    client, exchanges = make_client(f"http://127.0.0.1:{hanging_port}", timeout_s=0.5)
    started = time.monotonic()
    with pytest.raises(TargetUnreachable, match=r"no answer within 0.5 s"):
        client.stop("env_1", "w", content=b"{}")
    assert time.monotonic() - started < 2.0
    assert exchanges[0].error and exchanges[0].status is None


def test_connection_refused_raises_target_unreachable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client, exchanges = make_client(f"http://127.0.0.1:{port}")
    with pytest.raises(TargetUnreachable, match="connection refused"):
        client.get("env_1", "w")
    assert len(exchanges) == 1 and "refused" in exchanges[0].error


def test_exchanges_are_recorded_from_threads() -> None:
    client, exchanges = make_client("http://t.test", transport=httpx.MockTransport(lambda r: httpx.Response(200)))
    threads = [threading.Thread(target=client.stop, args=("env_1", "w")) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert len(exchanges) == 8 and all(e.finished_at >= e.started_at > 0 for e in exchanges)


def test_token_bucket_limits_the_rate() -> None:
    bucket = TokenBucket(20)
    started = time.monotonic()
    for _ in range(30):  # 20 burst, then 10 more at 20/s: about 0.5 s
        bucket.acquire()
    assert 0.35 < time.monotonic() - started < 1.5
    assert TokenBucket(0).acquire() == 0.0


def test_rate_is_shared_between_xdist_workers() -> None:
    limiter = RateLimiter(20, 50, workers=4)
    assert (limiter.writes.rate, limiter.reads.rate) == (5, 12.5)


def test_retry_delay_is_capped() -> None:
    assert retry_delay(httpx.Response(429, headers={"Retry-After": "3600"}), 1) == 5.0
    assert retry_delay(httpx.Response(429), 2) == 0.5


# ------------------------------------------------------------------------------------------------------- bounds


def test_a_dripping_body_ends_at_the_total_deadline() -> None:
    """One byte every 0.4 s: each read is far within the per-read timeout, only the total deadline ends it."""
    with MisbehavingServer(always(Drip(pause_s=0.4))) as server:
        client, exchanges = make_client(server.base_url, timeout_s=1.0)
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded, match=r"no answer within 1 s: the total deadline"):
            client.stop("env_1", "w", content=b"{}")
        elapsed = time.monotonic() - started
    assert elapsed < 10, f"a 1 s deadline took {elapsed:.1f} s"  # generous: the body alone would take 16 s
    assert isinstance(DeadlineExceeded("x"), HarnessError)
    assert exchanges[0].status == 200 and "total deadline" in (exchanges[0].error or "")


def test_slow_headers_end_at_the_total_deadline() -> None:
    """A server that drips its status line never completes the headers; the deadline bounds that part too."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    stop = threading.Event()

    def drip_headers() -> None:
        connection, _ = listener.accept()
        with connection:
            for byte in b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n":
                connection.sendall(bytes([byte]))
                if stop.wait(0.2):
                    return

    thread = threading.Thread(target=drip_headers, daemon=True)
    thread.start()
    try:
        client, _ = make_client(f"http://127.0.0.1:{listener.getsockname()[1]}", timeout_s=1.0)
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded):
            client.get("env_1", "w")
        assert time.monotonic() - started < 10
    finally:
        stop.set()
        listener.close()


@pytest.mark.parametrize(
    ("flood", "said"),
    [
        pytest.param(Flood(total=64 * 1024**2, declare_length=True), "declares Content-Length", id="declared"),
        pytest.param(Flood(total=None), "sent more", id="endless"),
    ],
)
def test_a_body_over_the_cap_is_refused_without_reading_it_all(flood: Flood, said: str) -> None:
    with MisbehavingServer(always(flood)) as server:
        client, exchanges = make_client(server.base_url, timeout_s=5.0, max_bytes=256 * 1024)
        with pytest.raises(ResponseTooLarge, match=rf"larger than the cap of 262144 bytes \(it {said}"):
            client.get("env_1", "w")
    assert "QODER_MAX_RESPONSE_BYTES" in (exchanges[0].error or "")
    assert isinstance(ResponseTooLarge("x"), HarnessError)


def test_deeply_nested_json_is_refused_before_any_decoder_sees_it() -> None:
    with MisbehavingServer(always(DEEP_JSON)) as server:
        client, exchanges = make_client(server.base_url)
        with pytest.raises(ResponseTooDeep, match="nested deeper than 64 levels"):
            client.get("env_1", "w")
    assert len(exchanges) == 1 and exchanges[0].status == 200


def test_json_depth_counts_brackets_outside_strings_only() -> None:
    assert not evidence.json_depth_exceeds(b'{"a": [1, {"b": "[[[[[[[[[[[[[[[[[[[["}]}', limit=3)
    assert evidence.json_depth_exceeds(b"[[[[]]]]", limit=3)
    assert not evidence.json_depth_exceeds(b"[[[]]]", limit=3)
    assert not evidence.json_depth_exceeds(b'["\\"", ["]]]]"]]', limit=2)
    assert not evidence.json_depth_exceeds(("[" * 60 + "]" * 60).encode())


def test_a_secret_never_renders_and_is_revealed_only_in_the_header() -> None:
    secret = Secret(TOKEN)
    assert TOKEN not in repr(secret) and TOKEN not in str(secret) and TOKEN not in f"{secret}"
    assert TOKEN not in repr({"pat": secret}) and secret.reveal() == TOKEN
    seen: list[str] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["authorization"])
        seen.append(request.headers["x-api-key"])
        return httpx.Response(200)

    client, _ = make_client("http://t.test", transport=httpx.MockTransport(record))
    client.stop("env_1", "w", headers={"x-api-key": secret})
    assert seen == [f"Bearer {TOKEN}", TOKEN]


def test_the_cap_counts_decoded_bytes_so_a_compression_bomb_is_refused() -> None:
    """10 MiB of zeros gzip to about 10 KiB: the declared length passes, the decoded body does not."""
    import gzip

    bomb = gzip.compress(b"0" * (10 * 1024**2))
    answer = (200, {"Content-Type": "application/json", "Content-Encoding": "gzip"}, bomb)
    with FakeServer(lambda handler: answer) as server:
        client, _ = make_client(server.base_url, max_bytes=1024**2)
        with pytest.raises(ResponseTooLarge, match="sent more"):
            client.get("env_1", "w")
