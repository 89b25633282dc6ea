"""Parallel, verified, resumable downloads.

Each product streams to ``NAME.zip.part``; size, MD5 (and BLAKE3 when the ``blake3`` package is importable)
and zip integrity are checked before the rename to ``NAME.zip``. A ``.part`` left by an interrupted transfer is
resumed with ``Range`` only while the server answers ``206`` with a consistent ``Content-Range``; otherwise the
download restarts from zero. Offline products (HTTP 202, tape, staging) are polled until the wait timeout and
then reported as pending. Each product has a total deadline (all attempts, resumes and waits); a transfer
stopped by it or by a silent server keeps its ``.part`` for a resume by the next run.
"""

from __future__ import annotations

import hashlib
import os
import queue
import re
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import requests
import urllib3

from ..errors import DiapsarError, DownloadError, ProductError
from ..log import get_logger
from .backends import Backend
from .extract import safe_extract, zip_ok
from .http import DeadlineExceeded, TransferStalled, error_detail, retry_after_seconds
from .products import Product

log = get_logger("download")

try:  # optional: CDSE publishes BLAKE3 checksums besides MD5
    import blake3 as _blake3  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on the environment
    _blake3 = None

# answers meaning "not available yet" for a product the search reported offline (tape, LTA, staging)
OFFLINE_STATUSES = frozenset({403, 404, 409, 410, 422, 423})
CHUNK = 1 << 20          # hashing block
NET_CHUNK = 1 << 16      # network block: small enough that an interrupted transfer keeps what arrived
STATUS_DOWNLOADED, STATUS_SKIPPED, STATUS_PENDING, STATUS_FAILED = "downloaded", "skipped", "pending", "failed"
_OFFLINE = "offline"


@dataclass
class DownloadOptions:
    write_dir: Path
    workers: int = 2
    retries: int = 5
    wait_timeout_s: float = 600.0
    poll_s: float = 60.0
    deadline_s: float = 21600.0        # one product: every attempt, resume and retry wait included
    extract: bool = False
    progress: bool | None = None       # None: only when stderr is a terminal


@dataclass
class Outcome:
    product: Product
    status: str
    path: Path | None = None
    message: str = ""
    retry_after: float | None = None


class _Retry(Exception):
    """A failed attempt worth repeating (truncated transfer, checksum mismatch, inconsistent range)."""


class _Offline(Exception):
    def __init__(self, retry_after: float | None):
        super().__init__("offline")
        self.retry_after = retry_after


def file_digests(path: Path, md5: bool, b3: bool) -> tuple[str | None, str | None]:
    h_md5 = hashlib.md5(usedforsecurity=False) if md5 else None
    h_b3 = _blake3.blake3() if (b3 and _blake3 is not None) else None
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            if h_md5:
                h_md5.update(chunk)
            if h_b3:
                h_b3.update(chunk)
    return (h_md5.hexdigest() if h_md5 else None, h_b3.hexdigest() if h_b3 else None)


def verify_file(path: Path, p: Product, expected_size: int | None = None) -> str | None:
    """None when ``path`` is the product (size, checksums, zip CRCs); else the first reason it is not."""
    size = path.stat().st_size
    expected = p.size or expected_size
    if expected and size != expected:
        return f"size {size} bytes instead of {expected}"
    want_b3 = bool(p.blake3) and _blake3 is not None
    if p.md5 or want_b3:
        md5, b3 = file_digests(path, bool(p.md5), want_b3)
        if p.md5 and md5 != p.md5:
            return "MD5 checksum mismatch"
        if want_b3 and b3 != p.blake3:
            return "BLAKE3 checksum mismatch"
    if path.name.endswith(".zip") or path.name.endswith(".zip.part"):
        return zip_ok(path)
    return None


def content_range(value: str | None) -> tuple[int, int, int | None] | None:
    m = re.fullmatch(r"\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*", value or "")
    if not m:
        return None
    return int(m.group(1)), int(m.group(2)), None if m.group(3) == "*" else int(m.group(3))


