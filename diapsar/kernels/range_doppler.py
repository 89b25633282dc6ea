"""Range-Doppler kernels: zero-Doppler solve (geo2rdr), point at a given range and height (rdr2geo), the
two-orbit topographic phase.

Zero-Doppler model (``diapsar.geometry``): the azimuth time of a ground point P is the time t at which
(P - S(t)) . V(t) = 0, with S, V from the orbit tables (``diapsar.kernels.orbit_state``); its range is
|P - S(t)|. Orbit arrays are ``Orbit.kernel_args`` = (tg, nodes, coef, t_ref); times inside kernels are
relative to t_ref. ``node_pos``/``node_vel`` are the interpolated positions/velocities at the state-vector
epochs (``Orbit.node_states``), used for the coarse start of the Newton search.

Array kernels work on the index range [i0, i1) and carry state (warm starts) from one point to the next;
the ``*_chunks`` drivers run them over fixed chunks of ``CHUNK`` points in parallel (numba prange). Each
chunk starts cold, so a result depends on the chunk layout only, never on the thread count.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from ..metadata import SPEED_OF_LIGHT_M_S
from .geodesy import WGS84_A, WGS84_B, ecef_to_llh_1, llh_to_ecef_1
from .orbit_state import interp_pva

CHUNK = 8192  # points per chunk of the parallel drivers

_C = SPEED_OF_LIGHT_M_S


# ----------------------------------------------------------------------------------------------- geo2rdr

@numba.njit(cache=True)
def coarse_zero_doppler(px, py, pz, tg, node_pos, node_vel):
    """Zero-Doppler time guess from the state-vector nodes: the +/- sign change of (P - S).V nearest to P."""
    n = tg.shape[0]
    best = np.nan
    best_d2 = np.inf
    f_prev = 0.0
    for k in range(n):
        dx = px - node_pos[k, 0]
        dy = py - node_pos[k, 1]
        dz = pz - node_pos[k, 2]
        f = dx * node_vel[k, 0] + dy * node_vel[k, 1] + dz * node_vel[k, 2]
        if k > 0 and f_prev >= 0.0 and f < 0.0:
            d2 = dx * dx + dy * dy + dz * dz
            if d2 < best_d2:
                best_d2 = d2
                best = tg[k - 1] + (tg[k] - tg[k - 1]) * f_prev / (f_prev - f)
        f_prev = f
    if np.isnan(best):
        # no sign change: the point is before or after the orbit arc, start from the nearer end
        dx0 = px - node_pos[0, 0]
        dy0 = py - node_pos[0, 1]
        dz0 = pz - node_pos[0, 2]
        f0 = dx0 * node_vel[0, 0] + dy0 * node_vel[0, 1] + dz0 * node_vel[0, 2]
        best = tg[0] if f0 < 0.0 else tg[n - 1]
    return best


@numba.njit(cache=True, inline="always")
def newton_zero_doppler(px, py, pz, t, tol, tg, nodes, coef, buf):
    """Newton steps on f(t) = (P - S(t)).V(t) from the start time t (relative to t_ref, steps clamped to 30 s)
    until a step is below ``tol`` s (at most 40); returns (t, last step), t NaN when it leaves the orbit arc by
    more than 30 s. ``buf`` keeps the orbit state (``interp_pva``) at t minus the last step."""
    t_lo = tg[0]
    t_hi = tg[tg.shape[0] - 1]
    dt = 0.0
    for _ in range(40):
        interp_pva(t, tg, nodes, coef, buf)
        dx = px - buf[0]
        dy = py - buf[1]
        dz = pz - buf[2]
        f = dx * buf[3] + dy * buf[4] + dz * buf[5]
        fp = -(buf[3] * buf[3] + buf[4] * buf[4] + buf[5] * buf[5]) + dx * buf[6] + dy * buf[7] + dz * buf[8]
        dt = -f / fp
        if dt > 30.0:
            dt = 30.0
        elif dt < -30.0:
            dt = -30.0
        t += dt
        if t < t_lo - 30.0 or t > t_hi + 30.0:
            return np.nan, dt
        if abs(dt) < tol:
            break
    return t, dt


@numba.njit(cache=True)
def zero_doppler(px, py, pz, t, tg, nodes, coef, buf):
    """Newton iteration on f(t) = (P - S(t)).V(t) from the start time t (relative to t_ref); returns
    (t, range_m), NaN when it leaves the orbit arc. ``buf``: scratch array of 9 floats."""
    t_lo = tg[0]
    t_hi = tg[tg.shape[0] - 1]
    t, _ = newton_zero_doppler(px, py, pz, t, 1e-11, tg, nodes, coef, buf)
    if not (t >= t_lo and t <= t_hi):
        return np.nan, np.nan
    interp_pva(t, tg, nodes, coef, buf)
    dx = px - buf[0]
    dy = py - buf[1]
    dz = pz - buf[2]
    return t, math.sqrt(dx * dx + dy * dy + dz * dz)


@numba.njit(cache=True)
def zero_doppler_from(px, py, pz, t, s0, tg, nodes, coef, buf):
    """``zero_doppler`` from the start time t whose orbit state (``interp_pva``) is already in ``s0`` (left
    unchanged: a caller solving many points from the same start time evaluates it once). The range is taken at
    the last Newton step's time plus its step dt (|dt| < 1e-11 s) by the second-order Taylor expansion of the
    orbit at the last evaluated state (not a new evaluation: they differ by ~1e-9 m). Returns (t, range_m), NaN
    when the search leaves the orbit arc. ``buf``: scratch array of 9 floats."""
    t_lo = tg[0]
    t_hi = tg[tg.shape[0] - 1]
    sv = s0
    dt = 0.0
    for k in range(40):
        if k > 0:
            interp_pva(t, tg, nodes, coef, buf)
            sv = buf
        dx = px - sv[0]
        dy = py - sv[1]
        dz = pz - sv[2]
        f = dx * sv[3] + dy * sv[4] + dz * sv[5]
        fp = -(sv[3] * sv[3] + sv[4] * sv[4] + sv[5] * sv[5]) + dx * sv[6] + dy * sv[7] + dz * sv[8]
        dt = -f / fp
        if dt > 30.0:
            dt = 30.0
        elif dt < -30.0:
            dt = -30.0
        t += dt
        if t < t_lo - 30.0 or t > t_hi + 30.0:
            return np.nan, np.nan
        if abs(dt) < 1e-11:
            break
    if t < t_lo or t > t_hi:
        return np.nan, np.nan
    dx = px - (sv[0] + dt * (sv[3] + 0.5 * dt * sv[6]))
    dy = py - (sv[1] + dt * (sv[4] + 0.5 * dt * sv[7]))
    dz = pz - (sv[2] + dt * (sv[5] + 0.5 * dt * sv[8]))
    return t, math.sqrt(dx * dx + dy * dy + dz * dz)


@numba.njit(cache=True)
def geo2rdr_llh_range(lat, lon, h, tguess, use_guess, tg, nodes, coef, node_pos, node_vel, t_ref, az, rg, i0, i1):
    """geo2rdr of geodetic points i0..i1-1: az[i] zero-Doppler time (s, absolute), rg[i] two-way range time.

    ``tguess`` (absolute times, used when ``use_guess`` and finite) starts the Newton search, else the coarse
    search over the state vectors."""
    buf = np.empty(9)
    for i in range(i0, i1):
        px, py, pz = llh_to_ecef_1(lat[i], lon[i], h[i])
        if use_guess and np.isfinite(tguess[i]):
            t0 = tguess[i] - t_ref
        else:
            t0 = coarse_zero_doppler(px, py, pz, tg, node_pos, node_vel)
        t, r = zero_doppler(px, py, pz, t0, tg, nodes, coef, buf)
        az[i] = t + t_ref
        rg[i] = 2.0 * r / _C


@numba.njit(cache=True)
def geo2rdr_ecef_range(xyz, tguess, use_guess, tg, nodes, coef, node_pos, node_vel, t_ref, az, rg, i0, i1):
    """``geo2rdr_llh_range`` for ECEF points xyz (n, 3)."""
    buf = np.empty(9)
    for i in range(i0, i1):
        px = xyz[i, 0]
        py = xyz[i, 1]
        pz = xyz[i, 2]
        if use_guess and np.isfinite(tguess[i]):
            t0 = tguess[i] - t_ref
        else:
            t0 = coarse_zero_doppler(px, py, pz, tg, node_pos, node_vel)
        t, r = zero_doppler(px, py, pz, t0, tg, nodes, coef, buf)
        az[i] = t + t_ref
        rg[i] = 2.0 * r / _C


@numba.njit(parallel=True, cache=True)
def geo2rdr_llh_chunks(lat, lon, h, tguess, use_guess, tg, nodes, coef, node_pos, node_vel, t_ref, az, rg):
    """``geo2rdr_llh_range`` over all points, by chunks in parallel."""
    n = lat.shape[0]
    for c in numba.prange((n + CHUNK - 1) // CHUNK):
        geo2rdr_llh_range(lat, lon, h, tguess, use_guess, tg, nodes, coef, node_pos, node_vel, t_ref, az, rg,
                          c * CHUNK, min(n, (c + 1) * CHUNK))


@numba.njit(parallel=True, cache=True)
def geo2rdr_ecef_chunks(xyz, tguess, use_guess, tg, nodes, coef, node_pos, node_vel, t_ref, az, rg):
    """``geo2rdr_ecef_range`` over all points, by chunks in parallel."""
    n = xyz.shape[0]
    for c in numba.prange((n + CHUNK - 1) // CHUNK):
        geo2rdr_ecef_range(xyz, tguess, use_guess, tg, nodes, coef, node_pos, node_vel, t_ref, az, rg,
                           c * CHUNK, min(n, (c + 1) * CHUNK))


# ----------------------------------------------------------------------------------------------- rdr2geo

@numba.njit(cache=True)
def solve3(a, b):
    """Solve the 3x3 system a x = b by Cramer's rule (a: 3x3, b: 3)."""
    det = (a[0, 0] * (a[1, 1] * a[2, 2] - a[1, 2] * a[2, 1])
           - a[0, 1] * (a[1, 0] * a[2, 2] - a[1, 2] * a[2, 0])
           + a[0, 2] * (a[1, 0] * a[2, 1] - a[1, 1] * a[2, 0]))
    x0 = (b[0] * (a[1, 1] * a[2, 2] - a[1, 2] * a[2, 1])
          - a[0, 1] * (b[1] * a[2, 2] - a[1, 2] * b[2])
          + a[0, 2] * (b[1] * a[2, 1] - a[1, 1] * b[2])) / det
    x1 = (a[0, 0] * (b[1] * a[2, 2] - a[1, 2] * b[2])
          - b[0] * (a[1, 0] * a[2, 2] - a[1, 2] * a[2, 0])
          + a[0, 2] * (a[1, 0] * b[2] - b[1] * a[2, 0])) / det
    x2 = (a[0, 0] * (a[1, 1] * b[2] - b[1] * a[2, 1])
          - a[0, 1] * (a[1, 0] * b[2] - b[1] * a[2, 0])
          + b[0] * (a[1, 0] * a[2, 1] - a[1, 1] * a[2, 0])) / det
    return x0, x1, x2


