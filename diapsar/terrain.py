"""Terrain geometry of a radar-geometry backscatter image on a map grid: range-Doppler lookup, incidence angles,
a local layover/shadow mask and the illuminated-area normalisation of terrain flattening.

Map blocks (``map_block``) solve the lookup, look vectors and angles of each cell in one kernel
(``block_geometry``, ``diapsar.kernels.rtc_geometry``), started from a lattice of exact solves; they agree with
the per-step functions below within 1e-4 pixel (the rounding of the absolute float64 time) and 1e-6 degree.

Lookup (inverse mapping, as ``diapsar.ortho``): each map cell centre -> lon/lat (pyproj) -> ellipsoidal DEM height
(bilinear) -> zero-Doppler geo2rdr (azimuth time t, two-way range time tau) -> image line and sample. Lines:
``RadarGrid.time_to_line``. Samples: slant-range images (SLC stripmap) ``(tau - tau0) * fs``; GRD images from the
annotated slant-to-ground polynomial (``coordinateConversion/srgrCoefficients``, S1 product specification
S1-RS-MDA-52-7441 sec. 6.2.1: ground range = sum_k srgr_k (R - sr0)^k, R = c tau / 2) of the record nearest in
time to t, divided by ``rangePixelSpacing``. Nearest, not interpolated: on the Rome GRD the annotation's own
geolocation grid is reproduced within 0.008 sample this way, within 0.52 with linear interpolation in time. TOPS
SLC images are read debursted (``diapsar.deburst``): a zero-Doppler time t belongs to the burst segment of the
debursted frame whose kept lines contain its image line time (t minus the residual bistatic term), and its line
is that segment's first output line plus the burst-line offset (``tops_line``); times before the first or after
the last kept line are extrapolated from the first / last segment (they fall outside the frame).

Angles, per map cell, from the unit vector l from the ground point to the satellite at t, in the local east /
north / up frame of the cell: ellipsoid incidence theta_e = acos(l_u); local incidence theta_l = acos(n . l)
with n the DEM normal (-dh/dx, -dh/dy, 1) / norm, dh/dx and dh/dy central differences of the map-grid heights
(the map x/y axes are taken as east/north: the UTM grid convergence, < 3 deg, is neglected).

Layover/shadow (local criterion, no ray tracing along the range line): with alpha the terrain slope in the
vertical plane of l, positive when facing the sensor, tan(alpha) = -grad(h) . l_h / |l_h|: layover where
alpha >= theta_e (the slope faces the sensor more steeply than the beam), shadow where alpha <= theta_e - 90 deg.

Terrain flattening by area projection (Small 2011, IEEE TGRS 49(8), 3081-3093, eq. 7-11): each DEM facet of
ground area dx * dy contributes its area projected onto the plane perpendicular to l,
    A_proj = dx * dy * (l_u - h_x l_e - h_y l_n)         (= 3-D area * cos(theta_l); 0 for facets in shadow),
to the radar pixel it maps to; summed per radar pixel this is A_gamma, and gamma0_T = beta0 * A_beta / A_gamma
with A_beta the beta0 reference area of the pixel (slant-range spacing x azimuth spacing). On flat ground this
reduces to gamma0_T = beta0 tan(theta_e) = sigma0 / cos(theta_e), the ellipsoid gamma0 (tested).
"""

from __future__ import annotations

import math

import numpy as np

from .deburst import DeburstLayout, deburst_layout
from .dem_projection import DemPatch
from .errors import ProductError
from .geometry import RadarGrid, geo2rdr
from .metadata import SwathMetadata
from .orbit import Orbit
from .ortho import OrthoGrid, coarse_time_guess, dem_heights_at

C_LIGHT = 299_792_458.0
LAYOVER, SHADOW = 1, 2


def utm_epsg(lon: float, lat: float) -> int:
    """EPSG code of the WGS84 UTM zone of (lon, lat): 326zz north, 327zz south, zz = floor((lon+180)/6)+1."""
    zone = int(math.floor((float(lon) + 180.0) / 6.0)) % 60 + 1
    return (32600 if lat >= 0 else 32700) + zone


