"""Interferometric baselines between two acquisitions of the same track, and TOPS burst matching.

Definitions (at one reference ground point P, seen by the master at zero-Doppler time t_m from S_m, and by the
slave at its own zero-Doppler time t_s from S_s; l = (P - S_m)/|P - S_m| the master line of sight):

- B = S_s - S_m, split along the master velocity v = V_m/|V_m| (along-track B_along = B . v) and the rest,
  B_c = B - B_along v, which lies in the master's zero-Doppler plane (l is in that plane too);
- parallel baseline  B_par = -B_c . l  (to first order R_slave - R_master: positive when the slave is farther
  from the point);
- perpendicular baseline |B_perp| = |B_c - (B_c . l) l|, i.e. perpendicular to both the line of sight and the
  track. The along-track part must be left out: the two orbits are not parallel (the Morocco pair converges
  by 0.0012 deg, giving B_along = -12.8 m at the reference point), and only the cross-track part changes
  the slave range with the height (checked numerically against d(R_slave - R_master)/dh at fixed master
  coordinates in tests/test_22_baseline.py). Sign: sign(((P - S_m) x (S_s - S_m)) . V_m). This is
  the sign convention of ISCE2's topsStack ``computeBaseline.py`` and of dolphin's ``baseline.compute``: for a
  right-looking radar B_perp > 0 when the slave lies below the master's line of sight, i.e. sees P under a
  larger look angle than the master;
- temporal baseline = (t_s - t_m) / 86400 s, in days (positive when the slave is later);
- height of ambiguity (monostatic repeat pass) h_amb = lambda * R_m * sin(theta_inc) / (2 * B_perp)
  (Hanssen, "Radar Interferometry: Data Interpretation and Error Analysis", Kluwer 2001, section 2.4;
  Bamler & Hartl, "Synthetic aperture radar interferometry", Inverse Problems 14, 1998, R1-R54), signed like
  B_perp, None when B_perp = 0.

The reference point: for TOPS swaths the mid-range sample of the middle line of each common burst; for
stripmap the scene centre. Its height is the median height of the annotation's geolocation grid.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .errors import SelectionError
from .geometry import geo2rdr, llh_to_ecef, rdr2geo
from .metadata import SwathMetadata
from .orbit import Orbit

SECONDS_PER_DAY = 86400.0


@dataclass
class Baseline:
    """Baseline figures at one reference point (see the module docstring for definitions and signs)."""

    swath: str
    burst_id: int | None  # ESA burst ID (TOPS) or None (stripmap)
    master_burst: int | None  # 0-based burst index in the master swath
    slave_burst: int | None
    master_time: str  # ISO UTC of the master zero-Doppler time of the reference point
    slave_time: str
    latitude_deg: float
    longitude_deg: float
    height_m: float
    slant_range_m: float
    incidence_deg: float
    perpendicular_m: float
    parallel_m: float
    along_track_m: float
    total_m: float
    temporal_days: float
    height_of_ambiguity_m: float | None

    def to_dict(self) -> dict:
        return asdict(self)


def baseline_at_point(master_orbit: Orbit, slave_orbit: Orbit, lat_deg: float, lon_deg: float, h_m: float,
                      wavelength_m: float) -> dict:
    """Baseline components at one ground point (zero-Doppler on both orbits)."""
    tm, taum = geo2rdr(master_orbit, lat_deg, lon_deg, h_m)
    ts, taus = geo2rdr(slave_orbit, lat_deg, lon_deg, h_m)
    if not (np.isfinite(tm) and np.isfinite(ts)):
        which = "master" if not np.isfinite(tm) else "slave"
        raise SelectionError(f"the reference point {float(lat_deg):.5f}, {float(lon_deg):.5f} is outside the "
                             f"{which} orbit arc: the two acquisitions do not overlap")
    p = llh_to_ecef(lat_deg, lon_deg, h_m)
    sm, vm = (a[0] for a in master_orbit.position_velocity(np.array([float(tm)])))
    ss, _ = (a[0] for a in slave_orbit.position_velocity(np.array([float(ts)])))
    los = p - sm
    rm = float(np.linalg.norm(los))
    rs = float(np.linalg.norm(p - ss))
    lhat = los / rm
    b = ss - sm
    vhat = vm / np.linalg.norm(vm)
    b_along = float(b @ vhat)
    bc = b - b_along * vhat
    b_par = -float(bc @ lhat)
    b_perp_vec = bc - (bc @ lhat) * lhat
    sign = np.sign(float(np.cross(los, b) @ vm))
    b_perp = float(sign * np.linalg.norm(b_perp_vec))
    # incidence: angle between the ellipsoid normal at P and the direction P -> S_m
    lat = np.radians(float(lat_deg))
    lon = np.radians(float(lon_deg))
    normal = np.array([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)])
    inc = float(np.degrees(np.arccos(np.clip(-lhat @ normal, -1.0, 1.0))))
    h_amb = None
    if abs(b_perp) > 1e-6:
        h_amb = wavelength_m * rm * np.sin(np.radians(inc)) / (2.0 * b_perp)
    return {"master_time_s": float(tm), "slave_time_s": float(ts), "master_range_time_s": float(taum),
            "slave_range_time_s": float(taus), "slant_range_m": rm, "slave_range_m": rs,
            "incidence_deg": inc, "perpendicular_m": b_perp, "parallel_m": b_par, "along_track_m": b_along,
            "total_m": float(np.linalg.norm(b)), "temporal_days": (float(ts) - float(tm)) / SECONDS_PER_DAY,
            "height_of_ambiguity_m": None if h_amb is None else float(h_amb)}


def _check_pair(master: SwathMetadata, slave: SwathMetadata) -> None:
    if master.swath != slave.swath:
        raise SelectionError(f"master swath {master.swath} and slave swath {slave.swath} differ")
    if master.relative_orbit != slave.relative_orbit:
        raise SelectionError(f"master ({master.product_name or master.annotation_name}) is on relative orbit "
                             f"{master.relative_orbit}, slave ({slave.product_name or slave.annotation_name}) "
                             f"on {slave.relative_orbit}: not the same track")
    if master.is_tops != slave.is_tops:
        raise SelectionError(f"cannot pair a TOPS and a stripmap image ({master.swath}, {slave.swath})")


def match_bursts(master: SwathMetadata, slave: SwathMetadata) -> list[tuple[int | None, int, int]]:
    """(burst_id, master burst index, slave burst index) for each master burst present in the slave, matched by
    identity (burst ID, else azimuth ANX time: :func:`diapsar.bursts.match_swath_bursts`), never by index."""
    from .bursts import match_swath_bursts

    _check_pair(master, slave)
    if not master.is_tops:
        raise SelectionError(f"{master.swath}: stripmap images have no bursts to match")
    return [(p.burst_id, p.master_index, p.slave_index) for p in match_swath_bursts(master, slave).common]


def _reference_height(meta: SwathMetadata) -> float:
    h = np.asarray(meta.geolocation_grid.height_m, dtype=np.float64)
    h = h[np.isfinite(h)]
    return float(np.median(h)) if h.size else 0.0


def _baseline(meta: SwathMetadata, slave: SwathMetadata, mo: Orbit, so: Orbit, t_m: float, h: float,
              burst: tuple[int | None, int, int] | None) -> Baseline:
    from .timeutil import seconds_to_iso

    tau = meta.slant_range_time_s + 0.5 * (meta.number_of_samples - 1) / meta.range_sampling_rate_hz
    lat, lon, hh = rdr2geo(mo, t_m, tau, h, meta.look_side)
    if not np.isfinite(lat):
        raise SelectionError(f"{meta.swath}: reference point outside the master orbit arc")
    r = baseline_at_point(mo, so, float(lat), float(lon), float(hh), meta.wavelength_m)
    return Baseline(
        swath=meta.swath, burst_id=None if burst is None or burst[0] is None else int(burst[0]),
        master_burst=None if burst is None else int(burst[1]), slave_burst=None if burst is None else int(burst[2]),
        master_time=seconds_to_iso(r["master_time_s"]), slave_time=seconds_to_iso(r["slave_time_s"]),
        latitude_deg=float(lat), longitude_deg=float(lon), height_m=float(hh), slant_range_m=r["slant_range_m"],
        incidence_deg=r["incidence_deg"], perpendicular_m=r["perpendicular_m"], parallel_m=r["parallel_m"],
        along_track_m=r["along_track_m"], total_m=r["total_m"], temporal_days=r["temporal_days"], height_of_ambiguity_m=r["height_of_ambiguity_m"])


def swath_baselines(master: SwathMetadata, slave: SwathMetadata, master_orbit: Orbit | None = None,
                    slave_orbit: Orbit | None = None) -> list[Baseline]:
    """Baselines per common burst (TOPS: mid-burst, mid-range) or one at the scene centre (stripmap)."""
    _check_pair(master, slave)
    mo = master_orbit or Orbit(master.orbit)
    so = slave_orbit or Orbit(slave.orbit)
    h = _reference_height(master)
    if not master.is_tops:
        t_mid = 0.5 * (master.first_line_time_s + master.last_line_time_s)
        return [_baseline(master, slave, mo, so, t_mid, h, None)]
    pairs = match_bursts(master, slave)
    if not pairs:
        mids = [b.burst_id for b in master.bursts]
        sids = [b.burst_id for b in slave.bursts]
        raise SelectionError(f"{master.swath}: no common burst: master burst IDs {mids[0]}..{mids[-1]}, "
                             f"slave {sids[0]}..{sids[-1]}")
    out = []
    for pair in pairs:
        b = master.bursts[pair[1]]
        t_mid = b.azimuth_time_s + 0.5 * (master.lines_per_burst - 1) * master.azimuth_time_interval_s
        out.append(_baseline(master, slave, mo, so, t_mid, h, pair))
    return out


def centre_baseline(master: SwathMetadata, slave: SwathMetadata, master_orbit: Orbit | None = None,
                    slave_orbit: Orbit | None = None) -> Baseline:
    """One baseline for the pair: the middle common burst (TOPS) or the scene centre (stripmap)."""
    items = swath_baselines(master, slave, master_orbit, slave_orbit)
    return items[len(items) // 2]
