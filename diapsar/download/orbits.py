"""Sentinel-1 orbit files (AUX_POEORB, else AUX_RESORB) covering a product, from CDSE or the public bucket.

Files keep ESA's names, ``S1A_OPER_AUX_POEORB_OPOD_<production>_V<start>_<stop>.EOF``, so that a reader can
select them from the name alone (``find_orbit_file``).
"""

from __future__ import annotations

import datetime as dt
import io
import re
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError, DownloadError, OrbitError
from ..io.atomic import atomic_path
from ..log import get_logger
from .auth import CdseToken, find_credentials
from .backends import CDSE_CATALOGUE, CDSE_DOWNLOAD, CDSE_IDENTITY, TOKEN_PATH
from .http import HttpClient, NetworkError, error_detail, host_of, rewrite_base
from .products import parse_s1_name
from .query import iso_z

log = get_logger("orbits")

EOF_NAME = re.compile(r"^(?P<mission>S1[ABCD])_OPER_AUX_(?P<kind>POEORB|RESORB)_OPOD_(?P<prod>\d{8}T\d{6})_"
                      r"V(?P<start>\d{8}T\d{6})_(?P<stop>\d{8}T\d{6})\.EOF$")
ORBIT_BUCKET = "https://s1-orbits.s3.amazonaws.com/"
S3_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
KINDS = {"precise": ("POEORB",), "restituted": ("RESORB",), "auto": ("POEORB", "RESORB")}
# state vectors beyond each end of the acquisition needed for interpolation (10 s spacing in EOF files)
MARGIN = dt.timedelta(seconds=60)


