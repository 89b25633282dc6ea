"""Speckle filters of calibrated intensity (linear power) images: boxcar, Lee, refined Lee, and the
multi-temporal filter of Quegan & Yu over a co-registered stack.

- boxcar: mean of the N x N window.
- Lee: Lee, J.-S. (1980), "Digital image enhancement and noise filtering by use of local statistics", IEEE
  TPAMI 2(2):165-168. Multiplicative speckle of squared variation coefficient Cu^2 = 1/ENL; over the window,
  mean m and variance var_z; var_x = (var_z - m^2 Cu^2) / (1 + Cu^2); out = m + b (z - m), b = var_x/var_z
  clipped to [0, 1]: the mean on homogeneous areas, the pixel itself on strong texture.
- refined Lee: Lee, J.-S., Grunes, M. R. & de Grandi, G. (1999), "Polarimetric SAR speckle filtering and its
  implication for classification", IEEE TGRS 37(5):2363-2373: the same estimate over an edge-aligned half
  window chosen from 3 x 3 sub-window means (``diapsar.kernels.speckle.refined_lee``). 7 x 7 by default, as
  SNAP's Refined Lee (and OpenSarToolkit, /work/shared/docs/peers-and-limits.md). Sub-windows: 3 x 3 for
  N = 5, 7; 5 x 5 for 9-13; 7 x 7 above; their centres (N - sub) / 2 apart, so they tile the window.
- multi-temporal: Quegan, S. & Yu, J. J. (2001), "Filtering of multichannel SAR images", IEEE TGRS
  39(11):2373-2379, eq. (1) with equal weights: J_k = <I_k> / N * sum_i I_i / <I_i>, <.> the local
  (boxcar) mean. On a homogeneous area E[I_i / <I_i>] = 1 exactly (the window holds I_i), so the mean of
  every date is preserved; the equivalent number of looks rises towards N times that of one date.

All filters take NaN as no data: NaN pixels stay NaN and are left out of every window statistic. A pixel
depends only on its N x N window (direct sums, no running sums), so a strip read with ``halo(window)`` rows
on each side gives bit-identical rows to the whole image (``filter_strip``, ``multitemporal_strip``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio

from .errors import ConfigError, SelectionError
from .kernels import speckle as K

FILTERS = ("none", "boxcar", "lee", "refined-lee")
DEFAULT_WINDOW = 7
# bytes per (filtered) pixel of a strip: the window moments (sum, squares, count, row sums: 6 x float64),
# the local mean and the float64 result, float32 in and out
BYTES_PER_PIXEL = 80.0


def check(method: str, window: int, looks: float | None = None) -> None:
    """ConfigError unless ``method`` is a known filter, ``window`` an odd size >= 3 (>= 5 for refined Lee)
    and ``looks`` (ENL) positive."""
    if method not in FILTERS:
        raise ConfigError(f"--speckle must be one of {', '.join(FILTERS)}, got {method!r}")
    if window < 3 or window % 2 == 0:
        raise ConfigError(f"--speckle-window must be an odd number >= 3, got {window}")
    if method == "refined-lee" and window < 5:
        raise ConfigError(f"refined Lee needs a window of at least 5 x 5, got {window}")
    if looks is not None and not (np.isfinite(looks) and looks > 0):
        raise ConfigError(f"the equivalent number of looks must be > 0, got {looks}")


def halo(window: int) -> int:
    """Rows needed on each side of a strip so that its filtered rows equal the whole image's."""
    return window // 2


def refined_lee_subwindow(window: int) -> tuple[int, int]:
    """(sub-window size, distance between sub-window centres) of the refined Lee N x N window."""
    sub = 3 if window <= 7 else 5 if window <= 13 else 7
    return sub, (window - sub) // 2


