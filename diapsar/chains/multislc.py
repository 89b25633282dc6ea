"""SAR_MultiSlc chain (StripMap): one master, every other image of the window a slave (DiapOTB notes 2, 3).

Reads like the processing diagram:

    select images ------------------------------------------------- datalake.select
    master:  multilook + Doppler0 ----------------------------------- multilook, doppler0
             DEM of the scene (dem_scene.vrt), DEM projection ------- io.dem, dem_projection
             cartesian mean per ML cell ------------------------------ cartesian_mean
    per slave:
             DEM deformation grid (geometry) ------------------------ dem_projection.dem_deformation_grid
             multilook + Doppler0 of the slave ---------------------- multilook, doppler0
             fine grid: correlation of ML amplitudes + DEM grid ----- deformation_grid
             topographic phase (cartesian mean + slave orbit) ------- topographic_phase
             coregistration (sinc, Doppler-aware) + interferogram --- coregistration, interferogram
             Goldstein filtering, orthorectification, quicklooks ---- filtering, ortho, report

Every step streams row blocks sized from the memory budget (``-ram``), writes its products under a temporary
name renamed on success, and records its completion (``.steps.json``) so that a rerun skips what is done.

IW (own issue) fits the same frame: a ``Window`` per master burst (valid lines of the burst, its own time origin
through ``RadarGrid``'s burst rule), the slave burst matched by burst ID (``baseline.match_bursts``), deramp
before the grid/coregistration and reramp after (``deramp``), the ESD loop adding a constant azimuth offset to
every burst grid (``deformation_grid.grid_offset``), and the burst interferograms concatenated (``deburst``)
before the same filtering/ortho/quicklook steps; ``datalake.select`` already handles IW names and ``-b``.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import __version__
from ..config import MultiSlcConfig
from ..errors import DemError, OutputError, ProductError, SelectionError
from ..geometry import RadarGrid, ecef_to_llh, rdr2geo
from ..io.blocks import row_blocks, rows_per_block
from ..log import get_logger, progress, setup_logging
from ..metadata import SwathMetadata
from ..orbit import Orbit
from . import datalake
from .products import Steps, gcps_from_xyz, open_writer, raster_shape, read_raster, write_json

log = get_logger("multislc")

IFG_BANDS = ("amplitude", "phase", "coherence", "isData")
CM_BANDS = ("X", "Y", "Z", "isData", "dem_post_count")
DEMPROJ_BANDS = ("sample", "line", "X", "Y", "Z")

# file names of the output layout (team brief)
MASTER_ML = "master_ml_amplitude.tif"
DEM_PROJECTION = "dem_projection.tif"
CARTESIAN_MEAN = "cartesian_mean.tif"
ORTHO_LOOKUP = "ortho_lookup.tif"
SLAVE_ML = "slave_ml_amplitude.tif"
GRID = "deformation_grid.tif"
TOPO = "topographic_phase.tif"
COREG = "slave_coregistered.tif"
IFG = "interferogram.tif"
IFG_FILTERED = "interferogram_filtered.tif"
IFG_ORTHO = "interferogram_ortho.tif"
IFG_FILTERED_ORTHO = "interferogram_filtered_ortho.tif"


# ------------------------------------------------------------------------------------------------ inputs

@dataclass
class Acquisition:
    image: datalake.Image
    product: object  # diapsar.io.safe.Product
    meta: SwathMetadata
    orbit: Orbit

    @property
    def date(self) -> str:
        return self.image.date

    def read(self, line0: int, sample0: int, n_lines: int, n_samples: int) -> np.ndarray:
        return self.product.read(self.meta.swath, self.meta.polarisation, line0, sample0, n_lines, n_samples)


@dataclass
class Window:
    """The processed part of the master: lines [line0, line0+n_lines), samples [sample0, sample0+n_samples),
    trimmed to whole ML cells."""

    line0: int
    sample0: int
    n_lines: int
    n_samples: int
    ml_azi: int
    ml_ran: int

    @property
    def ml_shape(self) -> tuple[int, int]:
        return self.n_lines // self.ml_azi, self.n_samples // self.ml_ran

    def as_dict(self) -> dict:
        return {"first_line": self.line0, "first_sample": self.sample0, "lines": self.n_lines,
                "samples": self.n_samples}

    def perimeter(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Line and sample of ``n`` points per side around the window (first to last line/sample)."""
        ls = np.r_[np.full(n, 0.0), np.linspace(0, 1, n), np.full(n, 1.0), np.linspace(1, 0, n)]
        ps = np.r_[np.linspace(0, 1, n), np.full(n, 1.0), np.linspace(1, 0, n), np.full(n, 0.0)]
        return self.line0 + ls * (self.n_lines - 1), self.sample0 + ps * (self.n_samples - 1)


