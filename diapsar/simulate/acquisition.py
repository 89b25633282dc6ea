"""Radar parameters and image layouts of simulated acquisitions (stripmap beams, IW swaths with bursts).

The stripmap S3 and IW1-IW3 values are those of real annotations (S3: S1A 2021-04-01 product in the shared
test data; IW: S1A 2023-09-04 Morocco product). The other stripmap beams reuse the S3 timing with their own
nominal mid-swath incidence (approximate values from the Sentinel-1 User Handbook beam table).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TypedDict

import numpy as np

from ..metadata import (
    SPEED_OF_LIGHT_M_S,
    Burst,
    GeolocationGrid,
    StateVectors,
    SwathMetadata,
    TimePolynomial,
)
from ..orbit import Orbit

RADAR_FREQUENCY_HZ = 5.405000454334350e9


@dataclass(frozen=True)
class Beam:
    name: str
    mode: str  # "SM" or "IW"
    incidence_mid_deg: float
    range_sampling_rate_hz: float
    azimuth_time_interval_s: float
    prf_hz: float
    range_bandwidth_hz: float
    azimuth_bandwidth_hz: float
    azimuth_steering_rate_deg_s: float = 0.0
    fm_rate_coefficients: tuple[float, ...] = (-2331.03, 449751.7, -7.816e7)
    lines_per_burst: int = 0
    burst_cycle_s: float = 0.0
    swath_time_offset_s: float = 0.0  # burst start offset of this swath relative to IW1


class _BeamTiming(TypedDict):
    range_sampling_rate_hz: float
    azimuth_time_interval_s: float
    prf_hz: float
    range_bandwidth_hz: float
    azimuth_bandwidth_hz: float
    fm_rate_coefficients: tuple[float, ...]


_S3 = _BeamTiming(range_sampling_rate_hz=6.672839509333333e7, azimuth_time_interval_s=5.194923129469381e-4,
                  prf_hz=1.924956266475204e3, range_bandwidth_hz=5.94e7, azimuth_bandwidth_hz=1399.0,
                  fm_rate_coefficients=(-2370.48, 451853.3, -7.840e7))

BEAMS: dict[str, Beam] = {
    "S1": Beam("S1", "SM", 20.5, **_S3),
    "S2": Beam("S2", "SM", 25.5, **_S3),
    "S3": Beam("S3", "SM", 32.03, **_S3),
    "S4": Beam("S4", "SM", 36.5, **_S3),
    "S5": Beam("S5", "SM", 39.5, **_S3),
    "S6": Beam("S6", "SM", 42.5, **_S3),
    "IW1": Beam("IW1", "IW", 34.17, 6.434523812571428e7, 2.0555563e-3, 1717.129, 5.65e7, 327.0, 1.590368784,
                (-2331.03, 449751.7, -7.816e7), 1507, 2.7583, 0.0),
    "IW2": Beam("IW2", "IW", 39.46, 6.434523812571428e7, 2.0555563e-3, 1451.627, 4.83e7, 313.0, 0.979863325,
                (-2199.14, 400967.1, -6.481e7), 1519, 2.7573, 0.93),
    "IW3": Beam("IW3", "IW", 44.03, 6.434523812571428e7, 2.0555563e-3, 1685.817, 4.279e7, 314.0, 1.397440818,
                (-2059.30, 352970.7, -5.378e7), 1524, 2.7586, -0.93),
}


@dataclass
class Acquisition:
    """One simulated image: its annotated metadata, its orbit, and the hidden truth of its timing."""

    index: int
    meta: SwathMetadata  # what the annotation says
    orbit: Orbit
    timing_error_s: float = 0.0  # data of line l were simulated at annotated time(l) + timing_error_s
    days_since_first: float = 0.0
    extra: dict = field(default_factory=dict)
    # ESA's bistatic azimuth convention: the pixel at (line, tau) sees the ground point whose zero-Doppler time
    # is the time of its line + (tau - tau_ref) / 2 (``diapsar.geometry.RadarGrid``); None: no such term
    bistatic_reference_range_time_s: float | None = None

    @property
    def wavelength_m(self) -> float:
        return self.meta.wavelength_m

    def bistatic_s(self, tau) -> np.ndarray | float:
        """Zero-Doppler time minus line time of a target at two-way range time ``tau``: (tau - tau_ref) / 2."""
        if self.bistatic_reference_range_time_s is None:
            return 0.0
        return 0.5 * (np.asarray(tau, dtype=np.float64) - self.bistatic_reference_range_time_s)

    def line_time_true(self, line: np.ndarray, burst: np.ndarray | int | None = None) -> np.ndarray:
        """True time of (integer or fractional) image lines (annotated line time + timing error); IW lines are
        read within ``burst``. The zero-Doppler time of the target a pixel sees adds ``bistatic_s(tau)``."""
        m = self.meta
        line = np.asarray(line, dtype=np.float64)
        if m.is_tops:
            if burst is None:
                burst = np.clip(np.floor(line / m.lines_per_burst), 0, len(m.bursts) - 1).astype(np.int64)
            bt = np.array([b.azimuth_time_s for b in m.bursts])[burst]
            return bt + (line - np.asarray(burst) * m.lines_per_burst) * m.azimuth_time_interval_s \
                + self.timing_error_s
        return m.first_line_time_s + line * m.azimuth_time_interval_s + self.timing_error_s


def _us(seconds: float) -> float:
    """A time rounded to the microsecond (what ``seconds_to_iso(..., 6)`` writes and the reader reads back)."""
    return round(float(seconds) * 1e6) / 1e6


def _time_polys(times: np.ndarray, t0: float, coeffs) -> list[TimePolynomial]:
    return [TimePolynomial(float(t), float(t0), np.asarray(coeffs, dtype=np.float64)) for t in times]


def build_metadata(beam: Beam, sv: StateVectors, first_line_time_s: float, slant_range_time_s: float,
                   lines: int, samples: int, mission: str, absolute_orbit: int, relative_orbit: int,
                   pass_direction: str, anx_time_s: float, data_take: int, doppler_coefficients,
                   n_bursts: int = 0, lines_per_burst: int = 0, burst_cycle_s: float = 0.0,
                   polarisation: str = "VV") -> SwathMetadata:
    """SwathMetadata of a simulated image (geolocation grid, calibration and noise are filled in later).

    Image and burst start times are rounded to the microsecond, the precision the annotation is written with,
    so that the reader's line times are the simulator's (0.5 us is 0.001 stripmap line, and twice that in the
    bistatic reference range time the reader fits on the grid)."""
    first_line_time_s = _us(first_line_time_s)
    dt = beam.azimuth_time_interval_s
    fs = beam.range_sampling_rate_hz
    bursts: list[Burst] = []
    if beam.mode == "IW":
        n_lines = n_bursts * lines_per_burst
        first_invalid = max(1, round(0.015 * lines_per_burst))
        last_invalid = max(1, round(0.012 * lines_per_burst))
        s0 = max(1, round(0.01 * samples))
        s1 = samples - 1 - max(1, round(0.012 * samples))
        for b in range(n_bursts):
            tb = _us(first_line_time_s + b * burst_cycle_s)
            fvs = np.full(lines_per_burst, s0, dtype=np.int64)
            lvs = np.full(lines_per_burst, s1, dtype=np.int64)
            fvs[:first_invalid] = -1
            lvs[:first_invalid] = -1
            fvs[lines_per_burst - last_invalid:] = -1
            lvs[lines_per_burst - last_invalid:] = -1
            bursts.append(Burst(index=b, azimuth_time_s=tb, azimuth_anx_time_s=tb - anx_time_s,
                                sensing_time_s=tb + 1.1485, byte_offset=0, first_valid_sample=fvs,
                                last_valid_sample=lvs, first_line=b * lines_per_burst, lines=lines_per_burst))
        last_line_time = bursts[-1].azimuth_time_s + (lines_per_burst - 1) * dt
        spp = samples
    else:
        n_lines = lines
        last_line_time = first_line_time_s + (lines - 1) * dt
        spp = 0
        lines_per_burst = 0
    mid_tau = slant_range_time_s + 0.5 * samples / fs
    span = np.arange(first_line_time_s - 1.0, last_line_time + 1.0 + 1e-9, 1.0 if beam.mode == "SM" else 2.7)
    dc = _time_polys(span, mid_tau, doppler_coefficients)
    fm = _time_polys(span, mid_tau, beam.fm_rate_coefficients)
    empty = np.zeros(0)
    grid = GeolocationGrid(empty, empty, empty.astype(np.int64), empty.astype(np.int64), empty, empty, empty,
                           empty, empty)
    return SwathMetadata(
        mission=mission, mode=beam.mode, swath=beam.name, polarisation=polarisation, product_type="SLC",
        absolute_orbit=absolute_orbit, relative_orbit=relative_orbit, pass_direction=pass_direction,
        mission_data_take_id=data_take, image_number="001", start_time_s=first_line_time_s,
        stop_time_s=last_line_time, radar_frequency_hz=RADAR_FREQUENCY_HZ, range_sampling_rate_hz=fs,
        azimuth_time_interval_s=dt, prf_hz=beam.prf_hz, slant_range_time_s=slant_range_time_s,
        first_line_time_s=first_line_time_s, last_line_time_s=last_line_time, number_of_lines=n_lines,
        number_of_samples=samples, range_pixel_spacing_m=0.5 * SPEED_OF_LIGHT_M_S / fs,
        azimuth_pixel_spacing_m=0.0, incidence_angle_mid_deg=beam.incidence_mid_deg,
        azimuth_steering_rate_deg_s=beam.azimuth_steering_rate_deg_s, range_bandwidth_hz=beam.range_bandwidth_hz,
        azimuth_bandwidth_hz=beam.azimuth_bandwidth_hz, platform_heading_deg=0.0, look_side="RIGHT",
        lines_per_burst=lines_per_burst, samples_per_burst=spp, bursts=bursts, orbit=sv, geolocation_grid=grid,
        dc_estimates=dc, fm_rates=fm, ascending_node_time_s=anx_time_s, pri_s=1.0 / beam.prf_hz,
    )


def tops_phase_at(meta: SwathMetadata, orbit: Orbit, burst: int, line_in_burst, sample) -> np.ndarray:
    """TOPS azimuth phase (rad) at (fractional) burst-relative lines and samples (broadcast together).

    Standard TOPS model (ESA "Definition of the TOPS SLC deramping function for products generated by the
    S-1 IPF", COPE-GSEG-EOPG-TN-14-0025; notes section 4.1): k_s = 2 V f_c k_psi / c, k_a = FM rate (tau),
    k_t = k_a k_s / (k_a - k_s), f_etac = Doppler centroid (tau), eta_c = -f_etac / k_a,
    eta_ref = eta_c(tau) - eta_c(tau_mid), eta = (line - L/2) * dt, and
    phi = pi k_t (eta - eta_ref)^2 + 2 pi f_etac (eta - eta_ref). A TOPS SLC carries e^{+j phi} (its local
    Doppler k_t (eta - eta_ref) + f_etac grows along the burst) and deramping multiplies by e^{-j phi}: the
    sign of ISCE2 (``computeRamp``) and SNAP (``computeDerampDemodPhase`` applied as e^{+j(-phi)}), checked
    against the Doppler sweep of real pixels (Terceira crop, tests/test_40_simulate.py).
    V is the orbit speed at mid-burst, tau_mid the range time of the image's middle sample, and the FM-rate
    and Doppler records are the ones nearest to mid-burst.
    """
    b = meta.bursts[burst]
    dt = meta.azimuth_time_interval_s
    L = meta.lines_per_burst
    t_mid = b.azimuth_time_s + 0.5 * L * dt
    tau = meta.sample_to_range_time(np.asarray(sample, dtype=np.float64))
    tau_mid = meta.sample_to_range_time(0.5 * meta.number_of_samples)
    fm = min(meta.fm_rates, key=lambda p: abs(p.azimuth_time_s - t_mid))
    dc = min(meta.dc_estimates, key=lambda p: abs(p.azimuth_time_s - t_mid))
    _, v = orbit.position_velocity(np.array([t_mid]))
    vs = float(np.linalg.norm(v[0]))
    ks = 2.0 * vs * meta.radar_frequency_hz * math.radians(meta.azimuth_steering_rate_deg_s) / SPEED_OF_LIGHT_M_S
    ka = fm(tau)
    kt = ka * ks / (ka - ks)
    fdc = dc(tau)
    eta_ref = -fdc / ka + dc(tau_mid) / fm(tau_mid)
    x = (np.asarray(line_in_burst, dtype=np.float64) - 0.5 * L) * dt - eta_ref
    return np.pi * kt * x * x + 2 * np.pi * fdc * x


def tops_phase(meta: SwathMetadata, orbit: Orbit, burst: int, lines_in_burst: np.ndarray,
               samples: np.ndarray) -> np.ndarray:
    """``tops_phase_at`` on the outer product lines x samples."""
    return tops_phase_at(meta, orbit, burst, np.asarray(lines_in_burst, dtype=np.float64)[:, None],
                         np.asarray(samples, dtype=np.float64)[None, :])
