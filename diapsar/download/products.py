"""What a search returns: one ``Product`` per remote product, with what download and verification need."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from ..io.annotation import MISSIONS
from ..io.annotation import relative_orbit as _relative_orbit
from ..timeutil import datetime_to_seconds

# Sentinel-1 product name (ESA "Sentinel-1 Product Specification", naming convention):
# MMM_BB_TTTR_LFPP_YYYYMMDDTHHMMSS_YYYYMMDDTHHMMSS_OOOOOO_DDDDDD_CCCC
S1_NAME = re.compile(
    r"^(?P<mission>S1[ABCD])_(?P<mode>[A-Z0-9]{2})_(?P<ptype>[A-Z]{3})(?P<res>[A-Z_])_(?P<level>\d)"
    r"(?P<pclass>[A-Z])(?P<pol>[A-Z]{2})_(?P<start>\d{8}T\d{6})_(?P<stop>\d{8}T\d{6})_(?P<orbit>\d{6})_"
    r"(?P<datatake>[0-9A-F]{6})_(?P<crc>[0-9A-F]{4})")

POL_CODES = {"SH": ("HH",), "SV": ("VV",), "DH": ("HH", "HV"), "DV": ("VV", "VH"),
             "HH": ("HH",), "VV": ("VV",), "HV": ("HV",), "VH": ("VH",)}


def relative_orbit(platform: str, absolute_orbit: int, start: dt.datetime | None = None) -> int | None:
    """Relative orbit (1..175) of a Sentinel-1 absolute orbit; None for platforms other than S1A-S1D.

    The formula is the reader's (``diapsar.io.annotation.relative_orbit``, which documents its sources);
    ``start`` (the acquisition start) selects the S1C track phase before/after its June 2026 reconfiguration.
    """
    mission = platform.upper()[:3]
    if mission not in MISSIONS:
        return None
    return _relative_orbit(mission, absolute_orbit, None if start is None else datetime_to_seconds(start))


def parse_s1_name(name: str) -> dict | None:
    m = S1_NAME.match(strip_ext(name))
    return m.groupdict() if m else None


def strip_ext(name: str) -> str:
    for ext in (".SAFE.zip", ".zip", ".SAFE", ".EOF"):
        if name.endswith(ext):
            return name[: -len(ext)]
    return name


def parse_time(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    t = text.strip().replace("Z", "+00:00")
    try:
        value = dt.datetime.fromisoformat(t)
    except ValueError:
        try:
            value = dt.datetime.strptime(text[:15], "%Y%m%dT%H%M%S")
        except ValueError:
            return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


@dataclass
class Product:
    id: str
    name: str                          # without .SAFE / .zip
    collection: str = ""
    start: dt.datetime | None = None
    size: int | None = None            # bytes, None when the service does not know
    online: bool = True
    storage: str = ""                  # service word: disk, tape, staging, ONLINE, OFFLINE ...
    md5: str | None = None
    blake3: str | None = None
    platform: str | None = None        # S1A ...
    absolute_orbit: int | None = None
    relative_orbit: int | None = None
    orbit_direction: str | None = None
    cloud_cover: float | None = None   # percent (Sentinel-2)
    download_url: str = ""
    method: str = "GET"                # POST for CDSE burst extraction
    is_burst: bool = False
    raw: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        self.name = strip_ext(self.name)
        info = parse_s1_name(self.name)
        if info and not self.is_burst:
            self.platform = self.platform or info["mission"]
            if self.absolute_orbit is None:
                self.absolute_orbit = int(info["orbit"])
            if self.start is None:
                self.start = parse_time(info["start"])
        elif self.platform is None and len(self.name) > 3 and self.name[:2] in ("S2", "S3"):
            self.platform = self.name[:3]
        if self.platform and self.absolute_orbit is not None:
            computed = relative_orbit(self.platform, self.absolute_orbit, self.start)
            if computed is not None:
                self.relative_orbit = computed
        if self.relative_orbit is None and info is None:
            m = re.search(r"_R(\d{3})_", self.name)  # Sentinel-2 names carry the relative orbit
            if m:
                self.relative_orbit = int(m.group(1))
        if self.md5:
            self.md5 = self.md5.lower()
        if self.blake3:
            self.blake3 = self.blake3.lower()

    @property
    def zip_name(self) -> str:
        """Local file name: ``<product name>.zip`` as the original script and ESA/ASF name it."""
        return f"{self.name}.zip"

    def polarisations(self) -> tuple[str, ...]:
        info = parse_s1_name(self.name)
        return POL_CODES.get(info["pol"], ()) if info else ()


def human_size(n: int | None) -> str:
    if not n:
        return "?"
    value = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.2f} {unit}"
        value /= 1000.0
    return f"{n} B"


def table(products: list[Product]) -> str:
    """The ``-n`` listing: name, date, size, online/offline, relative orbit."""
    rows = [("name", "date", "size", "status", "rel.orbit")]
    for p in products:
        rows.append((p.name, p.start.strftime("%Y-%m-%d %H:%M:%S") if p.start else "?", human_size(p.size),
                     "online" if p.online else "offline" + (f" ({p.storage})" if p.storage.lower() not in
                                                            ("", "offline") else ""),
                     str(p.relative_orbit) if p.relative_orbit is not None else "?"))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append(f"{len(products)} product(s), {human_size(sum(p.size or 0 for p in products))} in total")
    return "\n".join(lines)
