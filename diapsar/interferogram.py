"""SARInterferogram and SARCompensatedComplex: multilooked interferogram bands from master and coregistered
slave.

Conventions:
- Complex interferogram I = Σ_w M·conj(S)·exp(−jφ_topo) over the window w of each ML cell; the window is
  the ML cell (lines [i·ml_azimuth, (i+1)·ml_azimuth), columns [j·ml_range, (j+1)·ml_range)) grown by
  ``margin_azimuth`` lines and ``margin_range`` columns on each side (overlapping windows, clipped at the
  image edges). φ_topo (radians) is what the topographic phase module gives for the slave − master path
  difference so that the compensated phase is flat on flat terrain (diapotb.md §4.1, inferred sign).
- band 1 amplitude = gain·sqrt(sqrt(Σ|M|²·Σ|S|²)/n) (geometric mean of the two ML amplitudes; DiapOTB's
  exact form is unverified), band 2 phase = arg I in (−π, π], band 3 coherence =
  |I|/sqrt(Σ|M|²·Σ|S|²), band 4 isData.
- Validity: a pixel counts when M ≠ 0, S ≠ 0 (0 = no data, as the coregistration writes outside the slave)
  and φ_topo is finite. A cell is data (isData = 1) when at least ``min_valid_fraction`` of its (clipped)
  window is valid and ``valid_ml`` (e.g. the cartesian-mean isData) is set; elsewhere every band is 0.
- Output size ⌊Na/ml_azimuth⌋ × ⌊Nr/ml_range⌋, float32 (4, rows, cols).

Streaming: :func:`strip_lines` gives the SLC lines [l0, l1) needed for ML rows [r0, r1); pass that strip
with ``line0 = l0`` and ``ml_rows=(r0, r1)``.
"""

from __future__ import annotations

import numpy as np

from diapsar.kernels.windows import interferogram_row_cells, sum_row_windows
from diapsar.multilook import check_factors

BANDS = ("amplitude", "phase", "coherence", "isData")


def strip_lines(ml_row0: int, ml_row1: int, ml_azimuth: int, margin_azimuth: int, n_lines: int) -> tuple[int, int]:
    """SLC lines [l0, l1) read to produce ML rows [ml_row0, ml_row1) (window margins included, clipped)."""
    return (max(0, ml_row0 * ml_azimuth - margin_azimuth),
            min(n_lines, ml_row1 * ml_azimuth + margin_azimuth))


