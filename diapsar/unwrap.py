"""Phase unwrapping (SNAPHU) and line-of-sight displacement of a multilooked interferogram.

Solver: SNAPHU (Chen & Zebker 2001, JOSA A 18:338-351; 2002, IEEE TGRS 40:1709-1719) in statistical-cost mode
``defo`` (deformation, default) or ``smooth``, run through the executable shipped by the ``snaphu`` PyPI
package, with the coherence band and an equivalent number of looks as the cost inputs. Pixels where isData is
0, the phase or coherence is not finite, or the coherence is below the threshold (default 0.3, DiapOTB's and
SNAP's coherence threshold) are masked: they get no value (NaN) and connected component 0.

Large images (coarse-to-fine tiling, this module's choice): SNAPHU's run time grows much faster than the
pixel count beyond a few hundred pixels a side (measured on this machine, defo, simulated 12-look noise: 19 µs
of CPU per pixel for one 700² tile, 8-9 µs for tiles of 360²-410² with their overlap), so the image is cut
into tiles of about ``TILE_TARGET`` pixels a side, each grown by ``overlap`` pixels on every side, and the
tiles are unwrapped independently by ``workers`` SNAPHU processes. Each tile's result is only known up to one
multiple of 2π per tile connected component; that ambiguity is resolved against a coarse solution: the
interferogram multilooked ``coarse_factor`` × ``coarse_factor`` (coherence-weighted phasor sum, mean coherence,
nlooks × factor²) is unwrapped too (itself tiled the same way when it is still large), bilinearly upsampled,
and each tile component gets the integer k = round(median(coarse − tile) / 2π) over the pixels it shares with
the dominant coarse component. A tile component is kept when at least half of those pixels agree with the
coarse solution within π/2; its pixels take the label of that coarse component, so one label means one
consistent 2π ambiguity over the whole image. Only the core of each tile (without overlap) is kept. The
coarse step requires the fine phase gradient to stay below π / coarse_factor rad per pixel where the fringes
are resolved (4: fringes wider than 8 pixels); with ``tiles=(1, 1)`` one SNAPHU run does the whole image.

Memory: the snaphu process needs about ``SNAPHU_BYTES_PER_PIXEL`` bytes per pixel of its tile; the tile size
is lowered until ``workers`` concurrent tiles fit the RAM budget, and each SNAPHU process is limited to the
budget (address space), so an oversized forced tiling fails cleanly instead of exhausting the machine.

Displacement: for phase = arg(master · conj(slave)) (the diapsar interferogram convention),
``displacement_los_mm = -λ / (4π) · unwrapped_phase · 1000``, positive towards the satellite (a shortening of
the slant range between the master and the slave date). λ = Sentinel-1 C band, c / 5.405 GHz = 0.05546576 m
(ESA Sentinel-1 User Handbook, radar centre frequency 5.405 GHz) unless the product says otherwise.
"""

from __future__ import annotations

import math
import os
import subprocess
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage

from diapsar.errors import DiapsarError

SPEED_OF_LIGHT = 299_792_458.0
S1_RADAR_FREQUENCY_HZ = 5.405e9          # ESA Sentinel-1 User Handbook (2013), C-band centre frequency
S1_WAVELENGTH_M = SPEED_OF_LIGHT / S1_RADAR_FREQUENCY_HZ   # 0.05546576 m
# Sentinel-1 IW SLC: pixel spacing 2.3 m (range) x 14.1 m (azimuth), resolution ~3.1 m x 22 m (ESA Sentinel-1
# User Handbook 2013, IW SLC table): independent looks per pixel = spacing product / resolution product
S1_IW_LOOKS_PER_PIXEL = (2.3 * 14.1) / (3.1 * 22.0)
SNAPHU_BYTES_PER_PIXEL = 400.0           # peak RSS of one snaphu process per pixel (benchmarks/bench_unwrap.py)
TILE_TARGET = 448                        # tile side (core) aimed at, see the module docstring
DEFAULT_OVERLAP = 32
DEFAULT_COARSE_FACTOR = 4
METHODS = ("defo", "smooth")


class UnwrapError(DiapsarError):
    """Unwrapping cannot be done on this input (nothing coherent, bad reference point, solver failure)."""


@dataclass
class UnwrapResult:
    """Unwrapped phase (float32 rad, NaN where not unwrapped, not yet referenced) and connected components
    (int32, 0 = not unwrapped, 1 = largest), plus facts about the run."""

    unwrapped: np.ndarray
    components: np.ndarray
    info: dict = field(default_factory=dict)


# ------------------------------------------------------------------------------------------------ SNAPHU

def _snaphu_executable() -> str:
    """Path of the SNAPHU executable shipped inside the ``snaphu`` package (a plain file of its wheel)."""
    import importlib.resources
    import importlib.util

    if importlib.util.find_spec("snaphu") is None:
        raise UnwrapError("the 'snaphu' package is not installed (pip install 'snaphu>=0.4')")
    exe = Path(str(importlib.resources.files("snaphu") / "snaphu"))
    if not exe.is_file():
        raise UnwrapError(f"the snaphu package has no solver executable at {exe}")
    return os.fspath(exe)


def _command(exe: str, conf: Path, limit_kb: int | None) -> list[str]:
    """snaphu command line; with a limit, run under ``ulimit -v`` (a shell, safe from threads, unlike a
    preexec_fn)."""
    if limit_kb is None:
        return [exe, "-f", os.fspath(conf)]
    return ["/bin/sh", "-c", f'ulimit -v {limit_kb} && exec "$0" "$@"', exe, "-f", os.fspath(conf)]


