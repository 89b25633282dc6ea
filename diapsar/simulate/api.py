"""``simulate_stack``: a Sentinel-1 SLC stack with known truth, written as SAFE products + DEM + truth/."""

from __future__ import annotations

import json
import math
import shutil
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .. import __version__
from ..errors import ConfigError, OutputError
from ..geometry import geo2rdr, llh_to_ecef, rdr2geo
from ..io.annotation import footprint_from_grid, relative_orbit
from ..io.atomic import atomic_path
from ..metadata import SPEED_OF_LIGHT_M_S
from ..orbit import Orbit
from ..timeutil import date_string, iso_to_seconds, seconds_to_iso
from . import orbit_elements as oe
from .acquisition import BEAMS, Acquisition, Beam, build_metadata
from .physics import Context, Dem, invert, quantize, synthesize
from .scene import LocalFrame, SceneModel, make_ground_field
from .truth import BANDS, pair_truth, write_truth_tif
from .writer import geolocation_grid, heading_deg, write_safe

DEFAULT_CENTER = (-21.244, 55.708)  # Piton de la Fournaise, La Reunion
DEFAULT_BASELINES_M = (0.0, 70.0, -45.0, 120.0, -95.0, 30.0)
DEFAULT_ALONG_TRACK_LINES = (0.0, 3.4, -2.2, 5.7, -4.1, 1.3)
MAX_SLOPE_DEG = 8.0


@dataclass
class SimulationResult:
    out_dir: Path
    products: list[Path]  # SAFE folders, date order
    dem_path: Path
    truth_dir: Path
    truth_json: Path
    pairs: list[dict] = field(default_factory=list)  # master/slave dates and truth file per pair
    seconds: float = 0.0

    def summary_lines(self) -> list[str]:
        out = [f"products ({len(self.products)}):"] + [f"  {p}" for p in self.products]
        out += [f"DEM: {self.dem_path}", f"truth: {self.truth_json}"]
        out += [f"  pair {p['master_date']} x {p['slave_date']}: {self.out_dir / p['file']}" for p in self.pairs]
        return out


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise ConfigError(msg)


def ground_spacings(orbit: Orbit, t: float, tau: float, h: float, dt: float) -> tuple[float, float, float]:
    """(ground range pixel, ground azimuth pixel per line, incidence deg) near (t, tau)."""
    tt = np.array([t, t + dt, t])
    rr = np.array([tau, tau, tau + 1e-8])
    lat, lon, hh = rdr2geo(orbit, tt, rr, np.full(3, h))
    x = np.asarray(llh_to_ecef(lat, lon, hh))
    g_az = float(np.linalg.norm(x[1] - x[0]) / dt)
    g_rg_per_s = float(np.linalg.norm(x[2] - x[0]) / 1e-8)
    s, _ = orbit.position_velocity(np.array([t]))
    los = s[0] - x[0]
    up = x[0] / np.linalg.norm(x[0])
    inc = math.degrees(math.acos(float(los @ up / np.linalg.norm(los))))
    return g_rg_per_s, g_az, inc


