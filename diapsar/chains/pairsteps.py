"""The DIn_SAR and Post_Processing sub-chains of one master/slave pair (called by ``multislc.run_pair``)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..errors import SelectionError
from ..io.blocks import row_blocks, rows_per_block
from ..log import get_logger, progress
from .products import Steps, open_writer, raster_shape, read_raster, write_raster

log = get_logger("multislc")

IFG_DESCRIPTIONS = ("amplitude", "phase", "coherence", "isData")
# interferogram margins (DiapOTB SARInterferogram -marginran 1 -marginazi 1): each ML cell is estimated on its
# window grown by one pixel on every side
MARGIN_RAN = 1
MARGIN_AZI = 1


def _done(steps: Steps, name: str, params: dict, files: list[str], date: str) -> bool:
    if steps.complete(name, params, files):
        log.info("%s: %s already done", date, name)
        return True
    return False


def _slave_window(ctx, slave, dem_grid: np.ndarray):
    """Slave lines/samples facing the master window, origin shifted by a whole number of ML cells so that the
    slave multilook grid matches the master's; returns (Window, offset_lines, offset_samples)."""
    from .multislc import Window

    win = ctx.window
    off_a = int(np.round(np.nanmedian(dem_grid[1]) / win.ml_azi)) * win.ml_azi
    off_r = int(np.round(np.nanmedian(dem_grid[0]) / win.ml_ran)) * win.ml_ran
    # the origin stays a whole number of ML cells away from the master's (Python's % is non-negative)
    l0 = win.line0 + off_a
    s0 = win.sample0 + off_r
    l0 = l0 if l0 >= 0 else l0 % win.ml_azi
    s0 = s0 if s0 >= 0 else s0 % win.ml_ran
    n_l = min(win.n_lines, slave.meta.number_of_lines - l0)
    n_s = min(win.n_samples, slave.meta.number_of_samples - s0)
    n_l -= n_l % win.ml_azi
    n_s -= n_s % win.ml_ran
    if n_l < 4 * win.ml_azi or n_s < 4 * win.ml_ran:
        raise SelectionError(f"slave {slave.image.measurement_name} does not overlap the master window")
    return Window(l0, s0, n_l, n_s, win.ml_azi, win.ml_ran), l0 - win.line0, s0 - win.sample0


def _resampler_grid(ctx, grid: np.ndarray) -> np.ndarray:
    """``grid`` in the frame of the resampler: master window row/col -> slave full-image line/sample."""
    win = ctx.window
    cgrid = grid.copy()
    cgrid[0] += win.sample0
    cgrid[1] += win.line0
    return cgrid


def _coregistered_strip(ctx, slave, cgrid: np.ndarray, row0: int, row1: int, doppler_cycles: float) -> np.ndarray:
    """Slave resampled onto master window rows [row0, row1) through ``cgrid`` (``_resampler_grid``; complex64,
    0 outside)."""
    from ..coregistration import coregister_block, slave_lines_needed

    cfg, win = ctx.cfg, ctx.window
    n_l, n_s = slave.meta.number_of_lines, slave.meta.number_of_samples
    l0, l1 = slave_lines_needed(cgrid, cfg.grid_step_range, cfg.grid_step_azimut, row0, row1, win.n_samples, n_l)
    if l1 <= l0:
        return np.zeros((row1 - row0, win.n_samples), dtype=np.complex64)
    strip = slave.read(l0, 0, l1 - l0, n_s)
    return coregister_block(strip, l0, n_l, cgrid, cfg.grid_step_range, cfg.grid_step_azimut, row0, row1,
                            win.n_samples, doppler_cycles=doppler_cycles)


def _topo_phase(ctx, pair_dir: Path, line0: int, line1: int) -> np.ndarray:
    """Full-resolution topographic phase of master window lines [line0, line1), from the pair's ML product."""
    from ..topographic_phase import ml_rows_for_lines, upsample_phase
    from .multislc import TOPO

    win = ctx.window
    r0, r1 = ml_rows_for_lines(line0, line1, win.ml_azi, win.ml_shape[0])
    return upsample_phase(read_raster(pair_dir / TOPO, 1, rows=(r0, r1)), r0, line0, line1 - line0, win.n_samples,
                          win.ml_azi, win.ml_ran)