def snaphu_unwrap(wrapped: np.ndarray, coherence: np.ndarray, mask: np.ndarray, nlooks: float,
                  method: str = "defo", min_conncomp_frac: float = 0.01,
                  memory_limit_mb: float | None = None, label: str = "image") -> tuple[np.ndarray, np.ndarray]:
    """One SNAPHU run on a whole array: (unwrapped float32, connected components uint32).

    ``wrapped``: complex interferogram (any magnitude; 0 = no data) or real phase in radians; ``mask``: True
    where the pixel may be unwrapped. The snaphu executable of the ``snaphu`` package is run with its output
    discarded; a failure raises UnwrapError with SNAPHU's last message line.
    """
    if method not in METHODS:
        raise UnwrapError(f"unknown unwrapping method {method!r} (choose {' or '.join(METHODS)})")
    rows, cols = mask.shape
    z = wrapped if np.iscomplexobj(wrapped) else np.exp(1j * np.nan_to_num(wrapped))
    z = np.where(mask, z, 0).astype(np.complex64)
    corr = np.where(mask, np.clip(np.nan_to_num(coherence), 0.0, 1.0), 0.0).astype(np.float32)
    exe = _snaphu_executable()
    limit_kb = None if memory_limit_mb is None else int(max(memory_limit_mb, 8.0) * 1024)
    with tempfile.TemporaryDirectory(prefix="diapsar-snaphu-") as tmp:
        d = Path(tmp)
        z.tofile(d / "igram.c8")
        corr.tofile(d / "corr.f4")
        mask.astype(np.uint8).tofile(d / "mask.u1")
        (d / "snaphu.conf").write_text(
            f"INFILE {d / 'igram.c8'}\nINFILEFORMAT COMPLEX_DATA\nCORRFILE {d / 'corr.f4'}\n"
            f"CORRFILEFORMAT FLOAT_DATA\nBYTEMASKFILE {d / 'mask.u1'}\nOUTFILE {d / 'unw.f4'}\n"
            f"OUTFILEFORMAT FLOAT_DATA\nCONNCOMPFILE {d / 'cc.u4'}\nCONNCOMPOUTTYPE UINT\nLINELENGTH {cols}\n"
            f"NCORRLOOKS {max(float(nlooks), 1.0)}\nSTATCOSTMODE {method.upper()}\nINITMETHOD MCF\n"
            f"MINCONNCOMPFRAC {min_conncomp_frac}\n", encoding="utf-8")
        try:
            res = subprocess.run(_command(exe, d / "snaphu.conf", limit_kb), stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE, text=True, check=False)
        except OSError as exc:
            raise UnwrapError(f"SNAPHU could not be started on the {label}: {exc}") from None
        if res.returncode != 0 or not (d / "unw.f4").exists():
            lines = [ln.strip() for ln in (res.stderr or "").splitlines() if ln.strip()]
            why = lines[-1] if lines else f"exit status {res.returncode}"
            if res.returncode < 0:
                why = f"killed by signal {-res.returncode}" + (f" ({why})" if lines else "")
            hint = (f"; memory limit {memory_limit_mb:.0f} MB: raise -ram or use more tiles"
                    if memory_limit_mb is not None else "")
            raise UnwrapError(f"SNAPHU failed on the {label} ({rows} x {cols} pixels): {why}{hint}")
        unw = np.fromfile(d / "unw.f4", dtype=np.float32)
        cc = np.fromfile(d / "cc.u4", dtype=np.uint32)
    if unw.size != rows * cols or cc.size != rows * cols:
        raise UnwrapError(f"SNAPHU wrote truncated outputs on the {label}")
    return unw.reshape(rows, cols), cc.reshape(rows, cols)


# ------------------------------------------------------------------------------------------------ tiling

def effective_looks(ml_range: int, ml_azimuth: int) -> float:
    """Equivalent number of independent looks of an ML cell of Sentinel-1 IW SLC pixels (at least 1)."""
    return max(1.0, ml_range * ml_azimuth * S1_IW_LOOKS_PER_PIXEL)


def tile_bounds(n: int, parts: int, overlap: int) -> list[tuple[int, int, int, int]]:
    """Split [0, n) into ``parts`` cores; each (core0, core1, read0, read1) with ``overlap`` extra each side."""
    edges = np.linspace(0, n, parts + 1).round().astype(int)
    return [(int(a), int(b), max(0, int(a) - overlap), min(n, int(b) + overlap))
            for a, b in zip(edges[:-1], edges[1:]) if b > a]


def auto_tiles(shape: tuple[int, int], ram_mb: float, workers: int,
               target: int = TILE_TARGET, overlap: int = DEFAULT_OVERLAP) -> tuple[int, int]:
    """Tiles (rows, cols): cores of about ``target`` pixels, smaller until ``workers`` tiles fit ``ram_mb``."""
    rows, cols = shape
    side = float(target)
    max_px = max(ram_mb, 1.0) * 2**20 / (SNAPHU_BYTES_PER_PIXEL * max(workers, 1))
    while side > 32 and (side + 2 * overlap) ** 2 > max_px:
        side *= 0.8
    if rows * cols <= max_px and rows <= 1.5 * side and cols <= 1.5 * side:
        return 1, 1
    return max(1, math.ceil(rows / side)), max(1, math.ceil(cols / side))


