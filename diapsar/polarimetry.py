"""Dual-polarisation entropy / anisotropy / alpha decomposition of Sentinel-1 SLC (VV+VH or HH+HV).

Per pixel the scattering vector k = (S_co, S_cross) (calibrated complex: DN / A, A the calibration LUT) gives
the 2 x 2 covariance C2 = <k k^H>, averaged over the cells of the multilook (-ml) and then over a sliding
``window`` x ``window`` box (NaN-aware). Its eigenvalues l1 >= l2 >= 0 and eigenvectors
v_i = (cos alpha_i, sin alpha_i e^{j phi_i}) give (Cloude, S. R. (2007), "The dual polarization
entropy/alpha decomposition: a PALSAR case study", Proc. PolInSAR 2007, ESA SP-644; the quad-pol original:
Cloude & Pottier (1997), IEEE TGRS 35(1):68-78):

    p_i = l_i / (l1 + l2),  H = -sum p_i log2 p_i,  A = (l1 - l2) / (l1 + l2),  alpha = sum p_i alpha_i.

Closed form for a Hermitian 2 x 2 [[c11, c12], [c12*, c22]]: with x = c11 - c22 and
D = sqrt(x^2 + 4 |c12|^2), l1,2 = (c11 + c22 +- D) / 2 and cos^2 alpha_1 = (1 + x / D) / 2, i.e.
alpha_1 = acos(x / D) / 2, alpha_2 = 90 deg - alpha_1 (orthonormal eigenvectors); A = D / (c11 + c22). A
pure single scatterer has H = 0, A = 1; C2 proportional to the identity H = 1, A = 0, alpha = 45 deg. With two
eigenvalues H and A are both functions of p1 (A = 2 p1 - 1); both are written as SNAP and OpenSarToolkit do.
No thermal noise is removed (it is a power, not a complex, correction): at low cross-pol power the noise
floor raises H.

Arrays first (``c2_elements``, ``average_c2``, ``h_a_alpha``, ``decompose``); ``write_h_a_alpha`` is the I/O:
a 3-band float32 GeoTIFF (entropy, anisotropy, alpha in degrees), written by row blocks within the RAM budget
with a halo of ``window // 2`` output rows, so the result does not depend on the block size.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio

from .calibration import lut_grid
from .chains.context import gdal_cache_mb
from .deburst import DeburstLayout, deburst_layout
from .errors import ConfigError, ProductError, SelectionError
from .io.blocks import row_blocks, rows_per_block
from .io.raster import open_writer
from .kernels import polarimetry as K
from .metadata import SwathMetadata
from .multilook import check_factors
from .speckle import local_mean

DECOMPOSITIONS = ("h-a-alpha",)
DEFAULT_WINDOW = 5  # SNAP's H-Alpha dual-pol decomposition window (OpenSarToolkit's ARD default as well)
BANDS = ("entropy", "anisotropy", "alpha")
UNITS = ("1", "1", "degree")
# co-pol -> cross-pol of the Sentinel-1 dual-pol products (1SDV: VV+VH, 1SDH: HH+HV)
PAIRS = {"VV": "VH", "HH": "HV"}
# bytes per full-resolution pixel of a block: the complex64 read, the float64 LUT and its float32 copy, the
# complex64 calibrated values of both channels and their temporaries, masks; and per multilook cell: the four
# C2 cells, the window statistics of each (diapsar.kernels.speckle.window_moments) and the three outputs
_BYTES_PER_PIXEL = 64.0
_BYTES_PER_CELL = 200.0


def check_window(window: int) -> None:
    if window < 1 or window % 2 == 0:
        raise ConfigError(f"--window must be an odd number >= 1, got {window}")


def c2_elements(co: np.ndarray, cross: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(|co|^2, |cross|^2, co conj(cross)) as float64, float64, complex128: one-look C2."""
    a = np.asarray(co, dtype=np.complex128)
    b = np.asarray(cross, dtype=np.complex128)
    return a.real ** 2 + a.imag ** 2, b.real ** 2 + b.imag ** 2, a * np.conj(b)


