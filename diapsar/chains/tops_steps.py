"""IW/TOPS parts of the MultiSlc chain: the debursted master frame, burst matching, the burst deformation grids with
ESD, and the slave resampler of the coregistration step (``diapsar.tops`` has the algorithms).

The master of an IW stack is processed on its debursted frame (``FrameAcquisition``): every master step and the
pair steps that only need the master geometry (topographic phase, interferogram, filtering, ortho) are the
StripMap steps unchanged. What differs per pair: the deformation grid is one grid per master burst, in burst
frames, corrected by ESD (``deformation_grid`` step of this module), and the coregistration resamples each
master burst's rows from its matched slave burst (deramp, sinc, reramp).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import layout, tops
from ..errors import SelectionError
from ..io.blocks import retain_freed_memory
from ..io.raster import read_raster, write_raster
from ..io.records import Steps
from ..io.window import Window
from ..log import get_logger
from ..metadata import SwathMetadata
from .context import Acquisition, RunContext, Unit
from .steps import Outcome, Params, Step

log = get_logger("multislc")

# ESD: below this many look cells above the coherence threshold an overlap is not used (its estimate would be
# noise); below MIN_ESD_CELLS in all overlaps the geometric solution is kept
MIN_OVERLAP_CELLS = 20
MIN_ESD_CELLS = 50
ESD_LOOKS = (5, 15)  # azimuth, range (ISCE2 topsApp's ESD looks: 15 range x 5 azimuth, runESD.py)


@dataclass
class FrameAcquisition(Acquisition):
    """The master of an IW stack: ``meta`` describes the debursted frame of the selected bursts (see
    ``diapsar.tops``), ``swath_meta`` the swath as ESA wrote it; ``read`` reads frame pixels."""

    swath_meta: SwathMetadata | None = None
    frame: tops.DeburstFrame | None = None

    def read(self, window: Window) -> np.ndarray:
        assert self.frame is not None and self.swath_meta is not None
        meta = self.swath_meta

        def read_swath(line0: int, sample0: int, n_lines: int, n_samples: int) -> np.ndarray:
            return np.asarray(self.product.read(meta.swath, meta.polarisation, line0, sample0, n_lines, n_samples))

        def read_into(line0: int, sample0: int, n_lines: int, n_samples: int, out: np.ndarray) -> None:
            self.product.read(meta.swath, meta.polarisation, line0, sample0, n_lines, n_samples, out=out)

        return tops.read_frame(read_swath, meta, self.frame, window.line0, window.sample0, window.n_lines,
                               window.n_samples, read_into=read_into)

    @property
    def the_swath(self) -> SwathMetadata:
        assert self.swath_meta is not None
        return self.swath_meta

    @property
    def the_frame(self) -> tops.DeburstFrame:
        assert self.frame is not None
        return self.frame


def frame_master(master: Acquisition, burst_index: tuple[int, int] | None) -> FrameAcquisition:
    """The master acquisition on the debursted frame of bursts ``burst_index`` (first, last; 0-based; all by
    default)."""
    from ..geometry import RadarGrid

    meta = master.meta
    n = len(meta.bursts)
    first, last = (0, n - 1) if burst_index is None else burst_index
    if not 0 <= first <= last < n:
        raise SelectionError(f"-b / burst_index {first}-{last}: the master {master.image.measurement_name} has "
                             f"bursts 0-{n - 1} in {meta.swath}")
    frame = tops.deburst_frame(meta, first, last)
    fmeta = tops.frame_metadata(meta, frame, RadarGrid.from_metadata(meta).bistatic_reference_range_time_s)
    return FrameAcquisition(image=master.image, product=master.product, meta=fmeta, orbit=master.orbit,
                            swath_meta=meta, frame=frame)


def match_slave_bursts(master: FrameAcquisition, slave: Acquisition) -> dict[int, int]:
    """Master burst index -> slave burst index for the frame's bursts, by burst identity (never by index)."""
    from ..baseline import match_bursts

    found = {mi: si for _bid, mi, si in match_bursts(master.the_swath, slave.meta)}
    return {b: found[b] for b in master.the_frame.bursts if b in found}


