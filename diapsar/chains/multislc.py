"""SAR_MultiSlc chain (StripMap): one master, every other image of the window a slave (DiapOTB notes 2, 3).

Reads like the processing diagram (steps: ``master_steps``, ``pair_steps``; machinery: ``steps``; run helpers:
``runtime``):

    select images, open the master, window ----------------------- io.stack, context
    master:  scene DEM (dem_scene.vrt) ------------------------------ io.dem
             multilook + Doppler0 ----------------------------------- multilook, doppler0
             DEM projection, cartesian mean per ML cell -------------- dem_projection, cartesian_mean
    per slave (a pair unit):
             topographic phase (cartesian mean + slave orbit) ------- topographic_phase
             DEM deformation grid (geometry), slave window ---------- deformation_grid
             multilook + Doppler0 of the slave ---------------------- multilook, doppler0
             fine grid: DEM grid + residual shift by correlation ---- deformation_grid
             coregistration (sinc, Doppler-aware) + interferogram --- coregistration, interferogram
             Goldstein filtering, orthorectification, quicklooks ---- filtering, ortho, report

Every step streams row blocks sized from the memory budget (``-ram``), writes its products under a temporary
name renamed on success, and records its completion (``.steps.json``) so that a rerun skips what is done.

IW (own issue) reuses the same steps per burst unit: a ``Window`` per master burst, the slave burst matched by
burst ID (``baseline.match_bursts``), deramp before the grid/coregistration and reramp after (``deramp``), the
ESD loop adding a constant azimuth offset to every burst grid (``deformation_grid.grid_offset``), and the burst
interferograms concatenated (``deburst``) before the same filtering/ortho/quicklook steps.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__, layout
from ..config import MultiSlcConfig
from ..errors import DiapsarError, ProductError, SelectionError
from ..io.raster import write_json
from ..io.records import Steps
from ..io.window import Window
from ..log import get_logger, setup_logging
from . import executor, tops_steps
from .context import (
    Acquisition,
    RunContext,
    Unit,
    check_output,
    gdal_cache_mb,
    master_window,
    open_acquisition,
)
from .executor import ChainSteps, PairsFailedError
from .master_steps import cartesian_mean, dem_projection, multilook_doppler, scene_dem
from .pair_steps import (
    coregistration,
    coregistration_interferogram,
    deformation_grid,
    dem_grid,
    filtering,
    ortho,
    ortho_filtered,
    ortho_unwrapped,
    topographic_phase,
    unwrap,
)
from .runtime import (
    file_log_only,
    log_window,
    pair_baseline,
    remove_leftovers,
    select_images,
    versions,
    write_run_report,
)
from .steps import Outcome, Params, Step

log = get_logger("multislc")


# ------------------------------------------------------------------------------------------------ the chain

def master_chain(ctx: RunContext) -> None:
    unit = ctx.master_unit()
    scene_dem(ctx, unit)  # dem_scene.vrt, ctx.dem
    multilook_doppler(ctx, unit)  # master_ml_amplitude.tif, Doppler file
    dem_projection(ctx, unit)  # dem_projection.tif
    cartesian_mean(ctx, unit)  # cartesian_mean.tif, ctx.gcps


def pair_chain(ctx: RunContext, unit: Unit) -> dict[str, str | None]:
    """The DIn_SAR and Post_Processing sub-chains of one pair; returns pair.json's product names."""
    cfg = ctx.cfg
    products: dict[str, str | None] = {"interferogram": None, "ortho": None, "filtered": None,
                                       "filtered_ortho": None, "coregistered_slave": None, "deformation_grid": None}
    topographic_phase(ctx, unit)  # topographic_phase.tif
    if isinstance(ctx.master, tops_steps.FrameAcquisition):
        tops_steps.deformation_grid(ctx, unit)  # IW: burst grids + ESD -> deformation_grid.tif, unit.tops
    else:
        dem_grid(ctx, unit)  # unit.dem_grid, unit.slave_window
        multilook_doppler(ctx, unit)  # slave_ml_amplitude.tif, Doppler file, unit.doppler_cycles
        deformation_grid(ctx, unit)  # deformation_grid.tif, unit.grid
    if not cfg.activate_interferogram:
        # DiapOTB: no interferogram -> the chain stops after coregistration, whose product is then kept
        coregistration(ctx, unit)  # slave_coregistered.tif
        return products | {"coregistered_slave": layout.COREG, "deformation_grid": layout.GRID}
    coregistration_interferogram(ctx, unit)  # interferogram.tif (+ slave_coregistered.tif in full mode)
    products["interferogram"] = layout.IFG
    if cfg.activate_filtering:
        filtering(ctx, unit)  # interferogram_filtered.tif
        products["filtered"] = layout.IFG_FILTERED
    if cfg.activate_ortho:
        ortho(ctx, unit)  # interferogram_ortho.tif (ortho_lookup.tif of the master the first time)
        products["ortho"] = layout.IFG_ORTHO
        if products["filtered"]:
            ortho_filtered(ctx, unit)  # interferogram_filtered_ortho.tif
            products["filtered_ortho"] = layout.IFG_FILTERED_ORTHO
    if cfg.unwrapping.activate:
        try:
            unwrap(ctx, unit)  # unwrapped.tif, quicklook_displacement.png
            products["unwrapped"] = layout.UNWRAPPED
            if cfg.activate_ortho:
                ortho_unwrapped(ctx, unit)  # unwrapped_ortho.tif
                products["unwrapped_ortho"] = layout.UNWRAPPED_ORTHO
        except DiapsarError as exc:  # the pair is kept, marked as not unwrapped; the other pairs go on
            log.warning("%s: not unwrapped: %s", unit.label, exc)
            unit.unwrapping = {"status": "failed", "reason": str(exc)}
    if cfg.clean:
        remove_intermediates(unit.folder, [layout.SLAVE_ML, layout.GRID, layout.TOPO, layout.COREG,
                                           cfg.doppler_file])
        return products
    return products | {"coregistered_slave": layout.COREG, "deformation_grid": layout.GRID,
                       "topographic_phase": layout.TOPO, "slave_ml_amplitude": layout.SLAVE_ML}


