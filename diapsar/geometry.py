"""Range-Doppler geometry on the WGS84 ellipsoid: geo2rdr, rdr2geo, rdr2geo_dem, ECEF conversions, RadarGrid.

Conventions (``diapsar.metadata``): azimuth times are seconds since 2000-01-01 UTC, range times are two-way
seconds, ECEF in metres. The azimuth time of a ground point is its zero-Doppler time: the time t at which the
line of sight is perpendicular to the orbit velocity, (P - S(t)) . V(t) = 0, with S and V from
``diapsar.orbit.Orbit`` (interpolated positions and ESA's velocities, see there why). The two-way range time
is 2 |P - S(t)| / c. On every real annotation of the test data this reproduces ESA's geolocationGrid
azimuthTime/slantRangeTime within 0.004 line and 0.0001 sample (tests/test_20_geometry.py). OTB's
SarSensorModel (DiapOTB) uses the same zero-Doppler model.

Image pixels and zero-Doppler times differ by ESA's residual bistatic azimuth shift: go through
``RadarGrid.radar_to_times`` (pixel -> times for rdr2geo / rdr2geo_dem) and ``RadarGrid.times_to_radar``
(geo2rdr output -> line, pixel).

Every function takes numpy arrays of any (equal, broadcastable) shape and runs numba kernels (chunked over
threads above ``PARALLEL_MIN_POINTS`` points).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from .errors import SelectionError
from .metadata import SPEED_OF_LIGHT_M_S, SwathMetadata
from .orbit import Orbit, find_interval, interp_pva

# WGS84 (NIMA TR8350.2)
WGS84_A = 6378137.0
WGS84_F = 1.0 / 298.257223563
WGS84_B = WGS84_A * (1.0 - WGS84_F)
WGS84_E2 = WGS84_F * (2.0 - WGS84_F)
WGS84_EP2 = WGS84_E2 / (1.0 - WGS84_E2)

_C = SPEED_OF_LIGHT_M_S


# ------------------------------------------------------------------------------------- ECEF <-> geodetic

@numba.njit(cache=True)
def _llh_to_ecef_1(lat_deg, lon_deg, h):
    lat = math.radians(lat_deg)
    lon = math.radians(lon_deg)
    s = math.sin(lat)
    c = math.cos(lat)
    n = WGS84_A / math.sqrt(1.0 - WGS84_E2 * s * s)
    x = (n + h) * c * math.cos(lon)
    y = (n + h) * c * math.sin(lon)
    z = (n * (1.0 - WGS84_E2) + h) * s
    return x, y, z


@numba.njit(cache=True)
def _ecef_to_llh_1(x, y, z):
    """Bowring's parametric-latitude iteration (two steps, no trigonometry inside the loop).

    Bowring (1976), "Transformation from spatial to geographical coordinates", Survey Review 23(181); two
    steps are accurate to better than 1e-12 rad / 1e-6 m from the Earth's surface to orbit heights
    (tests/test_20_geometry.py compares with PROJ).
    """
    p = math.hypot(x, y)
    lon = math.atan2(y, x)
    # (sin, cos) of the parametric latitude beta, start: tan(beta) = z a / (p b)
    u = z * WGS84_A
    w = p * WGS84_B
    r = math.hypot(u, w)
    if r == 0.0:
        return 0.0, lon, -WGS84_A
    sb = u / r
    cb = w / r
    num = 0.0
    den = 1.0
    for _ in range(2):
        num = z + WGS84_EP2 * WGS84_B * sb * sb * sb
        den = p - WGS84_E2 * WGS84_A * cb * cb * cb
        # tan(beta) = (1 - f) tan(lat)
        u = (1.0 - WGS84_F) * num
        w = den
        r = math.hypot(u, w)
        sb = u / r
        cb = w / r
    r = math.hypot(num, den)
    s = num / r
    c = den / r
    lat = math.atan2(num, den)
    n = WGS84_A / math.sqrt(1.0 - WGS84_E2 * s * s)
    # robust everywhere (no division by cos(lat))
    h = p * c + z * s - WGS84_A * WGS84_A / n
    return math.degrees(lat), math.degrees(lon), h


@numba.njit(cache=True)
def _llh_to_ecef_many(lat, lon, h, out):
    for i in range(lat.shape[0]):
        x, y, z = _llh_to_ecef_1(lat[i], lon[i], h[i])
        out[i, 0] = x
        out[i, 1] = y
        out[i, 2] = z


@numba.njit(cache=True)
def _ecef_to_llh_many(xyz, lat, lon, h):
    for i in range(xyz.shape[0]):
        a, b, c = _ecef_to_llh_1(xyz[i, 0], xyz[i, 1], xyz[i, 2])
        lat[i] = a
        lon[i] = b
        h[i] = c


def _flat(*arrays):
    arrs = np.broadcast_arrays(*[np.asarray(a, dtype=np.float64) for a in arrays])
    shape = arrs[0].shape
    return shape, [np.ascontiguousarray(a.reshape(-1)) for a in arrs]


def llh_to_ecef(lat_deg, lon_deg, h_m) -> np.ndarray:
    """Geodetic WGS84 latitude/longitude (degrees) and ellipsoidal height (m) to ECEF metres, shape (..., 3)."""
    shape, (lat, lon, h) = _flat(lat_deg, lon_deg, h_m)
    out = np.empty((lat.shape[0], 3))
    _llh_to_ecef_many(lat, lon, h, out)
    return out.reshape(shape + (3,))


def ecef_to_llh(xyz) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ECEF metres (..., 3) to geodetic latitude, longitude (degrees) and ellipsoidal height (m)."""
    a = np.asarray(xyz, dtype=np.float64)
    shape = a.shape[:-1]
    flat = np.ascontiguousarray(a.reshape(-1, 3))
    lat = np.empty(flat.shape[0])
    lon = np.empty(flat.shape[0])
    h = np.empty(flat.shape[0])
    _ecef_to_llh_many(flat, lat, lon, h)
    return lat.reshape(shape), lon.reshape(shape), h.reshape(shape)


