"""Steps of the master (DiapOTB SAR_MultiSlc "Pre_Processing" and "Metadata_Correction" parts): the scene DEM,
multilook + Doppler0 (also run on each slave), DEM projection, cartesian mean, ortho lookup table.

Every step reads its inputs and writes its outputs only; the algorithms are the applications' pure functions.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .. import layout
from ..errors import DemError, SelectionError
from ..geometry import RadarGrid, rdr2geo
from ..io.blocks import retain_freed_memory, row_blocks, rows_per_block
from ..io.dem import Dem
from ..io.raster import gcps_from_xyz, open_writer, raster_shape, read_raster
from ..io.window import Window
from ..log import progress
from .context import Acquisition, RunContext, Unit, product_codec
from .steps import Outcome, Params, Step

# ------------------------------------------------------------------------------------------------ scene DEM


def _footprint(master: Acquisition, window: Window, h_min: float, h_max: float) -> Any:
    """lon/lat polygon (shapely) of the window for ground heights between h_min and h_max (ellipsoidal)."""
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


class _PathsAs(logging.Filter):
    """Log records naming files of a scratch folder name them at their final place."""

    def __init__(self, scratch: Path, final: Path) -> None:
        super().__init__()
        self.scratch, self.final = str(scratch), str(final)

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        if self.scratch in msg:
            record.msg, record.args = msg.replace(self.scratch, self.final), None
        return True


@contextlib.contextmanager
def _logged_as(scratch: Path, final: Path) -> Iterator[None]:
    flt = _PathsAs(scratch, final)
    dem_log = logging.getLogger("diapsar.dem")
    dem_log.addFilter(flt)
    try:
        yield
    finally:
        dem_log.removeFilter(flt)


def _scene_dem(ctx: RunContext, unit: Unit) -> Outcome:
    """The scene DEM: dem_scene.vrt from the tiles (or the one DEM) and its heights, ellipsoidal.

    The footprint is first taken for the annotation's terrain heights -500 m .. +2000 m, then again for the
    DEM's own height range; the DEM must cover the whole window (every perimeter line of sight meets it)."""
    from ..dem_projection import ground_points
    from ..io.dem import build_dem_vrt, build_scene_dem, load_dem

    cfg, out, m, win = ctx.cfg, ctx.out, ctx.master, ctx.window
    gh = np.asarray(m.meta.geolocation_grid.height_m, dtype=np.float64)
    h_ref = float(np.nanmedian(gh)) if gh.size else 0.0
    h_lo, h_hi = h_ref - 500.0, h_ref + 2000.0
    # built in a scratch folder and moved into place only once it covers the scene: a failed run never
    # replaces the dem_scene.vrt of an earlier run
    scratch = out / layout.dem_scratch(os.getpid())
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    vrt = scratch / layout.DEM_SCENE
    margin = 0.02
    geoid = cfg.inputs.geoid
    ellipsoidal = not (geoid is not None and geoid.lower() == "none")
    if geoid is not None and geoid.lower() in ("none", "builtin", "egm96"):
        geoid = None
    src = cfg.inputs.dem_path or cfg.inputs.srtm_path
    dem: Dem | None = None
    try:
        with _logged_as(scratch, out):
            for _ in range(2):
                foot = _footprint(m, win, h_lo, h_hi)
                if cfg.inputs.srtm_path is not None:
                    if not Path(cfg.inputs.srtm_path).is_dir():
                        raise DemError(f"SRTM_Path {cfg.inputs.srtm_path} is not a folder")
                    build_scene_dem(cfg.inputs.srtm_path, foot, vrt, margin_deg=margin,
                                    tile_index=cfg.inputs.srtm_shapefile,
                                    fill_missing=bool(getattr(cfg.inputs, "fill_missing_dem", False)))
                else:
                    if cfg.inputs.dem_path is None or not Path(cfg.inputs.dem_path).exists():
                        raise DemError(f"DEM_Path {cfg.inputs.dem_path} does not exist")
                    build_dem_vrt([cfg.inputs.dem_path], vrt)
                lonmin, latmin, lonmax, latmax = foot.bounds
                bbox = (lonmin - margin, latmin - margin, lonmax + margin, latmax + margin)
                try:
                    dem = load_dem(vrt, bbox=bbox, ellipsoidal=ellipsoidal, geoid=geoid)
                except DemError as exc:  # name the user's DEM, not the scratch VRT
                    raise DemError(str(exc).replace(str(vrt), str(src)).replace(
                        "does not cover lon", "does not cover the scene: lon")) from None
                if not np.isfinite(dem.heights_m).any():
                    break
                lo, hi = float(np.nanmin(dem.heights_m)), float(np.nanmax(dem.heights_m))
                if h_lo <= lo and hi <= h_hi:
                    break
                h_lo, h_hi = min(lo, h_lo), max(hi, h_hi)
        assert dem is not None
        # coverage: every line of sight of the window perimeter must meet the DEM
        xyz = ground_points(m.meta, m.orbit, dem, *win.perimeter(16))
        if not np.all(np.isfinite(xyz)):
            x0, x1 = dem.transform[0], dem.transform[0] + dem.transform[1] * dem.shape[1]
            y1, y0 = dem.transform[3], dem.transform[3] + dem.transform[5] * dem.shape[0]
            raise DemError(f"the DEM {src} (lon {x0:.4f}..{x1:.4f}, lat {y0:.4f}..{y1:.4f}) does not cover the "
                           f"scene (lon {lonmin:.4f}..{lonmax:.4f}, lat {latmin:.4f}..{latmax:.4f})")
        for item in sorted(scratch.iterdir()):
            dest = out / item.name
            if dest.is_dir():
                shutil.rmtree(dest)
            os.replace(item, dest)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    ctx.dem = dem
    return Outcome(f"DEM: {out / layout.DEM_SCENE}, {dem.shape[1]}x{dem.shape[0]} posts, heights "
                   f"{np.nanmin(dem.heights_m):.0f}..{np.nanmax(dem.heights_m):.0f} m (ellipsoidal)")


