"""Inputs of pair steps read from earlier pair products (shared by the StripMap and IW pair steps)."""

from __future__ import annotations

import numpy as np

from .. import layout
from ..io.raster import read_raster
from .context import RunContext, Unit


def topo_phase_ml_rows(ctx: RunContext, unit: Unit, line0: int, line1: int) -> tuple[np.ndarray, int]:
    """The ML rows of the pair's topographic phase that ``topo_phase_rows`` upsamples for master window lines
    [line0, line1), and the first of them (``interferogram``'s ``topo_phase_ml``)."""
    from ..topographic_phase import ml_rows_for_lines

    win = ctx.window
    r0, r1 = ml_rows_for_lines(line0, line1, win.ml_azi, win.ml_shape[0])
    return read_raster(unit.folder / layout.TOPO, 1, rows=(r0, r1)), r0


def topo_phase_rows(ctx: RunContext, unit: Unit, line0: int, line1: int) -> np.ndarray:
    """Full-resolution topographic phase of master window lines [line0, line1), from the pair's ML product."""
    from ..topographic_phase import ml_rows_for_lines, upsample_phase

    win = ctx.window
    r0, r1 = ml_rows_for_lines(line0, line1, win.ml_azi, win.ml_shape[0])
    return np.asarray(upsample_phase(read_raster(unit.folder / layout.TOPO, 1, rows=(r0, r1)), r0, line0,
                                     line1 - line0, win.n_samples, win.ml_azi, win.ml_ran))
