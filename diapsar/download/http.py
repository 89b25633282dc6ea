"""HTTP layer shared by every backend: retries with exponential backoff honouring ``Retry-After`` on 429/5xx,
one token refresh on 401, and redirects followed by hand so that authorisation is re-attached to trusted hosts
(``requests`` drops ``Authorization`` when a redirect changes host or port)."""

from __future__ import annotations

import email.utils
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit, urlunsplit

import requests

from ..errors import DownloadError
from ..log import get_logger

log = get_logger("download")

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
USER_AGENT = "diapsar-download/0.1 (+https://github.com/diapsar)"


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
    timeout: tuple[float, float] = (15.0, 120.0)   # connect, read (seconds)
    # a refused connection or an unknown host name is rarely transient: at most this many retries, so a
    # wrong --base-url or a closed port ends within seconds instead of the full backoff schedule
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
    def _send(self, method: str, url: str, *, headers: dict, auth: Authorizer | None, trusted_hosts,
              **kw) -> requests.Response:
        """One logical request: follows up to 10 redirects, re-attaching authorisation to trusted hosts."""
        current = url
        auth_on = auth is not None
        for _ in range(11):
            h = dict(headers)
            if auth_on and auth is not None:
                h.update(auth.headers())
            resp = self.session.request(method, current, headers=h, allow_redirects=False,
                                        timeout=self.timeout, **kw)
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
                **kw) -> requests.Response:
        """Send with retries. Returns the last response (its status may be an error the caller handles).

        Network failures after the last retry raise ``DownloadError`` naming the host only.
        """
        headers = dict(headers or {})
        refreshed = False
        attempt = 0
        while True:
            try:
                resp = self._send(method, url, headers=headers, auth=auth, trusted_hosts=tuple(trusted_hosts),
                                  **kw)
            except (requests.ConnectionError, requests.Timeout) as exc:
                limit = self.retries
                if _is_unreachable(exc):
                    limit = min(limit, self.unreachable_retries)
                if attempt >= limit:
                    raise DownloadError(f"cannot reach {host_of(url)} ({short_reason(exc)}) "
                                        f"after {attempt + 1} attempts") from None
                delay = self.backoff(attempt)
                log.info("%s: %s unreachable (%s), retrying in %.1f s", what, host_of(url), short_reason(exc),
                         delay)
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
                ra = retry_after_seconds(resp.headers.get("Retry-After"))
                delay = self.backoff(attempt, ra)
                log.info("%s: HTTP %d from %s, retrying in %.1f s", what, resp.status_code, host_of(url), delay)
                resp.close()
                self.wait(delay)
                attempt += 1
                continue
            return resp


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
