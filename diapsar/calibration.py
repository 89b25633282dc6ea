"""Radiometric calibration of Sentinel-1 Level-1 images (sigma0, beta0, gamma0) with the annotated LUTs.

Source: ESA, "Sentinel-1 Level-1 calibration" (ESA-EOPG-CSCOP-TN-0002, Miranda & Meadows, 2015):

    value(i, j) = |DN(i, j)|^2 / A(i, j)^2                      (section 3, eq. 3-1 without noise)
    value(i, j) = (|DN(i, j)|^2 - noise(i, j)) / A(i, j)^2       (with the thermal noise removed, see noise.py)

where A is the ``sigmaNought``, ``betaNought`` or ``gamma`` LUT of ``calibrationVectorList``, given at a sparse
grid of (line, pixel) positions and interpolated *bilinearly in line and pixel* (same document, section 3:
"bi-linear interpolation ... for pixels that lie between points in the LUT"). Lines and pixels are those of
the image the annotation describes (full swath SLC with its bursts one after another, or GRD).

The LUTs relate to each other through the ellipsoid incidence angle theta (same document, section 2):
A_sigma^2 = A_beta^2 / sin(theta), A_gamma^2 = A_beta^2 / tan(theta), i.e. sigma0 = beta0 sin(theta) and
gamma0 = sigma0 / cos(theta).

Everything here is a pure array function; I/O lives in ``diapsar.backscatter``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .errors import ProductError, SelectionError
from .metadata import CalibrationVectors

# --lut name -> CalibrationVectors field
LUTS = {"sigma0": "sigma_nought", "beta0": "beta_nought", "gamma0": "gamma"}
# Smallest calibrated value written (linear, -50 dB): thermal noise removal can leave zero or negative power
# where the signal is at or below the noise floor (S1 IW NESZ is about -22 dB). ESA's thermal denoising note
# leaves the choice to the user; SNAP clips at 0. A positive floor keeps the dB output finite and is far below
# anything Sentinel-1 measures.
FLOOR_LINEAR = 1e-5


def _sorted_vectors(lines: np.ndarray, pixels: Sequence[np.ndarray], values: Sequence[np.ndarray],
                    what: str) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """Vectors sorted by line, duplicates of a line dropped (the first kept), each checked for shape."""
    lines = np.asarray(lines, dtype=np.float64)
    if lines.size == 0:
        raise ProductError(f"{what}: no vector")
    order = np.argsort(lines, kind="stable")
    keep: list[int] = []
    for k in order:
        if keep and lines[k] == lines[keep[-1]]:
            continue
        keep.append(int(k))
    px, vals = [], []
    for k in keep:
        p = np.asarray(pixels[k], dtype=np.float64)
        v = np.asarray(values[k], dtype=np.float64)
        if p.size == 0 or p.size != v.size:
            raise ProductError(f"{what}: vector at line {int(lines[k])} has {p.size} pixels and {v.size} values")
        if np.any(np.diff(p) <= 0):
            raise ProductError(f"{what}: pixels of the vector at line {int(lines[k])} are not increasing")
        px.append(p)
        vals.append(v)
    return lines[keep], px, vals


def vector_rows(lines: np.ndarray, pixels: Sequence[np.ndarray], values: Sequence[np.ndarray],
                rows: np.ndarray, cols: np.ndarray,
                what: str = "LUT") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The bilinear interpolation of :func:`bilinear_vectors` in factored form, for streaming kernels:
    (``along`` (k, len(cols)): the vectors the rows need, interpolated in pixel; ``k`` (len(rows),) int64:
    row i lies between ``along[k[i]]`` and ``along[k[i] + 1]``; ``w`` (len(rows),): the weight of the second).
    Row i of the grid is ``(1 - w[i]) * along[k[i]] + w[i] * along[k[i] + 1]``."""
    vl, vp, vv = _sorted_vectors(lines, pixels, values, what)
    rows = np.asarray(rows, dtype=np.float64)
    cols = np.asarray(cols, dtype=np.float64)
    if vl.size == 1:
        one = np.interp(cols, vp[0], vv[0])
        return np.stack([one, one]), np.zeros(rows.size, dtype=np.int64), np.zeros(rows.size)
    k = np.clip(np.searchsorted(vl, rows, side="right") - 1, 0, vl.size - 2)
    w = np.clip((rows - vl[k]) / (vl[k + 1] - vl[k]), 0.0, 1.0)
    needed = np.unique(np.concatenate([k, k + 1]))  # k and k + 1 are neighbours in it
    along = np.empty((needed.size, cols.size))
    for n, i in enumerate(needed):  # pixel interpolation of the vectors the rows need only
        along[n] = np.interp(cols, vp[i], vv[i])
    return along, np.searchsorted(needed, k).astype(np.int64), w