@numba.njit(cache=True)
def rdr2geo_1(sx, sy, sz, vx, vy, vz, rng, h, right, p0, jac, rhs):
    """Point at range ``rng`` from S, on the zero-Doppler plane of V, at ellipsoidal height h.

    Newton on (|P-S|^2 - R^2, (P-S).V, x^2/A^2 + y^2/A^2 + z^2/B^2 - 1) with A = a + h', B = b + h', then h'
    corrected until the geodetic height of P equals h. ``p0`` holds a start point or NaN; ``jac`` (3, 3) and
    ``rhs`` (3) are scratch arrays. Returns (x, y, z, ok).
    """
    if np.isnan(p0[0]):
        rs = math.sqrt(sx * sx + sy * sy + sz * sz)
        nx, ny, nz = -sx / rs, -sy / rs, -sz / rs
        vn = math.sqrt(vx * vx + vy * vy + vz * vz)
        tx, ty, tz = vx / vn, vy / vn, vz / vn
        # right of the velocity (looking down): c = n x t
        cx = ny * tz - nz * ty
        cy = nz * tx - nx * tz
        cz = nx * ty - ny * tx
        cn = math.sqrt(cx * cx + cy * cy + cz * cz)
        cx, cy, cz = cx / cn, cy / cn, cz / cn
        if not right:
            cx, cy, cz = -cx, -cy, -cz
        sinphi = sz / rs
        re = WGS84_A * WGS84_B / math.sqrt((WGS84_B * WGS84_B) * (1.0 - sinphi * sinphi)
                                           + (WGS84_A * WGS84_A) * sinphi * sinphi) + h
        cosl = (rs * rs + rng * rng - re * re) / (2.0 * rs * rng)
        if cosl > 1.0:
            cosl = 1.0
        sinl = math.sqrt(1.0 - cosl * cosl)
        x = sx + rng * (cosl * nx + sinl * cx)
        y = sy + rng * (cosl * ny + sinl * cy)
        z = sz + rng * (cosl * nz + sinl * cz)
    else:
        x, y, z = p0[0], p0[1], p0[2]
    hh = h
    ok = False
    for _outer in range(8):
        aa = WGS84_A + hh
        bb = WGS84_B + hh
        ia2 = 1.0 / (aa * aa)
        ib2 = 1.0 / (bb * bb)
        for _ in range(30):
            dx = x - sx
            dy = y - sy
            dz = z - sz
            rhs[0] = -(dx * dx + dy * dy + dz * dz - rng * rng)
            rhs[1] = -(dx * vx + dy * vy + dz * vz)
            rhs[2] = -((x * x + y * y) * ia2 + z * z * ib2 - 1.0)
            jac[0, 0] = 2.0 * dx
            jac[0, 1] = 2.0 * dy
            jac[0, 2] = 2.0 * dz
            jac[1, 0] = vx
            jac[1, 1] = vy
            jac[1, 2] = vz
            jac[2, 0] = 2.0 * x * ia2
            jac[2, 1] = 2.0 * y * ia2
            jac[2, 2] = 2.0 * z * ib2
            ex, ey, ez = solve3(jac, rhs)
            x += ex
            y += ey
            z += ez
            if abs(ex) + abs(ey) + abs(ez) < 1e-7:
                break
        _, _, hp = ecef_to_llh_1(x, y, z)
        dh = h - hp
        hh += dh
        if abs(dh) < 1e-6:
            ok = True
            break
    if not (np.isfinite(x) and np.isfinite(y) and np.isfinite(z)):
        ok = False
    return x, y, z, ok


