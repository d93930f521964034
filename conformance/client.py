"""SuiteClient: every HTTP request of a case, captured as redacted evidence, sent once, bounded by the timeout.

Why each rule:
- The request under test is never retried: a retry would judge a different exchange than the one sent first, and
  would hide the very behaviour (a reset, a 503) a reader needs to see. 429/503 to it raise RateLimited (an error
  verdict, not a FAIL); setup requests alone may be retried on 429/503, honouring Retry-After.
- Redaction happens at capture: what a case records can be written anywhere without a second thought.
- One httpx.Client per process (thread-safe, connection reuse), `follow_redirects=False` (a redirect is an answer
  to judge, not to follow), no transport retries.
- Every exchange is bounded, because the target is hostile input: a total deadline of QODER_TIMEOUT seconds for
  connect + send + the whole response (httpx's timeouts are per read, so a server dripping a byte a second would
  never time out: every socket operation here gets at most the time left), a body cap of QODER_MAX_RESPONSE_BYTES
  read in streamed chunks (a 200 MB or endless body never sits in memory), and a JSON nesting-depth check before
  any decoder sees the body. Each breach is a HarnessError (an error verdict, never a FAIL) saying which bound.
"""

from __future__ import annotations

import base64
import email.utils
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpcore
import httpx

import conformance
from conformance import evidence
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
from conformance.evidence import Exchange, Redactor, Secret
from conformance.paths import endpoint_request, work_path

USE_PAT: Any = type("UsePat", (), {"__repr__": lambda self: "USE_PAT"})()  # sentinel: send the configured PAT
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
RATE_LIMIT_STATUSES = frozenset({429, 503})
GATEWAY_STATUSES = frozenset({502, 504})
SETUP_TRIES = 3
MAX_RETRY_SLEEP_S = 5.0
USER_AGENT = f"qoder-work-conformance/{conformance.__version__}"

Recorder = Callable[[Exchange], None]


class TokenBucket:
    """`rate` requests per second with a burst of one second's worth; rate 0 means no limit."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self._tokens = self.capacity
        self._clock = clock
        self._last = clock()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take one token, sleeping until one is available; returns the seconds waited."""
        if self.rate <= 0:
            return 0.0
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
                self._last = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return waited
                pause = (1 - self._tokens) / self.rate
            time.sleep(pause)
            waited += pause


class RateLimiter:
    """Client-side limits for writes and reads; under xdist each worker gets its share of the configured rate."""

    def __init__(self, write_rate: float, read_rate: float, workers: int | None = None) -> None:
        if workers is None:
            workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
        share = max(1, workers)
        self.writes = TokenBucket(write_rate / share)
        self.reads = TokenBucket(read_rate / share)

    @classmethod
    def for_settings(cls, settings: Settings) -> RateLimiter:
        if settings.embedded:
            return cls(0, 0)
        return cls(settings.write_rate, settings.read_rate)

    def acquire(self, method: str) -> None:
        (self.reads if method.upper() in READ_METHODS else self.writes).acquire()


# ------------------------------------------------------------------------------------------- the total deadline

_deadline = threading.local()  # `.at`: time.monotonic() by which the current thread's exchange must be over


class _DeadlineExpired(Exception):
    """Raised inside the network layer; httpcore maps it to nothing, so it arrives as itself."""