def _t(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y%m%dT%H%M%S").replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class OrbitName:
    name: str
    mission: str
    kind: str
    produced: dt.datetime
    start: dt.datetime
    stop: dt.datetime

    @classmethod
    def parse(cls, name: str) -> OrbitName | None:
        m = EOF_NAME.match(Path(name).name)
        if not m:
            return None
        return cls(Path(name).name, m["mission"], m["kind"], _t(m["prod"]), _t(m["start"]), _t(m["stop"]))

    def covers(self, t0: dt.datetime, t1: dt.datetime) -> bool:
        return self.start <= t0 - MARGIN and self.stop >= t1 + MARGIN


def product_window(product: str) -> tuple[str, dt.datetime, dt.datetime]:
    """Mission and acquisition start/stop of a product name, SAFE folder or zip path."""
    name = Path(product.rstrip("/")).name
    info = parse_s1_name(name)
    if info is None:
        raise ConfigError(f"{product!r} is not a Sentinel-1 product name (S1A_IW_SLC__1SDV_<start>_<stop>_...)")
    return info["mission"], _t(info["start"]), _t(info["stop"])


def best(candidates, mission: str, t0: dt.datetime, t1: dt.datetime, kind: str) -> OrbitName | None:
    ok = [c for c in candidates if c and c.mission == mission and c.kind == kind and c.covers(t0, t1)]
    return max(ok, key=lambda c: c.produced) if ok else None


def find_orbit_file(folder: str | Path, mission: str, t0: dt.datetime, t1: dt.datetime) -> Path | None:
    """The best local EOF for an acquisition: POEORB before RESORB, the latest production first."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    names = [OrbitName.parse(p.name) for p in folder.glob("S1*_OPER_AUX_*.EOF")]
    for kind in ("POEORB", "RESORB"):
        b = best(names, mission, t0, t1, kind)
        if b:
            return folder / b.name
    return None


def _eof_bytes(payload: bytes, name: str) -> bytes:
    """The EOF XML out of a download (CDSE serves a zip holding the .EOF; the bucket the EOF itself)."""
    if payload[:2] == b"PK":
        try:
            with zipfile.ZipFile(io.BytesIO(payload)) as zf:
                members = [m for m in zf.namelist() if m.endswith(".EOF")]
                if not members:
                    raise DownloadError(f"{name}: the downloaded zip holds no .EOF file")
                payload = zf.read(members[0])
        except zipfile.BadZipFile:
            raise DownloadError(f"{name}: downloaded zip is corrupt") from None
    try:
        root = ET.fromstring(payload)
    except ET.ParseError:
        raise DownloadError(f"{name}: downloaded file is not XML") from None
    if not root.tag.endswith("Earth_Explorer_File"):
        raise DownloadError(f"{name}: downloaded file is not an Earth Explorer orbit file")
    return payload


class OrbitFetcher:
    def __init__(self, client: HttpClient, out_dir: str | Path, source: str = "auto",
                 base_url: str | None = None, auth_file: str | None = None):
        if source not in ("auto", "cdse", "aws"):
            raise ConfigError(f"unknown orbit source {source!r} (auto, cdse, aws)")
        self.client = client
        self.out = Path(out_dir)
        self.base_url = base_url.rstrip("/") if base_url else None
        self.source = source
        self.auth_file = auth_file
        self._token: CdseToken | None = None
        self._creds_checked = False
        # a source that could not be reached (timeouts, refused, deadline) is not asked again in this run:
        # a dead server costs its timeouts once, not once per orbit type and product
        self._down: dict[str, str] = {}

    def _url(self, url: str) -> str:
        return rewrite_base(url, self.base_url)

    def _cdse_token(self) -> CdseToken | None:
        if not self._creds_checked:
            self._creds_checked = True
            creds = find_credentials("cdse", self.auth_file)
            if creds is not None:
                self._token = CdseToken(self.client, self._url(CDSE_IDENTITY + TOKEN_PATH), creds)
        return self._token

    def fetch(self, product: str, kinds=("POEORB", "RESORB")) -> Path:
        mission, t0, t1 = product_window(product)
        errors: list[str] = []
        for kind in kinds:
            local = best([OrbitName.parse(p.name) for p in self.out.glob(f"{mission}_OPER_AUX_{kind}_*.EOF")]
                         if self.out.is_dir() else [], mission, t0, t1, kind)
            if local:
                log.info("%s: %s already present", Path(product).name, local.name)
                return self.out / local.name
            sources = []
            if self.source in ("auto", "cdse"):
                if self._cdse_token() is not None:
                    sources.append(self._from_cdse)
                elif self.source == "cdse":
                    raise ConfigError("orbits from CDSE need credentials (-a FILE, ~/.netrc or CDSE_USERNAME/"
                                      "CDSE_PASSWORD)")
            if self.source in ("auto", "aws"):
                sources.append(self._from_bucket)
            for src in sources:
                if src.__name__ in self._down:
                    continue
                try:
                    path = src(mission, t0, t1, kind)
                except NetworkError as exc:
                    self._down[src.__name__] = str(exc)
                    errors.append(str(exc))
                    log.warning("%s: %s", Path(product).name, exc)
                    continue
                except DownloadError as exc:
                    errors.append(str(exc))
                    log.warning("%s: %s", Path(product).name, exc)
                    continue
                if path is not None:
                    return path
        errors += [f"{msg} (earlier in this run)" for name, msg in self._down.items() if msg not in errors]
        detail = f" ({'; '.join(errors)})" if errors else ""
        raise OrbitError(f"no {' or '.join(kinds)} orbit file covers {Path(product).name} "
                         f"({iso_z(t0, 0)} .. {iso_z(t1, 0)}){detail}")

    def _save(self, name: str, payload: bytes) -> Path:
        data = _eof_bytes(payload, name)
        final = self.out / name
        with atomic_path(final) as tmp:
            tmp.write_bytes(data)
        log.info("orbit file %s written (%d bytes)", final, len(data))
        return final

    # -- CDSE -------------------------------------------------------------------------------------------
    def _from_cdse(self, mission: str, t0: dt.datetime, t1: dt.datetime, kind: str) -> Path | None:
        # no Collection/Name clause: as sentineleof's query, which is known to find the AUX files on CDSE
        flt = (f"startswith(Name,'{mission}_OPER_AUX_{kind}') and "
               f"ContentDate/Start lt {iso_z(t0 - MARGIN)} and ContentDate/End gt {iso_z(t1 + MARGIN)}")
        url = self._url(CDSE_CATALOGUE + "/odata/v1/Products")
        resp = self.client.request("GET", url, params={"$filter": flt, "$orderby": "ContentDate/Start desc",
                                                       "$top": "20"}, what="orbit search")
        if resp.status_code != 200:
            raise DownloadError(f"orbit search at {host_of(url)}: HTTP {resp.status_code} {error_detail(resp)}")
        try:
            items = {str(v["Name"]): str(v["Id"]) for v in resp.json().get("value", [])}
        except (ValueError, KeyError, TypeError, AttributeError):
            raise DownloadError(f"orbit search at {host_of(url)}: unexpected answer") from None
        choice = best([OrbitName.parse(n) for n in items], mission, t0, t1, kind)
        if choice is None:
            return None
        dl = self._url(f"{CDSE_DOWNLOAD}/odata/v1/Products({items[choice.name]})/$value")
        token = self._cdse_token()
        resp = self.client.request("GET", dl, auth=token, what=f"orbit {choice.name}",
                                   trusted_hosts=(host_of(self.base_url),) if self.base_url else ())
        if resp.status_code != 200:
            raise DownloadError(f"orbit download {choice.name}: HTTP {resp.status_code} {error_detail(resp)}")
        return self._save(choice.name, resp.content)

    # -- public bucket ----------------------------------------------------------------------------------------
    def _from_bucket(self, mission: str, t0: dt.datetime, t1: dt.datetime, kind: str) -> Path | None:
        url = self._url(ORBIT_BUCKET)
        prefix = f"AUX_{kind}/{mission}_OPER_AUX_{kind}_OPOD_"
        # keys sort by production time: POEORB is produced ~20 days after the day it covers, RESORB hours after
        marker = prefix + (t0 - dt.timedelta(days=2)).strftime("%Y%m%dT%H%M%S")
        horizon = t1 + dt.timedelta(days=30 if kind == "POEORB" else 2)
        names: list[OrbitName | None] = []
        for _ in range(50):
            resp = self.client.request("GET", url, params={"prefix": prefix, "marker": marker},
                                       what="orbit listing")
            if resp.status_code != 200:
                raise DownloadError(f"orbit listing at {host_of(url)}: HTTP {resp.status_code}")
            try:
                root = ET.fromstring(resp.content)
            except ET.ParseError:
                raise DownloadError(f"orbit listing at {host_of(url)} is not XML") from None
            keys = [k.text or "" for k in root.iter(f"{S3_NS}Key")] or [k.text or "" for k in root.iter("Key")]
            names += [OrbitName.parse(k.rsplit("/", 1)[-1]) for k in keys]
            truncated = (root.findtext(f"{S3_NS}IsTruncated") or root.findtext("IsTruncated") or "") == "true"
            last = OrbitName.parse(keys[-1].rsplit("/", 1)[-1]) if keys else None
            if not truncated or not keys or (last and last.produced > horizon):
                break
            marker = root.findtext(f"{S3_NS}NextMarker") or root.findtext("NextMarker") or keys[-1]
        choice = best(names, mission, t0, t1, kind)
        if choice is None:
            return None
        resp = self.client.request("GET", url.rstrip("/") + f"/AUX_{kind}/{choice.name}",
                                   what=f"orbit {choice.name}")
        if resp.status_code != 200:
            raise DownloadError(f"orbit download {choice.name}: HTTP {resp.status_code}")
        return self._save(choice.name, resp.content)