def average_c2(c11: np.ndarray, c22: np.ndarray, c12_re: np.ndarray, c12_im: np.ndarray, window: int
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """NaN-aware mean of the C2 elements over the ``window`` x ``window`` box of each pixel (NaN stays NaN)."""
    check_window(window)
    if window == 1:
        return c11, c22, c12_re, c12_im
    bad = ~np.isfinite(c11)
    out = [np.where(bad, np.nan, local_mean(np.ascontiguousarray(v), window)) for v in (c11, c22, c12_re, c12_im)]
    return out[0], out[1], out[2], out[3]


def h_a_alpha(c11: np.ndarray, c22: np.ndarray, c12: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(entropy, anisotropy, mean alpha in degrees) of the Hermitian C2 [[c11, c12], [c12*, c22]], float32;
    NaN where the trace is not positive or not finite (``diapsar.kernels.polarimetry.h_a_alpha_pixels``)."""
    c11 = np.atleast_1d(np.asarray(c11, dtype=np.float64))
    c12 = np.asarray(c12, dtype=np.complex128).reshape(c11.shape)
    shape = c11.shape
    flat = [np.ascontiguousarray(v).reshape(1, -1) for v in (c11, np.asarray(c22, dtype=np.float64).reshape(shape),
                                                              c12.real, c12.imag)]
    return tuple(v.reshape(shape) for v in K.h_a_alpha_pixels(*flat))  # type: ignore[return-value]


def multilook_c2(co: np.ndarray, cross: np.ndarray, valid: np.ndarray, ml_rg: int, ml_az: int
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(c11, c22, Re c12, Im c12): mean of |co|^2, |cross|^2, co conj(cross) over the valid pixels of each
    ml_az x ml_rg cell (trailing partial cells dropped); NaN where less than half the cell is valid (as
    ``diapsar.backscatter.multilook_power``)."""
    return K.c2_cells(np.ascontiguousarray(co), np.ascontiguousarray(cross), np.ascontiguousarray(valid), ml_az,
                      ml_rg)


def decompose(co: np.ndarray, cross: np.ndarray, window: int = DEFAULT_WINDOW, ml_rg: int = 1, ml_az: int = 1,
              valid: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """H, A, alpha (degrees) of co-/cross-pol complex images: C2 multilooked ml_rg x ml_az, then averaged
    over a ``window`` box. ``valid`` (default: both channels non-zero and finite) marks the data."""
    if valid is None:
        valid = (co != 0) & (cross != 0) & np.isfinite(co) & np.isfinite(cross)
    return K.h_a_alpha_pixels(*average_c2(*multilook_c2(co, cross, valid, ml_rg, ml_az), window))


# ---------------------------------------------------------------------------------------------------------
# I/O: a product's dual-pol swath to a GeoTIFF

@dataclass(frozen=True)
class DecompositionResult:
    tif: Path
    shape: tuple[int, int]
    polarisations: tuple[str, str]


def dual_pol_pair(product, swath: str | None) -> tuple[str, str]:
    """(co-pol, cross-pol) of ``product``'s swath; ProductError for a GRD, SelectionError without both."""
    meta = product.swath(swath, None)
    if meta.product_type != "SLC":
        raise ProductError(f"{product.name}: H/A/alpha needs an SLC product (complex co- and cross-pol); "
                           f"this is a {meta.product_type}")
    pols = [p for s, p in product.images if s == meta.swath]
    for co, cross in PAIRS.items():
        if co in pols and cross in pols:
            return co, cross
    raise SelectionError(f"{product.name} {meta.swath}: H/A/alpha needs a dual-polarisation product (VV+VH or "
                         f"HH+HV); it has {'+'.join(pols) or 'no image'}")


def _calibrated_complex(product, meta: SwathMetadata, layout: DeburstLayout | None, lut: str, r0: int,
                        r1: int) -> tuple[np.ndarray, np.ndarray]:
    """(DN / A complex64, valid) of debursted output rows [r0, r1), every sample."""
    n = meta.number_of_samples
    out = np.zeros((r1 - r0, n), dtype=np.complex64)
    valid = np.zeros((r1 - r0, n), dtype=bool)
    if layout is None:
        pieces = [(r0, r1, r0, 0, n)]
    else:
        segs = {s.burst: s for s in layout.segments}
        pieces = [(rs.out_line0, rs.out_line1, rs.burst * meta.lines_per_burst + rs.burst_line0,
                   *segs[rs.burst].valid_samples) for rs in layout.rows(r0, r1)]
    assert meta.calibration is not None
    for o0, o1, line0, s0, s1 in pieces:
        dn = product.read(meta.swath, meta.polarisation, line0, 0, o1 - o0, n)
        ok = dn != 0
        ok[:, :s0] = False
        ok[:, s1:] = False
        a = lut_grid(meta.calibration, lut, line0, o1 - o0, 0, n)
        out[o0 - r0:o1 - r0] = np.where(ok, dn / a.astype(np.float32), 0.0)
        valid[o0 - r0:o1 - r0] = ok
    return out, valid


def write_h_a_alpha(product, swath: str | None, out_dir: str | os.PathLike, window: int = DEFAULT_WINDOW,
                    ml_rg: int = 1, ml_az: int = 1, lut: str = "sigma0", ram_mb: float = 512.0
                    ) -> DecompositionResult:
    """Write ``out_dir/<product>_<swath>_<co><cross>_h-a-alpha.tif``: entropy, anisotropy, alpha (degrees)
    of the swath (TOPS: debursted) on the -ml grid of ``diapsar backscatter``, float32, NaN = no data."""
    check_window(window)
    check_factors(ml_rg, ml_az)
    co, cross = dual_pol_pair(product, swath)
    metas = [product.swath(swath, p) for p in (co, cross)]
    for m in metas:
        if m.calibration is None:
            raise ProductError(f"{product.name} {m.swath} {m.polarisation}: no calibration annotation, "
                               "cannot calibrate")
    meta = metas[0]
    if (metas[1].number_of_lines, metas[1].number_of_samples) != (meta.number_of_lines, meta.number_of_samples):
        raise ProductError(f"{product.name} {meta.swath}: {co} and {cross} images differ in size")
    layout = deburst_layout(meta) if meta.is_tops else None
    n = meta.number_of_samples
    n_rows = layout.lines if layout is not None else meta.number_of_lines
    out_rows, out_cols = n_rows // ml_az, n // ml_rg
    if out_rows == 0 or out_cols == 0:
        raise SelectionError(f"-ml {ml_rg} {ml_az} is larger than the {n_rows} x {n} image")
    for m in metas:
        product.measurement(m.swath, m.polarisation)  # missing or empty measurement: ProductError now
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    name = meta.product_name.removesuffix(".SAFE").removesuffix(".zip") or "product"
    tif = out / f"{name}_{meta.swath}_{co}{cross}_h-a-alpha.tif"
    cache_mb = gdal_cache_mb(ram_mb)
    block = rows_per_block(n, _BYTES_PER_PIXEL + _BYTES_PER_CELL / (ml_rg * ml_az), max(ram_mb - cache_mb, 1.0),
                           multiple=ml_az)
    halo = (window // 2) * ml_az
    tags = {"PRODUCT": meta.product_name, "SWATH": meta.swath, "POLARISATIONS": f"{co}+{cross}",
            "DECOMPOSITION": "h-a-alpha (dual-pol)", "WINDOW": window, "ML_RANGE": ml_rg, "ML_AZIMUTH": ml_az,
            "LUT": lut, "THERMAL_NOISE_REMOVED": "false", "DEBURST": str(layout is not None).lower(),
            "SOURCE": "Cloude (2007) dual polarization entropy/alpha decomposition, ESA SP-644"}
    with rasterio.Env(GDAL_CACHEMAX=cache_mb), open_writer(tif, out_cols, out_rows, 3, "float32",
                                                           descriptions=BANDS, nodata=float("nan"), tags=tags) as w:
        for k, u in enumerate(UNITS):
            w.ds.set_band_unit(k + 1, u)
        for b in row_blocks(out_rows * ml_az, block, halo):
            s_co, ok_co = _calibrated_complex(product, metas[0], layout, lut, b.read0, b.read1)
            s_x, ok_x = _calibrated_complex(product, metas[1], layout, lut, b.read0, b.read1)
            hh = decompose(s_co, s_x, window, ml_rg, ml_az, valid=ok_co & ok_x)
            inner = slice((b.row0 - b.read0) // ml_az, (b.row1 - b.read0) // ml_az)
            w.write(b.row0 // ml_az, np.stack([v[inner, :out_cols] for v in hh]))
    return DecompositionResult(tif, (out_rows, out_cols), (co, cross))