# ----------------------------------------------------------------------------------------------- geo2rdr

@numba.njit(cache=True)
def _coarse_zero_doppler(px, py, pz, tg, node_pos, node_vel):
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


@numba.njit(cache=True)
def _zero_doppler(px, py, pz, t, tg, nodes, coef, buf):
    """Newton iteration on f(t) = (P - S(t)).V(t); returns (t, range_m); NaN when it leaves the orbit arc."""
    t_lo = tg[0]
    t_hi = tg[tg.shape[0] - 1]
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
            return np.nan, np.nan
        if abs(dt) < 1e-11:
            break
    if t < t_lo or t > t_hi:
        return np.nan, np.nan
    interp_pva(t, tg, nodes, coef, buf)
    dx = px - buf[0]
    dy = py - buf[1]
    dz = pz - buf[2]
    return t, math.sqrt(dx * dx + dy * dy + dz * dz)


@numba.njit(cache=True)
def _geo2rdr_kernel(lat, lon, h, tguess, use_guess, tg, nodes, coef, node_pos, node_vel, t_ref, az, rg, i0, i1):
    buf = np.empty(9)
    for i in range(i0, i1):
        px, py, pz = _llh_to_ecef_1(lat[i], lon[i], h[i])
        if use_guess and np.isfinite(tguess[i]):
            t0 = tguess[i] - t_ref
        else:
            t0 = _coarse_zero_doppler(px, py, pz, tg, node_pos, node_vel)
        t, r = _zero_doppler(px, py, pz, t0, tg, nodes, coef, buf)
        az[i] = t + t_ref
        rg[i] = 2.0 * r / _C


@numba.njit(cache=True)
def _geo2rdr_ecef_kernel(xyz, tguess, use_guess, tg, nodes, coef, node_pos, node_vel, t_ref, az, rg, i0, i1):
    buf = np.empty(9)
    for i in range(i0, i1):
        px = xyz[i, 0]
        py = xyz[i, 1]
        pz = xyz[i, 2]
        if use_guess and np.isfinite(tguess[i]):
            t0 = tguess[i] - t_ref
        else:
            t0 = _coarse_zero_doppler(px, py, pz, tg, node_pos, node_vel)
        t, r = _zero_doppler(px, py, pz, t0, tg, nodes, coef, buf)
        az[i] = t + t_ref
        rg[i] = 2.0 * r / _C


def _node_state(orbit: Orbit) -> tuple[np.ndarray, np.ndarray]:
    """Positions and (interpolated, position-derived) velocities at the state-vector epochs, cached."""
    cached = getattr(orbit, "_node_state_cache", None)
    if cached is None:
        p, v = orbit.position_velocity(orbit.time_s)
        cached = (np.ascontiguousarray(p), np.ascontiguousarray(v))
        orbit._node_state_cache = cached
    return cached