def simulate_stack(out_dir, mode: str = "sm", dates: int = 2, size: tuple[int, int] = (512, 512), seed: int = 0,
                   *, beam: str | None = None, bursts: int = 3, lines_per_burst: int | None = None,
                   burst_cycle_s: float | None = None, center: tuple[float, float] = DEFAULT_CENTER,
                   incidence_deg: float | None = None, ascending: bool = True,
                   start: str = "2023-09-04T14:10:00", interval_days: float = 12.0,
                   baselines_m=None, along_track_lines=None, timing_error_lines=None,
                   coherence: tuple[float, float] = (0.2, 1.0), deformation_mm: float = 28.0,
                   snr_db: float = 20.0, doppler_hz: float = 35.0, n_targets: int = 5, node_step: int = 16,
                   polarisation: str = "VV", truth_master: int = 0, dem_file=None, log=None) -> SimulationResult:
    """Simulate ``dates`` acquisitions and write them as SAFE folders under ``out_dir``.

    mode "sm": stripmap image of ``size`` = (lines, samples) in beam ``beam`` (default S3).
    mode "iw": one IW swath ``beam`` (default IW1) of ``bursts`` bursts of ``lines_per_burst`` lines (default:
    the real burst length of that swath, ~1500 lines, cycle ~2.76 s) and ``size[1]`` samples (``size[0]``
    is ignored).
    Date ``truth_master`` (default 0) is the master of the truth; the others are slaves with perpendicular baselines ``baselines_m``,
    along-track offsets ``along_track_lines`` (image shift in lines) and timing errors
    ``timing_error_lines`` (hidden: the data of slave k are simulated ``timing_error_lines[k]`` lines later
    than their annotation says). ``dem_file``: a real DEM (GDAL-readable, lon/lat grid, heights above EGM96
    like SRTM) replacing the synthetic terrain; sea = height <= 0. Returns a ``SimulationResult``.
    """
    t_start = time.time()
    say = log or (lambda msg: None)
    mode = str(mode).lower()
    _check(mode in ("sm", "iw"), f"simulate: mode must be 'sm' or 'iw', not {mode!r}")
    _check(int(dates) >= 1 and int(dates) <= 30, f"simulate: dates must be 1..30, got {dates}")
    dates = int(dates)
    lines, samples = (int(v) for v in size)
    _check(32 <= samples <= 30000, f"simulate: samples must be 32..30000, got {samples}")
    if mode == "sm":
        _check(32 <= lines <= 60000, f"simulate: lines must be 32..60000, got {lines}")
    beam = (beam or ("S3" if mode == "sm" else "IW1")).upper().replace(" ", "")
    names_ = ["IW1", "IW2", "IW3"] if beam in ("ALL", "IW") else beam.split(",")
    for nm in names_:
        _check(nm in BEAMS, f"simulate: unknown beam/swath {nm!r} (one of {', '.join(BEAMS)}, or ALL for IW)")
        _check(BEAMS[nm].mode.lower() == mode, f"simulate: beam {nm} is not a {mode.upper()} beam")
    _check(len(names_) == len(set(names_)) and (mode == "iw" or len(names_) == 1),
           f"simulate: bad swath list {beam!r}")
    names_ = sorted(names_)
    beam = ",".join(names_)
    bm: Beam = BEAMS[names_[0]]
    _check(0.0 <= coherence[0] <= 1.0 and 0.0 <= coherence[1] <= 1.0,
           f"simulate: coherence values must be in [0, 1], got {coherence}")
    _check(node_step >= 2, f"simulate: node_step must be >= 2, got {node_step}")
    lat0, lon0 = float(center[0]), float(center[1])
    _check(-80 <= lat0 <= 80 and -180 <= lon0 <= 180, f"simulate: centre {center} is not a valid lat/lon")
    try:
        t_c = iso_to_seconds(start)
    except ValueError:
        raise ConfigError(f"simulate: start {start!r} is not an ISO UTC time") from None
    out_dir = Path(out_dir)
    _check(0 <= int(truth_master) < dates, f"simulate: truth master index {truth_master} outside 0..{dates - 1}")

    baselines = list(baselines_m) if baselines_m is not None else \
        [DEFAULT_BASELINES_M[k % len(DEFAULT_BASELINES_M)] for k in range(dates)]
    along = list(along_track_lines) if along_track_lines is not None else \
        [DEFAULT_ALONG_TRACK_LINES[k % len(DEFAULT_ALONG_TRACK_LINES)] for k in range(dates)]
    errors = list(timing_error_lines) if timing_error_lines is not None else \
        [0.02 if k == 1 else 0.0 for k in range(dates)]
    for name, lst in (("baselines_m", baselines), ("along_track_lines", along), ("timing_error_lines", errors)):
        _check(len(lst) >= dates, f"simulate: {name} needs {dates} values, got {len(lst)}")
    baselines[0] = 0.0
    along[0] = 0.0

    from ..geoid import geoid_undulation

    dt = bm.azimuth_time_interval_s
    fs = bm.range_sampling_rate_hz
    L = int(lines_per_burst or bm.lines_per_burst)
    if mode == "iw":
        _check(1 <= bursts <= 12, f"simulate: bursts must be 1..12, got {bursts}")
        _check(64 <= L <= 2000, f"simulate: lines_per_burst must be 64..2000, got {L}")
        cycle = float(burst_cycle_s or (bm.burst_cycle_s * L / bm.lines_per_burst))
        _check(0 < cycle < L * dt, f"simulate: burst cycle {cycle} s leaves no burst overlap")
        scale = L / bm.lines_per_burst
        sw_offsets = {nm: (BEAMS[nm].swath_time_offset_s - bm.swath_time_offset_s) * scale for nm in names_}
        sw_lines = {nm: int(round(L * BEAMS[nm].lines_per_burst / bm.lines_per_burst)) for nm in names_}
        off_lo = min(sw_offsets.values())
        off_hi = max(sw_offsets[nm] + sw_lines[nm] * dt for nm in names_)
        az_extent_s = (bursts - 1) * cycle + off_hi - off_lo
    else:
        cycle = 0.0
        az_extent_s = lines * dt
    inc = float(incidence_deg if incidence_deg is not None else bm.incidence_mid_deg)
    _check(15.0 <= inc <= 50.0, f"simulate: incidence {inc} deg outside 15..50")

    # approximate footprint to size the volcano before the exact geometry exists
    g_rg0 = 0.5 * SPEED_OF_LIGHT_M_S / fs / math.sin(math.radians(inc))
    half_across0 = 0.5 * samples * g_rg0
    half_along0 = 0.5 * az_extent_s * 6800.0
    sigma = 0.22 * min(half_across0, half_along0) * 2
    v_height = min(2500.0, math.tan(math.radians(MAX_SLOPE_DEG)) / 0.607 * sigma)
    plain = 40.0
    n0 = float(geoid_undulation(lat0, lon0))
    h_center = plain + v_height + n0

    el0 = oe.design_orbit(lat0, lon0, h_center, inc, t_c, ascending=ascending)
    sv0 = oe.state_vectors(el0, t_c - az_extent_s, t_c + az_extent_s)
    orb0 = Orbit(sv0)
    _, tau_c_arr = geo2rdr(orb0, lat0, lon0, h_center, t_guess_s=t_c)
    tau_c = float(np.asarray(tau_c_arr))
    # swaths side by side in range, 10 % overlap (compressed IW geometry when several swaths are asked)
    ovl = int(round(0.1 * samples))
    total = len(names_) * samples - (len(names_) - 1) * ovl
    tau_first = tau_c - 0.5 * total / fs
    tau0s = {nm: tau_first + k * (samples - ovl) / fs for k, nm in enumerate(names_)}
    # ESA's bistatic reference range time (diapsar.geometry.RadarGrid): stripmap, the swath's own mid-range;
    # IW, the mid-range of IW2 in this swath layout (where IW2 would sit when it is not simulated)
    if mode == "sm":
        tau_bistatic = tau0s[names_[0]] + 0.5 * (samples - 1) / fs
    else:
        k2 = names_.index("IW2") if "IW2" in names_ else {"IW1": 1.0, "IW3": -1.0}.get(",".join(names_), 0.5)
        tau_bistatic = tau_first + (k2 * (samples - ovl) + 0.5 * (samples - 1)) / fs
    first0 = t_c - 0.5 * az_extent_s
    abs_orbit = oe.absolute_orbit_s1a(t_c)
    rel_orbit = relative_orbit("S1A", abs_orbit)
    period = el0.period_s
    u_deg = el0.arg_latitude_deg
    anx0 = t_c - math.radians(u_deg % 360.0) / (2 * math.pi / period)
    heading = heading_deg(orb0, t_c, lat0, lon0)
    pass_dir = "Ascending" if ascending else "Descending"
    g_rg, g_az, inc_c = ground_spacings(orb0, t_c, tau_c, h_center, dt)

    # perpendicular baseline per unit node shift (design only)
    p_c = np.asarray(llh_to_ecef(lat0, lon0, h_center)).reshape(3)
    s_c, v_c = orb0.position_velocity(np.array([t_c]))
    perp = perpendicular_unit(p_c, s_c[0], v_c[0])
    d_node = 1e-4
    el_t = replace(el0, node_longitude_deg=el0.node_longitude_deg + d_node)
    orb_t = Orbit(oe.state_vectors(el_t, t_c - 60, t_c + 60))
    t_t, _ = geo2rdr(orb_t, lat0, lon0, h_center, t_guess_s=t_c)
    s_t, _ = orb_t.position_velocity(np.atleast_1d(t_t))
    bperp_per_deg = float((s_t[0] - s_c[0]) @ perp) / d_node

    acqs: list[Acquisition] = []
    for k in range(dates):
        el_k = replace(el0, node_longitude_deg=el0.node_longitude_deg + baselines[k] / bperp_per_deg) \
            if baselines[k] else el0
        shift = k * interval_days * 86400.0
        sv = oe.state_vectors(el_k, first0 - 30.0, first0 + az_extent_s + 30.0, time_offset_s=shift)
        abs_k = oe.absolute_orbit_s1a(t_c + shift)
        for nm in names_:
            b_k = BEAMS[nm]
            if mode == "iw":
                first = first0 + shift + along[k] * dt + sw_offsets[nm] - off_lo
            else:
                first = first0 + shift + along[k] * dt
            meta = build_metadata(b_k, sv, first, tau0s[nm], lines, samples, "S1A", abs_k, rel_orbit, pass_dir,
                                  anx0 + shift, 0x40000 + 97 * k + (seed % 1000) * 7,
                                  (doppler_hz, 1.0e4, 0.0) if mode == "sm" else (doppler_hz * 0.3, 1.178e4, -1.8e7),
                                  n_bursts=bursts if mode == "iw" else 0,
                                  lines_per_burst=sw_lines[nm] if mode == "iw" else 0,
                                  burst_cycle_s=cycle, polarisation=polarisation.upper())
            meta.image_number = f"{names_.index(nm) + 1:03d}"
            meta.platform_heading_deg = heading
            meta.azimuth_pixel_spacing_m = g_az * dt
            meta.incidence_angle_mid_deg = inc_c
            acqs.append(Acquisition(index=k, meta=meta, orbit=Orbit(sv), timing_error_s=errors[k] * dt,
                                    days_since_first=k * interval_days,
                                    bistatic_reference_range_time_s=tau_bistatic,
                                    extra={"orbit_elements": el_k, "baseline_design_m": baselines[k],
                                           "along_track_lines": along[k], "timing_error_lines": errors[k]}))
    if mode == "iw":
        # burst IDs: ESA-like numbering of burst cycles since the ascending node (relative orbit blocks),
        # computed on the first date and given to the same bursts of every date
        per_orbit = int(math.ceil(period / cycle))
        for nm in names_:
            first_date = next(x for x in acqs if x.meta.swath == nm)
            for x in acqs:
                if x.meta.swath != nm:
                    continue
                for b, b0 in zip(x.meta.bursts, first_date.meta.bursts):
                    t_mid = b0.azimuth_time_s + 0.5 * b0.lines * dt
                    b.burst_id = (rel_orbit - 1) * per_orbit + int(
                        math.floor((t_mid - first_date.meta.ascending_node_time_s) / cycle)) + 1
    say(f"orbit designed; {dates} acquisitions of {acqs[0].meta.number_of_lines} x {samples} pixels")

    design = dict(lat0=lat0, lon0=lon0, t_c=t_c, heading=heading, g_rg=g_rg, g_az=g_az, inc_c=inc_c,
                  h_center=h_center, n0=n0)
    return render(out_dir, acqs, design, seed=seed, mode=mode, beam=beam, coherence=coherence,
                  deformation_mm=deformation_mm, snr_db=snr_db, doppler_hz=doppler_hz, n_targets=n_targets,
                  node_step=node_step, burst_cycle_s=cycle, say=say, t_start=t_start, truth_master=truth_master,
                  dem_file=dem_file)


