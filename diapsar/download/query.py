"""A search request independent of the service, validated once, plus client-side filters every backend
applies after the server (so a service ignoring a parameter cannot return wrong products)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from ..errors import ConfigError
from .products import Product, parse_s1_name

COLLECTIONS = {"S1": "SENTINEL-1", "S2": "SENTINEL-2", "S2ST": "SENTINEL-2", "S3": "SENTINEL-3"}
S1_PRODUCT_TYPES = {"GRD", "SLC", "OCN", "RAW"}
S1_MODES = {"EW", "IW", "SM", "WV"}
SM_BEAMS = {f"S{i}" for i in range(1, 7)}


def parse_date(text: str, what: str) -> dt.datetime:
    """``YYYY-MM-DD`` (or a full ISO time) as an aware UTC datetime; ConfigError naming the option."""
    t = text.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", t):
            value = dt.datetime.strptime(t, "%Y-%m-%d")
        else:
            value = dt.datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"{what}: {text!r} is not a date (expected YYYY-MM-DD)") from None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def iso_z(value: dt.datetime, digits: int = 3) -> str:
    v = value.astimezone(dt.UTC)
    return v.strftime("%Y-%m-%dT%H:%M:%S") + (f".{v.microsecond:06d}"[: digits + 1] if digits else "") + "Z"


@dataclass
class SearchQuery:
    collection: str = "S1"
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    product_type: str | None = None
    sensor_mode: str | None = None
    point: tuple[float, float] | None = None             # lon, lat
    box: tuple[float, float, float, float] | None = None  # lonmin, latmin, lonmax, latmax
    location: str | None = None
    tile: str | None = None
    relative_orbit: int | None = None
    satellite: str | None = None
    orbit_direction: str | None = None                   # ASCENDING / DESCENDING
    polarisation: tuple[str, ...] = ()
    max_cloud: float | None = None                       # percent, Sentinel-2 only
    max_results: int | None = None

    def validate(self) -> SearchQuery:
        c = (self.collection or "").upper()
        if c not in COLLECTIONS:
            raise ConfigError(f"unknown collection {self.collection!r} (choose among {', '.join(COLLECTIONS)})")
        self.collection = c
        if self.start is None:
            raise ConfigError("a start date is required (-d YYYY-MM-DD)")
        if self.end is None:
            self.end = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
        if self.end <= self.start:
            raise ConfigError(f"end date {self.end:%Y-%m-%d} is not after start date {self.start:%Y-%m-%d}")
        if self.product_type:
            self.product_type = self.product_type.strip()
            if c == "S1" and self.product_type.upper() in S1_PRODUCT_TYPES:
                self.product_type = self.product_type.upper()
        if self.sensor_mode:
            self.sensor_mode = self.sensor_mode.strip().upper()
            if c == "S1" and self.sensor_mode not in S1_MODES:
                raise ConfigError(f"unknown sensor mode {self.sensor_mode!r} for S1 (EW, IW, SM, WV)")
        if self.tile:
            t = self.tile.strip().upper()
            t = t[1:] if t.startswith("T") and len(t) == 6 else t
            if not re.fullmatch(r"\d{2}[A-Z]{3}", t):
                raise ConfigError(f"tile {self.tile!r} is not a Sentinel-2 tile (e.g. 31TCJ)")
            if not c.startswith("S2"):
                raise ConfigError("--tile applies to Sentinel-2 collections (S2, S2ST)")
            self.tile = t
        if self.point and self.box:
            raise ConfigError("give either --lat/--lon or --latmin/--latmax/--lonmin/--lonmax, not both")
        if self.point:
            lon, lat = self.point
            if not (-180 <= lon <= 180 and -90 <= lat <= 90):
                raise ConfigError(f"point lon={lon} lat={lat} is outside -180..180 / -90..90")
        if self.box:
            lonmin, latmin, lonmax, latmax = self.box
            if not (-180 <= lonmin < lonmax <= 180 and -90 <= latmin < latmax <= 90):
                raise ConfigError(f"box lon {lonmin}..{lonmax} lat {latmin}..{latmax} is empty or out of range")
        if self.relative_orbit is not None and not (1 <= self.relative_orbit <= 175 if c == "S1" else
                                                    1 <= self.relative_orbit <= 143):
            raise ConfigError(f"relative orbit {self.relative_orbit} out of range")
        if self.satellite:
            s = self.satellite.strip().upper()
            if not s.startswith(c[:2]) or not re.fullmatch(r"S[123][A-D]", s):
                raise ConfigError(f"satellite {self.satellite!r} does not belong to collection {c}")
            self.satellite = s
        if self.orbit_direction:
            d = self.orbit_direction.strip().upper()
            d = {"ASC": "ASCENDING", "DESC": "DESCENDING", "A": "ASCENDING", "D": "DESCENDING"}.get(d, d)
            if d not in ("ASCENDING", "DESCENDING"):
                raise ConfigError(f"orbit direction {self.orbit_direction!r} (ascending or descending)")
            self.orbit_direction = d
        pols = []
        for p in self.polarisation:
            for q in re.split(r"[ ,+&/]+", p.upper()):
                if q and q not in ("HH", "HV", "VV", "VH"):
                    raise ConfigError(f"polarisation {q!r} (HH, HV, VV, VH)")
                if q:
                    pols.append(q)
        self.polarisation = tuple(pols)
        if self.max_cloud is not None:
            if not 0 <= self.max_cloud <= 100:
                raise ConfigError(f"cloud cover {self.max_cloud} is not a percentage (0..100)")
            if self.max_cloud >= 100 or not c.startswith("S2"):
                self.max_cloud = None
        return self

    @property
    def odata_collection(self) -> str:
        return COLLECTIONS[self.collection]

    def area_wkt(self) -> str | None:
        if self.point:
            return f"POINT({self.point[0]:.6f} {self.point[1]:.6f})"
        if self.box:
            x0, y0, x1, y1 = self.box
            return (f"POLYGON(({x0:.6f} {y0:.6f},{x1:.6f} {y0:.6f},{x1:.6f} {y1:.6f},{x0:.6f} {y1:.6f},"
                    f"{x0:.6f} {y0:.6f}))")
        return None

    def esa_product_type(self) -> str | None:
        """ESA long product type (``IW_SLC__1S``) when product type and mode determine it, else None."""
        pt, mode = self.product_type, self.sensor_mode
        if self.collection != "S1":
            return pt or None
        if pt and "_" in pt:
            return pt  # already an ESA code
        if not pt or not mode:
            return None
        if pt == "SLC":
            return f"{mode}_SLC__1S"
        if pt == "OCN":
            return f"{mode}_OCN__2S"
        if pt == "RAW":
            return f"{mode}_RAW__0S"
        if pt == "GRD":
            return {"IW": "IW_GRDH_1S", "EW": "EW_GRDM_1S"}.get(mode)
        return None

    # -- client-side filters ---------------------------------------------------------------------------------
    def accepts(self, p: Product) -> bool:
        if self.collection == "S1":
            info = parse_s1_name(p.name)
            if info:
                if self.product_type:
                    pt = self.product_type
                    if "_" in pt:
                        if p.name[4:14] != pt[:10]:
                            return False
                    elif info["ptype"] != pt:
                        return False
                if self.sensor_mode:
                    mode = info["mode"]
                    if self.sensor_mode == "SM" and mode not in SM_BEAMS:
                        return False
                    if self.sensor_mode != "SM" and mode != self.sensor_mode:
                        return False
                if self.polarisation and not set(self.polarisation) <= set(p.polarisations()):
                    return False
        if self.satellite and p.platform and p.platform.upper() != self.satellite:
            return False
        if self.relative_orbit is not None and p.relative_orbit is not None \
                and p.relative_orbit != self.relative_orbit:
            return False
        if self.orbit_direction and p.orbit_direction \
                and p.orbit_direction.upper() != self.orbit_direction:
            return False
        if self.tile and f"_T{self.tile}_" not in p.name:
            return False
        if self.max_cloud is not None and p.cloud_cover is not None and p.cloud_cover > self.max_cloud:
            return False
        return True
