"""Copernicus DEM GLO-30 tiles from the public open-data bucket (no login).

Tiles are 1x1 degree Cloud-Optimised GeoTIFFs named by their south-west corner,
``Copernicus_DSM_COG_10_N45_00_E006_00_DEM.tif`` (heights above EGM2008); sea-only tiles do not exist.
They are written flat into one folder, the tile folder the chain reads.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError, DemError, DownloadError
from ..io.atomic import atomic_path
from ..log import get_logger
from .http import HttpClient, NetworkError, host_of, rewrite_base

log = get_logger("dem")

DEM_BUCKET = "https://copernicus-dem-30m.s3.amazonaws.com"


def tile_name(lat: int, lon: int) -> str:
    ns = "N" if lat >= 0 else "S"
    ew = "E" if lon >= 0 else "W"
    return f"Copernicus_DSM_COG_10_{ns}{abs(lat):02d}_00_{ew}{abs(lon):03d}_00_DEM"


def tiles_for_bbox(lonmin: float, latmin: float, lonmax: float, latmax: float) -> list[str]:
    if not (-180 <= lonmin < lonmax <= 180 and -90 <= latmin < latmax <= 90):
        raise ConfigError(f"--bbox {lonmin} {latmin} {lonmax} {latmax}: expected LONMIN LATMIN LONMAX LATMAX "
                          "with min < max, inside -180..180 / -90..90")
    return [tile_name(lat, lon)
            for lat in range(math.floor(latmin), math.ceil(latmax))
            for lon in range(math.floor(lonmin), math.ceil(lonmax))]


@dataclass
class TileResult:
    name: str
    status: str          # downloaded, present, missing (no tile: sea), failed
    path: Path | None = None
    message: str = ""


class DemFetcher:
    def __init__(self, client: HttpClient, out_dir: str | Path, base_url: str | None = None, workers: int = 4):
        self.client = client
        self.out = Path(out_dir)
        self.base = rewrite_base(DEM_BUCKET, base_url.rstrip("/") if base_url else None)
        self.workers = max(1, workers)
        self._down: str | None = None    # set when the bucket could not be reached: other tiles are not tried

    def fetch_bbox(self, lonmin, latmin, lonmax, latmax) -> list[TileResult]:
        names = tiles_for_bbox(lonmin, latmin, lonmax, latmax)
        try:
            self.out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DemError(f"cannot create DEM folder {self.out}: {exc.strerror}") from None
        with ThreadPoolExecutor(self.workers) as pool:
            return list(pool.map(self._one, names))

    def _one(self, name: str) -> TileResult:
        url = f"{self.base}/{name}/{name}.tif"
        final = self.out / f"{name}.tif"
        if self._down is not None:
            return TileResult(name, "failed", None, f"not tried: {self._down}")
        try:
            if final.exists():
                head = self.client.request("HEAD", url, what=name)
                size = int(head.headers.get("Content-Length", "0") or 0)
                if head.status_code == 200 and size == final.stat().st_size:
                    return TileResult(name, "present", final)
            resp = self.client.request("GET", url, what=name)
            if resp.status_code in (403, 404):  # the bucket answers 404 (or 403) for sea-only tiles
                return TileResult(name, "missing", None, "no tile (sea or outside coverage)")
            if resp.status_code != 200:
                return TileResult(name, "failed", None, f"HTTP {resp.status_code} from {host_of(url)}")
            data = resp.content
            expected = int(resp.headers.get("Content-Length", len(data)) or len(data))
            if len(data) != expected or data[:4] not in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
                return TileResult(name, "failed", None, "incomplete or not a GeoTIFF")
            with atomic_path(final) as tmp:
                tmp.write_bytes(data)
            log.info("DEM tile %s written", final.name)
            return TileResult(name, "downloaded", final)
        except NetworkError as exc:
            if exc.absent:
                self._down = f"{host_of(url)} did not answer for an earlier tile"
            return TileResult(name, "failed", None, str(exc))
        except DownloadError as exc:
            return TileResult(name, "failed", None, str(exc))