def scene_size(acqs: list[Acquisition], n0: float, lat0: float, lon0: float, heading: float,
               h_top: float = 0.0) -> tuple[np.ndarray, np.ndarray, float, float]:
    """East/north of the image corners of every acquisition (heights n0-50 .. n0+h_top+50) and the half
    extents across/along track around (lat0, lon0)."""
    frame = LocalFrame(lat0, lon0)
    pts_e, pts_n = [], []
    for a in acqs:
        m = a.meta
        tl = np.array([m.first_line_time_s, m.last_line_time_s])
        tr = m.sample_to_range_time(np.array([0.0, m.number_of_samples - 1.0]))
        tt, rr = np.meshgrid(tl, tr, indexing="ij")
        for hgt in (n0 - 50.0, n0 + h_top + 50.0):
            la, lo, _ = rdr2geo(a.orbit, tt, rr, np.full(tt.shape, hgt))
            e_, n_ = frame.to_en(la, lo)
            pts_e.append(np.ravel(e_))
            pts_n.append(np.ravel(n_))
    pe, pn = np.concatenate(pts_e), np.concatenate(pts_n)
    a_rad = math.radians(heading)
    u_ = pe * math.sin(a_rad) + pn * math.cos(a_rad)
    v_ = pe * math.cos(a_rad) - pn * math.sin(a_rad)
    return pe, pn, float(max(abs(u_.min()), abs(u_.max()))), float(max(abs(v_.min()), abs(v_.max())))


