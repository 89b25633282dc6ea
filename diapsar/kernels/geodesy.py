"""WGS84 geodesy kernels: geodetic latitude/longitude/height <-> ECEF, one point or arrays of points.

Scalar kernels (``*_1``) are meant to be called from other numba code; the ``*_many`` kernels fill output
arrays. Angles in degrees, lengths in metres.
"""

from __future__ import annotations

import math

import numba

# WGS84 (NIMA TR8350.2)
WGS84_A = 6378137.0
WGS84_F = 1.0 / 298.257223563
WGS84_B = WGS84_A * (1.0 - WGS84_F)
WGS84_E2 = WGS84_F * (2.0 - WGS84_F)
WGS84_EP2 = WGS84_E2 / (1.0 - WGS84_E2)


@numba.njit(cache=True)
def llh_to_ecef_1(lat_deg, lon_deg, h):
    """ECEF (x, y, z) of a geodetic latitude, longitude (degrees) and ellipsoidal height (m)."""
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
def ecef_to_llh_1(x, y, z):
    """Geodetic (lat_deg, lon_deg, h) of an ECEF point: Bowring's parametric-latitude iteration (two steps,
    no trigonometry inside the loop).

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
def llh_to_ecef_many(lat, lon, h, out):
    """out[i] = ECEF of (lat[i], lon[i], h[i]); 1-D inputs, out (n, 3)."""
    for i in range(lat.shape[0]):
        x, y, z = llh_to_ecef_1(lat[i], lon[i], h[i])
        out[i, 0] = x
        out[i, 1] = y
        out[i, 2] = z


@numba.njit(cache=True)
def ecef_to_llh_many(xyz, lat, lon, h):
    """(lat[i], lon[i], h[i]) = geodetic coordinates of xyz[i] (n, 3)."""
    for i in range(xyz.shape[0]):
        a, b, c = ecef_to_llh_1(xyz[i, 0], xyz[i, 1], xyz[i, 2])
        lat[i] = a
        lon[i] = b
        h[i] = c
