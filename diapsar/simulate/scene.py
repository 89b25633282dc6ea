"""The ground scene of a simulation: DEM, land/sea, reflectivity, coherence, deformation, point targets.

Everything is a function of the ground position, expressed in a local metric frame (``LocalFrame``: east and
north metres from a centre point, a plain equirectangular mapping of latitude/longitude), so that every
acquisition of a stack sees the same ground.

- DEM: orthometric heights (above the EGM96 geoid, like SRTM) on a regular lon/lat grid: a Gaussian volcano
  (Piton de la Fournaise-like shield, slopes kept below ~8 deg so that no slope comes near layover) on a
  gentle plain, with the sea (height 0, as in SRTM) beyond a curved coastline. Ellipsoidal heights, used for
  the physics, are orthometric + the EGM96 undulation from ``diapsar.geoid``.
- Reflectivity: a band-limited circular complex Gaussian field on a fine ground grid (white noise whose
  spectrum is cut to an along-/across-track rectangle), sampled by cubic convolution at each SAR pixel's
  ground point. The sea is 20 dB darker than land.
- Coherence: a field gamma(x) on the ground (default: linear ramp along track from 0.2 to 1.0).
- Deformation: a Mogi point source under the volcano; LOS displacement grows linearly with time from the first
  date.
- Point targets: bright isolated scatterers on land at known lon/lat.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..kernels.geodesy import WGS84_A, WGS84_E2


@dataclass
class LocalFrame:
    """Equirectangular east/north metres around (lat0, lon0); smooth and one-to-one over a scene."""

    lat0_deg: float
    lon0_deg: float

    @property
    def _radii(self) -> tuple[float, float]:
        phi = math.radians(self.lat0_deg)
        w = math.sqrt(1 - WGS84_E2 * math.sin(phi) ** 2)
        rn = WGS84_A / w  # prime vertical
        rm = WGS84_A * (1 - WGS84_E2) / w ** 3  # meridian
        return rn * math.cos(phi), rm

    def to_en(self, lat_deg, lon_deg) -> tuple[np.ndarray, np.ndarray]:
        kx, ky = self._radii
        e = np.radians(np.asarray(lon_deg, dtype=np.float64) - self.lon0_deg) * kx
        n = np.radians(np.asarray(lat_deg, dtype=np.float64) - self.lat0_deg) * ky
        return e, n

    def to_latlon(self, e, n) -> tuple[np.ndarray, np.ndarray]:
        kx, ky = self._radii
        lat = self.lat0_deg + np.degrees(np.asarray(n, dtype=np.float64) / ky)
        lon = self.lon0_deg + np.degrees(np.asarray(e, dtype=np.float64) / kx)
        return lat, lon


@dataclass
class SceneModel:
    """Analytic description of the ground (all lengths in metres in the local frame)."""

    frame: LocalFrame
    along_track_deg: float  # azimuth of the along-track direction (clockwise from north)
    half_extent_m: tuple[float, float]  # half size of the scene footprint across / along track
    volcano_height_m: float
    volcano_sigma_m: float
    plain_height_m: float = 40.0
    coast_offset_m: float = 0.0  # across-track distance of the coastline from the centre (far range side)
    coast_taper_m: float = 300.0
    sea_amplitude: float = 0.1  # amplitude ratio sea/land (-20 dB)
    coherence_range: tuple[float, float] = (0.2, 1.0)
    mogi_depth_m: float = 2000.0
    mogi_uplift_mm_per_12d: float = 28.0
    point_targets_en: list[tuple[float, float]] = field(default_factory=list)
    point_target_amplitude: float = 30.0
    # a real DEM (heights above EGM96 on a lon/lat grid) replacing the synthetic terrain and coastline
    dem_orthometric: np.ndarray | None = None
    dem_transform: tuple | None = None

    def _dem_sample(self, e, n) -> np.ndarray:
        from scipy.ndimage import map_coordinates

        lat, lon = self.frame.to_latlon(e, n)
        gt = self.dem_transform
        if gt is None or self.dem_orthometric is None:
            raise ValueError("the scene has no DEM to sample (dem_orthometric and dem_transform)")
        c = (lon - gt[0]) / gt[1] - 0.5
        r = (lat - gt[3]) / gt[5] - 0.5
        shape = np.shape(c)
        vals = map_coordinates(self.dem_orthometric, [np.ravel(r), np.ravel(c)], order=1, mode="nearest")
        return vals.reshape(shape)

    # -- directions
    def _axes(self) -> tuple[np.ndarray, np.ndarray]:
        a = math.radians(self.along_track_deg)
        along = np.array([math.sin(a), math.cos(a)])  # (east, north)
        across = np.array([along[1], -along[0]])  # 90 deg clockwise: right of the track
        return along, across

    def along_across(self, e, n) -> tuple[np.ndarray, np.ndarray]:
        along, across = self._axes()
        e = np.asarray(e, dtype=np.float64)
        n = np.asarray(n, dtype=np.float64)
        return e * along[0] + n * along[1], e * across[0] + n * across[1]

    def coast_distance(self, e, n) -> np.ndarray:
        """Signed distance (m) to the coastline, > 0 on land."""
        u, v = self.along_across(e, n)
        wiggle = 0.12 * self.half_extent_m[1] * np.sin(2 * np.pi * u / (1.7 * self.half_extent_m[1]))
        return (self.coast_offset_m + wiggle) - v

    def land_fraction(self, e, n) -> np.ndarray:
        if self.dem_orthometric is not None:  # SRTM-like: the sea is at height 0
            return np.clip(self._dem_sample(e, n), 0.0, 1.0)
        d = self.coast_distance(e, n)
        return np.clip(0.5 + d / 20.0, 0.0, 1.0)  # 20 m wide transition

    def orthometric_height(self, e, n) -> np.ndarray:
        if self.dem_orthometric is not None:
            return self._dem_sample(e, n)
        e = np.asarray(e, dtype=np.float64)
        n = np.asarray(n, dtype=np.float64)
        r2 = e * e + n * n
        h = self.plain_height_m + self.volcano_height_m * np.exp(-0.5 * r2 / self.volcano_sigma_m ** 2)
        d = self.coast_distance(e, n)
        taper = np.clip(d / self.coast_taper_m, 0.0, 1.0)
        taper = taper * taper * (3 - 2 * taper)  # smoothstep
        return h * taper

    def amplitude(self, e, n) -> np.ndarray:
        f = self.land_fraction(e, n)
        return self.sea_amplitude + (1.0 - self.sea_amplitude) * f

    def coherence(self, e, n) -> np.ndarray:
        """Signal coherence between the first date and any later date (ramp along track)."""
        u, _ = self.along_across(e, n)
        t = np.clip((u + self.half_extent_m[1]) / (2 * self.half_extent_m[1]), 0.0, 1.0)
        lo, hi = self.coherence_range
        return lo + (hi - lo) * t

    def mogi_enu_mm(self, e, n, days: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """East, north, up displacement (mm) after ``days`` (Mogi source under the centre, Poisson 0.25).

        u_z = C d / R^3, u_r = C r / R^3 with R^2 = r^2 + d^2 and C chosen so that the uplift above the source
        reaches ``mogi_uplift_mm_per_12d`` per 12 days (Mogi 1958; the (1 - nu) dV / pi factor is folded in C).
        """
        e = np.asarray(e, dtype=np.float64)
        n = np.asarray(n, dtype=np.float64)
        d = self.mogi_depth_m
        c = self.mogi_uplift_mm_per_12d * (days / 12.0) * d * d
        r3 = (e * e + n * n + d * d) ** 1.5
        return c * e / r3, c * n / r3, c * d / r3


# ------------------------------------------------------------------------------------------ ground field

@dataclass
class GroundField:
    """Band-limited complex Gaussian reflectivity on a regular east/north grid (periodic)."""

    e0: float
    n0: float
    step_e: float
    step_n: float
    data: np.ndarray  # complex64 (n_rows = north, n_cols = east); row i at n0 + i*step_n


def make_ground_field(rng: np.random.Generator, e_range: tuple[float, float], n_range: tuple[float, float],
                      along_track_deg: float, cutoff_along: float, cutoff_across: float,
                      oversampling: float = 2.5, max_posts: int = 32_000_000) -> GroundField:
    """White complex noise with its spectrum limited to |k_along| < cutoff_along, |k_across| < cutoff_across
    (cycles/m), unit mean power, on an east/north grid sampled ``oversampling`` times finer than the highest
    frequency of the field along each axis needs (so cubic convolution sampling is accurate). The field is
    periodic; past ``max_posts`` posts it is made smaller than the scene and repeats (sampling wraps
    around), which keeps memory bounded for long IW scenes without changing its local statistics."""
    from scipy import fft

    a = math.radians(along_track_deg)
    fe = abs(cutoff_along * math.sin(a)) + abs(cutoff_across * math.cos(a))
    fn = abs(cutoff_along * math.cos(a)) + abs(cutoff_across * math.sin(a))
    step_e = 1.0 / (2.0 * oversampling * fe)
    step_n = 1.0 / (2.0 * oversampling * fn)
    ne = fft.next_fast_len(int(math.ceil((e_range[1] - e_range[0]) / step_e)) + 1)
    nn = fft.next_fast_len(int(math.ceil((n_range[1] - n_range[0]) / step_n)) + 1)
    while ne * nn > max_posts:
        if nn >= ne:
            nn = fft.next_fast_len(max(64, int(max_posts // ne)))
        else:
            ne = fft.next_fast_len(max(64, int(max_posts // nn)))
        if ne * nn > max_posts:  # next_fast_len rounded up: shrink a little more
            if nn >= ne:
                nn = fft.next_fast_len(int(nn * 0.97))
            else:
                ne = fft.next_fast_len(int(ne * 0.97))
    ke = fft.fftfreq(ne, step_e).astype(np.float32)
    kn = fft.fftfreq(nn, step_n).astype(np.float32)
    ka = kn[:, None] * np.float32(math.cos(a)) + ke[None, :] * np.float32(math.sin(a))
    kc = kn[:, None] * np.float32(-math.sin(a)) + ke[None, :] * np.float32(math.cos(a))
    mask = (np.abs(ka) < cutoff_along) & (np.abs(kc) < cutoff_across)
    del ka, kc
    count = int(mask.sum())
    spec = np.zeros((nn, ne), dtype=np.complex64)
    vals = rng.standard_normal((count, 2)).astype(np.float32)
    spec[mask] = vals[:, 0] + 1j * vals[:, 1]
    field_ = fft.ifft2(spec, workers=2, overwrite_x=True)
    field_ *= np.float32(nn * ne / math.sqrt(2.0 * count))
    return GroundField(e_range[0], n_range[0], step_e, step_n, field_.astype(np.complex64, copy=False))
