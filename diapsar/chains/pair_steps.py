"""Steps of one master/slave pair (DiapOTB SAR_MultiSlc "DIn_SAR" and "Post_Processing" parts): topographic
phase, DEM grid, slave multilook + Doppler0, deformation grid, coregistration + interferogram (or coregistration
alone), Goldstein filtering, orthorectification.

Every step reads its inputs and writes its outputs only; the algorithms are the applications' pure functions
(``deformation_grid``, ``coregistration``, ``topographic_phase``, ``interferogram``, ``filtering``, ``ortho``).
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np

from .. import layout
from ..errors import SelectionError
from ..io.blocks import retain_freed_memory, row_blocks, rows_per_block
from ..io.raster import open_writer, raster_shape, read_raster, scaled_gcps, write_raster
from ..io.records import Steps
from ..io.window import Window
from ..log import progress
from .context import Acquisition, RunContext, Unit, product_codec
from .master_steps import ortho_grid, ortho_lookup
from .pair_inputs import topo_phase_ml_rows
from .pair_inputs import topo_phase_rows as _topo_phase
from .steps import Outcome, Params, Step

# interferogram margins (DiapOTB SARInterferogram -marginran 1 -marginazi 1): each ML cell is estimated on its
# window grown by one pixel on every side
MARGIN_RAN = 1
MARGIN_AZI = 1


def _grid(unit: Unit) -> np.ndarray:
    if unit.grid is None:
        raise RuntimeError("the deformation grid step has not run")
    return unit.grid


def _doppler(unit: Unit) -> float:
    if unit.doppler_cycles is None:
        raise RuntimeError("the slave multilook_doppler0 step has not run")
    return unit.doppler_cycles


# ------------------------------------------------------------------------------------------------ helpers


def _resampler_grid(ctx: RunContext, grid: np.ndarray) -> np.ndarray:
    """``grid`` in the frame of the resampler: master window row/col -> slave full-image line/sample."""
    win = ctx.window
    cgrid = grid.copy()
    cgrid[0] += win.sample0
    cgrid[1] += win.line0
    return cgrid


def _coregistered_strip(ctx: RunContext, slave: Acquisition, cgrid: np.ndarray, row0: int, row1: int,
                        doppler_cycles: float, unit: Unit | None = None) -> np.ndarray:
    """Slave resampled onto master window rows [row0, row1) through ``cgrid`` (``_resampler_grid``; complex64,
    0 outside); for an IW master, burst by burst (``tops_steps.frame_resampled``)."""
    from ..coregistration import coregister_block, slave_lines_needed

    if unit is not None and unit.tops is not None:
        from .tops_steps import frame_resampled

        return frame_resampled(ctx, unit, row0, row1)
    cfg, win = ctx.cfg, ctx.window
    n_l, n_s = slave.meta.number_of_lines, slave.meta.number_of_samples
    l0, l1 = slave_lines_needed(cgrid, cfg.grid_step_range, cfg.grid_step_azimut, row0, row1, win.n_samples, n_l)
    if l1 <= l0:
        return np.zeros((row1 - row0, win.n_samples), dtype=np.complex64)
    strip = slave.read(Window(l0, 0, l1 - l0, n_s))
    return np.asarray(coregister_block(strip, l0, n_l, cgrid, cfg.grid_step_range, cfg.grid_step_azimut, row0,
                                       row1, win.n_samples, doppler_cycles=doppler_cycles))


# ------------------------------------------------------------------------------------------------ topographic phase


def _topo_params(ctx: RunContext, unit: Unit) -> Params:
    win = ctx.window
    return {"window": win.as_dict(), "ml": [win.ml_ran, win.ml_azi], "slave": unit.the_slave().image.measurement_name,
            "inputs": Steps(ctx.master_dir).done.get("cartesian_mean")}


def _topographic_phase(ctx: RunContext, unit: Unit) -> Outcome:
    """SARTopographicPhase on the ML grid: phi_topo of every cartesian-mean point with the slave orbit."""
    retain_freed_memory()
    from ..topographic_phase import topographic_phase

    win, slave = ctx.window, unit.the_slave()
    rows_ml, cols_ml = win.ml_shape
    rows = rows_per_block(cols_ml, 8 * 30, ctx.ram_mb)
    ml_line = np.arange(rows_ml) * win.ml_azi + (win.ml_azi - 1) / 2.0 + win.line0
    # an intermediate product (read back by the pair steps only): ZSTD level 1 (as the cartesian mean)
    with open_writer(unit.folder / layout.TOPO, cols_ml, rows_ml, 1, "float64", descriptions=layout.TOPO_BANDS,
                     compress="zstd") as w:
        for b in row_blocks(rows_ml, rows):
            cm = read_raster(ctx.master_dir / layout.CARTESIAN_MEAN, [1, 2, 3, 4], rows=(b.row0, b.row1))
            xyz = np.moveaxis(cm[:3], 0, -1)
            xyz[cm[3] < 0.5] = np.nan
            lines = np.broadcast_to(ml_line[b.row0:b.row1, None], (b.rows, cols_ml))
            tp = topographic_phase(xyz, ctx.master.meta, ctx.master.orbit, slave.meta, slave.orbit, lines,
                                   with_coordinates=False)
            w.write(b.row0, tp["phase"])
    return Outcome(f"topographic phase {cols_ml}x{rows_ml}")


topographic_phase = Step("topographic_phase", _topographic_phase, lambda ctx, unit: [layout.TOPO], _topo_params,
                         title="topographic_phase")

# ------------------------------------------------------------------------------------------------ DEM grid


def _dem_grid(ctx: RunContext, unit: Unit) -> Outcome:
    """DEM deformation grid of the master window (in memory) and the slave window facing it, whose origin is a
    whole number of ML cells from the master's so that the slave multilook grid matches the master's."""
    from ..deformation_grid import dem_deformation_grid, slave_origin_offset

    cfg, win, m, slave = ctx.cfg, ctx.window, ctx.master, unit.the_slave()
    dem_grid = dem_deformation_grid(m.meta, m.orbit, slave.meta, slave.orbit, ctx.scene_dem, cfg.grid_step_azimut,
                                    cfg.grid_step_range, win.line0, win.sample0, win.n_lines, win.n_samples)
    off_a, off_r = slave_origin_offset(dem_grid, win.ml_azi, win.ml_ran)
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
    unit.dem_grid = dem_grid
    unit.slave_window = Window(l0, s0, n_l, n_s, win.ml_azi, win.ml_ran)
    return Outcome()


dem_grid = Step("dem_grid", _dem_grid, title="DEM grid", record=False)

# ------------------------------------------------------------------------------------------------ deformation grid


def _grid_params(ctx: RunContext, unit: Unit) -> Params:
    cfg, swin = ctx.cfg, unit.slave_window
    assert swin is not None
    return {"window": ctx.window.as_dict(), "slave_window": swin.as_dict(), "steps": [cfg.grid_step_range,
            cfg.grid_step_azimut], "threshold": cfg.grid_threshold, "gap": cfg.grid_gap,
            "advantage": cfg.grid_advantage, "slave": unit.the_slave().image.measurement_name,
            "inputs": Steps(unit.folder).done.get("topographic_phase")}


def _grid_resume(ctx: RunContext, unit: Unit, record: dict[str, Any]) -> None:
    unit.grid = read_raster(unit.folder / layout.GRID, [1, 2]).astype(np.float64)
    stats = {"slave_doppler0_cycles_per_line": unit.doppler_cycles, **record.get("stats", {})}
    unit.doppler_cycles = stats["slave_doppler0_cycles_per_line"]
    unit.grid_stats = stats


def _measure_residual_shift(ctx: RunContext, unit: Unit, grid: np.ndarray) -> dict[str, Any]:
    """Residual shift of the slave resampled with ``grid``: coherent correlation of master and
    topography-compensated slave patches on strips spread over the window (``deformation_grid``)."""
    from ..deformation_grid import residual_offsets, residual_patch_layout, residual_shift

    win, m, slave, patch = ctx.window, ctx.master, unit.the_slave(), 64
    starts, col_step = residual_patch_layout(win.n_lines, win.n_samples, patch)
    cgrid = _resampler_grid(ctx, grid)
    found = []
    for r0 in starts:
        r1 = r0 + patch
        mst = m.read(win.rows(r0, r1))
        slv = _coregistered_strip(ctx, slave, cgrid, r0, r1, _doppler(unit))
        phi = _topo_phase(ctx, unit, r0, r1)
        ok = np.isfinite(phi)
        slv = np.where(ok, slv * np.exp(1j * np.where(ok, phi, 0.0)), 0).astype(np.complex64)
        found.append(residual_offsets(mst, slv, patch, step=col_step))
    offsets = np.concatenate(found) if found else np.zeros((0, 3))
    return residual_shift(offsets, ctx.cfg.grid_threshold)


def _deformation_grid(ctx: RunContext, unit: Unit) -> Outcome:
    """Deformation grid (SARFineDeformationGrid): the DEM grid from the geometry, corrected by correlation.

    Grid_Advantage "dem" (default): DEM grid + the constant residual shift measured by coherent correlation
    of the complex images (``deformation_grid.refine_by_residual_shift``); "correlation": DiapOTB's correlation
    of the multilooked amplitudes (``deformation_grid.correlation_refined_grid``)."""
    retain_freed_memory()
    from ..deformation_grid import correlation_refined_grid, refine_by_residual_shift

    cfg, win, swin, dem = ctx.cfg, ctx.window, unit.slave_window, unit.dem_grid
    assert swin is not None and dem is not None
    stats: dict[str, Any] = {"slave_doppler0_cycles_per_line": _doppler(unit)}
    if cfg.grid_advantage == "dem":
        fine, res = refine_by_residual_shift(dem, lambda g: _measure_residual_shift(ctx, unit, g),
                                             label=unit.label)
        stats["residual_shift"] = res
    else:
        fine = correlation_refined_grid(read_raster(ctx.master_dir / layout.MASTER_ML, 1),
                                        read_raster(unit.folder / layout.SLAVE_ML, 1), dem,
                                        (swin.line0 - win.line0, swin.sample0 - win.sample0), cfg.ml_ran, cfg.ml_azi,
                                        cfg.grid_step_range, cfg.grid_step_azimut, (win.n_lines, win.n_samples),
                                        cfg.grid_threshold, cfg.grid_gap)
    corr = fine - dem
    stats.update({"grid_nodes": list(fine.shape[1:]),
                  "grid_minus_dem_range_px": round(float(np.mean(corr[0])), 4),
                  "grid_minus_dem_azimuth_px": round(float(np.mean(corr[1])), 4)})
    write_raster(unit.folder / layout.GRID, np.concatenate([fine, dem]).astype(np.float64),
                 descriptions=layout.GRID_BANDS,
                 tags={"step_range": cfg.grid_step_range, "step_azimuth": cfg.grid_step_azimut,
                       "first_line": win.line0, "first_sample": win.sample0})
    unit.grid, unit.grid_stats = fine, stats
    return Outcome(f"deformation grid {fine.shape[2]}x{fine.shape[1]} nodes, correction of the DEM grid "
                   f"{stats['grid_minus_dem_range_px']:+.4f} px range, {stats['grid_minus_dem_azimuth_px']:+.4f} px "
                   "azimuth", stats=stats)


deformation_grid = Step("deformation_grid", _deformation_grid, lambda ctx, unit: [layout.GRID], _grid_params,
                        title="deformation_grid", resume=_grid_resume)

# ------------------------------------------------------------------------------------------------ coregistration


def _ifg_outputs(ctx: RunContext, unit: Unit) -> list[str]:
    return [layout.IFG] + ([layout.COREG] if not ctx.cfg.clean else [])


def _ifg_params(ctx: RunContext, unit: Unit) -> Params:
    cfg, win, steps = ctx.cfg, ctx.window, Steps(unit.folder)
    return {"window": win.as_dict(), "ml": [win.ml_ran, win.ml_azi], "gain": cfg.interferogram_gain,
            "grid": float(np.sum(_grid(unit))), "doppler": _doppler(unit),
            "slave": unit.the_slave().image.measurement_name, "keep_coreg": not cfg.clean,
            "inputs": [steps.done.get("topographic_phase"), steps.done.get("deformation_grid")]}


def _coregistration_interferogram(ctx: RunContext, unit: Unit) -> Outcome:
    """SARCoRegistration + SARInterferogram in one pass over master row blocks (the coregistered slave is kept
    on disk only in full mode)."""
    retain_freed_memory()
    import time

    from ..interferogram import interferogram

    cfg, win, m, slave = ctx.cfg, ctx.window, ctx.master, unit.the_slave()
    rows_ml, cols_ml = win.ml_shape
    cgrid = _resampler_grid(ctx, _grid(unit))
    # bytes per pixel of a block, measured (peak RSS vs block size): master, coregistered slave, slave strip,
    # phase, interferogram sums and temporaries
    rows = rows_per_block(max(win.n_samples, slave.meta.number_of_samples), 112, ctx.ram_mb, multiple=win.ml_azi,
                          minimum=win.ml_azi)
    t_coreg = t_ifg = 0.0
    tags = {"master": m.image.measurement_name, "slave": slave.image.measurement_name, "ml_range": win.ml_ran,
            "ml_azimuth": win.ml_azi, "first_line": win.line0, "first_sample": win.sample0}
    with contextlib.ExitStack() as stack:
        wi = stack.enter_context(open_writer(unit.folder / layout.IFG, cols_ml, rows_ml, 4, "float32",
                                             descriptions=layout.IFG_BANDS, gcps=ctx.gcps, tags=tags,
                                             compress=product_codec(cfg)))
        wc = (None if cfg.clean else
              stack.enter_context(open_writer(unit.folder / layout.COREG, win.n_samples, win.n_lines, 1,
                                              "complex64", descriptions=layout.COREG_BANDS)))
        for b in progress(list(row_blocks(win.n_lines, rows, MARGIN_AZI)), f"{slave.date} coregistration+interferogram"):
            t0 = time.perf_counter()
            coreg = _coregistered_strip(ctx, slave, cgrid, b.read0, b.read1, _doppler(unit), unit)
            if wc is not None:
                wc.write(b.row0, coreg[b.inner])
            t1 = time.perf_counter()
            mst = m.read(win.rows(b.read0, b.read1))
            # the topographic phase on its ML rows: upsampled row by row inside the interferogram's cell sums
            phi_ml = topo_phase_ml_rows(ctx, unit, b.read0, b.read1)
            ml_rows = (b.row0 // win.ml_azi, b.row1 // win.ml_azi)
            valid = read_raster(ctx.master_dir / layout.CARTESIAN_MEAN, 4, rows=ml_rows) > 0.5
            if unit.tops is not None:  # IW: only ML cells whose master samples are all valid burst samples
                from .tops_steps import frame_valid

                r0, r1 = ml_rows[0] * win.ml_azi, ml_rows[1] * win.ml_azi
                ok = frame_valid(ctx, r0, r1)[:, :valid.shape[1] * win.ml_ran]
                valid &= ok.reshape(valid.shape[0], win.ml_azi, valid.shape[1], win.ml_ran).all(axis=(1, 3))
            ifg = interferogram(mst, coreg, None, win.ml_ran, win.ml_azi, MARGIN_RAN, MARGIN_AZI,
                                cfg.interferogram_gain, valid_ml=valid, line0=b.read0, n_lines=win.n_lines,
                                ml_rows=ml_rows, topo_phase_ml=phi_ml)
            wi.write(b.row0 // win.ml_azi, ifg)
            t_coreg += t1 - t0
            t_ifg += time.perf_counter() - t1
    return Outcome(f"coregistration {t_coreg:.1f} s, interferogram {t_ifg:.1f} s",
                   timings={"coregistration": round(t_coreg, 3)})


coregistration_interferogram = Step("interferogram", _coregistration_interferogram, _ifg_outputs, _ifg_params,
                                    title="interferogram")


def _coreg_params(ctx: RunContext, unit: Unit) -> Params:
    return {"window": ctx.window.as_dict(), "grid": float(np.sum(_grid(unit))), "doppler": _doppler(unit)}


def _coregistration(ctx: RunContext, unit: Unit) -> Outcome:
    """SARCoRegistration alone (Activate_Interferogram = no): slave_coregistered.tif."""
    retain_freed_memory()
    win, slave = ctx.window, unit.the_slave()
    cgrid = _resampler_grid(ctx, _grid(unit))
    rows = rows_per_block(max(win.n_samples, slave.meta.number_of_samples), 32, ctx.ram_mb)
    with open_writer(unit.folder / layout.COREG, win.n_samples, win.n_lines, 1, "complex64",
                     descriptions=layout.COREG_BANDS) as w:
        for b in row_blocks(win.n_lines, rows):
            w.write(b.row0, _coregistered_strip(ctx, slave, cgrid, b.row0, b.row1, _doppler(unit), unit))
    return Outcome("coregistration")


coregistration = Step("coregistration", _coregistration, lambda ctx, unit: [layout.COREG], _coreg_params,
                      title="coregistration")

# ------------------------------------------------------------------------------------------------ filtering


def _filtering_params(ctx: RunContext, unit: Unit) -> Params:
    cfg = ctx.cfg
    return {"alpha": cfg.filtering_alpha, "ml": [cfg.filtered_ml_ran, cfg.filtered_ml_azi],
            "src": Steps(unit.folder).done.get("interferogram", {})}


def _filtering(ctx: RunContext, unit: Unit) -> Outcome:
    """SARPhaseFiltering (Goldstein) + SARAddBandInterferogram -> interferogram_filtered.tif, streamed by row
    strips with a halo of one filter tile; optional extra multilook (Filtered_Interferogram_mlran/mlazi)."""
    retain_freed_memory()
    from ..filtering import filter_lines, phase_filtering
    from ..multilook import multilook_bands

    cfg = ctx.cfg
    f_r, f_a = cfg.filtered_ml_ran, cfg.filtered_ml_azi
    tile, step = 64, 16
    src = unit.folder / layout.IFG
    _, n_rows, n_cols = raster_shape(src)
    rows = rows_per_block(n_cols, 4 * 4 * 6, ctx.ram_mb, multiple=max(step * f_a, step), minimum=4 * tile)
    with open_writer(unit.folder / layout.IFG_FILTERED, n_cols // f_r, n_rows // f_a, 4, "float32",
                     descriptions=layout.IFG_BANDS, gcps=scaled_gcps(ctx.gcps, f_r, f_a),
                     compress=product_codec(cfg)) as w:
        for b in row_blocks(n_rows, rows):
            l0, l1 = filter_lines(b.row0, b.row1, tile, n_rows)
            bands = read_raster(src, None, rows=(l0, l1))
            filt = phase_filtering(bands, alpha=cfg.filtering_alpha, tile=tile, step=step, line0=l0)
            w.write(b.row0 // f_a, multilook_bands(filt[:, b.row0 - l0:b.row1 - l0], f_r, f_a))
    return Outcome(f"Goldstein filtering (alpha {cfg.filtering_alpha:.2f})")


filtering = Step("filtering", _filtering, lambda ctx, unit: [layout.IFG_FILTERED], _filtering_params,
                 title="filtering")

# ------------------------------------------------------------------------------------------------ ortho


def _ortho_step(src: str, dst: str, ml_extra: tuple[int, int] = (1, 1),
                kinds: tuple[str, ...] = ("bilinear", "phase", "bilinear", "nearest"),
                descriptions: tuple[str, ...] = layout.IFG_BANDS, isdata: bool = True) -> Step:
    """Orthorectification of the ML-geometry product ``src`` onto the ortho grid -> ``dst`` (``kinds``: the
    interpolation of each band; ``isdata``: band 4 is the isData mask)."""

    def ml(ctx: RunContext) -> tuple[int, int]:
        return ctx.window.ml_azi * ml_extra[1], ctx.window.ml_ran * ml_extra[0]

    def params(ctx: RunContext, unit: Unit) -> Params:
        cfg, steps = ctx.cfg, Steps(unit.folder)
        ml_azi, ml_ran = ml(ctx)
        return {"spacing": cfg.spacingxy_deg, "epsg": cfg.ortho_epsg, "src": src, "ml": [ml_ran, ml_azi],
                "window": ctx.window.as_dict(),
                "inputs": [steps.done.get("interferogram"), steps.done.get("filtering")]}

    def body(ctx: RunContext, unit: Unit) -> Outcome:
        from .. import ortho

        retain_freed_memory()
        ortho_lookup(ctx, ctx.master_unit())
        grid = ortho_grid(ctx)
        ml_azi, ml_ran = ml(ctx)
        count, n_rows, _ = raster_shape(unit.folder / src)
        band_kinds = list(kinds[:count])
        rows = rows_per_block(grid.width, 8 * 12, ctx.ram_mb)
        with open_writer(unit.folder / dst, grid.width, grid.height, count, "float32",
                         descriptions=descriptions[:count], transform=grid.transform,
                         crs=f"EPSG:{grid.epsg}", nodata=np.nan, compress=product_codec(ctx.cfg)) as w:
            for b in row_blocks(grid.height, rows):
                lut = read_raster(ctx.master_dir / layout.ORTHO_LOOKUP, [1, 2], rows=(b.row0, b.row1))  # (to_ml: f64)
                u, v = ortho.to_ml(lut[0], lut[1], ml_azi, ml_ran)
                need = ortho.needed_rows(u, n_rows)
                if need is None:
                    out = np.full((count, b.rows, grid.width), np.nan, dtype=np.float32)
                    if isdata and count == 4:
                        out[3] = 0
                else:
                    bands = read_raster(unit.folder / src, None, rows=need)
                    out = ortho.ortho_bands(bands, need[0], u, v, band_kinds,
                                            isdata_band=3 if isdata and count == 4 else None)
                w.write(b.row0, out)
        return Outcome(f"{dst} {grid.width}x{grid.height} (EPSG:{grid.epsg}, spacing {grid.transform[1]:g})")

    return Step(f"ortho:{dst}", body, lambda ctx, unit: [dst], params, title=f"ortho:{dst}")


ortho = _ortho_step(layout.IFG, layout.IFG_ORTHO)


def ortho_filtered(ctx: RunContext, unit: Unit) -> Any:
    """Orthorectification of the filtered interferogram (its extra multilook taken into account)."""
    cfg = ctx.cfg
    return _ortho_step(layout.IFG_FILTERED, layout.IFG_FILTERED_ORTHO,
                       (cfg.filtered_ml_ran, cfg.filtered_ml_azi))(ctx, unit)


def ortho_unwrapped(ctx: RunContext, unit: Unit) -> Any:
    """Orthorectification of unwrapped.tif (on the grid of the interferogram it was made from)."""
    cfg = ctx.cfg
    extra = (cfg.filtered_ml_ran, cfg.filtered_ml_azi) if cfg.activate_filtering else (1, 1)
    return _ortho_step(layout.UNWRAPPED, layout.UNWRAPPED_ORTHO, extra, ("bilinear", "bilinear", "nearest"),
                       layout.UNWRAPPED_BANDS, isdata=False)(ctx, unit)


# ------------------------------------------------------------------------------------------------ unwrapping


def _unwrap_params(ctx: RunContext, unit: Unit) -> Params:
    steps = Steps(unit.folder)
    return {"unwrapping": ctx.cfg.sections_dict()["unwrapping"],
            "src": steps.done.get("filtering") if ctx.cfg.activate_filtering else steps.done.get("interferogram")}


def _unwrap(ctx: RunContext, unit: Unit) -> Outcome:
    """SNAPHU unwrapping of the pair's (filtered, when filtering is on) interferogram -> unwrapped.tif and the
    displacement quicklook (``diapsar.unwrap``)."""
    from ..unwrap import UnwrapOptions, unwrap_interferogram

    cfg, u = ctx.cfg, ctx.cfg.unwrapping
    src = layout.IFG_FILTERED if cfg.activate_filtering else layout.IFG
    opts = UnwrapOptions(method=u.method, coherence_threshold=u.coherence_threshold,
                         reference_lonlat=u.reference_lonlat, tiles=u.tiles, ram_mb=float(ctx.ram_mb),
                         wavelength_m=ctx.master.meta.wavelength_m)
    record = unwrap_interferogram(unit.folder / src, opts, unit.folder, pair=None)
    unit.unwrapping = record
    return Outcome(f"unwrapped {src}", stats={"unwrapping": record})


def _unwrap_resume(ctx: RunContext, unit: Unit, record: dict[str, Any]) -> None:
    unit.unwrapping = record.get("stats", {}).get("unwrapping")


unwrap = Step("unwrap", _unwrap, lambda ctx, unit: [layout.UNWRAPPED], _unwrap_params, title="unwrap",
              resume=_unwrap_resume)