def iw_swaths(cfg: MultiSlcConfig, sel: Any) -> tuple[str, ...]:
    """Swaths of an IW run: Global.in.Swath ("all" = IW1-3), else the master's swath when -m / Master_Image names a
    measurement file, else every swath of the master product."""
    import re

    from ..io import stack

    if cfg.inputs.swaths is not None:
        return tuple(cfg.inputs.swaths)
    named = cfg.inputs.master_image
    if named and not re.fullmatch(r"\d{8}", named.strip()) and named.strip().lower().endswith((".tif", ".tiff")):
        return (sel.master.swath,)
    images = stack.scan(cfg.inputs.input_path)
    found = sorted({i.swath for i in images if i.product_path == sel.master.product_path
                    and i.polarisation == sel.master.polarisation})
    return tuple(found) or (sel.master.swath,)


@dataclass(frozen=True)
class Only:
    """Part of the run asked by the batch entry points (--only-master, --only-pair DATE, --only-report);
    all None/False: the whole run."""

    master: bool = False
    pair: str | None = None
    report: bool = False

    @property
    def any(self) -> bool:
        return self.master or self.pair is not None or self.report


def _check_slaves(master: Acquisition, slaves: list[Any]) -> tuple[list[Any], dict[str, str]]:
    """Metadata checks before any heavy work (readable pixels, one track, one mode); a slave whose pixels cannot
    be read becomes a failed pair (the others run) unless no slave is readable (then the run stops naming the
    first)."""
    from ..errors import ProductError
    from ..io import stack
    from .context import probe_pixels

    probe_pixels(master)
    metas: dict[str, Any] = {master.image.key: master.meta}
    ok, failed, first = [], {}, None
    for s in slaves:
        try:
            acq = open_acquisition(s)
            try:
                probe_pixels(acq)
                metas[s.key] = acq.meta
            finally:
                acq.close()
            ok.append(s)
        except ProductError as exc:
            first = first or exc
            failed[s.date] = str(exc)
    if slaves and not ok and first is not None:
        raise first
    stack.check_tracks(metas)
    return ok, failed


