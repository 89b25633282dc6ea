"""Synthetic Sentinel-1 orbits from orbital elements, written as ECEF state vectors every 10 s.

The reference orbit is Sentinel-1's sun-synchronous, 12-day repeat orbit: mean altitude 693 km, inclination
98.18 deg, frozen near-circular (e = 0.0012, argument of perigee 90 deg) (ESA Sentinel-1 User Handbook,
"Orbit" section). The state is propagated in an inertial frame with the J2 zonal term (numerical
integration, DOP853, tolerances far below a millimetre over the few minutes simulated) and rotated into
WGS84 ECEF with the Earth rotation rate; ECEF velocities are those of the same rotation, so positions and
velocities are exactly consistent.

``design_orbit`` places the orbit so that a chosen ground point is seen, right-looking, at a chosen incidence
angle at a chosen time; it uses the shared ``diapsar.geometry.geo2rdr`` only to place the orbit (not in the
pixel physics).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from scipy.integrate import solve_ivp

from ..metadata import StateVectors

GM_M3_S2 = 3.986004418e14  # WGS84 (NIMA TR8350.2)
J2 = 1.08262668e-3  # EGM96 C20 (unnormalised, sign flipped)
R_EQ_M = 6378137.0
OMEGA_EARTH_RAD_S = 7.2921151467e-5  # WGS84
S1_SEMI_MAJOR_AXIS_M = 6378137.0 + 693000.0
S1_INCLINATION_DEG = 98.18
S1_ECCENTRICITY = 0.0012
S1_ARG_PERIGEE_DEG = 90.0
REPEAT_CYCLE_S = 12 * 86400.0
ORBITS_PER_CYCLE = 175
STATE_VECTOR_STEP_S = 10.0


@dataclass(frozen=True)
class OrbitElements:
    """Osculating elements at ``epoch_s`` (seconds since 2000-01-01 UTC).

    ``node_longitude_deg`` is the Earth-fixed longitude of the ascending node at the epoch (inertial frame
    aligned with ECEF at the epoch).
    """

    epoch_s: float
    semi_major_axis_m: float = S1_SEMI_MAJOR_AXIS_M
    eccentricity: float = S1_ECCENTRICITY
    inclination_deg: float = S1_INCLINATION_DEG
    node_longitude_deg: float = 0.0
    arg_perigee_deg: float = S1_ARG_PERIGEE_DEG
    arg_latitude_deg: float = 0.0  # argument of latitude (perigee + true anomaly) at the epoch

    def state_eci(self) -> tuple[np.ndarray, np.ndarray]:
        a, e = self.semi_major_axis_m, self.eccentricity
        inc = math.radians(self.inclination_deg)
        raan = math.radians(self.node_longitude_deg)
        w = math.radians(self.arg_perigee_deg)
        nu = math.radians(self.arg_latitude_deg) - w
        p = a * (1 - e * e)
        r = p / (1 + e * math.cos(nu))
        r_pf = np.array([r * math.cos(nu), r * math.sin(nu), 0.0])
        v_pf = math.sqrt(GM_M3_S2 / p) * np.array([-math.sin(nu), e + math.cos(nu), 0.0])
        cO, sO, ci, si, cw, sw = math.cos(raan), math.sin(raan), math.cos(inc), math.sin(inc), math.cos(w), \
            math.sin(w)
        rot = np.array([
            [cO * cw - sO * sw * ci, -cO * sw - sO * cw * ci, sO * si],
            [sO * cw + cO * sw * ci, -sO * sw + cO * cw * ci, -cO * si],
            [sw * si, cw * si, ci],
        ])
        return rot @ r_pf, rot @ v_pf

    @property
    def period_s(self) -> float:
        return 2 * math.pi * math.sqrt(self.semi_major_axis_m ** 3 / GM_M3_S2)


def _accel(_t, y):
    r = y[:3]
    x, yy, z = r
    rn2 = x * x + yy * yy + z * z
    rn = math.sqrt(rn2)
    k = -GM_M3_S2 / (rn2 * rn)
    f = 1.5 * J2 * GM_M3_S2 * R_EQ_M ** 2 / rn ** 5
    zz = 5.0 * z * z / rn2
    ax = k * x + f * x * (zz - 1.0)
    ay = k * yy + f * yy * (zz - 1.0)
    az = k * z + f * z * (zz - 3.0)
    return np.array([y[3], y[4], y[5], ax, ay, az])


def propagate_ecef(elements: OrbitElements, times_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ECEF positions and velocities at ``times_s`` (any order) from the elements (J2 propagation)."""
    t = np.asarray(times_s, dtype=np.float64)
    rel = t - elements.epoch_s
    r0, v0 = elements.state_eci()
    y0 = np.concatenate([r0, v0])
    pos = np.empty((t.size, 3))
    vel = np.empty((t.size, 3))
    for sign in (1.0, -1.0):
        sel = np.nonzero(rel * sign >= 0)[0] if sign > 0 else np.nonzero(rel < 0)[0]
        if sel.size == 0:
            continue
        order = sel[np.argsort(rel[sel] * sign)]
        span = (0.0, float(rel[order[-1]]))
        if span[1] == 0.0:
            sol_y = np.repeat(y0[:, None], order.size, axis=1)
        else:
            sol = solve_ivp(_accel, span, y0, method="DOP853", t_eval=rel[order], rtol=1e-12, atol=1e-7)
            sol_y = sol.y
        th = OMEGA_EARTH_RAD_S * rel[order]
        c, s = np.cos(th), np.sin(th)
        rx, ry, rz = sol_y[0], sol_y[1], sol_y[2]
        vx, vy, vz = sol_y[3], sol_y[4], sol_y[5]
        # ECEF = R3(theta) ECI ; v_ecef = R3(theta) (v - w x r)
        pos[order, 0] = c * rx + s * ry
        pos[order, 1] = -s * rx + c * ry
        pos[order, 2] = rz
        wvx = vx + OMEGA_EARTH_RAD_S * ry
        wvy = vy - OMEGA_EARTH_RAD_S * rx
        vel[order, 0] = c * wvx + s * wvy
        vel[order, 1] = -s * wvx + c * wvy
        vel[order, 2] = vz
    return pos, vel