def residual_shift(ctx, slave, pair_dir: Path, grid: np.ndarray, doppler_cycles: float, patch: int = 64,
                   max_strips: int = 12, max_patches: int = 240) -> dict:
    """Constant residual (range, azimuth) shift of the slave resampled with ``grid``, by coherent correlation
    of master and topography-compensated slave patches (``residual_offset``) on strips spread over the window.
    Patches (half-overlapping in range) whose coherence peak is below Grid_Threshold are ignored; the estimate
    is the g^2/(1 - g^2)-weighted mean of the patches within 3 median deviations of the median, with its
    standard error."""
    from .residual_offset import residual_offsets

    win, m = ctx.window, ctx.master
    n_strips = max(1, min(max_strips, win.n_lines // patch))
    starts = np.linspace(0, win.n_lines - patch, n_strips).round().astype(int)
    # patches spread along each strip, at most ``max_patches`` in all
    col_step = max(patch // 2, int(np.ceil(n_strips * (2 * win.n_samples // patch) / max_patches)) * patch // 2)
    cgrid = _resampler_grid(ctx, grid)
    found = []
    for r0 in starts:
        r1 = r0 + patch
        mst = m.read(win.line0 + r0, win.sample0, patch, win.n_samples)
        slv = _coregistered_strip(ctx, slave, cgrid, r0, r1, doppler_cycles)
        phi = _topo_phase(ctx, pair_dir, r0, r1)
        ok = np.isfinite(phi)
        slv = np.where(ok, slv * np.exp(1j * np.where(ok, phi, 0.0)), 0).astype(np.complex64)
        found.append(residual_offsets(mst, slv, patch, step=col_step))
    r = np.concatenate(found) if found else np.zeros((0, 3))
    r = r[np.isfinite(r).all(axis=1) & (r[:, 2] > ctx.cfg.grid_threshold)]
    out = {"patches": int(len(r)), "shift_range_px": 0.0, "shift_azimuth_px": 0.0, "coherence_peak": None}
    if len(r) < 3:
        log.warning("%s: residual shift not measured (%d coherent patches); DEM grid used as is",
                    slave.date, len(r))
        return out
    keep = np.ones(len(r), dtype=bool)
    for k in (0, 1):
        med = np.median(r[:, k])
        mad = np.median(np.abs(r[:, k] - med)) * 1.4826 + 1e-6
        keep &= np.abs(r[:, k] - med) <= 3 * mad
    g = np.clip(r[keep, 2], 0.0, 0.999)
    w = g ** 2 / (1 - g ** 2)
    out.update(patches=int(keep.sum()), shift_azimuth_px=float(np.average(r[keep, 0], weights=w)),
               shift_range_px=float(np.average(r[keep, 1], weights=w)), coherence_peak=float(np.mean(g)),
               std_error_range_px=float(np.std(r[keep, 1]) / np.sqrt(keep.sum())),
               std_error_azimuth_px=float(np.std(r[keep, 0]) / np.sqrt(keep.sum())))
    return out


def step_grid(ctx, slave, pair_dir: Path, timings: dict) -> tuple[np.ndarray, dict]:
    """Deformation grid (SARFineDeformationGrid): the DEM grid from the geometry, corrected by correlation.

    Grid_Advantage "dem" (default): DEM grid + the constant residual shift measured by coherent correlation
    of the complex images (up to two iterations; an axis is corrected only when its shift exceeds 2.5 standard
    errors, so noise never degrades an exact geometric grid); "correlation": DiapOTB's correlation of the multilooked
    amplitudes (``deformation_grid.fine_deformation_grid``) with the DEM grid as guess and fallback."""
    from ..deformation_grid import fine_deformation_grid
    from ..dem_projection import dem_deformation_grid
    from .multislc import GRID, MASTER_ML, SLAVE_ML, step_multilook_doppler

    cfg, win, m = ctx.cfg, ctx.window, ctx.master
    steps = Steps(pair_dir)
    t0 = time.perf_counter()
    dem_grid = dem_deformation_grid(m.meta, m.orbit, slave.meta, slave.orbit, ctx.dem, cfg.grid_step_azimut,
                                    cfg.grid_step_range, win.line0, win.sample0, win.n_lines, win.n_samples)
    timings["dem_grid"] = round(time.perf_counter() - t0, 3)
    swin, off_l, off_s = _slave_window(ctx, slave, dem_grid)
    dop = step_multilook_doppler(slave, pair_dir, swin, cfg, SLAVE_ML, timings)
    params = {"window": win.as_dict(), "slave_window": swin.as_dict(), "steps": [cfg.grid_step_range,
              cfg.grid_step_azimut], "threshold": cfg.grid_threshold, "gap": cfg.grid_gap,
              "advantage": cfg.grid_advantage, "slave": slave.image.measurement_name,
              "inputs": steps.done.get("topographic_phase")}
    stats: dict = {"slave_doppler0_cycles_per_line": dop["cycles_per_line"]}
    if _done(steps, "deformation_grid", params, [GRID], slave.date):
        grid = read_raster(pair_dir / GRID, [1, 2]).astype(np.float64)
        stats.update(steps.done["deformation_grid"].get("stats", {}))
        return grid, stats
    t0 = time.perf_counter()
    if cfg.grid_advantage == "dem":
        fine = dem_grid.copy()
        total = np.zeros(2)
        for it in range(2):
            res = residual_shift(ctx, slave, pair_dir, fine, dop["cycles_per_line"])
            step = np.array([res["shift_range_px"], res["shift_azimuth_px"]])
            # the geometric grid is kept on an axis unless the data show a significant bias (> 2.5 sigma)
            sig = np.array([res.get("std_error_range_px", np.inf), res.get("std_error_azimuth_px", np.inf)])
            step = np.where(np.abs(step) > 2.5 * sig, step, 0.0)
            fine[0] += step[0]
            fine[1] += step[1]
            total += step
            log.info("%s: residual shift (iteration %d) %+.4f px range, %+.4f px azimuth from %d patches",
                     slave.date, it + 1, step[0], step[1], res["patches"])
            if np.all(np.abs(step) < 0.02):
                break
        stats["residual_shift"] = res | {"total_range_px": float(total[0]), "total_azimuth_px": float(total[1])}
    else:
        master_ml = read_raster(ctx.master_dir / MASTER_ML, 1)
        slave_ml = read_raster(pair_dir / SLAVE_ML, 1)
        rel = dem_grid.copy()
        rel[0] -= off_s
        rel[1] -= off_l
        fine = fine_deformation_grid(master_ml, slave_ml, rel, cfg.ml_ran, cfg.ml_azi, cfg.grid_step_range,
                                     cfg.grid_step_azimut, slc_shape=(win.n_lines, win.n_samples),
                                     threshold=cfg.grid_threshold, gap=cfg.grid_gap, advantage="correlation")
        fine[0] += off_s
        fine[1] += off_l
    corr = fine - dem_grid
    stats.update({"grid_nodes": list(fine.shape[1:]),
                  "grid_minus_dem_range_px": round(float(np.mean(corr[0])), 4),
                  "grid_minus_dem_azimuth_px": round(float(np.mean(corr[1])), 4)})
    write_raster(pair_dir / GRID, np.concatenate([fine, dem_grid]).astype(np.float64),
                 descriptions=["shift_range", "shift_azimuth", "dem_shift_range", "dem_shift_azimuth"],
                 tags={"step_range": cfg.grid_step_range, "step_azimuth": cfg.grid_step_azimut,
                       "first_line": win.line0, "first_sample": win.sample0})
    dt = time.perf_counter() - t0
    timings["deformation_grid"] = round(timings["dem_grid"] + dt, 3)
    steps.record("deformation_grid", params, [GRID], dt, stats=stats)
    log.info("%s: deformation grid %dx%d nodes, correction of the DEM grid %+.4f px range, %+.4f px azimuth "
             "(%.1f s)", slave.date, fine.shape[2], fine.shape[1], stats["grid_minus_dem_range_px"],
             stats["grid_minus_dem_azimuth_px"], dt)
    return fine, stats


def step_topographic_phase(ctx, slave, pair_dir: Path, timings: dict) -> None:
    """SARTopographicPhase on the ML grid: phi_topo of every cartesian-mean point with the slave orbit."""
    from ..topographic_phase import topographic_phase
    from .multislc import CARTESIAN_MEAN, TOPO

    win = ctx.window
    steps = Steps(pair_dir)
    params = {"window": win.as_dict(), "ml": [win.ml_ran, win.ml_azi], "slave": slave.image.measurement_name,
              "inputs": Steps(ctx.master_dir).done.get("cartesian_mean")}
    if _done(steps, "topographic_phase", params, [TOPO], slave.date):
        return
    t0 = time.perf_counter()
    rows_ml, cols_ml = win.ml_shape
    rows = rows_per_block(cols_ml, 8 * 30, ctx.ram_mb)
    ml_line = np.arange(rows_ml) * win.ml_azi + (win.ml_azi - 1) / 2.0 + win.line0
    with open_writer(pair_dir / TOPO, cols_ml, rows_ml, 1, "float64", descriptions=["topographic_phase"]) as w:
        for b in row_blocks(rows_ml, rows):
            cm = read_raster(ctx.master_dir / CARTESIAN_MEAN, [1, 2, 3, 4], rows=(b.row0, b.row1))
            xyz = np.moveaxis(cm[:3], 0, -1)
            xyz[cm[3] < 0.5] = np.nan
            lines = np.broadcast_to(ml_line[b.row0:b.row1, None], (b.rows, cols_ml))
            tp = topographic_phase(xyz, ctx.master.meta, ctx.master.orbit, slave.meta, slave.orbit, lines,
                                   with_coordinates=False)
            w.write(b.row0, tp["phase"])
    dt = time.perf_counter() - t0
    timings["topographic_phase"] = round(dt, 3)
    steps.record("topographic_phase", params, [TOPO], dt)


def step_coregistration_interferogram(ctx, slave, pair_dir: Path, grid: np.ndarray, doppler_cycles: float,
                                      timings: dict) -> None:
    """SARCoRegistration + SARInterferogram in one pass over master row blocks (the coregistered slave is kept
    on disk only in full mode)."""
    from ..interferogram import interferogram
    from .multislc import CARTESIAN_MEAN, COREG, IFG

    cfg, win, m = ctx.cfg, ctx.window, ctx.master
    steps = Steps(pair_dir)
    keep_coreg = not cfg.clean
    files = [IFG] + ([COREG] if keep_coreg else [])
    params = {"window": win.as_dict(), "ml": [win.ml_ran, win.ml_azi], "gain": cfg.interferogram_gain,
              "grid": float(np.sum(grid)), "doppler": doppler_cycles, "slave": slave.image.measurement_name,
              "keep_coreg": keep_coreg,
              "inputs": [steps.done.get("topographic_phase"), steps.done.get("deformation_grid")]}
    if _done(steps, "interferogram", params, files, slave.date):
        return
    rows_ml, cols_ml = win.ml_shape
    cgrid = _resampler_grid(ctx, grid)
    # bytes per pixel of a block, measured (peak RSS vs block size): master, coregistered slave, slave strip,
    # phase, interferogram sums and temporaries
    rows = rows_per_block(max(win.n_samples, slave.meta.number_of_samples), 112, ctx.ram_mb, multiple=win.ml_azi,
                          minimum=win.ml_azi)
    halo = MARGIN_AZI
    t_coreg = t_ifg = 0.0
    ifg_writer = open_writer(pair_dir / IFG, cols_ml, rows_ml, 4, "float32", descriptions=IFG_DESCRIPTIONS,
                             gcps=ctx.gcps, tags={"master": m.image.measurement_name,
                                                  "slave": slave.image.measurement_name,
                                                  "ml_range": win.ml_ran, "ml_azimuth": win.ml_azi,
                                                  "first_line": win.line0, "first_sample": win.sample0})
    coreg_writer = (open_writer(pair_dir / COREG, win.n_samples, win.n_lines, 1, "complex64",
                                descriptions=["coregistered slave"]) if keep_coreg else None)
    with ifg_writer as wi:
        wc = coreg_writer.__enter__() if coreg_writer else None
        try:
            for b in progress(list(row_blocks(win.n_lines, rows, halo)), f"{slave.date} coregistration+interferogram"):
                t0 = time.perf_counter()
                n = b.read1 - b.read0
                coreg = _coregistered_strip(ctx, slave, cgrid, b.read0, b.read1, doppler_cycles)
                if wc is not None:
                    wc.write(b.row0, coreg[b.inner])
                t1 = time.perf_counter()
                mst = m.read(win.line0 + b.read0, win.sample0, n, win.n_samples)
                phi = _topo_phase(ctx, pair_dir, b.read0, b.read1)
                ml_rows = (b.row0 // win.ml_azi, b.row1 // win.ml_azi)
                valid = read_raster(ctx.master_dir / CARTESIAN_MEAN, 4, rows=ml_rows) > 0.5
                ifg = interferogram(mst, coreg, phi, win.ml_ran, win.ml_azi, MARGIN_RAN, MARGIN_AZI,
                                    cfg.interferogram_gain, valid_ml=valid, line0=b.read0, n_lines=win.n_lines,
                                    ml_rows=ml_rows)
                wi.write(b.row0 // win.ml_azi, ifg)
                t2 = time.perf_counter()
                t_coreg += t1 - t0
                t_ifg += t2 - t1
        finally:
            if coreg_writer is not None:
                import sys

                coreg_writer.__exit__(*sys.exc_info())
    timings["coregistration"] = round(t_coreg, 3)
    timings["interferogram"] = round(t_ifg, 3)
    steps.record("interferogram", params, files, t_coreg + t_ifg)
    log.info("%s: coregistration %.1f s, interferogram %.1f s", slave.date, t_coreg, t_ifg)


def _multilook_bands(bands: np.ndarray, f_r: int, f_a: int) -> np.ndarray:
    """Extra multilook of 4 interferogram bands: amplitude by mean power, phase by the coherence-weighted mean
    phasor, coherence by its mean, isData where every cell is data."""
    from ..multilook import multilook

    if f_r == 1 and f_a == 1:
        return bands
    n, r, c = bands.shape
    r2, c2 = r // f_a, c // f_r

    def blocks(x):
        return x[: r2 * f_a, : c2 * f_r].reshape(r2, f_a, c2, f_r)

    amp = multilook(bands[0], f_r, f_a)
    z = blocks(bands[2] * np.exp(1j * bands[1])).sum(axis=(1, 3))
    coh = blocks(bands[2].astype(np.float64)).mean(axis=(1, 3))
    isd = blocks(bands[3]).min(axis=(1, 3))
    out = np.stack([amp, np.angle(z), coh, isd]).astype(np.float32)
    out[:3, :, :][:, isd < 0.5] = 0
    return out


def step_filtering(ctx, slave, pair_dir: Path, timings: dict) -> str:
    """SARPhaseFiltering (Goldstein) + SARAddBandInterferogram -> interferogram_filtered.tif, streamed by row
    strips with a halo of one filter tile; optional extra multilook (Filtered_Interferogram_mlran/mlazi)."""
    from ..filtering import filter_lines, phase_filtering
    from .multislc import IFG, IFG_FILTERED

    cfg = ctx.cfg
    steps = Steps(pair_dir)
    f_r, f_a = cfg.filtered_ml_ran, cfg.filtered_ml_azi
    params = {"alpha": cfg.filtering_alpha, "ml": [f_r, f_a], "src": steps.done.get("interferogram", {})}
    if _done(steps, "filtering", params, [IFG_FILTERED], slave.date):
        return IFG_FILTERED
    t0 = time.perf_counter()
    tile, step = 64, 16
    _, n_rows, n_cols = raster_shape(pair_dir / IFG)
    rows = rows_per_block(n_cols, 4 * 4 * 6, ctx.ram_mb, multiple=max(step * f_a, step), minimum=4 * tile)
    with open_writer(pair_dir / IFG_FILTERED, n_cols // f_r, n_rows // f_a, 4, "float32",
                     descriptions=IFG_DESCRIPTIONS, gcps=_scaled_gcps(ctx.gcps, f_r, f_a)) as w:
        for b in row_blocks(n_rows, rows):
            l0, l1 = filter_lines(b.row0, b.row1, tile, n_rows)
            bands = read_raster(pair_dir / IFG, None, rows=(l0, l1))
            filt = phase_filtering(bands, alpha=cfg.filtering_alpha, tile=tile, step=step, line0=l0)
            inner = filt[:, b.row0 - l0:b.row1 - l0]
            if f_a > 1 or f_r > 1:
                inner = _multilook_bands(inner, f_r, f_a)
            w.write(b.row0 // f_a, inner)
    dt = time.perf_counter() - t0
    timings["filtering"] = round(dt, 3)
    steps.record("filtering", params, [IFG_FILTERED], dt)
    log.info("%s: Goldstein filtering (alpha %.2f) in %.1f s", slave.date, cfg.filtering_alpha, dt)
    return IFG_FILTERED


def _scaled_gcps(gcps, f_r: int, f_a: int):
    from rasterio.control import GroundControlPoint

    if f_r == 1 and f_a == 1:
        return gcps
    return [GroundControlPoint(row=g.row / f_a, col=g.col / f_r, x=g.x, y=g.y, z=g.z, id=g.id) for g in gcps]


def step_ortho(ctx, slave, pair_dir: Path, src_name: str, dst_name: str, timings: dict,
               ml_extra: tuple[int, int] = (1, 1)) -> str:
    """Orthorectify an ML-geometry 4-band interferogram onto the ortho grid (EPSG, spacing of the config)."""
    from .. import ortho

    cfg, win = ctx.cfg, ctx.window
    steps = Steps(pair_dir)
    ml_azi, ml_ran = win.ml_azi * ml_extra[1], win.ml_ran * ml_extra[0]
    params = {"spacing": cfg.spacingxy_deg, "epsg": cfg.ortho_epsg, "src": src_name, "ml": [ml_ran, ml_azi],
              "window": win.as_dict(),
              "inputs": [steps.done.get("interferogram"), steps.done.get("filtering")]}
    if _done(steps, f"ortho:{dst_name}", params, [dst_name], slave.date):
        return dst_name
    from .multislc import ORTHO_LOOKUP, step_ortho_lookup

    grid = step_ortho_lookup(ctx)
    t0 = time.perf_counter()
    count, n_rows, _ = raster_shape(pair_dir / src_name)
    kinds = ["bilinear", "phase", "bilinear", "nearest"][:count]
    rows = rows_per_block(grid.width, 8 * 12, ctx.ram_mb)
    with open_writer(pair_dir / dst_name, grid.width, grid.height, count, "float32",
                     descriptions=IFG_DESCRIPTIONS[:count], transform=grid.transform,
                     crs=f"EPSG:{grid.epsg}", nodata=np.nan) as w:
        for b in row_blocks(grid.height, rows):
            lut = read_raster(ctx.master_dir / ORTHO_LOOKUP, [1, 2], rows=(b.row0, b.row1)).astype(np.float64)
            u, v = ortho.to_ml(lut[0], lut[1], ml_azi, ml_ran)
            need = ortho.needed_rows(u, n_rows)
            if need is None:
                out = np.full((count, b.rows, grid.width), np.nan, dtype=np.float32)
                if count == 4:
                    out[3] = 0
            else:
                bands = read_raster(pair_dir / src_name, None, rows=need)
                out = ortho.ortho_bands(bands, need[0], u, v, kinds, isdata_band=3 if count == 4 else None)
            w.write(b.row0, out)
    dt = time.perf_counter() - t0
    timings[f"ortho:{dst_name}"] = round(dt, 3)
    steps.record(f"ortho:{dst_name}", params, [dst_name], dt)
    log.info("%s: %s %dx%d (EPSG:%d, spacing %g) in %.1f s", slave.date, dst_name, grid.width, grid.height,
             grid.epsg, grid.transform[1], dt)
    return dst_name


def ortho_grid(ctx):
    """The output map grid covering the master window's ground footprint (cached on the context)."""
    from .. import ortho
    from ..geometry import ecef_to_llh
    from .multislc import CARTESIAN_MEAN

    if getattr(ctx, "_ortho_grid", None) is None:
        rows_ml, cols_ml = ctx.window.ml_shape
        lon, lat = [], []
        for r in (0, rows_ml - 1):
            cm = read_raster(ctx.master_dir / CARTESIAN_MEAN, [1, 2, 3, 4], rows=(r, r + 1))[:, 0]
            la, lo, _ = ecef_to_llh(np.moveaxis(cm[:3], 0, -1)[cm[3] > 0.5])
            lon.append(lo)
            lat.append(la)
        for c in (0, cols_ml - 1):
            cm = read_raster(ctx.master_dir / CARTESIAN_MEAN, [1, 2, 3, 4], cols=(c, c + 1))[:, :, 0]
            la, lo, _ = ecef_to_llh(np.moveaxis(cm[:3], 0, -1)[cm[3] > 0.5])
            lon.append(lo)
            lat.append(la)
        ctx._ortho_grid = ortho.make_grid(np.concatenate(lon), np.concatenate(lat), ctx.cfg.spacingxy_deg,
                                          ctx.cfg.ortho_epsg)
    return ctx._ortho_grid


def process_pair(ctx, slave, pair_dir: Path, timings: dict) -> dict:
    """Run the pair's steps in order; returns {"products": {...}, extra pair.json fields}."""
    from .multislc import (
        COREG,
        GRID,
        IFG,
        IFG_FILTERED_ORTHO,
        IFG_ORTHO,
        SLAVE_ML,
        TOPO,
        remove_intermediates,
    )

    cfg = ctx.cfg
    products: dict = {"interferogram": None, "ortho": None, "filtered": None, "filtered_ortho": None,
                      "coregistered_slave": None, "deformation_grid": None}
    step_topographic_phase(ctx, slave, pair_dir, timings)
    grid, stats = step_grid(ctx, slave, pair_dir, timings)
    if not cfg.activate_interferogram:
        # DiapOTB: no interferogram -> the chain stops after coregistration, whose product is then kept
        step_coregistration_only(ctx, slave, pair_dir, grid, stats["slave_doppler0_cycles_per_line"], timings)
        products.update(coregistered_slave=COREG, deformation_grid=GRID)
        return {"products": products, "grid": stats}
    step_coregistration_interferogram(ctx, slave, pair_dir, grid, stats["slave_doppler0_cycles_per_line"],
                                      timings)
    products["interferogram"] = IFG
    if cfg.activate_filtering:
        products["filtered"] = step_filtering(ctx, slave, pair_dir, timings)
    if cfg.activate_ortho:
        products["ortho"] = step_ortho(ctx, slave, pair_dir, IFG, IFG_ORTHO, timings)
        if products["filtered"]:
            products["filtered_ortho"] = step_ortho(ctx, slave, pair_dir, products["filtered"], IFG_FILTERED_ORTHO,
                                                    timings, (cfg.filtered_ml_ran, cfg.filtered_ml_azi))
    if cfg.clean:
        remove_intermediates(pair_dir, [SLAVE_ML, GRID, TOPO, COREG, cfg.doppler_file])
    else:
        products.update(coregistered_slave=COREG, deformation_grid=GRID, topographic_phase=TOPO,
                        slave_ml_amplitude=SLAVE_ML)
    return {"products": products, "grid": stats}


def step_coregistration_only(ctx, slave, pair_dir: Path, grid: np.ndarray, doppler_cycles: float,
                             timings: dict) -> None:
    """SARCoRegistration alone (Activate_Interferogram = no): slave_coregistered.tif."""
    from .multislc import COREG

    win = ctx.window
    steps = Steps(pair_dir)
    params = {"window": win.as_dict(), "grid": float(np.sum(grid)), "doppler": doppler_cycles}
    if _done(steps, "coregistration", params, [COREG], slave.date):
        return
    t0 = time.perf_counter()
    cgrid = _resampler_grid(ctx, grid)
    rows = rows_per_block(max(win.n_samples, slave.meta.number_of_samples), 32, ctx.ram_mb)
    with open_writer(pair_dir / COREG, win.n_samples, win.n_lines, 1, "complex64",
                     descriptions=["coregistered slave"]) as w:
        for b in row_blocks(win.n_lines, rows):
            w.write(b.row0, _coregistered_strip(ctx, slave, cgrid, b.row0, b.row1, doppler_cycles))
    dt = time.perf_counter() - t0
    timings["coregistration"] = round(dt, 3)
    steps.record("coregistration", params, [COREG], dt)