def _run_chain(cfg: MultiSlcConfig, top: bool = True, only: Only | None = None,
               ram_share_mb: float | None = None) -> dict[str, Any]:
    """The chain of one swath (or StripMap image); ``ram_share_mb``: this run's share of -ram when swath runs go
    side by side (None: all of it)."""
    only = only or Only()
    t_start, started = time.perf_counter(), time.time()
    out = Path(cfg.output_path)
    sel = select_images(cfg)  # checked before anything is created in the output folder
    swaths: tuple[str, ...] = ()
    if cfg.inputs.mode == "IW":
        swaths = iw_swaths(cfg, sel)
        if len(swaths) == 1 and cfg.inputs.swath is None:
            cfg = dataclasses.replace(cfg, inputs=dataclasses.replace(cfg.inputs, swaths=swaths))
            sel = select_images(cfg)
    if not only.any:
        executor.check_budget(cfg, len(sel.slaves))  # -ram share of the workers, jobs' resources: before any work
    check_output(out)
    if top:
        setup_logging(out)
        log.info("diapsar %s SAR_MultiSlc: config %s -> %s", __version__, cfg.source or "(in memory)", out)
        for sentence in getattr(cfg, "adjustments", ()):
            log.info("configuration: %s", sentence)
    if len(swaths) > 1:
        return _run_swaths(cfg, swaths, t_start, started, only, len(sel.slaves), sel.master)
    slaves = list(sel.slaves)
    if only.pair is not None:
        slaves = [s for s in slaves if s.date == only.pair]
        if not slaves:
            raise SelectionError(f"--only-pair {only.pair}: not a slave date of the selection "
                                 f"({', '.join(s.date for s in sel.slaves) or 'none'})")
    log.info("master %s (%s), %d slave(s): %s", sel.master.date, sel.master.measurement_name, len(slaves),
             ", ".join(s.date for s in slaves))
    master: Acquisition = open_acquisition(sel.master)
    failed: dict[str, str] = {}
    if only.report:
        slaves = list(sel.slaves)
    elif only.pair is None:
        slaves, bad = _check_slaves(master, slaves)
        failed.update({layout.pair_directory(sel.master.date, d): r for d, r in bad.items()})
    if master.meta.is_tops:  # IW: the master's debursted frame of the selected bursts
        master = tops_steps.frame_master(master, cfg.burst_index)
        log.info("IW %s: bursts %s of the master, debursted frame %d lines x %d samples", master.meta.swath,
                 ",".join(map(str, master.the_frame.bursts)), master.meta.number_of_lines,
                 master.meta.number_of_samples)
    ctx = RunContext(cfg=cfg, out=out, master=master, window=master_window(cfg, master), unit_ram_mb=ram_share_mb)
    log_window(ctx)
    skipped: list[dict[str, str]] = []
    if not only.any:
        _check_signal(master, ctx.window)  # zero-filled (metadata-only) products are refused before any work
        skipped = _skipped_slaves(master, slaves)  # IW: slaves with no burst in common, before any work
        slaves = [s for s in slaves if not any(k["slave"] == s.measurement_name for k in skipped)]
    for name, reason in failed.items():
        log.error("pair %s failed: %s", name, reason)
        executor.mark_failed(out / name, reason)
    if only.master:
        executor.master_work(CHAIN, ctx)
        log.info("master unit done in %.1f s", time.perf_counter() - t_start)
        return {"master_directory": ctx.master_dir.name, "timings_s": ctx.timings}
    if only.pair is not None:
        skip = _slave_skip(master, slaves[0], check_signal=False)
        if skip is not None:  # as the whole run would: the pair is skipped (the report job lists it), exit 0
            return {"pairs": [], "skipped_pairs": [skip], "timings_s": {}}
        executor.restore_master(ctx)
        summary = executor.pair_work(CHAIN, ctx, slaves[0])
        if not summary.ok:
            raise executor.PairsFailedError(f"pair {summary.name} failed: {summary.error}")
        log.info("%s: pair unit done in %.1f s", summary.name, time.perf_counter() - t_start)
        return {"pairs": [summary.name], "timings_s": summary.timings}
    bar = tqdm_bar(len(slaves))

    def on_pair(s: executor.PairSummary, k: int, n: int) -> None:
        bar.update(1)
        state = ("already complete" if s.skipped else "done") if s.ok else f"FAILED: {s.error}"
        log.info("[%d/%d] pair %s %s (%s)", k, n, s.name, state, s.worker)
        if s.ok and not s.skipped:
            log.info("pair %s step timings (s): %s", s.name,
                     ", ".join(f"{key} {v:.1f}" for key, v in s.timings.items()))

    summaries: list[executor.PairSummary] = []
    try:
        if only.report:
            if isinstance(master, tops_steps.FrameAcquisition):  # the slaves the pair jobs skipped
                skipped = [k for k in (_slave_skip(master, s, check_signal=False, warn=False) for s in slaves) if k]
                slaves = [s for s in slaves if not any(k["slave"] == s.measurement_name for k in skipped)]
            summaries = [_summary_on_disk(ctx, s) for s in slaves]
            failed.update({s.name: s.error for s in summaries if not s.ok})
        else:
            _, summaries = executor.run_units(CHAIN, ctx, sel.master, slaves, on_pair)
    except BaseException:
        for d in [ctx.master_dir, *(out / layout.pair_directory(sel.master.date, s.date) for s in slaves)]:
            if d.is_dir() and not any(d.iterdir()):  # no empty product folder is left behind
                d.rmdir()
        raise
    finally:
        bar.close()
    for s in summaries:
        if s.ok and not s.skipped:
            for k, v in s.timings.items():
                ctx.timings[f"pair.{k}"] = round(ctx.timings.get(f"pair.{k}", 0.0) + v, 3)
        elif not s.ok:
            failed[s.name] = s.error
    done = [s.name for s in summaries if s.ok]
    ctx.timings["total"] = round(time.perf_counter() - t_start, 3)
    run = {"software_version": __version__, "parameters": cfg.to_dict(), "window": ctx.window.as_dict(),
           "master": master.image.measurement_name, "master_date": master.date,
           "master_directory": ctx.master_dir.name, "slaves": [s.measurement_name for s in sel.slaves],
           "pairs": done, "skipped_pairs": skipped, "dem": layout.DEM_SCENE, "timings_s": ctx.timings,
           "versions": versions()}
    if failed:
        run["failed_pairs"] = dict(sorted(failed.items()))
    write_json(out / layout.RUN_JSON, run)
    if top:
        write_run_report(out)
    if not only.report:
        remove_leftovers([out, ctx.master_dir, *(out / n for n in done)], started)
    log.info("done in %.1f s: %d pair(s) in %s", ctx.timings["total"], len(done), out)
    if failed and top:
        raise_failures(failed, len(done) + len(failed))
    return run


