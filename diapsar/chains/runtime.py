"""Run-level helpers of the chains: input selection and checks, log lines, baseline of a pair, report, clean-up
of what interrupted runs left behind, versions."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__, layout
from ..config import MultiSlcConfig
from ..errors import SelectionError
from ..geometry import ecef_to_llh
from ..io import stack
from ..io.atomic import remove_stale_temporaries
from ..log import get_logger
from .context import Acquisition, RunContext

log = get_logger("multislc")


def select_images(cfg: MultiSlcConfig) -> stack.Selection:
    if cfg.inputs.mode not in ("SM", "IW"):
        raise SelectionError(f"Global.in.Mode {cfg.inputs.mode}: SAR_MultiSlc.py processes StripMap (SM) and "
                             "IW stacks")
    return stack.select(stack.scan(cfg.inputs.input_path), mode=cfg.inputs.mode,
                        polarisation=cfg.inputs.polarisation, swath=cfg.inputs.swath,
                        start_date=cfg.inputs.start_date, end_date=cfg.inputs.end_date, exclude=cfg.inputs.exclude,
                        master=cfg.inputs.master_image, input_path=str(cfg.inputs.input_path))


def log_window(ctx: RunContext) -> None:
    cfg, win = ctx.cfg, ctx.window
    if cfg.burst_index is not None and not ctx.master.meta.is_tops:
        b = cfg.burst_index
        log.warning("burst_index / -b %s selects IW bursts: ignored for this StripMap stack",
                    "-".join(map(str, b)) if isinstance(b, (list, tuple)) else b)
    log.info("window: lines %d..%d, samples %d..%d; ML %dx%d -> %dx%d", win.line0, win.line0 + win.n_lines - 1,
             win.sample0, win.sample0 + win.n_samples - 1, cfg.ml_ran, cfg.ml_azi, win.ml_shape[1], win.ml_shape[0])


def pair_baseline(ctx: RunContext, slave: Acquisition) -> dict[str, Any]:
    """Perpendicular/parallel baseline and height of ambiguity at the window centre (diapsar.baseline)."""
    from ..baseline import baseline_at_point
    from ..dem_projection import ground_points

    win, m = ctx.window, ctx.master
    line = win.line0 + win.n_lines / 2.0
    pixel = win.sample0 + win.n_samples / 2.0
    p = ground_points(m.meta, m.orbit, ctx.scene_dem, np.array([line]), np.array([pixel]))[0]
    lat, lon, h = ecef_to_llh(p)
    r = baseline_at_point(m.orbit, slave.orbit, float(lat), float(lon), float(h), m.meta.wavelength_m)
    hoa = r["height_of_ambiguity_m"]
    return {"perpendicular_baseline_m": round(r["perpendicular_m"], 3), "parallel_baseline_m": round(r["parallel_m"], 3),
            "height_of_ambiguity_m": None if hoa is None else round(hoa, 2),
            "incidence_angle_deg": round(r["incidence_deg"], 4),
            "baseline_point_lat_lon_h": [round(float(lat), 6), round(float(lon), 6), round(float(h), 2)]}


def write_run_report(out: Path) -> None:
    try:
        from ..report import write_report

        write_report(out)
    except ImportError:
        log.info("HTML report skipped (diapsar.report not available)")


def remove_leftovers(folders: list[Path], started: float) -> None:
    """After a successful run: temporaries of interrupted earlier runs in the folders this run owns.

    Rule (never a temporary of a run going on beside this one): an ``atomic_path`` temporary
    (``.<name>.<8 hex>.part``) is removed when it was last modified before this run started; a scene-DEM
    scratch folder (``.dem_scene.<pid>.tmp``) when no process with that PID is alive."""
    for d in folders:
        for p in remove_stale_temporaries(d, older_than=started):
            log.info("removed %s (left by an interrupted run)", p)
    out = folders[0]
    for p in out.glob(f"{layout.DEM_SCRATCH_PREFIX}*{layout.DEM_SCRATCH_SUFFIX}"):
        pid = p.name[len(layout.DEM_SCRATCH_PREFIX):-len(layout.DEM_SCRATCH_SUFFIX)]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(p, ignore_errors=True)
            log.info("removed %s (left by an interrupted run)", p)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def file_log_only(message: str) -> None:
    """Write a line to info.log only (the command line prints the error itself on stderr)."""
    for h in logging.getLogger("diapsar").handlers:
        if isinstance(h, logging.FileHandler):
            h.emit(logging.LogRecord("diapsar.multislc", logging.ERROR, __file__, 0, message, None, None))


def versions() -> dict[str, str]:
    import numba
    import rasterio

    return {"diapsar": __version__, "numpy": np.__version__, "numba": numba.__version__,
            "rasterio": rasterio.__version__, "gdal": rasterio.__gdal_version__}