@contextmanager
def _output_folder(out_dir: Path):
    """Create ``out_dir``; if the simulation fails, remove what it added (the whole folder if it created it), so
    that a failed run leaves nothing half-written."""
    existed = out_dir.is_dir()
    before = set(out_dir.iterdir()) if existed else set()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create output folder {out_dir}: {exc.strerror or exc}") from None
    try:
        yield out_dir
    except BaseException:
        added = [out_dir] if not existed else sorted(set(out_dir.iterdir()) - before)
        for p in added:
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
        raise


def render(out_dir: Path, acqs: list[Acquisition], design: dict, **kwargs) -> SimulationResult:
    """Scene, DEM, pixels, products and truth for acquisitions whose geometry is set (synthetic or real), written
    under ``out_dir`` (nothing is left there if it fails); keyword arguments of ``_render``."""
    n_dates = len({a.index for a in acqs})
    truth_master = kwargs.get("truth_master", 0)
    if not 0 <= truth_master < n_dates:
        raise ConfigError(f"simulate: truth master index {truth_master} outside 0..{n_dates - 1}")
    out_dir = Path(out_dir)
    with _output_folder(out_dir):
        return _render(out_dir, acqs, design, **kwargs)


def _render(out_dir: Path, acqs: list[Acquisition], design: dict, *, seed: int, mode: str, beam: str,
           coherence, deformation_mm: float, snr_db: float, doppler_hz: float, n_targets: int, node_step: int,
           burst_cycle_s: float, say, t_start: float, extra_json: dict | None = None,
           truth_master: int = 0, dem_file=None) -> SimulationResult:
    from ..geoid import geoid_undulation

    lat0, lon0, t_c, heading = design["lat0"], design["lon0"], design["t_c"], design["heading"]
    g_rg, g_az, inc_c, n0 = design["g_rg"], design["g_az"], design["inc_c"], design["n0"]
    samples = acqs[0].meta.number_of_samples
    dt = acqs[0].meta.azimuth_time_interval_s
    fs = acqs[0].meta.range_sampling_rate_hz
    cycle = burst_cycle_s
    plain = 40.0
    _, _, ha0, hc0 = scene_size(acqs, n0, lat0, lon0, heading)
    sigma = 0.44 * min(ha0, hc0)
    v_height = min(2500.0, math.tan(math.radians(MAX_SLOPE_DEG)) / 0.607 * sigma)
    h_center = plain + v_height + n0
    # footprint of every acquisition (corners at the lowest and highest terrain), for DEM and ground field
    frame = LocalFrame(lat0, lon0)
    pe, pn, half_along, half_across = scene_size(acqs, n0, lat0, lon0, heading, plain + v_height)
    a_rad = math.radians(heading)
    scene = SceneModel(frame=frame, along_track_deg=heading, half_extent_m=(half_across, half_along),
                       volcano_height_m=v_height, volcano_sigma_m=sigma, plain_height_m=plain,
                       coast_offset_m=0.55 * half_across, coast_taper_m=max(400.0, 0.25 * half_across),
                       coherence_range=(float(coherence[0]), float(coherence[1])),
                       mogi_depth_m=1.2 * sigma, mogi_uplift_mm_per_12d=float(deformation_mm))

    # DEM (0.5 arc-second posts, orthometric like SRTM) covering the footprint with a margin
    # margin: 0.06 deg beyond the footprint, more than the 0.05 deg a DEM assembly adds by default
    margin_deg = 0.06
    la_min, lo_min = frame.to_latlon(pe.min(), pn.min())
    la_max, lo_max = frame.to_latlon(pe.max(), pn.max())
    la_min, lo_min, la_max, lo_max = la_min - margin_deg, lo_min - margin_deg, la_max + margin_deg, lo_max + margin_deg
    post = 0.5 / 3600.0
    x0 = math.floor(float(lo_min) / post) * post
    y0 = math.ceil(float(la_max) / post) * post
    ncols = int(math.ceil((float(lo_max) - x0) / post)) + 1
    nrows = int(math.ceil((y0 - float(la_min)) / post)) + 1
    lons = x0 + (np.arange(ncols) + 0.5) * post
    lats = y0 - (np.arange(nrows) + 0.5) * post
    lon_g, lat_g = np.meshgrid(lons, lats)
    de, dn = frame.to_en(lat_g, lon_g)
    from ..geoid import geoid_undulation_grid

    if dem_file is not None:
        ortho, gt_real = _read_real_dem(dem_file, (lo_min, la_min, lo_max, la_max),
                                        frame.to_latlon(pe, pn))
        lons = gt_real[0] + (np.arange(ortho.shape[1]) + 0.5) * gt_real[1]
        lats = gt_real[3] + (np.arange(ortho.shape[0]) + 0.5) * gt_real[5]
        und = geoid_undulation_grid(lats, lons)
        dem = Dem(ellipsoidal=ortho.astype(np.float64) + und, orthometric=ortho.astype(np.float32),
                  transform=gt_real)
        scene.dem_orthometric = ortho.astype(np.float64)
        scene.dem_transform = gt_real
        post = abs(gt_real[1])
    else:
        ortho = scene.orthometric_height(de, dn)
        und = geoid_undulation_grid(lats, lons)
        dem = Dem(ellipsoidal=ortho + und, orthometric=ortho.astype(np.float32),
                  transform=(x0, post, 0.0, y0, 0.0, -post))

    # point targets on land, at known positions
    rel_pos = [(-0.45, -0.5), (0.45, -0.5), (-0.45, 0.15), (0.45, 0.15), (0.0, -0.75), (0.0, 0.3),
               (-0.7, -0.2), (0.7, -0.2)]
    targets = []
    along_v = np.array([math.sin(a_rad), math.cos(a_rad)])
    across_v = np.array([along_v[1], -along_v[0]])
    for k in range(min(int(n_targets), len(rel_pos))):
        fu, fv = rel_pos[k]
        en = fu * half_along * 0.8 * along_v + fv * half_across * 0.8 * across_v
        la, lo = frame.to_latlon(en[0], en[1])
        h_o = float(scene.orthometric_height(en[0], en[1]))
        targets.append((float(la), float(lo), h_o, h_o + float(geoid_undulation(la, lo))))
    targets_llh = np.array([[t[0], t[1], t[3]] for t in targets]).reshape(-1, 3)

    band_r = 0.7
    band_a = 0.7 if mode == "sm" else 0.65
    cut_across = band_r / (2.0 * g_rg / fs)
    cut_along = band_a / (2.0 * g_az * dt)
    fmargin = 300.0
    rng = np.random.default_rng([int(seed), 1])
    fld = make_ground_field(rng, (pe.min() - fmargin, pe.max() + fmargin), (pn.min() - fmargin, pn.max() + fmargin),
                            heading, cut_along, cut_across)
    say(f"ground field {fld.data.shape[1]} x {fld.data.shape[0]} posts ({fld.step_e:.2f} x {fld.step_n:.2f} m)")
    swaths = list(dict.fromkeys(x.meta.swath for x in acqs))
    date_ids = sorted({x.index for x in acqs})
    by = {(x.index, x.meta.swath): x for x in acqs}
    ctxs = {}
    for sw in swaths:
        ref = by[(date_ids[0], sw)]
        ctxs[sw] = Context(scene=scene, field=fld, dem=dem, ref=ref, t_center_s=t_c,
                           doppler_coefficients=tuple(ref.meta.dc_estimates[0].coefficients),
                           doppler_t0_s=ref.meta.dc_estimates[0].t0_s, snr_db=float(snr_db), band_range=band_r,
                           band_azimuth=band_a, node_step=int(node_step), targets_llh=targets_llh)

    products: list[Path] = []
    target_records: list[dict] = []
    noise_dn2 = 100.0 ** 2 * 10.0 ** (-snr_db / 10.0)
    for d in date_ids:
        metas, images = [], []
        for sw in swaths:
            a = by[(d, sw)]
            # ESA's layout and bistatic convention, on the simulation's DEM (also for real geometry, see real.py)
            a.meta.geolocation_grid = geolocation_grid(a.meta, a.orbit, dem, a.bistatic_reference_range_time_s)
            a.meta.footprint_wkt = footprint_from_grid(a.meta.geolocation_grid)
            recs: list[dict] = []
            images.append(quantize(synthesize(ctxs[sw], a, int(seed), target_records=recs)))
            for r in recs:
                r["swath"] = sw
            target_records += recs
            metas.append(a.meta)
        unique = f"{(int(seed) * 31 + d * 7919) % 65536:04X}"
        path = write_safe(out_dir, metas, images, unique, terrain_height_m=plain + n0,
                          beta_dn=237.0, noise_power_dn2=noise_dn2)
        products.append(path)
        say(f"wrote {path.name}")
        del images

    # DEM file
    dem_dir = out_dir / "dem"
    dem_path = dem_dir / "dem.tif"
    _write_dem(dem_path, dem, source="synthetic volcano" if dem_file is None else Path(dem_file).name)

    # truth: one file per (slave date, swath)
    truth_dir = out_dir / "truth"
    truth_dir.mkdir(parents=True, exist_ok=True)
    pairs = []
    md_id = date_ids[truth_master]
    for d in date_ids:
        if d == md_id:
            continue
        for sw in swaths:
            master, s = by[(md_id, sw)], by[(d, sw)]
            bands = pair_truth(ctxs[sw], master, s)
            md, sd = date_string(master.meta.start_time_s), date_string(s.meta.start_time_s)
            rel = f"truth/{md}_{sd}_{sw.lower()}_truth.tif"
            bp, bpar = _baseline(master, s, lat0, lon0, h_center, t_c)
            info = {
                "master_date": md, "slave_date": sd, "swath": sw, "master_index": md_id, "slave_index": d,
                "master_product": products[date_ids.index(md_id)].name, "slave_product": products[date_ids.index(d)].name,
                "master_image": master.meta.measurement_name, "slave_image": s.meta.measurement_name,
                "file": rel, "bands": list(BANDS),
                # annotation-only prediction of the slave position = truth + timing_error_lines
                "timing_error_lines": (s.timing_error_s - master.timing_error_s) / s.meta.azimuth_time_interval_s,
                "timing_error_s": s.timing_error_s - master.timing_error_s,
                "master_timing_error_lines": master.extra["timing_error_lines"],
                "slave_timing_error_lines": s.extra["timing_error_lines"],
                "perpendicular_baseline_m": bp, "parallel_baseline_m": bpar,
                "mean_range_offset_px": float(np.nanmean(bands["range_offset_px"])),
                "mean_azimuth_offset_px": float(np.nanmean(bands["azimuth_offset_px"])),
                "temporal_baseline_days": s.days_since_first - master.days_since_first,
            }
            write_truth_tif(out_dir / rel, bands, {"MASTER": info["master_product"],
                                                   "SLAVE": info["slave_product"], "SWATH": sw,
                                                   "CONVENTION": "phase of master x conj(slave)"})
            pairs.append(info)
            say(f"wrote {rel}")

    tj = {
        "software": f"diapsar {__version__} simulator",
        "seed": int(seed), "mode": mode, "beam": beam, "swaths": swaths,
        "size": [acqs[0].meta.number_of_lines, samples],
        "conventions": {
            "phase": "bands are phases of master x conj(slave); deformation positive towards the satellite",
            "offsets": "slave minus master, pixels (range) and lines (azimuth), 0-based full-swath indices",
            "timing_error": "slave data of line l were simulated at annotated time(l) + timing_error_s; the "
                            "truth offsets include it (annotation-only prediction = truth + timing_error_lines)",
            "coherence": "coherence = coherence_signal * P / (P + N) (thermal noise of the given SNR)",
            "pixel_phase": "exp(-j 4 pi / lambda (R - R_ref(x))): R pixel slant range, R_ref the range of the "
                           "same ground point x in acquisition 0 (removes the common carrier)",
            "doppler": "stripmap: exp(j 2 pi f_dc t_ref(x)); IW: TOPS steering phase of each burst",
            "bistatic": "ESA's convention: the pixel at (line, tau) sees the ground point whose zero-Doppler time "
                        "is the time of its line + (tau - tau_ref) / 2, tau_ref = acquisitions[]."
                        "bistatic_reference_range_time_s (written into the geolocation grid times)",
        },
        "dem": {"file": "dem/dem.tif", "height_reference": "EGM96 geoid (orthometric, like SRTM)",
                "source": str(dem_file) if dem_file is not None else "synthetic volcano",
                "physics": "ellipsoidal = orthometric + EGM96 undulation (diapsar.geoid)",
                "posting_deg": post},
        "scene": {
            "center_lat_deg": lat0, "center_lon_deg": lon0, "center_height_ellipsoidal_m": h_center,
            "volcano_height_m": v_height, "volcano_sigma_m": sigma, "plain_height_m": plain,
            "mogi_depth_m": scene.mogi_depth_m, "mogi_uplift_mm_per_12_days": float(deformation_mm),
            "coherence_range": list(scene.coherence_range), "snr_db": float(snr_db),
            "sea_amplitude_ratio": scene.sea_amplitude, "doppler_centroid_hz": float(doppler_hz),
            "band_fraction_range": band_r, "band_fraction_azimuth": band_a, "node_step": int(node_step),
            "heading_deg": heading, "incidence_center_deg": inc_c,
        },
        **(extra_json or {}),
        "acquisitions": [
            {"index": a.index, "date": date_string(a.meta.start_time_s),
             "product": products[date_ids.index(a.index)].name, "image": a.meta.measurement_name,
             "swath": a.meta.swath, "first_line_time": seconds_to_iso(a.meta.first_line_time_s, 9),
             "slant_range_time_s": a.meta.slant_range_time_s,
             "bistatic_reference_range_time_s": a.bistatic_reference_range_time_s,
             "lines": a.meta.number_of_lines,
             "samples": a.meta.number_of_samples, "days_since_first": a.days_since_first,
             "timing_error_s": a.timing_error_s, "timing_error_lines": a.extra["timing_error_lines"],
             "along_track_shift_lines": a.extra.get("along_track_lines"),
             "design_perpendicular_baseline_m": a.extra.get("baseline_design_m"),
             "orbit_elements": {k: getattr(a.extra["orbit_elements"], k) for k in
                                ("epoch_s", "semi_major_axis_m", "eccentricity", "inclination_deg",
                                 "node_longitude_deg", "arg_perigee_deg", "arg_latitude_deg")}
             if a.extra.get("orbit_elements") is not None else None,
             "source_product": a.extra.get("source_product"),
             "lines_per_burst": a.meta.lines_per_burst, "bursts": len(a.meta.bursts),
             "burst_cycle_s": cycle}
            for a in acqs],
        "point_targets": [
            {"id": k, "lat_deg": t[0], "lon_deg": t[1], "height_orthometric_m": t[2],
             "height_ellipsoidal_m": t[3], "amplitude_ratio": scene.point_target_amplitude,
             "positions": [r for r in target_records if r["target"] == k]}
            for k, t in enumerate(targets)],
        "pairs": pairs,
    }
    truth_json = truth_dir / "truth.json"
    with atomic_path(truth_json) as tmp:
        tmp.write_text(json.dumps(tj, indent=1))
    return SimulationResult(out_dir, products, dem_path, truth_dir, truth_json, pairs, time.time() - t_start)