def geo2rdr(orbit: Orbit, lat_deg, lon_deg, h_m, t_guess_s=None) -> tuple[np.ndarray, np.ndarray]:
    """Zero-Doppler azimuth time (s since 2000) and two-way slant range time (s) of ground points.

    ``t_guess_s`` (optional, same shape or scalar) starts the Newton iteration; without it a coarse search
    over the state vectors finds the start. Points whose zero-Doppler time falls outside the orbit's state
    vectors give NaN.
    """
    if t_guess_s is None:
        shape, (lat, lon, h) = _flat(lat_deg, lon_deg, h_m)
        guess = np.empty(0)
        use = False
    else:
        shape, (lat, lon, h, guess) = _flat(lat_deg, lon_deg, h_m, t_guess_s)
        use = True
    az = np.empty(lat.shape[0])
    rg = np.empty(lat.shape[0])
    tg, nodes, coef, t_ref = orbit.kernel_args
    npos, nvel = _node_state(orbit)
    if _use_parallel(lat.shape[0]):
        _geo2rdr_par(lat, lon, h, guess, use, tg, nodes, coef, npos, nvel, t_ref, az, rg)
    else:
        _geo2rdr_kernel(lat, lon, h, guess, use, tg, nodes, coef, npos, nvel, t_ref, az, rg, 0, lat.shape[0])
    return az.reshape(shape), rg.reshape(shape)


def geo2rdr_ecef(orbit: Orbit, xyz, t_guess_s=None) -> tuple[np.ndarray, np.ndarray]:
    """geo2rdr for ECEF points (..., 3): zero-Doppler azimuth time and two-way range time."""
    a = np.asarray(xyz, dtype=np.float64)
    shape = a.shape[:-1]
    flat = np.ascontiguousarray(a.reshape(-1, 3))
    if t_guess_s is None:
        guess = np.empty(0)
        use = False
    else:
        guess = np.ascontiguousarray(np.broadcast_to(np.asarray(t_guess_s, dtype=np.float64), shape).reshape(-1))
        use = True
    az = np.empty(flat.shape[0])
    rg = np.empty(flat.shape[0])
    tg, nodes, coef, t_ref = orbit.kernel_args
    npos, nvel = _node_state(orbit)
    if _use_parallel(flat.shape[0]):
        _geo2rdr_ecef_par(flat, guess, use, tg, nodes, coef, npos, nvel, t_ref, az, rg)
    else:
        _geo2rdr_ecef_kernel(flat, guess, use, tg, nodes, coef, npos, nvel, t_ref, az, rg, 0, flat.shape[0])
    return az.reshape(shape), rg.reshape(shape)


# ----------------------------------------------------------------------------------------------- rdr2geo