def state_vectors(elements: OrbitElements, start_s: float, stop_s: float, margin_s: float = 60.0,
                  step_s: float = STATE_VECTOR_STEP_S, time_offset_s: float = 0.0) -> StateVectors:
    """State vectors every ``step_s`` on whole multiples of the step, covering [start - margin, stop + margin].

    ``time_offset_s`` is added to the time tags (used for repeat-pass acquisitions: the ECEF trajectory of a
    repeat orbit is the same one cycle later).
    """
    t0 = math.floor((start_s - margin_s) / step_s) * step_s
    t1 = math.ceil((stop_s + margin_s) / step_s) * step_s
    t = np.arange(t0, t1 + 0.5 * step_s, step_s)
    p, v = propagate_ecef(elements, t)
    return StateVectors(time_s=t + time_offset_s, position_m=p, velocity_m_s=v, source="simulated")


def _incidence_and_time(elements: OrbitElements, xyz: np.ndarray, t_guess: float) -> tuple[float, float, float]:
    from ..geometry import geo2rdr_ecef
    from ..orbit import Orbit

    sv = state_vectors(elements, t_guess - 120.0, t_guess + 120.0, margin_s=0.0)
    orb = Orbit(sv)
    t_arr, tau = geo2rdr_ecef(orb, xyz.reshape(1, 3), t_guess_s=np.array([t_guess]))
    t = float(np.asarray(t_arr).ravel()[0])
    s, v = orb.position_velocity(np.array([t]))
    los = s[0] - xyz
    up = xyz / np.linalg.norm(xyz)
    inc = math.degrees(math.acos(float(np.dot(los, up) / np.linalg.norm(los))))
    # > 0 when the target is on the right of the velocity: (P - S) . (V x up)
    side = float(np.dot(-los, np.cross(v[0], s[0] / np.linalg.norm(s[0]))))
    return inc, t, side


def design_orbit(lat_deg: float, lon_deg: float, height_m: float, incidence_deg: float, time_s: float,
                 ascending: bool = True) -> OrbitElements:
    """Elements of a Sentinel-1-like orbit that sees (lat, lon, h) at ``time_s`` (zero Doppler), right-looking,
    at ``incidence_deg`` (within ~0.001 deg and ~1 ms)."""
    from ..geometry import llh_to_ecef

    xyz = np.asarray(llh_to_ecef(lat_deg, lon_deg, height_m), dtype=np.float64).reshape(3)
    inc = math.radians(S1_INCLINATION_DEG)
    s_u = math.sin(math.radians(lat_deg)) / math.sin(inc)
    u = math.asin(max(-1.0, min(1.0, s_u)))
    if not ascending:
        u = math.pi - u
    a = S1_SEMI_MAJOR_AXIS_M
    # Earth-centre angle between target and sub-satellite point for the wanted incidence
    look = math.asin(R_EQ_M * math.sin(math.radians(incidence_deg)) / a)
    beta = math.radians(incidence_deg) - look
    # right-looking: the target is east of an ascending (northbound) track, west of a descending one
    east = 1.0 if ascending else -1.0
    track_lon = math.radians(lon_deg) - east * beta / max(math.cos(math.radians(lat_deg)), 0.1)
    node = track_lon - math.atan2(math.cos(inc) * math.sin(u), math.cos(u))
    el = OrbitElements(epoch_s=time_s, node_longitude_deg=math.degrees(node), arg_latitude_deg=math.degrees(u))

    def err(node_deg: float, el0: OrbitElements) -> tuple[float, OrbitElements]:
        e = replace(el0, node_longitude_deg=node_deg)
        ang, t, _ = _incidence_and_time(e, xyz, time_s)
        # shift along track so the zero-Doppler time is time_s: move the argument of latitude
        n = 2 * math.pi / e.period_s
        e = replace(e, arg_latitude_deg=e.arg_latitude_deg + math.degrees(n * (t - time_s)))
        return ang - incidence_deg, e

    x0 = el.node_longitude_deg
    f0, el = err(x0, el)
    x1 = x0 + 0.05
    f1, el1 = err(x1, el)
    for _ in range(12):
        if abs(f1 - f0) < 1e-12:
            break
        x2 = x1 - f1 * (x1 - x0) / (f1 - f0)
        x0, f0 = x1, f1
        x1 = x2
        f1, el1 = err(x1, el1)
        if abs(f1) < 1e-6:
            break
    # final along-track refinement
    for _ in range(3):
        _, t, side = _incidence_and_time(el1, xyz, time_s)
        if side <= 0:
            raise RuntimeError("orbit design converged to a left-looking geometry")
        n = 2 * math.pi / el1.period_s
        el1 = replace(el1, arg_latitude_deg=el1.arg_latitude_deg + math.degrees(n * (t - time_s)))
    return el1


def absolute_orbit_s1a(time_s: float) -> int:
    """S1A absolute orbit number at a time, anchored on orbit 50174 at 2023-09-04T06:37:31 (a real product)."""
    anchor_t, anchor_orbit = 746865451.0, 50174
    return int(anchor_orbit + math.floor((time_s - anchor_t) / (REPEAT_CYCLE_S / ORBITS_PER_CYCLE)))