def _baseline(master: Acquisition, slave: Acquisition, lat, lon, h, _t_c=None) -> tuple[float, float]:
    """(perpendicular, parallel) baseline (m) at the scene centre, definitions and signs of
    ``diapsar.baseline`` (perpendicular > 0 when the slave sees the point under a larger look angle,
    parallel > 0 when the slave is farther), computed from the SAR -> ground inversion."""
    p = np.asarray(llh_to_ecef(lat, lon, h)).reshape(1, 3)
    dt0 = slave.meta.first_line_time_s - master.meta.first_line_time_s
    t_mid = 0.5 * (master.meta.first_line_time_s + master.meta.last_line_time_s)
    t_m, tau_m = invert(master, [lat], [lon], [h], [t_mid + master.timing_error_s],
                        master.meta.sample_to_range_time(np.array([0.5 * master.meta.number_of_samples])))
    t_s, _ = invert(slave, [lat], [lon], [h], t_m + dt0, tau_m)
    s_m, v_m = master.orbit.position_velocity(t_m)
    s_s, _ = slave.orbit.position_velocity(t_s)
    look = (p[0] - s_m[0]) / np.linalg.norm(p[0] - s_m[0])
    v_hat = v_m[0] / np.linalg.norm(v_m[0])
    b = s_s[0] - s_m[0]
    b_c = b - (b @ v_hat) * v_hat  # the along-track part does not change the range with height
    return float(b_c @ perpendicular_unit(p[0], s_m[0], v_m[0])), float(-(b_c @ look))