scene_dem = Step("dem", _scene_dem, title="scene DEM", record=False)

# ------------------------------------------------------------------------------------------------ multilook


def _ml_image(ctx: RunContext, unit: Unit) -> tuple[Acquisition, Window, str]:
    """The image, window and ML file of the unit: the master's, or the slave's of a pair."""
    if unit.slave is None:
        return ctx.master, ctx.window, layout.MASTER_ML
    if unit.slave_window is None:
        raise RuntimeError("multilook_doppler0 of a pair runs after dem_grid")
    return unit.slave, unit.slave_window, layout.SLAVE_ML


def _ml_outputs(ctx: RunContext, unit: Unit) -> list[str]:
    return [_ml_image(ctx, unit)[2], ctx.cfg.doppler_file]


def _ml_params(ctx: RunContext, unit: Unit) -> Params:
    acq, win, _ = _ml_image(ctx, unit)
    cfg = ctx.cfg
    return {"window": win.as_dict(), "ml": [cfg.ml_ran, cfg.ml_azi], "gain": cfg.ml_gain,
            "image": acq.image.measurement_name}


def _ml_resume(ctx: RunContext, unit: Unit, record: dict[str, Any]) -> None:
    # the exact value of the record (the Doppler file has 8 decimals: a resumed pair would differ from a pair
    # run in one go); the file for records of earlier versions
    exact = record.get("stats", {}).get("doppler_cycles")
    unit.doppler_cycles = (float(exact) if exact is not None
                           else float((unit.folder / ctx.cfg.doppler_file).read_text().split()[0]))