@numba.njit(cache=True)
def rdr2geo_range(az, tau, h, right, tg, nodes, coef, t_ref, xyz, i0, i1):
    """ECEF xyz[i] of radar coordinates (absolute zero-Doppler time az, two-way range time tau) at the
    ellipsoidal heights h, points i0..i1-1; NaN outside the orbit arc or where rdr2geo does not converge.
    Warm start from the previous point when it is a close neighbour (< 1 s, 20 us range, 500 m height)."""
    buf = np.empty(9)
    jac = np.empty((3, 3))
    rhs = np.empty(3)
    p0 = np.empty(3)
    t_lo = tg[0]
    t_hi = tg[tg.shape[0] - 1]
    prev_ok = False
    prev_t = 0.0
    prev_tau = 0.0
    prev_h = 0.0
    for i in range(i0, i1):
        t = az[i] - t_ref
        if not (t >= t_lo and t <= t_hi and np.isfinite(tau[i]) and np.isfinite(h[i])):
            xyz[i, 0] = np.nan
            xyz[i, 1] = np.nan
            xyz[i, 2] = np.nan
            prev_ok = False
            continue
        interp_pva(t, tg, nodes, coef, buf)
        if prev_ok and abs(t - prev_t) < 1.0 and abs(tau[i] - prev_tau) < 2e-5 and abs(h[i] - prev_h) < 500.0:
            p0[0] = xyz[i - 1, 0]
            p0[1] = xyz[i - 1, 1]
            p0[2] = xyz[i - 1, 2]
        else:
            p0[0] = np.nan
        x, y, z, ok = rdr2geo_1(buf[0], buf[1], buf[2], buf[3], buf[4], buf[5], 0.5 * _C * tau[i], h[i],
                                right, p0, jac, rhs)
        if not ok:
            x = np.nan
            y = np.nan
            z = np.nan
        xyz[i, 0] = x
        xyz[i, 1] = y
        xyz[i, 2] = z
        prev_ok = ok
        prev_t = t
        prev_tau = tau[i]
        prev_h = h[i]


