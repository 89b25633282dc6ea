"""HTTP layer shared by every backend: retries with exponential backoff honouring ``Retry-After`` on 429/5xx,
one token refresh on 401, and redirects followed by hand so that authorisation is re-attached to trusted hosts
(``requests`` drops ``Authorization`` when a redirect changes host or port).

Three clocks bound every request: a connect timeout (TCP/TLS set-up), a read timeout (longest silence of the
server, before its answer or in the middle of a body) and a total deadline covering all attempts, waits and the
body. Bodies are read in small ``read1`` steps with the socket timeout clamped to the time left, so a server
trickling bytes forever is cut at the deadline; each expiry is reported as its own one-line message."""

from __future__ import annotations

import argparse
import email.utils
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit, urlunsplit

import requests
import urllib3

from ..errors import ConfigError, DownloadError
from ..log import get_logger

log = get_logger("download")

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
USER_AGENT = "diapsar-download/0.1 (+https://github.com/diapsar)"
BODY_CHUNK = 1 << 16     # largest block handed out by one read of a body


class NetworkError(DownloadError):
    """No usable answer: unreachable host, connect or read timeout, cut transfer, deadline (after retries).

    ``absent``: the server refused, could not be connected to or never answered (not worth asking again in the
    same run), as opposed to a transfer that started and then failed."""

    def __init__(self, message: str, absent: bool = False):
        super().__init__(message)
        self.absent = absent


class DeadlineExceeded(NetworkError):
    """The total deadline of a request (all attempts, waits and its body) expired."""


class TransferStalled(NetworkError):
    """A body stopped arriving (read timeout) or was cut (reset, fewer bytes than announced); worth a retry."""


class Authorizer:
    """Supplies request headers carrying credentials; ``invalidate`` is called once after a 401."""

    def headers(self) -> dict[str, str]:
        return {}

    def invalidate(self) -> bool:
        """Forget the current credential; True when a new one can be obtained (worth retrying)."""
        return False


class _NoNetrcAuth(requests.auth.AuthBase):
    """Stops ``requests`` from silently sending ``~/.netrc`` passwords as HTTP Basic to any host."""

    def __call__(self, r):
        return r


