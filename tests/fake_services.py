"""A faithful local imitation of the services ``peps_download.py`` talks to, for offline tests.

One ``ThreadingHTTPServer`` on 127.0.0.1 (ephemeral port) serves, with the request/response shapes of the
real services (see docs ``download-apis.md``):

- CDSE Keycloak token (password and refresh grants, client ``cdse-public``, short expiry knob);
- CDSE OData ``/odata/v1/Products`` (``$filter`` subset, ``$top`` <= 1000, ``$skip`` <= limit else 422,
  ``$orderby``, ``$expand=Attributes``, absolute ``@odata.nextLink``), ``/Products(<Id>)/$value`` downloads and
  ``/odata/v1/Bursts`` search + ``POST /Bursts(<Id>)/$value`` extraction;
- CDSE OpenSearch (``/resto/api/collections/<C>/search.json``, strict parameters) and ``/download/<Id>``;
- a legacy PEPS resto mode (same search path, ``flavour="peps"``) with tape -> staging -> disk, HTTP Basic;
- GEODES STAC search and ``X-API-Key`` downloads;
- the public orbit bucket (S3 ListObjects XML, marker paging) and the Copernicus DEM bucket;
- a Nominatim-like geocoder (``/search``).

Failure knobs (attributes of ``Knobs``): truncated body, flipped byte, scripted 429/503 with Retry-After,
202 offline then 200, 401 on an expired token, redirect to another host name (``localhost``) on the same port,
Range support/ignore/reject/inconsistent, PEPS quota error, a body that stalls after N bytes (headers sent,
connection held open) or trickles one byte at a time. Every request is recorded in ``requests``.
``SilentListener`` accepts TCP connections and never sends a byte.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
import random
import re
import socket
import threading
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit
from xml.sax.saxutils import escape

try:
    import blake3 as _blake3  # optional, as in the client
except ImportError:
    _blake3 = None

S1_REL_OFFSET = {"S1A": 73, "S1B": 27, "S1C": 172}


def make_safe_zip(name: str, n_bytes: int = 200_000, seed: int = 0) -> bytes:
    """A small SAFE-like zip: ``NAME.SAFE/manifest.safe`` and a measurement file of pseudo-random bytes."""
    rng = random.Random(seed or hash(name) & 0xFFFF)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr(f"{name}.SAFE/manifest.safe", f"<?xml version='1.0'?><manifest name='{name}'/>\n")
        zf.writestr(f"{name}.SAFE/measurement/data.bin", bytes(rng.getrandbits(8) for _ in range(n_bytes)))
    return buf.getvalue()


def _iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"


def _parse_time(text: str) -> dt.datetime:
    t = text.strip().strip("'")
    t = t.replace("Z", "+00:00")
    v = dt.datetime.fromisoformat(t)
    return v if v.tzinfo else v.replace(tzinfo=dt.UTC)


@dataclass
class FakeProduct:
    name: str                                   # without .SAFE (or an .EOF name for orbits)
    footprint: tuple[float, float, float, float] = (-180.0, -90.0, 180.0, 90.0)  # lonmin latmin lonmax latmax
    online: bool = True
    direction: str = "DESCENDING"
    storage: str = "disk"                       # PEPS storage mode
    checksum: bool = True                       # publish an MD5 (and BLAKE3) checksum
    content_length: bool = True                 # False: ContentLength 0 as CDSE sometimes answers
    collection: str = "SENTINEL-1"
    content: bytes = b""
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    id: str = ""
    attributes: dict = field(default_factory=dict)

    def __post_init__(self):
        m = re.match(r"^(S1[ABC])_(\w\w)_(\w{4})_(\d)(\w)(\w\w)_(\d{8}T\d{6})_(\d{8}T\d{6})_(\d{6})_", self.name)
        self.id = self.id or str(uuid.uuid5(uuid.NAMESPACE_URL, self.name))
        if not self.content:
            self.content = make_safe_zip(self.name)
        if m:
            mission, mode, ptype, _lvl, _cls, pol, t0, t1, orbit = m.groups()
            self.start = self.start or dt.datetime.strptime(t0, "%Y%m%dT%H%M%S").replace(tzinfo=dt.UTC)
            self.end = self.end or dt.datetime.strptime(t1, "%Y%m%dT%H%M%S").replace(tzinfo=dt.UTC)
            abs_orbit = int(orbit)
            rel = (abs_orbit - S1_REL_OFFSET[mission]) % 175 + 1
            esa_type = self.name[4:14]  # e.g. IW_SLC__1S
            pols = {"DV": "VV&VH", "DH": "HH&HV", "SV": "VV", "SH": "HH"}.get(pol, pol)
            base = {"productType": esa_type, "operationalMode": mode if not mode.startswith("S") else "SM",
                    "relativeOrbitNumber": rel, "orbitNumber": abs_orbit, "orbitDirection": self.direction,
                    "platformSerialIdentifier": mission[-1], "platformShortName": "SENTINEL-1",
                    "polarisationChannels": pols, "swathIdentifier": mode if mode != "IW" else "IW1 IW2 IW3"}
            self.attributes = {**base, **self.attributes}

    @property
    def md5(self) -> str:
        return hashlib.md5(self.content).hexdigest()

    @property
    def full_name(self) -> str:
        return self.name if self.name.endswith(".EOF") else f"{self.name}.SAFE"

    def odata(self, expand: bool, base: str) -> dict:
        sums = []
        if self.checksum:
            sums.append({"Value": self.md5, "Algorithm": "MD5", "ChecksumDate": "2024-08-02T07:41:18.000000Z"})
            if _blake3 is not None:
                sums.append({"Value": _blake3.blake3(self.content).hexdigest(), "Algorithm": "BLAKE3",
                             "ChecksumDate": "2024-08-02T07:41:18.000000Z"})
        x0, y0, x1, y1 = self.footprint
        d = {"@odata.mediaContentType": "application/octet-stream", "Id": self.id, "Name": self.full_name,
             "ContentType": "application/octet-stream",
             "ContentLength": len(self.content) if self.content_length else 0,
             "OriginDate": _iso(self.end), "PublicationDate": _iso(self.end), "ModificationDate": _iso(self.end),
             "Online": self.online, "EvictionDate": "9999-12-31T23:59:59.999999Z",
             "S3Path": f"/eodata/Sentinel-1/SAR/{self.full_name}", "Checksum": sums,
             "ContentDate": {"Start": _iso(self.start), "End": _iso(self.end)},
             "Footprint": None if self.name.endswith(".EOF") else
             f"geography'SRID=4326;POLYGON (({x0} {y0}, {x1} {y0}, {x1} {y1}, {x0} {y1}, {x0} {y0}))'",
             "GeoFootprint": None}
        if expand:
            d["Attributes"] = [{"@odata.type": f"#OData.CSC.{_kind(v)}Attribute", "Name": k, "Value": v,
                                "ValueType": _kind(v)} for k, v in self.attributes.items()]
        return d


def _kind(v) -> str:
    return "Integer" if isinstance(v, int) else "Double" if isinstance(v, float) else "String"


@dataclass
class Knobs:
    token_expires_in: int = 600
    refresh_expires_in: int = 3600
    expire_next_downloads: int = 0          # next N downloads with a valid token answer 401 (token expired)
    redirect_downloads: bool = False        # 127.0.0.1 -> localhost on the same port
    truncate: dict = field(default_factory=dict)      # product id -> times to cut the body in half
    flip: dict = field(default_factory=dict)          # product id -> times to flip one byte
    scripted: dict = field(default_factory=dict)      # product id -> [(status, retry_after), ...]
    search_scripted: list = field(default_factory=list)  # [(status, retry_after)] for OData/OpenSearch search
    offline_polls: dict = field(default_factory=dict)    # product id -> 202 answers before it is online
    offline_status: int = 202               # answer while offline (202 as DHuS/LTA; or 404, 422 ...)
    range_mode: str = "support"             # support | ignore | reject | inconsistent
    max_skip: int = 10000
    max_top: int = 1000
    max_concurrent: int = 4
    peps_quota: bool = False
    bucket_page: int = 1000
    # slow bodies, keyed by a substring of the request path (first match wins); headers are always sent:
    stall: dict = field(default_factory=dict)     # path part -> bytes of body sent before going silent
    trickle: dict = field(default_factory=dict)   # path part -> seconds between single bytes of body
    hold_s: float = 30.0                          # longest a stalled/trickling answer holds its thread


class SilentListener:
    """A TCP listener on 127.0.0.1 that accepts every connection and never sends a byte.

    Connections stay open until ``stop`` (or ``hold_s``), so a client only ends by its own timeouts."""

    def __init__(self, hold_s: float = 60.0):
        self.hold_s = hold_s
        self.accepted = 0
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.05)
        self.port: int = self._sock.getsockname()[1]   # kept after stop, for messages
        self._conns: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def start(self) -> SilentListener:
        self._thread.start()
        return self

    def _serve(self) -> None:
        t_end = time.monotonic() + self.hold_s
        while not self._stop.is_set() and time.monotonic() < t_end:
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            self.accepted += 1
            self._conns.append(conn)   # kept open, never read from or written to

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for c in self._conns:
            c.close()
        self._sock.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> SilentListener:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class FakeServices:
    def __init__(self, products: list[FakeProduct] | None = None, *, user: str = "jane.doe@example.org",
                 password: str = "S3cr3t pa$$ word*", flavour: str = "cdse"):
        self.products: list[FakeProduct] = list(products or [])
        self.user, self.password, self.flavour = user, password, flavour
        self.knobs = Knobs()
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        self.tokens: dict[str, float] = {}
        self.refresh_tokens: dict[str, float] = {}
        self.password_grants = 0
        self.refresh_grants = 0
        self.active = 0
        self.max_active_seen = 0
        self.bursts: list[dict] = []
        self.burst_content: dict[str, bytes] = {}
        self.bucket: dict[str, bytes] = {}       # orbit bucket: key -> bytes
        self.dem: dict[str, bytes] = {}          # tile name -> GeoTIFF bytes
        self.places: dict[str, tuple[float, float, float, float]] = {"toulouse": (1.35, 43.53, 1.52, 43.67)}
        self.httpd: ThreadingHTTPServer | None = None
        self.closing = threading.Event()         # wakes stalled or trickling answers at stop()

    # -- lifecycle -----------------------------------------------------------------------------------------
    def start(self) -> FakeServices:
        services = self

        class Handler(_Handler):
            svc = services

        self.httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        self.closing.set()
        if self.httpd:
            self.httpd.shutdown()
            self.httpd.server_close()

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def alt_url(self) -> str:
        return f"http://localhost:{self.port}"

    def product(self, key: str) -> FakeProduct:
        return next(p for p in self.products if key in (p.id, p.name, p.full_name))

    def add_burst(self, burst_id: int, swath: str, parent: FakeProduct, pol: str = "VV") -> dict:
        t = parent.start + dt.timedelta(seconds=3)
        name = (f"{parent.name[:3].replace('_', '')}-SLC-{t:%Y%m%dT%H%M%S}-{burst_id}-{swath}-{pol}-"
                f"{int(parent.name[56:62], 16):06d}")
        bid = str(uuid.uuid5(uuid.NAMESPACE_URL, name))
        item = {"Id": bid, "Name": name, "ParentProductId": parent.id, "ParentProductName": parent.full_name,
                "ParentProductType": parent.attributes["productType"], "BurstId": burst_id,
                "AbsoluteBurstId": burst_id * 7 + 100, "SwathIdentifier": swath,
                "RelativeOrbitNumber": parent.attributes["relativeOrbitNumber"],
                "OrbitDirection": parent.direction, "PlatformSerialIdentifier": parent.name[2],
                "PolarisationChannels": pol, "OperationalMode": "IW", "DatatakeID": int(parent.name[56:62], 16),
                "AzimuthTime": _iso(t), "ContentDate": {"Start": _iso(t), "End": _iso(t + dt.timedelta(3))},
                "ContentType": "application/octet-stream", "Lines": 1508, "LinesPerBurst": 1508,
                "SamplesPerBurst": 22998}
        self.bursts.append(item)
        self.burst_content[bid] = make_safe_zip(name, 50_000)
        return item

    def seen(self, path_part: str, method: str | None = None) -> list[dict]:
        with self.lock:
            return [r for r in self.requests if path_part in r["path"] and (method is None or r["method"] == method)]


class _QuietServer(ThreadingHTTPServer):
    """A client closing its connection early (truncation tests, interrupted transfers) is not an error."""

    def handle_error(self, request, client_address):
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    svc: FakeServices

    def log_message(self, *args):  # quiet
        pass

    # -- plumbing -------------------------------------------------------------------------------------------
    def _record(self, body: bytes) -> None:
        u = urlsplit(self.path)
        with self.svc.lock:
            self.svc.requests.append({"method": self.command, "path": unquote(u.path), "raw_path": u.path,
                                      "query": {k: v[0] for k, v in parse_qs(u.query).items()},
                                      "headers": {k.lower(): v for k, v in self.headers.items()},
                                      "body": body, "host": self.headers.get("Host", "")})

    def _send(self, status: int, body: bytes = b"", ctype: str = "application/json", headers: dict | None = None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD" and not self._slow_body(body):
            self.wfile.write(body)

    def _slow_body(self, body: bytes) -> bool:
        """Send ``body`` slowly when a ``stall`` or ``trickle`` knob matches the path; False when none does."""
        k, path = self.svc.knobs, unquote(urlsplit(self.path).path)
        stall = next((n for part, n in k.stall.items() if part in path), None)
        trickle = next((dt_ for part, dt_ in k.trickle.items() if part in path), None)
        if stall is None and trickle is None:
            return False
        t_end = time.monotonic() + k.hold_s
        if stall is not None:
            self.wfile.write(body[:stall])
            self.wfile.flush()
            self.svc.closing.wait(k.hold_s)          # silent, connection open
        else:
            for i in range(len(body)):
                if self.svc.closing.wait(trickle) or time.monotonic() > t_end:
                    break
                self.wfile.write(body[i:i + 1])
                self.wfile.flush()
        self.close_connection = True
        return True

    def _json(self, status: int, obj, headers: dict | None = None):
        self._send(status, json.dumps(obj).encode(), "application/json", headers)

    def do_HEAD(self):
        self._dispatch(b"")

    def do_GET(self):
        self._dispatch(b"")

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0") or 0)
        self._dispatch(self.rfile.read(n) if n else b"")

    def _dispatch(self, body: bytes):
        self._record(body)
        u = urlsplit(self.path)
        path, q = unquote(u.path), {k: v[0] for k, v in parse_qs(u.query, keep_blank_values=True).items()}
        m = self.command
        try:
            if m == "POST" and path == "/auth/realms/CDSE/protocol/openid-connect/token":
                return self.token(body)
            if m == "GET" and path == "/odata/v1/Products":
                return self.odata_search(q, self.svc.products, "Products", expand_default=False)
            if m == "GET" and path == "/odata/v1/Bursts":
                return self.odata_search(q, self.svc.bursts, "Bursts", expand_default=False)
            r = re.fullmatch(r"/odata/v1/Products\(([^)]+)\)/\$value", path)
            if r and m == "GET":
                return self.download(r.group(1), bearer=True)
            r = re.fullmatch(r"/odata/v1/Bursts\(([^)]+)\)/\$value", path)
            if r and m == "POST":
                return self.burst_download(r.group(1))
            r = re.fullmatch(r"/resto/api/collections/([^/]+)/search\.json", path)
            if r and m == "GET":
                return (self.peps_search if self.svc.flavour == "peps" else self.opensearch)(r.group(1), q)
            r = re.fullmatch(r"/download/([0-9a-f-]+)", path)
            if r and m == "GET":
                return self.download(r.group(1), bearer=True)
            r = re.fullmatch(r"/resto/collections/([^/]+)/([^/]+)/download/?", path)
            if r and m == "GET":
                return self.peps_download(r.group(2))
            if m == "POST" and path == "/api/stac/search":
                return self.geodes_search(body)
            r = re.fullmatch(r"/api/download/([^/]+)/files/([0-9a-f]+)", path)
            if r and m == "GET":
                return self.geodes_download(r.group(1))
            if m == "GET" and path == "/search":
                return self.geocode(q)
            if m == "GET" and path == "/" and "prefix" in q:
                return self.bucket_list(q)
            r = re.fullmatch(r"/(AUX_POEORB|AUX_RESORB)/([^/]+\.EOF)", path)
            if r and m == "GET":
                data = self.svc.bucket.get(f"{r.group(1)}/{r.group(2)}")
                return self._send(200, data, "application/octet-stream") if data else self._send(404)
            r = re.fullmatch(r"/(Copernicus_DSM_COG_10_\w+_DEM)/(\1)\.tif", path)
            if r and m in ("GET", "HEAD"):
                data = self.svc.dem.get(r.group(1))
                if data is None:
                    return self._send(404, b"<Error><Code>NoSuchKey</Code></Error>", "application/xml")
                return self._send(200, data, "image/tiff")
            self._json(404, {"detail": f"no route {m} {path}"})
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            pass

    # -- auth ------------------------------------------------------------------------------------------------
    def token(self, body: bytes):
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        svc, k = self.svc, self.svc.knobs
        if form.get("client_id") != "cdse-public":
            return self._json(401, {"error": "invalid_client", "error_description": "Invalid client"})
        grant = form.get("grant_type")
        with svc.lock:
            if grant == "password":
                if form.get("username") != svc.user or form.get("password") != svc.password:
                    return self._json(401, {"error": "invalid_grant",
                                            "error_description": "Invalid user credentials"})
                svc.password_grants += 1
            elif grant == "refresh_token":
                if svc.refresh_tokens.get(form.get("refresh_token", ""), 0) < time.time():
                    return self._json(400, {"error": "invalid_grant", "error_description": "Token is not active"})
                svc.refresh_grants += 1
            else:
                return self._json(400, {"error": "unsupported_grant_type"})
            access = "at-" + uuid.uuid4().hex
            refresh = "rt-" + uuid.uuid4().hex
            svc.tokens[access] = time.time() + k.token_expires_in
            svc.refresh_tokens[refresh] = time.time() + k.refresh_expires_in
        self._json(200, {"access_token": access, "expires_in": k.token_expires_in,
                         "refresh_expires_in": k.refresh_expires_in, "refresh_token": refresh,
                         "token_type": "Bearer", "not-before-policy": 0, "session_state": uuid.uuid4().hex,
                         "scope": "AUDIENCE_PUBLIC openid email profile user-context"})

    def _bearer_ok(self) -> bool:
        h = self.headers.get("Authorization", "")
        if not h.startswith("Bearer "):
            return False
        tok = h[7:]
        svc = self.svc
        with svc.lock:
            if svc.tokens.get(tok, 0) < time.time():
                return False
            if svc.knobs.expire_next_downloads > 0:
                svc.knobs.expire_next_downloads -= 1
                svc.tokens.pop(tok, None)
                return False
        return True

    # -- OData ------------------------------------------------------------------------------------------------
    def odata_search(self, q: dict, items: list, entity: str, expand_default: bool):
        k = self.svc.knobs
        with self.svc.lock:
            if k.search_scripted:
                status, ra = k.search_scripted.pop(0)
                return self._json(status, {"detail": "Service temporarily unavailable"},
                                  {"Retry-After": str(ra)} if ra is not None else None)
        try:
            top = int(q.get("$top", "20"))
            skip = int(q.get("$skip", "0"))
        except ValueError:
            return self._json(422, {"detail": [{"type": "int_parsing", "loc": ["query", "$top"],
                                                "msg": "Input should be a valid integer"}]})
        if top > k.max_top:
            return self._json(422, {"detail": [{"type": "less_than_equal", "loc": ["query", "$top"],
                                                "msg": f"Input should be less than or equal to {k.max_top}",
                                                "input": str(top), "ctx": {"le": k.max_top}}]})
        if skip > k.max_skip:
            return self._json(422, {"detail": [{"type": "less_than_equal", "loc": ["query", "$skip"],
                                                "msg": f"Input should be less than or equal to {k.max_skip}",
                                                "input": str(skip), "ctx": {"le": k.max_skip}}]})
        try:
            pred = odata_predicate(q.get("$filter", ""), entity)
        except ValueError as exc:
            return self._json(400, {"detail": {"message": f"Invalid filter: {exc}"}})
        sel = [it for it in items if pred(it)]
        order = q.get("$orderby", "")
        sel.sort(key=lambda it: (_start_of(it), _id_of(it)), reverse=order.endswith(" desc"))
        page = sel[skip: skip + top]
        expand = "Attributes" in q.get("$expand", "") or expand_default
        base = self.svc.url
        values = [it.odata(expand, base) if isinstance(it, FakeProduct) else it for it in page]
        ctx = f"$metadata#{entity}" + ("(Attributes())" if expand and entity == "Products" else "")
        out = {"@odata.context": ctx, "value": values}
        if q.get("$count", "").lower() == "true":
            out["@odata.count"] = len(sel)
        if skip + top < len(sel) and skip + top <= k.max_skip:  # as CDSE: never a link beyond the $skip limit
            nq = dict(q)
            nq["$skip"] = str(skip + top)
            out["@odata.nextLink"] = f"{base}/odata/v1/{entity}?" + urlencode(nq, quote_via=quote)
        self._json(200, out, {"request-id": uuid.uuid4().hex})

    # -- downloads ----------------------------------------------------------------------------------------------
    def _redirect_if(self) -> bool:
        host = self.headers.get("Host", "")
        if self.svc.knobs.redirect_downloads and host.startswith("127.0.0.1"):
            self._send(302, b"", "text/plain", {"Location": f"{self.svc.alt_url}{self.path}"})
            return True
        return False

    def download(self, pid: str, bearer: bool):
        svc = self.svc
        try:
            prod = svc.product(pid)
        except StopIteration:
            return self._json(404, {"detail": "Not Found"})
        if self._redirect_if():
            return
        if bearer and not self._bearer_ok():
            return self._json(401, {"detail": "Expired signature!"})
        self._serve(prod, prod.content, f"{prod.full_name}.zip")

    def _serve(self, prod: FakeProduct, content: bytes, filename: str):
        svc, k = self.svc, self.svc.knobs
        with svc.lock:
            script = k.scripted.get(prod.id)
            if script:
                status, ra = script.pop(0)
                hdr = {"Retry-After": str(ra)} if ra is not None else {}
                return self._json(status, {"detail": "Too many requests" if status == 429 else "Unavailable"},
                                  hdr)
            if not prod.online:
                left = k.offline_polls.get(prod.id, 0)
                if left > 0:
                    k.offline_polls[prod.id] = left - 1
                    return self._json(k.offline_status, {"detail": "Product retrieval started"},
                                      {"Retry-After": "1"})
                if prod.id not in k.offline_polls:
                    return self._json(k.offline_status, {"detail": "Product is offline"}, {"Retry-After": "1"})
                prod.online = True
            if svc.active >= k.max_concurrent:
                return self._json(429, {"detail": "Maximum number of 4 concurrent connections reached"},
                                  {"Retry-After": "1"})
            svc.active += 1
            svc.max_active_seen = max(svc.max_active_seen, svc.active)
            flip = k.flip.get(prod.id, 0) > 0
            if flip:
                k.flip[prod.id] -= 1
            cut = k.truncate.get(prod.id, 0) > 0
            if cut:
                k.truncate[prod.id] -= 1
        try:
            body = content
            if flip:
                b = bytearray(body)
                b[len(b) // 2] ^= 0xFF
                body = bytes(b)
            status, start = 200, 0
            headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
            if k.range_mode != "ignore":
                headers["Accept-Ranges"] = "bytes"
            rng = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", "") or "")
            if rng and k.range_mode != "ignore":
                start = int(rng.group(1))
                if k.range_mode == "reject" or start >= len(body):
                    return self._send(416, b"", "text/plain", {"Content-Range": f"bytes */{len(body)}"})
                status = 206
                shown = start + 1 if k.range_mode == "inconsistent" else start
                headers["Content-Range"] = f"bytes {shown}-{len(body) - 1}/{len(body)}"
            payload = body[start:]
            self.send_response(status)
            self.send_header("Content-Type", "application/zip")
            self.send_header("Content-Length", str(len(payload)))
            for h, v in headers.items():
                self.send_header(h, v)
            self.end_headers()
            if cut:
                self.wfile.write(payload[: len(payload) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            if self._slow_body(payload):
                return
            for i in range(0, len(payload), 65536):
                self.wfile.write(payload[i: i + 65536])
        finally:
            with svc.lock:
                svc.active -= 1

    def burst_download(self, bid: str):
        if bid not in self.svc.burst_content:
            return self._json(404, {"detail": "Burst not found"})
        if self.svc.knobs.redirect_downloads and self.headers.get("Host", "").startswith("127.0.0.1"):
            return self._send(307, b"", "text/plain", {"Location": f"{self.svc.alt_url}{self.path}"})
        if not self._bearer_ok():
            return self._json(401, {"detail": "Expired signature!"})
        item = next(b for b in self.svc.bursts if b["Id"] == bid)
        body = self.svc.burst_content[bid]
        self._send(200, body, "application/zip", {"Content-Disposition": f'attachment; filename="{item["Name"]}.zip"'})

    # -- CDSE OpenSearch ---------------------------------------------------------------------------------------
    OS_PARAMS = {"startDate", "completionDate", "publishedAfter", "publishedBefore", "lon", "lat", "radius",
                 "geometry", "box", "productType", "sensorMode", "orbitDirection", "relativeOrbitNumber",
                 "orbitNumber", "polarisation", "swath", "platform", "instrument", "processingLevel", "status",
                 "cloudCover", "maxRecords", "page", "index", "exactCount", "sortParam", "sortOrder", "identifier"}

    def opensearch(self, collection: str, q: dict):
        k = self.svc.knobs
        with self.svc.lock:
            if k.search_scripted:
                status, ra = k.search_scripted.pop(0)
                return self._json(status, {"detail": "busy"}, {"Retry-After": str(ra)} if ra is not None else None)
        unknown = sorted(set(q) - self.OS_PARAMS)
        if unknown:
            return self._json(400, {"detail": {"ErrorMessage": "Unknown query parameter(s).", "ErrorCode": 400,
                                               "ErrorDetail": [{"loc": [u], "msg": "unexpected"} for u in unknown],
                                               "RequestID": uuid.uuid4().hex}})
        if collection not in ("SENTINEL-1", "Sentinel1", "SENTINEL-2", "Sentinel2"):
            return self._json(404, {"detail": {"ErrorMessage": f"Collection {collection} not found",
                                               "ErrorCode": 404}})
        per = int(q.get("maxRecords", "20"))
        page = int(q.get("page", "1"))
        if per > 2000 or per < 1 or page < 1 or (page - 1) * per >= 10000:
            return self._json(400, {"detail": {"ErrorMessage": "Validation error.", "ErrorCode": 400}})
        sel = [p for p in self.svc.products if not p.name.endswith(".EOF") and _os_match(p, q)]
        sel.sort(key=lambda p: (p.start, p.id), reverse=q.get("sortOrder") == "descending")
        chunk = sel[(page - 1) * per: page * per]
        base = self.svc.url
        feats = [{"type": "Feature", "id": p.id, "geometry": None, "properties": {
            "collection": p.collection, "status": "ONLINE" if p.online else "OFFLINE",
            "title": p.full_name, "productIdentifier": f"/eodata/Sentinel-1/SAR/{p.full_name}",
            "startDate": _iso(p.start), "completionDate": _iso(p.end),
            "productType": p.attributes.get("productType"), "platform": p.name[:3],
            "sensorMode": p.attributes.get("operationalMode"), "orbitNumber": p.attributes.get("orbitNumber"),
            "relativeOrbitNumber": p.attributes.get("relativeOrbitNumber"), "orbitDirection": p.direction,
            "polarisation": p.attributes.get("polarisationChannels"),
            "services": {"download": {"url": f"https://catalogue.dataspace.copernicus.eu/download/{p.id}",
                                      "mimeType": "application/octet-stream", "size": len(p.content)}}}}
                 for p in chunk]
        links = [{"rel": "self", "href": self.path}]
        if page * per < len(sel):
            nq = dict(q)
            nq["page"] = str(page + 1)
            links.append({"rel": "next", "href": f"{base}{urlsplit(self.path).path}?{urlencode(nq)}"})
        exact = q.get("exactCount") == "1"
        self._json(200, {"type": "FeatureCollection", "features": feats, "properties": {
            "id": uuid.uuid4().hex, "totalResults": len(sel) if exact else None, "exactCount": 1 if exact else 0,
            "startIndex": (page - 1) * per + 1, "itemsPerPage": per, "links": links}})

    # -- legacy PEPS ---------------------------------------------------------------------------------------------
    PEPS_PARAMS = {"box", "lat", "lon", "q", "tileid", "startDate", "completionDate", "maxRecords", "page",
                   "productType", "sensorMode", "relativeOrbitNumber", "orbitDirection", "platform"}

    def peps_search(self, collection: str, q: dict):
        if collection not in ("S1", "S2", "S2ST", "S3"):
            return self._json(404, {"ErrorCode": 404, "ErrorMessage": "Not Found"})
        unknown = set(q) - self.PEPS_PARAMS
        if unknown:
            return self._json(400, {"ErrorCode": 400, "ErrorMessage": f"Unknown parameter {sorted(unknown)}"})
        per = min(int(q.get("maxRecords", "50")), 500)
        page = int(q.get("page", "1"))
        query = dict(q)
        if "q" in q:
            place = self.svc.places.get(q["q"].lower())
            if place is None:
                query["box"] = "0,0,0.000001,0.000001"
            else:
                query["box"] = ",".join(str(v) for v in place)
        ptype = q.get("productType")
        sel = [p for p in self.svc.products if not p.name.endswith(".EOF") and _os_match(p, {
            **{k: v for k, v in query.items() if k not in ("productType", "q")}})
            and (not ptype or p.name[7:10] == ptype[:3])]
        sel.sort(key=lambda p: p.start)
        chunk = sel[(page - 1) * per: page * per]
        feats = [{"type": "Feature", "id": p.id, "geometry": {"type": "MultiPolygon", "coordinates": []},
                  "properties": {"collection": collection, "productIdentifier": p.name, "title": p.name,
                                 "startDate": _iso(p.start), "completionDate": _iso(p.end),
                                 "productType": p.name[7:10], "platform": p.name[:3], "instrument": "SAR-C SAR",
                                 "sensorMode": p.attributes.get("operationalMode"),
                                 "orbitNumber": p.attributes.get("orbitNumber"),
                                 "relativeOrbitNumber": p.attributes.get("relativeOrbitNumber"),
                                 "orbitDirection": p.direction.lower(),
                                 "resourceSize": len(p.content), "resourceChecksum": p.md5.upper(),
                                 "storage": {"mode": p.storage},
                                 "services": {"download": {"url": f"{self.svc.url}/resto/collections/{collection}/"
                                                           f"{p.id}/download/?issuerId=peps",
                                                           "mimeType": "application/zip",
                                                           "size": len(p.content), "checksum": p.md5.upper()}}}}
                 for p in chunk]
        links = [{"rel": "self", "href": self.path}]
        if page * per < len(sel):
            nq = dict(q)
            nq["page"] = str(page + 1)
            links.append({"rel": "next", "href": f"{self.svc.url}{urlsplit(self.path).path}?{urlencode(nq)}"})
        self._json(200, {"type": "FeatureCollection", "properties": {
            "totalResults": len(sel), "exactCount": True, "startIndex": (page - 1) * per + 1,
            "itemsPerPage": per, "links": links}, "features": feats})
        with self.svc.lock:  # staging completes between two searches
            for p in sel:
                if p.storage == "staging":
                    p.storage = "disk"

    def peps_download(self, pid: str):
        svc = self.svc
        try:
            prod = svc.product(pid)
        except StopIteration:
            return self._json(404, {"ErrorCode": 404, "ErrorMessage": "Not Found"})
        h = self.headers.get("Authorization", "")
        expected = "Basic " + base64.b64encode(f"{svc.user}:{svc.password}".encode()).decode()
        if h != expected:  # PEPS answered its JSON error with HTTP 200
            return self._json(200, {"ErrorCode": 401, "ErrorMessage": "Unauthorized"})
        if svc.knobs.peps_quota:
            return self._json(200, {"ErrorCode": 420, "ErrorMessage": "week|10000000"})
        with svc.lock:
            if prod.storage in ("tape", "unknown", "tier3"):
                prod.storage = "staging"
                return self._json(404, {"ErrorCode": 404, "ErrorMessage": "Product is being staged"})
            if prod.storage == "staging":
                return self._json(404, {"ErrorCode": 404, "ErrorMessage": "Product is being staged"})
        self._serve(prod, prod.content, f"{prod.name}.zip")

    # -- GEODES --------------------------------------------------------------------------------------------------
    def geodes_search(self, body: bytes):
        try:
            req = json.loads(body or b"{}")
        except ValueError:
            return self._json(400, {"detail": "invalid JSON"})
        limit = int(req.get("limit", 20))
        page = int(req.get("page", 1))
        if limit > 80:
            return self._json(400, {"detail": "limit must be <= 80"})
        query = req.get("query") or {}
        sel = []
        for p in self.svc.products:
            if p.name.endswith(".EOF"):
                continue
            if "product:type" in query and p.name[7:10] != query["product:type"]["eq"]:
                continue
            if "sat:relative_orbit" in query and p.attributes["relativeOrbitNumber"] != query["sat:relative_orbit"]["eq"]:
                continue
            s = query.get("start_datetime", {}).get("gte")
            e = query.get("end_datetime", {}).get("lte")
            if (s and p.start < _parse_time(s)) or (e and p.end > _parse_time(e)):
                continue
            if "bbox" in req and not _boxes_meet(p.footprint, tuple(req["bbox"])):
                continue
            sel.append(p)
        sel.sort(key=lambda p: p.start)
        chunk = sel[(page - 1) * limit: page * limit]
        feats = [{"type": "Feature", "id": f"URN:FEATURE:DATA:gdc:{p.id}", "properties": {
            "identifier": p.name, "start_datetime": _iso(p.start), "end_datetime": _iso(p.end),
            "sat:absolute_orbit": p.attributes["orbitNumber"], "sat:relative_orbit": p.attributes["relativeOrbitNumber"],
            "sat:orbit_state": p.direction.lower(), "product:type": p.name[7:10]},
            "assets": {"data": {"href": f"https://geodes-portal.cnes.fr/api/download/URN:FEATURE:DATA:gdc:{p.id}/files/"
                                        f"{p.md5}", "roles": ["data"], "type": "application/zip",
                                "description": f"File size: {len(p.content)} bytes\nIs online: "
                                               f"{str(p.online).lower()}\nChecksum MD5: {p.md5}"}}}
            for p in chunk]
        links = [{"rel": "next", "href": "/api/stac/search", "method": "POST", "body": {"page": page + 1}}] \
            if page * limit < len(sel) else []
        self._json(200, {"type": "FeatureCollection", "features": feats, "links": links,
                         "context": {"matched": len(sel), "returned": len(chunk), "limit": limit}})

    def geodes_download(self, urn: str):
        if self.headers.get("X-API-Key") != self.svc.password:
            return self._json(401, {"detail": "Invalid API key"})
        pid = urn.rsplit(":", 1)[-1]
        try:
            prod = self.svc.product(pid)
        except StopIteration:
            return self._json(404, {"detail": "not found"})
        self._serve(prod, prod.content, f"{prod.name}.zip")

    # -- geocoder, buckets --------------------------------------------------------------------------------------
    def geocode(self, q: dict):
        box = self.svc.places.get(q.get("q", "").lower())
        if box is None:
            return self._json(200, [])
        x0, y0, x1, y1 = box
        self._json(200, [{"place_id": 1, "display_name": q["q"], "boundingbox": [str(y0), str(y1), str(x0), str(x1)],
                          "lat": str((y0 + y1) / 2), "lon": str((x0 + x1) / 2)}])

    def bucket_list(self, q: dict):
        prefix, marker = q.get("prefix", ""), q.get("marker", "")
        keys = sorted(k for k in self.svc.bucket if k.startswith(prefix) and k > marker)
        n = self.svc.knobs.bucket_page
        page, truncated = keys[:n], len(keys) > n
        items = "".join(f"<Contents><Key>{escape(k)}</Key><LastModified>2024-01-01T00:00:00.000Z</LastModified>"
                        f"<Size>{len(self.svc.bucket[k])}</Size><StorageClass>STANDARD</StorageClass></Contents>"
                        for k in page)
        xml = ('<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/'
               f'2006-03-01/"><Name>s1-orbits</Name><Prefix>{escape(prefix)}</Prefix><Marker>{escape(marker)}'
               f'</Marker><MaxKeys>{n}</MaxKeys><IsTruncated>{"true" if truncated else "false"}</IsTruncated>'
               f'{items}</ListBucketResult>')
        self._send(200, xml.encode(), "application/xml")


# -- OData filter evaluation (the subset clients send) -------------------------------------------------------
def _split_top(expr: str, word: str = " and ") -> list[str]:
    parts, depth, quote_on, cur, i = [], 0, False, [], 0
    while i < len(expr):
        c = expr[i]
        if c == "'":
            quote_on = not quote_on
        elif not quote_on and c == "(":
            depth += 1
        elif not quote_on and c == ")":
            depth -= 1
        if not quote_on and depth == 0 and expr.startswith(word, i):
            parts.append("".join(cur))
            cur = []
            i += len(word)
            continue
        cur.append(c)
        i += 1
    parts.append("".join(cur))
    return [p.strip() for p in parts if p.strip()]


def _cmp(a, op: str, b) -> bool:
    return {"eq": a == b, "ne": a != b, "gt": a > b, "lt": a < b, "ge": a >= b, "le": a <= b}[op]


def _start_of(it) -> dt.datetime:
    if isinstance(it, FakeProduct):
        return it.start
    return _parse_time(it["ContentDate"]["Start"])


def _id_of(it) -> str:
    return it.id if isinstance(it, FakeProduct) else it["Id"]


def _boxes_meet(a, b) -> bool:
    return not (a[2] < b[0] or b[2] < a[0] or a[3] < b[1] or b[3] < a[1])


def _wkt_box(kind: str, coords: str) -> tuple[float, float, float, float]:
    nums = [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", coords)]
    xs, ys = nums[0::2], nums[1::2]
    if kind == "POLYGON" and (len(xs) < 4 or (xs[0], ys[0]) != (xs[-1], ys[-1])):
        raise ValueError("polygon ring is not closed")
    return min(xs), min(ys), max(xs), max(ys)


def _value(text: str):
    t = text.strip()
    if t.startswith("'") and t.endswith("'"):
        return t[1:-1]
    try:
        return int(t)
    except ValueError:
        return float(t)


def odata_predicate(expr: str, entity: str = "Products"):
    clauses = []
    for c in _split_top(expr):
        while c.startswith("(") and c.endswith(")") and _split_top(c[1:-1]) == [c[1:-1].strip()]:
            c = c[1:-1].strip()
        clauses.append(_clause(c, entity))
    return lambda it: all(f(it) for f in clauses)


def _clause(c: str, entity: str):
    m = re.fullmatch(r"Collection/Name eq '([^']+)'", c)
    if m:
        return lambda it: (it.collection if isinstance(it, FakeProduct) else "SENTINEL-1") == m.group(1)
    m = re.fullmatch(r"ContentDate/(Start|End) (gt|lt|ge|le) ('?[0-9T:.\-]+Z?'?)", c)
    if m:
        t = _parse_time(m.group(3))
        which = m.group(1)

        def f(it, which=which, op=m.group(2), t=t):
            if isinstance(it, FakeProduct):
                v = it.start if which == "Start" else it.end
            else:
                v = _parse_time(it["ContentDate"][which])
            return _cmp(v, op, t)
        return f
    m = re.fullmatch(r"Name eq '([^']*)'", c)
    if m:
        return lambda it: _name(it) == m.group(1)
    m = re.fullmatch(r"(contains|startswith|endswith)\(Name,\s*'([^']*)'\)", c)
    if m:
        fn = {"contains": lambda n, s: s in n, "startswith": str.startswith, "endswith": str.endswith}[m.group(1)]
        return lambda it: fn(_name(it), m.group(2))
    m = re.fullmatch(r"OData\.CSC\.Intersects\(area=geography'SRID=4326;(POINT|POLYGON)\s*\((.*)\)'\)", c)
    if m:
        box = _wkt_box(m.group(1), m.group(2))
        return lambda it: isinstance(it, FakeProduct) and not it.name.endswith(".EOF") and \
            _boxes_meet(it.footprint, box)
    m = re.fullmatch(r"Attributes/OData\.CSC\.(String|Integer|Double|DateTimeOffset)Attribute/any\(att:att/Name eq "
                     r"'(\w+)' and att/OData\.CSC\.(String|Integer|Double|DateTimeOffset)Attribute/Value "
                     r"(eq|le|lt|ge|gt) (.+)\)", c)
    if m:
        name, op, val = m.group(2), m.group(4), _value(m.group(5))

        def f(it, name=name, op=op, val=val):
            if not isinstance(it, FakeProduct) or name not in it.attributes:
                return False
            have = it.attributes[name]
            try:
                return _cmp(type(val)(have) if not isinstance(val, str) else str(have), op, val)
            except (TypeError, ValueError):
                return False
        return f
    if entity == "Bursts":
        m = re.fullmatch(r"(BurstId|AbsoluteBurstId|SwathIdentifier|PolarisationChannels|OrbitDirection|"
                         r"PlatformSerialIdentifier|RelativeOrbitNumber|OperationalMode|ParentProductName|"
                         r"ParentProductType|ParentProductId) eq (.+)", c)
        if m:
            return lambda it, k=m.group(1), v=_value(m.group(2)): it.get(k) == v
    raise ValueError(f"unsupported expression {c!r}")


def _name(it) -> str:
    return it.full_name if isinstance(it, FakeProduct) else it["Name"]


def _os_match(p: FakeProduct, q: dict) -> bool:
    if "startDate" in q and p.start < _parse_time(q["startDate"] if "T" in q["startDate"] else q["startDate"] + "T00:00:00Z"):
        return False
    if "completionDate" in q and p.start >= _parse_time(q["completionDate"] if "T" in q["completionDate"]
                                                         else q["completionDate"] + "T00:00:00Z"):
        return False
    if q.get("productType") and p.attributes.get("productType") != q["productType"]:
        return False
    if q.get("sensorMode") and p.attributes.get("operationalMode") != q["sensorMode"]:
        return False
    if q.get("relativeOrbitNumber") and str(p.attributes.get("relativeOrbitNumber")) != q["relativeOrbitNumber"]:
        return False
    if q.get("orbitDirection") and p.direction.upper() != q["orbitDirection"].upper():
        return False
    if q.get("platform") and p.name[:3] != q["platform"]:
        return False
    if "box" in q:
        box = tuple(float(v) for v in q["box"].split(","))
        if not _boxes_meet(p.footprint, box):
            return False
    if "lat" in q and "lon" in q:
        x, y = float(q["lon"]), float(q["lat"])
        if not _boxes_meet(p.footprint, (x, y, x, y)):
            return False
    return True
