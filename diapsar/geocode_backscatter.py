"""Terrain-corrected backscatter on a map grid: range-Doppler geocoding on the DEM, terrain flattening, layers.

One (swath, polarisation) image of a product, in four steps (``TerrainResult.timings_s`` names them):

1. ``calibrate``: the radar-geometry image of ``diapsar.backscatter`` (noise removed, calibrated, TOPS
   debursted, multilooked ``ml_rg`` x ``ml_az``; by default to about the output spacing on the ground), written
   to a work folder: beta0 for ``rtc`` flattening, sigma0 for ``kellndorfer``, the chosen LUT for ``none``.
2. ``area`` (``rtc`` only): the illuminated area A_gamma of every multilooked radar cell, by area projection
   (Small 2011, IEEE TGRS 49(8) 3081-3093): each output map cell is a DEM facet (heights bilinear in the DEM,
   ellipsoidal), split into ``oversample`` x ``oversample`` sub-facets whose projected areas are splatted
   bilinearly into the radar grid (``diapsar.terrain.splat_illuminated_area``, in parallel by fixed map tiles).
   A float64 array of the multilooked radar size, in memory. Blocks of ``AREA_ROWS`` map rows: the outputs do
   not depend on -ram nor on the threads. The geometry of a block is kept in memory only until no later block
   can add to the A_gamma rows its geocoding samples; step 3 then runs on it (``_area_and_geocode``: one sweep
   over the map rows, the geometry computed once, nothing cached on disk).
3. ``geocode``: per block of output rows, every cell centre -> lon/lat -> DEM height -> zero-Doppler line and
   sample (``diapsar.terrain.map_block``; TOPS: line of the debursted frame), then
   - ``rtc``: gamma0_T = beta0 * A_beta / A_gamma computed in radar geometry (A_beta of ``beta_reference_area``
     at the cell's ellipsoid incidence), sampled bilinearly at the cell;
   - ``kellndorfer``: sigma0 sampled at the cell, times sin(theta_LIA) / sin(theta_ell) (the SNAP
     pre-processing chain's normalisation: Kellndorfer et al. 1998, IEEE TGRS 36(5) 1396-1411);
   - ``none``: the calibrated LUT sampled at the cell (range-Doppler terrain correction only);
   and optionally the cosine normalisation to a reference angle, value * (cos(theta_ref) / cos(theta_ell))^n
   (n = 2 by default, as documented for SNAP's chain), then dB if asked.
4. ``cog``: the three outputs (work GeoTIFFs in ZSTD) copied to Cloud-Optimized GeoTIFFs (``diapsar.io.cog``).
For ``rtc`` the seconds of steps 2 and 3 are those of their own parts of the sweep.

Outputs, beside each other in ``out_dir`` (``<base>`` = ``<product>_<swath>_<pol>``):
``<base>_<quantity>[_cos<ref>][_db].tif`` (float32, NaN = no data), ``<base>_angles.tif`` (float32 band 1
``incidence_angle`` = ellipsoid incidence, band 2 ``local_incidence_angle``, degrees) and
``<base>_layover_shadow.tif`` (uint8: 0 clear, 1 layover, 2 shadow, 255 no data; the local criterion of
``diapsar.terrain``, no ray tracing), plus a PNG quicklook. A map cell is no data when its lookup falls outside
the radar image or the DEM. The grid is snapped to multiples of the spacing, so the grids of the swaths of one
product (and of products in the same CRS) are aligned.

Orbit: the annotation's state vectors, or an EOF file / the best file of a folder (``resolve_orbit``); its
name is the ``ORBIT`` tag and the STAC Item's ``diapsar:orbit``. Several swaths of a product: one CRS (UTM zone
of their footprints together, ``product_epsg``), the same lattice, and ``mosaic_swaths`` writes one map per
product on the union of their grids (``MOSAIC_RULE``); the STAC Item (``product_item``) then describes the mosaic.

The DEM: a raster (heights above EGM96 unless ``geoid`` says otherwise) or a folder of tiles (assembled with
``diapsar.io.dem.build_scene_dem``; missing 1-degree cells are sea). The output covers the part of the scene
the DEM covers; a DEM that does not meet the scene at all is a ``DemError``.
"""

from __future__ import annotations

import contextlib
import logging
import math
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.windows import Window

from . import terrain as T
from .backscatter import backscatter, check_annotations, quicklook_png
from .calibration import to_db
from .deburst import deburst_layout
from .errors import DemError, OrbitError, ProductError, SelectionError
from .io.cog import write_cog
from .io.dem import Dem, build_scene_dem, gdal_path, load_dem
from .io.raster import open_writer
from .kernels.area import SPLAT_TILE_ROWS, sample_ratio
from .metadata import SwathMetadata
from .orbit import Orbit, orbit_for
from .ortho import OrthoGrid, needed_rows, sample, to_ml

log = logging.getLogger(__name__)

FLATTENINGS = ("rtc", "kellndorfer", "none")
MASK_NODATA = 255
# bytes per output map cell of one geocoding block: lon, lat, heights with margins, slopes, line, sample, times,
# look vectors, angles, outputs and the geo2rdr temporaries (float64)
_BYTES_PER_CELL = 640.0


@dataclass(frozen=True)
class TerrainOptions:
    """What ``--dem`` and the terrain options of ``diapsar backscatter`` ask for."""

    dem: Path
    epsg: int | None = None  # None: WGS84 UTM zone of the scene centre
    spacing_m: float = 20.0
    flattening: str = "rtc"
    cosine_reference_deg: float | None = None  # None: no cosine normalisation
    cosine_exponent: float = 2.0
    oversample: int = 2  # sub-facets per map cell and axis of the A_gamma splat
    geoid: str | None = None  # None / "egm96": DEM heights above EGM96; "none": ellipsoidal; else a geoid file
    roi: tuple[float, float, float, float] | None = None  # lon_min, lat_min, lon_max, lat_max: output limited to it
    orbit: Path | None = None  # EOF file or folder of them (``resolve_orbit``); None: the annotation's vectors


@dataclass
class TerrainResult:
    tif: Path
    angles: Path
    mask: Path
    png: Path | None
    grid: OrthoGrid
    looks: tuple[int, int]  # (range, azimuth) of the radar-geometry image
    quantity: str
    db: bool
    dem_coverage: float  # fraction of the scene footprint the DEM covers
    footprint: Any  # shapely lon/lat polygon of the output (scene footprint within the DEM)
    timings_s: dict[str, float] = field(default_factory=dict)
    valid_fraction: float = 0.0
    swath: str = ""
    polarisation: str = ""
    orbit_source: str = "annotation"  # EOF file name, or "annotation"
    incidence_range_deg: tuple[float, float] = (math.nan, math.nan)  # of the valid output cells (mosaic rule)


