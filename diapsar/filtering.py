"""SARPhaseFiltering: Goldstein adaptive filter of a (multilooked) complex interferogram.

Goldstein, R. M. & Werner, C. L. (1998), "Radar interferogram filtering for geophysical applications",
GRL 25(21):4035-4038: each tile's spectrum Z is multiplied by (S/max S)^α, S = |Z| smoothed by a small box
(``smooth`` × ``smooth``, circular). Tiles of ``tile`` × ``tile`` pixels every ``step`` pixels (DiapOTB
defaults 64, 16, α = 0.7) are recombined by overlap-add with a 2-D Hann window, normalised by the summed
window so that α = 0 returns the input exactly.

Tiles sit on absolute positions (multiples of ``step`` minus tile − step), so a strip processed with
``line0`` and a halo of ``tile`` lines on each side gives the same inner rows as the whole image
(:func:`filter_lines`).
"""

from __future__ import annotations

import collections
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy import fft as sfft
from scipy import ndimage

from diapsar.errors import ConfigError

_WORKERS = max(1, min(2, os.cpu_count() or 1))


def _check(alpha: float, tile: int, step: int) -> None:
    if not 0.0 <= alpha <= 1.0:
        raise ConfigError(f"Goldstein alpha must be in [0, 1], got {alpha}")
    if tile < 4 or step < 1 or tile % step:
        raise ConfigError(f"Goldstein tile size {tile} must be >= 4 and a multiple of the step {step}")


def filter_lines(row0: int, row1: int, tile: int, n_lines: int) -> tuple[int, int]:
    """Strip lines [l0, l1) to read so that filtered rows [row0, row1) equal the whole-image result."""
    return max(0, row0 - tile), min(n_lines, row1 + tile)


def goldstein(ifg: np.ndarray, alpha: float = 0.7, tile: int = 64, step: int = 16, smooth: int = 3,
              line0: int = 0) -> np.ndarray:
    """Goldstein-filtered complex interferogram (complex64, same shape); ``line0`` = first line of the
    strip in the whole image (tile alignment). Zeros (no data) stay zero."""
    _check(alpha, tile, step)
    z = np.asarray(ifg, dtype=np.complex64)
    n_rows, n_cols = z.shape
    k0 = line0 // step
    top = line0 - (k0 * step - tile + step)               # rows of padding above the strip
    left = tile - step
    # every tile that starts on or before the last pixel, so each pixel gets its full set of tiles
    n_tr = (top + n_rows - 1) // step + 1
    n_tc = (left + n_cols - 1) // step + 1
    rows_p = (n_tr - 1) * step + tile
    cols_p = (n_tc - 1) * step + tile
    padded = np.zeros((rows_p, cols_p), dtype=np.complex64)
    padded[top:top + n_rows, left:left + n_cols] = z
    han = np.hanning(tile + 2)[1:-1]
    window = np.outer(han, han).astype(np.float32)
    acc = np.zeros((rows_p, cols_p), dtype=np.complex64)
    wsum = np.zeros((rows_p, cols_p), dtype=np.float32)
    groups = tile // step

    def filtered(tr: int) -> np.ndarray:
        """The windowed, filtered tiles of tile row ``tr`` (n_tc, tile, tile)."""
        r = tr * step
        tiles = sliding_window_view(padded[r:r + tile], (tile, tile), axis=(0, 1))[0, ::step]   # (n_tc, t, t)
        if alpha > 0:
            spec = sfft.fft2(tiles, axes=(1, 2), workers=1)
            mag = np.abs(spec)
            if smooth > 1:
                mag = ndimage.uniform_filter(mag, size=(1, smooth, smooth), mode="wrap")
            peak = mag.max(axis=(1, 2), keepdims=True)
            resp = np.power(mag / np.where(peak > 0, peak, np.float32(1.0)), np.float32(alpha))
            filt = sfft.ifft2(spec * resp.astype(np.float32), axes=(1, 2), workers=1)
        else:
            filt = tiles.astype(np.complex64)
        filt *= window
        return filt

    # tile rows filtered by _WORKERS threads (FFTs and array operations release the GIL), a few ahead of the
    # overlap-add, which adds them in order (the same sums as one thread)
    with ThreadPoolExecutor(max_workers=_WORKERS) as pool:
        pending: collections.deque = collections.deque()
        nxt = 0
        for tr in range(n_tr):
            while nxt < n_tr and len(pending) < 2 * _WORKERS:
                pending.append(pool.submit(filtered, nxt))
                nxt += 1
            filt = pending.popleft().result()
            r = tr * step
            # overlap-add: tiles q, q + groups, … do not overlap, so each group is added as one block
            for q in range(groups):
                sel = filt[q::groups]
                if sel.shape[0] == 0:
                    continue
                c = q * step
                block = np.concatenate(list(sel), axis=1)
                acc[r:r + tile, c:c + block.shape[1]] += block
                wsum[r:r + tile, c:c + block.shape[1]] += np.tile(window, (1, sel.shape[0]))
    out = acc[top:top + n_rows, left:left + n_cols] / np.maximum(wsum[top:top + n_rows, left:left + n_cols],
                                                                  np.float32(1e-12))
    out[z == 0] = 0
    return out.astype(np.complex64)


def phase_filtering(bands: np.ndarray, complex_ifg: np.ndarray | None = None, alpha: float = 0.7,
                    tile: int = 64, step: int = 16, line0: int = 0) -> np.ndarray:
    """Filtered interferogram bands (SARPhaseFiltering + SARAddBandInterferogram), float32 (4, rows, cols).

    ``bands`` are the SARInterferogram bands (amplitude, phase, coherence, isData); the filter runs on
    ``complex_ifg`` when given (e.g. ``interferogram(..., return_complex=True)``), otherwise on
    coherence·exp(j·phase). Output: the unfiltered amplitude, the filtered phase in (−π, π], the unfiltered
    coherence and isData; 0 where isData is 0.
    """
    b = np.asarray(bands, dtype=np.float32)
    valid = b[3] > 0
    z = complex_ifg if complex_ifg is not None else b[2] * np.exp(1j * b[1])
    z = np.where(valid, z, 0)
    f = goldstein(z, alpha, tile, step, line0=line0)
    out = b.copy()
    phase = np.angle(f).astype(np.float32)
    phase[phase <= -np.float32(np.pi)] = np.float32(np.pi)
    out[1] = np.where(valid, phase, 0.0)
    return out