def rewrite_base(url: str, base_url: str | None) -> str:
    """Replace scheme and host (and prefix the path of ``base_url``) of ``url``; keep its path and query."""
    if not base_url:
        return url
    b = urlsplit(base_url)
    u = urlsplit(url)
    return urlunsplit((b.scheme, b.netloc, b.path.rstrip("/") + u.path, u.query, u.fragment))


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def netloc_of(url: str) -> str:
    """``host`` or ``host:port`` as written in the URL, without credentials."""
    u = urlsplit(url)
    host = (u.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    try:
        port = u.port
    except ValueError:
        port = None
    return f"{host}:{port}" if port else host


def _socket_of(raw) -> object | None:
    """The socket under a urllib3 response (to clamp its timeout), or None when it cannot be found."""
    conn = getattr(raw, "_connection", None)
    sock = getattr(conn, "sock", None)
    if sock is None:
        fp = getattr(getattr(raw, "_fp", None), "fp", None)
        sock = getattr(getattr(fp, "raw", None), "_sock", None)
    return sock if hasattr(sock, "settimeout") else None


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta seconds or HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def short_reason(exc: BaseException) -> str:
    """A one-line reason of a network error, without URLs' query strings or headers."""
    text = str(exc)
    for marker in ("Connection refused", "Name or service not known", "timed out", "Temporary failure",
                   "No route to host", "Connection reset", "IncompleteRead", "Remote end closed"):
        if marker in text:
            return marker.lower()
    return type(exc).__name__


def _is_unreachable(exc: BaseException) -> bool:
    """A refused connection or a host name that does not resolve (not a timeout or a reset transfer)."""
    text = str(exc)
    return isinstance(exc, requests.ConnectionError) and not isinstance(exc, requests.Timeout) and any(
        m in text for m in ("Connection refused", "Name or service not known", "nodename nor servname",
                            "No address associated", "getaddrinfo failed"))


@dataclass
class HttpClient:
    """A ``requests`` session with the project's retry policy.

    ``max_sleep`` caps every wait (tests pass a small value so that ``Retry-After`` and backoff never sleep
    long); ``backoff_s`` is the first backoff delay, doubled on each retry up to ``max_backoff_s``.
    """

    retries: int = 5
    connect_timeout: float = 10.0   # seconds to set up the connection (TCP, TLS)
    read_timeout: float = 30.0      # longest silence of the server: before its answer or inside a body
    deadline_s: float = 600.0       # one request in total: all its attempts, waits and its body
    # a refused connection, an unknown host name, a connect timeout or a server that accepts the connection
    # but never answers is rarely transient: at most this many retries, so a wrong --base-url or a dead
    # server ends within seconds (or a few read timeouts) instead of the full backoff schedule
    unreachable_retries: int = 2
    backoff_s: float = 1.0
    max_backoff_s: float = 60.0
    # a Retry-After is honoured up to 5 minutes per wait: a server asking for an hour on every retry would
    # otherwise hold a run for hours; after the retries the product is reported failed and can be run again
    max_retry_after_s: float = 300.0
    max_sleep: float | None = None
    trusted_suffixes: tuple[str, ...] = ()
    session: requests.Session = field(default_factory=requests.Session)
    sleep: Callable[[float], None] = time.sleep
    _local: threading.local = field(default_factory=threading.local, repr=False)

    def __post_init__(self):
        self.session.auth = _NoNetrcAuth()
        self.session.headers["User-Agent"] = USER_AGENT
        # room for 4 parallel downloads plus searches
        adapter = requests.adapters.HTTPAdapter(pool_connections=8, pool_maxsize=16)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    # -- waiting -------------------------------------------------------------------------------------------
    def wait(self, seconds: float) -> None:
        if self.max_sleep is not None:
            seconds = min(seconds, self.max_sleep)
        if seconds > 0:
            self.sleep(seconds)

    def backoff(self, attempt: int, retry_after: float | None = None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_retry_after_s)
        return min(self.max_backoff_s, self.backoff_s * (2 ** attempt))

    # -- trust ----------------------------------------------------------------------------------------------
    def trusted(self, origin: str, target: str, extra_hosts: Iterable[str] = ()) -> bool:
        """May authorisation sent to ``origin`` follow a redirect to ``target``?"""
        o, t = urlsplit(origin), urlsplit(target)
        if o.scheme == "https" and t.scheme != "https":
            return False  # never downgrade a credential to clear text
        oh, th = (o.hostname or "").lower(), (t.hostname or "").lower()
        if oh == th:
            return True
        if oh in LOOPBACK_NAMES and th in LOOPBACK_NAMES and o.port == t.port:
            return True
        hosts = {h.lower() for h in extra_hosts}
        if th in hosts:
            return True
        return any(th == s.lstrip(".") or th.endswith("." + s.lstrip(".")) for s in self.trusted_suffixes)

    # -- requests -------------------------------------------------------------------------------------------
    def _timeouts(self, end: float) -> tuple[float, float]:
        """Connect and read timeouts of one step, clamped to the time left before ``end``."""
        left = end - time.monotonic()
        if left <= 0:
            raise _OutOfTime()
        return max(0.001, min(self.connect_timeout, left)), max(0.001, min(self.read_timeout, left))

    def _send(self, method: str, url: str, *, headers: dict, auth: Authorizer | None, trusted_hosts,
              end: float, **kw) -> requests.Response:
        """One logical request: follows up to 10 redirects, re-attaching authorisation to trusted hosts.

        Always streams: the caller reads the body (``read_body``/``iter_body``) under the read timeout and
        the deadline."""
        current = url
        auth_on = auth is not None
        kw.pop("stream", None)
        for _ in range(11):
            h = dict(headers)
            if auth_on and auth is not None:
                h.update(auth.headers())
            resp = self.session.request(method, current, headers=h, allow_redirects=False,
                                        timeout=self._timeouts(end), stream=True, **kw)
            if resp.status_code in (301, 302, 303, 307, 308) and resp.headers.get("Location"):
                target = urljoin(current, resp.headers["Location"])
                resp.close()
                if auth_on and not self.trusted(current, target, trusted_hosts):
                    log.debug("redirect to untrusted host %s: authorisation not forwarded", host_of(target))
                    auth_on = False
                if resp.status_code == 303:
                    method, kw = "GET", {k: v for k, v in kw.items() if k not in ("data", "json")}
                current = target
                continue
            return resp
        raise DownloadError(f"too many redirects from {host_of(url)}")

    def request(self, method: str, url: str, *, headers: dict | None = None, auth: Authorizer | None = None,
                trusted_hosts: Iterable[str] = (), retry_statuses=RETRY_STATUSES, what: str = "request",
                stream: bool = False, deadline: float | None = None, label: str | None = None,
                deadline_total: float | None = None, **kw) -> requests.Response:
        """Send with retries. Returns the last response (its status may be an error the caller handles).

        ``deadline`` is an absolute ``time.monotonic()`` instant (default: now + ``deadline_s``) bounding
        every attempt, wait and, unless ``stream``, the body (``deadline_total``: its length, for messages).
        Without ``stream`` the body is read here (so ``resp.content`` is ready); with it the caller reads it
        with ``iter_body``. Network failures after the last retry raise ``NetworkError`` naming ``host:port``
        and which clock expired; the deadline raises ``DeadlineExceeded`` ("<label> exceeded its total
        deadline of N s")."""
        headers = dict(headers or {})
        start = time.monotonic()
        end = deadline if deadline is not None else start + max(0.0, self.deadline_s)
        total = deadline_total if deadline_total is not None else max(0.0, end - start)
        label = label or what
        refreshed = False
        attempt = 0
        where = netloc_of(url)
        last_reason: str | None = None

        def out_of_time(last: str | None = None) -> DeadlineExceeded:
            tail = f"; last failure: {last}" if last else ""
            return DeadlineExceeded(f"{label} exceeded its total deadline of {total:g} s ({where}, "
                                    f"{_plural(attempt + 1, 'attempt')}{tail})")

        while True:
            try:
                resp = self._send(method, url, headers=headers, auth=auth, trusted_hosts=tuple(trusted_hosts),
                                  end=end, **kw)
                if time.monotonic() >= end:  # headers trickled in past the deadline
                    resp.close()
                    raise _OutOfTime()
                if not stream:
                    self.read_body(resp, end, url, label=label, total_s=total)
            except _OutOfTime:
                raise out_of_time() from None
            except DeadlineExceeded:
                raise
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
                    TransferStalled) as exc:
                if time.monotonic() >= end - 0.05:
                    # a timeout clamped to the time left is the deadline, not the server's silence
                    raise out_of_time(last_reason) from None
                reason = last_reason = self.describe(exc, url)
                limit = self.retries
                if self._hopeless(exc):
                    limit = min(limit, self.unreachable_retries)
                elapsed = time.monotonic() - start
                if attempt >= limit:
                    raise NetworkError(f"{reason}; gave up after {_plural(attempt + 1, 'attempt')} in "
                                       f"{elapsed:.0f} s", absent=self._hopeless(exc)) from None
                delay = self.backoff(attempt)
                if time.monotonic() + self._capped(delay) >= end:
                    raise out_of_time(reason) from None
                log.info("%s: %s, retrying in %.1f s (attempt %d of %d)", what, reason, delay, attempt + 2,
                         limit + 1)
                self.wait(delay)
                attempt += 1
                continue
            if resp.status_code == 401 and auth is not None and not refreshed:
                refreshed = True
                if auth.invalidate():
                    resp.close()
                    log.info("%s: authorisation expired, renewing it once", what)
                    continue
            if resp.status_code in retry_statuses and attempt < self.retries:
                last_reason = f"HTTP {resp.status_code} from {where}"
                ra = retry_after_seconds(resp.headers.get("Retry-After"))
                delay = self.backoff(attempt, ra)
                if time.monotonic() + self._capped(delay) >= end:
                    log.info("%s: HTTP %d from %s and no time left before the deadline of %g s", what,
                             resp.status_code, host_of(url), total)
                    return resp
                log.info("%s: HTTP %d from %s, retrying in %.1f s", what, resp.status_code, host_of(url), delay)
                resp.close()
                self.wait(delay)
                attempt += 1
                continue
            return resp

    def _capped(self, seconds: float) -> float:
        return min(seconds, self.max_sleep) if self.max_sleep is not None else seconds

    @staticmethod
    def _hopeless(exc: BaseException) -> bool:
        """Failures where the server is absent rather than struggling: few retries."""
        if isinstance(exc, (requests.ConnectTimeout, requests.ReadTimeout)):
            return True   # no connection within the connect timeout, or no answer at all
        return _is_unreachable(exc)

    def describe(self, exc: BaseException, url: str) -> str:
        """One line saying which clock expired or what failed, naming ``host:port``."""
        where = netloc_of(url)
        if isinstance(exc, TransferStalled):
            return str(exc)
        if isinstance(exc, requests.ConnectTimeout):
            return f"could not connect to {where} within {self.connect_timeout:g} s (connect timeout)"
        if isinstance(exc, requests.ReadTimeout):
            return (f"{where} accepted the connection but sent no answer within {self.read_timeout:g} s "
                    "(read timeout)")
        if _is_unreachable(exc):
            return f"cannot reach {host_of(url)} ({short_reason(exc)})"
        return f"connection to {where} failed ({short_reason(exc)})"

    # -- bodies ---------------------------------------------------------------------------------------------
    def iter_body(self, resp: requests.Response, end: float, url: str | None = None, *, label: str = "request",
                  total_s: float | None = None, chunk: int = BODY_CHUNK) -> Iterator[bytes]:
        """The body in blocks of at most ``chunk`` bytes, each read waiting at most the read timeout (and
        never past ``end``). Raises ``TransferStalled`` (silence, reset, short body) or ``DeadlineExceeded``."""
        raw = resp.raw
        where = netloc_of(url or resp.url or "")
        sock = _socket_of(raw)
        got = 0
        total_txt = f"{total_s:g}" if total_s is not None else "its"
        while True:
            left = end - time.monotonic()
            if left <= 0:
                resp.close()
                raise DeadlineExceeded(f"{label} exceeded its total deadline of {total_txt} s "
                                       f"({where} had sent {got} bytes)")
            wait = min(self.read_timeout, left)
            if sock is not None:
                try:
                    sock.settimeout(max(0.001, wait))  # type: ignore[attr-defined]
                except OSError:
                    sock = None
            try:
                data = raw.read1(chunk, decode_content=True)
            except (urllib3.exceptions.ReadTimeoutError, TimeoutError):
                resp.close()
                if wait < self.read_timeout:
                    raise DeadlineExceeded(f"{label} exceeded its total deadline of {total_txt} s "
                                           f"({where} had sent {got} bytes)") from None
                raise TransferStalled(f"{where} sent {got} bytes of the body, then nothing for "
                                      f"{self.read_timeout:g} s (read timeout)") from None
            except (urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
                resp.close()
                raise TransferStalled(f"transfer from {where} interrupted after {got} bytes "
                                      f"({short_reason(exc)})") from None
            if not data:
                return
            got += len(data)
            yield data

    def read_body(self, resp: requests.Response, end: float, url: str | None = None, *, label: str = "request",
                  total_s: float | None = None) -> bytes:
        """Read the whole body under the read timeout and the deadline; ``resp.content`` then returns it."""
        data = b"".join(self.iter_body(resp, end, url, label=label, total_s=total_s))
        resp._content = data              # what requests itself does when it reads a body
        resp._content_consumed = True
        return data


class _OutOfTime(Exception):
    """Internal: no time left before the deadline of the current request."""


def add_timeout_options(p: argparse.ArgumentParser, deadline_default: float, deadline_help: str) -> None:
    """--connect-timeout, --read-timeout and --deadline, shared by every command that downloads."""
    p.add_argument("--connect-timeout", type=float, default=10.0, metavar="S",
                   help="seconds allowed to open a connection (default 10)")
    p.add_argument("--read-timeout", type=float, default=30.0, metavar="S",
                   help="seconds of silence of a server, before its answer or in the middle of a transfer, "
                        "after which the attempt is abandoned (default 30)")
    p.add_argument("--deadline", type=float, default=deadline_default, metavar="S", help=deadline_help)


def apply_timeout_options(client: HttpClient, args, deadline_cap: float | None = None) -> HttpClient:
    """Set the clocks of ``client`` from the options of ``add_timeout_options`` (each checked > 0)."""
    for opt, value in (("--connect-timeout", args.connect_timeout), ("--read-timeout", args.read_timeout),
                       ("--deadline", args.deadline)):
        if not 0 < value < float("inf"):
            raise ConfigError(f"{opt} must be a positive number of seconds, not {value:g}")
    client.connect_timeout = float(args.connect_timeout)
    client.read_timeout = float(args.read_timeout)
    client.deadline_s = float(args.deadline if deadline_cap is None else min(args.deadline, deadline_cap))
    return client


def error_detail(resp: requests.Response, limit: int = 200) -> str:
    """A short description of an error answer (JSON ``detail``/``ErrorMessage``/``error_description``)."""
    try:
        body = resp.json()
    except ValueError:
        text = (resp.text or "").strip().replace("\n", " ")
        return text[:limit] if text and "<html" not in text.lower() else ""
    if isinstance(body, dict):
        for key in ("error_description", "ErrorMessage", "message", "error"):
            if isinstance(body.get(key), str):
                return body[key][:limit]
        detail = body.get("detail")
        if isinstance(detail, dict):
            return str(detail.get("ErrorMessage") or detail.get("message") or detail)[:limit]
        if isinstance(detail, list) and detail and isinstance(detail[0], dict):
            return str(detail[0].get("msg", detail[0]))[:limit]
        if detail:
            return str(detail)[:limit]
    return str(body)[:limit]