# ----------------------------------------------------------------------------------------------------- checks

def check_epsg(epsg: int) -> None:
    """A projected CRS in metres, known to PROJ; else a SelectionError (one line)."""
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    try:
        crs = CRS.from_epsg(int(epsg))
    except (CRSError, ValueError, OverflowError):
        raise SelectionError(f"--epsg {epsg}: unknown EPSG code") from None
    if not crs.is_projected:
        raise SelectionError(f"--epsg {epsg}: {crs.name} is not a projected CRS; terrain correction needs a "
                             "map grid in metres (e.g. a UTM zone)")
    units = {a.unit_name for a in crs.axis_info}
    if not units <= {"metre", "meter"}:
        raise SelectionError(f"--epsg {epsg}: {crs.name} has axes in {', '.join(sorted(units))}, not metres")


def check_options(opts: TerrainOptions, lut: str | None) -> str:
    """Validate the options; returns the calibration LUT of the radar-geometry image."""
    if opts.flattening not in FLATTENINGS:
        raise SelectionError(f"--flattening must be one of {', '.join(FLATTENINGS)}, got {opts.flattening!r}")
    if not (opts.spacing_m > 0 and math.isfinite(opts.spacing_m)):
        raise SelectionError(f"--spacing must be a positive number of metres, got {opts.spacing_m}")
    if not 1 <= opts.oversample <= 16:
        raise SelectionError(f"--facet-oversampling must be 1..16, got {opts.oversample}")
    if opts.cosine_reference_deg is not None and not 0 <= opts.cosine_reference_deg < 90:
        raise SelectionError(f"--cosine-reference must be in [0, 90) degrees, got {opts.cosine_reference_deg}")
    if opts.epsg is not None:
        check_epsg(opts.epsg)
    if opts.roi is not None and not (opts.roi[0] < opts.roi[2] and opts.roi[1] < opts.roi[3]):
        raise SelectionError("--roi must be LON_MIN LAT_MIN LON_MAX LAT_MAX with min < max")
    if opts.flattening == "rtc":
        if lut not in (None, "gamma0"):
            raise SelectionError(f"--flattening rtc gives terrain-flattened gamma0, not {lut}; use --flattening "
                                 "none (or kellndorfer for sigma0)")
        return "beta0"
    if opts.flattening == "kellndorfer":
        if lut not in (None, "sigma0"):
            raise SelectionError(f"--flattening kellndorfer normalises sigma0, not {lut}")
        return "sigma0"
    return lut or "sigma0"


def quantity_name(opts: TerrainOptions, lut: str) -> str:
    return {"rtc": "gamma0_rtc", "kellndorfer": "sigma0_kellndorfer"}.get(opts.flattening, f"{lut}_geo")


def auto_looks(meta: SwathMetadata, spacing_m: float) -> tuple[int, int]:
    """(range, azimuth) looks bringing the radar cell to about the output spacing on the ground: GRD pixels
    are ground range already; SLC slant-range pixels are divided by sin(incidence at mid swath)."""
    rg = meta.range_pixel_spacing_m
    if meta.product_type != "GRD":
        rg /= math.sin(math.radians(meta.incidence_angle_mid_deg or 35.0))
    return (max(1, int(math.floor(spacing_m / rg + 0.5))), max(1, int(math.floor(spacing_m / meta.azimuth_pixel_spacing_m + 0.5))))


def resolve_orbit(meta: SwathMetadata, orbit: str | Path | None) -> Orbit:
    """The orbit of one swath (``--orbit``): None -> the annotation's state vectors; an EOF file -> that file,
    which must cover the acquisition +/- 60 s (else OrbitError, one line); a folder -> the best covering file
    in it (POEORB before RESORB, then the newest; ``diapsar.io.eof.select_orbit_file``), or the annotation's
    vectors with a warning when none covers it. ``Orbit.source`` is the file name or "annotation"."""
    if orbit is None:
        return Orbit(meta.orbit)
    p = Path(orbit)
    if not p.exists():
        raise OrbitError(f"--orbit {p}: no such file or folder")
    return orbit_for(meta, p, fallback_to_annotation=p.is_dir())


# --------------------------------------------------------------------------------------------------- the DEM

class DemSource:
    """The DEM of the run (a raster, or a VRT of a tile folder built in ``work``): its lon/lat bounds and
    windows of ellipsoidal heights."""

    def __init__(self, path: str | Path, footprint, work: Path, geoid: str | None = None):
        p = Path(path)
        if not p.exists():
            raise DemError(f"DEM {p} does not exist")
        if p.is_dir():
            minx, miny, maxx, maxy = footprint.bounds
            p = build_scene_dem(p, (minx, miny, maxx, maxy), work / "dem_scene.vrt", margin_deg=0.02,
                                fill_missing=True)
        self.path = p
        self.geoid = geoid
        try:
            with rasterio.open(gdal_path(p) if p.name.lower().endswith(".zip") else str(p)) as ds:
                if ds.crs is not None and not ds.crs.is_geographic:
                    raise DemError(f"DEM {p} is not on a longitude/latitude grid (CRS {ds.crs})")
                b = ds.bounds
        except rasterio.errors.RasterioError as exc:
            raise DemError(f"cannot read DEM {p}: {exc}") from None
        self.bounds = (b.left, b.bottom, b.right, b.top)

    def read(self, lon: np.ndarray, lat: np.ndarray) -> Dem | None:
        """Heights around the lon/lat points (None when they are all off the DEM)."""
        ok = np.isfinite(lon) & np.isfinite(lat)
        if not ok.any():
            return None
        x0, y0, x1, y1 = self.bounds
        m = 1e-3
        box = (max(float(lon[ok].min()) - m, x0), max(float(lat[ok].min()) - m, y0),
               min(float(lon[ok].max()) + m, x1), min(float(lat[ok].max()) + m, y1))
        if box[0] >= box[2] or box[1] >= box[3]:
            return None
        return load_dem(self.path, box, ellipsoidal=True, geoid=self.geoid)