def skip_reason(master: Acquisition, slave: Acquisition) -> str | None:
    """Why the pair of ``slave`` cannot be processed (IW: no burst in common with the master's frame), else
    None. The chain skips such a slave with a warning and lists it in run.json; the other pairs go on."""
    if not isinstance(master, FrameAcquisition):
        return None
    if match_slave_bursts(master, slave):
        return None
    ids = [master.the_swath.bursts[b].burst_id for b in master.the_frame.bursts]
    return (f"{slave.image.measurement_name} has no burst in common with the master's bursts "
            f"(burst IDs {ids[0]}-{ids[-1]}; slave {slave.meta.bursts[0].burst_id}-{slave.meta.bursts[-1].burst_id})")


# ------------------------------------------------------------------------------------------------ the step


@dataclass
class TopsPair:
    """In-memory hand-over of the IW pair steps (on ``Unit.tops``)."""

    matches: dict[int, int]
    grids: dict[int, np.ndarray] = field(default_factory=dict)  # geometric grid + ESD shift, per master burst
    ramps: dict[int, Any] = field(default_factory=dict)  # slave TopsRamp per master burst


def _slave_reader(slave: Acquisition):  # type: ignore[no-untyped-def]
    def read(line0: int, sample0: int, n_lines: int, n_samples: int) -> np.ndarray:
        return np.asarray(slave.product.read(slave.meta.swath, slave.meta.polarisation, line0, sample0, n_lines,
                                             n_samples))
    return read


def _master_swath_reader(master: FrameAcquisition):  # type: ignore[no-untyped-def]
    meta = master.the_swath

    def read(line0: int, sample0: int, n_lines: int, n_samples: int) -> np.ndarray:
        return np.asarray(master.product.read(meta.swath, meta.polarisation, line0, sample0, n_lines, n_samples))
    return read


def _tops(unit: Unit) -> TopsPair:
    if unit.tops is None:
        raise RuntimeError("the IW deformation grid step has not run")
    return unit.tops  # type: ignore[no-any-return]


def frame_resampled(ctx: RunContext, unit: Unit, row0: int, row1: int) -> np.ndarray:
    """The slave resampled onto master window rows [row0, row1) (all window samples), complex64."""
    cfg, win = ctx.cfg, ctx.window
    master = ctx.master
    assert isinstance(master, FrameAcquisition)
    tp = _tops(unit)
    slave = unit.the_slave()
    return tops.frame_resample(_slave_reader(slave), slave.meta, master.the_frame, tp.matches, tp.grids, tp.ramps,
                               cfg.grid_step_range, cfg.grid_step_azimut, win.line0 + row0, win.line0 + row1,
                               win.sample0, win.n_samples)


def frame_valid(ctx: RunContext, row0: int, row1: int) -> np.ndarray:
    """True where master window pixels of rows [row0, row1) are valid samples of their burst."""
    master = ctx.master
    assert isinstance(master, FrameAcquisition)
    win = ctx.window
    return tops.valid_mask(master.the_swath, master.the_frame, win.line0 + row0, win.line0 + row1, win.sample0,
                           win.sample0 + win.n_samples)


def _grid_params(ctx: RunContext, unit: Unit) -> Params:
    cfg, master = ctx.cfg, ctx.master
    assert isinstance(master, FrameAcquisition)
    return {"window": ctx.window.as_dict(), "frame": master.the_frame.to_dict(),
            "steps": [cfg.grid_step_range, cfg.grid_step_azimut], "esd_iter": cfg.esd_iter,
            "esd_threshold": cfg.esd.threshold, "slave": unit.the_slave().image.measurement_name,
            "inputs": Steps(unit.folder).done.get("topographic_phase")}


def _store(ctx: RunContext, unit: Unit, tp: TopsPair, geometric: dict[int, np.ndarray], stats: dict[str, Any]) -> None:
    bursts = sorted(tp.grids)
    bands = np.concatenate([np.concatenate([tp.grids[b], geometric[b]]) for b in bursts])
    names = [f"burst{b}_{n}" for b in bursts for n in layout.GRID_BANDS]
    write_raster(unit.folder / layout.GRID, bands.astype(np.float64), descriptions=names,
                 tags={"step_range": ctx.cfg.grid_step_range, "step_azimuth": ctx.cfg.grid_step_azimut,
                       "frame": "burst", "master_bursts": ",".join(map(str, bursts)),
                       "slave_bursts": ",".join(str(tp.matches[b]) for b in bursts)})


def _set_unit(unit: Unit, tp: TopsPair, stats: dict[str, Any]) -> None:
    unit.tops = tp
    bursts = sorted(tp.grids)
    unit.grid = np.concatenate([tp.grids[b] for b in bursts]) if bursts else np.zeros((2, 1, 1))
    unit.doppler_cycles = 0.0  # the slave is resampled deramped (baseband)
    unit.grid_stats = stats