def _unwrap_merged(cfg: MultiSlcConfig, pair_dir: Path, ram_mb: float) -> None:
    """Unwrap a merged IW pair (``diapsar.unwrap.unwrap_pair``: records ``unwrapping`` in its pair.json); a
    failure is logged and recorded, the run goes on."""
    from ..unwrap import UnwrapOptions, unwrap_pair

    u = cfg.unwrapping
    try:
        unwrap_pair(pair_dir, UnwrapOptions(method=u.method, coherence_threshold=u.coherence_threshold,
                                            reference_lonlat=u.reference_lonlat, tiles=u.tiles, ram_mb=ram_mb))
    except DiapsarError as exc:
        log.warning("%s: not unwrapped: %s", pair_dir.name, exc)
        info = json.loads((pair_dir / layout.PAIR_JSON).read_text(encoding="utf-8"))
        info["unwrapping"] = {"status": "failed", "reason": str(exc)}
        write_json(pair_dir / layout.PAIR_JSON, info)


def _swaths_in_roi(cfg: MultiSlcConfig, swath_list: tuple[str, ...]) -> tuple[str, ...]:
    """The swaths of ``swath_list`` whose master bursts intersect -roi (SelectionError when none does)."""
    from ..bursts import select_bursts_by_region
    from . import swaths

    ulx, uly, lrx, lry = cfg.roi  # type: ignore[misc]
    region = (min(ulx, lrx), min(uly, lry), max(ulx, lrx), max(uly, lry))
    kept, reasons = [], []
    for sw in swath_list:
        sub = swaths.swath_config(cfg, sw)
        master = open_acquisition(select_images(sub).master)
        try:
            select_bursts_by_region(master.meta, region)
            kept.append(sw)
        except SelectionError as exc:
            reasons.append(str(exc))
            log.info("-roi: swath %s skipped (%s)", sw, exc)
        finally:
            master.close()
    if not kept:
        raise SelectionError(f"-roi {list(cfg.roi or ())} misses every selected swath: {'; '.join(reasons)}")
    return tuple(kept)


def raise_failures(failed: dict[str, str], total: int) -> None:
    """The end of a run with failed pairs: each listed in the log, one line on stderr, non-zero exit."""
    for name, reason in sorted(failed.items()):
        log.error("failed pair %s: %s", name, reason)
    listing = "; ".join(f"{n}: {r}" for n, r in sorted(failed.items()))
    raise PairsFailedError(f"{len(failed)} of {total} pair(s) failed (the others are complete): {listing}")