def local_mean(intensity: np.ndarray, window: int) -> np.ndarray:
    """NaN-aware mean over the ``window`` x ``window`` neighbourhood (clipped at the edges), float64; NaN
    where the window holds no data."""
    s, _, n = K.window_moments(np.ascontiguousarray(intensity), window // 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, s / np.maximum(n, 1.0), np.nan)


def boxcar(intensity: np.ndarray, window: int = DEFAULT_WINDOW) -> np.ndarray:
    """Mean of the finite values of the window; NaN where the pixel is NaN (float32)."""
    check("boxcar", window)
    x = np.asarray(intensity)
    return np.where(np.isfinite(x), local_mean(x, window), np.nan).astype(np.float32)


def lee(intensity: np.ndarray, window: int = DEFAULT_WINDOW, looks: float = 1.0) -> np.ndarray:
    """Lee (1980) filter for speckle of ``looks`` equivalent looks (float32, NaN kept)."""
    check("lee", window, looks)
    x = np.ascontiguousarray(intensity)
    s, q, n = K.window_moments(x, window // 2)
    return K.lee_from_moments(x, s, q, n, 1.0 / looks).astype(np.float32)


def refined_lee(intensity: np.ndarray, window: int = DEFAULT_WINDOW, looks: float = 1.0) -> np.ndarray:
    """Refined Lee (Lee et al. 1999) filter with edge-aligned windows (float32, NaN kept)."""
    check("refined-lee", window, looks)
    x = np.ascontiguousarray(intensity)
    sub, step = refined_lee_subwindow(window)
    return K.refined_lee(x, local_mean(x, sub), sub, step, 1.0 / looks).astype(np.float32)


def despeckle(intensity: np.ndarray, method: str, window: int = DEFAULT_WINDOW, looks: float = 1.0) -> np.ndarray:
    """``method`` (one of FILTERS) applied to a linear intensity image; ``none`` returns it as float32."""
    check(method, window, looks)
    if method == "none":
        return np.asarray(intensity, dtype=np.float32)
    if method == "boxcar":
        return boxcar(intensity, window)
    if method == "lee":
        return lee(intensity, window, looks)
    return refined_lee(intensity, window, looks)


def filter_strip(strip: np.ndarray, inner: slice, method: str, window: int = DEFAULT_WINDOW,
                 looks: float = 1.0) -> np.ndarray:
    """Filtered rows ``inner`` of a strip read with ``halo(window)`` rows of margin (clipped at the image
    edges): bit-identical to the same rows of the filtered whole image."""
    return despeckle(strip, method, window, looks)[inner]


def quegan(stack: Sequence[np.ndarray] | np.ndarray, window: int = DEFAULT_WINDOW) -> np.ndarray:
    """Multi-temporal filter of Quegan & Yu (2001) of a co-registered stack of linear intensities
    (dates, rows, cols): J_k = <I_k> / N * sum_i I_i / <I_i> over the N dates that have data at the pixel
    (``<.>`` the NaN-aware ``window`` boxcar mean). NaN where I_k is NaN (float32, same shape)."""
    check("boxcar", window)
    imgs = [np.ascontiguousarray(a) for a in stack]
    if len(imgs) < 2:
        raise ConfigError("the multi-temporal filter needs at least 2 dates")
    if any(a.shape != imgs[0].shape for a in imgs):
        raise ConfigError("the multi-temporal filter needs images of one size: "
                          + ", ".join("x".join(map(str, a.shape)) for a in imgs))
    means = [local_mean(a, window) for a in imgs]
    ratio_sum = np.zeros(imgs[0].shape)
    count = np.zeros(imgs[0].shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        for a, m in zip(imgs, means, strict=True):
            r = a.astype(np.float64) / m
            ok = np.isfinite(r) & (m > 0)
            ratio_sum += np.where(ok, r, 0.0)
            count += ok
        out = np.empty((len(imgs), *imgs[0].shape), dtype=np.float32)
        for k, (a, m) in enumerate(zip(imgs, means, strict=True)):
            j = m * ratio_sum / count
            out[k] = np.where(np.isfinite(a) & (count > 0), j, np.nan)
    return out


def multitemporal_strip(strips: Sequence[np.ndarray], inner: slice, window: int = DEFAULT_WINDOW) -> np.ndarray:
    """Rows ``inner`` of the multi-temporal filter of strips read with ``halo(window)`` rows of margin."""
    return quegan(strips, window)[:, inner]


def equivalent_looks(intensity: np.ndarray) -> float:
    """ENL = mean^2 / variance of the finite values (meaningful on a homogeneous area)."""
    v = np.asarray(intensity, dtype=np.float64)
    v = v[np.isfinite(v)]
    return float(v.mean() ** 2 / v.var())


def default_looks(product_type: str, product_name: str, ml_rg: int, ml_az: int) -> float:
    """ENL of a calibrated image, multilooked ml_rg x ml_az, when the user gives none: SLC 1 look per pixel
    (an upper bound: Sentinel-1 SLC pixels are slightly oversampled, so neighbours are not independent);
    IW GRDH 4.4 (ESA Sentinel-1 User Guide, Level-1 GRD product table). Other GRD products: ConfigError."""
    if product_type == "SLC":
        per_pixel = 1.0
    elif "_IW_GRDH_" in product_name:
        per_pixel = 4.4
    else:
        raise ConfigError(f"{product_name}: equivalent number of looks of this GRD product not known; "
                          "give it with --speckle-looks")
    return per_pixel * ml_rg * ml_az


# ---------------------------------------------------------------------------------------------------------
# co-registered stacks: the geometry check and the multi-temporal filter of written GeoTIFFs

@dataclass(frozen=True)
class StackEntry:
    """Geometry of one date's output image, as the stack check needs it."""

    name: str
    relative_orbit: int
    swath: str
    polarisation: str
    shape: tuple[int, int]  # (rows, cols) of the output
    first_range_time_s: float  # two-way time of output column 0
    range_pixel_s: float  # two-way time between output columns
    orbit_time_s: float  # time of output row 0 since the ascending node
    line_s: float  # time between output rows


def check_stack(entries: Sequence[StackEntry]) -> None:
    """SelectionError unless the images share one grid: same track, swath, polarisation and size, first range
    sample and along-orbit start within half an output pixel of the first date's (radar geometry holds no
    co-registration: the products must already be on one grid, e.g. resampled on a master)."""
    if len(entries) < 2:
        raise SelectionError("--multitemporal needs at least 2 co-registered products (dates)")
    ref = entries[0]
    for k, e in enumerate(entries[1:], start=2):
        what = None
        if (e.relative_orbit, e.swath, e.polarisation) != (ref.relative_orbit, ref.swath, ref.polarisation):
            what = (f"track {e.relative_orbit} {e.swath} {e.polarisation} vs {ref.relative_orbit} {ref.swath} "
                    f"{ref.polarisation}")
        elif e.shape != ref.shape:
            what = f"size {e.shape[0]} x {e.shape[1]} vs {ref.shape[0]} x {ref.shape[1]}"
        elif abs(e.first_range_time_s - ref.first_range_time_s) > 0.5 * ref.range_pixel_s:
            what = (f"first range sample {(e.first_range_time_s - ref.first_range_time_s) / ref.range_pixel_s:+.2f}"
                    " pixels apart")
        elif not (np.isfinite(e.orbit_time_s) and np.isfinite(ref.orbit_time_s)) or \
                abs(e.orbit_time_s - ref.orbit_time_s) > 0.5 * ref.line_s:
            what = f"first line {(e.orbit_time_s - ref.orbit_time_s) / ref.line_s:+.2f} lines apart along the orbit"
        if what is not None:
            raise SelectionError(f"--multitemporal: product {k} ({e.name}) is not on the grid of product 1 "
                                 f"({ref.name}): {what}; the multi-temporal filter needs co-registered products")


def _as_linear(a: np.ndarray, db: bool) -> np.ndarray:
    return (10.0 ** (a.astype(np.float64) / 10.0)) if db else a.astype(np.float64)


def _filter_files(paths: Sequence[Path], outs: Sequence[Path], window: int, ram_mb: float, tags: dict,
                  band_suffix: str, strips_filter) -> list[Path]:
    """Read the single-band GeoTIFFs ``paths`` (linear or dB by their UNITS tag, NaN no data) by row blocks with
    a halo of ``halo(window)`` rows, apply ``strips_filter(linear strips, inner slice) -> filtered inner rows``
    (one per input), write each to ``outs`` in the input's units (tags kept, ``tags`` added). Every output is
    renamed from its temporary name only when all are complete."""
    from .chains.context import gdal_cache_mb
    from .io.blocks import row_blocks, rows_per_block
    from .io.raster import open_writer

    cache_mb = gdal_cache_mb(ram_mb)  # GDAL's block cache (default 5 % of the machine) is taken from the budget
    with contextlib.ExitStack() as stack:
        stack.enter_context(rasterio.Env(GDAL_CACHEMAX=cache_mb))
        srcs = [stack.enter_context(rasterio.open(p)) for p in paths]
        ref = srcs[0]
        for p, d in zip(paths, srcs, strict=True):
            if (d.height, d.width, d.count) != (ref.height, ref.width, 1) or d.crs != ref.crs or \
                    d.transform != ref.transform:
                raise SelectionError(f"{p.name} is not on the grid of {paths[0].name} ({d.height} x {d.width}, "
                                     f"{d.count} band(s), {d.crs}) vs ({ref.height} x {ref.width}, {ref.crs})")
        dbs = [d.tags().get("UNITS") == "dB" for d in srcs]
        writers = []
        for o, d in zip(outs, srcs, strict=True):
            w = stack.enter_context(open_writer(o, d.width, d.height, 1, "float32",
                                                descriptions=[f"{d.descriptions[0] or 'band'}{band_suffix}"],
                                                nodata=float("nan"), transform=None if d.crs is None else d.transform,
                                                crs=None if d.crs is None else d.crs.to_wkt(),
                                                tags=dict(d.tags(), **tags)))
            w.ds.set_band_unit(1, d.units[0] or "")
            writers.append(w)
        # bytes per pixel and input: the float32 read, its float64 linear copy, the filter (BYTES_PER_PIXEL),
        # the float32 output
        block = rows_per_block(ref.width, (BYTES_PER_PIXEL + 24.0) * len(paths), max(ram_mb - cache_mb, 1.0))
        for b in row_blocks(ref.height, block, halo(window)):
            win = rasterio.windows.Window(0, b.read0, ref.width, b.read1 - b.read0)
            strips = [_as_linear(d.read(1, window=win), db) for d, db in zip(srcs, dbs, strict=True)]
            for w, v, db in zip(writers, strips_filter(strips, b.inner), dbs, strict=True):
                if db:
                    with np.errstate(divide="ignore", invalid="ignore"):
                        v = (10.0 * np.log10(v)).astype(np.float32)
                w.write(b.row0, v)
    return list(outs)


def filter_file(tif: str | os.PathLike, method: str, window: int = DEFAULT_WINDOW, looks: float = 1.0,
                ram_mb: float = 512.0) -> Path:
    """``method`` applied to a single-band GeoTIFF as ``diapsar backscatter`` writes it (linear or dB, NaN no
    data), block-wise with a halo: writes and returns ``<name>_<method><window>.tif`` beside it (same units)."""
    check(method, window, looks)
    if method == "none":
        raise ConfigError("filter_file: no filter asked (method 'none')")
    src = Path(tif)
    out = src.with_name(f"{src.stem}_{method}{window}.tif")
    tags = {"SPECKLE_FILTER": method, "SPECKLE_WINDOW": window, "SPECKLE_ENL": looks,
            "SPECKLE_SOURCE": {"lee": "Lee (1980) IEEE TPAMI 2(2)", "boxcar": "boxcar mean",
                               "refined-lee": "Lee, Grunes & de Grandi (1999) IEEE TGRS 37(5)"}[method]}
    return _filter_files([src], [out], window, ram_mb, tags, f"_{method}",
                         lambda strips, inner: [filter_strip(strips[0], inner, method, window, looks)])[0]


def multitemporal_files(tifs: Sequence[str | os.PathLike], window: int = DEFAULT_WINDOW, ram_mb: float = 512.0
                        ) -> list[Path]:
    """Quegan & Yu filter of co-registered single-band GeoTIFFs (as ``diapsar backscatter`` writes them: linear
    or dB, NaN no data), block-wise with a halo: writes ``<name>_mt<window>.tif`` beside each (same units, tags
    kept), all renamed only when every one is complete. Returns their paths."""
    check("boxcar", window)
    paths = [Path(t) for t in tifs]
    if len(paths) < 2:
        raise SelectionError("--multitemporal needs at least 2 co-registered products (dates)")
    outs = [p.with_name(f"{p.stem}_mt{window}.tif") for p in paths]
    tags = {"MULTITEMPORAL_FILTER": "Quegan & Yu (2001), IEEE TGRS 39(11) eq. 1, equal weights",
            "MULTITEMPORAL_WINDOW": window, "MULTITEMPORAL_DATES": len(paths),
            "MULTITEMPORAL_INPUTS": ",".join(q.name for q in paths)}
    return _filter_files(paths, outs, window, ram_mb, tags, "_mt",
                         lambda strips, inner: list(multitemporal_strip(strips, inner, window)))