def _ramps(slave: Acquisition, matches: dict[int, int]) -> dict[int, Any]:
    from ..deramp import TopsRamp

    return {b: TopsRamp.from_metadata(slave.meta, s, slave.orbit) for b, s in matches.items()}


def _grid_resume(ctx: RunContext, unit: Unit, record: dict[str, Any]) -> None:
    stats = dict(record.get("stats", {}))
    matches = {int(k): int(v) for k, v in stats.get("matches", {}).items()}
    tp = TopsPair(matches, ramps=_ramps(unit.the_slave(), matches))
    bursts = sorted(matches)
    data = read_raster(unit.folder / layout.GRID).astype(np.float64)
    for k, b in enumerate(bursts):
        tp.grids[b] = data[4 * k:4 * k + 2]
    _set_unit(unit, tp, stats)


def _overlap_looks(ctx: RunContext, unit: Unit, tp: TopsPair, b: int, c: int, shift: float,
                   cache: dict[tuple[int, int], Any] | None = None, cache_mb: float = float("inf")
                   ) -> tops.OverlapLooks | None:
    """Look cells of the overlap of master bursts b, c = b + 1 (window samples), with the azimuth ``shift`` added
    to both burst grids. ``cache``: what does not depend on the shift (the overlap's master lines, local Doppler
    and topographic phase), kept between the ESD iterations while the cache holds less than ``cache_mb`` (an
    overlap left out is computed again at each iteration: the same values)."""
    from ..deramp import TopsRamp, local_doppler_hz

    cfg, win = ctx.cfg, ctx.window
    master = ctx.master
    assert isinstance(master, FrameAcquisition)
    meta, frame = master.the_swath, master.the_frame
    if cache is not None and (b, c) in cache:
        fixed = cache[(b, c)]
    else:
        fixed = None
        rows = tops.overlap_rows(meta, b, c)
        if rows is not None:
            lb, lc = rows
            seg_c = next(s for s in frame.segments if s.burst == c)
            # frame lines of the overlap times (window rows), for the topographic phase of the pair
            f0 = seg_c.frame_line0 + int(lc[0]) - seg_c.burst_line0 - win.line0
            f1 = f0 + lc.size
            if 0 <= f0 and f1 <= win.n_lines:  # else the overlap is not inside the processed window (ROI)
                from .pair_inputs import topo_phase_rows

                phi = topo_phase_rows(ctx, unit, f0, f1)
                read_m = _master_swath_reader(master)
                cols = np.arange(win.sample0, win.sample0 + win.n_samples)
                per = {}
                for k, ls in ((b, lb), (c, lc)):
                    r0, r1 = int(ls[0]), int(ls[-1]) + 1
                    m = read_m(meta.bursts[k].first_line + r0, win.sample0, r1 - r0, win.n_samples)
                    f = local_doppler_hz(TopsRamp.from_metadata(meta, k, master.orbit), np.arange(r0, r1)[:, None],
                                         cols[None, :])
                    per[k] = [r0, r1, m, f]
                # overlap_looks only uses f_b - f_c: keep that (same float64 values), not both
                df = per[b][3] - per[c][3]
                per[b][3], per[c][3] = df, np.broadcast_to(np.float64(0.0), df.shape)
                fixed = (phi, per)
        if cache is not None and _fits(cache, fixed, cache_mb):
            cache[(b, c)] = fixed
    if fixed is None:
        return None
    phi, per = fixed
    read_s = _slave_reader(unit.the_slave())
    got = {}
    for k in (b, c):
        r0, r1, m, f = per[k]
        g = tp.grids[k].copy()
        g[1] += shift
        s = tops.burst_resample(read_s, unit.the_slave().meta, tp.matches[k], tp.ramps[k], g, cfg.grid_step_range,
                                cfg.grid_step_azimut, r0, r1, win.sample0 + win.n_samples)[:, win.sample0:]
        got[k] = (m, s, f)
    return tops.overlap_looks(b, got[b][0], got[b][1], got[c][0], got[c][1], got[b][2], got[c][2], phi,
                              ESD_LOOKS[0], ESD_LOOKS[1])


def _nbytes(value: Any) -> int:
    if isinstance(value, np.ndarray):
        return 0 if value.ndim and not any(value.strides) else int(value.nbytes)  # (a broadcast scalar: none)
    if isinstance(value, (list, tuple)):
        return sum(_nbytes(v) for v in value)
    if isinstance(value, dict):
        return sum(_nbytes(v) for v in value.values())
    return 0