def ground_range_pixel(meta: SwathMetadata, t: np.ndarray, tau: np.ndarray) -> np.ndarray:
    """GRD sample of two-way range time ``tau`` at azimuth time ``t`` (module doc); float64."""
    recs = sorted(meta.srgr, key=lambda r: r["azimuth_time_s"])
    if not recs:
        raise ProductError(f"{meta.swath} {meta.polarisation}: GRD annotation without coordinateConversion")
    times = np.array([r["azimuth_time_s"] for r in recs])
    shape = np.shape(t)
    t = np.asarray(t, dtype=np.float64).ravel()
    r_m = C_LIGHT * np.asarray(tau, dtype=np.float64).ravel() / 2.0
    # nearest record in time (the first of two equally near, as argmin would pick): searchsorted, not a
    # points x records table
    j = np.clip(np.searchsorted(times, t), 1, max(len(times) - 1, 1))
    if len(times) == 1:
        k = np.zeros(t.shape, dtype=np.int64)
    else:
        k = np.where(t - times[j - 1] <= times[j] - t, j - 1, j)
    k = np.where(np.isfinite(t), k, 0)
    # Horner in the order of np.polyval (highest degree first, from 0), on the gathered coefficients
    n_coef = max(len(r["srgr_coefficients"]) for r in recs)
    coef = np.zeros((len(recs), n_coef))
    for i, r in enumerate(recs):
        c = np.asarray(r["srgr_coefficients"], dtype=np.float64)
        coef[i, :c.size] = c
    x = r_m - np.array([r["sr0_m"] for r in recs], dtype=np.float64)[k]
    g = np.zeros(t.shape)
    for d in range(n_coef - 1, -1, -1):
        g = g * x + coef[k, d]
    g[~np.isfinite(t)] = np.nan
    return (g / meta.range_pixel_spacing_m).reshape(shape)


def tops_line(meta: SwathMetadata, layout: DeburstLayout, rg: RadarGrid, t: np.ndarray,
              tau: np.ndarray) -> np.ndarray:
    """Debursted-frame line of targets with zero-Doppler time ``t`` and range time ``tau`` (module doc); one
    parallel kernel (``diapsar.kernels.area.tops_lines``) doing ``rg.time_to_line`` of each segment's burst."""
    from .kernels.area import tops_lines

    segs = layout.segments
    nseg = len(segs)
    f64 = np.float64
    first = np.array([rg.burst_first_lines[s.burst] for s in segs], dtype=f64)
    times = np.array([rg.burst_times_s[s.burst] for s in segs], dtype=f64)
    bfirst = np.array([meta.bursts[s.burst].first_line for s in segs], dtype=f64)
    lo = np.array([-np.inf if k == 0 else s.burst_line0 - 0.5 for k, s in enumerate(segs)], dtype=f64)
    hi = np.array([np.inf if k == nseg - 1 else s.burst_line1 - 0.5 for k, s in enumerate(segs)], dtype=f64)
    out0 = np.array([s.out_line0 for s in segs], dtype=f64)
    line0 = np.array([s.burst_line0 for s in segs], dtype=f64)
    ref = rg.bistatic_reference_range_time_s
    shape = np.shape(t)
    tt = np.ascontiguousarray(np.asarray(t, dtype=f64).ravel())
    out = np.empty(tt.size)
    tops_lines(tt, np.ascontiguousarray(np.broadcast_to(np.asarray(tau, dtype=f64), shape).ravel()),
               0.0 if ref is None else float(ref), ref is not None, first, times, float(rg.azimuth_time_interval_s),
               bfirst, lo, hi, out0, line0, out)
    return out.reshape(shape)


def tops_line_numpy(meta: SwathMetadata, layout: DeburstLayout, rg: RadarGrid, t: np.ndarray,
                    tau: np.ndarray) -> np.ndarray:
    """Reference of ``tops_line`` (tests): ``rg.time_to_line`` segment by segment."""
    out = np.full(np.shape(t), np.nan)
    todo = np.isfinite(t)
    segs = layout.segments
    for k, s in enumerate(segs):
        b = meta.bursts[s.burst]
        bl = rg.time_to_line(t, burst=np.full(np.shape(t), s.burst), range_time=tau) - b.first_line
        lo = -np.inf if k == 0 else s.burst_line0 - 0.5
        hi = np.inf if k == len(segs) - 1 else s.burst_line1 - 0.5
        sel = todo & (bl >= lo) & (bl < hi)
        out[sel] = s.out_line0 + bl[sel] - s.burst_line0
        todo &= ~sel
    return out


