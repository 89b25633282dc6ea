"""Calibrated backscatter in radar geometry: one (swath, polarisation) image of a product to a GeoTIFF.

Per output row block (within ``ram_mb``): read the measurement rows (TOPS: the burst rows the debursted frame
keeps, ``diapsar.deburst.deburst_layout``), |DN|^2, minus the thermal noise (``diapsar.noise``), divided by the
squared calibration LUT (``diapsar.calibration``), in one streaming numba pass (``kernels.calibrate``: the LUT
and the noise vectors are interpolated row by row, bilinear in line and pixel, never as full-size grids), then
the mean power over ``ml_rg`` x ``ml_az`` cells (float64 sums), optionally in dB. Pixels outside the annotated valid samples of their burst, and zero
DN (ESA's fill), are no data; a multilooked cell is data when at least half of its pixels are, and its value is
the mean over those. The output is float32 with NaN as nodata, one band named ``<lut>_<pol>`` with its unit.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio

from .calibration import FLOOR_LINEAR, LUTS, lut_rows, to_db
from .chains.context import gdal_cache_mb
from .deburst import DeburstLayout, deburst_layout
from .errors import ProductError, SelectionError
from .io.blocks import row_blocks, rows_per_block
from .io.raster import GTIFF_OPTIONS, BlockWriter, open_writer
from .kernels.calibrate import calibrate_stream_complex, calibrate_stream_real, mean_valid_power
from .metadata import SwathMetadata
from .multilook import check_factors
from .noise import noise_rows

# bytes per full-resolution pixel of one row block: complex64 read (8), its contiguous copy when a sample window
# is read (8), float32 power (4), valid (1), the multilooked output and GDAL's copies (the LUT and the noise are
# interpolated row by row in the kernel: no full-size grid)
_BYTES_PER_PIXEL = 48.0
_TILE = int(str(GTIFF_OPTIONS["blockysize"]))  # rows of a tile of the written GeoTIFF (256)
# the noise arguments of the streaming kernel when no noise is removed
_NO_NOISE = (np.zeros((2, 1)), np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0, dtype=np.int64),
             np.zeros(0, dtype=np.int64), np.zeros((0, 0)))


@dataclass(frozen=True)
class BackscatterResult:
    tif: Path
    png: Path | None
    shape: tuple[int, int]  # (rows, cols) written
    lut: str
    noise_removed: bool
    db: bool


@dataclass(frozen=True)
class _Piece:
    """Output rows [out0, out1) come from image lines [line0, ...) with valid samples [s0, s1)."""

    out0: int
    out1: int
    line0: int
    s0: int
    s1: int


def _pieces(meta: SwathMetadata, layout: DeburstLayout | None, r0: int, r1: int) -> list[_Piece]:
    if layout is None:
        return [_Piece(r0, r1, r0, 0, meta.number_of_samples)]
    segs = {s.burst: s for s in layout.segments}
    return [_Piece(rs.out_line0, rs.out_line1, rs.burst * meta.lines_per_burst + rs.burst_line0,
                   *segs[rs.burst].valid_samples) for rs in layout.rows(r0, r1)]


def calibrated_rows(read, meta: SwathMetadata, layout: DeburstLayout | None, r0: int, r1: int, lut: str,
                    remove: bool, c0: int = 0, c1: int | None = None,
                    fill: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(calibrated power float32, ``fill`` where not valid; valid bool) of output rows [r0, r1), samples [c0, c1) at full resolution;
    ``read(line0, nlines)`` returns image lines of every sample (``read(line0, nlines, c0, n)``: of samples
    [c0, c0 + n) when a sample window is asked)."""
    assert meta.calibration is not None
    c1 = meta.number_of_samples if c1 is None else c1
    n = c1 - c0
    pieces = _pieces(meta, layout, r0, r1)
    if sum(p.out1 - p.out0 for p in pieces) == r1 - r0:  # every row is written by the kernel
        power = np.empty((r1 - r0, n), dtype=np.float32)
        valid = np.empty((r1 - r0, n), dtype=bool)
    else:
        power = np.full((r1 - r0, n), fill, dtype=np.float32)
        valid = np.zeros((r1 - r0, n), dtype=bool)
    for p in pieces:
        rows = p.out1 - p.out0
        dn = read(p.line0, rows) if (c0, c1) == (0, meta.number_of_samples) else read(p.line0, rows, c0, n)
        if remove:
            assert meta.noise is not None
            tops = meta.bursts if meta.is_tops and meta.product_type == "SLC" else None
            nz = noise_rows(meta.noise, p.line0, rows, c0, n, tops, meta.lines_per_burst)
        else:
            nz = _NO_NOISE
        lut_a = lut_rows(meta.calibration, lut, p.line0, rows, c0, n)
        kernel = calibrate_stream_complex if np.iscomplexobj(dn) else calibrate_stream_real
        # |DN|^2 - noise (clipped at 0), / A^2, floored, the LUT and noise interpolated row by row in the kernel
        kernel(np.ascontiguousarray(dn), *lut_a, *nz, remove, max(p.s0 - c0, 0), max(p.s1 - c0, 0),
               FLOOR_LINEAR, np.float32(fill), power[p.out0 - r0:p.out1 - r0], valid[p.out0 - r0:p.out1 - r0])
    return power, valid