def bilinear_vectors(lines: np.ndarray, pixels: Sequence[np.ndarray], values: Sequence[np.ndarray],
                     rows: np.ndarray, cols: np.ndarray, what: str = "LUT") -> np.ndarray:
    """Values of the sparse vectors (one per annotated ``line``, each given at its ``pixels``) on the grid
    ``rows`` x ``cols`` (image lines and samples, 1-D arrays), bilinear in line and pixel; beyond the first or
    last vector / pixel the edge value is kept (no extrapolation). Returns float64 (len(rows), len(cols))."""
    along, k, w = vector_rows(lines, pixels, values, rows, cols, what)
    return (1.0 - w)[:, None] * along[k] + w[:, None] * along[k + 1]


def _lut_vectors(cal: CalibrationVectors, lut: str) -> Sequence[np.ndarray]:
    """The per-line vectors of the calibration LUT ``lut`` (SelectionError: unknown name; ProductError: absent)."""
    field = LUTS.get(lut, lut)
    if field not in ("sigma_nought", "beta_nought", "gamma", "dn"):
        raise SelectionError(f"unknown calibration LUT {lut!r} (expected one of {', '.join(LUTS)})")
    values = getattr(cal, field)
    if not values or any(v.size == 0 for v in values):
        raise ProductError(f"calibration annotation has no {lut} LUT")
    return values  # type: ignore[no-any-return]


def lut_rows(cal: CalibrationVectors, lut: str, row0: int, nrows: int, col0: int,
             ncols: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`lut_grid` in the factored form of :func:`vector_rows` (no full-size array)."""
    values = _lut_vectors(cal, lut)
    return vector_rows(cal.line, cal.pixel, values, np.arange(row0, row0 + nrows), np.arange(col0, col0 + ncols),
                       what=f"calibration {lut}")


def lut_grid(cal: CalibrationVectors, lut: str, row0: int, nrows: int, col0: int, ncols: int) -> np.ndarray:
    """The calibration LUT ``lut`` (sigma0, beta0, gamma0 or dn) on image lines [row0, row0+nrows) and samples
    [col0, col0+ncols), bilinear in line and pixel (ESA calibration note, section 3). float64."""
    values = _lut_vectors(cal, lut)
    return bilinear_vectors(cal.line, cal.pixel, values, np.arange(row0, row0 + nrows),
                            np.arange(col0, col0 + ncols), what=f"calibration {lut}")


def detected_power(pixels: np.ndarray) -> np.ndarray:
    """|DN|^2 of SLC (complex) or GRD (real amplitude) pixels, float64."""
    if np.iscomplexobj(pixels):
        return pixels.real.astype(np.float64) ** 2 + pixels.imag.astype(np.float64) ** 2
    return pixels.astype(np.float64) ** 2


def calibrate(power: np.ndarray, lut: np.ndarray, floor: float | None = FLOOR_LINEAR) -> np.ndarray:
    """Calibrated backscatter power / A^2 (ESA calibration note eq. 3-1); ``power`` is |DN|^2 or |DN|^2 - noise.
    Values below ``floor`` (default FLOOR_LINEAR, -50 dB) are set to it; ``floor=None`` keeps them. float32."""
    out = power / (lut * lut)
    if floor is not None:
        out = np.maximum(out, floor)
    return out.astype(np.float32)


def to_db(linear: np.ndarray) -> np.ndarray:
    """10 log10 of a linear backscatter (NaN stays NaN; values must be > 0, see FLOOR_LINEAR)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return (10.0 * np.log10(linear)).astype(np.float32)


def lut_incidence_deg(cal: CalibrationVectors) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(line, pixel, theta) at every LUT point, theta = asin(A_beta^2 / A_sigma^2) in degrees: the incidence
    angle the sigma0 and beta0 LUTs encode (ESA calibration note, section 2)."""
    lines, pix, th = [], [], []
    for ln, p, s, b in zip(cal.line, cal.pixel, cal.sigma_nought, cal.beta_nought, strict=True):
        lines.append(np.full(p.size, float(ln)))
        pix.append(p.astype(np.float64))
        th.append(np.degrees(np.arcsin(np.clip((b / s) ** 2, -1.0, 1.0))))
    return np.concatenate(lines), np.concatenate(pix), np.concatenate(th)