def coarse_multilook(phase: np.ndarray, coherence: np.ndarray, mask: np.ndarray, factor: int
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Coarse (complex, coherence, mask): coherence-weighted phasor sums over ``factor`` x ``factor`` cells,
    mean coherence (0 for masked pixels), mask where at least half of the cell is unmasked. The last partial
    row/column of cells is included."""
    rows, cols = mask.shape
    r2, c2 = -(-rows // factor), -(-cols // factor)
    w = np.where(mask, coherence, 0.0).astype(np.float32)
    z = np.zeros((r2 * factor, c2 * factor), np.complex64)
    z[:rows, :cols] = w * np.exp(1j * np.where(mask, phase, 0.0))
    cw = np.zeros((r2 * factor, c2 * factor), np.float32)
    cw[:rows, :cols] = w
    cm = np.zeros((r2 * factor, c2 * factor), np.float32)
    cm[:rows, :cols] = mask

    def cell(a: np.ndarray) -> np.ndarray:
        return a.reshape(r2, factor, c2, factor).sum(axis=(1, 3))

    n_cell = float(factor * factor)
    frac = cell(cm) / n_cell
    cz = cell(z)
    ccoh = cell(cw) / n_cell
    cmask = frac >= 0.5
    return cz, np.where(cmask, ccoh, 0.0).astype(np.float32), cmask


def _upsample(coarse: np.ndarray, factor: int, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear upsampling of a coarse grid (cell centres at (i + 0.5)·factor − 0.5); NaN propagates."""
    rows, cols = shape

    def axis(n_fine: int, n_coarse: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        u = np.clip((np.arange(n_fine) - (factor - 1) / 2) / factor, 0, n_coarse - 1)
        k = np.minimum(np.floor(u).astype(np.int64), max(n_coarse - 2, 0))
        return k, np.minimum(k + 1, n_coarse - 1), (u - k).astype(np.float32)

    ka, ka1, ta = axis(rows, coarse.shape[0])
    kr, kr1, tr = axis(cols, coarse.shape[1])
    c = coarse.astype(np.float32)
    top = c[ka][:, kr] * (1 - tr) + c[ka][:, kr1] * tr
    bot = c[ka1][:, kr] * (1 - tr) + c[ka1][:, kr1] * tr
    return top * (1 - ta)[:, None] + bot * ta[:, None]


def _relabel_by_size(labels: np.ndarray) -> np.ndarray:
    """Labels renumbered 1, 2, ... by decreasing size; 0 stays 0."""
    lab = labels.astype(np.int64)
    counts = np.bincount(lab.ravel())
    counts[0] = 0
    order = [int(v) for v in np.argsort(-counts, kind="stable") if counts[v] > 0]
    lut = np.zeros(counts.size, np.int32)
    for new, old in enumerate(order, start=1):
        lut[old] = new
    return lut[lab]


def unwrap_phase(phase: np.ndarray, coherence: np.ndarray, is_data: np.ndarray | None = None, *,
                 method: str = "defo", coherence_threshold: float = 0.3, nlooks: float = 1.0,
                 tiles: tuple[int, int] | None = None, overlap: int = DEFAULT_OVERLAP, workers: int = 2,
                 ram_mb: float = 2000.0, coarse_factor: int = DEFAULT_COARSE_FACTOR,
                 min_conncomp_frac: float = 0.01) -> UnwrapResult:
    """Unwrap a wrapped phase (rad) with SNAPHU, masked by isData and ``coherence_threshold``.

    ``tiles``: (rows, cols) of tiles; None = automatic (one tile for small images, else cores of about
    ``TILE_TARGET`` pixels within the RAM budget); (1, 1) = one SNAPHU run. Tiled runs use ``workers``
    concurrent SNAPHU processes and the coarse-to-fine ambiguity resolution of the module docstring.
    Returns the unreferenced unwrapped phase (NaN where not unwrapped) and size-ordered components.
    """
    phase = np.asarray(phase, dtype=np.float32)
    coherence = np.asarray(coherence, dtype=np.float32)
    if phase.ndim != 2 or phase.shape != coherence.shape:
        raise UnwrapError(f"phase {phase.shape} and coherence {coherence.shape} must be 2-D of one shape")
    if method not in METHODS:
        raise UnwrapError(f"unknown unwrapping method {method!r} (choose {' or '.join(METHODS)})")
    if not 0.0 <= coherence_threshold < 1.0:
        raise UnwrapError(f"coherence threshold must be in [0, 1), got {coherence_threshold}")
    if coarse_factor < 2:
        raise UnwrapError(f"coarse factor must be >= 2, got {coarse_factor}")
    mask = np.isfinite(phase) & np.isfinite(coherence) & (coherence >= coherence_threshold)
    if is_data is not None:
        mask &= np.asarray(is_data) > 0.5
    n_valid = int(mask.sum())
    if n_valid == 0:
        raise UnwrapError(f"nothing to unwrap: no data pixel has coherence >= {coherence_threshold:g}")
    workers = max(1, int(workers))
    if tiles is None:
        tiles = auto_tiles(phase.shape, ram_mb, workers, overlap=overlap)
    tiles = (max(1, min(int(tiles[0]), phase.shape[0])), max(1, min(int(tiles[1]), phase.shape[1])))
    info: dict = {"method": method, "nlooks": round(float(nlooks), 3), "tiles": list(tiles),
                  "masked_fraction": round(1.0 - n_valid / phase.size, 4)}
    if tiles == (1, 1):
        unw, cc = snaphu_unwrap(phase, coherence, mask, nlooks, method, min_conncomp_frac,
                                memory_limit_mb=ram_mb)
        comps = _relabel_by_size(np.where(mask, cc, 0))
        out = np.where(comps > 0, unw, np.nan).astype(np.float32)
        info["coarse"] = None
    else:
        out, comps, tinfo = _unwrap_tiled(phase, coherence, mask, method, nlooks, tiles, overlap, workers,
                                          ram_mb, coarse_factor, min_conncomp_frac)
        info.update(tinfo)
    info["components"] = int(comps.max())
    info["unwrapped_fraction"] = round(float((comps > 0).sum()) / phase.size, 4)
    return UnwrapResult(out, comps.astype(np.int32), info)


def _unwrap_tiled(phase: np.ndarray, coherence: np.ndarray, mask: np.ndarray, method: str, nlooks: float,
                  tiles: tuple[int, int], overlap: int, workers: int, ram_mb: float, coarse_factor: int,
                  min_conncomp_frac: float) -> tuple[np.ndarray, np.ndarray, dict]:
    rows, cols = phase.shape
    cz, ccoh, cmask = coarse_multilook(phase, coherence, mask, coarse_factor)
    coarse_nlooks = nlooks * coarse_factor ** 2
    row_b = tile_bounds(rows, tiles[0], overlap)
    col_b = tile_bounds(cols, tiles[1], overlap)
    per_mb = ram_mb / workers
    jobs = [(rb, cb) for rb in row_b for cb in col_b]
    # the absolute minimum component size of a one-tile run, as a fraction of each tile
    frac_abs = min_conncomp_frac * rows * cols

    def run_tile(rb: tuple[int, int, int, int], cb: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
        sl = (slice(rb[2], rb[3]), slice(cb[2], cb[3]))
        n_px = (rb[3] - rb[2]) * (cb[3] - cb[2])
        return snaphu_unwrap(phase[sl], coherence[sl], mask[sl], nlooks, method,
                             min(0.5, frac_abs / n_px), memory_limit_mb=per_mb,
                             label=f"tile lines {rb[2]}-{rb[3]}, samples {cb[2]}-{cb[3]}")

    if not cmask.any():
        raise UnwrapError("nothing to unwrap: no coherent area is large enough for the coarse solution "
                          f"({coarse_factor} x {coarse_factor} cells)")
    with ThreadPoolExecutor(max_workers=workers) as pool:
        # the coarse solution first (it may itself be tiled: its own pool), then the tiles
        coarse_fut = pool.submit(unwrap_phase, np.angle(cz), ccoh, cmask, method=method, coherence_threshold=0.0,
                                 nlooks=coarse_nlooks, tiles=None, overlap=overlap, workers=workers,
                                 ram_mb=ram_mb, coarse_factor=coarse_factor, min_conncomp_frac=min_conncomp_frac)
        tile_futs = [pool.submit(run_tile, rb, cb) for rb, cb in jobs]
        try:
            coarse = coarse_fut.result()
            results = [f.result() for f in tile_futs]
        except BaseException:
            for f in tile_futs:
                f.cancel()
            raise
    c_unw = _upsample(coarse.unwrapped, coarse_factor, (rows, cols))
    c_lab = np.repeat(np.repeat(coarse.components, coarse_factor, 0), coarse_factor, 1)[:rows, :cols]
    out = np.full((rows, cols), np.nan, np.float32)
    comps = np.zeros((rows, cols), np.int32)
    two_pi = 2.0 * np.pi
    kept = dropped = 0
    for (rb, cb), (t_unw, t_cc) in zip(jobs, results):
        sl = (slice(rb[2], rb[3]), slice(cb[2], cb[3]))
        t_cc = np.where(mask[sl], t_cc, 0)
        cu, cl = c_unw[sl], c_lab[sl]
        core = (slice(rb[0] - rb[2], rb[1] - rb[2]), slice(cb[0] - cb[2], cb[1] - cb[2]))
        o_core = (slice(rb[0], rb[1]), slice(cb[0], cb[1]))
        for lab in np.unique(t_cc[core]):
            if lab == 0:
                continue
            sel = (t_cc == lab) & np.isfinite(cu) & (cl > 0)
            if sel.sum() < 4:
                dropped += 1
                continue
            dom = int(np.bincount(cl[sel]).argmax())
            sel &= cl == dom
            d = cu[sel] - t_unw[sel]
            k = np.round(np.median(d) / two_pi)
            agree = float(np.mean(np.abs(d - k * two_pi) < np.pi / 2))
            if agree < 0.5:
                dropped += 1
                continue
            kept += 1
            in_core = t_cc[core] == lab
            out[o_core][in_core] = t_unw[core][in_core] + np.float32(k * two_pi)
            comps[o_core][in_core] = dom
    comps = _relabel_by_size(comps)
    out[comps == 0] = np.nan
    info = {"coarse": {"factor": coarse_factor, "shape": list(cz.shape), "nlooks": round(coarse_nlooks, 3),
                       "components": coarse.info["components"], "tiles": coarse.info["tiles"]},
            "tile_overlap": overlap, "tile_components_kept": kept, "tile_components_dropped": dropped}
    return out, comps, info


# ------------------------------------------------------------------------------------------------ reference

def auto_reference(coherence: np.ndarray, components: np.ndarray, window: int = 9) -> tuple[int, int]:
    """(line, sample): centre of the ``window`` x ``window`` window of highest mean coherence lying inside the
    largest connected component (label 1); windows only partly inside are used when none fits."""
    inside = (components == 1).astype(np.float32)
    if not inside.any():
        raise UnwrapError("no connected component to take a reference point from")
    coh = np.where(inside > 0, np.nan_to_num(coherence), 0.0).astype(np.float32)
    mean_in = ndimage.uniform_filter(inside, window, mode="constant")
    mean_coh = ndimage.uniform_filter(coh, window, mode="constant")
    full = (mean_in > 1 - 1e-4) & (inside > 0)
    score = np.where(full, mean_coh, -1.0) if full.any() else np.where(inside > 0, mean_coh, -1.0)
    line, sample = np.unravel_index(int(np.argmax(score)), score.shape)
    return int(line), int(sample)


def check_reference(components: np.ndarray, line: int, sample: int) -> None:
    rows, cols = components.shape
    if not (0 <= line < rows and 0 <= sample < cols):
        raise UnwrapError(f"reference point (line {line}, sample {sample}) is outside the image "
                          f"({rows} lines x {cols} samples)")
    if components[line, sample] == 0:
        raise UnwrapError(f"reference point (line {line}, sample {sample}) is in an area that was not unwrapped "
                          "(incoherent or masked); choose a coherent point or omit it")


def displacement_los_mm(unwrapped_phase: np.ndarray, wavelength_m: float = S1_WAVELENGTH_M) -> np.ndarray:
    """LOS displacement in mm, -λ/(4π)·φ·1000 for φ = arg(master·conj(slave)) unwrapped: positive towards the
    satellite (slant range shorter on the slave date than on the master date). NaN stays NaN."""
    return (-wavelength_m / (4.0 * np.pi) * 1000.0 * np.asarray(unwrapped_phase, np.float64)).astype(np.float32)


# ------------------------------------------------------------------------------------------------ GCPs

def _design(x: np.ndarray, y: np.ndarray, degree: int) -> np.ndarray:
    cols = [np.ones_like(x), x, y]
    if degree == 2:
        cols += [x * x, x * y, y * y]
    return np.stack(cols, axis=-1)


def _fit(src_x: np.ndarray, src_y: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, int, tuple]:
    degree = 2 if src_x.size >= 10 else 1
    mx, my = float(src_x.mean()), float(src_y.mean())
    sx, sy = float(np.ptp(src_x)) or 1.0, float(np.ptp(src_y)) or 1.0
    a = _design((src_x - mx) / sx, (src_y - my) / sy, degree)
    coef, *_ = np.linalg.lstsq(a, dst, rcond=None)
    return coef, degree, (mx, my, sx, sy)


def _apply(coef: np.ndarray, degree: int, norm: tuple, x: float, y: float) -> np.ndarray:
    mx, my, sx, sy = norm
    return _design(np.array([(x - mx) / sx]), np.array([(y - my) / sy]), degree) @ coef


def lonlat_to_pixel(gcps: Sequence, lon: float, lat: float) -> tuple[float, float]:
    """(line, sample) of lon/lat through a least-squares polynomial (quadratic with >= 10 GCPs, else affine)
    fitted to rasterio GCPs (row/col at pixel corners convention: pixel (i, j) centre = (i + 0.5, j + 0.5))."""
    if len(gcps) < 3:
        raise UnwrapError("the interferogram has no GCPs (at least 3 needed) to place a lon/lat reference point; "
                          "give --reference-pixel instead")
    lon_a = np.array([g.x for g in gcps], float)
    lat_a = np.array([g.y for g in gcps], float)
    rc = np.array([[g.row, g.col] for g in gcps], float)
    coef, deg, norm = _fit(lon_a, lat_a, rc)
    row, col = _apply(coef, deg, norm, lon, lat)[0]
    return float(row) - 0.5, float(col) - 0.5


def pixel_to_lonlat(gcps: Sequence, line: float, sample: float) -> tuple[float, float] | None:
    """lon/lat of a pixel centre from GCPs (None without at least 3 GCPs)."""
    if len(gcps) < 3:
        return None
    rc = np.array([[g.row, g.col] for g in gcps], float)
    ll = np.array([[g.x, g.y] for g in gcps], float)
    coef, deg, norm = _fit(rc[:, 0], rc[:, 1], ll)
    lon, lat = _apply(coef, deg, norm, line + 0.5, sample + 0.5)[0]
    return float(lon), float(lat)


# ------------------------------------------------------------------------------------------------ products

IFG_NAME = "interferogram.tif"
IFG_FILTERED_NAME = "interferogram_filtered.tif"
UNWRAPPED_NAME = "unwrapped.tif"
QUICKLOOK_NAME = "quicklook_displacement.png"
BAND_DESCRIPTIONS = ("unwrapped_phase", "displacement_los_mm", "connected_component")
BAND_UNITS = ("rad", "mm", "")


@dataclass(frozen=True)
class UnwrapOptions:
    """Options of :func:`unwrap_pair` / :func:`unwrap_interferogram` (the ``diapsar unwrap`` options).

    filtered: None = the filtered interferogram when the pair's filtering was on (pair.json), else the
    unfiltered one. nlooks: None = from the ML factors (tags ``ml_range``/``ml_azimuth``, pair.json) through
    :func:`effective_looks`. tiles: None = automatic. wavelength_m: None = pair.json / tags, else Sentinel-1.
    """

    method: str = "defo"
    coherence_threshold: float = 0.3
    reference_lonlat: tuple[float, float] | None = None
    reference_pixel: tuple[int, int] | None = None
    tiles: tuple[int, int] | None = None
    tile_overlap: int = DEFAULT_OVERLAP
    workers: int = 2
    ram_mb: float = 2000.0
    filtered: bool | None = None
    nlooks: float | None = None
    coarse_factor: int = DEFAULT_COARSE_FACTOR
    wavelength_m: float | None = None
    quicklook: bool = True

    def check(self) -> None:
        from diapsar.errors import ConfigError

        if self.method not in METHODS:
            raise ConfigError(f"unknown unwrapping method {self.method!r} (choose {' or '.join(METHODS)})")
        if not 0.0 <= self.coherence_threshold < 1.0:
            raise ConfigError(f"coherence threshold must be in [0, 1), got {self.coherence_threshold:g}")
        if self.reference_lonlat is not None and self.reference_pixel is not None:
            raise ConfigError("give either a lon/lat or a line/sample reference point, not both")
        if self.tiles is not None and (len(self.tiles) != 2 or min(self.tiles) < 1):
            raise ConfigError(f"tiles must be two integers >= 1, got {self.tiles}")
        if self.tile_overlap < 0:
            raise ConfigError(f"tile overlap must be >= 0, got {self.tile_overlap}")
        if self.workers < 1:
            raise ConfigError(f"workers must be >= 1, got {self.workers}")
        if not self.ram_mb > 0:
            raise ConfigError(f"RAM budget must be > 0 MB, got {self.ram_mb:g}")
        if self.nlooks is not None and not self.nlooks >= 1:
            raise ConfigError(f"nlooks must be >= 1, got {self.nlooks:g}")
        if self.coarse_factor < 2:
            raise ConfigError(f"coarse factor must be >= 2, got {self.coarse_factor}")
        if self.wavelength_m is not None and not self.wavelength_m > 0:
            raise ConfigError(f"wavelength must be > 0 m, got {self.wavelength_m:g}")


def _read_pair_json(folder: Path) -> dict | None:
    import json

    p = folder / "pair.json"
    if not p.is_file():
        return None
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        from diapsar.errors import ProductError

        raise ProductError(f"cannot read {p}: {exc}") from None
    return doc if isinstance(doc, dict) else None


def _wavelength(options: UnwrapOptions, pair: dict | None, tags: dict) -> tuple[float, str]:
    if options.wavelength_m is not None:
        return float(options.wavelength_m), "option"
    for src, d in (("pair.json", pair or {}), ("tags", tags)):
        for key in ("wavelength_m", "wavelength"):
            try:
                if key in d and float(d[key]) > 0:
                    return float(d[key]), src
            except (TypeError, ValueError):
                pass
        for key in ("radar_frequency_hz", "radar_frequency"):
            try:
                if key in d and float(d[key]) > 0:
                    return SPEED_OF_LIGHT / float(d[key]), src
            except (TypeError, ValueError):
                pass
    return S1_WAVELENGTH_M, "Sentinel-1 C band (c / 5.405 GHz)"


def _nlooks(options: UnwrapOptions, pair: dict | None, tags: dict, filtered: bool) -> tuple[float, str]:
    if options.nlooks is not None:
        return float(options.nlooks), "option"
    params = (pair or {}).get("parameters") or {}
    try:
        ml_r = int(tags.get("ml_range") or params.get("ml_ran") or 0)
        ml_a = int(tags.get("ml_azimuth") or params.get("ml_azi") or 0)
    except (TypeError, ValueError):
        ml_r = ml_a = 0
    if ml_r < 1 or ml_a < 1:
        return 1.0, "unknown ML factors: 1"
    if filtered:
        try:
            ml_r *= max(1, int(params.get("filtered_ml_ran") or 1))
            ml_a *= max(1, int(params.get("filtered_ml_azi") or 1))
        except (TypeError, ValueError):
            pass
    return effective_looks(ml_r, ml_a), f"ML {ml_r} x {ml_a} (range x azimuth)"


def _band_index(descriptions: Sequence[str | None], count: int, name: str) -> int | None:
    for i, d in enumerate(descriptions):
        if d and d.strip().lower() == name.lower():
            return i + 1
    if not any(descriptions) and count == 4:
        return {"phase": 2, "coherence": 3, "isdata": 4}[name.lower()]
    return None


def read_interferogram(path: Path) -> dict:
    """Phase, coherence and isData bands of a diapsar interferogram plus its georeferencing and tags."""
    import rasterio

    from diapsar.errors import ProductError

    try:
        ds = rasterio.open(path)
    except rasterio.errors.RasterioError as exc:
        raise ProductError(f"cannot read {path}: {exc}") from None
    with ds:
        idx = {n: _band_index(ds.descriptions, ds.count, n) for n in ("phase", "coherence", "isData")}
        missing = [n for n, i in idx.items() if i is None]
        if missing:
            raise ProductError(f"{path} is not a diapsar interferogram: no {' and no '.join(missing)} band "
                               f"(bands: {', '.join(d or '?' for d in ds.descriptions)}); unwrapping needs "
                               "phase, coherence and isData")
        try:
            bands = ds.read([idx["phase"], idx["coherence"], idx["isData"]]).astype(np.float32)
        except rasterio.errors.RasterioError as exc:
            raise ProductError(f"cannot read {path}: {exc}") from None
        gcps, gcps_crs = ds.gcps
        return {"phase": bands[0], "coherence": bands[1], "is_data": bands[2] > 0.5, "gcps": list(gcps),
                "gcps_crs": gcps_crs, "crs": ds.crs, "transform": ds.transform, "tags": dict(ds.tags()),
                "shape": (ds.height, ds.width)}


def _reference_pixel(options: UnwrapOptions, ifg: dict, result: UnwrapResult, coherence: np.ndarray
                     ) -> tuple[int, int, str]:
    if options.reference_pixel is not None:
        line, sample = (int(v) for v in options.reference_pixel)
        check_reference(result.components, line, sample)
        return line, sample, "given line/sample"
    if options.reference_lonlat is not None:
        lon, lat = options.reference_lonlat
        if not ifg["gcps"] or not (ifg["gcps_crs"] is None or ifg["gcps_crs"].is_geographic):
            raise UnwrapError("the interferogram has no lon/lat GCPs to place a lon/lat reference point; "
                              "give --reference-pixel instead")
        fl, fs = lonlat_to_pixel(ifg["gcps"], lon, lat)
        line, sample = int(round(fl)), int(round(fs))
        rows, cols = result.components.shape
        if not (0 <= line < rows and 0 <= sample < cols):
            raise UnwrapError(f"reference point lon {lon:g} lat {lat:g} is outside the image (it falls at line "
                              f"{fl:.0f}, sample {fs:.0f} of {rows} x {cols})")
        check_reference(result.components, line, sample)
        return line, sample, "given lon/lat"
    line, sample = auto_reference(coherence, result.components)
    return line, sample, "automatic: centre of the 9 x 9 window of highest mean coherence of component 1"


def _quicklook(path: Path, disp: np.ndarray, title: str, ref: tuple[int, int], cell_aspect: float) -> None:
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.colors import TwoSlopeNorm
    from matplotlib.figure import Figure

    rows, cols = disp.shape
    step = max(1, math.ceil(max(rows, cols) / 1200))
    img = disp[::step, ::step]
    vals = img[np.isfinite(img)]
    lim = float(np.percentile(np.abs(vals), 99)) if vals.size else 1.0
    lim = lim if lim > 0 else 1.0
    aspect = cell_aspect if 0.05 < cell_aspect < 20 else 1.0
    h_in = 6.0
    w_in = min(14.0, max(4.0, h_in * cols / (rows * aspect) + 1.5))
    fig = Figure(figsize=(w_in, h_in), dpi=110)
    ax = fig.add_subplot(1, 1, 1)
    ax.set_facecolor("0.75")
    im = ax.imshow(img, cmap="RdBu_r", norm=TwoSlopeNorm(0.0, -lim, lim), interpolation="nearest",
                   aspect=aspect, extent=(-0.5, cols - 0.5, rows - 0.5, -0.5))
    ax.plot([ref[1]], [ref[0]], marker="^", color="k", markersize=8, markerfacecolor="yellow", linestyle="none",
            label="reference point")
    ax.legend(loc="lower right", fontsize=8)
    ax.set_xlabel("sample")
    ax.set_ylabel("line")
    ax.set_title(title, fontsize=10)
    cb = fig.colorbar(im, ax=ax, shrink=0.85, extend="both")
    cb.set_label("LOS displacement (mm), positive towards the satellite")
    fig.tight_layout()
    fig.savefig(path, format="png")


def _write_unwrapped(path: Path, ifg: dict, unw_ref: np.ndarray, disp: np.ndarray, comps: np.ndarray,
                     tags: dict) -> None:
    import rasterio
    from rasterio.crs import CRS

    from diapsar.errors import OutputError
    from diapsar.io.raster import GTIFF_OPTIONS

    rows, cols = unw_ref.shape
    profile = dict(GTIFF_OPTIONS, width=cols, height=rows, count=3, dtype="float32", nodata=float("nan"))
    if cols < 256 or rows < 256:
        profile.update(tiled=False)
        profile.pop("blockxsize")
        profile.pop("blockysize")
    if ifg["crs"] is not None and not ifg["transform"].is_identity:
        profile.update(crs=ifg["crs"], transform=ifg["transform"])
    band_tags = (
        {"units": "rad", "meaning": "unwrapped arg(master * conj(slave)) minus its value at the reference point"},
        {"units": "mm", "meaning": "-wavelength/(4 pi) * unwrapped_phase * 1000",
         "positive": "towards the satellite (slant range shorter on the slave date)"},
        {"meaning": "SNAPHU connected component, 1 = largest, 0 = not unwrapped"},
    )
    from diapsar.io.atomic import atomic_path

    with atomic_path(path) as tmp:
        try:
            with rasterio.open(tmp, "w", **profile) as ds:
                for k, (d, u, bt) in enumerate(zip(BAND_DESCRIPTIONS, BAND_UNITS, band_tags), start=1):
                    ds.set_band_description(k, d)
                    if u:
                        ds.set_band_unit(k, u)
                    ds.update_tags(k, **bt)
                if ifg["gcps"] and "transform" not in profile:
                    ds.gcps = (ifg["gcps"], ifg["gcps_crs"] or CRS.from_epsg(4326))
                ds.update_tags(**{k: str(v) for k, v in tags.items()})
                ds.write(np.stack([unw_ref, disp, comps.astype(np.float32)]).astype(np.float32))
        except rasterio.errors.RasterioError as exc:
            raise OutputError(f"cannot write {path}: {exc}") from None


def unwrap_interferogram(ifg_path: str | os.PathLike, options: UnwrapOptions | None = None,
                         out_dir: str | os.PathLike | None = None, pair: dict | None = None) -> dict:
    """Unwrap ``ifg_path`` and write ``unwrapped.tif`` and ``quicklook_displacement.png`` in ``out_dir``
    (default: beside it). ``pair``: the pair.json content, for dates, wavelength and ML factors. Returns the
    ``unwrapping`` record (see :func:`unwrap_pair`). Nothing is written when any check fails."""
    import time

    from diapsar.io.atomic import atomic_path

    options = options or UnwrapOptions()
    options.check()
    t0 = time.perf_counter()
    path = Path(ifg_path)
    out = Path(out_dir) if out_dir is not None else path.parent
    if pair is None:
        pair = _read_pair_json(path.parent)
    ifg = read_interferogram(path)
    t_read = time.perf_counter() - t0
    filtered = path.name == IFG_FILTERED_NAME
    nlooks, nlooks_src = _nlooks(options, pair, ifg["tags"], filtered)
    wavelength, wl_src = _wavelength(options, pair, ifg["tags"])
    if options.reference_pixel is not None:
        rows, cols = ifg["shape"]
        line, sample = options.reference_pixel
        if not (0 <= line < rows and 0 <= sample < cols):
            raise UnwrapError(f"reference point (line {line}, sample {sample}) is outside the image "
                              f"({rows} lines x {cols} samples)")
    t1 = time.perf_counter()
    result = unwrap_phase(ifg["phase"], ifg["coherence"], ifg["is_data"], method=options.method,
                          coherence_threshold=options.coherence_threshold, nlooks=nlooks, tiles=options.tiles,
                          overlap=options.tile_overlap, workers=options.workers, ram_mb=options.ram_mb,
                          coarse_factor=options.coarse_factor)
    t_unwrap = time.perf_counter() - t1
    coherence = np.where(ifg["is_data"], ifg["coherence"], 0.0)
    line, sample, ref_how = _reference_pixel(options, ifg, result, coherence)
    ref_value = float(result.unwrapped[line, sample])
    unw_ref = (result.unwrapped.astype(np.float64) - ref_value).astype(np.float32)
    disp = displacement_los_mm(unw_ref, wavelength)
    lonlat = pixel_to_lonlat(ifg["gcps"], line, sample) if ifg["gcps"] else None
    if lonlat is None and ifg["crs"] is not None and not ifg["transform"].is_identity and ifg["crs"].is_geographic:
        x, y = ifg["transform"] * (sample + 0.5, line + 0.5)
        lonlat = (float(x), float(y))
    master = (pair or {}).get("master_date") or ifg["tags"].get("master_date") or ifg["tags"].get("master", "?")
    slave = (pair or {}).get("slave_date") or ifg["tags"].get("slave_date") or ifg["tags"].get("slave", "?")
    record = {
        "source": path.name, "product": UNWRAPPED_NAME, "quicklook": QUICKLOOK_NAME if options.quicklook else None,
        "method": options.method, "coherence_threshold": options.coherence_threshold,
        "nlooks": round(nlooks, 3), "nlooks_from": nlooks_src,
        "wavelength_m": wavelength, "wavelength_from": wl_src,
        "reference_point": {"line": line, "sample": sample,
                            "lon": None if lonlat is None else round(lonlat[0], 7),
                            "lat": None if lonlat is None else round(lonlat[1], 7), "how": ref_how,
                            "component": int(result.components[line, sample]),
                            "coherence": round(float(coherence[line, sample]), 4)},
        "connected_components": int(result.info["components"]),
        "fraction_unwrapped": result.info["unwrapped_fraction"],
        "tiles": result.info["tiles"], "tiling": {k: result.info[k] for k in
                                                  ("coarse", "tile_overlap", "tile_components_kept",
                                                   "tile_components_dropped") if k in result.info},
        "displacement_convention": "displacement_los_mm = -wavelength/(4 pi) * unwrapped_phase * 1000, phase = "
                                   "arg(master * conj(slave)); positive towards the satellite",
    }
    tags = {"method": options.method, "coherence_threshold": options.coherence_threshold,
            "reference_line": line, "reference_sample": sample, "wavelength_m": wavelength,
            "master_date": master, "slave_date": slave, "source": path.name, "nlooks": round(nlooks, 3),
            "displacement_convention": record["displacement_convention"]}
    t2 = time.perf_counter()
    _write_unwrapped(out / UNWRAPPED_NAME, ifg, unw_ref, disp, result.components, tags)
    if options.quicklook:
        from diapsar.quicklook import gcp_pixel_spacing

        spacing = gcp_pixel_spacing(ifg["gcps"], ifg["gcps_crs"]) if ifg["gcps"] else None
        aspect = spacing[1] / spacing[0] if spacing else 1.0
        title = (f"LOS displacement {master} \u2192 {slave}\n{options.method}, coherence \u2265 "
                 f"{options.coherence_threshold:g}, {100 * record['fraction_unwrapped']:.0f}% unwrapped")
        try:
            with atomic_path(out / QUICKLOOK_NAME) as tmp:
                _quicklook(tmp, disp, title, (line, sample), aspect)
        except BaseException:
            (out / UNWRAPPED_NAME).unlink(missing_ok=True)
            raise
    record["timings_s"] = {"read": round(t_read, 3), "unwrap": round(t_unwrap, 3),
                           "write": round(time.perf_counter() - t2, 3),
                           "total": round(time.perf_counter() - t0, 3)}
    return record


def unwrap_pair(pair_dir: str | os.PathLike, options: UnwrapOptions | None = None) -> dict:
    """Unwrap the interferogram of a pair folder ``<out>/<M>_m_<S>_s/`` (interferogram_filtered.tif with
    ``options.filtered`` or when the pair's filtering was on, else interferogram.tif), write unwrapped.tif and
    quicklook_displacement.png there and add an ``unwrapping`` object to its pair.json (when it has one).
    Returns that object: source, method, threshold, nlooks, wavelength, reference point (line, sample, lon,
    lat), connected components count, fraction unwrapped, tiling and timings."""
    from diapsar.errors import ProductError
    from diapsar.io.raster import write_json

    options = options or UnwrapOptions()
    options.check()
    folder = Path(pair_dir)
    if not folder.is_dir():
        raise ProductError(f"{folder} is not a folder")
    pair = _read_pair_json(folder)
    filtered = options.filtered
    if filtered is None:
        products = (pair or {}).get("products") or {}
        params = (pair or {}).get("parameters") or {}
        filtered = bool(products.get("filtered") or params.get("activate_filtering")) and \
            (folder / IFG_FILTERED_NAME).is_file()
    name = IFG_FILTERED_NAME if filtered else IFG_NAME
    if not (folder / name).is_file():
        raise ProductError(f"{folder} has no {name}" + ("" if filtered else " (is it a pair folder?)"))
    record = unwrap_interferogram(folder / name, options, folder, pair)
    if pair is not None:
        pair = dict(pair)
        pair["unwrapping"] = record
        write_json(folder / "pair.json", pair)
    return record
