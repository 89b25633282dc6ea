"""Real-geometry simulation: pixels for a window of real IW products, keeping their orbits, timing, burst
layout, Doppler-centroid and FM-rate polynomials.

Each given SAFE becomes one date. The window is bursts FIRST..LAST and samples FIRST..FIRST+COUNT-1 of the
first product (the master); later products use the bursts with the same burst IDs and the samples at the same
slant range. With ``dates`` larger than the number of products, the extra dates are copies of the master
geometry 12 days later on an orbit moved by a perpendicular baseline.
The ground is the synthetic scene (volcano, coast, deformation) centred on the window.

Pixels follow ESA's bistatic azimuth convention with the real product's own reference range time: the pixel
at (line, tau) sees the ground point whose zero-Doppler time is the line time + (tau - tau_ref) / 2, tau_ref
fitted by ``RadarGrid`` on each real annotation (the IW2 mid-range time); copies of the master moved to later
dates keep the master's. So the real ESA grid points inside the window agree with the simulated product's
geometry (tests: < 0.01 line). The geolocation grid of each written annotation is still recomputed
(``render``) in ESA's layout (one row per burst start and the last line, 21 columns) and convention, on the
real orbit and the simulation's DEM: the cropped real grid (``io.crop.window_metadata``) would be just as
consistent in time, but it holds only the few real columns around the window and heights of ESA's terrain,
not of the simulated ground the pixels show (GCPs, footprint).
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

import numpy as np

from ..errors import ConfigError, SelectionError
from ..geometry import RadarGrid, llh_to_ecef, rdr2geo
from ..io.crop import window_metadata
from ..io.safe import open_product
from ..metadata import StateVectors, SwathMetadata, TimePolynomial
from ..orbit import Orbit
from .acquisition import Acquisition
from .api import DEFAULT_BASELINES_M, SimulationResult, ground_spacings, perpendicular_unit, render
from .writer import heading_deg


def _shifted(meta: SwathMetadata, dt: float, offset_m: np.ndarray, orbits_later: int) -> SwathMetadata:
    """The same acquisition ``dt`` seconds later on an orbit translated by ``offset_m`` (ECEF)."""
    sv = meta.orbit
    orbit = StateVectors(sv.time_s + dt, sv.position_m + offset_m[None, :], sv.velocity_m_s.copy(),
                         source="simulated")
    bursts = [dataclasses.replace(b, azimuth_time_s=b.azimuth_time_s + dt, sensing_time_s=b.sensing_time_s + dt)
              for b in meta.bursts]
    poly = [TimePolynomial(p.azimuth_time_s + dt, p.t0_s, p.coefficients.copy()) for p in meta.dc_estimates]
    fm = [TimePolynomial(p.azimuth_time_s + dt, p.t0_s, p.coefficients.copy()) for p in meta.fm_rates]
    return dataclasses.replace(
        meta, orbit=orbit, bursts=bursts, dc_estimates=poly, fm_rates=fm,
        start_time_s=meta.start_time_s + dt, stop_time_s=meta.stop_time_s + dt,
        first_line_time_s=meta.first_line_time_s + dt, last_line_time_s=meta.last_line_time_s + dt,
        ascending_node_time_s=meta.ascending_node_time_s + dt, absolute_orbit=meta.absolute_orbit + orbits_later,
        mission_data_take_id=meta.mission_data_take_id + 1 + orbits_later)


def simulate_from_safe(out_dir, safe, swath: str, bursts: tuple[int, int], samples: tuple[int, int],
                       dates: int | None = None, seed: int = 0, timing_error_lines=None,
                       coherence=(0.2, 1.0), deformation_mm: float = 28.0, snr_db: float = 20.0,
                       n_targets: int = 5, node_step: int = 16, polarisation: str = "VV", baselines_m=None,
                       truth_master: int = 0, dem_file=None, log=None) -> SimulationResult:
    """Simulate pixels on the geometry of real IW product(s) ``safe`` (one path or a list, date order).

    ``swath`` may be a comma list (``IW1,IW2``): every swath takes the bursts of the same burst IDs as the first
    swath's bursts FIRST..LAST and the COUNT samples starting at the slant range of the first swath's sample FIRST
    (so the windows of neighbouring swaths overlap in range when that slant range lies in their overlap)."""
    t_start = time.time()
    say = log or (lambda msg: None)
    paths = [safe] if isinstance(safe, (str, Path)) else list(safe)
    if not paths:
        raise ConfigError("simulate: --from-safe needs at least one product")
    names = [n.strip() for n in str(swath).upper().split(",") if n.strip()]
    if not names or len(set(names)) != len(names):
        raise ConfigError(f"simulate: bad swath list {swath!r}")
    s_first, count = (int(v) for v in samples)
    if count < 32:
        raise ConfigError(f"simulate: --samples COUNT must be at least 32, got {count}")
    acqs: list[Acquisition] = []
    design: dict = {}
    extra: dict = {}
    cycle = math.nan
    name0 = ""
    ids: list | None = None
    tau_first = None
    for sw in names:
        sw_acqs, sw_design, sw_extra, sw_cycle, sw_ids, sw_tau = _window_acquisitions(
            paths, sw, bursts, s_first, count, ids, tau_first, dates, timing_error_lines, baselines_m,
            polarisation, say)
        acqs += sw_acqs
        if ids is None:
            design, extra, cycle, ids, tau_first = sw_design, sw_extra, sw_cycle, sw_ids, sw_tau
            name0 = extra["real_geometry"]["products"][0]
        extra["real_geometry"].setdefault("windows", {})[sw] = sw_extra["real_geometry"]["samples"]
    extra["real_geometry"]["swath"] = ",".join(names)
    say(f"real geometry of {name0} {','.join(names)}: bursts {bursts[0]}-{bursts[1]}, "
        f"{len({a.index for a in acqs})} dates")
    return render(Path(out_dir), acqs, design, seed=int(seed), mode="iw", beam=",".join(names),
                  coherence=coherence, deformation_mm=deformation_mm, snr_db=snr_db, doppler_hz=0.0,
                  n_targets=n_targets, node_step=node_step, burst_cycle_s=cycle, say=say, t_start=t_start,
                  extra_json=extra, truth_master=truth_master, dem_file=dem_file)


def _window_acquisitions(paths, swath: str, bursts, s_first: int, count: int, ids, tau_first, dates,
                         timing_error_lines, baselines_m, polarisation: str, say):
    """Acquisitions of one swath's window (every date), the scene design, extra json, burst cycle, burst IDs and
    the window's first slant range time. With ``ids`` given (a later swath), the window takes the bursts of those
    IDs and starts at slant range time ``tau_first`` instead of burst range ``bursts`` and sample ``s_first``."""
    first_b, last_b = (int(v) for v in bursts)
    metas = []
    for p in paths:
        prod = open_product(p)
        if swath not in prod.swaths:
            raise SelectionError(f"{Path(p).name} has no swath {swath} (it has {', '.join(prod.swaths)})")
        metas.append((Path(p).name, prod.swath(swath, polarisation)))
    name0, m0 = metas[0]
    if not m0.is_tops:
        what = "has no burst list" if m0.mode in ("IW", "EW") else f"is a {m0.mode} image, not TOPS (IW/EW)"
        raise ConfigError(f"simulate: {name0} {swath} {what}")
    nb = len(m0.bursts)
    if ids is not None:
        idx0 = {b.burst_id: i for i, b in enumerate(m0.bursts)}
        if any(i not in idx0 for i in ids):
            raise SelectionError(f"simulate: {name0} {swath} lacks burst IDs {[i for i in ids if i not in idx0]}")
        first_b, last_b = idx0[ids[0]], idx0[ids[0]] + len(ids) - 1
        s_first = int(round((tau_first - m0.slant_range_time_s) * m0.range_sampling_rate_hz))
    if not (0 <= first_b <= last_b < nb):
        raise SelectionError(f"simulate: bursts {first_b}-{last_b} outside {name0} {swath} (bursts 0-{nb - 1})")
    if s_first < 0 or s_first + count > m0.number_of_samples:
        raise SelectionError(f"simulate: samples {s_first}..{s_first + count - 1} outside {name0} {swath} "
                             f"(0..{m0.number_of_samples - 1})")
    n_dates = int(dates) if dates else len(metas)
    if n_dates < 1:
        raise ConfigError(f"simulate: dates must be at least 1, got {dates}")
    errors = list(timing_error_lines) if timing_error_lines is not None else \
        [0.02 if k == 1 else 0.0 for k in range(n_dates)]
    errors += [0.0] * (n_dates - len(errors))
    baselines = list(baselines_m) if baselines_m is not None else \
        [DEFAULT_BASELINES_M[k % len(DEFAULT_BASELINES_M)] for k in range(n_dates)]

    def bistatic_reference(m: SwathMetadata, w: SwathMetadata) -> float:
        """tau_ref fitted on the real annotation (its whole grid); the window's mid-range if none fits."""
        ref = RadarGrid.from_metadata(m).bistatic_reference_range_time_s
        return float(ref) if ref is not None else float(w.sample_to_range_time(0.5 * (w.number_of_samples - 1)))

    L = m0.lines_per_burst
    w0 = window_metadata(m0, first_b * L, s_first, (last_b - first_b + 1) * L, count)
    ids = [m0.bursts[i].burst_id for i in range(first_b, last_b + 1)]
    fs = m0.range_sampling_rate_hz
    acqs: list[Acquisition] = []
    for k, (name, m) in enumerate(metas[:n_dates]):
        if k == 0:
            w = w0
        else:
            if m.swath != m0.swath or abs(m.range_sampling_rate_hz - fs) > 1e-3 * fs:
                raise SelectionError(f"{name} {swath}: sampling differs from {name0}")
            idx = {b.burst_id: i for i, b in enumerate(m.bursts)}
            missing = [i for i in ids if i not in idx]
            if missing:
                raise SelectionError(f"{name} {swath} lacks burst IDs {missing} of {name0} bursts "
                                     f"{first_b}-{last_b}")
            b0 = idx[ids[0]]
            s0 = int(round((w0.slant_range_time_s - m.slant_range_time_s) * fs))
            if s0 < 0 or s0 + count > m.number_of_samples:
                raise SelectionError(f"{name} {swath}: the window's slant range is outside the image")
            w = window_metadata(m, b0 * m.lines_per_burst, s0, len(ids) * m.lines_per_burst, count)
        days = (w.start_time_s - w0.start_time_s) / 86400.0
        acqs.append(Acquisition(index=k, meta=w, orbit=Orbit(w.orbit),
                                timing_error_s=errors[k] * w.azimuth_time_interval_s, days_since_first=days,
                                bistatic_reference_range_time_s=bistatic_reference(m, w),
                                extra={"source_product": name,
                                       "timing_error_lines": errors[k], "along_track_lines": None,
                                       "baseline_design_m": None}))

    # geometry of the window centre (for the scene and the extra dates)
    orb0 = acqs[0].orbit
    t_c = 0.5 * (w0.first_line_time_s + w0.last_line_time_s)
    tau_c = float(w0.sample_to_range_time(0.5 * count))
    from ..geoid import geoid_undulation

    lat0, lon0, _ = rdr2geo(orb0, t_c, tau_c, 0.0)
    n0 = float(geoid_undulation(float(lat0), float(lon0)))
    lat0, lon0, _ = rdr2geo(orb0, t_c, tau_c, n0)
    lat0, lon0 = float(lat0), float(lon0)
    heading = heading_deg(orb0, t_c, lat0, lon0)
    g_rg, g_az, inc_c = ground_spacings(orb0, t_c, tau_c, n0, w0.azimuth_time_interval_s)

    if n_dates > len(metas):
        p = np.asarray(llh_to_ecef(lat0, lon0, n0)).reshape(3)
        s, v = orb0.position_velocity(np.array([t_c]))
        perp = perpendicular_unit(p, s[0], v[0])
        for k in range(len(metas), n_dates):
            w = _shifted(w0, k * 12 * 86400.0, baselines[k] * perp, 175 * k)
            acqs.append(Acquisition(index=k, meta=w, orbit=Orbit(w.orbit),
                                    timing_error_s=errors[k] * w.azimuth_time_interval_s,
                                    days_since_first=12.0 * k,
                                    bistatic_reference_range_time_s=acqs[0].bistatic_reference_range_time_s,
                                    extra={"source_product": f"{name0} (moved {12 * k} days, "
                                                             f"{baselines[k]:.0f} m across the line of sight)",
                                           "timing_error_lines": errors[k], "along_track_lines": 0.0,
                                           "baseline_design_m": baselines[k]}))
    say(f"real geometry of {name0} {swath}: bursts {first_b}-{last_b}, samples {s_first}+{count}, "
        f"{n_dates} dates")
    design = dict(lat0=lat0, lon0=lon0, t_c=t_c, heading=heading, g_rg=g_rg, g_az=g_az, inc_c=inc_c,
                  h_center=n0, n0=n0)
    extra = {"real_geometry": {"products": [n for n, _ in metas[:n_dates]], "swath": swath,
                               "bursts": [first_b, last_b], "burst_ids": ids, "samples": [s_first, count]}}
    cycle = float(np.mean(np.diff([b.azimuth_time_s for b in w0.bursts]))) if len(w0.bursts) > 1 else math.nan
    return acqs, design, extra, cycle, ids, float(w0.slant_range_time_s)