def scene_footprint(meta: SwathMetadata):
    """Lon/lat convex hull of the image's geolocation grid (shapely polygon)."""
    from shapely.geometry import MultiPoint

    g = meta.geolocation_grid
    if g is None or np.size(g.longitude_deg) < 3:
        raise ProductError(f"{meta.product_name} {meta.swath}: no geolocation grid, cannot place the scene")
    return MultiPoint(np.c_[np.asarray(g.longitude_deg), np.asarray(g.latitude_deg)]).convex_hull


def map_grid(footprint, epsg: int, spacing_m: float) -> OrthoGrid:
    """Grid in ``epsg`` covering the lon/lat polygon, cell edges on multiples of the spacing."""
    from pyproj import Transformer

    poly = footprint.segmentize(0.01)
    lon, lat = np.asarray(poly.exterior.coords).T
    x, y = (np.asarray(v) for v in Transformer.from_crs(4326, epsg, always_xy=True).transform(lon, lat))
    s = float(spacing_m)
    x0, y0 = math.floor(x.min() / s) * s, math.ceil(y.max() / s) * s
    width = int(math.ceil((x.max() - x0) / s))
    height = int(math.ceil((y0 - y.min()) / s))
    return OrthoGrid(int(epsg), (x0, s, 0.0, y0, 0.0, -s), max(width, 1), max(height, 1))


def covered_footprint(meta: SwathMetadata, dem_bounds, roi=None) -> tuple[Any, float]:
    """(scene footprint within the DEM bounds, fraction of the footprint it is); DemError when empty. With
    ``roi`` (lon/lat box) the footprint is first limited to it (SelectionError when they do not meet)."""
    from shapely.geometry import box

    foot = scene_footprint(meta)
    if roi is not None:
        foot = foot.intersection(box(*roi))
        if foot.is_empty or foot.area <= 0:
            raise SelectionError(f"--roi {' '.join(f'{v:g}' for v in roi)} does not meet {meta.swath} "
                                 f"(lon/lat box {' '.join(f'{v:.3f}' for v in scene_footprint(meta).bounds)})")
    inter = foot.intersection(box(*dem_bounds))
    if inter.is_empty or inter.area <= 0:
        b = foot.bounds
        raise DemError(f"the DEM (lon {dem_bounds[0]:.3f}..{dem_bounds[2]:.3f}, lat {dem_bounds[1]:.3f}.."
                       f"{dem_bounds[3]:.3f}) does not cover the scene (lon {b[0]:.3f}..{b[2]:.3f}, "
                       f"lat {b[1]:.3f}..{b[3]:.3f})")
    return inter, float(inter.area / foot.area)


# ------------------------------------------------------------------------------------------------- the run

def _block_rows(grid: OrthoGrid, ram_mb: float) -> int:
    return max(8, min(grid.height, int(ram_mb * 0.4 * 2**20 / (grid.width * _BYTES_PER_CELL))))


# Map rows per block of the passes whose results depend on the block layout (the zero-Doppler start times of
# ``ortho.coarse_time_guess`` are interpolated within a block; the Newton search then stops within 1e-11 s of
# different points): a constant, so that the outputs do not depend on -ram (down to ~1000 MB for a full IW
# swath at 20 m; below, the blocks shrink). AREA_ROWS is a multiple of ``SPLAT_TILE_ROWS``.
AREA_ROWS = 96
WINDOW_ROWS = 128


def _geometry(grid: OrthoGrid, r0: int, r1: int, dem: DemSource, meta: SwathMetadata, orbit: Orbit,
              layout) -> dict | None:
    """``terrain.map_block`` of map rows [r0, r1) with the DEM window they need (None: off the DEM)."""
    a, b = max(r0 - 2, 0), min(r1 + 2, grid.height)
    lon, lat = T.grid_lonlat(grid, a, b)
    patch = dem.read(lon, lat)
    if patch is None:
        return None
    return T.map_block(grid, r0, r1, patch, meta, orbit, layout, lonlat=(lon, lat, a))


# map geometry kept between the area splat and the geocoding of a block (rtc): float64 lookups, float32 angles
CACHED = {"line": np.float64, "sample": np.float64, "theta_e": np.float32, "theta_l": np.float32,
          "mask": np.uint8}
COARSE = 8  # cells of the output grid per cell of the lookup that bounds the radar window