def _fits(cache: dict[tuple[int, int], Any], fixed: Any, cache_mb: float) -> bool:
    """True when ``fixed`` can join the ESD overlap cache within ``cache_mb`` (a 9-burst swath's overlaps hold
    ~0.1 GB each: kept whole they would exceed a small -ram share)."""
    used = sum(_nbytes(v) for v in cache.values())
    return (used + _nbytes(fixed)) / 2**20 <= cache_mb


def _esd_estimate(looks: list[tops.OverlapLooks], threshold: float, dt: float) -> dict[str, Any]:
    """ESD over the overlaps' look cells (``esd.esd_overlaps``: coherence-weighted double difference per overlap,
    cells above ``threshold``, overlaps with fewer than MIN_OVERLAP_CELLS cells left out, shifts combined) as a
    plain dict for pair.json."""
    from ..esd import OverlapData, esd_overlaps

    data = [OverlapData(ol.ifg_b, ol.ifg_c, ol.coherence, ol.delta_f_hz, burst=ol.burst) for ol in looks]
    est = esd_overlaps(data, dt, threshold=threshold, min_pixels=MIN_OVERLAP_CELLS, range_blocks=3)
    per = []
    for ol, r in zip(looks, est.overlaps, strict=True):
        item: dict[str, Any] = {"bursts": [r.burst, r.burst + 1], "cells": r.n_pixels, "status": r.status}
        if r.status == "ok":
            # range dependence in lines per 1000 samples (the estimator's columns are look cells)
            slope = r.range_slope_lines_per_sample / ESD_LOOKS[1] * 1000.0
            item.update(phase_rad=round(r.phase_rad, 5), delta_f_hz=round(r.delta_f_ovl_hz, 1),
                        shift_lines=r.shift_lines, residual_phase_rad=round(r.residual_phase_rad, 5),
                        range_slope_lines_per_1000_samples=None if not math.isfinite(slope) else round(slope, 6),
                        mean_sample=round(float(np.mean(ol.range_sample)), 1))
        per.append(item)
    ok = est.status == "ok" and est.n_pixels >= MIN_ESD_CELLS
    return {"status": "ok" if ok else "too_few_points", "shift_lines": est.shift_lines if ok else 0.0,
            "overlaps": per, "message": est.message}


# a last ESD shift below this (lines) is not resampled again for the residual of the overlaps: its phase, at most
# 2 pi x 4.8 kHz x 2.06 ms x 1e-5 = 6e-4 rad for IW's overlap Doppler difference, is removed by the ESD model
RESIDUAL_MODEL_LINES = 1e-5


def _shifted_estimate(est: dict[str, Any], shift: float, dt: float) -> dict[str, Any]:
    """``_esd_estimate``'s overlaps after a further slave shift of ``shift`` lines, by the ESD model: the
    double-difference phase of an overlap falls by 2 pi delta_f dt shift, its shift estimate by ``shift``."""
    out = []
    for o in est["overlaps"]:
        o = dict(o)
        if o.get("status") == "ok" and shift:
            o["phase_rad"] = round(o["phase_rad"] - 2.0 * math.pi * o["delta_f_hz"] * dt * shift, 5)
            o["shift_lines"] = o["shift_lines"] - shift
        out.append(o)
    return dict(est, overlaps=out)