def interferogram(master: np.ndarray, slave: np.ndarray, topo_phase: np.ndarray | None, ml_range: int,
                  ml_azimuth: int, margin_range: int = 1, margin_azimuth: int = 1, gain: float = 0.1,
                  valid_ml: np.ndarray | None = None, line0: int = 0, n_lines: int | None = None,
                  ml_rows: tuple[int, int] | None = None, min_valid_fraction: float = 0.5,
                  return_complex: bool = False, topo_phase_ml: tuple[np.ndarray, int] | None = None):
    """SARInterferogram bands (4, rows, cols) float32 for a strip; see the module docstring.

    master, slave: complex strips holding SLC lines [line0, line0 + len) (slave already coregistered);
    topo_phase: full-resolution φ_topo of the same strip in radians, or None (no compensation; see
    :func:`upsample_ml_phase` for an ML-grid phase). n_lines: full image height (default: strip end).
    ml_rows: ML rows to produce (default: every ML row whose cell starts inside the strip). valid_ml: bool
    or 0/1 mask on those ML rows. With ``return_complex`` also returns the complex sum I (complex64), the
    input of :func:`diapsar.filtering.goldstein`. ``topo_phase_ml`` = (φ on the ML grid of these ML factors,
    its first ML row), instead of ``topo_phase``: the full-resolution φ of
    :func:`diapsar.topographic_phase.upsample_phase` is then computed row by row inside the cell sums (the
    same values, no full-resolution array).
    """
    check_factors(ml_range, ml_azimuth)
    if master.shape != slave.shape:
        raise ValueError(f"master {master.shape} and slave {slave.shape} strips differ in shape")
    if topo_phase is not None and topo_phase.shape != master.shape:
        raise ValueError(f"topographic phase {topo_phase.shape} differs from the strip {master.shape}")
    n_strip, n_cols = master.shape
    if n_lines is None:
        n_lines = line0 + n_strip
    if ml_rows is None:
        ml_rows = (-(-line0 // ml_azimuth), (line0 + n_strip) // ml_azimuth)
    r0, r1 = ml_rows
    need0, need1 = strip_lines(r0, r1, ml_azimuth, margin_azimuth, n_lines)
    if r1 > r0 and (need0 < line0 or need1 > line0 + n_strip):
        raise ValueError(f"ML rows [{r0}, {r1}) need SLC lines [{need0}, {need1}) but the strip holds "
                         f"[{line0}, {line0 + n_strip})")
    n_cells = n_cols // ml_range
    if topo_phase_ml is not None:
        if topo_phase is not None:
            raise ValueError("give topo_phase or topo_phase_ml, not both")
        ifg, pm, ps, nv, nt = interferogram_row_cells(
            np.ascontiguousarray(master), np.ascontiguousarray(slave),
            np.ascontiguousarray(topo_phase_ml[0], dtype=np.float64), True, int(ml_range), int(margin_range),
            n_cells, True, int(topo_phase_ml[1]), int(line0), int(ml_azimuth), int(ml_range))
    else:
        phase = np.zeros((1, 1), np.float32) if topo_phase is None else np.ascontiguousarray(topo_phase)
        ifg, pm, ps, nv, nt = interferogram_row_cells(np.ascontiguousarray(master), np.ascontiguousarray(slave),
                                                      phase, topo_phase is not None, int(ml_range),
                                                      int(margin_range), n_cells)
    rows = np.arange(r0, r1)
    starts = np.maximum(rows * ml_azimuth - margin_azimuth, 0) - line0
    stops = np.minimum((rows + 1) * ml_azimuth + margin_azimuth, n_lines) - line0
    starts = starts.astype(np.int64)
    stops = stops.astype(np.int64)
    i_sum = sum_row_windows(ifg, starts, stops)
    pm_sum = sum_row_windows(pm, starts, stops)
    ps_sum = sum_row_windows(ps, starts, stops)
    nv_sum = sum_row_windows(nv, starts, stops)
    nt_sum = sum_row_windows(nt, starts, stops)
    power = pm_sum * ps_sum
    is_data = (nv_sum >= min_valid_fraction * nt_sum) & (nv_sum > 0) & (power > 0)
    if valid_ml is not None:
        vm = np.asarray(valid_ml)
        if vm.shape != is_data.shape:
            raise ValueError(f"valid_ml must have shape {is_data.shape} (ML rows × cells), got {vm.shape}")
        is_data &= vm.astype(bool)
    safe_power = np.where(is_data, power, 1.0)
    out = np.zeros((4,) + is_data.shape, dtype=np.float32)
    out[0] = np.where(is_data, gain * np.sqrt(np.sqrt(safe_power) / np.maximum(nv_sum, 1.0)), 0.0)
    out[1] = np.where(is_data, np.angle(i_sum), 0.0)
    out[2] = np.where(is_data, np.abs(i_sum) / np.sqrt(safe_power), 0.0)
    out[3] = is_data
    # arg of a sum landing exactly on −π is returned as +π so the phase lies in (−π, π]
    out[1][out[1] <= -np.float32(np.pi)] = np.float32(np.pi)
    if return_complex:
        return out, np.where(is_data, i_sum, 0).astype(np.complex64)
    return out


def compensated_complex(master: np.ndarray, slave: np.ndarray, topo_phase: np.ndarray | None) -> np.ndarray:
    """SARCompensatedComplex: full-resolution M·conj(S)·exp(−jφ_topo) (complex64; 0 where M or S is 0 or
    φ_topo is not finite)."""
    m = np.asarray(master)
    s = np.asarray(slave)
    out = m.astype(np.complex64) * np.conj(s.astype(np.complex64))
    if topo_phase is not None:
        ph = np.asarray(topo_phase, dtype=np.float64)
        ok = np.isfinite(ph)
        out *= np.exp(-1j * np.where(ok, ph, 0.0)).astype(np.complex64)
        out[~ok] = 0
    return out


def upsample_ml_phase(phase_ml: np.ndarray, ml_range: int, ml_azimuth: int, n_lines: int, n_cols: int,
                      line0: int = 0, wrapped: bool = False) -> np.ndarray:
    """Full-resolution phase (lines [line0, line0 + n_lines), columns [0, n_cols)) from an ML-grid phase.

    ML pixel (i, j) is taken at SLC coordinate (i·ml_azimuth + (ml_azimuth − 1)/2, j·ml_range +
    (ml_range − 1)/2); values in between are bilinear, beyond the outer centres held constant. ``phase_ml``
    must cover the ML rows around the strip (whole ML image, rows indexed from 0). ``wrapped``: interpolate
    exp(jφ) instead of φ (for phases given modulo 2π). NaN propagates (no data).
    """
    pm = np.asarray(phase_ml, dtype=np.float64)
    ya = (np.arange(line0, line0 + n_lines) - (ml_azimuth - 1) / 2) / ml_azimuth
    xr = (np.arange(n_cols) - (ml_range - 1) / 2) / ml_range

    def axis(u: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        u = np.clip(u, 0, n - 1)
        k = np.minimum(np.floor(u).astype(np.int64), max(n - 2, 0))
        return k, u - k

    ka, ta = axis(ya, pm.shape[0])
    kr, tr = axis(xr, pm.shape[1])
    ka1 = np.minimum(ka + 1, pm.shape[0] - 1)
    kr1 = np.minimum(kr + 1, pm.shape[1] - 1)
    v = np.exp(1j * pm) if wrapped else pm
    top = v[ka][:, kr] * (1 - tr) + v[ka][:, kr1] * tr
    bot = v[ka1][:, kr] * (1 - tr) + v[ka1][:, kr1] * tr
    res = top * (1 - ta)[:, None] + bot * ta[:, None]
    return (np.angle(res) if wrapped else res).astype(np.float32)