def disposition_filename(value: str | None) -> str | None:
    m = re.search(r'filename\*?=(?:UTF-8\'\')?"?([^";]+)"?', value or "")
    return Path(m.group(1)).name if m else None


class DownloadManager:
    def __init__(self, backend: Backend, options: DownloadOptions):
        self.backend = backend
        self.client = backend.client
        self.opt = options
        self.workers = max(1, options.workers)
        if self.workers > backend.max_workers:
            log.warning("%s allows %d parallel downloads: using %d instead of %d", backend.name,
                        backend.max_workers, backend.max_workers, self.workers)
            self.workers = backend.max_workers
        self._no_resume: set[str] = set()
        self._slots: queue.Queue[int] = queue.Queue()
        for i in range(self.workers):
            self._slots.put(i)
        self._show = sys.stderr.isatty() if options.progress is None else options.progress
        self._stop = threading.Event()

    # -- public -----------------------------------------------------------------------------------------------
    def run(self, products: list[Product]) -> list[Outcome]:
        try:
            self.opt.write_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DownloadError(f"cannot create {self.opt.write_dir}: {exc.strerror}") from None
        results: dict[str, Outcome] = {}
        now_list = [p for p in products if p.online]
        offline = [p for p in products if not p.online]
        waiting: list[Product] = []
        if offline:
            ready = self.backend.prepare_offline(offline)
            now_list += ready
            waiting = [p for p in offline if p not in ready]
        deadline = time.monotonic() + max(0.0, self.opt.wait_timeout_s)
        pool = ThreadPoolExecutor(max_workers=self.workers)
        try:
            self._loop(pool, now_list, waiting, results, deadline)
        except KeyboardInterrupt:
            self._stop.set()  # transfers stop at their next block; .part files stay for a resume
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
        return [results[p.id] for p in products if p.id in results]

    def _loop(self, pool, now_list, waiting, results, deadline) -> None:
        while True:
            hints: list[float] = []
            for outcome in pool.map(self._fetch, now_list):
                if outcome.status == _OFFLINE:
                    waiting.append(outcome.product)
                    if outcome.retry_after is not None:
                        hints.append(outcome.retry_after)
                else:
                    results[outcome.product.id] = outcome
            if not waiting:
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                for p in waiting:
                    results[p.id] = Outcome(p, STATUS_PENDING, None,
                                            f"still offline ({p.storage or 'not yet available'}) after "
                                            f"{self.opt.wait_timeout_s:g} s; run again later")
                break
            delay = min(self.opt.poll_s, remaining, max(hints) if hints else self.opt.poll_s)
            log.info("%d product(s) not yet online, checking again in %.0f s", len(waiting), delay)
            self.client.wait(delay)
            now_list = self.backend.refresh(waiting)
            waiting = [p for p in waiting if p not in now_list]

    # -- one product ----------------------------------------------------------------------------------------
    def _fetch(self, p: Product) -> Outcome:
        try:
            return self._fetch_checked(p)
        except _Offline as off:
            return Outcome(p, _OFFLINE, retry_after=off.retry_after)
        except DiapsarError as exc:
            log.error("%s: %s", p.name, exc)
            return Outcome(p, STATUS_FAILED, None, str(exc))
        except OSError as exc:
            log.error("%s: %s", p.name, exc.strerror or exc)
            return Outcome(p, STATUS_FAILED, None, f"local file error: {exc.strerror or exc}")

    def _fetch_checked(self, p: Product) -> Outcome:
        name = p.zip_name
        if "/" in name or "\\" in name or name.startswith(".") or ".." in name:
            raise DownloadError(f"unsafe product name {p.name!r}")
        wd = self.opt.write_dir
        final = wd / name
        safe_dir = wd / f"{p.name}.SAFE"
        if not p.is_burst and (safe_dir / "manifest.safe").is_file():
            log.info("%s: already extracted in %s", p.name, safe_dir)
            return Outcome(p, STATUS_SKIPPED, safe_dir, "already extracted")
        if final.exists():
            reason = verify_file(final, p)
            if reason is None:
                log.info("%s: already downloaded and verified", p.name)
                return self._finish(p, final, STATUS_SKIPPED, "already downloaded")
            log.warning("%s: existing %s is not valid (%s); downloading again", p.name, final.name, reason)
        part = final.with_name(final.name + ".part")
        attempt = 0
        start = time.monotonic()
        end = start + max(0.0, self.opt.deadline_s)
        while True:
            try:
                total = self._attempt(p, part, end)
                reason = verify_file(part, p, total)
                if reason is not None:
                    part.unlink(missing_ok=True)
                    raise _Retry(f"verification failed: {reason}")
                os.replace(part, final)
                log.info("%s: downloaded (%d bytes)", p.name, final.stat().st_size)
                return self._finish(p, final, STATUS_DOWNLOADED, "")
            except _Retry as exc:
                attempt += 1
                elapsed = time.monotonic() - start
                tries = f"{attempt} attempt{'s' if attempt > 1 else ''} in {elapsed:.0f} s"
                if attempt > self.opt.retries:
                    raise DownloadError(f"{exc} (gave up after {tries}{self._kept(part)})") from None
                delay = self.client.backoff(attempt - 1)
                if time.monotonic() + self.client._capped(delay) >= end:
                    raise DeadlineExceeded(f"download exceeded its total deadline of {self.opt.deadline_s:g} s "
                                           f"(last failure: {exc}; {tries}{self._kept(part)})") from None
                log.warning("%s: %s; attempt %d of %d in %.1f s", p.name, exc, attempt + 1,
                            self.opt.retries + 1, delay)
                self.client.wait(delay)

    @staticmethod
    def _kept(part: Path) -> str:
        try:
            n = part.stat().st_size
        except OSError:
            return ""
        return f"; {n} bytes kept in {part.name} for a resume" if n else ""

    def _finish(self, p: Product, final: Path, status: str, message: str) -> Outcome:
        if not self.opt.extract:
            return Outcome(p, status, final, message)
        try:
            tops = safe_extract(final, self.opt.write_dir)
        except ProductError as exc:
            return Outcome(p, STATUS_FAILED, final, f"extraction refused: {exc}")
        final.unlink()  # as the original script: keep the extracted product only
        log.info("%s: extracted to %s", p.name, ", ".join(t.name for t in tops))
        return Outcome(p, status, tops[0] if tops else self.opt.write_dir, message)

    def _attempt(self, p: Product, part: Path, end: float) -> int:
        """One transfer into ``part``; returns the expected total size (bytes)."""
        have = part.stat().st_size if part.exists() else 0
        headers = {}
        if have and p.id not in self._no_resume and (p.size is None or have < p.size):
            headers["Range"] = f"bytes={have}-"
        elif have:
            part.unlink()
            have = 0
        url = self.backend.download_url(p)
        try:
            resp = self.client.request(p.method, url, headers=headers, auth=self.backend.authorizer(),
                                       stream=True, trusted_hosts=self.backend.trusted_hosts, what=p.name,
                                       deadline=end, label="download", deadline_total=self.opt.deadline_s)
        except DeadlineExceeded as exc:
            raise DeadlineExceeded(f"{exc}{self._kept(part)}") from None
        with resp:
            code = resp.status_code
            if code == 202:
                raise _Offline(retry_after_seconds(resp.headers.get("Retry-After")))
            if not p.online and code in OFFLINE_STATUSES:
                # the search said offline and the service refuses it for now: keep polling until the timeout
                log.debug("%s: HTTP %d while offline: %s", p.name, code, error_detail(resp))
                raise _Offline(retry_after_seconds(resp.headers.get("Retry-After")))
            if code == 416:
                part.unlink(missing_ok=True)
                self._no_resume.add(p.id)
                raise _Retry("server refused the byte range")
            if code in (401, 403):
                raise DownloadError(f"authorisation refused (HTTP {code}) {error_detail(resp)}".strip())
            if code == 404:
                raise DownloadError("not found on the server (HTTP 404)")
            if code in (429, 500, 502, 503, 504):
                raise DownloadError(f"server still busy (HTTP {code}) after {self.client.retries + 1} attempts")
            if code not in (200, 206):
                raise DownloadError(f"HTTP {code} {error_detail(resp)}".strip())
            length = int(resp.headers.get("Content-Length", "0") or 0) or None
            mode = "wb"
            if code == 206:
                cr = content_range(resp.headers.get("Content-Range"))
                total = cr[2] if cr else None
                if not cr or cr[0] != have or (p.size and total != p.size) or \
                        (length is not None and length != cr[1] - cr[0] + 1):
                    part.unlink(missing_ok=True)
                    self._no_resume.add(p.id)
                    raise _Retry("inconsistent partial answer (Content-Range); restarting from zero")
                mode = "ab"
                log.info("%s: resuming at byte %d", p.name, have)
            else:
                if have:
                    log.info("%s: server ignored the byte range; restarting from zero", p.name)
                    self._no_resume.add(p.id)
                have = 0
                total = length
            expected = p.size or total
            cd = disposition_filename(resp.headers.get("Content-Disposition"))
            if cd:
                log.debug("%s: served as %s", p.name, cd)
            slot = self._slots.get()
            try:
                self._stream(resp, part, mode, have, expected, p, slot, end, url)
            finally:
                self._slots.put(slot)
        got = part.stat().st_size
        if expected and got != expected:
            raise _Retry(f"transfer ended at {got} of {expected} bytes")
        return expected or got

    def _stream(self, resp: requests.Response, part: Path, mode: str, have: int, expected: int | None,
                p: Product, slot: int, end: float, url: str) -> None:
        from tqdm import tqdm

        bar = tqdm(total=expected, initial=have, unit="B", unit_scale=True, unit_divisor=1024,
                   desc=p.name[:32], position=slot, leave=False, file=sys.stderr, disable=not self._show)
        first = True
        try:
            with open(part, mode) as out:
                for chunk in self.client.iter_body(resp, end, url, label="download",
                                                   total_s=self.opt.deadline_s, chunk=NET_CHUNK):
                    if self._stop.is_set():
                        raise DownloadError("interrupted")
                    if not chunk:
                        continue
                    if first and mode == "wb":
                        self.backend.check_payload(resp, chunk)
                    first = False
                    out.write(chunk)
                    bar.update(len(chunk))
        except TransferStalled as exc:
            raise _Retry(str(exc)) from None
        except (requests.exceptions.ChunkedEncodingError, requests.ConnectionError, requests.Timeout,
                urllib3.exceptions.HTTPError) as exc:
            raise _Retry(f"transfer interrupted ({type(exc).__name__})") from None
        except DeadlineExceeded as exc:
            # what arrived is kept: the next run resumes it (it is never renamed to the final name)
            raise DeadlineExceeded(f"{exc}{self._kept(part)}") from None
        except DownloadError:
            if not self._stop.is_set():
                part.unlink(missing_ok=True)
            raise
        finally:
            bar.close()


def summary(outcomes: list[Outcome]) -> tuple[str, int]:
    """A closing report and the exit code: 0 all done, 1 something failed, 4 only pending products."""
    counts = {s: 0 for s in (STATUS_DOWNLOADED, STATUS_SKIPPED, STATUS_PENDING, STATUS_FAILED)}
    lines = []
    for o in outcomes:
        counts[o.status] = counts.get(o.status, 0) + 1
        if o.status in (STATUS_FAILED, STATUS_PENDING):
            lines.append(f"  {o.status}: {o.product.name}: {o.message}")
    head = ", ".join(f"{v} {k}" for k, v in counts.items() if v) or "nothing to do"
    code = 1 if counts[STATUS_FAILED] else (4 if counts[STATUS_PENDING] else 0)
    return "\n".join([head, *lines]), code