@dataclass
class Context:
    cfg: MultiSlcConfig
    out: Path
    master: Acquisition
    window: Window
    dem: object = None  # DemPatch
    master_dir: Path = Path()
    timings: dict[str, float] = field(default_factory=dict)
    gcps: list = field(default_factory=list)

    @property
    def ram_mb(self) -> float:
        """Budget of the row blocks: -ram minus what the run holds from start to end (GDAL's block cache, the
        scene DEM), at least a quarter of -ram."""
        held = gdal_cache_mb(self.cfg.optram_mb)
        if self.dem is not None:
            held += self.dem.heights_m.nbytes / 2**20
        return max(float(self.cfg.optram_mb) - held, 0.25 * float(self.cfg.optram_mb))


def gdal_cache_mb(ram_mb: float) -> int:
    """GDAL's raster block cache of the run, taken from the budget (GDAL's default, 5 % of the machine's memory,
    is outside it): 1/16 of -ram, 16..256 MB."""
    return int(max(16, min(256, float(ram_mb) / 16)))


def _open(image: datalake.Image) -> Acquisition:
    from ..io.safe import open_product

    try:
        product = open_product(image.product_path)
        meta = product.swath(image.swath, image.polarisation)
    except (OSError, ValueError) as exc:
        raise ProductError(f"{image.product_path}: unreadable product ({exc})") from None
    if not product.has_pixels(image.swath, image.polarisation):
        raise ProductError(f"{image.product_path}: measurement {image.measurement_name} is missing or empty")
    return Acquisition(image=image, product=product, meta=meta, orbit=Orbit(meta.orbit))


def _probe_pixels(acq: Acquisition) -> None:
    """Read the first and last line of the image: a truncated or damaged measurement TIFF is refused here,
    before any work (ProductError naming the product)."""
    from ..errors import DiapsarError

    n_l, n_s = acq.meta.number_of_lines, acq.meta.number_of_samples
    try:
        for line in (0, n_l - 1):
            acq.read(line, 0, 1, n_s)
    except (DiapsarError, OSError, ValueError) as exc:
        raise ProductError(f"{acq.image.product_path.name}: unreadable measurement ({exc})") from None