def _time_left(timeout: float | None) -> float | None:
    """The per-operation timeout httpcore asked for, shortened to what is left of the exchange's deadline."""
    at = getattr(_deadline, "at", None)
    if at is None:
        return timeout
    left = at - time.monotonic()
    if left <= 0:
        raise _DeadlineExpired()
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A socket stream whose every read and write ends by the exchange's deadline (headers and body alike)."""

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _time_left(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _time_left(timeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None) -> Any:
        return _DeadlineStream(self._stream.start_tls(ssl_context, server_hostname, _time_left(timeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's own synchronous backend, with streams bounded by the deadline of the thread's exchange."""

    def __init__(self) -> None:
        self._backend = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        stream = self._backend.connect_tcp(host, port, _time_left(timeout), local_address, socket_options)
        return _DeadlineStream(stream)

    def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options: Any = None) -> Any:
        return _DeadlineStream(self._backend.connect_unix_socket(path, _time_left(timeout), socket_options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


def bounded_transport(limits: httpx.Limits) -> httpx.HTTPTransport:
    """An HTTPTransport whose sockets honour the per-exchange deadline. httpx has no public way to hand its
    connection pool a network backend, so it is set on the pool it built (tests/test_client.py proves it works)."""
    transport = httpx.HTTPTransport(retries=0, limits=limits)
    pool = getattr(transport, "_pool", None)
    if pool is None or not hasattr(pool, "_network_backend"):
        raise RuntimeError("this httpx/httpcore version has no connection pool to bound (the suite needs httpcore 1.x)")
    pool._network_backend = _DeadlineBackend()
    return transport


_shared_lock = threading.Lock()
_shared: dict[float, httpx.Client] = {}


def shared_http_client(timeout_s: float) -> httpx.Client:
    """The process's one httpx.Client for a timeout (in practice there is one timeout per run)."""
    with _shared_lock:
        client = _shared.get(timeout_s)
        if client is None or client.is_closed:
            client = httpx.Client(
                timeout=httpx.Timeout(timeout_s),
                follow_redirects=False,
                transport=bounded_transport(httpx.Limits(max_connections=64, max_keepalive_connections=16)),
                trust_env=False,
            )
            _shared[timeout_s] = client
        return client


def close_shared_clients() -> None:
    with _shared_lock:
        for client in _shared.values():
            client.close()
        _shared.clear()


class SuiteClient:
    """The HTTP client of one case (or of preflight/cleanup), appending every exchange to `recorder`."""

    def __init__(
        self,
        settings: Settings,
        recorder: Recorder,
        redactor: Redactor,
        limiter: RateLimiter | None = None,
        *,
        http: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self._record = recorder
        self._redactor = redactor
        self._limiter = limiter or RateLimiter(0, 0)
        self._http = http or shared_http_client(settings.timeout_s)
        self._sleep = sleep

    # ------------------------------------------------------------------------------------------ the fixture API

    def stop(
        self,
        environment_id: str,
        work_id: str,
        *,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        token: Any = USE_PAT,
    ) -> httpx.Response:
        """The request under test: POST .../work/{work_id}/stop, sent exactly once."""
        path = work_path(environment_id, work_id, "/stop")
        return self.request("POST", path, role=evidence.UNDER_TEST, content=content, headers=headers, token=token)

    def get(self, environment_id: str, work_id: str) -> httpx.Response:
        """The read-back GET of an item (never the request under test; see `call("get", ...)` for that)."""
        return self.request("GET", work_path(environment_id, work_id), role=evidence.READ_BACK)

    def call(
        self,
        endpoint: str,
        environment_id: str,
        work_id: str | None = None,
        *,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        token: Any = USE_PAT,
        role: str = evidence.UNDER_TEST,
    ) -> httpx.Response:
        """One request to a work endpoint (paths.ENDPOINT_ROUTES: `list`, `poll`, `get`, `update_metadata`, `ack`,
        `heartbeat`, `stop`, `stats`), by default as the request under test: sent exactly once."""
        method, path = endpoint_request(endpoint, environment_id, work_id)
        return self.request(method, path, role=role, content=content, headers=headers, token=token, params=params)

    def request(
        self,
        method: str,
        path: str,
        *,
        role: str,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        token: Any = USE_PAT,
        params: Mapping[str, Any] | None = None,
    ) -> httpx.Response:
        """Any request; `path` is relative to `{base_url}/api/v1/cloud`."""
        return self.absolute(
            method, self.settings.api_root + path, role=role, content=content, headers=headers, token=token,
            params=params,
        )  # fmt: skip

    def absolute(
        self,
        method: str,
        url: str,
        *,
        role: str,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        token: Any = USE_PAT,
        params: Mapping[str, Any] | None = None,
    ) -> httpx.Response:
        """A request to a full URL (the hook). Setup requests are retried on 429/503; nothing else ever is."""
        tries = SETUP_TRIES if role == evidence.SETUP else 1
        for attempt in range(1, tries + 1):
            request = self._build(method, url, content=content, headers=headers, token=token, params=params)
            response = self._send_once(request, role, sent_body=content is not None)
            if response.status_code not in RATE_LIMIT_STATUSES:
                break
            if attempt < tries:
                self._sleep(retry_delay(response, attempt))
        if role in (evidence.UNDER_TEST, evidence.READ_BACK):
            self._refuse_non_answers(response, role)
        return response

    def redact(self, text: str) -> str:
        """Text with every configured secret replaced by its ${NAME} reference (for messages built from answers)."""
        return self._redactor.text(text)

    # ------------------------------------------------------------------------------------------------ internals

    def _build(
        self,
        method: str,
        url: str,
        *,
        content: bytes | None,
        headers: Mapping[str, str] | None,
        token: Any,
        params: Mapping[str, Any] | None,
    ) -> httpx.Request:
        sent = httpx.Headers({"User-Agent": USER_AGENT})
        bearer = self.settings.pat if token is USE_PAT else token
        if bearer is not None:
            sent["Authorization"] = f"Bearer {evidence.reveal(bearer)}"  # the one place a token is revealed to send
        if headers:
            for name, value in headers.items():
                # Case-insensitive: a caller's Authorization replaces ours. Surrounding white space is not part of a
                # field value (RFC 9110 5.5) and h11 refuses to send it, so "Bearer " goes out as "Bearer".
                plain = value.reveal() if isinstance(value, Secret) else value
                sent[name] = plain.strip(" \t")
        try:
            return self._http.build_request(method, url, content=content, headers=sent, params=params)
        except (httpx.InvalidURL, httpx.LocalProtocolError, ValueError) as error:
            # E.g. an ID from a hook answer that holds a line break: refused here, as a harness error (never a
            # crash that would skip the other items' cleanup), and never sent.
            what = self._redactor.text(f"{method} {url!r}: {error}")
            raise HarnessError(f"request not built: {what}") from None

    def _send_once(self, request: httpx.Request, role: str, *, sent_body: bool) -> httpx.Response:
        self._limiter.acquire(request.method)
        exchange = self._exchange(request, role, request.content if sent_body else None)
        exchange.started_at = time.monotonic()
        _deadline.at = exchange.started_at + self.settings.timeout_s
        try:
            response = self._http.send(request, stream=True)
            try:
                self._read_body(response, exchange)
            finally:
                response.close()
        except httpx.LocalProtocolError as error:
            exchange.error = f"request not sent: {self._redactor.text(str(error))}"
            self._record(exchange)
            raise HarnessError(f"the case built a request httpx cannot send: {exchange.error}") from None
        except (httpx.HTTPError, _DeadlineExpired) as error:
            self._finish(exchange)
            message = self._describe(error, exchange)
            exchange.error = message
            self._record(exchange)
            raise (DeadlineExceeded if self._past_deadline(exchange) else TargetUnreachable)(message) from None
        except HarnessError as error:  # a bound of the body was breached: keep what was seen, then refuse
            self._finish(exchange)
            exchange.error = str(error)
            self._record(exchange)
            raise
        finally:
            _deadline.at = None
        self._finish(exchange)
        exchange.response_body = self._redact_optional(evidence.body_text(response.content))
        self._record(exchange)
        if evidence.json_depth_exceeds(response.content):
            raise ResponseTooDeep(
                f"{self._where(response)} answered a body nested deeper than {evidence.MAX_JSON_DEPTH} levels: not "
                "decoded (a Work item or an error envelope is a few levels deep)"
            )
        return response

    def _read_body(self, response: httpx.Response, exchange: Exchange) -> None:
        """Stream the (decoded) body in chunks, refusing it past the size cap; it is then kept as the response's
        content, so `.content`, `.text` and `.json()` work as on any read response."""
        exchange.status = response.status_code
        exchange.response_headers = self._redactor.headers(
            (name.decode("latin-1"), value.decode("latin-1")) for name, value in response.headers.raw
        )
        cap = self.settings.max_response_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            raise ResponseTooLarge(self._too_large(response, f"declares Content-Length {int(declared)}"))
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > cap:
                raise ResponseTooLarge(self._too_large(response, "sent more"))
            chunks.append(chunk)
            _time_left(None)  # between chunks too: a body that never ends must still end by the deadline
        response._content = b"".join(chunks)  # what Response.read() itself stores; the stream is consumed

    def _too_large(self, response: httpx.Response, what: str) -> str:
        cap = self.settings.max_response_bytes
        return (
            f"{self._where(response)} answered {response.status_code} with a body larger than the cap of {cap} bytes "
            f"(it {what}; QODER_MAX_RESPONSE_BYTES raises the cap): the body was not read further"
        )

    def _where(self, response: httpx.Response) -> str:
        return f"{response.request.method} {self._redactor.text(str(response.request.url))}"

    def _past_deadline(self, exchange: Exchange) -> bool:
        return exchange.finished_at - exchange.started_at >= self.settings.timeout_s

    @staticmethod
    def _finish(exchange: Exchange) -> None:
        exchange.finished_at = time.monotonic()
        exchange.duration_ms = (exchange.finished_at - exchange.started_at) * 1000

    def _exchange(self, request: httpx.Request, role: str, raw_body: bytes | None) -> Exchange:
        body_text: str | None = None
        body_base64: str | None = None
        if raw_body is not None:
            try:
                body_text = self._redactor.text(raw_body.decode("utf-8"))
            except UnicodeDecodeError:
                body_text = self._redactor.text(evidence.body_text(raw_body) or "")
                # latin-1 maps bytes 1:1, so a token (ASCII) is replaced before the exact bytes are encoded.
                redacted_bytes = self._redactor.text(raw_body.decode("latin-1")).encode("latin-1", "replace")
                body_base64 = base64.b64encode(redacted_bytes).decode("ascii")
        return Exchange(
            role=role,
            method=request.method,
            url=self._redactor.text(str(request.url)),
            request_headers=self._redactor.headers(
                (name.decode("latin-1"), value.decode("latin-1")) for name, value in request.headers.raw
            ),
            request_body=body_text,
            request_body_base64=body_base64,
        )

    def _redact_optional(self, text: str | None) -> str | None:
        return None if text is None else self._redactor.text(text)

    def _describe(self, error: Exception, exchange: Exchange) -> str:
        where = f"{exchange.method} {exchange.url}"
        timeout = f"{self.settings.timeout_s:g} s"
        if isinstance(error, _DeadlineExpired) or (
            isinstance(error, httpx.TimeoutException) and self._past_deadline(exchange)
        ):
            what = (
                f"no answer within {timeout}: the total deadline of a request (connect + send + the whole "
                "response; QODER_TIMEOUT) ran out"
            )
        elif isinstance(error, httpx.ConnectTimeout):
            what = f"could not connect within {timeout} (connect timeout)"
        elif isinstance(error, httpx.TimeoutException):
            what = f"no answer within {timeout} ({error.__class__.__name__.replace('Timeout', ' timeout').lower()})"
        elif isinstance(error, httpx.ConnectError):
            what = f"connection refused or failed: could not connect ({self._redactor.text(str(error))})"
        elif isinstance(error, httpx.RemoteProtocolError):
            what = f"the connection was closed without a valid response ({self._redactor.text(str(error))})"
        elif isinstance(error, (httpx.ReadError, httpx.WriteError)):
            what = f"the connection was reset or closed ({self._redactor.text(str(error)) or 'connection reset'})"
        else:
            what = f"transport error {error.__class__.__name__}: {self._redactor.text(str(error))}"
        return f"target unreachable: {where}: {what}"

    def _refuse_non_answers(self, response: httpx.Response, role: str) -> None:
        """Answers that come from a gateway or limiter, not from the API: no conformance verdict can rest on them."""
        status = response.status_code
        where = self._where(response)
        if status in RATE_LIMIT_STATUSES:
            raise RateLimited(
                f"rate limited: {where} answered {status} (a gateway or rate limit); the {role.replace('_', ' ')} "
                "request is never retried, so this case has no verdict. Lower QODER_WRITE_RATE / QODER_READ_RATE."
            )
        media_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if status in GATEWAY_STATUSES and not media_type.endswith("json"):
            raise UnexpectedResponse(
                f"{where} answered {status} ({'Bad Gateway' if status == 502 else 'Gateway Timeout'}) with a "
                f"{media_type or 'untyped'} body, not an API answer (a gateway or proxy error, e.g. an HTML page)"
            )


def retry_delay(response: httpx.Response, attempt: int) -> float:
    """Retry-After (seconds or an HTTP date) when given, else exponential backoff; capped either way."""
    header = response.headers.get("retry-after")
    delay = 0.25 * 2 ** (attempt - 1)
    if header:
        header = header.strip()
        if header.isdigit():
            delay = float(header)
        else:
            try:
                when = email.utils.parsedate_to_datetime(header)
                delay = when.timestamp() - time.time()
            except (TypeError, ValueError, IndexError):
                pass
    return max(0.0, min(delay, MAX_RETRY_SLEEP_S))
