"""Plain typed metadata of one Sentinel-1 swath/polarisation image, as the reader delivers it.

Every module that needs geometry or timing takes these structures (or plain arrays taken from them); nothing
here reads files. Conventions:

- times are float64 seconds since ``diapsar.timeutil.EPOCH`` (``*_time_s``);
- slant range times are two-way, in seconds (``*_range_time_s``);
- positions are WGS84 ECEF metres, velocities m/s;
- line and sample (pixel) indices are 0-based, in the full image of the swath (for IW/EW: the burst-stacked
  SLC as ESA writes it, ``lines_per_burst`` lines per burst).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SPEED_OF_LIGHT_M_S = 299_792_458.0


@dataclass
class StateVectors:
    """Orbit state vectors (annotation or EOF file)."""

    time_s: np.ndarray  # (n,)
    position_m: np.ndarray  # (n, 3) ECEF
    velocity_m_s: np.ndarray  # (n, 3) ECEF
    source: str = "annotation"  # "annotation" or the EOF file name

    def __len__(self) -> int:
        return int(self.time_s.shape[0])


@dataclass
class Burst:
    """One TOPS burst record of the annotation (``swathTiming/burstList/burst``)."""

    index: int  # 0-based position in the swath
    azimuth_time_s: float  # zero-Doppler time of the burst's first line
    azimuth_anx_time_s: float  # time since ascending node of the first line
    sensing_time_s: float
    byte_offset: int
    first_valid_sample: np.ndarray  # (lines_per_burst,) int, -1 where the line is invalid
    last_valid_sample: np.ndarray  # (lines_per_burst,) int, -1 where the line is invalid
    first_line: int  # first line of the burst in the swath image (= index * lines_per_burst)
    lines: int  # lines_per_burst
    burst_id: int | None = None  # ESA relative burst ID (annotation, or computed from anx time)

    @property
    def first_valid_line(self) -> int:
        """First swath line with valid samples."""
        ok = np.nonzero(self.first_valid_sample >= 0)[0]
        return self.first_line + int(ok[0]) if ok.size else self.first_line

    @property
    def last_valid_line(self) -> int:
        """Last swath line with valid samples (inclusive)."""
        ok = np.nonzero(self.first_valid_sample >= 0)[0]
        return self.first_line + int(ok[-1]) if ok.size else self.first_line + self.lines - 1


@dataclass
class TimePolynomial:
    """A polynomial in two-way slant range time: value(tau) = sum c_k (tau - t0)^k, valid around azimuth_time_s.

    Used for Doppler centroid estimates (Hz, ``dopplerCentroid/dcEstimateList``, data polynomial) and azimuth
    FM rates (Hz/s, ``generalAnnotation/azimuthFmRateList``).
    """

    azimuth_time_s: float
    t0_s: float
    coefficients: np.ndarray  # (k,)

    def __call__(self, range_time_s: np.ndarray | float) -> np.ndarray:
        x = np.asarray(range_time_s, dtype=np.float64) - self.t0_s
        return np.polynomial.polynomial.polyval(x, self.coefficients)


@dataclass
class GeolocationGrid:
    """``geolocationGrid/geolocationGridPointList`` as arrays of equal length."""

    azimuth_time_s: np.ndarray
    slant_range_time_s: np.ndarray
    line: np.ndarray  # as written by ESA (integers; IW: burst layout)
    pixel: np.ndarray
    latitude_deg: np.ndarray
    longitude_deg: np.ndarray
    height_m: np.ndarray  # above WGS84 ellipsoid
    incidence_angle_deg: np.ndarray
    elevation_angle_deg: np.ndarray


@dataclass
class CalibrationVectors:
    """``calibration/calibrationVectorList``: per vector a line and pixel positions with LUT values."""

    azimuth_time_s: np.ndarray  # (n,)
    line: np.ndarray  # (n,) int
    pixel: list[np.ndarray]  # n arrays of int
    sigma_nought: list[np.ndarray]
    beta_nought: list[np.ndarray]
    gamma: list[np.ndarray]
    dn: list[np.ndarray]
    absolute_calibration_constant: float = 1.0


@dataclass
class NoiseRangeVectors:
    """``noise/noiseRangeVectorList`` (or the older ``noiseVectorList``)."""

    azimuth_time_s: np.ndarray
    line: np.ndarray
    pixel: list[np.ndarray]
    values: list[np.ndarray]


@dataclass
class NoiseAzimuthBlock:
    """One ``noiseAzimuthVector`` (IPF >= 2.9): a block of lines/samples with an azimuth noise profile."""

    swath: str
    first_azimuth_line: int
    first_range_sample: int
    last_azimuth_line: int
    last_range_sample: int
    line: np.ndarray
    values: np.ndarray


@dataclass
class NoiseVectors:
    range_vectors: NoiseRangeVectors | None
    azimuth_blocks: list[NoiseAzimuthBlock] = field(default_factory=list)


@dataclass
class SwathMetadata:
    """Everything diapsar needs of one (swath, polarisation) image of a product."""

    # identity
    mission: str  # S1A, S1B, S1C, S1D
    mode: str  # IW, EW, SM (stripmap beams S1..S6 have mode "SM")
    swath: str  # IW1..IW3, EW1..EW5, S1..S6
    polarisation: str  # VV, VH, HH, HV
    product_type: str  # SLC or GRD
    absolute_orbit: int
    relative_orbit: int
    pass_direction: str  # "Ascending" | "Descending"
    mission_data_take_id: int
    image_number: str  # "004"
    start_time_s: float
    stop_time_s: float
    # radar and sampling
    radar_frequency_hz: float
    range_sampling_rate_hz: float
    azimuth_time_interval_s: float
    prf_hz: float
    slant_range_time_s: float  # two-way time of the first sample
    first_line_time_s: float  # productFirstLineUtcTime
    last_line_time_s: float  # productLastLineUtcTime
    number_of_lines: int
    number_of_samples: int
    range_pixel_spacing_m: float
    azimuth_pixel_spacing_m: float
    incidence_angle_mid_deg: float
    azimuth_steering_rate_deg_s: float
    range_bandwidth_hz: float
    azimuth_bandwidth_hz: float
    platform_heading_deg: float
    look_side: str  # "RIGHT"
    # TOPS
    lines_per_burst: int  # 0 for stripmap
    samples_per_burst: int
    bursts: list[Burst]
    # models
    orbit: StateVectors
    geolocation_grid: GeolocationGrid
    dc_estimates: list[TimePolynomial]
    fm_rates: list[TimePolynomial]
    calibration: CalibrationVectors | None = None
    noise: NoiseVectors | None = None
    # GRD only: slant-range to ground-range conversion (coordinateConversionList), kept raw
    srgr: list[dict] = field(default_factory=list)
    # places
    product_name: str = ""
    annotation_name: str = ""  # file name of the annotation XML
    measurement_name: str = ""  # file name of the measurement TIFF (may be absent on disk)
    footprint_wkt: str = ""  # lon/lat polygon of the image corners
    # timing extras (reader fills them; defaults keep older constructors valid)
    ascending_node_time_s: float = float("nan")  # imageInformation/ascendingNodeTime
    pri_s: float = 0.0  # downlink pulse repetition interval (s)
    pixel_value: str = "Complex"  # imageInformation/pixelValue: "Complex" (SLC) or "Detected" (GRD)
    # set on images derived from a swath (diapsar.tops frames): the swath's residual bistatic reference range
    # time, used instead of fitting one on the geolocation grid
    bistatic_reference_range_time_s: float | None = None

    @property
    def wavelength_m(self) -> float:
        return SPEED_OF_LIGHT_M_S / self.radar_frequency_hz

    @property
    def is_tops(self) -> bool:
        return self.mode in ("IW", "EW") and self.lines_per_burst > 0 and len(self.bursts) > 0

    @property
    def range_pixel_time_s(self) -> float:
        """Two-way time between samples."""
        return 1.0 / self.range_sampling_rate_hz

    def sample_to_range_time(self, sample: np.ndarray | float) -> np.ndarray:
        return self.slant_range_time_s + np.asarray(sample, dtype=np.float64) / self.range_sampling_rate_hz

    def range_time_to_sample(self, tau: np.ndarray | float) -> np.ndarray:
        return (np.asarray(tau, dtype=np.float64) - self.slant_range_time_s) * self.range_sampling_rate_hz

    @property
    def date(self) -> str:
        """YYYYMMDD of the acquisition start."""
        from .timeutil import date_string

        return date_string(self.start_time_s)