def radar_coordinates(meta: SwathMetadata, orbit: Orbit, lon: np.ndarray, lat: np.ndarray,
                      h: np.ndarray, layout: DeburstLayout | None = None
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(line, sample, t, tau) of ground points (2-D arrays, ellipsoidal heights); NaN off the orbit/DEM.
    TOPS SLC: lines of the debursted frame ``layout`` (``diapsar.deburst.deburst_layout(meta)`` by default)."""
    tops = meta.is_tops and meta.product_type == "SLC"
    if tops and layout is None:
        layout = deburst_layout(meta)
    ok = np.isfinite(h)
    out = [np.full(h.shape, np.nan) for _ in range(4)]
    if not ok.any():
        return out[0], out[1], out[2], out[3]
    guess = coarse_time_guess(orbit, lat, lon, np.where(ok, h, np.nanmedian(h)))
    az, tau = geo2rdr(orbit, lat[ok], lon[ok], h[ok], guess[ok])
    sel = np.flatnonzero(ok)
    out[2].flat[sel] = az
    out[3].flat[sel] = tau
    rg = RadarGrid.from_metadata(meta)
    good = np.isfinite(out[2])
    if tops:
        assert layout is not None
        out[0][good] = tops_line(meta, layout, rg, out[2][good], out[3][good])
    else:
        out[0][good] = rg.time_to_line(out[2][good], range_time=out[3][good])
    if meta.product_type == "GRD":
        out[1][good] = ground_range_pixel(meta, out[2][good], out[3][good])
    else:
        out[1][good] = rg.range_time_to_pixel(out[3][good])
    return out[0], out[1], out[2], out[3]


def look_enu(orbit: Orbit, t: np.ndarray, lon: np.ndarray, lat: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Unit vector ground -> satellite at time t in the local (east, north, up) frame; (..., 3), NaN where t is."""
    from .kernels.area import look_enu_grid

    t = np.asarray(t, dtype=np.float64)
    shape = t.shape
    if t.size == 0:
        return np.full(shape + (3,), np.nan)
    m = shape[-1] if t.ndim >= 1 else 1

    def rows(a) -> np.ndarray:
        return np.ascontiguousarray(np.broadcast_to(np.asarray(a, dtype=np.float64), shape).reshape(-1, m))

    tg, nodes, coef, t_ref = orbit.kernel_args
    out = np.empty((t.size // m, m, 3))
    look_enu_grid(rows(t) - t_ref, rows(lon), rows(lat), rows(h), tg, nodes, coef, out)
    return out.reshape(shape + (3,))


def slopes(h: np.ndarray, dx: float, dy: float) -> tuple[np.ndarray, np.ndarray]:
    """dh/dx (east) and dh/dy (north) of a map-grid height block whose rows go south (dy > 0 is the cell size);
    central differences inside, one-sided at the edges."""
    hx = np.gradient(h, dx, axis=1)
    hy = -np.gradient(h, dy, axis=0)
    return hx, hy


def terrain_angles(look: np.ndarray, hx: np.ndarray, hy: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(ellipsoid incidence deg, local incidence deg, layover/shadow mask uint8, projected-area factor
    l_u - h_x l_e - h_y l_n) of the module doc."""
    le, ln, lu = look[..., 0], look[..., 1], look[..., 2]
    theta_e = np.degrees(np.arccos(np.clip(lu, -1.0, 1.0)))
    proj = lu - hx * le - hy * ln
    norm = np.sqrt(1.0 + hx * hx + hy * hy)
    theta_l = np.degrees(np.arccos(np.clip(proj / norm, -1.0, 1.0)))
    lh = np.hypot(le, ln)
    with np.errstate(invalid="ignore", divide="ignore"):
        alpha = np.degrees(np.arctan(-(hx * le + hy * ln) / lh))
    mask = np.zeros(theta_e.shape, dtype=np.uint8)
    mask[alpha >= theta_e] = LAYOVER
    mask[alpha <= theta_e - 90.0] = SHADOW
    return theta_e, theta_l, mask, proj


def accumulate_area(line: np.ndarray, sample: np.ndarray, area: np.ndarray, shape: tuple[int, int],
                    ml_az: int = 1, ml_rg: int = 1, out: np.ndarray | None = None) -> np.ndarray:
    """A_gamma: sum of the facets' projected areas (negative = shadow -> 0) per radar cell (nearest cell of the
    ml_az x ml_rg multilooked grid of ``shape``); adds into ``out`` when given (row-block streaming)."""
    acc = np.zeros(shape) if out is None else out
    r = np.floor(line / ml_az).ravel()
    c = np.floor(sample / ml_rg).ravel()
    a = np.maximum(area, 0.0).ravel()
    ok = np.isfinite(r) & np.isfinite(c) & np.isfinite(a) & (r >= 0) & (r < shape[0]) & (c >= 0) & (c < shape[1])
    np.add.at(acc, (r[ok].astype(np.int64), c[ok].astype(np.int64)), a[ok])
    return acc


def azimuth_ground_spacing(meta: SwathMetadata) -> float:
    """Ground distance (m) between consecutive image lines: median over the annotation's geolocation grid of
    the geodesic distance between grid points of the same column on consecutive grid rows, per line. (The
    annotated ``azimuthPixelSpacing``, 10.0 m on the Rome GRD, is nominal: the grid gives 10.1x m there, and
    the 1 % matters for the flattening factor.)"""
    from pyproj import Geod

    g = meta.geolocation_grid
    if g is None or np.size(g.line) < 4:
        return float(meta.azimuth_pixel_spacing_m)
    line, pix = np.asarray(g.line, dtype=np.float64), np.asarray(g.pixel, dtype=np.float64)
    order = np.lexsort((line, pix))
    line, pix = line[order], pix[order]
    lon, lat = np.asarray(g.longitude_deg)[order], np.asarray(g.latitude_deg)[order]
    same = (pix[1:] == pix[:-1]) & (line[1:] > line[:-1])
    if not same.any():
        return float(meta.azimuth_pixel_spacing_m)
    _, _, d = Geod(ellps="WGS84").inv(lon[:-1][same], lat[:-1][same], lon[1:][same], lat[1:][same])
    return float(np.median(np.asarray(d) / (line[1:][same] - line[:-1][same])))


def beta_reference_area(meta: SwathMetadata, theta_e_deg: np.ndarray | float, ml_az: int = 1,
                        ml_rg: int = 1) -> np.ndarray:
    """A_beta of one (multilooked) radar cell: slant-range spacing x azimuth ground spacing (see
    ``azimuth_ground_spacing``). GRD samples are ground range: slant spacing = ground spacing * sin(theta_e)."""
    az = azimuth_ground_spacing(meta) * ml_az
    if meta.product_type == "GRD":
        rg = meta.range_pixel_spacing_m * ml_rg * np.sin(np.radians(theta_e_deg))
    else:
        rg = C_LIGHT / (2.0 * meta.range_sampling_rate_hz) * ml_rg * np.ones_like(np.asarray(theta_e_deg, float))
    return np.asarray(az * rg, dtype=np.float64)


def grid_lonlat(grid: OrthoGrid, row0: int, row1: int) -> tuple[np.ndarray, np.ndarray]:
    """lon/lat of the cell centres of map rows [row0, row1): a parallel kernel for WGS84 UTM grids
    (``diapsar.kernels.area.utm_lonlat_grid``, within 1e-9 degree of PROJ), else ``grid.lonlat`` (PROJ)."""
    from .kernels.area import utm_lonlat_grid

    x0, dx, _, y0, _, dy = grid.transform
    out = utm_lonlat_grid(grid.epsg, x0 + (np.arange(grid.width) + 0.5) * dx, y0 + (np.arange(row0, row1) + 0.5) * dy)
    return out if out is not None else grid.lonlat(row0, row1)


def map_block(grid: OrthoGrid, row0: int, row1: int, dem: DemPatch, meta: SwathMetadata, orbit: Orbit,
              layout: DeburstLayout | None = None, lonlat: tuple[np.ndarray, np.ndarray, int] | None = None) -> dict:
    """All per-cell geometry of map rows [row0, row1): line, sample, theta_e, theta_l, mask, proj_area (m^2).
    Heights are read with one row of margin each side so the slopes are central across block edges. TOPS SLC:
    lines of the debursted frame ``layout`` (see ``radar_coordinates``). ``lonlat``: (lon, lat, first row) of
    map rows already computed (``grid_lonlat``) covering those rows and their margin."""
    a, b = max(row0 - 1, 0), min(row1 + 1, grid.height)
    if lonlat is not None and lonlat[2] <= a and lonlat[2] + lonlat[0].shape[0] >= b:
        lon, lat = lonlat[0][a - lonlat[2]:b - lonlat[2]], lonlat[1][a - lonlat[2]:b - lonlat[2]]
    else:
        lon, lat = grid_lonlat(grid, a, b)
    h = dem_heights_at(dem, lon, lat)
    dx, dy = abs(grid.transform[1]), abs(grid.transform[5])
    if grid.epsg == 4326:
        raise ProductError("terrain correction needs a projected map grid (metres), not EPSG:4326")
    hx, hy = slopes(h, dx, dy)
    s = slice(row0 - a, row0 - a + (row1 - row0))
    lon, lat, h, hx, hy = (np.ascontiguousarray(v[s]) for v in (lon, lat, h, hx, hy))
    t, tau, theta_e, theta_l, mask, proj = block_geometry(orbit, lon, lat, h, hx, hy, dx * dy)
    line, sample = lines_samples(meta, t, tau, layout)
    return {"line": line, "sample": sample, "theta_e": theta_e, "theta_l": theta_l, "mask": mask,
            "proj_area": proj}


# lattice of the zero-Doppler start times of ``block_geometry`` (map cells) and the Newton stopping step (s): see
# ``diapsar.kernels.rtc_geometry``
GEO_LATTICE_STEP = 16
GEO_TOL_S = 1e-6


def block_geometry(orbit: Orbit, lon: np.ndarray, lat: np.ndarray, h: np.ndarray, hx: np.ndarray, hy: np.ndarray,
                   area_scale: float = 1.0, step: int = GEO_LATTICE_STEP, tol: float = GEO_TOL_S
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(zero-Doppler time t (s, absolute), two-way range time tau, theta_e, theta_l (deg), mask, projected area
    factor times ``area_scale``) of the cells of 2-D lon/lat/h with slopes hx/hy, in one kernel
    (``diapsar.kernels.rtc_geometry.block_geometry``): the values of ``radar_coordinates``, ``look_enu`` and
    ``terrain_angles`` up to the Newton stopping rule (tests/test_66b_rtc_geometry.py)."""
    from .geometry import geo2rdr as g2r
    from .kernels.rtc_geometry import block_geometry as kernel
    from .kernels.rtc_geometry import lattice_weights

    n, m = h.shape
    out_t = np.full((n, m), np.nan)
    out_tau = np.full((n, m), np.nan)
    te = np.full((n, m), np.nan)
    tl = np.full((n, m), np.nan)
    mask = np.zeros((n, m), dtype=np.uint8)
    proj = np.full((n, m), np.nan)
    fin = np.isfinite(h)
    if not fin.any():
        return out_t, out_tau, te, tl, mask, proj
    h_lo, h_hi = float(h[fin].min()), float(h[fin].max())
    ri, kr, wr = lattice_weights(n, step)
    ci, kc, wc = lattice_weights(m, step)
    sub = np.ix_(ri, ci)
    tg, nodes, coef, t_ref = orbit.kernel_args
    npos, nvel = orbit.node_states
    g_lo = g2r(orbit, lat[sub], lon[sub], np.full((ri.size, ci.size), h_lo))[0] - t_ref
    g_hi = g2r(orbit, lat[sub], lon[sub], np.full((ri.size, ci.size), h_hi))[0] - t_ref if h_hi > h_lo else g_lo
    inv_dh = 1.0 / (h_hi - h_lo) if h_hi > h_lo else 0.0
    kernel(lon, lat, np.where(fin, h, np.nan), hx, hy, kr, wr, kc, wc, np.ascontiguousarray(g_lo),
           np.ascontiguousarray(g_hi), h_lo, inv_dh, float(tol), tg, nodes, coef, npos, nvel, float(area_scale),
           out_t, out_tau, te, tl, mask, proj)
    return out_t + t_ref, out_tau, te, tl, mask, proj


def lines_samples(meta: SwathMetadata, t: np.ndarray, tau: np.ndarray, layout: DeburstLayout | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(line, sample) of zero-Doppler times ``t`` (absolute) and range times ``tau`` (the lookup of
    ``radar_coordinates``; NaN where t is)."""
    tops = meta.is_tops and meta.product_type == "SLC"
    if tops and layout is None:
        layout = deburst_layout(meta)
    rg = RadarGrid.from_metadata(meta)
    if tops:  # NaN times give NaN lines in the kernel: no selection
        assert layout is not None
        return tops_line(meta, layout, rg, t, tau), np.where(np.isfinite(t), rg.range_time_to_pixel(tau), np.nan)
    line = np.full(t.shape, np.nan)
    sample = np.full(t.shape, np.nan)
    good = np.isfinite(t)
    if not good.any():
        return line, sample
    line[good] = rg.time_to_line(t[good], range_time=tau[good])
    if meta.product_type == "GRD":
        sample[good] = ground_range_pixel(meta, t[good], tau[good])
    else:
        sample[good] = rg.range_time_to_pixel(tau[good])
    return line, sample


def splat_illuminated_area(block: dict, row_first: int, row_stop: int, acc: np.ndarray, oversample: int = 4,
                            ml_az: int = 1, ml_rg: int = 1, first_row: int = 0) -> np.ndarray:
    """A_gamma by bilinear splatting (``diapsar.kernels.area``): adds the projected areas of the block's rows
    [row_first, row_stop) (``map_block`` output; the other rows are neighbours for the sub-facet positions),
    each map cell split into ``oversample`` x ``oversample`` sub-facets, into ``acc`` (ML radar grid).
    ``first_row``: map row of the block's row 0; the parallel splat (``splat_area_tiles``) works on tiles aligned
    on the map grid, so the sums do not depend on the thread count, nor on the blocks when these start on
    multiples of ``SPLAT_TILE_ROWS``."""
    from .kernels.area import splat_area_tiles

    splat_area_tiles(np.ascontiguousarray(block["line"], dtype=np.float64),
                     np.ascontiguousarray(block["sample"], dtype=np.float64),
                     np.ascontiguousarray(block["proj_area"], dtype=np.float64), int(row_first), int(row_stop),
                     int(first_row), int(oversample), int(ml_az), int(ml_rg), acc)
    return acc


def geocode(image: np.ndarray, row0: int, line: np.ndarray, sample: np.ndarray, ml_az: int = 1, ml_rg: int = 1,
            kind: str = "bilinear") -> np.ndarray:
    """Values of a (multilooked) radar-geometry image window whose first row is ML row ``row0`` at the map
    cells' full-resolution (line, sample) (``map_block``): ML cell centres as ``diapsar.ortho.to_ml``, sampled
    with ``diapsar.ortho.sample`` (NaN outside the window). float32."""
    from .ortho import sample as ortho_sample
    from .ortho import to_ml

    u, v = to_ml(line, sample, ml_az, ml_rg)
    return ortho_sample(image, row0, u, v, kind)


def flatten_gamma0(beta0: np.ndarray, a_gamma: np.ndarray, a_beta: np.ndarray) -> np.ndarray:
    """Terrain-flattened gamma0 = beta0 * A_beta / A_gamma (Small 2011 eq. 11) in radar geometry; NaN where no
    facet lit the cell (A_gamma = 0: shadow or outside the DEM). float32."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(a_gamma > 0, beta0 * a_beta / a_gamma, np.nan)
    return out.astype(np.float32)