@numba.njit(parallel=True, cache=True)
def rdr2geo_chunks(az, tau, h, right, tg, nodes, coef, t_ref, xyz):
    """``rdr2geo_range`` over all points, by chunks in parallel."""
    n = az.shape[0]
    for c in numba.prange((n + CHUNK - 1) // CHUNK):
        rdr2geo_range(az, tau, h, right, tg, nodes, coef, t_ref, xyz, c * CHUNK, min(n, (c + 1) * CHUNK))


# ------------------------------------------------------------------------------------ topographic phase

@numba.njit(cache=True, parallel=True)
def topographic_phase_chunks(xyz, t_m, t_s, use_guess, m_tg, m_nodes, m_coef, m_pos, m_vel, m_ref, s_tg,
                             s_nodes, s_coef, s_pos, s_vel, s_ref, k_phase, phase, az_s, tau_s, r_m, r_s):
    """Zero-Doppler solves of ECEF points on a master and a slave orbit, and the phase
    k_phase * (R_slave - R_master), by chunks in parallel.

    ``t_m``/``t_s``: absolute start times of the two searches (used when ``use_guess`` and finite, else the
    coarse search). Outputs per point: ``phase``, the slave zero-Doppler time ``az_s`` and two-way range time
    ``tau_s``, the ranges ``r_m``/``r_s`` (m); NaN where the point is not finite or outside an orbit.

    Solves by ``zero_doppler_from``: the orbit state at a start time is evaluated once for consecutive points
    with the same start (the ML cells of a row: the master solve of a cartesian-mean point, which lies on the
    zero-Doppler plane of its row's time, then costs no orbit evaluation of its own), and the slave search of a
    point starts from its given time plus the previous point's (t_slave - start) of the chunk: 2 instead of 6
    orbit evaluations per point on the IW benchmark; the phase changes by < 1e-6 rad.
    """
    n = xyz.shape[0]
    for c in numba.prange((n + CHUNK - 1) // CHUNK):
        buf = np.empty(9)
        m0 = np.empty(9)
        s0 = np.empty(9)
        m0_t = np.nan  # start times whose states m0, s0 hold
        s0_t = np.nan
        s_off = np.nan  # t_slave - start of the chunk's previous slave solve
        for i in range(c * CHUNK, min(n, (c + 1) * CHUNK)):
            px = xyz[i, 0]
            py = xyz[i, 1]
            pz = xyz[i, 2]
            phase[i] = np.nan
            az_s[i] = np.nan
            tau_s[i] = np.nan
            r_m[i] = np.nan
            r_s[i] = np.nan
            if not (np.isfinite(px) and np.isfinite(py) and np.isfinite(pz)):
                continue
            if use_guess and np.isfinite(t_m[i]):
                t0 = t_m[i] - m_ref
            else:
                t0 = coarse_zero_doppler(px, py, pz, m_tg, m_pos, m_vel)
            if t0 != m0_t:
                interp_pva(t0, m_tg, m_nodes, m_coef, m0)
                m0_t = t0
            tm, rm = zero_doppler_from(px, py, pz, t0, m0, m_tg, m_nodes, m_coef, buf)
            if use_guess and np.isfinite(t_s[i]):
                t0 = t_s[i] - s_ref
                g0 = t0 + s_off if np.isfinite(s_off) else t0
            else:
                t0 = coarse_zero_doppler(px, py, pz, s_tg, s_pos, s_vel)
                g0 = t0
            if g0 != s0_t:
                interp_pva(g0, s_tg, s_nodes, s_coef, s0)
                s0_t = g0
            ts, rs = zero_doppler_from(px, py, pz, g0, s0, s_tg, s_nodes, s_coef, buf)
            s_off = ts - t0 if np.isfinite(ts) else np.nan
            if np.isfinite(tm):
                r_m[i] = rm
            if np.isfinite(ts):
                r_s[i] = rs
                az_s[i] = ts + s_ref
                tau_s[i] = 2.0 * rs / _C
            phase[i] = k_phase * (r_s[i] - r_m[i])