def multilook_power(power: np.ndarray, valid: np.ndarray, ml_rg: int, ml_az: int) -> np.ndarray:
    """Mean of ``power`` over the valid pixels of each ml_rg x ml_az cell (float64 sums, float32 result); NaN
    where less than half the cell is valid (``kernels.calibrate.mean_valid_power``)."""
    out = np.empty((power.shape[0] // ml_az, power.shape[1] // ml_rg), dtype=np.float32)
    mean_valid_power(power, valid, ml_rg, ml_az, out)
    return out


def check_annotations(product, meta: SwathMetadata, remove: bool) -> None:
    """ProductError (one line) when ``meta`` lacks the calibration annotation, or the noise annotation that
    ``remove`` (thermal noise removal) needs."""
    if meta.calibration is None:
        raise ProductError(f"{product.name} {meta.swath} {meta.polarisation}: no calibration annotation "
                           "(annotation/calibration/calibration-*.xml), cannot calibrate")
    if remove and (meta.noise is None or meta.noise.range_vectors is None):
        raise ProductError(f"{product.name} {meta.swath} {meta.polarisation}: no noise annotation "
                           "(annotation/calibration/noise-*.xml); run with --no-noise")


def output_stem(meta: SwathMetadata, lut: str, db: bool) -> str:
    name = meta.product_name.removesuffix(".SAFE").removesuffix(".zip") or "product"
    return f"{name}_{meta.swath}_{meta.polarisation}_{lut}" + ("_db" if db else "")


def backscatter(product, swath: str | None, pol: str | None, out_dir: str | os.PathLike, lut: str = "sigma0",
                remove: bool = True, db: bool = False, ml_rg: int = 1, ml_az: int = 1, ram_mb: float = 512.0,
                quicklook: bool = True, window: tuple[int, int, int, int] | None = None,
                compress: str = "deflate", extra_tags: dict | None = None) -> BackscatterResult:
    """Write the calibrated backscatter of one image of ``product`` (a ``diapsar.io.safe.Product``) to
    ``out_dir/<product>_<swath>_<pol>_<lut>[_db].tif`` (and its quicklook ``.png``). ``window`` = (first row,
    stop row, first sample, stop sample) of the (debursted) full-resolution image, multiples of the looks:
    only that part is written (terrain correction of a DEM-limited area). ``compress``: the GeoTIFF codec
    (``COMPRESSIONS``); ``extra_tags``: metadata tags added to the file's (the orbit source, ...)."""
    if compress not in COMPRESSIONS:
        raise SelectionError(f"--compress must be one of {', '.join(COMPRESSIONS)}, got {compress!r}")
    if lut not in LUTS:
        raise SelectionError(f"--lut must be one of {', '.join(LUTS)}, got {lut!r}")
    check_factors(ml_rg, ml_az)
    meta = product.swath(swath, pol)
    check_annotations(product, meta, remove)
    reader = product.measurement(meta.swath, meta.polarisation)
    n = meta.number_of_samples
    layout = deburst_layout(meta) if meta.is_tops else None
    n_rows = layout.lines if layout is not None else meta.number_of_lines
    w0, w1, c0, c1 = window if window is not None else (0, n_rows, 0, n)
    if not (0 <= w0 < w1 <= n_rows and 0 <= c0 < c1 <= n and w0 % ml_az == 0 and c0 % ml_rg == 0):
        raise SelectionError(f"window {window} outside the {n_rows} x {n} image or not on multiples of the looks")
    out_rows, out_cols = (w1 - w0) // ml_az, (c1 - c0) // ml_rg
    if out_rows == 0 or out_cols == 0:
        raise SelectionError(f"-ml {ml_rg} {ml_az} is larger than the {w1 - w0} x {c1 - c0} image")
    c1 = c0 + out_cols * ml_rg

    def read(line0: int, nlines: int, s0: int = 0, ns: int = n) -> np.ndarray:
        return reader.read((line0, s0, nlines, ns))

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = output_stem(meta, lut, db)
    tif = out / f"{stem}.tif"
    cache_mb = gdal_cache_mb(ram_mb)  # GDAL's block cache (default 5 % of the machine) is taken from the budget
    budget = max(ram_mb - cache_mb, 1.0)
    # blocks of whole output tile rows when the budget allows: a tile is then compressed once, when complete
    # (a block ending inside a tile row leaves those tiles to the GDAL cache, and flushed too early they are
    # read back and compressed again)
    tile_rows = _TILE * ml_az
    aligned = rows_per_block(c1 - c0, _BYTES_PER_PIXEL, budget) >= tile_rows
    block = rows_per_block(c1 - c0, _BYTES_PER_PIXEL, budget, multiple=tile_rows if aligned else ml_az)
    unit = "dB" if db else "linear power ratio (m2/m2)"
    tags = {"PRODUCT": meta.product_name, "SWATH": meta.swath, "POLARISATION": meta.polarisation, "LUT": lut,
            "THERMAL_NOISE_REMOVED": str(remove).lower(), "UNITS": "dB" if db else "linear",
            "ML_RANGE": ml_rg, "ML_AZIMUTH": ml_az, "DEBURST": str(layout is not None).lower(),
            "FLOOR_LINEAR": "1e-05",
            "SOURCE": "ESA Sentinel-1 Level-1 calibration note (ESA-EOPG-CSCOP-TN-0002) eq. 3-1; MPC-0392"}
    if layout is not None:
        tags["FIRST_LINE_TIME_S"] = f"{layout.first_azimuth_time_s:.9f}"
    if window is not None:
        tags["WINDOW_ROW0_SAMPLE0"] = f"{w0} {c0}"
    # GDAL_NUM_THREADS: tiles deflated in parallel (each tile compressed alone: the same bytes for any count)
    if extra_tags:
        tags.update(extra_tags)
    with rasterio.Env(GDAL_CACHEMAX=cache_mb, GDAL_NUM_THREADS="ALL_CPUS"), \
            image_writer(tif, out_cols, out_rows, f"{lut}_{meta.polarisation}", tags, compress) as w:
        w.ds.set_band_unit(1, "dB" if db else "linear")
        for b in row_blocks(out_rows * ml_az, block):
            full = ml_rg == 1 and ml_az == 1  # the kernel's image is the output (NaN where not valid)
            power, valid = calibrated_rows(read, meta, layout, w0 + b.row0, w0 + b.row1, lut, remove, c0, c1,
                                           fill=np.nan if full else 0.0)
            v = power if full else multilook_power(power, valid, ml_rg, ml_az)[:, :out_cols]
            w.write(b.row0 // ml_az, to_db(v) if db else v)
    png = quicklook_png(tif, f"{stem}\n{lut} {meta.polarisation} {unit}", db, ram_mb) if quicklook else None
    return BackscatterResult(tif, png, (out_rows, out_cols), lut, remove, db)


# GeoTIFF codecs of the radar-geometry image (GDAL creation options). deflate (level 1) is what every TIFF
# reader knows; zstd (level 1) writes the same size about 5 times faster (measured on float32 speckle: 1.33 s
# against 0.27 s for 32 Mpix, 0.894 of the raw size both) but needs GDAL >= 2.3 / a libtiff built with zstd;
# none is the fastest and the largest.
# --compress: the ``compress`` argument of ``io.raster.open_writer`` (deflate and ZSTD at level 1)
COMPRESSIONS: dict[str, bool | str] = {"deflate": True, "zstd": "zstd", "none": False}


def image_writer(path: Path, width: int, height: int, description: str, tags: dict,
                 compress: str = "deflate") -> contextlib.AbstractContextManager[BlockWriter]:
    """One-band float32 GeoTIFF (NaN nodata) written by row blocks under a temporary name, renamed when complete
    (``io.raster.open_writer``, with the codec ``compress`` of ``COMPRESSIONS``)."""
    return open_writer(path, width, height, 1, "float32", descriptions=[description], nodata=float("nan"),
                       tags=tags, compress=COMPRESSIONS[compress])


def quicklook_png(tif: Path, title: str, db: bool, ram_mb: float) -> Path:
    """PNG quicklook of the written GeoTIFF with the ``diapsar.quicklook`` engine (values shown in dB)."""
    from .quicklook import multilook_image, render, resolve_image

    src = resolve_image(tif)
    mlk = multilook_image(src, 1, 1, ram_mb=ram_mb, for_display=True)
    return render(mlk, tif.with_suffix(".png"), what="value", title=title, db=not db)