def perpendicular_unit(p: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Unit vector perpendicular to the line of sight S -> P and to the velocity, pointing to where a slave
    sees P under a larger look angle (positive perpendicular baseline, the sign convention of
    ``diapsar.baseline``, ISCE2 and dolphin)."""
    look = (p - s) / np.linalg.norm(p - s)
    n = np.cross(v / np.linalg.norm(v), look)
    return n / np.linalg.norm(n)


def _clip_to_dem(path, bbox):
    """``bbox`` (footprint + margin) clipped to the DEM's extent: a DEM covering the scene but not the whole
    margin is used as far as it goes, without the reader's clipping warning (the footprint is checked after)."""
    import rasterio

    from ..io.dem import gdal_path

    p = Path(path)
    if not p.exists():
        return bbox
    try:
        with rasterio.open(gdal_path(p) if p.name.lower().endswith(".zip") else str(p)) as ds:
            b = ds.bounds
    except rasterio.errors.RasterioError:
        return bbox  # read_dem reports it
    clipped = (max(bbox[0], b.left), max(bbox[1], b.bottom), min(bbox[2], b.right), min(bbox[3], b.top))
    return clipped if clipped[0] < clipped[2] and clipped[1] < clipped[3] else bbox


def _read_real_dem(path, bbox, footprint_latlon) -> tuple[np.ndarray, tuple]:
    """Orthometric heights of a real DEM over ``bbox`` (voids filled with the median), checked to cover the
    scene footprint."""
    from ..errors import DemError
    from ..io.dem import read_dem

    bbox = _clip_to_dem(path, bbox)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        h, gt, crs = read_dem(path, bbox=bbox, ellipsoidal=False)
    if crs is not None and not crs.is_geographic:
        raise DemError(f"DEM {path} is not on a longitude/latitude grid (CRS {crs})")
    gt = tuple(float(v) for v in gt)
    lat, lon = footprint_latlon
    x1 = gt[0] + h.shape[1] * gt[1]
    y1 = gt[3] + h.shape[0] * gt[5]
    if not (np.min(lon) > gt[0] and np.max(lon) < x1 and np.min(lat) > y1 and np.max(lat) < gt[3]):
        raise DemError(f"DEM {path} does not cover the simulated scene (lon {np.min(lon):.4f}..{np.max(lon):.4f},"
                       f" lat {np.min(lat):.4f}..{np.max(lat):.4f})")
    h = np.asarray(h, dtype=np.float64)
    bad = ~np.isfinite(h)
    if bad.all():
        raise DemError(f"DEM {path} has no data over the simulated scene")
    h[bad] = float(np.median(h[~bad]))
    return h, gt


def _write_dem(path: Path, dem: Dem, source: str) -> None:
    import rasterio
    from rasterio.crs import CRS
    from rasterio.transform import Affine

    gt = dem.transform
    profile = dict(driver="GTiff", width=dem.orthometric.shape[1], height=dem.orthometric.shape[0], count=1,
                   dtype="float32", crs=CRS.from_epsg(4326), transform=Affine.from_gdal(*gt), nodata=-32768.0,
                   compress="deflate", predictor=3, tiled=True, blockxsize=256, blockysize=256)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with atomic_path(path) as tmp:
            with rasterio.open(tmp, "w", **profile) as dst:
                dst.write(dem.orthometric, 1)
                dst.set_band_description(1, "height above EGM96 geoid (m)")
                dst.update_tags(HEIGHT_REFERENCE="EGM96", VERTICAL_DATUM="EGM96 geoid (orthometric heights)",
                                SOURCE=f"diapsar simulator ({source})")
                dst.update_tags(1, UNITS="m")
