"""Binning kernels: DEM posts (at fractional full-resolution line, pixel) into the cells of a multilook grid.

A post at (line, pixel) belongs to the pixel nearest to it, hence to the ML cell holding that pixel: cell
(floor((line + 0.5 - line_offset) / ml_azi), floor((pixel + 0.5 - sample_offset) / ml_ran)).
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def post_cell(li, pi, ml_azi, ml_ran, line_offset, sample_offset, n_rows, n_cols):
    """ML cell (r, c) of a DEM post at (line, pixel): the cell holding the nearest pixel; r = -1 outside."""
    if not (np.isfinite(li) and np.isfinite(pi)):
        return -1, -1
    r = int(np.floor((li + 0.5 - line_offset) / ml_azi))
    c = int(np.floor((pi + 0.5 - sample_offset) / ml_ran))
    if r < 0 or c < 0 or r >= n_rows or c >= n_cols:
        return -1, -1
    return r, c


@numba.njit(cache=True)
def bin_posts(line, pixel, xyz, ml_azi, ml_ran, line_offset, sample_offset, sums, count):
    """Add each post's ECEF xyz[k] to sums[r, c] and 1 to count[r, c] of its ML cell (1-D line/pixel)."""
    n_rows, n_cols = count.shape
    for k in range(line.shape[0]):
        r, c = post_cell(line[k], pixel[k], ml_azi, ml_ran, line_offset, sample_offset, n_rows, n_cols)
        if r >= 0:
            count[r, c] += 1
            for a in range(3):
                sums[r, c, a] += xyz[k, a]


@numba.njit(cache=True)
def count_posts(line, pixel, ml_azi, ml_ran, line_offset, sample_offset, count):
    """Add 1 to count[r, c] of each post's ML cell (1-D line/pixel)."""
    n_rows, n_cols = count.shape
    for k in range(line.shape[0]):
        r, c = post_cell(line[k], pixel[k], ml_azi, ml_ran, line_offset, sample_offset, n_rows, n_cols)
        if r >= 0:
            count[r, c] += 1