def _summary_on_disk(ctx: RunContext, slave: Any) -> Any:
    """--only-report: a pair's state from its folder (pair.json written and recorded complete; pair_failed.json;
    or not run)."""
    from .executor import PAIR_FAILED, PairSummary

    folder = ctx.out / layout.pair_directory(ctx.master.date, slave.date)
    done = Steps(folder).done.get(pair.name) if folder.is_dir() else None
    if done and (folder / layout.PAIR_JSON).is_file():
        try:
            info = json.loads((folder / layout.PAIR_JSON).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            info = {}
        return PairSummary(folder.name, slave.date, True, skipped=True, timings=info.get("timings_s", {}))
    try:
        reason = json.loads((folder / PAIR_FAILED).read_text(encoding="utf-8"))["reason"]
    except (OSError, ValueError, KeyError):
        reason = "not run (or interrupted): no complete pair.json"
    return PairSummary(folder.name, slave.date, False, error=reason)


def tqdm_bar(total: int) -> Any:
    """Pairs progress: a tqdm bar on a terminal; in batch logs only the plain log lines."""
    import sys

    from tqdm import tqdm

    return tqdm(total=total, desc="pairs", unit="pair", file=sys.stderr, leave=False,
                disable=not sys.stderr.isatty())


def _run_swaths(cfg: MultiSlcConfig, swath_list: tuple[str, ...], t_start: float, started: float,
                only: Only | None = None, n_pairs: int = 0, master_image: Any = None) -> dict[str, Any]:
    """IW with several swaths: the single-swath chain per swath into <out>/<swath>/, then each pair merged
    (``chains.swaths``); a pair failed in any swath is not merged (listed as failed). Batch jobs: --only-master
    runs every swath's master unit, --only-pair DATE that pair in every swath then merges it, --only-report the
    reports, the merged master and run.json (merging again only a pair whose merge did not complete)."""
    from ..io.dem import build_dem_vrt
    from . import swaths

    swaths.check_swaths(swath_list)
    out = Path(cfg.output_path)
    if cfg.roi is not None:  # -roi: only the swaths with a burst in the region
        swath_list = _swaths_in_roi(cfg, swath_list)
        if len(swath_list) == 1:
            log.info("-roi: only swath %s intersects the region", swath_list[0])
            single = dataclasses.replace(cfg, inputs=dataclasses.replace(cfg.inputs, swaths=swath_list))
            return _run_chain(single, only=only)
    log.info("IW swaths %s: each processed into %s/<swath>/, then merged", ",".join(swath_list), out)
    only = only or Only()
    runs = _swath_runs(cfg, swath_list, only, n_pairs, master_image)
    swath_outs = {sw: out / sw for sw in swath_list}
    first = next(iter(runs.values()))
    ram = min(float(cfg.optram_mb), 1024.0)
    if only.master:
        log.info("master unit of swaths %s done in %.1f s", ",".join(swath_list), time.perf_counter() - t_start)
        return {"master_directory": first["master_directory"], "swaths": list(swath_list)}
    if only.pair is not None:  # (a pair failing in one swath raised PairsFailedError there: nothing merged)
        have = {sw: o for sw, o in swath_outs.items() if runs[sw]["pairs"]}  # (the others skipped it)
        if not have:
            log.warning("pair with %s skipped in every swath: nothing to merge", only.pair)
            return {"pairs": [], "swaths": list(swath_list),
                    "skipped_pairs": [k for r in runs.values() for k in r.get("skipped_pairs", [])]}
        name = runs[next(iter(have))]["pairs"][0]
        (out / name / layout.PAIR_JSON).unlink(missing_ok=True)  # the merged pair is complete only when merged
        swaths.merge_pair(out, name, have, ram)
        log.info("pair %s: swaths merged", name)
        if cfg.unwrapping.activate:
            _unwrap_merged(cfg, out / name, ram)
        return {"pairs": [name], "swaths": list(swath_list)}
    failed = {name: f"{sw}: {reason}" for sw, r in runs.items() for name, reason in r.get("failed_pairs", {}).items()}
    pairs = sorted({p for r in runs.values() for p in r["pairs"]} - set(failed))
    t_merge = time.perf_counter()
    import rasterio

    # the merge runs alone: GDAL compresses the merged products' blocks on every core given (same bytes)
    with rasterio.Env(GDAL_NUM_THREADS=str(executor.cores_given())):
        for name in pairs:
            if only.report and (out / name / layout.PAIR_JSON).is_file():
                continue  # merged by its pair job
            swaths.merge_pair(out, name, {sw: o for sw, o in swath_outs.items() if name in runs[sw]["pairs"]}, ram)
            log.info("pair %s: swaths merged", name)
            if cfg.unwrapping.activate:
                _unwrap_merged(cfg, out / name, ram)
                if swaths.ortho_unwrapped_merged(out, name, swath_outs, ram):
                    log.info("pair %s: %s written", name, layout.UNWRAPPED_ORTHO)
        swaths.merge_master(out, first["master_date"], swath_outs, pairs[0] if pairs else None, ram)
    build_dem_vrt([str(o / layout.DEM_SCENE) for o in swath_outs.values()], out / layout.DEM_SCENE)
    timings = {"total": round(time.perf_counter() - t_start, 3), "merge": round(time.perf_counter() - t_merge, 3)}
    timings.update({f"{sw}.{k}": v for sw, r in runs.items() for k, v in r["timings_s"].items()})
    run = {"software_version": __version__, "parameters": cfg.to_dict(), "swaths": list(swath_list),
           "master": {sw: r["master"] for sw, r in runs.items()}, "master_date": first["master_date"],
           "master_directory": layout.master_directory(first["master_date"]),
           "slaves": sorted({s for r in runs.values() for s in r["slaves"]}), "pairs": pairs,
           "dem": layout.DEM_SCENE, "timings_s": timings, "versions": versions(),
           "swath_runs": {sw: str(o.relative_to(out)) for sw, o in swath_outs.items()},
           # a slave skipped in some swath (no burst in common there): the merged pair lacks that swath
           "skipped_pairs": [dict(k, swath=sw) for sw, r in runs.items() for k in r.get("skipped_pairs", [])]}
    if failed:
        run["failed_pairs"] = failed
    write_json(out / layout.RUN_JSON, run)
    with rasterio.Env(GDAL_NUM_THREADS=str(executor.cores_given())):  # (decoding the merged products)
        write_run_report(out)
    remove_leftovers([out, *(out / p for p in pairs)], started)
    log.info("done in %.1f s: %d pair(s), swaths %s in %s", timings["total"], len(pairs), ",".join(swath_list), out)
    if failed:
        raise_failures(failed, len(pairs) + len(failed))
    return run


def _swath_runs(cfg: MultiSlcConfig, swath_list: tuple[str, ...], only: Only, n_pairs: int, master_image: Any
                ) -> dict[str, dict[str, Any]]:
    """Each swath's single-swath chain (``_run_chain`` into <out>/<swath>/): side by side in processes of their
    own when ``executor.swath_plan`` says so (the -ram share and numba threads of each), else one after the
    other. A swath run that raises stops the run with its error, after the other processes ended."""
    from . import swaths

    kind = "inprocess" if only.any else executor.executor_kind(cfg.compute, n_pairs)
    mpix = 0.0
    if cfg.compute.swath_processes == 0 and len(swath_list) > 1 and not only.report:
        acq = open_acquisition(master_image)  # (its annotation only: the size of one swath)
        try:
            mpix = acq.meta.number_of_lines * acq.meta.number_of_samples / 1e6
        finally:
            acq.close()
    n, threads, share = executor.swath_plan(cfg, len(swath_list), kind, only.report, mpix)
    configs = {sw: swaths.swath_config(cfg, sw) for sw in swath_list}
    if n == 1:
        runs = {}
        for sw in swath_list:
            log.info("---- swath %s", sw)
            runs[sw] = _run_chain(configs[sw], top=False, only=only)
        return runs
    log.info("swaths %s side by side: %d processes x %d numba thread(s), -ram %.0f MB each (of %d MB)",
             ",".join(swath_list), n, threads, share, cfg.optram_mb)
    return executor.run_swath_processes(_swath_process, configs, only, n, threads, share)


def _swath_process(cfg: MultiSlcConfig, only: Only, ram_share_mb: float) -> dict[str, Any]:
    """Body of one swath process (``executor.run_swath_processes``): the swath's chain in the run's warning
    filters and GDAL cache share."""
    import warnings

    import rasterio
    from rasterio.errors import NotGeoreferencedWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.Env(GDAL_CACHEMAX=gdal_cache_mb(ram_share_mb), GDAL_NUM_THREADS=executor.gdal_threads()):
            return _run_chain(cfg, top=False, only=only, ram_share_mb=ram_share_mb)


SIGNAL_PROBE_LINES = 32


def _check_signal(acq: Acquisition, window: Window | None = None) -> None:
    """Refuse an image whose pixels are all 0 (metadata-only products with zero-filled TIFFs): up to
    ``SIGNAL_PROBE_LINES`` lines spread over ``window`` (the whole image by default) are read; ProductError when
    every sample read is 0."""
    meta = acq.meta
    if window is None:
        window = Window(0, 0, meta.number_of_lines, meta.number_of_samples)
    lines = np.unique(np.linspace(window.line0, window.line0 + window.n_lines - 1, SIGNAL_PROBE_LINES).round())
    for line in lines.astype(int):
        if np.any(acq.read(Window(int(line), window.sample0, 1, window.n_samples)) != 0):
            return
    where = "image" if window.n_lines == meta.number_of_lines else "processed window"
    raise ProductError(f"{acq.image.product_path.name}: measurement {acq.image.measurement_name} holds no signal "
                       f"(every sample of {lines.size} lines across the {where} is 0): a metadata-only product?")


def _slave_skip(master: Acquisition, image: Any, check_signal: bool = True, warn: bool = True
                ) -> dict[str, str] | None:
    """run.json's ``skipped_pairs`` entry of the slave ``image`` when its pair cannot be processed (IW: no burst in
    common with the master's frame; logged as a warning), else None."""
    slave = open_acquisition(image)
    try:
        if check_signal:
            _check_signal(slave)
        reason = tops_steps.skip_reason(master, slave)
    finally:
        slave.close()
    if not reason:
        return None
    if warn:
        log.warning("%s: pair skipped: %s", image.date, reason)
    return {"slave": image.measurement_name, "slave_date": image.date, "reason": reason}


def _skipped_slaves(master: Acquisition, slaves: list[Any]) -> list[dict[str, str]]:
    """Slaves whose pair cannot be processed (IW: no burst in common with the master's frame), each logged as a
    warning and listed in run.json's ``skipped_pairs``; SelectionError when no slave is left."""
    skipped = [k for k in (_slave_skip(master, s) for s in slaves) if k is not None]
    if skipped and len(skipped) == len(slaves):
        raise SelectionError(f"no pair can be processed: {'; '.join(k['reason'] for k in skipped)}")
    return skipped


# ------------------------------------------------------------------------------------------------ the pair step

def _pair_outputs(ctx: RunContext, unit: Unit) -> list[str]:
    """pair.json and the products it lists (when an earlier run wrote it)."""
    try:
        info = json.loads((unit.folder / layout.PAIR_JSON).read_text(encoding="utf-8"))
        return [layout.PAIR_JSON, *(f for f in info.get("products", {}).values() if f)]
    except (OSError, ValueError):
        return [layout.PAIR_JSON]


def _pair_params(ctx: RunContext, unit: Unit) -> Params:
    """A pair whose products are complete for the same parameters and master products is not redone."""
    m, slave = ctx.master, unit.the_slave()
    params: Params = {"parameters": {k: v for k, v in ctx.cfg.to_dict().items() if k != "source"},
                      "window": ctx.window.as_dict(), "master": m.image.measurement_name,
                      "slave": slave.image.measurement_name, "master_steps": Steps(ctx.master_dir).done}
    if ctx.cfg.unwrapping.activate:  # (absent otherwise: pairs made before unwrapping existed keep resuming)
        params["unwrapping"] = ctx.cfg.sections_dict()["unwrapping"]
    return params


def _pair(ctx: RunContext, unit: Unit) -> Outcome:
    """The pair's steps, then pair.json and the quicklooks."""
    cfg, m, slave = ctx.cfg, ctx.master, unit.the_slave()
    log.info("pair %s: %s x %s", unit.folder.name, m.image.measurement_name, slave.image.measurement_name)
    products = pair_chain(ctx, unit)
    info: dict[str, Any] = {
        "master_date": m.date, "slave_date": slave.date,
        "master": m.image.measurement_name, "slave": slave.image.measurement_name,
        "temporal_baseline_days": round((slave.meta.start_time_s - m.meta.start_time_s) / 86400.0, 4),
        "esd_shift_lines": None,
        "parameters": cfg.to_dict() | {"window": ctx.window.as_dict()},
        "software_version": __version__,
    }
    info.update(pair_baseline(ctx, slave))
    info["products"] = products
    info["grid"] = unit.grid_stats
    if unit.unwrapping is not None:
        info["unwrapping"] = unit.unwrapping
    info["radar_grid"] = radar_grid(ctx)
    if isinstance(ctx.master, tops_steps.FrameAcquisition):
        stats = dict(unit.grid_stats)
        info["bursts"] = stats.pop("bursts", [])
        info["missing_master_bursts"] = stats.pop("missing_master_bursts", [])
        info["esd"] = stats.pop("esd", {})
        info["esd_shift_lines"] = info["esd"].get("shift_lines")
        info["grid"] = {k: v for k, v in stats.items() if k != "matches"}
    info["timings_s"] = unit.timings
    write_json(unit.folder / layout.PAIR_JSON, info)
    # quicklooks need pair.json's product names: written after, pair.json updated (a swath of a multi-swath run:
    # those of the merged pair only)
    if products["interferogram"] and not cfg.swath_part:
        try:
            from ..report import write_pair_quicklooks

            t0 = time.perf_counter()
            info["quicklooks"] = write_pair_quicklooks(
                unit.folder, unit.folder / products["interferogram"], ml=(1, 1),
                ortho_path=(unit.folder / products["ortho"]) if products["ortho"] else None,
                ram_mb=min(ctx.ram_mb, 512))
            unit.timings["quicklooks"] = round(time.perf_counter() - t0, 3)
            write_json(unit.folder / layout.PAIR_JSON, info)
        except ImportError:
            log.info("quicklooks skipped (diapsar.report not available)")
    return Outcome(f"pair {unit.folder.name} done")


pair = Step("pair", _pair, _pair_outputs, _pair_params, title="pair", done_message="already complete")


CHAIN = ChainSteps(master_chain, pair)  # what the executor's units run


def radar_grid(ctx: RunContext) -> dict[str, Any]:
    """The output raster grid in radar terms, for any tool to map a pixel to radar time without diapsar.

    Output pixel (i, j) averages full-resolution lines [i ml_azimuth, (i+1) ml_azimuth) and samples
    [j ml_range, (j+1) ml_range); line k has the image line time first_azimuth_time + k azimuth_time_interval_s
    (for IW within each segment: a segment's lines are one master burst's, from its ``first_line`` on, with its
    own ``first_azimuth_time``); sample k has the two-way range time first_slant_range_time_s + k /
    range_sampling_rate_hz. ESA's convention: the zero-Doppler time of the target at (line, range time tau) is the
    line time + (tau - bistatic_reference_range_time_s) / 2 (when that reference is given)."""
    from ..geometry import RadarGrid
    from ..timeutil import seconds_to_iso

    win, meta = ctx.window, ctx.master.meta
    grid = RadarGrid.from_metadata(meta)
    out: dict[str, Any] = {
        "first_azimuth_time": seconds_to_iso(float(grid.line_to_time(win.line0)), 6) + "Z",
        "azimuth_time_interval_s": meta.azimuth_time_interval_s,
        "first_slant_range_time_s": meta.slant_range_time_s + win.sample0 / meta.range_sampling_rate_hz,
        "range_sampling_rate_hz": meta.range_sampling_rate_hz,
        "ml_range": win.ml_ran, "ml_azimuth": win.ml_azi, "lines": win.n_lines, "samples": win.n_samples,
        "bistatic_reference_range_time_s": grid.bistatic_reference_range_time_s,
    }
    if isinstance(ctx.master, tops_steps.FrameAcquisition):
        segs = []
        for seg in ctx.master.the_frame.segments:
            a, b = max(seg.frame_line0, win.line0), min(seg.frame_line1, win.line0 + win.n_lines)
            if b > a:
                segs.append({"first_line": a - win.line0, "lines": b - a, "master_burst": seg.burst,
                             "first_azimuth_time": seconds_to_iso(float(grid.line_to_time(a)), 6) + "Z"})
        out["segments"] = segs
    return out


# ------------------------------------------------------------------------------------------------ run helpers

def run_chain(cfg: MultiSlcConfig, only: Only | None = None) -> dict[str, Any]:
    """Run the whole chain; returns run.json's content. Raises DiapsarError subclasses on bad input."""
    import warnings

    import rasterio
    from rasterio.errors import NotGeoreferencedWarning

    with warnings.catch_warnings():
        # SAR-geometry products carry GCPs, not a geotransform: GDAL's warning about it is expected
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        try:
            with rasterio.Env(GDAL_CACHEMAX=gdal_cache_mb(cfg.optram_mb), GDAL_NUM_THREADS=executor.gdal_threads()):
                return _run_chain(cfg, only=only)
        except Exception as exc:
            file_log_only(f"stopped: {type(exc).__name__}: {exc}")
            raise


def remove_intermediates(folder: Path, names: list[str]) -> None:
    for n in names:
        p = folder / n
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        elif p.exists():
            p.unlink()


__all__ = ["run_chain", "master_chain", "pair_chain", "pair", "Only"]