def _deformation_grid(ctx: RunContext, unit: Unit) -> Outcome:
    """Burst deformation grids (geometry, burst frames) corrected by ESD on the burst overlaps."""
    retain_freed_memory()
    cfg = ctx.cfg
    master, slave = ctx.master, unit.the_slave()
    assert isinstance(master, FrameAcquisition)
    matches = match_slave_bursts(master, slave)
    if not matches:
        raise SelectionError(f"{slave.image.measurement_name}: no burst in common with the master "
                             f"{master.image.measurement_name}")
    missing = [b for b in master.the_frame.bursts if b not in matches]
    if missing:
        log.warning("%s: master bursts %s have no slave burst: left empty (isData 0)", unit.label,
                    ",".join(map(str, missing)))
    geometric = {b: tops.burst_grid(master.the_swath, master.orbit, slave.meta, slave.orbit, ctx.scene_dem, b, s,
                                    cfg.grid_step_range, cfg.grid_step_azimut) for b, s in matches.items()}
    tp = TopsPair(matches, grids={b: g.copy() for b, g in geometric.items()}, ramps=_ramps(slave, matches))
    threshold = float(cfg.esd.threshold)
    dt = master.meta.azimuth_time_interval_s
    pairs = [(b, b + 1) for b in sorted(matches) if b + 1 in matches and matches[b + 1] == matches[b] + 1]
    iterations: list[dict[str, Any]] = []
    total = 0.0
    esd: dict[str, Any] = {"iterations": iterations, "threshold": threshold, "looks_azimuth_range": list(ESD_LOOKS)}
    if cfg.esd_iter > 0 and not pairs:
        esd["status"] = "no_overlap"
        log.warning("%s: ESD not possible (no pair of consecutive common bursts): geometric coregistration",
                    unit.label)
    cache: dict[tuple[int, int], Any] = {}
    cache_mb = 0.5 * ctx.ram_mb  # the rest of the budget: the overlap being resampled
    last: dict[str, Any] | None = None  # the last iteration's estimate, and the shift added after it
    added = 0.0
    for it in range(cfg.esd_iter if pairs else 0):
        looks = [ol for ol in (_overlap_looks(ctx, unit, tp, b, c, total, cache, cache_mb) for b, c in pairs)
                 if ol is not None]
        last, added = _esd_estimate(looks, threshold, dt), 0.0
        iterations.append({"iteration": it + 1, "status": last["status"], "shift_lines": last["shift_lines"],
                           "overlaps": last["overlaps"]})
        if last["status"] != "ok":
            log.warning("%s: ESD iteration %d: too few coherent overlap points (threshold %.2f): the geometric "
                        "solution is kept", unit.label, it + 1, threshold)
            break
        added = last["shift_lines"]
        total += added
        log.info("%s: ESD iteration %d: %+.5f lines (total %+.5f) from %d overlap(s)", unit.label, it + 1,
                 added, total, len(looks))
        if abs(added) < RESIDUAL_MODEL_LINES:
            break
    if last is not None:
        # seam quality: the double-difference phase left in each overlap after the correction. When the last
        # iteration added nothing (too few points) or less than RESIDUAL_MODEL_LINES, its own overlap estimates
        # give it (exactly, or corrected for that shift by the ESD model: the phase of a shift is linear in it);
        # else the overlaps are resampled once more with the final shift
        if abs(added) < RESIDUAL_MODEL_LINES:
            final = _shifted_estimate(last, added, dt)
            esd["residual_from"] = (f"the overlaps of iteration {len(iterations)}" + (
                f", corrected by the ESD model for the {added:+.2e} line it added" if added else
                " (no shift added after it)"))
        else:
            looks = [ol for ol in (_overlap_looks(ctx, unit, tp, b, c, total, cache, cache_mb) for b, c in pairs)
                     if ol is not None]
            final = _esd_estimate(looks, threshold, dt)
            esd["residual_from"] = "the overlaps resampled again with the final shift"
        cache.clear()
        esd["residual"] = [{"bursts": o["bursts"], "cells": o["cells"],
                            "residual_phase_rad": o.get("phase_rad"),
                            "residual_shift_lines": o.get("shift_lines"),
                            "range_slope_lines_per_1000_samples": o.get("range_slope_lines_per_1000_samples")}
                           for o in final["overlaps"]]
        esd.setdefault("status", "ok" if any(i["status"] == "ok" for i in iterations) else "too_few_points")
    elif cfg.esd_iter == 0:
        esd["status"] = "off"
    esd["shift_lines"] = total
    for b in tp.grids:
        tp.grids[b][1] += total
    stats: dict[str, Any] = {
        "matches": {str(b): s for b, s in matches.items()}, "missing_master_bursts": missing,
        "bursts": [{"master_burst": b, "master_burst_id": master.the_swath.bursts[b].burst_id, "slave_burst": s}
                   for b, s in sorted(matches.items())],
        "esd": esd, "grid_nodes": list(next(iter(geometric.values())).shape[1:]),
    }
    _store(ctx, unit, tp, geometric, stats)
    _set_unit(unit, tp, stats)
    return Outcome(f"burst deformation grids ({len(matches)} bursts), ESD {esd.get('status')} "
                   f"{total:+.5f} lines", stats=stats)


deformation_grid = Step("deformation_grid", _deformation_grid, lambda ctx, unit: [layout.GRID], _grid_params,
                        title="deformation_grid", resume=_grid_resume)
