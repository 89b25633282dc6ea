"""Raster and sidecar I/O: GeoTIFFs written block by block under a temporary name (renamed on success), GCPs
for SAR-geometry products, JSON sidecars."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.control import GroundControlPoint
from rasterio.crs import CRS
from rasterio.windows import Window

from ..errors import OutputError, ProductError
from .atomic import atomic_path

# deflate level 1: about half the CPU of GDAL's default level 6 for the products' float bands, at nearly the same
# size (measured on the IW benchmark's products, where writing was the largest single cost)
GTIFF_OPTIONS = {"driver": "GTiff", "tiled": True, "blockxsize": 256, "blockysize": 256, "compress": "deflate",
                 "zlevel": 1, "predictor": 1, "BIGTIFF": "IF_SAFER"}


class BlockWriter:
    """An open GeoTIFF being written by row blocks (see ``open_writer``).

    Rows are handed to GDAL in whole rows of tiles: a block ending inside a row of tiles keeps its last rows
    until the next block completes that tile row (or ``flush``, at the end). A tile GDAL receives in pieces may
    leave its block cache half-written when other rasters are read meanwhile: it is then compressed, written,
    read back, decompressed and written again at the end of the file (the old copy stays as dead bytes; IW
    interferograms were twice the size of their tiles). Blocks that do not follow the previous one are written
    as they come, after the rows kept."""

    def __init__(self, ds: Any) -> None:
        self.ds = ds
        self._tile_rows = max(1, int(ds.block_shapes[0][0])) if ds.count else 1
        self._kept: list[np.ndarray] = []
        self._kept_row0 = 0
        self._kept_end = 0

    def write(self, row0: int, data: np.ndarray) -> None:
        """Write a (bands, rows, cols) or (rows, cols) block whose first row is ``row0``."""
        a = data if data.ndim == 3 else data[None]
        a = a.astype(self.ds.dtypes[0], copy=False)
        if self._kept and row0 != self._kept_end:
            self.flush()
        if self._tile_rows == 1 or a.shape[2] != self.ds.width:
            self.flush()
            self._put(row0, a)
            return
        t, height = self._tile_rows, self.ds.height
        pos, k, n = int(row0), 0, a.shape[1]
        while k < n:
            if not self._kept and pos % t == 0:  # whole rows of tiles straight from the block
                m = n - k if pos + n - k >= height else (n - k) // t * t
                if m:
                    self._put(pos, a[:, k:k + m])
                    pos, k = pos + m, k + m
                    continue
            end = min((pos // t + 1) * t, height)  # end of the tile row holding row pos
            take = min(end - pos, n - k)
            if not self._kept:
                self._kept_row0 = pos
            self._kept.append(a[:, k:k + take].copy())
            pos, k = pos + take, k + take
            self._kept_end = pos
            if pos == end:
                self.flush()

    def flush(self) -> None:
        """Hand the rows kept to GDAL (called when the writer is closed after a complete write)."""
        if self._kept:
            block = self._kept[0] if len(self._kept) == 1 else np.concatenate(self._kept, axis=1)
            self._kept = []
            self._put(self._kept_row0, block)

    def _put(self, row0: int, a: np.ndarray) -> None:
        self.ds.write(a, window=Window(0, row0, a.shape[2], a.shape[1]))


@contextlib.contextmanager
def block_writer(ds: Any) -> Iterator[BlockWriter]:
    """A BlockWriter on ``ds``, whose kept rows are written when the body ends without an error."""
    w = BlockWriter(ds)
    yield w
    w.flush()


@contextlib.contextmanager
def open_writer(path: str | os.PathLike[str], width: int, height: int, count: int, dtype: str,
                descriptions: Sequence[str] = (), nodata: float | None = None, transform: Any = None, crs: str | None = None,
                gcps: list[GroundControlPoint] | None = None, tags: dict[str, Any] | None = None,
                compress: bool | str = True, interleave: str | None = None) -> Iterator[BlockWriter]:
    """Create ``path`` (under a temporary name, renamed on success) and yield a BlockWriter.

    ``compress=False``: no compression (the DEM projection, which only the chain reads back). ``compress=
    "zstd"``: ZSTD level 1, for products another step of the run reads back (cartesian mean, topographic phase,
    a swath's products in a multi-swath run): on an IW interferogram, 0.9 s to write and 0.6 s to read against
    2.4 s and 0.8 s for deflate, 5 % smaller; deflate of the float64 intermediates was one of the chain's
    largest CPU costs. ``interleave="band"``:
    each band in tiles of its own (a single band is then read without the others)."""
    profile: dict[str, Any] = dict(GTIFF_OPTIONS, width=int(width), height=int(height), count=int(count), dtype=dtype)
    if not compress:
        for key in ("compress", "zlevel", "predictor"):
            profile.pop(key)
    elif compress == "zstd":
        profile.pop("zlevel")
        profile.update(compress="zstd", zstd_level=1)
    elif compress is not True:
        raise ValueError(f"open_writer: compress={compress!r}")
    if interleave is not None:
        profile["interleave"] = interleave
    if width < 256 or height < 256:
        profile.update(tiled=False)
        profile.pop("blockxsize")
        profile.pop("blockysize")
    if np.dtype(dtype).kind == "f" and compress:
        profile["predictor"] = 1
    if nodata is not None:
        profile["nodata"] = nodata
    if transform is not None:
        profile["transform"] = rasterio.Affine.from_gdal(*transform) if len(transform) == 6 else transform
        profile["crs"] = CRS.from_user_input(crs or "EPSG:4326")
    with atomic_path(path) as tmp:
        try:
            ds = rasterio.open(tmp, "w", **profile)
        except rasterio.errors.RasterioError as exc:
            raise OutputError(f"cannot write {path}: {exc}") from None
        try:
            for k, d in enumerate(descriptions):
                ds.set_band_description(k + 1, d)
            if gcps:
                ds.gcps = (gcps, CRS.from_epsg(4326))
            if tags:
                ds.update_tags(**{k: str(v) for k, v in tags.items()})
            with block_writer(ds) as w:
                yield w
        finally:
            ds.close()


def write_raster(path: str | os.PathLike[str], data: np.ndarray, **kw: Any) -> Path:
    """Write a whole (bands, rows, cols) or (rows, cols) array."""
    a = data if data.ndim == 3 else data[None]
    with open_writer(path, a.shape[2], a.shape[1], a.shape[0], str(a.dtype), **kw) as w:
        w.write(0, a)
    return Path(path)


def read_raster(path: str | os.PathLike[str], bands: Sequence[int] | int | None = None,
                rows: tuple[int, int] | None = None,
                cols: tuple[int, int] | None = None) -> np.ndarray:
    """Read bands (1-based) of a window of rows/cols of a raster."""
    try:
        with rasterio.open(path) as ds:
            r0, r1 = rows if rows is not None else (0, ds.height)
            c0, c1 = cols if cols is not None else (0, ds.width)
            return np.asarray(ds.read(bands, window=Window(c0, r0, c1 - c0, r1 - r0)))
    except rasterio.errors.RasterioError as exc:
        raise ProductError(f"cannot read {path}: {exc}") from None


def raster_shape(path: str | os.PathLike[str]) -> tuple[int, int, int]:
    """(bands, rows, cols) of a raster."""
    with rasterio.open(path) as ds:
        return int(ds.count), int(ds.height), int(ds.width)


def gcps_from_xyz(xyz: np.ndarray, isdata: np.ndarray, row0: int = 0, n: int = 12) -> list[GroundControlPoint]:
    """Up to n x n GCPs (lon/lat/h) at ML cell centres from a cartesian-mean block (rows, cols, 3)."""
    from ..geometry import ecef_to_llh

    rows, cols = isdata.shape
    out: list[GroundControlPoint] = []
    for i in np.unique(np.linspace(0, rows - 1, n).round().astype(int)):
        for j in np.unique(np.linspace(0, cols - 1, n).round().astype(int)):
            if not isdata[i, j]:
                continue
            lat, lon, h = ecef_to_llh(xyz[i, j])
            out.append(GroundControlPoint(row=row0 + i + 0.5, col=j + 0.5, x=float(lon), y=float(lat), z=float(h),
                                          id=f"{row0 + i}_{j}"))
    return out


def write_json(path: str | os.PathLike[str], content: dict[str, Any]) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(content, indent=2, default=plain) + "\n", encoding="utf-8")
    return Path(path)


def plain(v: Any) -> Any:
    """JSON form of paths, numpy scalars/arrays and tuples."""
    if isinstance(v, Path):
        return str(v)
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, tuple):
        return list(v)
    raise TypeError(f"not JSON serialisable: {type(v).__name__}")


def scaled_gcps(gcps: list[GroundControlPoint], f_r: int, f_a: int) -> list[GroundControlPoint]:
    """GCPs of a product multilooked again by ``f_r`` x ``f_a``."""
    if f_r == 1 and f_a == 1:
        return gcps
    return [GroundControlPoint(row=g.row / f_a, col=g.col / f_r, x=g.x, y=g.y, z=g.z, id=g.id) for g in gcps]