def _multilook_doppler(ctx: RunContext, unit: Unit) -> Outcome:
    """SARMultiLook + SARDoppler0 in one streaming pass over the unit's window."""
    retain_freed_memory()
    from ..doppler0 import cde_sums, doppler0_from_sums
    from ..io.atomic import atomic_path
    from ..multilook import multilook

    cfg = ctx.cfg
    acq, win, name = _ml_image(ctx, unit)
    rows_ml, cols_ml = win.ml_shape
    rows = rows_per_block(win.n_samples, 8 * 3, min(cfg.optram_mb, 512), multiple=win.ml_azi)
    sums = None
    prev = None
    with open_writer(unit.folder / name, cols_ml, rows_ml, 1, "float32", descriptions=layout.ML_BANDS,
                     compress=product_codec(cfg)) as w:
        for b in progress(list(row_blocks(win.n_lines, rows)), f"{acq.date} multilook+Doppler0"):
            strip = acq.read(win.rows(b.row0, b.row1))
            s = cde_sums(strip, prev)
            sums = s if sums is None else sums + s
            prev = strip[-1]
            w.write(b.row0 // win.ml_azi, multilook(strip, win.ml_ran, win.ml_azi, cfg.ml_gain))
    assert sums is not None  # a window has lines
    dop = doppler0_from_sums(sums, 1.0 / acq.meta.azimuth_time_interval_s)
    with atomic_path(unit.folder / cfg.doppler_file) as tmp:
        tmp.write_text(f"{dop.cycles_per_line:.8f} cycles/line\n{dop.hz:.4f} Hz\n")
    unit.doppler_cycles = dop.cycles_per_line
    return Outcome(f"multilook {cfg.ml_ran}x{cfg.ml_azi} -> {cols_ml}x{rows_ml}, Doppler0 "
                   f"{dop.cycles_per_line:.4f} cycles/line ({dop.hz:.1f} Hz)",
                   stats={"doppler_cycles": float(dop.cycles_per_line)})


multilook_doppler = Step("multilook_doppler0", _multilook_doppler, _ml_outputs, _ml_params,
                         title="multilook and Doppler0", resume=_ml_resume)

# ------------------------------------------------------------------------------------------------ DEM projection


def _dem_projection_params(ctx: RunContext, unit: Unit) -> Params:
    dem = ctx.scene_dem
    return {"dem": dem.transform, "dem_shape": list(dem.shape), "image": ctx.master.image.measurement_name}


def _dem_projection(ctx: RunContext, unit: Unit) -> Outcome:
    """SARDEMProjection of the master: per DEM post its master sample, line and ECEF (DEM geometry).

    Written as float32 like DiapOTB's product (sample/line to ~0.002 px, ECEF to ~0.5 m): the chain uses it
    for the DEM post count of the cartesian mean; geometry that needs precision is recomputed in float64."""
    retain_freed_memory()
    from ..dem_projection import project_dem

    dem = ctx.scene_dem
    ny, nx = dem.shape
    # 80..120 bytes per DEM post measured (geo2rdr temporaries, the 5 float64 bands before the write)
    rows = rows_per_block(nx, 8 * 16, ctx.ram_mb)
    with open_writer(unit.folder / layout.DEM_PROJECTION, nx, ny, 5, "float32", descriptions=layout.DEMPROJ_BANDS,
                     transform=dem.transform, crs="EPSG:4326", compress=False, interleave="band") as w:
        for b in row_blocks(ny, rows):
            p = project_dem(ctx.master.meta, ctx.master.orbit, dem, slice(b.row0, b.row1))
            w.write(b.row0, np.concatenate([p.pixel[None], p.line[None], np.moveaxis(p.xyz, -1, 0)]))
    return Outcome(f"master DEM projection: {nx * ny} posts")


dem_projection = Step("dem_projection", _dem_projection, lambda ctx, unit: [layout.DEM_PROJECTION],
                      _dem_projection_params, title="master DEM projection")

# ------------------------------------------------------------------------------------------------ cartesian mean


def _cartesian_mean_params(ctx: RunContext, unit: Unit) -> Params:
    win = ctx.window
    return {"dem": ctx.scene_dem.transform, "window": win.as_dict(), "ml": [win.ml_ran, win.ml_azi]}


def _gcp_rows(rows_ml: int) -> np.ndarray:
    """The ML rows of the cartesian mean the GCPs are taken from."""
    return np.unique(np.linspace(0, rows_ml - 1, 12).round().astype(int))


def _read_gcps(ctx: RunContext, unit: Unit, record: dict[str, Any] | None = None) -> None:
    """GCPs of the SAR-geometry products, from rows of the cartesian mean (resumed run)."""
    rows_ml = ctx.window.ml_shape[0]
    gcps = []
    for i in _gcp_rows(rows_ml):
        blk = read_raster(unit.folder / layout.CARTESIAN_MEAN, [1, 2, 3, 4], rows=(int(i), int(i) + 1))
        gcps += gcps_from_xyz(np.moveaxis(blk[:3], 0, -1), blk[3], row0=int(i), n=12)
    ctx.gcps = gcps


def _cartesian_mean(ctx: RunContext, unit: Unit) -> Outcome:
    """SARCartesianMeanEstimation: ground point of every ML cell (+ isData and DiapOTB's DEM post count)."""
    retain_freed_memory()
    from ..cartesian_mean import add_post_count, cartesian_mean

    folder, win = unit.folder, ctx.window
    rows_ml, cols_ml = win.ml_shape
    # DiapOTB's DEM post count per ML cell, from the DEM projection read by strips of DEM rows (its posts
    # fall anywhere in the window, so the count of the whole ML grid is held: 4 bytes per ML cell)
    count = np.zeros((rows_ml, cols_ml), dtype=np.int32)
    _, ny, nx = raster_shape(folder / layout.DEM_PROJECTION)
    for b in row_blocks(ny, rows_per_block(nx, 4 * 2 * 3, ctx.ram_mb)):
        proj = read_raster(folder / layout.DEM_PROJECTION, [1, 2], rows=(b.row0, b.row1))
        add_post_count(proj[1], proj[0], count, win.ml_azi, win.ml_ran, win.line0, win.sample0)
        del proj
    # ground points: 150..380 bytes per ML cell measured (rdr2geo_dem iterations, float64 temporaries)
    rows = rows_per_block(cols_ml, 480, ctx.ram_mb)
    gcp_rows = _gcp_rows(rows_ml)
    gcps = []
    # an intermediate product (read back by the pair steps only): ZSTD level 1, each band in tiles of its own (the
    # interferogram reads isData alone). Uncompressed it was the largest file the chain writes (2.5 GB for a full
    # S3 pair) and fresh file pages are slow on some machines: on smooth float64 ground points ZSTD wrote 0.6x the
    # bytes in half the time (0.70 against 1.58 s for 608 MB, read back in 0.56 against 0.32 s). DiapOTB's post
    # count in a file of its own (int32: as a fifth float64 band it was a fifth of the bytes, never read back)
    with open_writer(folder / layout.CARTESIAN_MEAN, cols_ml, rows_ml, 4, "float64",
                     descriptions=layout.CM_BANDS, compress="zstd", interleave="band") as w, \
            open_writer(folder / layout.CM_COUNT, cols_ml, rows_ml, 1, "int32",
                        descriptions=layout.CM_COUNT_BANDS) as wc:
        for b in progress(list(row_blocks(rows_ml, rows)), "cartesian mean"):
            xyz, isdata = cartesian_mean(ctx.master.meta, ctx.master.orbit, ctx.scene_dem, win.ml_azi, win.ml_ran,
                                         b.row0, b.row1, cols_ml, win.line0, win.sample0)
            # the GCPs from the rows just computed (the values written: float64, isData 0/1)
            for i in gcp_rows[(gcp_rows >= b.row0) & (gcp_rows < b.row1)]:
                gcps += gcps_from_xyz(xyz[i - b.row0:i - b.row0 + 1], isdata[i - b.row0:i - b.row0 + 1],
                                      row0=int(i), n=12)
            w.write(b.row0, np.concatenate([np.moveaxis(xyz, -1, 0), isdata[None]]))
            wc.write(b.row0, count[b.row0:b.row1])
    ctx.gcps = gcps
    return Outcome(f"cartesian mean: {cols_ml}x{rows_ml} ML cells")


cartesian_mean = Step("cartesian_mean", _cartesian_mean, lambda ctx, unit: [layout.CARTESIAN_MEAN, layout.CM_COUNT],
                      _cartesian_mean_params, title="cartesian mean", resume=_read_gcps)

# ------------------------------------------------------------------------------------------------ ortho lookup


def ortho_grid(ctx: RunContext) -> Any:
    """The output map grid covering the master window's ground footprint (``ctx.ortho_grid``, made once)."""
    from .. import ortho
    from ..geometry import ecef_to_llh

    if ctx.ortho_grid is None:
        cm_path = ctx.master_dir / layout.CARTESIAN_MEAN
        rows_ml, cols_ml = ctx.window.ml_shape
        lon, lat = [], []
        for r in (0, rows_ml - 1):
            cm = read_raster(cm_path, [1, 2, 3, 4], rows=(r, r + 1))[:, 0]
            la, lo, _ = ecef_to_llh(np.moveaxis(cm[:3], 0, -1)[cm[3] > 0.5])
            lon.append(lo)
            lat.append(la)
        for c in (0, cols_ml - 1):
            cm = read_raster(cm_path, [1, 2, 3, 4], cols=(c, c + 1))[:, :, 0]
            la, lo, _ = ecef_to_llh(np.moveaxis(cm[:3], 0, -1)[cm[3] > 0.5])
            lon.append(lo)
            lat.append(la)
        ctx.ortho_grid = ortho.make_grid(np.concatenate(lon), np.concatenate(lat), ctx.cfg.spacingxy_deg,
                                         ctx.cfg.ortho_epsg)
    return ctx.ortho_grid


def _ortho_lookup_params(ctx: RunContext, unit: Unit) -> Params:
    from ..io.records import Steps

    grid = ortho_grid(ctx)
    return {"grid": [grid.epsg, *grid.transform, grid.width, grid.height], "window": ctx.window.as_dict(),
            "dem": ctx.scene_dem.transform, "inputs": Steps(unit.folder).done.get("cartesian_mean")}


def _ortho_lookup(ctx: RunContext, unit: Unit) -> Outcome:
    """Ortho lookup table of the master (once per run): for each map cell its full-resolution master line and
    sample relative to the window origin (float32), by DEM height + zero-Doppler geo2rdr; every pair's ortho
    is then a resampling through it."""
    retain_freed_memory()
    from .. import ortho

    win, m = ctx.window, ctx.master
    grid = ortho_grid(ctx)
    # ~110-150 bytes per map cell measured (lon/lat grids, DEM height, ECEF, geo2rdr temporaries)
    rows = rows_per_block(grid.width, 8 * 24, ctx.ram_mb)
    with open_writer(unit.folder / layout.ORTHO_LOOKUP, grid.width, grid.height, 2, "float32",
                     descriptions=layout.ORTHO_LOOKUP_BANDS, transform=grid.transform,
                     crs=f"EPSG:{grid.epsg}", nodata=np.nan,
                     tags={"first_line": win.line0, "first_sample": win.sample0}) as w:
        for b in progress(list(row_blocks(grid.height, rows)), "ortho lookup"):
            line, pixel = ortho.master_coordinates(grid, b.row0, b.row1, ctx.scene_dem, m.meta, m.orbit)
            w.write(b.row0, np.stack([line - win.line0, pixel - win.sample0]))
    return Outcome(f"ortho lookup {grid.width}x{grid.height} (EPSG:{grid.epsg})")


ortho_lookup = Step("ortho_lookup", _ortho_lookup, lambda ctx, unit: [layout.ORTHO_LOOKUP], _ortho_lookup_params,
                    title="ortho lookup")
