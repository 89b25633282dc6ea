"""Truth of a simulated pair on the master grid: offsets, topographic and deformation phase, coherence.

For each master pixel the slave pixel seeing the same ground point is found by inverting the slave's
SAR -> ground map (``physics.invert``) at the ground points of the master's own SAR -> ground map
(``rdr2geo_dem``), exactly on a node grid, then interpolated by cubic convolution (tests check the
interpolation error against exact inversions at random pixels).

Bands of ``truth/<M>_<S>_<swath>_truth.tif`` (float32, master SAR geometry, NaN where undefined; float32
keeps offsets to 1e-5 pixel and phases of up to 16000 rad to 1e-3 rad):

1. ``range_offset_px``: slave pixel - master pixel
2. ``azimuth_offset_px``: slave line - master line (the true position of the data; it includes the simulated
   timing errors, so an annotation-only prediction equals this + ``timing_error_lines`` of the pair, which is
   the slave's error minus the master's)
3. ``topographic_phase_rad``: 4 pi / lambda (R_slave - R_master) (flat earth included, unwrapped) — the
   phase of master x conj(slave) due to geometry
4. ``deformation_phase_rad``: -4 pi / lambda (d_slave - d_master), d = LOS displacement positive towards the
   satellite
5. ``los_displacement_mm``: d_slave - d_master in mm (positive = towards the satellite, range shortening)
6. ``coherence``: expected coherence including thermal noise, gamma * P / (P + N) with P the local signal
   power and N the noise power
7. ``coherence_signal``: the requested coherence field gamma (no noise)

So arg(master x conj(slave resampled)) = topographic_phase_rad + deformation_phase_rad (+ noise).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from ..io.atomic import atomic_path
from .acquisition import Acquisition
from .physics import Context, interp_nodes, invert, los_displacement_m, node_grid

BANDS = ("range_offset_px", "azimuth_offset_px", "topographic_phase_rad", "deformation_phase_rad",
         "los_displacement_mm", "coherence", "coherence_signal")
UNITS = {"range_offset_px": "pixel", "azimuth_offset_px": "line", "topographic_phase_rad": "rad",
         "deformation_phase_rad": "rad", "los_displacement_mm": "mm", "coherence": "1", "coherence_signal": "1"}


def slave_position(master: Acquisition, slave: Acquisition, lat, lon, h, t_m, tau_m, burst: int | None):
    """(line, pixel, t_true, tau) of the slave seeing the ground points (given with their master times)."""
    dt0 = slave.meta.first_line_time_s - master.meta.first_line_time_s
    t_s, tau_s = invert(slave, lat, lon, h, t_m + dt0, tau_m)
    sm = slave.meta
    t_line = t_s - slave.bistatic_s(tau_s) - slave.timing_error_s  # annotated time of the slave line
    if burst is None:
        line = (t_line - sm.first_line_time_s) / sm.azimuth_time_interval_s
    else:
        b = sm.bursts[burst]
        line = burst * sm.lines_per_burst + (t_line - b.azimuth_time_s) / sm.azimuth_time_interval_s
    return line, sm.range_time_to_sample(tau_s), t_s, tau_s


def pair_truth(ctx: Context, master: Acquisition, slave: Acquisition) -> dict[str, np.ndarray]:
    """The truth bands (full master grid) of the pair master x conj(slave)."""
    m = master.meta
    out = {k: np.full((m.number_of_lines, m.number_of_samples), np.nan, dtype=np.float32) for k in BANDS}
    parts = [None] if not m.is_tops else list(range(len(m.bursts)))
    lam = m.wavelength_m
    noise_power = 10.0 ** (-ctx.snr_db / 10.0)
    for burst in parts:
        g = node_grid(master, ctx.dem, ctx.node_step, burst)
        line_s, pix_s, t_s, tau_s = slave_position(master, slave, g.lat, g.lon, g.h, g.t, g.tau, burst)
        base = 0 if burst is None else burst * m.lines_per_burst
        line_m = g.lines[:, None] + base
        pix_m = g.samples[None, :]
        d_m = los_displacement_m(master, ctx.scene, g.lat, g.lon, g.h, g.t, master.days_since_first)
        d_s = los_displacement_m(slave, ctx.scene, g.lat, g.lon, g.h, t_s, slave.days_since_first)
        nodes = {
            "range_offset_px": pix_s - pix_m,
            "azimuth_offset_px": line_s - line_m,
            "topographic_phase_rad": 2.0 * np.pi * m.radar_frequency_hz * (tau_s - g.tau),
            "deformation_phase_rad": -4.0 * np.pi / lam * (d_s - d_m),
            "los_displacement_mm": (d_s - d_m) * 1e3,
        }
        ge, gn = ctx.scene.frame.to_en(g.lat, g.lon)
        nodes["e"] = ge
        nodes["n"] = gn
        n_rows = m.lines_per_burst if burst is not None else m.number_of_lines
        rows = np.arange(n_rows, dtype=np.float64)
        cols = np.arange(m.number_of_samples, dtype=np.float64)
        vals = {k: interp_nodes(g, v, rows, cols) for k, v in nodes.items()}
        e, n = vals.pop("e"), vals.pop("n")
        gam = ctx.scene.coherence(e, n)
        p = ctx.scene.amplitude(e, n) ** 2
        vals["coherence_signal"] = gam
        vals["coherence"] = gam * p / (p + noise_power)
        for k, v in vals.items():
            out[k][base:base + n_rows] = v
        del vals
    return out


def write_truth_tif(path: Path, bands: dict[str, np.ndarray], tags: dict) -> Path:
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning

    first = bands[BANDS[0]]
    profile = dict(driver="GTiff", width=first.shape[1], height=first.shape[0], count=len(BANDS),
                   dtype="float32", tiled=True, blockxsize=256, blockysize=256, compress="deflate",
                   zlevel=1, predictor=3, nodata=float("nan"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with atomic_path(path) as tmp:
            with rasterio.open(tmp, "w", **profile) as dst:
                for i, name in enumerate(BANDS, start=1):
                    dst.write(bands[name].astype(np.float32, copy=False), i)
                    dst.set_band_description(i, name)
                    dst.update_tags(i, UNITS=UNITS[name])
                dst.update_tags(**{k: str(v) for k, v in tags.items()})
    return path