@numba.njit(cache=True)
def _solve3(a, b):
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
def _rdr2geo_1(sx, sy, sz, vx, vy, vz, rng, h, right, p0, jac, rhs):
    """Point at range ``rng`` from S, on the zero-Doppler plane of V, at ellipsoidal height h.

    Newton on (|P-S|^2 - R^2, (P-S).V, x^2/A^2 + y^2/A^2 + z^2/B^2 - 1) with A = a + h', B = b + h', then h'
    corrected until the geodetic height of P equals h. ``p0`` holds a start point or NaN.
    Returns (x, y, z, ok).
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
            ex, ey, ez = _solve3(jac, rhs)
            x += ex
            y += ey
            z += ez
            if abs(ex) + abs(ey) + abs(ez) < 1e-7:
                break
        _, _, hp = _ecef_to_llh_1(x, y, z)
        dh = h - hp
        hh += dh
        if abs(dh) < 1e-6:
            ok = True
            break
    if not (np.isfinite(x) and np.isfinite(y) and np.isfinite(z)):
        ok = False
    return x, y, z, ok


@numba.njit(cache=True)
def _rdr2geo_kernel(az, tau, h, right, tg, nodes, coef, t_ref, xyz, i0, i1):
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
        # warm start from the previous point when it is a close neighbour (< 1 s, 20 us range, 500 m height)
        if prev_ok and abs(t - prev_t) < 1.0 and abs(tau[i] - prev_tau) < 2e-5 and abs(h[i] - prev_h) < 500.0:
            p0[0] = xyz[i - 1, 0]
            p0[1] = xyz[i - 1, 1]
            p0[2] = xyz[i - 1, 2]
        else:
            p0[0] = np.nan
        x, y, z, ok = _rdr2geo_1(buf[0], buf[1], buf[2], buf[3], buf[4], buf[5], 0.5 * _C * tau[i], h[i],
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


def _right(look_side: str) -> bool:
    side = str(look_side).upper()
    if side not in ("RIGHT", "LEFT"):
        raise SelectionError(f"look side must be RIGHT or LEFT, not {look_side!r}")
    return side == "RIGHT"


def rdr2geo_ecef(orbit: Orbit, azimuth_time_s, range_time_s, height_m, look_side="RIGHT") -> np.ndarray:
    """ECEF (..., 3) of radar coordinates at a fixed ellipsoidal height; NaN outside the orbit arc."""
    shape, (az, tau, h) = _flat(azimuth_time_s, range_time_s, height_m)
    xyz = np.empty((az.shape[0], 3))
    tg, nodes, coef, t_ref = orbit.kernel_args
    if _use_parallel(az.shape[0]):
        _rdr2geo_par(az, tau, h, _right(look_side), tg, nodes, coef, t_ref, xyz)
    else:
        _rdr2geo_kernel(az, tau, h, _right(look_side), tg, nodes, coef, t_ref, xyz, 0, az.shape[0])
    return xyz.reshape(shape + (3,))


def rdr2geo(orbit: Orbit, azimuth_time_s, range_time_s, height_m, look_side="RIGHT"):
    """Latitude, longitude (degrees) and height (m) of radar coordinates (zero-Doppler azimuth time, two-way
    range time) at a fixed height above the WGS84 ellipsoid."""
    xyz = rdr2geo_ecef(orbit, azimuth_time_s, range_time_s, height_m, look_side)
    return ecef_to_llh(xyz)


# ------------------------------------------------------------------------------------------- rdr2geo_dem

@numba.njit(cache=True)
def _dem_height(dem, x0, dx, y0, dy, lon, lat):
    """Bilinear DEM value at lon/lat (GDAL pixel-is-area geotransform; NaN outside or on NaN posts)."""
    c = (lon - x0) / dx - 0.5
    r = (lat - y0) / dy - 0.5
    nr = dem.shape[0]
    nc = dem.shape[1]
    if not (c >= 0.0 and r >= 0.0 and c <= nc - 1 and r <= nr - 1):
        return np.nan
    c0 = min(int(c), nc - 2) if nc > 1 else 0
    r0 = min(int(r), nr - 2) if nr > 1 else 0
    fc = c - c0
    fr = r - r0
    c1 = min(c0 + 1, nc - 1)
    r1 = min(r0 + 1, nr - 1)
    v00 = dem[r0, c0]
    v01 = dem[r0, c1]
    v10 = dem[r1, c0]
    v11 = dem[r1, c1]
    return ((v00 * (1.0 - fc) + v01 * fc) * (1.0 - fr) + (v10 * (1.0 - fc) + v11 * fc) * fr)


@numba.njit(cache=True)
def _rdr2geo_dem_kernel(az, tau, dem, x0, dx, y0, dy, h_start, right, tg, nodes, coef, t_ref,
                        lat_out, lon_out, h_out, i0, i1):
    """Per point: solve g(h) = DEM(P(h)) - h = 0 along the range/zero-Doppler circle.

    Secant steps (fixed-point steps to start and whenever the secant is unusable), halved when |g| grows;
    warm start (height and position) from the previous point when it is a neighbour in time and range.
    """
    buf = np.empty(9)
    jac = np.empty((3, 3))
    rhs = np.empty(3)
    p0 = np.empty(3)
    t_lo = tg[0]
    t_hi = tg[tg.shape[0] - 1]
    prev_ok = False
    prev_t = 0.0
    prev_tau = 0.0
    prev_h = h_start
    px = 0.0
    py = 0.0
    pz = 0.0
    for i in range(i0, i1):
        lat_out[i] = np.nan
        lon_out[i] = np.nan
        h_out[i] = np.nan
        t = az[i] - t_ref
        if not (t >= t_lo and t <= t_hi and np.isfinite(tau[i])):
            prev_ok = False
            continue
        interp_pva(t, tg, nodes, coef, buf)
        rng = 0.5 * _C * tau[i]
        if prev_ok and abs(t - prev_t) < 0.5 and abs(tau[i] - prev_tau) < 1e-5:
            h = prev_h
            p0[0] = px
            p0[1] = py
            p0[2] = pz
        else:
            h = h_start
            p0[0] = np.nan
        h_old = np.nan
        g_old = np.nan
        done = False
        lat = np.nan
        lon = np.nan
        for _ in range(60):
            x, y, z, ok = _rdr2geo_1(buf[0], buf[1], buf[2], buf[3], buf[4], buf[5], rng, h, right, p0,
                                     jac, rhs)
            if not ok:
                break
            p0[0] = x
            p0[1] = y
            p0[2] = z
            lat, lon, _ = _ecef_to_llh_1(x, y, z)
            hd = _dem_height(dem, x0, dx, y0, dy, lon, lat)
            if not np.isfinite(hd):
                break
            g = hd - h
            if abs(g) < 1e-3:
                done = True
                break
            if np.isfinite(g_old) and abs(g) > abs(g_old):
                # diverging (steep slope facing the radar): go back halfway
                h = 0.5 * (h + h_old)
                continue
            if np.isfinite(g_old) and g != g_old:
                h_new = h - g * (h - h_old) / (g - g_old)
            else:
                h_new = hd
            h_old = h
            g_old = g
            h = h_new
        prev_ok = done
        if done:
            lat_out[i] = lat
            lon_out[i] = lon
            h_out[i] = h
            prev_t = t
            prev_tau = tau[i]
            prev_h = h
            px = p0[0]
            py = p0[1]
            pz = p0[2]


def rdr2geo_dem(orbit: Orbit, azimuth_time_s, range_time_s, dem, dem_transform, look_side="RIGHT",
                h_start_m: float | None = None):
    """Latitude, longitude, height of radar coordinates on a DEM surface.

    ``dem`` is a 2-D array of ellipsoidal heights on a regular lon/lat grid (NaN = no data) and
    ``dem_transform`` its GDAL geotransform (x0, dx, 0, y0, 0, dy) in degrees, pixel-is-area. The height is
    iterated (secant on DEM(P(h)) - h, see the kernel) until the point is within 1 mm of the DEM surface.
    NaN where the DEM does not cover the point, has no data, or the iteration does not converge.
    """
    d = np.ascontiguousarray(np.asarray(dem, dtype=np.float64))
    if d.ndim != 2:
        raise SelectionError(f"DEM must be a 2-D array, got shape {d.shape}")
    gt = [float(v) for v in dem_transform]
    if len(gt) != 6 or gt[2] != 0.0 or gt[4] != 0.0:
        raise SelectionError(f"DEM geotransform must be (x0, dx, 0, y0, 0, dy) without rotation, got {gt}")
    if h_start_m is None:
        finite = d[np.isfinite(d)]
        h_start_m = float(np.median(finite)) if finite.size else 0.0
    shape, (az, tau) = _flat(azimuth_time_s, range_time_s)
    lat = np.empty(az.shape[0])
    lon = np.empty(az.shape[0])
    h = np.empty(az.shape[0])
    tg, nodes, coef, t_ref = orbit.kernel_args
    args = (az, tau, d, gt[0], gt[1], gt[3], gt[5], float(h_start_m), _right(look_side), tg, nodes, coef, t_ref,
            lat, lon, h)
    if _use_parallel(az.shape[0]):
        _rdr2geo_dem_par(*args)
    else:
        _rdr2geo_dem_kernel(*args, 0, az.shape[0])
    return lat.reshape(shape), lon.reshape(shape), h.reshape(shape)


# ------------------------------------------------------------------------------------ parallel drivers
# Kernels run over [i0, i1); the drivers split large inputs into chunks processed in parallel (numba prange).
# Each chunk starts cold (no warm start across chunks), so results do not depend on the thread count.
CHUNK = 8192
PARALLEL_MIN_POINTS = 65536


@numba.njit(parallel=True, cache=True)
def _geo2rdr_par(lat, lon, h, tguess, use_guess, tg, nodes, coef, node_pos, node_vel, t_ref, az, rg):
    n = lat.shape[0]
    for c in numba.prange((n + CHUNK - 1) // CHUNK):
        _geo2rdr_kernel(lat, lon, h, tguess, use_guess, tg, nodes, coef, node_pos, node_vel, t_ref, az, rg,
                        c * CHUNK, min(n, (c + 1) * CHUNK))


@numba.njit(parallel=True, cache=True)
def _geo2rdr_ecef_par(xyz, tguess, use_guess, tg, nodes, coef, node_pos, node_vel, t_ref, az, rg):
    n = xyz.shape[0]
    for c in numba.prange((n + CHUNK - 1) // CHUNK):
        _geo2rdr_ecef_kernel(xyz, tguess, use_guess, tg, nodes, coef, node_pos, node_vel, t_ref, az, rg,
                             c * CHUNK, min(n, (c + 1) * CHUNK))


@numba.njit(parallel=True, cache=True)
def _rdr2geo_par(az, tau, h, right, tg, nodes, coef, t_ref, xyz):
    n = az.shape[0]
    for c in numba.prange((n + CHUNK - 1) // CHUNK):
        _rdr2geo_kernel(az, tau, h, right, tg, nodes, coef, t_ref, xyz, c * CHUNK, min(n, (c + 1) * CHUNK))


@numba.njit(parallel=True, cache=True)
def _rdr2geo_dem_par(az, tau, dem, x0, dx, y0, dy, h_start, right, tg, nodes, coef, t_ref,
                     lat_out, lon_out, h_out):
    n = az.shape[0]
    for c in numba.prange((n + CHUNK - 1) // CHUNK):
        _rdr2geo_dem_kernel(az, tau, dem, x0, dx, y0, dy, h_start, right, tg, nodes, coef, t_ref,
                            lat_out, lon_out, h_out, c * CHUNK, min(n, (c + 1) * CHUNK))


def _use_parallel(n: int) -> bool:
    return n >= PARALLEL_MIN_POINTS and numba.get_num_threads() > 1



# --------------------------------------------------------------------------------------------- RadarGrid

class RadarGrid:
    """Azimuth time <-> line and range time <-> pixel of one swath image (0-based full-swath indices).

    Image line times (``line_to_time`` / ``time_to_line`` without ``range_time``):
    stripmap: t_line = productFirstLineUtcTime + line * azimuthTimeInterval;
    TOPS (IW/EW): per burst b, t_line = b.azimuth_time_s + (line - b.first_line) * azimuthTimeInterval. A time
    in the overlap of two bursts belongs to both; without an explicit ``burst`` the choice follows ESA's
    geolocation grid (see ``burst_of_time``).

    Zero-Doppler time of a target vs its image line (pass ``range_time``, or use ``radar_to_times`` /
    ``times_to_radar``): t_zero_doppler = t_line + (tau - tau_ref) / 2. ESA's processor compensates the
    bistatic delay (the satellite moves between transmission and reception, tau/2) for one reference range
    time tau_ref only, leaving an azimuth shift of (tau - tau_ref)/2 across the swath. Every annotation in the
    test data shows it: its geolocationGrid azimuthTime minus the nominal time of its line is
    0.5000 +/- 0.0004 s/s times the range time, and the fitted tau_ref is the mid-range time of the centre
    swath (IW2 for IW1-3, EW3 for EW, the own mid-range for stripmap), as the Sentinel-1 calibration tools
    assume (Aresys SAR Calibration Toolbox, "Sentinel-1 IPF range and azimuth corrections": bistatic delay
    applied = IW2/EW3 mid-range time / 2; Gisinger et al. 2021, IEEE TGRS 59(2), on the residual bistatic
    term of Sentinel-1 geolocation). Across an IW swath it amounts to -0.13..+0.14 line. ``from_metadata``
    fits tau_ref on the annotation's own grid (None when the grid is missing or does not follow the model,
    then no correction is applied).
    """

    def __init__(self, first_line_time_s: float, azimuth_time_interval_s: float, slant_range_time_s: float,
                 range_sampling_rate_hz: float, number_of_lines: int, number_of_samples: int,
                 burst_times_s=None, burst_first_lines=None, lines_per_burst: int = 0,
                 bistatic_reference_range_time_s: float | None = None):
        self.first_line_time_s = float(first_line_time_s)
        self.azimuth_time_interval_s = float(azimuth_time_interval_s)
        self.slant_range_time_s = float(slant_range_time_s)
        self.range_sampling_rate_hz = float(range_sampling_rate_hz)
        self.number_of_lines = int(number_of_lines)
        self.number_of_samples = int(number_of_samples)
        self.burst_times_s = np.asarray([] if burst_times_s is None else burst_times_s, dtype=np.float64)
        self.burst_first_lines = np.asarray([] if burst_first_lines is None else burst_first_lines,
                                            dtype=np.int64)
        self.lines_per_burst = int(lines_per_burst)
        self.bistatic_reference_range_time_s = (None if bistatic_reference_range_time_s is None
                                                else float(bistatic_reference_range_time_s))

    @classmethod
    def from_metadata(cls, meta: SwathMetadata, bistatic: bool = True) -> RadarGrid:
        if meta.is_tops:
            grid = cls(meta.first_line_time_s, meta.azimuth_time_interval_s, meta.slant_range_time_s,
                       meta.range_sampling_rate_hz, meta.number_of_lines, meta.number_of_samples,
                       [b.azimuth_time_s for b in meta.bursts], [b.first_line for b in meta.bursts],
                       meta.lines_per_burst)
        else:
            grid = cls(meta.first_line_time_s, meta.azimuth_time_interval_s, meta.slant_range_time_s,
                       meta.range_sampling_rate_hz, meta.number_of_lines, meta.number_of_samples)
        if meta.bistatic_reference_range_time_s is not None:
            # an image derived from a swath (a debursted frame) keeps the reference of its swath
            grid.bistatic_reference_range_time_s = meta.bistatic_reference_range_time_s if bistatic else None
        elif bistatic:
            grid.bistatic_reference_range_time_s = grid.fit_bistatic_reference(meta)
        return grid

    def fit_bistatic_reference(self, meta: SwathMetadata, max_rms_lines: float = 0.02) -> float | None:
        """tau_ref from the geolocation grid: t_grid - t_line(grid line) = (tau - tau_ref) / 2.

        When the grid spans >= 50 us of range time, a free linear fit first checks the slope: 0.5 (ESA's
        grids) gives tau_ref (least squares with the slope fixed), 0 (a grid written without the bistatic
        term, e.g. by a simulator) or anything else gives None. Narrower grids cannot tell; ESA's convention
        is assumed. None also when there is no grid or the residual exceeds ``max_rms_lines``.
        """
        g = meta.geolocation_grid
        if g is None or np.size(g.azimuth_time_s) < 3:
            return None
        line = np.asarray(g.line, dtype=np.float64)
        t_line = self.line_to_time(line)
        tau = np.asarray(g.slant_range_time_s, dtype=np.float64)
        d = np.asarray(g.azimuth_time_s, dtype=np.float64) - t_line
        ok = np.isfinite(d) & np.isfinite(tau)
        if self.is_tops:
            # a TOPS crop keeps the grid row just after its last burst (line n_bursts * linesPerBurst): that
            # row's time belongs to a burst that was cut away, so it says nothing about this image's lines
            ok &= line < self.n_bursts * self.lines_per_burst
        if ok.sum() < 3:
            return None
        tau, d = tau[ok], d[ok]
        if np.ptp(tau) >= 50e-6:
            slope = np.polyfit(tau - tau.mean(), d, 1)[0]
            if abs(slope - 0.5) > 0.05:
                return None
        tau_ref = float(np.median(tau - 2.0 * d))
        resid = d - 0.5 * (tau - tau_ref)
        if np.sqrt(np.mean(resid ** 2)) / self.azimuth_time_interval_s > max_rms_lines:
            return None
        return tau_ref

    def _bistatic(self, range_time) -> np.ndarray | float:
        if range_time is None or self.bistatic_reference_range_time_s is None:
            return 0.0
        return 0.5 * (np.asarray(range_time, dtype=np.float64) - self.bistatic_reference_range_time_s)

    @property
    def is_tops(self) -> bool:
        return self.burst_times_s.size > 0 and self.lines_per_burst > 0

    @property
    def n_bursts(self) -> int:
        return int(self.burst_times_s.size)

    # -- range
    def pixel_to_range_time(self, pixel) -> np.ndarray:
        return self.slant_range_time_s + np.asarray(pixel, dtype=np.float64) / self.range_sampling_rate_hz

    def range_time_to_pixel(self, tau) -> np.ndarray:
        return (np.asarray(tau, dtype=np.float64) - self.slant_range_time_s) * self.range_sampling_rate_hz

    # -- azimuth
    def _check_burst(self, burst) -> np.ndarray:
        b = np.asarray(burst)
        if not np.issubdtype(b.dtype, np.integer):
            if np.any(b != np.round(b)):
                raise SelectionError(f"burst index must be an integer, got {burst!r}")
            b = b.astype(np.int64)
        if b.size and (b.min() < 0 or b.max() >= self.n_bursts):
            raise SelectionError(f"burst index out of range 0..{self.n_bursts - 1}: {burst!r}")
        return b

    def burst_of_line(self, line) -> np.ndarray:
        """Burst index holding a full-swath line (clamped to the first/last burst)."""
        if not self.is_tops:
            raise SelectionError("burst_of_line: stripmap image has no bursts")
        # the latest burst whose first line is not after the line (bursts of a debursted frame, see
        # diapsar.tops, have different lengths; for ESA's burst-stacked image this is line // linesPerBurst)
        b = np.searchsorted(self.burst_first_lines, np.asarray(line, dtype=np.float64), side="right") - 1
        return np.clip(b, 0, self.n_bursts - 1).astype(np.int64)

    def burst_of_time(self, t, range_time=None) -> np.ndarray:
        """Burst used for a time t: the *latest* burst whose first line is not after t.

        ``t`` is an image line time, or a zero-Doppler time when ``range_time`` is given (the bistatic term
        is removed first). This is the rule of ESA's geolocation grid: its row at line k * linesPerBurst lies
        in the overlap of bursts k-1 and k and is labelled with burst k's first line, so in an overlap the
        later burst is used (checked on every IW/EW annotation of the test data, tests/test_20_geometry.py).
        The comparison allows half a line of tolerance. Times before the first burst map to burst 0, after
        the last burst to the last one.
        """
        if not self.is_tops:
            raise SelectionError("burst_of_time: stripmap image has no bursts")
        t_line = np.asarray(t, dtype=np.float64) - self._bistatic(range_time)
        starts = self.burst_times_s - 0.5 * self.azimuth_time_interval_s
        b = np.searchsorted(starts, t_line, side="right") - 1
        return np.clip(b, 0, self.n_bursts - 1)

    def line_to_time(self, line, range_time=None) -> np.ndarray:
        """Image line time of ``line``; with ``range_time``: zero-Doppler time of the target imaged at
        (line, range_time) (adds the residual bistatic term)."""
        line = np.asarray(line, dtype=np.float64)
        if not self.is_tops:
            t = self.first_line_time_s + line * self.azimuth_time_interval_s
        else:
            b = self.burst_of_line(line)
            t = self.burst_times_s[b] + (line - self.burst_first_lines[b]) * self.azimuth_time_interval_s
        return t + self._bistatic(range_time)

    def time_to_line(self, t, burst=None, range_time=None) -> np.ndarray:
        """Line of an image line time; with ``range_time``, of a target's zero-Doppler time ``t`` (removes
        the residual bistatic term). ``burst`` forces the burst (TOPS)."""
        t_line = np.asarray(t, dtype=np.float64) - self._bistatic(range_time)
        if not self.is_tops:
            return (t_line - self.first_line_time_s) / self.azimuth_time_interval_s
        b = self.burst_of_time(t_line) if burst is None else self._check_burst(burst)
        return self.burst_first_lines[b] + (t_line - self.burst_times_s[b]) / self.azimuth_time_interval_s

    # -- both
    def radar_to_times(self, line, pixel) -> tuple[np.ndarray, np.ndarray]:
        """(zero-Doppler azimuth time, two-way range time) of the target imaged at (line, pixel): the input
        of rdr2geo / rdr2geo_dem for image pixels."""
        tau = self.pixel_to_range_time(pixel)
        return self.line_to_time(line, range_time=tau), tau

    def times_to_radar(self, azimuth_time_s, range_time_s, burst=None) -> tuple[np.ndarray, np.ndarray]:
        """(line, pixel) where a target with this zero-Doppler time and range time (geo2rdr output) is
        imaged."""
        return (self.time_to_line(azimuth_time_s, burst=burst, range_time=range_time_s),
                self.range_time_to_pixel(range_time_s))


# Scalar numba kernels for other numba code (simulator, chain kernels): the orbit arrays are
# ``Orbit.kernel_args`` = (tg, nodes, coef, t_ref); times inside kernels are relative to t_ref.
llh_to_ecef_1 = _llh_to_ecef_1  # (lat_deg, lon_deg, h) -> (x, y, z)
ecef_to_llh_1 = _ecef_to_llh_1  # (x, y, z) -> (lat_deg, lon_deg, h)
zero_doppler_1 = _zero_doppler  # (px, py, pz, t_start, tg, nodes, coef, buf(9)) -> (t_rel, range_m)
rdr2geo_1 = _rdr2geo_1  # (sx, sy, sz, vx, vy, vz, range_m, h, right, p0(3), jac(3,3), rhs(3)) -> (x, y, z, ok)

__all__ = [
    "ecef_to_llh_1", "interp_pva", "llh_to_ecef_1", "rdr2geo_1", "zero_doppler_1",
    "WGS84_A", "WGS84_B", "WGS84_E2", "RadarGrid", "ecef_to_llh", "find_interval", "geo2rdr", "geo2rdr_ecef",
    "llh_to_ecef", "rdr2geo", "rdr2geo_dem", "rdr2geo_ecef",
]
