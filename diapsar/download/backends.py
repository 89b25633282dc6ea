"""Search and download endpoints of each service.

- ``cdse``: Copernicus Data Space Ecosystem OData (``/odata/v1/Products``, ``$expand=Attributes``), bearer token
  from the CDSE Keycloak (client ``cdse-public``); burst extraction through ``/odata/v1/Bursts``.
- ``cdse-opensearch``: CDSE resto-compatible OpenSearch (``/resto/api/collections/<C>/search.json``).
- ``geodes``: CNES GEODES STAC search (successor of PEPS), downloads with an ``X-API-Key``.
- ``resto``: the legacy PEPS resto API of the original ``peps_download.py`` (PEPS closed on 2026-03-25; kept
  for mirrors that still run resto), with its tape -> staging -> disk storage modes.

``base_url`` replaces scheme and host of every endpoint of the chosen backend and keeps its paths.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from ..errors import ConfigError, DownloadError
from ..log import get_logger
from .auth import ApiKeyAuthorizer, BasicAuthorizer, CdseToken, Credentials, find_credentials
from .http import Authorizer, HttpClient, error_detail, host_of, rewrite_base
from .products import Product, parse_time
from .query import SearchQuery, iso_z


def _window(q: SearchQuery) -> tuple[dt.datetime, dt.datetime]:
    """Start and end of a validated query (``SearchQuery.validate`` sets both)."""
    if q.start is None or q.end is None:
        raise ConfigError("the search query has no start or end date (validate it first)")
    return q.start, q.end

log = get_logger("download")

CDSE_IDENTITY = "https://identity.dataspace.copernicus.eu"
CDSE_CATALOGUE = "https://catalogue.dataspace.copernicus.eu"
CDSE_DOWNLOAD = "https://download.dataspace.copernicus.eu"
TOKEN_PATH = "/auth/realms/CDSE/protocol/openid-connect/token"
ENDPOINTS = {
    "cdse": {
        "token": CDSE_IDENTITY + TOKEN_PATH,
        "search": CDSE_CATALOGUE + "/odata/v1/Products",
        "download": CDSE_DOWNLOAD + "/odata/v1/Products({id})/$value",
        "bursts": CDSE_CATALOGUE + "/odata/v1/Bursts",
        "burst_download": CDSE_CATALOGUE + "/odata/v1/Bursts({id})/$value",
    },
    "cdse-opensearch": {
        "token": CDSE_IDENTITY + TOKEN_PATH,
        "search": CDSE_CATALOGUE + "/resto/api/collections/{collection}/search.json",
        "download": CDSE_CATALOGUE + "/download/{id}",
    },
    "geodes": {
        "search": "https://geodes-portal.cnes.fr/api/stac/search",
    },
    "resto": {
        "search": "https://peps.cnes.fr/resto/api/collections/{collection}/search.json",
        "download": "https://peps.cnes.fr/resto/collections/{collection}/{id}/download/?issuerId=peps",
    },
}
GEOCODER = "https://nominatim.openstreetmap.org/search"
ONLINE_MODES = {"disk", "tier2", "online"}
ORDERABLE_MODES = {"tape", "unknown", "tier3", "offline"}

# OData paging limits of CDSE (documentation "OData", 2024-11): $top <= 1000, $skip <= 10000.
ODATA_MAX_TOP = 1000
ODATA_MAX_SKIP = 10000
OPENSEARCH_MAX_RECORDS = 2000
OPENSEARCH_MAX_INDEX = 10000


@dataclass
class SearchResult:
    products: list[Product]
    raw: dict = field(default_factory=dict)
    pages: int = 0


def geocode(client: HttpClient, text: str, base_url: str | None = None) -> tuple[float, float, float, float]:
    """Bounding box (lonmin, latmin, lonmax, latmax) of a place name via OpenStreetMap Nominatim."""
    resp = client.request("GET", rewrite_base(GEOCODER, base_url), params={"q": text, "format": "json",
                                                                            "limit": 1}, what="geocoding")
    if resp.status_code != 200:
        raise DownloadError(f"geocoding {text!r} failed: HTTP {resp.status_code} from {host_of(resp.url)}")
    try:
        hits = resp.json()
        south, north, west, east = (float(v) for v in hits[0]["boundingbox"])
    except (ValueError, KeyError, IndexError, TypeError):
        raise ConfigError(f"location {text!r} not found by the geocoder; use --lat/--lon instead") from None
    return west, south, east, north


class Backend:
    name = ""
    service = "cdse"
    max_workers = 4
    trusted_suffixes: tuple[str, ...] = ()

    def __init__(self, client: HttpClient, base_url: str | None = None, auth_file: str | None = None,
                 credentials: Credentials | None = None, page_size: int | None = None):
        self.client = client
        self.base_url = base_url.rstrip("/") if base_url else None
        self.auth_file = auth_file
        self._credentials = credentials
        self._authorizer: Authorizer | None = None
        self.page_size = page_size
        self.client.trusted_suffixes = tuple(set(client.trusted_suffixes) | set(self.trusted_suffixes))
        self.last_query: SearchQuery | None = None

    # -- endpoints and auth -------------------------------------------------------------------------------
    def url(self, key: str, **fmt) -> str:
        return rewrite_base(ENDPOINTS[self.name][key].format(**fmt), self.base_url)

    @property
    def trusted_hosts(self) -> tuple[str, ...]:
        return (host_of(self.base_url),) if self.base_url else ()

    def credentials(self) -> Credentials:
        if self._credentials is None:
            self._credentials = find_credentials(self.service, self.auth_file)
        if self._credentials is None:
            raise ConfigError(f"no credentials for {self.name}: give -a/--auth FILE ('email password'), "
                              f"~/.netrc or environment variables")
        return self._credentials

    def authorizer(self) -> Authorizer:
        if self._authorizer is None:
            self._authorizer = self._make_authorizer(self.credentials())
        return self._authorizer

    def _make_authorizer(self, creds: Credentials) -> Authorizer:
        raise NotImplementedError

    # -- search ---------------------------------------------------------------------------------------------
    def _json(self, resp: requests.Response, what: str) -> dict:
        host = host_of(resp.url or "")
        if resp.status_code != 200:
            detail = error_detail(resp)
            raise DownloadError(f"{what} failed: HTTP {resp.status_code} from {host}"
                                + (f": {detail}" if detail else ""))
        try:
            body = resp.json()
        except ValueError:
            ctype = resp.headers.get("Content-Type", "?").split(";")[0]
            raise DownloadError(f"{what}: answer from {host} is not JSON ({ctype})") from None
        if not isinstance(body, dict):
            raise DownloadError(f"{what}: unexpected answer from {host}")
        return body

    @staticmethod
    def _add_features(batch: list, parse, products: list[Product], feats: list[dict],
                      seen: set[str] | None = None) -> None:
        """Parse one page of search features into ``products`` (raw copies into ``feats``); a malformed
        feature is skipped with a warning, a repeated one (``seen`` ids) silently."""
        for f in batch:
            if seen is not None:
                if not isinstance(f, dict) or "id" not in f or str(f["id"]) in seen:
                    continue
                seen.add(str(f["id"]))
            try:
                products.append(parse(f))
                feats.append(f)
            except (KeyError, TypeError, ValueError) as exc:
                log.warning("search: skipped a feature without %s", exc)

    @staticmethod
    def _last_page(batch: list, links: list, products: list[Product], q: SearchQuery) -> bool:
        """True when the page was empty, has no ``next`` link, or enough products were collected."""
        has_next = any(isinstance(lk, dict) and lk.get("rel") == "next" for lk in links)
        return not batch or not has_next or bool(q.max_results and len(products) >= q.max_results)

    def search(self, q: SearchQuery) -> SearchResult:
        self.last_query = q
        result = self._search(q)
        kept = [p for p in result.products if q.accepts(p)]
        if len(kept) != len(result.products):
            log.debug("%d product(s) removed by client-side filters", len(result.products) - len(kept))
        kept.sort(key=lambda p: (p.start or dt.datetime.min.replace(tzinfo=dt.UTC), p.name))
        if q.max_results:
            kept = kept[: q.max_results]
        result.products = kept
        return result

    def _search(self, q: SearchQuery) -> SearchResult:
        raise NotImplementedError

    def _area(self, q: SearchQuery) -> tuple[str | None, tuple | None]:
        """WKT and box of the query; a location name is geocoded to a box."""
        if q.location and not q.point and not q.box and not q.tile:
            q.box = geocode(self.client, q.location, self.base_url)
            log.info("location %r -> box lon %.3f..%.3f lat %.3f..%.3f", q.location, q.box[0], q.box[2],
                     q.box[1], q.box[3])
        return q.area_wkt(), q.box

    # -- download -------------------------------------------------------------------------------------------
    def download_url(self, p: Product) -> str:
        return p.download_url

    def prepare_offline(self, products: list[Product]) -> list[Product]:
        """Order offline products; returns those worth a download attempt now."""
        return list(products)

    def refresh(self, products: list[Product]) -> list[Product]:
        """After a wait: which offline products may be attempted again."""
        return list(products)

    def check_payload(self, resp: requests.Response, first: bytes) -> None:
        """Raise DownloadError when a 200 answer is an error message instead of the product."""
        ctype = resp.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if ctype in ("application/json", "text/html") or first[:1] == b"{":
            text = first[:400].decode("utf-8", "replace")
            try:
                body = json.loads(text)
                msg = body.get("ErrorMessage") or body.get("detail") or body.get("message") or text
                code = body.get("ErrorCode")
            except (ValueError, AttributeError):
                msg, code = text.strip().replace("\n", " ")[:120], None
            hint = ""
            if code == 420 or "week|" in str(msg):
                hint = " (download quota exceeded)"
            elif code in (401, 403):
                hint = " (check the credentials)"
            prefix = f"ErrorCode {code}: " if code else ""
            raise DownloadError(f"server sent an error instead of the product: {prefix}{msg}{hint}")


# ---------------------------------------------------------------------------------------------------------
class CdseOData(Backend):
    name = "cdse"
    trusted_suffixes = ("dataspace.copernicus.eu",)
    max_skip = ODATA_MAX_SKIP

    def _make_authorizer(self, creds):
        return CdseToken(self.client, self.url("token"), creds)

    @staticmethod
    def _attr(name: str, value, kind: str = "String", op: str = "eq") -> str:
        v = f"'{value}'" if kind == "String" else value
        return (f"Attributes/OData.CSC.{kind}Attribute/any(att:att/Name eq '{name}' and "
                f"att/OData.CSC.{kind}Attribute/Value {op} {v})")

    def filters(self, q: SearchQuery, start: dt.datetime | None = None) -> list[str]:
        q_start, q_end = _window(q)
        f = [f"Collection/Name eq '{q.odata_collection}'",
             f"ContentDate/Start ge {iso_z(start or q_start)}", f"ContentDate/Start lt {iso_z(q_end)}"]
        wkt, _ = self._area(q)
        if wkt:
            f.append(f"OData.CSC.Intersects(area=geography'SRID=4326;{wkt}')")
        if q.collection == "S1":
            esa = q.esa_product_type()
            if esa:
                f.append(self._attr("productType", esa))
            elif q.product_type:
                token = {"SLC": "_SLC__", "GRD": "_GRD", "OCN": "_OCN__", "RAW": "_RAW__"}.get(q.product_type)
                if token is None:
                    raise ConfigError(f"unknown S1 product type {q.product_type!r} (GRD, SLC, OCN, RAW)")
                f.append(f"contains(Name,'{token}')")
            if q.sensor_mode and not esa:
                f.append(self._attr("operationalMode", q.sensor_mode))
        else:
            if q.product_type:
                pt = "S2MSI2A" if q.product_type.upper() == "S2MSI2AP" else q.product_type
                f.append(self._attr("productType", pt))
            if q.tile:
                f.append(f"contains(Name,'_T{q.tile}_')")
            if q.max_cloud is not None:
                f.append(self._attr("cloudCover", f"{q.max_cloud:.2f}", "Double", "le"))
        if q.satellite:
            f.append(f"startswith(Name,'{q.satellite}_')")
        if q.relative_orbit is not None:
            f.append(self._attr("relativeOrbitNumber", q.relative_orbit, "Integer"))
        if q.orbit_direction:
            f.append(self._attr("orbitDirection", q.orbit_direction))
        return f

    def parse(self, item: dict) -> Product:
        attrs: dict[str | None, Any] = {a.get("Name"): a.get("Value") for a in item.get("Attributes") or [] if isinstance(a, dict)}
        sums = {c.get("Algorithm", "").upper(): c.get("Value") for c in item.get("Checksum") or []
                if isinstance(c, dict)}
        size = item.get("ContentLength") or None
        pid = str(item["Id"])
        rel = attrs.get("relativeOrbitNumber")
        return Product(
            id=pid, name=str(item["Name"]), collection=str(attrs.get("platformShortName") or ""),
            start=parse_time((item.get("ContentDate") or {}).get("Start")), size=int(size) if size else None,
            online=bool(item.get("Online", True)), storage="online" if item.get("Online", True) else "offline",
            md5=sums.get("MD5"), blake3=sums.get("BLAKE3"),
            platform=("S1" + attrs["platformSerialIdentifier"]) if attrs.get("platformSerialIdentifier") and
            str(item["Name"]).startswith("S1") else None,
            absolute_orbit=int(attrs["orbitNumber"]) if attrs.get("orbitNumber") is not None else None,
            relative_orbit=int(rel) if rel is not None else None,
            orbit_direction=attrs.get("orbitDirection"),
            cloud_cover=float(attrs["cloudCover"]) if attrs.get("cloudCover") is not None else None,
            download_url=self.url("download", id=pid), raw=item)

    def _search(self, q: SearchQuery) -> SearchResult:
        return self.odata_search(self.url("search"), lambda start: self.filters(q, start), self.parse,
                                 q.max_results, "search")

    def odata_search(self, url: str, make_filters, parse, max_results: int | None, what: str,
                     orderby: str = "ContentDate/Start asc", expand: str | None = "Attributes") -> SearchResult:
        top = min(self.page_size or ODATA_MAX_TOP, ODATA_MAX_TOP)
        seen: set[str] = set()
        products: list[Product] = []
        raw_items: list[dict] = []
        context = None
        pages = 0
        cursor: dt.datetime | None = None

        def first_params(start):
            p = {"$filter": " and ".join(make_filters(start)), "$orderby": orderby, "$top": str(top)}
            if expand:
                p["$expand"] = expand
            return p

        next_url, params, cur_skip = url, first_params(None), 0
        while True:
            body = self._json(self.client.request("GET", next_url, params=params, what=what), what)
            pages += 1
            page_len = len(body.get("value") or [])
            context = context or body.get("@odata.context")
            for item in body.get("value") or []:
                if not isinstance(item, dict) or "Id" not in item or str(item["Id"]) in seen:
                    continue
                seen.add(str(item["Id"]))
                try:
                    products.append(parse(item))
                except (KeyError, TypeError, ValueError) as exc:
                    log.warning("%s: skipped an entry without %s", what, exc)
                    continue
                raw_items.append(item)
            if max_results and len(products) >= max_results:
                break
            link = body.get("@odata.nextLink") or body.get("@OData.nextLink")
            # CDSE gives no nextLink beyond $skip 10000: a full page there means more results may remain
            at_limit = page_len >= top and cur_skip + top > self.max_skip
            if not link and not at_limit:
                break
            skip = int((parse_qs(urlsplit(link).query).get("$skip") or ["0"])[0]) if link else cur_skip + top
            if skip > self.max_skip:
                # the service refuses $skip beyond its limit (HTTP 422): restart from the last start time
                last = max((p.start for p in products if p.start), default=None)
                if last is None or last == cursor:
                    raise DownloadError(f"{what}: more than {self.max_skip} results share one start time; "
                                        "narrow the search")
                cursor = last
                log.debug("%s: paging limit reached, continuing from %s", what, iso_z(last, 6))
                next_url, params, cur_skip = url, first_params(last), 0
                continue
            assert link  # without a link, at_limit made skip exceed max_skip: continued above
            next_url, params, cur_skip = rewrite_base(link, self.base_url), None, skip
        return SearchResult(products, {"@odata.context": context, "value": raw_items}, pages)

    # -- bursts -------------------------------------------------------------------------------------------
    def parse_burst(self, item: dict) -> Product:
        bid = str(item["Id"])
        serial = item.get("PlatformSerialIdentifier")
        return Product(
            id=bid, name=str(item["Name"]), collection="SENTINEL-1",
            start=parse_time((item.get("ContentDate") or {}).get("Start") or item.get("AzimuthTime")),
            size=None, online=True, storage="online", platform=f"S1{serial}" if serial else None,
            relative_orbit=item.get("RelativeOrbitNumber"), orbit_direction=item.get("OrbitDirection"),
            download_url=self.url("burst_download", id=bid), method="POST", is_burst=True, raw=item)

    def search_bursts(self, q: SearchQuery, bursts: list[tuple[int, str | None]]) -> SearchResult:
        products: list[Product] = []
        raw: list[dict] = []
        pages = 0
        for burst_id, swath in bursts:
            def make(start, burst_id=burst_id, swath=swath):
                f = [f"BurstId eq {int(burst_id)}", f"ContentDate/Start ge {iso_z(start or q.start)}",
                     f"ContentDate/Start lt {iso_z(q.end)}"]
                if swath:
                    f.append(f"SwathIdentifier eq '{swath}'")
                if q.polarisation:
                    f.append(f"PolarisationChannels eq '{q.polarisation[0]}'")
                if q.orbit_direction:
                    f.append(f"OrbitDirection eq '{q.orbit_direction}'")
                if q.satellite:
                    f.append(f"PlatformSerialIdentifier eq '{q.satellite[-1]}'")
                if q.relative_orbit is not None:
                    f.append(f"RelativeOrbitNumber eq {q.relative_orbit}")
                return f
            r = self.odata_search(self.url("bursts"), make, self.parse_burst, q.max_results, "burst search",
                                  expand=None)
            products += r.products
            raw += r.raw.get("value", [])
            pages += r.pages
        products.sort(key=lambda p: (p.start or dt.datetime.min.replace(tzinfo=dt.UTC), p.name))
        return SearchResult(products, {"@odata.context": "$metadata#Bursts", "value": raw}, pages)


# ---------------------------------------------------------------------------------------------------------
class CdseOpenSearch(Backend):
    name = "cdse-opensearch"
    trusted_suffixes = ("dataspace.copernicus.eu",)

    def _make_authorizer(self, creds):
        return CdseToken(self.client, self.url("token"), creds)

    def params(self, q: SearchQuery, start: dt.datetime | None) -> dict:
        q_start, q_end = _window(q)
        p = {"startDate": iso_z(start or q_start), "completionDate": iso_z(q_end),
             "sortParam": "startDate", "sortOrder": "ascending"}
        _, box = self._area(q)
        if q.point:
            p["lon"], p["lat"] = f"{q.point[0]:.6f}", f"{q.point[1]:.6f}"
        elif box:
            p["box"] = ",".join(f"{v:.6f}" for v in box)
        esa = q.esa_product_type()
        if esa:
            p["productType"] = esa
        if q.sensor_mode and q.collection == "S1":
            p["sensorMode"] = q.sensor_mode
        if q.relative_orbit is not None:
            p["relativeOrbitNumber"] = str(q.relative_orbit)
        if q.orbit_direction:
            p["orbitDirection"] = q.orbit_direction
        if q.satellite:
            p["platform"] = q.satellite
        if q.max_cloud is not None:
            p["cloudCover"] = f"[0,{q.max_cloud:g}]"
        return p

    def parse(self, feat: dict) -> Product:
        props = feat.get("properties") or {}
        dl = (props.get("services") or {}).get("download") or {}
        status = str(props.get("status") or "ONLINE").upper()
        url = dl.get("url")
        return Product(
            id=str(feat["id"]), name=str(props.get("title") or feat["id"]),
            collection=str(props.get("collection") or ""), start=parse_time(props.get("startDate")),
            size=int(dl["size"]) if dl.get("size") else None, online=status != "OFFLINE", storage=status,
            platform=props.get("platform"),
            absolute_orbit=int(props["orbitNumber"]) if props.get("orbitNumber") is not None else None,
            relative_orbit=props.get("relativeOrbitNumber"),
            orbit_direction=props.get("orbitDirection"),
            cloud_cover=float(props["cloudCover"]) if props.get("cloudCover") is not None else None,
            download_url=rewrite_base(url, self.base_url) if url else self.url("download", id=feat["id"]),
            raw=feat)

    def _search(self, q: SearchQuery) -> SearchResult:
        url = self.url("search", collection=q.odata_collection)
        per_page = min(self.page_size or OPENSEARCH_MAX_RECORDS, OPENSEARCH_MAX_RECORDS)
        products: list[Product] = []
        feats: list[dict] = []
        seen: set[str] = set()
        pages = 0
        page = 1
        cursor = None
        params = self.params(q, None)
        while True:
            if (page - 1) * per_page >= OPENSEARCH_MAX_INDEX:
                last = max((p.start for p in products if p.start), default=None)
                if last is None or last == cursor:
                    raise DownloadError("search: too many results share one start time; narrow the search")
                cursor, page, params = last, 1, self.params(q, last)
            body = self._json(self.client.request(
                "GET", url, params={**params, "maxRecords": str(per_page), "page": str(page)},
                what="search"), "search")
            pages += 1
            batch = body.get("features") or []
            self._add_features(batch, self.parse, products, feats, seen)
            links = (body.get("properties") or {}).get("links") or body.get("links") or []
            if self._last_page(batch, links, products, q):
                break
            page += 1
        return SearchResult(products, {"type": "FeatureCollection", "features": feats}, pages)


# ---------------------------------------------------------------------------------------------------------
class Geodes(Backend):
    name = "geodes"
    service = "geodes"
    trusted_suffixes = ("cnes.fr",)
    max_limit = 80

    def _make_authorizer(self, creds):
        return ApiKeyAuthorizer(creds)

    def collection(self, q: SearchQuery) -> str:
        if q.collection == "S1":
            return "PEPS_S1_L2" if q.product_type == "OCN" else "PEPS_S1_L1"
        if q.collection.startswith("S2"):
            return "PEPS_S2_L2A" if (q.product_type or "").upper().startswith("S2MSI2A") else "PEPS_S2_L1C"
        raise ConfigError(f"collection {q.collection} is not served by GEODES")

    def body(self, q: SearchQuery, page: int) -> dict:
        q_start, q_end = _window(q)
        query: dict = {"start_datetime": {"gte": iso_z(q_start)}, "end_datetime": {"lte": iso_z(q_end)}}
        if q.collection == "S1" and q.product_type in ("SLC", "GRD"):
            query["product:type"] = {"eq": q.product_type}
        if q.relative_orbit is not None:
            query["sat:relative_orbit"] = {"eq": q.relative_orbit}
        if q.orbit_direction:
            query["sat:orbit_state"] = {"eq": q.orbit_direction.lower()}
        b: dict = {"collections": [self.collection(q)], "limit": min(self.page_size or self.max_limit,
                                                                       self.max_limit),
                   "page": page, "query": query, "sortBy": [{"field": "start_datetime", "direction": "asc"}]}
        _, box = self._area(q)
        if q.point:
            b["intersects"] = {"type": "Point", "coordinates": [q.point[0], q.point[1]]}
        elif box:
            b["bbox"] = list(box)
        return b

    def parse(self, item: dict) -> Product:
        props = item.get("properties") or {}
        asset = next((a for a in (item.get("assets") or {}).values()
                      if isinstance(a, dict) and "data" in (a.get("roles") or [])), None)
        if asset is None:
            raise KeyError("data asset")
        desc = str(asset.get("description") or "")
        size = re.search(r"File size:\s*(\d+)", desc)
        online = re.search(r"Is online:\s*(true|false)", desc, re.I)
        md5 = re.search(r"Checksum MD5:\s*([0-9a-fA-F]{32})", desc)
        return Product(
            id=str(item.get("id")), name=str(props.get("identifier") or item.get("id")),
            start=parse_time(props.get("start_datetime") or props.get("datetime")),
            size=int(size.group(1)) if size else None,
            online=(online.group(1).lower() == "true") if online else True,
            storage=("online" if not online or online.group(1).lower() == "true" else "offline"),
            md5=md5.group(1) if md5 else None,
            absolute_orbit=props.get("sat:absolute_orbit"), relative_orbit=props.get("sat:relative_orbit"),
            orbit_direction=str(props.get("sat:orbit_state") or "").upper() or None,
            download_url=rewrite_base(str(asset["href"]), self.base_url), raw=item)

    def _search(self, q: SearchQuery) -> SearchResult:
        products: list[Product] = []
        feats: list[dict] = []
        page, pages = 1, 0
        while True:
            body = self._json(self.client.request("POST", self.url("search"), json=self.body(q, page),
                                                  what="search"), "search")
            pages += 1
            batch = body.get("features") or []
            self._add_features(batch, self.parse, products, feats)
            if self._last_page(batch, body.get("links") or [], products, q):
                break
            page += 1
        return SearchResult(products, {"type": "FeatureCollection", "features": feats,
                                       "context": {"returned": len(feats)}}, pages)


# ---------------------------------------------------------------------------------------------------------
class Resto(Backend):
    """The legacy PEPS resto API, as the original peps_download.py used it (with paging added)."""

    name = "resto"
    service = "resto"
    trusted_suffixes = ("peps.cnes.fr",)
    max_records = 500

    def _make_authorizer(self, creds):
        return BasicAuthorizer(creds)

    def params(self, q: SearchQuery) -> dict:
        p: dict = {}
        if q.tile:
            p["tileid"] = q.tile
        elif q.location and not q.point and not q.box:
            p["q"] = q.location
        elif q.point:
            p["lat"], p["lon"] = f"{q.point[1]:f}", f"{q.point[0]:f}"
        elif q.box:
            p["box"] = ",".join(f"{v:f}" for v in q.box)
        q_start, q_end = _window(q)
        p["startDate"] = q_start.strftime("%Y-%m-%d") if q_start.time() == dt.time() else iso_z(q_start)
        p["completionDate"] = q_end.strftime("%Y-%m-%d") if q_end.time() == dt.time() else iso_z(q_end)
        if q.product_type:
            p["productType"] = q.product_type
        if q.sensor_mode:
            p["sensorMode"] = q.sensor_mode
        return p

    def parse(self, feat: dict, collection: str) -> Product:
        props = feat["properties"]
        mode = str((props.get("storage") or {}).get("mode") or "disk").lower()
        return Product(
            id=str(feat["id"]), name=str(props["productIdentifier"]), collection=collection,
            start=parse_time(props.get("startDate")), size=int(props["resourceSize"]) if props.get(
                "resourceSize") else None, online=mode in ONLINE_MODES, storage=mode,
            md5=props.get("resourceChecksum"), platform=props.get("platform"),
            absolute_orbit=int(props["orbitNumber"]) if props.get("orbitNumber") is not None else None,
            relative_orbit=props.get("relativeOrbitNumber"),
            orbit_direction=str(props.get("orbitDirection") or "").upper() or None,
            cloud_cover=float(props["cloudCover"]) if props.get("cloudCover") is not None else None,
            download_url=self.url("download", collection=collection, id=feat["id"]), raw=feat)

    def _search(self, q: SearchQuery) -> SearchResult:
        url = self.url("search", collection=q.collection)
        per_page = min(self.page_size or self.max_records, self.max_records)
        base = self.params(q)
        products: list[Product] = []
        feats: list[dict] = []
        page, pages = 1, 0
        while True:
            body = self._json(self.client.request("GET", url, params={**base, "maxRecords": str(per_page),
                                                                      "page": str(page)}, what="search"),
                              "search")
            pages += 1
            if "ErrorCode" in body:
                raise DownloadError(f"search refused: ErrorCode {body.get('ErrorCode')}: "
                                    f"{body.get('ErrorMessage', '')}")
            batch = body.get("features") or []
            self._add_features(batch, lambda f: self.parse(f, q.collection), products, feats)
            if self._last_page(batch, (body.get("properties") or {}).get("links") or [], products, q):
                break
            page += 1
        return SearchResult(products, {"type": "FeatureCollection", "features": feats}, pages)

    def prepare_offline(self, products: list[Product]) -> list[Product]:
        """One download request per tape product triggers its staging (the original's first pass)."""
        for p in products:
            if p.storage in ORDERABLE_MODES:
                try:
                    resp = self.client.request("GET", p.download_url, auth=self.authorizer(), stream=True,
                                               trusted_hosts=self.trusted_hosts, what=f"order {p.name}")
                    resp.close()
                    log.info("%s is on %s: staging requested", p.name, p.storage)
                    p.storage = "staging"
                except DownloadError as exc:
                    log.warning("%s: staging request failed: %s", p.name, exc)
        return [p for p in products if p.online]

    def refresh(self, products: list[Product]) -> list[Product]:
        """Run the search again to read the current storage modes (as the original loop did)."""
        if self.last_query is None:
            return []
        fresh = {p.id: p for p in self._search(self.last_query).products}
        ready = []
        for p in products:
            f = fresh.get(p.id)
            if f is not None:
                p.storage, p.online = f.storage, f.online
            if p.online:
                ready.append(p)
        return ready


BACKENDS = {cls.name: cls for cls in (CdseOData, CdseOpenSearch, Geodes, Resto)}


def make_backend(name: str, client: HttpClient, **kw) -> Backend:
    try:
        cls = BACKENDS[name]
    except KeyError:
        raise ConfigError(f"unknown backend {name!r} (choose among {', '.join(BACKENDS)})") from None
    return cls(client, **kw)