def _check_output(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create output folder {out}: {exc.strerror or exc}") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise OutputError(f"output folder {out} is not writable")
    probe = out / f".write_test_{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise OutputError(f"output folder {out} is not writable: {exc.strerror or exc}") from None


def _window(cfg: MultiSlcConfig, master: Acquisition) -> Window:
    meta = master.meta
    n_lines, n_samples = meta.number_of_lines, meta.number_of_samples
    line0, sample0 = 0, 0
    if cfg.roi is not None:
        from ..dem_projection import radar_coordinates
        from ..geometry import llh_to_ecef

        ulx, uly, lrx, lry = cfg.roi
        lon = np.r_[np.linspace(ulx, lrx, 9), np.full(9, lrx), np.linspace(lrx, ulx, 9), np.full(9, ulx)]
        lat = np.r_[np.full(9, uly), np.linspace(uly, lry, 9), np.full(9, lry), np.linspace(lry, uly, 9)]
        ls, ps = [], []
        # terrain heights of the annotation's geolocation grid, with a margin (the DEM is not read yet)
        gh = np.asarray(meta.geolocation_grid.height_m, dtype=np.float64)
        gh = gh[np.isfinite(gh)] if gh.size else np.zeros(1)
        for h in (float(gh.min()) - 50.0, float(gh.max()) + 50.0):
            line, pixel, _ = radar_coordinates(meta, master.orbit, llh_to_ecef(lat, lon, np.full_like(lat, h)))
            ls.append(line)
            ps.append(pixel)
        line, pixel = np.concatenate(ls), np.concatenate(ps)
        if not np.isfinite(line).any():
            raise SelectionError(f"-roi {cfg.roi} is outside the master's orbit")
        l0, l1 = int(np.floor(np.nanmin(line))), int(np.ceil(np.nanmax(line))) + 1
        s0, s1 = int(np.floor(np.nanmin(pixel))), int(np.ceil(np.nanmax(pixel))) + 1
        line0, sample0 = max(0, l0), max(0, s0)
        # aligned on the full image's multilook grid: the window's ML cells are cells of the whole scene
        line0 -= line0 % cfg.ml_azi
        sample0 -= sample0 % cfg.ml_ran
        n_lines, n_samples = min(meta.number_of_lines, l1) - line0, min(meta.number_of_samples, s1) - sample0
        if n_lines < 8 * cfg.ml_azi or n_samples < 8 * cfg.ml_ran:
            raise SelectionError(f"-roi {list(cfg.roi)} does not overlap the master image {master.image.measurement_name}")
    n_lines -= n_lines % cfg.ml_azi
    n_samples -= n_samples % cfg.ml_ran
    return Window(line0, sample0, n_lines, n_samples, cfg.ml_azi, cfg.ml_ran)


# ------------------------------------------------------------------------------------------------ steps

def step_multilook_doppler(acq: Acquisition, folder: Path, window: Window, cfg: MultiSlcConfig, name: str,
                           timings: dict) -> dict:
    """SARMultiLook + SARDoppler0 in one streaming pass over ``window`` of ``acq``."""
    from ..doppler0 import cde_sums, doppler0_from_sums
    from ..multilook import multilook

    steps = Steps(folder)
    params = {"window": window.as_dict(), "ml": [cfg.ml_ran, cfg.ml_azi], "gain": cfg.ml_gain,
              "image": acq.image.measurement_name}
    dop_file = cfg.doppler_file
    if steps.complete("multilook_doppler0", params, [name, dop_file]):
        d = steps.done["multilook_doppler0"]
        log.info("%s: multilook and Doppler0 already done", acq.date)
        return {"cycles_per_line": float((folder / dop_file).read_text().split()[0]), **d}
    t0 = time.perf_counter()
    rows_ml, cols_ml = window.ml_shape
    rows = rows_per_block(window.n_samples, 8 * 3, min(cfg.optram_mb, 512), multiple=window.ml_azi)
    sums = None
    prev = None
    with open_writer(folder / name, cols_ml, rows_ml, 1, "float32", descriptions=["amplitude"]) as w:
        for b in progress(list(row_blocks(window.n_lines, rows)), f"{acq.date} multilook+Doppler0"):
            strip = acq.read(window.line0 + b.row0, window.sample0, b.rows, window.n_samples)
            s = cde_sums(strip, prev)
            sums = s if sums is None else sums + s
            prev = strip[-1]
            w.write(b.row0 // window.ml_azi, multilook(strip, window.ml_ran, window.ml_azi, cfg.ml_gain))
    prf = 1.0 / acq.meta.azimuth_time_interval_s
    dop = doppler0_from_sums(sums, prf)
    from ..io.atomic import atomic_path

    with atomic_path(folder / dop_file) as tmp:
        tmp.write_text(f"{dop.cycles_per_line:.8f} cycles/line\n{dop.hz:.4f} Hz\n")
    dt = time.perf_counter() - t0
    timings["multilook_doppler0"] = round(timings.get("multilook_doppler0", 0) + dt, 3)
    steps.record("multilook_doppler0", params, [name, dop_file], dt)
    log.info("%s: multilook %dx%d -> %dx%d, Doppler0 %.4f cycles/line (%.1f Hz) in %.1f s", acq.date,
             cfg.ml_ran, cfg.ml_azi, cols_ml, rows_ml, dop.cycles_per_line, dop.hz, dt)
    return {"cycles_per_line": dop.cycles_per_line}


def _footprint(master: Acquisition, window: Window, h_min: float, h_max: float):
    """lon/lat polygon of the window for ground heights between h_min and h_max (ellipsoidal)."""
    from shapely.geometry import MultiPoint

    grid = RadarGrid.from_metadata(master.meta)
    line, pixel = window.perimeter(12)
    pts = []
    for h in (h_min, h_max):
        lat, lon, _ = rdr2geo(master.orbit, grid.line_to_time(line), grid.pixel_to_range_time(pixel),
                              np.full(line.shape, h), look_side=master.meta.look_side)
        pts += [(a, b) for a, b in zip(lon, lat, strict=True) if np.isfinite(a) and np.isfinite(b)]
    if len(pts) < 3:
        raise SelectionError("cannot locate the master window on the ground (orbit does not cover it)")
    return MultiPoint(pts).convex_hull


def step_dem(ctx: Context) -> None:
    """dem_scene.vrt from the tiles (or the one DEM) and the scene DEM patch with ellipsoidal heights.

    The footprint is first taken for the annotation's terrain heights -500 m .. +2000 m, then again for the
    DEM's own height range; the DEM must cover the whole window (every perimeter line of sight meets it)."""
    from ..dem_projection import DemPatch, ground_points
    from ..io.dem import build_dem_vrt, build_scene_dem, read_dem

    cfg, out, m, win = ctx.cfg, ctx.out, ctx.master, ctx.window
    t0 = time.perf_counter()
    gh = np.asarray(m.meta.geolocation_grid.height_m, dtype=np.float64)
    h_ref = float(np.nanmedian(gh)) if gh.size else 0.0
    h_lo, h_hi = h_ref - 500.0, h_ref + 2000.0
    # built in a scratch folder and moved into place only once it covers the scene: a failed run never
    # replaces the dem_scene.vrt of an earlier run
    scratch = out / f".dem_scene.{os.getpid()}.tmp"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    vrt = scratch / "dem_scene.vrt"
    margin = 0.02
    geoid = cfg.inputs.geoid
    ellipsoidal = not (geoid is not None and geoid.lower() == "none")
    if geoid is not None and geoid.lower() in ("none", "builtin", "egm96"):
        geoid = None
    dem = None
    try:
        for _ in range(2):
            foot = _footprint(m, win, h_lo, h_hi)
            if cfg.inputs.srtm_path is not None:
                if not Path(cfg.inputs.srtm_path).is_dir():
                    raise DemError(f"SRTM_Path {cfg.inputs.srtm_path} is not a folder")
                build_scene_dem(cfg.inputs.srtm_path, foot, vrt, margin_deg=margin,
                                tile_index=cfg.inputs.srtm_shapefile)
            else:
                if not Path(cfg.inputs.dem_path).exists():
                    raise DemError(f"DEM_Path {cfg.inputs.dem_path} does not exist")
                build_dem_vrt([cfg.inputs.dem_path], vrt)
            lonmin, latmin, lonmax, latmax = foot.bounds
            bbox = (lonmin - margin, latmin - margin, lonmax + margin, latmax + margin)
            try:
                heights, gt, _crs = read_dem(vrt, bbox=bbox, ellipsoidal=ellipsoidal, geoid=geoid)
            except DemError as exc:  # name the user's DEM, not the scratch VRT, and leave nothing behind
                shutil.rmtree(scratch, ignore_errors=True)
                src = cfg.inputs.dem_path or cfg.inputs.srtm_path
                raise DemError(str(exc).replace(str(vrt), str(src)).replace("does not cover lon",
                                                                            "does not cover the scene: lon")) from None
            dem = DemPatch(np.asarray(heights, dtype=np.float64), tuple(float(v) for v in gt))
            if not np.isfinite(dem.heights_m).any():
                break
            lo, hi = float(np.nanmin(dem.heights_m)), float(np.nanmax(dem.heights_m))
            if h_lo <= lo and hi <= h_hi:
                break
            h_lo, h_hi = min(lo, h_lo), max(hi, h_hi)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    # coverage: every line of sight of the window perimeter must meet the DEM
    xyz = ground_points(m.meta, m.orbit, dem, *win.perimeter(16))
    if not np.all(np.isfinite(xyz)):
        shutil.rmtree(scratch, ignore_errors=True)
        x0, dx, _, y0, _, dy = dem.transform
        src = cfg.inputs.dem_path or cfg.inputs.srtm_path
        raise DemError(f"the DEM {src} (lon {x0:.4f}..{x0 + dx * dem.shape[1]:.4f}, lat "
                       f"{y0 + dy * dem.shape[0]:.4f}..{y0:.4f}) does not cover the scene (lon {lonmin:.4f}.."
                       f"{lonmax:.4f}, lat {latmin:.4f}..{latmax:.4f})")
    for item in sorted(scratch.iterdir()):
        dest = out / item.name
        if dest.is_dir():
            shutil.rmtree(dest)
        os.replace(item, dest)
    shutil.rmtree(scratch, ignore_errors=True)
    vrt = out / "dem_scene.vrt"
    ctx.dem = dem
    ctx.timings["dem"] = round(time.perf_counter() - t0, 3)
    log.info("DEM: %s, %dx%d posts, heights %.0f..%.0f m (ellipsoidal)", vrt, dem.shape[1], dem.shape[0],
             np.nanmin(dem.heights_m), np.nanmax(dem.heights_m))


def step_dem_projection(ctx: Context) -> None:
    """SARDEMProjection of the master: per DEM post its master sample, line and ECEF (DEM geometry).

    Written as float32 like DiapOTB's product (sample/line to ~0.002 px, ECEF to ~0.5 m): the chain uses it
    for the DEM post count of the cartesian mean; geometry that needs precision is recomputed in float64."""
    from ..dem_projection import project_dem

    folder = ctx.master_dir
    steps = Steps(folder)
    params = {"dem": ctx.dem.transform, "dem_shape": list(ctx.dem.shape), "image": ctx.master.image.measurement_name}
    if steps.complete("dem_projection", params, [DEM_PROJECTION]):
        log.info("master DEM projection already done")
        return
    t0 = time.perf_counter()
    ny, nx = ctx.dem.shape
    # 80..120 bytes per DEM post measured (geo2rdr temporaries, the 5 float64 bands before the write)
    rows = rows_per_block(nx, 8 * 16, ctx.ram_mb)
    with open_writer(folder / DEM_PROJECTION, nx, ny, 5, "float32", descriptions=DEMPROJ_BANDS,
                     transform=ctx.dem.transform, crs="EPSG:4326") as w:
        for b in row_blocks(ny, rows):
            p = project_dem(ctx.master.meta, ctx.master.orbit, ctx.dem, slice(b.row0, b.row1))
            w.write(b.row0, np.concatenate([p.pixel[None], p.line[None], np.moveaxis(p.xyz, -1, 0)]))
    dt = time.perf_counter() - t0
    ctx.timings["dem_projection"] = round(dt, 3)
    steps.record("dem_projection", params, [DEM_PROJECTION], dt)
    log.info("master DEM projection: %d posts in %.1f s", nx * ny, dt)


def step_cartesian_mean(ctx: Context) -> None:
    """SARCartesianMeanEstimation: ground point of every ML cell (+ isData and DiapOTB's DEM post count)."""
    from ..cartesian_mean import add_post_count, cartesian_mean

    folder, win = ctx.master_dir, ctx.window
    steps = Steps(folder)
    rows_ml, cols_ml = win.ml_shape
    params = {"dem": ctx.dem.transform, "window": win.as_dict(), "ml": [win.ml_ran, win.ml_azi]}
    if not steps.complete("cartesian_mean", params, [CARTESIAN_MEAN]):
        t0 = time.perf_counter()
        # DiapOTB's DEM post count per ML cell, from the DEM projection read by strips of DEM rows (its posts
        # fall anywhere in the window, so the count of the whole ML grid is held: 4 bytes per ML cell)
        count = np.zeros((rows_ml, cols_ml), dtype=np.int32)
        _, ny, nx = raster_shape(folder / DEM_PROJECTION)
        for b in row_blocks(ny, rows_per_block(nx, 4 * 2 * 3, ctx.ram_mb)):
            proj = read_raster(folder / DEM_PROJECTION, [1, 2], rows=(b.row0, b.row1))
            add_post_count(proj[1], proj[0], count, win.ml_azi, win.ml_ran, win.line0, win.sample0)
            del proj
        # ground points: 150..380 bytes per ML cell measured (rdr2geo_dem iterations, float64 temporaries)
        rows = rows_per_block(cols_ml, 480, ctx.ram_mb)
        with open_writer(folder / CARTESIAN_MEAN, cols_ml, rows_ml, 5, "float64", descriptions=CM_BANDS) as w:
            for b in progress(list(row_blocks(rows_ml, rows)), "cartesian mean"):
                xyz, isdata = cartesian_mean(ctx.master.meta, ctx.master.orbit, ctx.dem, win.ml_azi, win.ml_ran,
                                             b.row0, b.row1, cols_ml, win.line0, win.sample0)
                w.write(b.row0, np.concatenate([np.moveaxis(xyz, -1, 0), isdata[None],
                                                count[b.row0:b.row1][None]]))
        dt = time.perf_counter() - t0
        ctx.timings["cartesian_mean"] = round(dt, 3)
        steps.record("cartesian_mean", params, [CARTESIAN_MEAN], dt)
        log.info("cartesian mean: %dx%d ML cells in %.1f s", cols_ml, rows_ml, dt)
    else:
        log.info("cartesian mean already done")
    # GCPs of the SAR-geometry products
    gcps = []
    for i in np.unique(np.linspace(0, rows_ml - 1, 12).round().astype(int)):
        blk = read_raster(folder / CARTESIAN_MEAN, [1, 2, 3, 4], rows=(int(i), int(i) + 1))
        gcps += gcps_from_xyz(np.moveaxis(blk[:3], 0, -1), blk[3], row0=int(i), n=12)
    ctx.gcps = gcps


def step_ortho_lookup(ctx: Context):
    """Ortho lookup table of the master (once per run): for each map cell its full-resolution master line and
    sample relative to the window origin (float32), by DEM height + zero-Doppler geo2rdr; every pair's ortho
    is then a resampling through it. Returns the ortho grid."""
    from .. import ortho
    from .pairsteps import ortho_grid

    win, m = ctx.window, ctx.master
    grid = ortho_grid(ctx)
    steps = Steps(ctx.master_dir)
    params = {"grid": [grid.epsg, *grid.transform, grid.width, grid.height], "window": win.as_dict(),
              "dem": ctx.dem.transform, "inputs": steps.done.get("cartesian_mean")}
    if steps.complete("ortho_lookup", params, [ORTHO_LOOKUP]):
        return grid
    t0 = time.perf_counter()
    # ~110-150 bytes per map cell measured (lon/lat grids, DEM height, ECEF, geo2rdr temporaries)
    rows = rows_per_block(grid.width, 8 * 24, ctx.ram_mb)
    with open_writer(ctx.master_dir / ORTHO_LOOKUP, grid.width, grid.height, 2, "float32",
                     descriptions=["master_line", "master_sample"], transform=grid.transform,
                     crs=f"EPSG:{grid.epsg}", nodata=np.nan,
                     tags={"first_line": win.line0, "first_sample": win.sample0}) as w:
        for b in progress(list(row_blocks(grid.height, rows)), "ortho lookup"):
            line, pixel = ortho.master_coordinates(grid, b.row0, b.row1, ctx.dem, m.meta, m.orbit)
            w.write(b.row0, np.stack([line - win.line0, pixel - win.sample0]))
    dt = time.perf_counter() - t0
    ctx.timings["ortho_lookup"] = round(dt, 3)
    steps.record("ortho_lookup", params, [ORTHO_LOOKUP], dt)
    log.info("ortho lookup %dx%d (EPSG:%d) in %.1f s", grid.width, grid.height, grid.epsg, dt)
    return grid


# ------------------------------------------------------------------------------------------------ pair

def _baseline(ctx: Context, slave: Acquisition) -> dict:
    """Perpendicular/parallel baseline and height of ambiguity at the window centre (diapsar.baseline)."""
    from ..baseline import baseline_at_point
    from ..dem_projection import ground_points

    win, m = ctx.window, ctx.master
    line = win.line0 + win.n_lines / 2.0
    pixel = win.sample0 + win.n_samples / 2.0
    p = ground_points(m.meta, m.orbit, ctx.dem, np.array([line]), np.array([pixel]))[0]
    lat, lon, h = ecef_to_llh(p)
    r = baseline_at_point(m.orbit, slave.orbit, float(lat), float(lon), float(h), m.meta.wavelength_m)
    hoa = r["height_of_ambiguity_m"]
    return {"perpendicular_baseline_m": round(r["perpendicular_m"], 3), "parallel_baseline_m": round(r["parallel_m"], 3),
            "height_of_ambiguity_m": None if hoa is None else round(hoa, 2),
            "incidence_angle_deg": round(r["incidence_deg"], 4),
            "baseline_point_lat_lon_h": [round(float(lat), 6), round(float(lon), 6), round(float(h), 2)]}


def run_pair(ctx: Context, slave: Acquisition) -> dict:
    """The DInSAR sub-chain of one master/slave pair; returns the pair.json content."""
    import json

    from . import pairsteps

    cfg, m = ctx.cfg, ctx.master
    pair_dir = ctx.out / f"{m.date}_m_{slave.date}_s"
    pair_dir.mkdir(parents=True, exist_ok=True)
    t_pair = time.perf_counter()
    # a pair whose products are complete for the same parameters and master products is not redone
    pair_params = {"parameters": {k: v for k, v in cfg.to_dict().items() if k != "source"},
                   "window": ctx.window.as_dict(), "master": m.image.measurement_name,
                   "slave": slave.image.measurement_name, "master_steps": Steps(ctx.master_dir).done}
    steps = Steps(pair_dir)
    if steps.complete("pair", pair_params, ["pair.json"]):
        info = json.loads((pair_dir / "pair.json").read_text(encoding="utf-8"))
        if all((pair_dir / f).exists() for f in info.get("products", {}).values() if f):
            log.info("pair %s_m_%s_s already complete", m.date, slave.date)
            return {**info, "_skipped": True}
    timings: dict[str, float] = {}
    log.info("pair %s_m_%s_s: %s x %s", m.date, slave.date, m.image.measurement_name, slave.image.measurement_name)
    products = pairsteps.process_pair(ctx, slave, pair_dir, timings)
    info = {
        "master_date": m.date, "slave_date": slave.date,
        "master": m.image.measurement_name, "slave": slave.image.measurement_name,
        "temporal_baseline_days": round((slave.meta.start_time_s - m.meta.start_time_s) / 86400.0, 4),
        "esd_shift_lines": None,
        "parameters": cfg.to_dict() | {"window": ctx.window.as_dict()},
        "software_version": __version__,
    }
    info.update(_baseline(ctx, slave))
    info["products"] = products.pop("products")
    info.update(products)
    info["timings_s"] = timings
    write_json(pair_dir / "pair.json", info)
    # quicklooks need pair.json's product names; written after, then pair.json updated
    if not info["products"].get("interferogram"):
        steps.record("pair", pair_params, ["pair.json"], time.perf_counter() - t_pair)
        return info  # Activate_Interferogram = no: nothing to look at
    try:
        from ..report import write_pair_quicklooks

        t0 = time.perf_counter()
        ql = write_pair_quicklooks(pair_dir, pair_dir / info["products"]["interferogram"],
                                   ml=(1, 1), ortho_path=(pair_dir / info["products"]["ortho"])
                                   if info["products"].get("ortho") else None, ram_mb=min(ctx.ram_mb, 512))
        timings["quicklooks"] = round(time.perf_counter() - t0, 3)
        info["quicklooks"] = ql
        write_json(pair_dir / "pair.json", info)
    except ImportError:
        log.info("quicklooks skipped (diapsar.report not available)")
    steps.record("pair", pair_params, ["pair.json"], time.perf_counter() - t_pair)
    return info


# ------------------------------------------------------------------------------------------------ run

def run_chain(cfg: MultiSlcConfig) -> dict:
    """Run the whole chain; returns run.json's content. Raises DiapsarError subclasses on bad input."""
    import warnings

    import rasterio
    from rasterio.errors import NotGeoreferencedWarning

    with warnings.catch_warnings():
        # SAR-geometry products carry GCPs, not a geotransform: GDAL's warning about it is expected
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        try:
            with rasterio.Env(GDAL_CACHEMAX=gdal_cache_mb(cfg.optram_mb)):
                return _run_chain(cfg)
        except Exception as exc:
            _file_log_only(f"stopped: {type(exc).__name__}: {exc}")
            raise


def _file_log_only(message: str) -> None:
    """Write a line to info.log only (the command line prints the error itself on stderr)."""
    import logging

    for h in logging.getLogger("diapsar").handlers:
        if isinstance(h, logging.FileHandler):
            h.emit(logging.LogRecord("diapsar.multislc", logging.ERROR, __file__, 0, message, None, None))


def _run_chain(cfg: MultiSlcConfig) -> dict:
    t_start = time.perf_counter()
    out = Path(cfg.output_path)
    if cfg.inputs.mode != "SM":
        raise SelectionError(f"Global.in.Mode {cfg.inputs.mode}: SAR_MultiSlc.py processes StripMap (SM) stacks; "
                             "IW stacks are not supported by this chain yet")
    # the input selection is checked before anything is created in the output folder
    images = datalake.scan(cfg.inputs.input_path)
    sel = datalake.select(images, mode=cfg.inputs.mode, polarisation=cfg.inputs.polarisation,
                          swath=cfg.inputs.swath, start_date=cfg.inputs.start_date, end_date=cfg.inputs.end_date,
                          exclude=cfg.inputs.exclude, master=cfg.inputs.master_image,
                          input_path=str(cfg.inputs.input_path))
    _check_output(out)
    setup_logging(out)
    log.info("diapsar %s SAR_MultiSlc: config %s -> %s", __version__, cfg.source or "(in memory)", out)
    log.info("master %s (%s), %d slave(s): %s", sel.master.date, sel.master.measurement_name, len(sel.slaves),
             ", ".join(s.date for s in sel.slaves))
    master = _open(sel.master)
    slaves_img = sel.slaves
    # metadata checks before any heavy work: one track, one mode (annotation values)
    metas = {sel.master.key: master.meta}
    _probe_pixels(master)
    for s in slaves_img:
        acq = _open(s)
        try:
            _probe_pixels(acq)
            metas[s.key] = acq.meta
        finally:
            acq.product.close()
    datalake.check_tracks(metas)
    window = _window(cfg, master)
    master_dir = out / f"{master.date}_master_directory"
    master_dir.mkdir(parents=True, exist_ok=True)
    ctx = Context(cfg=cfg, out=out, master=master, window=window, master_dir=master_dir)
    if cfg.burst_index is not None:
        b = cfg.burst_index
        log.warning("burst_index / -b %s selects IW bursts: ignored for this StripMap stack",
                    "-".join(map(str, b)) if isinstance(b, (list, tuple)) else b)
    log.info("window: lines %d..%d, samples %d..%d; ML %dx%d -> %dx%d", window.line0,
             window.line0 + window.n_lines - 1, window.sample0, window.sample0 + window.n_samples - 1,
             cfg.ml_ran, cfg.ml_azi, window.ml_shape[1], window.ml_shape[0])
    # master
    step_dem(ctx)
    step_multilook_doppler(master, master_dir, window, cfg, MASTER_ML, ctx.timings)
    step_dem_projection(ctx)
    step_cartesian_mean(ctx)
    pairs = []
    for s in slaves_img:
        slave = _open(s)
        info = run_pair(ctx, slave)
        pairs.append(f"{master.date}_m_{slave.date}_s")
        if info.pop("_skipped", False):
            slave.product.close()
            continue
        for k, v in info["timings_s"].items():
            ctx.timings[f"pair.{k}"] = round(ctx.timings.get(f"pair.{k}", 0.0) + v, 3)
        slave.product.close()
    ctx.timings["total"] = round(time.perf_counter() - t_start, 3)
    run = {"software_version": __version__, "parameters": cfg.to_dict(), "window": window.as_dict(),
           "master": master.image.measurement_name, "master_date": master.date,
           "master_directory": master_dir.name, "slaves": [s.measurement_name for s in slaves_img],
           "pairs": pairs, "dem": "dem_scene.vrt", "timings_s": ctx.timings,
           "versions": _versions()}
    write_json(out / "run.json", run)
    try:
        from ..report import write_report

        write_report(out)
    except ImportError:
        log.info("HTML report skipped (diapsar.report not available)")
    log.info("done in %.1f s: %d pair(s) in %s", ctx.timings["total"], len(pairs), out)
    return run


def _versions() -> dict:
    import numba
    import rasterio

    return {"diapsar": __version__, "numpy": np.__version__, "numba": numba.__version__,
            "rasterio": rasterio.__version__, "gdal": rasterio.__gdal_version__}


def remove_intermediates(pair_dir: Path, names: list[str]) -> None:
    for n in names:
        p = pair_dir / n
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        elif p.exists():
            p.unlink()


__all__ = ["run_chain", "IFG_BANDS", "raster_shape"]