def radar_window(grid: OrthoGrid, dem: DemSource, meta: SwathMetadata, orbit: Orbit, layout, looks: tuple[int, int],
                 ram_mb: float, row_lines: np.ndarray | None = None) -> tuple[int, int, int, int]:
    """(row0, row1, sample0, sample1) of the full-resolution (debursted) image the grid needs: the lookup on a
    grid ``COARSE`` times coarser, widened by a margin that covers what the heights between its cells can
    move a target (2 * COARSE output cells on the ground, at least 64 pixels), snapped to the looks.
    ``row_lines`` ((grid.height // COARSE + 2, 2) float64, when given): per row of the coarse grid, the least
    and greatest image line of its lookups, widened by that margin (NaN where none maps into the image)."""
    ml_rg, ml_az = looks
    x0, s, _, y0, _, _ = grid.transform
    cg = OrthoGrid(grid.epsg, (x0, COARSE * s, 0.0, y0, 0.0, -COARSE * s), grid.width // COARSE + 2,
                   grid.height // COARSE + 2)
    n_rows = layout.lines if layout is not None else meta.number_of_lines
    n_cols = meta.number_of_samples
    lo = [np.inf, np.inf]
    hi = [-np.inf, -np.inf]
    rows = min(_block_rows(cg, ram_mb), WINDOW_ROWS)
    ground_rg = meta.range_pixel_spacing_m if meta.product_type == "GRD" else \
        meta.range_pixel_spacing_m / math.sin(math.radians(meta.incidence_angle_mid_deg or 35.0))
    m_rg = max(64, int(2 * COARSE * s / ground_rg))
    m_az = max(64, int(2 * COARSE * s / meta.azimuth_pixel_spacing_m))
    if row_lines is not None:
        row_lines[:] = np.nan
    for r0 in range(0, cg.height, rows):
        blk = _geometry(cg, r0, min(cg.height, r0 + rows), dem, meta, orbit, layout)
        if blk is None:
            continue
        ln, sp = blk["line"], blk["sample"]
        ok = np.isfinite(ln) & np.isfinite(sp) & (ln > -n_rows) & (ln < 2 * n_rows) & (sp > -n_cols) & (sp < 2 * n_cols)
        if ok.any():
            lo = [min(lo[0], float(ln[ok].min())), min(lo[1], float(sp[ok].min()))]
            hi = [max(hi[0], float(ln[ok].max())), max(hi[1], float(sp[ok].max()))]
        if row_lines is not None:
            lr = np.where(ok, ln, np.nan)
            has = ok.any(axis=1)
            k = np.flatnonzero(has)
            row_lines[r0 + k, 0] = np.nanmin(lr[k], axis=1) - m_az
            row_lines[r0 + k, 1] = np.nanmax(lr[k], axis=1) + m_az
    if not np.isfinite(lo[0]):
        raise DemError(f"{meta.swath}: no cell of the DEM-covered grid maps into the image")
    r0 = max(0, int(math.floor(lo[0])) - m_az) // ml_az * ml_az
    c0 = max(0, int(math.floor(lo[1])) - m_rg) // ml_rg * ml_rg
    r1 = min(n_rows, int(math.ceil(hi[0])) + m_az + 1)
    c1 = min(n_cols, int(math.ceil(hi[1])) + m_rg + 1)
    if r1 - r0 < ml_az or c1 - c0 < ml_rg:
        raise DemError(f"{meta.swath}: the DEM-covered part of the scene lies outside the image")
    return r0, r1, c0, c1


def _work_writer(path: Path, width: int, height: int, count: int, dtype: str, descriptions, nodata, transform,
                 crs: str, tags: dict | None = None):
    """A GeoTIFF of the work folder (``open_writer``) in ZSTD level 1: it is read once by the COG copy, which
    compresses (the bytes of the COG do not depend on it). Compressed rather than raw because fresh file pages are
    slow to obtain on the benchmark machine: the angles of a full IW swath (485 MB raw) took 8.8 s to write raw,
    4.3 s in ZSTD (258 MB)."""
    return open_writer(path, width, height, count, dtype, descriptions=descriptions, nodata=nodata,
                       transform=transform, crs=crs, tags=tags, compress="zstd")


def _cogs(work: Path, out: Path, names: dict[str, str]) -> dict[str, Path]:
    """The work GeoTIFFs ``names`` copied to COGs in ``out``, GDAL compressing with the numba thread count
    (the bytes do not depend on it)."""
    import numba

    with rasterio.Env(GDAL_NUM_THREADS=str(numba.get_num_threads())):
        return {k: write_cog(work / n, out / n, resampling="NEAREST" if k == "mask" else "AVERAGE",
                             predictor=k != "mask") for k, n in names.items()}


def _ml_rows(line: np.ndarray | float, win0: int, ml_az: int) -> np.ndarray:
    """floor of the ML row coordinate (``ortho.to_ml``) of full-resolution image lines (window row ``win0``)."""
    return np.floor((np.asarray(line, dtype=np.float64) - win0 - (ml_az - 1) / 2.0) / ml_az)


def _area_and_geocode(grid: OrthoGrid, dem: DemSource, meta: SwathMetadata, orbit: Orbit, layout,
                      win: tuple[int, int, int, int], a_gamma: np.ndarray, opts: TerrainOptions, ml_rg: int,
                      ml_az: int, rows: int, row_lines: np.ndarray, put) -> float:
    """The ``rtc`` area pass and the geocoding in one sweep over the map rows; returns the seconds of the area
    part (geometry and splat).

    Blocks of ``AREA_ROWS`` map rows: the geometry of each is computed once, splatted into ``a_gamma`` and kept
    (``CACHED`` dtypes, in memory) until no later block can add to the A_gamma rows its geocoding samples; it
    is then geocoded (``put(row0, row1, geometry)``, blocks in map-row order) and dropped. What a later block
    can reach is bounded from the coarse lookup of ``radar_window`` (``row_lines``: image lines of each coarse
    row, widened by its margin): the coarse rows covering the block and two more each side; a block without
    coarse lookups may reach any row. Geocoding only reads finished A_gamma rows, so the values are those of a
    complete area pass followed by the geocoding; a splat landing on rows already geocoded would break that
    and is an error (never seen: the bounds are wide)."""
    n_rows = a_gamma.shape[0]
    tile = SPLAT_TILE_ROWS  # blocks on whole splat tiles: the sums do not depend on -ram
    area_rows = max(tile, min(rows, AREA_ROWS) // tile * tile)
    starts = list(range(0, grid.height, area_rows))
    nb = len(starts)
    # ML rows [lo, hi) each block's splat may reach (from the coarse lookup)
    lo = np.full(nb, -np.inf)
    hi = np.full(nb, np.inf)
    nc = row_lines.shape[0]
    for k, r0 in enumerate(starts):
        g0, g1 = max(r0 - 1, 0), min(min(grid.height, r0 + area_rows) + 1, grid.height)
        c = row_lines[max(g0 // COARSE - 2, 0):min(g1 // COARSE + 3, nc)]
        if c.size and np.isfinite(c).all():
            lo[k] = float(_ml_rows(c[:, 0].min(), win[0], ml_az)) - 2
            hi[k] = float(_ml_rows(c[:, 1].max(), win[0], ml_az)) + 4
    pending: list[tuple[int, int, dict | None, tuple[int, int] | None]] = []
    done_rows: list[tuple[int, int]] = []  # A_gamma rows already sampled by the geocoding
    t_area = 0.0
    most = 0

    def flush(k_next: int) -> None:
        """Geocode the pending blocks, in order, whose rows no block from ``k_next`` on can reach."""
        while pending:
            r0, r1, blk, need = pending[0]
            if need is not None and k_next < nb and bool(np.any((lo[k_next:] < need[1]) & (hi[k_next:] > need[0]))):
                return
            pending.pop(0)
            if need is not None:
                done_rows.append(need)
            put(r0, r1, blk)

    for k, r0 in enumerate(starts):
        t0 = time.perf_counter()
        r1 = min(grid.height, r0 + area_rows)
        g0, g1 = max(r0 - 1, 0), min(r1 + 1, grid.height)
        blk = _geometry(grid, g0, g1, dem, meta, orbit, layout)
        kept = None
        need = None
        if blk is not None:
            kept = {key: np.ascontiguousarray(blk[key][r0 - g0:r1 - g0], dtype=dt) for key, dt in CACHED.items()}
            line = blk["line"] - win[0]
            fin = np.isfinite(line)
            if fin.any():
                reach = (float(_ml_rows(line[fin].min() + win[0], win[0], ml_az)) - 1,
                         float(_ml_rows(line[fin].max() + win[0], win[0], ml_az)) + 3)
                if any(reach[0] < b and reach[1] > a for a, b in done_rows):
                    raise RuntimeError(f"{meta.swath}: terrain flattening: map rows {r0}-{r1} reach A_gamma rows "
                                       "already geocoded (bounds of the coarse lookup too narrow)")
            blk["line"] = line
            blk["sample"] = blk["sample"] - win[2]
            T.splat_illuminated_area(blk, r0 - g0, r1 - g0, a_gamma, opts.oversample, ml_az, ml_rg, g0)
            u = (kept["line"] - win[0] - (ml_az - 1) / 2.0) / ml_az
            ok = np.isfinite(u) & np.isfinite(kept["sample"]) & (u >= -0.5) & (u <= n_rows - 0.5)
            if ok.any():
                need = (max(0, int(np.floor(u[ok].min())) - 1), min(n_rows, int(np.ceil(u[ok].max())) + 2))
        del blk
        t_area += time.perf_counter() - t0
        pending.append((r0, r1, kept, need))
        most = max(most, len(pending))
        flush(k + 1)
    flush(nb)
    log.debug("%s: %d area blocks of %d rows, at most %d kept at once (%d without coarse bounds)", meta.swath, nb,
              area_rows, most, int(np.count_nonzero(~np.isfinite(lo))))
    return t_area


def terrain_backscatter(product, swath: str | None, pol: str | None, out_dir, opts: TerrainOptions,
                        lut: str | None = None, remove: bool = True, db: bool = False,
                        looks: tuple[int, int] | None = None, ram_mb: float = 512.0,
                        quicklook: bool = True, orbit: Orbit | None = None) -> TerrainResult:
    """Terrain-corrected (and flattened) backscatter of one image of ``product`` (module doc); ``orbit``: the
    swath's orbit when already resolved (else ``resolve_orbit(meta, opts.orbit)``)."""
    radar_lut = check_options(opts, lut)
    meta = product.swath(swath, pol)
    check_annotations(product, meta, remove)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    work = Path(tempfile.mkdtemp(prefix=".diapsar_terrain_", dir=out))
    try:
        dem = DemSource(opts.dem, scene_footprint(meta), work, opts.geoid)
        foot, coverage = covered_footprint(meta, dem.bounds, opts.roi)
        if coverage < 0.999:
            log.warning("the DEM covers %.1f %% of %s %s: the output is limited to it", 100 * coverage,
                        meta.swath, meta.polarisation)
        c = foot.centroid
        epsg = opts.epsg or T.utm_epsg(c.x, c.y)
        grid = map_grid(foot, epsg, opts.spacing_m)
        ml_rg, ml_az = looks or auto_looks(meta, opts.spacing_m)
        orbit = orbit if orbit is not None else resolve_orbit(meta, opts.orbit)
        layout = deburst_layout(meta) if meta.is_tops and meta.product_type == "SLC" else None

        t0 = time.perf_counter()
        row_lines = np.empty((grid.height // COARSE + 2, 2))
        win = radar_window(grid, dem, meta, orbit, layout, (ml_rg, ml_az), ram_mb, row_lines)
        timings["window"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        with warnings.catch_warnings():  # the radar-geometry work image has no geotransform, on purpose
            warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
            radar = backscatter(product, meta.swath, meta.polarisation, work, lut=radar_lut, remove=remove,
                                db=False, ml_rg=ml_rg, ml_az=ml_az, ram_mb=ram_mb, quicklook=False, window=win,
                                compress="zstd")  # a work file, read once: the fast codec
        timings["calibrate"] = time.perf_counter() - t0
        n_rows, n_cols = radar.shape
        rows = _block_rows(grid, ram_mb)

        a_gamma = None
        if opts.flattening == "rtc":
            a_gamma = np.zeros((n_rows, n_cols))
        t0 = time.perf_counter()
        quantity = quantity_name(opts, radar_lut)
        base = output_base(meta)
        suffix = (f"_cos{opts.cosine_reference_deg:g}" if opts.cosine_reference_deg is not None else "") + \
            ("_db" if db else "")
        names = {"value": f"{base}_{quantity}{suffix}.tif", "angles": f"{base}_angles.tif",
                 "mask": f"{base}_layover_shadow.tif"}
        gt = grid.transform
        crs = f"EPSG:{grid.epsg}"
        unit = "dB" if db else "linear"
        tags = {"PRODUCT": meta.product_name, "SWATH": meta.swath, "POLARISATION": meta.polarisation,
                "QUANTITY": quantity, "FLATTENING": opts.flattening, "THERMAL_NOISE_REMOVED": str(remove).lower(),
                "UNITS": unit, "SPACING_M": f"{opts.spacing_m:g}", "RADAR_LOOKS_RG_AZ": f"{ml_rg} {ml_az}",
                "RADAR_WINDOW": " ".join(str(v) for v in win),
                "DEM": str(Path(opts.dem).name), "DEM_COVERAGE": f"{coverage:.4f}",
                "ORBIT": orbit.source}
        if opts.flattening == "rtc":
            tags.update(FACET_OVERSAMPLING=opts.oversample,
                        SOURCE="area projection, Small 2011 IEEE TGRS 49(8) 3081-3093 eq. 7-11")
        elif opts.flattening == "kellndorfer":
            tags.update(SOURCE="sigma0 sin(theta_LIA) / sin(theta_ell), Kellndorfer et al. 1998 IEEE TGRS 36(5)")
        if opts.cosine_reference_deg is not None:
            tags.update(COSINE_REFERENCE_DEG=f"{opts.cosine_reference_deg:g}",
                        COSINE_EXPONENT=f"{opts.cosine_exponent:g}")
        n_valid = 0
        inc_range = (math.inf, -math.inf)
        with contextlib.ExitStack() as stack, warnings.catch_warnings():
            warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
            import numba

            # GDAL compresses the work tiles with the numba thread count (the bytes do not depend on it)
            stack.enter_context(rasterio.Env(GDAL_NUM_THREADS=str(numba.get_num_threads())))
            src = stack.enter_context(rasterio.open(radar.tif))
            wv = stack.enter_context(_work_writer(work / names["value"], grid.width, grid.height, 1, "float32",
                                                 [f"{quantity}_{meta.polarisation}"], float("nan"), gt, crs,
                                                 tags=tags))
            wa = stack.enter_context(_work_writer(work / names["angles"], grid.width, grid.height, 2, "float32",
                                                 ["incidence_angle", "local_incidence_angle"], float("nan"), gt,
                                                 crs, tags={"PRODUCT": meta.product_name, "SWATH": meta.swath,
                                                            "UNITS": "degrees"}))
            wm = stack.enter_context(_work_writer(work / names["mask"], grid.width, grid.height, 1, "uint8",
                                                 ["layover_shadow"], MASK_NODATA, gt, crs,
                                                 tags={"PRODUCT": meta.product_name, "SWATH": meta.swath,
                                                       "VALUES": "0 clear, 1 layover, 2 shadow, 255 no data"}))
            wv.ds.set_band_unit(1, unit)
            for band in (1, 2):
                wa.ds.set_band_unit(band, "deg")
            def put(r0: int, r1: int, blk: dict | None) -> None:
                nonlocal n_valid, inc_range
                value, angles, mask = _geocode_block(blk, grid.width, r0, r1, meta, src, a_gamma, n_rows, n_cols,
                                                     ml_rg, ml_az, opts, win)
                fin = np.isfinite(value)
                n_valid += int(fin.sum())
                if fin.any():
                    inc = angles[0][fin]
                    inc_range = (min(inc_range[0], float(inc.min())), max(inc_range[1], float(inc.max())))
                wv.write(r0, to_db(value) if db else value)
                wa.write(r0, angles)
                wm.write(r0, mask)

            if a_gamma is None:
                for r0 in range(0, grid.height, rows):
                    r1 = min(grid.height, r0 + rows)
                    put(r0, r1, _geometry(grid, r0, r1, dem, meta, orbit, layout))
            else:
                t_area = _area_and_geocode(grid, dem, meta, orbit, layout, win, a_gamma, opts, ml_rg, ml_az, rows,
                                           row_lines, put)
                timings["area"] = t_area
        timings["geocode"] = time.perf_counter() - t0 - timings.get("area", 0.0)

        t0 = time.perf_counter()
        final = _cogs(work, out, names)
        timings["cog"] = time.perf_counter() - t0
    finally:
        shutil.rmtree(work, ignore_errors=True)
    png = None
    if quicklook:
        png = quicklook_png(final["value"], f"{final['value'].stem}\n{quantity} {meta.polarisation} {unit}", db,
                         ram_mb)
    return TerrainResult(final["value"], final["angles"], final["mask"], png, grid, (ml_rg, ml_az), quantity, db,
                         coverage, foot, timings, n_valid / float(grid.width * grid.height), meta.swath,
                         meta.polarisation, orbit.source, inc_range)


def _swath_worker_init(threads: int) -> None:
    import numba

    numba.set_num_threads(max(1, min(threads, int(getattr(numba.config, "NUMBA_NUM_THREADS", threads)))))


def _swath_job(path: str, swath: str, pol: str | None, out_dir: str, opts: TerrainOptions, ram_mb: float,
               kw: dict) -> TerrainResult:
    from .io.safe import open_product

    with open_product(path) as product:
        return terrain_backscatter(product, swath, pol, out_dir, opts, ram_mb=ram_mb, **kw)


def terrain_swaths(path, swaths: list[str], pol: str | None, out_dir, opts: TerrainOptions, ram_mb: float = 512.0,
                   workers: int = 1, orbits: dict[str, Orbit] | None = None, **kw) -> list[TerrainResult]:
    """``terrain_backscatter`` of several swaths of the product at ``path`` (results in the order of ``swaths``).
    ``workers`` > 1: that many swaths side by side in spawned processes, each with ``ram_mb / workers`` and its
    share of the numba (and GDAL) threads. The files are the same bytes as one after the other: the results
    depend neither on the thread count nor on -ram (``AREA_ROWS``, ``SPLAT_TILE_ROWS``)."""
    import numba

    orbits = orbits or {}
    workers = max(1, min(int(workers), len(swaths)))
    if workers == 1:
        from .io.safe import open_product

        with open_product(path) as product:
            return [terrain_backscatter(product, sw, pol, out_dir, opts, ram_mb=ram_mb, orbit=orbits.get(sw), **kw)
                    for sw in swaths]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    threads = max(1, numba.get_num_threads() // workers)
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_swath_worker_init, initargs=(threads,)) as ex:
        futures = [ex.submit(_swath_job, str(path), sw, pol, str(out_dir), opts, ram_mb / workers,
                             dict(kw, orbit=orbits.get(sw))) for sw in swaths]
        return [f.result() for f in futures]


def output_base(meta: SwathMetadata) -> str:
    name = meta.product_name.removesuffix(".SAFE").removesuffix(".zip") or "product"
    return f"{name}_{meta.swath}_{meta.polarisation}"


def _geocode_block(blk: dict | None, width: int, r0: int, r1: int, meta: SwathMetadata, src, a_gamma,
                   n_rows: int, n_cols: int, ml_rg: int, ml_az: int, opts: TerrainOptions,
                   win: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(value float32, angles (2, rows, cols) float32, mask uint8) of map rows [r0, r1) from their geometry
    ``blk`` (``terrain.map_block``; None: off the DEM)."""
    shape = (r1 - r0, width)
    value = np.full(shape, np.nan, dtype=np.float32)
    angles = np.full((2,) + shape, np.nan, dtype=np.float32)
    mask = np.full(shape, MASK_NODATA, dtype=np.uint8)
    if blk is None:
        return value, angles, mask
    u, v = to_ml(blk["line"], blk["sample"], ml_az, ml_rg, win[0], win[2])
    inside = np.isfinite(u) & np.isfinite(v) & (u >= -0.5) & (u <= n_rows - 0.5) & (v >= -0.5) & (v <= n_cols - 0.5)
    if not inside.any():
        return value, angles, mask
    u = np.where(inside, u, np.nan)
    span = needed_rows(u, n_rows)
    if span is None:
        return value, angles, mask
    ra, rb = span
    img = src.read(1, window=Window(0, ra, n_cols, rb - ra))
    theta_e, theta_l = blk["theta_e"], blk["theta_l"]
    if a_gamma is not None:
        # beta0 / A_gamma sampled bilinearly (``sample_ratio``: the ratio of each neighbour on the fly)
        geo = np.empty(u.shape, dtype=np.float32)
        sample_ratio(np.ascontiguousarray(img, dtype=np.float32), np.asarray(a_gamma[ra:rb]), ra,
                     np.ascontiguousarray(u), np.ascontiguousarray(v), geo)
        val = geo.astype(np.float64) * T.beta_reference_area(meta, theta_e, ml_az, ml_rg)
    else:
        val = sample(img.astype(np.float64), ra, u, v).astype(np.float64)
        if opts.flattening == "kellndorfer":
            with np.errstate(divide="ignore", invalid="ignore"):
                val = val * np.sin(np.radians(theta_l)) / np.sin(np.radians(theta_e))
    if opts.cosine_reference_deg is not None:
        val = val * (math.cos(math.radians(opts.cosine_reference_deg)) / np.cos(np.radians(theta_e))) ** \
            opts.cosine_exponent
    val[~inside] = np.nan
    value[:] = val
    angles[0] = np.where(inside, theta_e, np.nan)
    angles[1] = np.where(inside, theta_l, np.nan)
    mask[inside] = blk["mask"][inside]
    return value, angles, mask


# ------------------------------------------------------------------------------------------- swath mosaic

MOSAIC_RULE = ("per map cell, the swath with valid data whose incidence-angle range has the cell farthest "
               "from its near or far edge: min(theta - theta_min, theta_max - theta), theta_min/max of the "
               "swath's valid cells (overlaps are cut at their middle); ties: the nearer swath")


@dataclass
class MosaicResult:
    tif: Path
    angles: Path
    mask: Path
    png: Path | None
    grid: OrthoGrid
    swaths: list[str]
    counts: dict[str, int]  # valid cells taken from each swath


def product_epsg(metas: list[SwathMetadata], roi=None) -> int:
    """UTM zone (WGS84) of the centre of the swaths' footprints together (within ``roi``): one CRS for the
    whole product, so that its swaths share a map grid."""
    from shapely.geometry import box
    from shapely.ops import unary_union

    foot = unary_union([scene_footprint(m) for m in metas])
    if roi is not None and foot.intersects(box(*roi)):
        foot = foot.intersection(box(*roi))
    c = foot.centroid
    return T.utm_epsg(c.x, c.y)


def union_grid(grids: list[OrthoGrid]) -> OrthoGrid:
    """The grid covering every grid of the list (same CRS and spacing, edges on the same lattice)."""
    g0 = grids[0]
    s = g0.transform[1]
    if any(g.epsg != g0.epsg or g.transform[1] != s for g in grids):
        raise SelectionError("the swaths are not on one map grid (CRS or spacing differ): cannot mosaic them")
    x0 = min(g.transform[0] for g in grids)
    y0 = max(g.transform[3] for g in grids)
    x1 = max(g.transform[0] + g.width * s for g in grids)
    y1 = min(g.transform[3] - g.height * s for g in grids)
    return OrthoGrid(g0.epsg, (x0, s, 0.0, y0, 0.0, -s), int(round((x1 - x0) / s)), int(round((y0 - y1) / s)))


def pick_swaths(theta: np.ndarray, value: np.ndarray, ranges: list[tuple[float, float]]) -> np.ndarray:
    """Index (along the first axis of ``theta`` / ``value``, one per swath) of the swath each cell is taken
    from (MOSAIC_RULE); -1 where no swath covers the cell. Cells where a swath has angles but no value (off its
    data) rank below every valid value."""
    score = np.full(theta.shape, -np.inf)
    for k, (lo, hi) in enumerate(ranges):
        with np.errstate(invalid="ignore"):
            margin = np.minimum(theta[k] - lo, hi - theta[k])
        score[k] = np.where(np.isfinite(value[k]), margin, np.where(np.isfinite(theta[k]), margin - 1e3, -np.inf))
        score[k] = np.where(np.isfinite(score[k]), score[k], -np.inf)
    best = np.argmax(score, axis=0)  # first maximum: the nearer swath on ties
    return np.where(np.isfinite(np.take_along_axis(score, best[None], 0)[0]), best, -1)


def mosaic_swaths(results: list[TerrainResult], out_dir, product_name: str, ram_mb: float = 512.0,
                  quicklook: bool = True) -> MosaicResult:
    """One map per product: the swaths' outputs (value, angles, layover/shadow) on the union of their grids,
    each cell from the swath ``pick_swaths`` chooses; COGs ``<product>_<pol>_<quantity>[...].tif``,
    ``<product>_<pol>_angles.tif``, ``<product>_<pol>_layover_shadow.tif`` (and a quicklook)."""
    out = Path(out_dir)
    r0 = results[0]
    grid = union_grid([r.grid for r in results])
    pol = r0.polarisation
    rest = r0.tif.name.split(f"_{r0.swath}_{pol}_", 1)[-1]
    names = {"value": f"{product_name}_{pol}_{rest}", "angles": f"{product_name}_{pol}_angles.tif",
             "mask": f"{product_name}_{pol}_layover_shadow.tif"}
    ranges = [r.incidence_range_deg for r in results]
    swaths = [r.swath for r in results]
    counts = dict.fromkeys(swaths, 0)
    gt = grid.transform
    crs = f"EPSG:{grid.epsg}"
    work = Path(tempfile.mkdtemp(prefix=".diapsar_mosaic_", dir=out))
    try:
        with contextlib.ExitStack() as stack:
            srcs = [{k: stack.enter_context(rasterio.open(getattr(r, "tif" if k == "value" else k)))
                     for k in ("value", "angles", "mask")} for r in results]
            first = srcs[0]["value"]
            tags = {k: v for k, v in first.tags().items()
                    if k not in ("SWATH", "RADAR_LOOKS_RG_AZ", "RADAR_WINDOW", "DEM_COVERAGE")}
            tags.update(SWATHS=" ".join(swaths), MOSAIC_RULE=MOSAIC_RULE,
                        RADAR_LOOKS_RG_AZ=" ".join(f"{r.swath}:{r.looks[0]}x{r.looks[1]}" for r in results),
                        ORBIT=" ".join(sorted({r.orbit_source for r in results})))
            wv = stack.enter_context(open_writer(work / names["value"], grid.width, grid.height, 1, "float32",
                                                 list(first.descriptions), float("nan"), gt, crs, tags=tags))
            wa = stack.enter_context(open_writer(work / names["angles"], grid.width, grid.height, 2, "float32",
                                                 ["incidence_angle", "local_incidence_angle"], float("nan"), gt,
                                                 crs, tags={"PRODUCT": tags.get("PRODUCT", ""), "SWATHS": " ".join(swaths),
                                                            "UNITS": "degrees"}))
            wm = stack.enter_context(open_writer(work / names["mask"], grid.width, grid.height, 1, "uint8",
                                                 ["layover_shadow"], MASK_NODATA, gt, crs,
                                                 tags={"PRODUCT": tags.get("PRODUCT", ""), "SWATHS": " ".join(swaths),
                                                       "VALUES": "0 clear, 1 layover, 2 shadow, 255 no data"}))
            wv.ds.set_band_unit(1, first.units[0] or "")
            for band in (1, 2):
                wa.ds.set_band_unit(band, "deg")
            rows = max(16, min(grid.height, int(ram_mb * 0.25 * 2**20 / (grid.width * 24 * len(results)))))
            s = gt[1]
            for a in range(0, grid.height, rows):
                b = min(grid.height, a + rows)
                top, left = gt[3] - a * s, gt[0]
                n, shape = len(results), (b - a, grid.width)
                value = np.full((n,) + shape, np.nan, dtype=np.float32)
                angles = np.full((n, 2) + shape, np.nan, dtype=np.float32)
                mask = np.full((n,) + shape, MASK_NODATA, dtype=np.uint8)
                for k, src in enumerate(srcs):
                    st = src["value"].transform  # on the same lattice: integer offsets
                    win = Window(int(round((left - st.c) / s)), int(round((st.f - top) / s)), grid.width, b - a)
                    value[k] = src["value"].read(1, window=win, boundless=True, fill_value=np.nan)
                    angles[k] = src["angles"].read(window=win, boundless=True, fill_value=np.nan)
                    mask[k] = src["mask"].read(1, window=win, boundless=True, fill_value=MASK_NODATA)
                pick = pick_swaths(angles[:, 0], value, ranges)
                idx = np.clip(pick, 0, None)[None]
                v = np.take_along_axis(value, idx, 0)[0]
                ang = np.stack([np.take_along_axis(angles[:, j], idx, 0)[0] for j in (0, 1)])
                m = np.take_along_axis(mask, idx, 0)[0]
                none = pick < 0
                v[none], ang[:, none], m[none] = np.nan, np.nan, MASK_NODATA
                for k, sw in enumerate(swaths):
                    counts[sw] += int(np.count_nonzero((pick == k) & np.isfinite(v)))
                wv.write(a, v)
                wa.write(a, ang)
                wm.write(a, m)
        final = {k: write_cog(work / n, out / n, resampling="NEAREST" if k == "mask" else "AVERAGE",
                              predictor=k != "mask") for k, n in names.items()}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    png = None
    if quicklook:
        unit = "dB" if r0.db else "linear"
        png = quicklook_png(final["value"], f"{final['value'].stem}\n{r0.quantity} {pol} {unit} ({'+'.join(swaths)})",
                            r0.db, ram_mb)
    return MosaicResult(final["value"], final["angles"], final["mask"], png, grid, swaths, counts)


def product_item(product, results: list[TerrainResult], out_dir, mosaic: MosaicResult | None = None) -> Path:
    """Write ``<out_dir>/<product>.json``, the STAC Item of the product's terrain-corrected outputs
    (``diapsar.stac``); geometry = union of the outputs' footprints; ``proj:*`` of the mosaic's grid when the
    swaths were mosaicked (its assets first, roles ``data``...), else of the first output's grid; the per-swath
    outputs are listed as assets with the role ``swath`` added."""
    from shapely.geometry import mapping
    from shapely.ops import unary_union

    from . import stac

    out = Path(out_dir)
    meta = product.swath(None, None)
    name = product.name.removesuffix(".SAFE").removesuffix(".zip")
    geom = unary_union([r.footprint for r in results])
    g = mosaic.grid if mosaic is not None else results[0].grid
    assets = []

    def add(prefix: str, r: TerrainResult, tif: Path, angles: Path, mask: Path, png: Path | None, grid: OrthoGrid,
            extra_role: list[str]) -> None:
        desc = "dB" if r.db else "linear power"
        ext = {"proj:shape": [grid.height, grid.width], "proj:transform": list(grid.transform[:6])}
        assets.append(stac.Asset(tif, f"{r.quantity} {r.polarisation} ({desc})", ["data", *extra_role], extra=ext,
                                 key=f"{prefix}_{r.quantity}"))
        assets.append(stac.Asset(angles, "incidence angle and local incidence angle (degrees)",
                                 ["metadata", "incidence-angle", "local-incidence-angle", *extra_role], extra=ext,
                                 key=f"{prefix}_angles"))
        assets.append(stac.Asset(mask, "layover / shadow mask (0 clear, 1 layover, 2 shadow, 255 no data)",
                                 ["metadata", "mask", *extra_role], extra=ext, key=f"{prefix}_layover_shadow"))
        if png is not None:
            assets.append(stac.Asset(png, "quicklook", ["overview", *extra_role], media_type="image/png",
                                     key=f"{prefix}_quicklook"))

    if mosaic is not None:
        add(results[0].polarisation.lower(), results[0], mosaic.tif, mosaic.angles, mosaic.mask, mosaic.png,
            mosaic.grid, [])
    for r in results:
        add(f"{r.swath}_{r.polarisation}".lower(), r, r.tif, r.angles, r.mask, r.png, r.grid,
            ["swath"] if mosaic is not None else [])
    pols = sorted({r.polarisation for r in results})
    props = {
        "platform": f"sentinel-{meta.mission[1:].lower()}", "constellation": "sentinel-1",
        "instruments": ["c-sar"], "sar:instrument_mode": meta.mode, "sar:frequency_band": "C",
        "sar:center_frequency": meta.radar_frequency_hz / 1e9, "sar:polarizations": pols,
        "sar:product_type": meta.product_type, "sat:orbit_state": meta.pass_direction.lower(),
        "sat:relative_orbit": int(meta.relative_orbit), "sat:absolute_orbit": int(meta.absolute_orbit),
        "proj:epsg": int(g.epsg), "proj:shape": [g.height, g.width], "proj:transform": list(g.transform[:6]),
        "processing:software": {"diapsar": _version()},
        "diapsar:flattening": sorted({r.quantity for r in results}),
        "diapsar:orbit": sorted({r.orbit_source for r in results}),
        "diapsar:swaths": [r.swath for r in results],
    }
    if mosaic is not None:
        props["diapsar:mosaic_rule"] = MOSAIC_RULE
    item = stac.item(name, mapping(geom), list(geom.bounds), meta.start_time_s, meta.stop_time_s, props, assets,
                     out)
    return stac.write_item(out / f"{name}.json", item)


def _version() -> str:
    from . import __version__

    return str(__version__)
