"""SARDeburst / SARConcatenateBursts: the debursted layout of a TOPS swath, and the merge of swaths.

**Bursts of one swath** (OTB ``SARDeburst``, diapotb.md §6, with two deliberate differences). Each burst keeps
its *valid* lines only (annotation ``firstValidSample`` ≠ −1). Consecutive bursts overlap on n_ovl + 1 valid
lines, n_ovl = round((stop_i − start_{i+1})/Δt_az), with start/stop the zero-Doppler times of the first/last
valid lines; the cut is at the middle of the overlap: burst i drops its last ``half_end = ⌊(n_ovl + 1)/2⌋``
valid lines, and burst i+1 starts at the valid line whose time follows the last kept line of burst i,
``half_begin = ⌊0.5 + (t_end − start_{i+1})/Δt_az⌋``, t_end = stop_i − (half_end − 1)·Δt_az (= n_ovl + 1 −
half_end lines). The last burst runs to its last valid line. Output grid: first line = first valid line of
burst 0, same Δt_az, same first range time and sample count as the swath image.
Differences from OTB 8.1 (measured with ``otbcli_SARDeburst`` on the Morocco IW1 annotation): OTB floors
n_ovl (burst starts are whole lines apart only to ±5e-4 line, so a 123.9997-line overlap becomes 123 and
the cut moves off-centre) and takes ⌊n_ovl/2⌋; and it runs every burst to one line past the annotation's
last valid line (its output has 12202 lines where the valid lines give 12201).

Burst start times are whole numbers of lines apart up to the 1 µs quantisation of the annotation times
(≈ 5e-4 line; measured ≤ 4.9e-4 line on the Morocco and Haida Gwaii swaths): each segment records its
``time_residual_lines`` (true time of its lines − output grid time, in lines) instead of resampling.

**Swaths** (IW1..IW3) are placed on one master radar grid: same Δt_az and range sampling rate (checked),
origin = the earliest first output time and the smallest first range time; each swath is shifted by whole
lines and samples, rounded to the nearest (the sub-pixel remainder, ≤ 0.5 pixel by construction and in
practice ≤ 1e-3 line and ≈ 0.1-0.5 sample between IW swaths, is reported per swath as ``line_residual`` /
``sample_residual``, not resampled: the pixels stay those of the swath's own geometry, as in DiapOTB, whose
processing keeps each swath on its own grid). **Cut between swaths**: in range, at the middle of the overlap
of the valid samples of the two swaths (valid samples = the samples valid on every kept line of every burst:
max firstValidSample, min lastValidSample). The middle keeps each swath away from its own elevation-beam
edge, where the antenna gain, hence the SNR, is lowest, by the same margin on both sides; it is symmetric,
needs no radiometric input and is what a merged mosaic would pick without a quality criterion.

Everything here is layout arithmetic on the metadata plus two copy functions (:func:`deburst`,
:func:`merge_swaths`) that take arrays and a row range, so that a chain can stream output rows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .errors import SelectionError
from .metadata import SwathMetadata


@dataclass(frozen=True)
class BurstSegment:
    """Rows of one burst kept in the debursted swath: burst lines [burst_line0, burst_line1) (burst line
    numbering 0..lines_per_burst) → output lines [out_line0, out_line0 + n)."""

    burst: int  # 0-based burst index in the swath
    burst_line0: int
    burst_line1: int
    out_line0: int
    valid_samples: tuple[int, int]  # [first, stop) samples valid on every valid line of this burst
    time_residual_lines: float  # (time of burst_line0 − output grid time of out_line0) / Δt_az

    @property
    def lines(self) -> int:
        return self.burst_line1 - self.burst_line0

    @property
    def out_line1(self) -> int:
        return self.out_line0 + self.lines


@dataclass(frozen=True)
class RowSource:
    """Output rows [out_line0, out_line1) come from burst ``burst``, burst lines [burst_line0, …)."""

    burst: int
    burst_line0: int
    out_line0: int
    out_line1: int

    @property
    def burst_line1(self) -> int:
        return self.burst_line0 + self.out_line1 - self.out_line0


@dataclass(frozen=True)
class DeburstLayout:
    """The debursted swath: output grid and one :class:`BurstSegment` per burst (in order)."""

    swath: str
    first_azimuth_time_s: float  # zero-Doppler time of output line 0
    azimuth_time_interval_s: float
    lines: int
    first_range_time_s: float  # two-way time of sample 0
    range_sampling_rate_hz: float
    samples: int
    lines_per_burst: int
    valid_samples: tuple[int, int]  # [first, stop): max firstValidSample, min lastValidSample + 1 over bursts
    segments: tuple[BurstSegment, ...]

    def line_time_s(self, out_line: np.ndarray | float) -> np.ndarray:
        return self.first_azimuth_time_s + np.asarray(out_line, dtype=np.float64) * self.azimuth_time_interval_s

    def rows(self, r0: int, r1: int) -> list[RowSource]:
        """Which burst rows make output rows [r0, r1) (one entry per burst touched, in order)."""
        if not 0 <= r0 <= r1 <= self.lines:
            raise SelectionError(f"{self.swath}: output rows [{r0}, {r1}) outside the debursted 0..{self.lines}")
        out = []
        for s in self.segments:
            a, b = max(r0, s.out_line0), min(r1, s.out_line1)
            if a < b:
                out.append(RowSource(s.burst, s.burst_line0 + a - s.out_line0, a, b))
        return out


def _burst_valid(meta: SwathMetadata, i: int) -> tuple[int, int, int, int]:
    """(first valid line, last valid line, first valid sample, stop valid sample) of burst i (burst lines)."""
    b = meta.bursts[i]
    fvs = np.asarray(b.first_valid_sample)
    lvs = np.asarray(b.last_valid_sample)
    ok = np.nonzero(fvs >= 0)[0]
    if ok.size == 0:
        raise SelectionError(f"{meta.annotation_name or meta.swath}: burst {i} has no valid line")
    return int(ok[0]), int(ok[-1]), int(fvs[ok].max()), int(lvs[ok].min()) + 1


def deburst_layout(meta: SwathMetadata, bursts: Sequence[int] | None = None) -> DeburstLayout:
    """Debursted layout of a TOPS swath (or of the consecutive bursts ``bursts``; see the module docstring)."""
    if not meta.is_tops:
        raise SelectionError(f"{meta.annotation_name or meta.swath}: {meta.mode} image without bursts, "
                             "nothing to deburst")
    idx = list(range(len(meta.bursts))) if bursts is None else [int(i) for i in bursts]
    if not idx or any(not 0 <= i < len(meta.bursts) for i in idx):
        raise SelectionError(f"{meta.swath}: bursts {idx} not in 0..{len(meta.bursts) - 1}")
    if any(b - a != 1 for a, b in zip(idx, idx[1:], strict=False)):
        raise SelectionError(f"{meta.swath}: bursts {idx} are not consecutive")
    dt = meta.azimuth_time_interval_s
    valid = [_burst_valid(meta, i) for i in idx]
    t_start = [meta.bursts[i].azimuth_time_s + v[0] * dt for i, v in zip(idx, valid, strict=True)]
    t_stop = [meta.bursts[i].azimuth_time_s + v[1] * dt for i, v in zip(idx, valid, strict=True)]
    first = [v[0] for v in valid]  # first kept burst line of each burst
    last = [v[1] for v in valid]  # last kept burst line (inclusive)
    for k in range(len(idx) - 1):
        # burst starts are whole lines apart up to the 1 µs time quantum: round, not floor (OTB floors, and
        # on a 123.9997-line overlap keeps 1.5 lines off-centre)
        n_ovl = round((t_stop[k] - t_start[k + 1]) / dt)
        if n_ovl <= 0:
            raise SelectionError(f"{meta.swath}: bursts {idx[k]} and {idx[k + 1]} do not overlap")
        half_end = (n_ovl + 1) // 2  # of the n_ovl + 1 overlapping valid lines, drop half at the end of burst k
        t_end = t_stop[k] - (half_end - 1) * dt  # time of the line that must follow burst k's last kept line
        half_begin = int(math.floor(0.5 + (t_end - t_start[k + 1]) / dt))
        last[k] = valid[k][1] - half_end
        first[k + 1] = valid[k + 1][0] + half_begin
    tb0 = meta.bursts[idx[0]].azimuth_time_s
    t0 = tb0 + first[0] * dt
    segs = []
    out = 0
    for k, i in enumerate(idx):
        # in lines from the first burst's start (differences first: absolute times lose 1e-7 s in float64)
        line_of_first = (meta.bursts[i].azimuth_time_s - tb0) / dt + first[k]
        segs.append(BurstSegment(i, first[k], last[k] + 1, out, (valid[k][2], valid[k][3]),
                                 float(line_of_first - (first[0] + out))))
        out += last[k] + 1 - first[k]
    vs = (max(v[2] for v in valid), min(v[3] for v in valid))
    return DeburstLayout(meta.swath, float(t0), float(dt), out, float(meta.slant_range_time_s),
                         float(meta.range_sampling_rate_hz), int(meta.number_of_samples), int(meta.lines_per_burst),
                         vs, tuple(segs))


def deburst(bursts: Sequence[np.ndarray] | Mapping[int, np.ndarray], layout: DeburstLayout, r0: int = 0,
            r1: int | None = None) -> np.ndarray:
    """Output rows [r0, r1) of the debursted swath from burst arrays (burst line numbering, all swath
    samples): ``bursts[i]`` is burst i (a sequence indexed by swath burst index, or a mapping holding only
    the bursts the rows need, see :meth:`DeburstLayout.rows`)."""
    r1 = layout.lines if r1 is None else r1
    srcs = layout.rows(r0, r1)
    first = bursts[srcs[0].burst] if srcs else None
    dtype = first.dtype if first is not None else np.complex64
    out = np.zeros((r1 - r0, layout.samples), dtype=dtype)
    for s in srcs:
        arr = bursts[s.burst]
        if arr.shape[1] != layout.samples:
            raise SelectionError(f"burst {s.burst} has {arr.shape[1]} samples, the layout {layout.samples}")
        out[s.out_line0 - r0:s.out_line1 - r0] = arr[s.burst_line0:s.burst_line1]
    return out


# ---------------------------------------------------------------------------------------------------------
# swath merge

@dataclass(frozen=True)
class SwathPlacement:
    """One debursted swath on the common grid: its line/sample offsets, the sub-pixel remainders left out by
    rounding, and the columns it provides: swath samples [sample0, sample1) → merged samples + sample_offset."""

    layout: DeburstLayout
    line_offset: int
    sample_offset: int
    line_residual: float  # exact offset − line_offset (lines)
    sample_residual: float  # exact offset − sample_offset (samples)
    sample0: int
    sample1: int


@dataclass(frozen=True)
class MergeLayout:
    """Merged multi-swath grid (swaths in range order, near to far)."""

    first_azimuth_time_s: float
    azimuth_time_interval_s: float
    lines: int
    first_range_time_s: float
    range_sampling_rate_hz: float
    samples: int
    swaths: tuple[SwathPlacement, ...]

    def rows(self, r0: int, r1: int) -> list[tuple[int, int, int]]:
        """Per swath (position in ``swaths``): debursted rows [a, b) that make merged rows [r0, r1) ∩ swath."""
        out = []
        for k, p in enumerate(self.swaths):
            a, b = max(r0, p.line_offset), min(r1, p.line_offset + p.layout.lines)
            if a < b:
                out.append((k, a - p.line_offset, b - p.line_offset))
        return out


def merge_layout(layouts: Sequence[DeburstLayout]) -> MergeLayout:
    """Common grid of debursted swaths and the range cut between neighbours (module docstring)."""
    if not layouts:
        raise SelectionError("no swath to merge")
    dt, fs = layouts[0].azimuth_time_interval_s, layouts[0].range_sampling_rate_hz
    for lay in layouts:
        if abs(lay.azimuth_time_interval_s - dt) > 1e-9 * dt or abs(lay.range_sampling_rate_hz - fs) > 1e-9 * fs:
            raise SelectionError(f"{lay.swath}: azimuth time interval or range sampling rate differ from "
                                 f"{layouts[0].swath}: no common radar grid")
    order = sorted(layouts, key=lambda lay: lay.first_range_time_s)
    t0 = min(lay.first_azimuth_time_s for lay in order)
    tau0 = min(lay.first_range_time_s for lay in order)
    exact = [((lay.first_azimuth_time_s - t0) / dt, (lay.first_range_time_s - tau0) * fs) for lay in order]
    offs = [(int(round(a)), int(round(r))) for a, r in exact]
    # valid samples on the merged grid, then the cut between neighbours at the middle of their overlap
    v = [(lay.valid_samples[0] + o[1], lay.valid_samples[1] + o[1]) for lay, o in zip(order, offs, strict=True)]
    lo = [v[0][0]] + [0] * (len(order) - 1)
    hi = [0] * (len(order) - 1) + [v[-1][1]]
    for k in range(len(order) - 1):
        if v[k + 1][0] >= v[k][1]:
            raise SelectionError(f"{order[k].swath} and {order[k + 1].swath} have no valid samples in common")
        cut = (v[k + 1][0] + v[k][1]) // 2
        hi[k], lo[k + 1] = cut, cut
    places = tuple(SwathPlacement(lay, o[0], o[1], e[0] - o[0], e[1] - o[1], lo[k] - o[1], hi[k] - o[1])
                   for k, (lay, o, e) in enumerate(zip(order, offs, exact, strict=True)))
    lines = max(p.line_offset + p.layout.lines for p in places)
    return MergeLayout(float(t0), float(dt), int(lines), float(tau0), float(fs), int(hi[-1]), places)


def merge_swaths(debursted: Sequence[np.ndarray], layout: MergeLayout, r0: int = 0, r1: int | None = None,
                 first_rows: Sequence[int] | None = None) -> np.ndarray:
    """Merged rows [r0, r1) from the debursted swaths (in ``layout.swaths`` order). ``debursted[k]`` holds
    debursted rows of swath k starting at row ``first_rows[k]`` (default 0: the whole swath); for streaming,
    pass the blocks :meth:`MergeLayout.rows` asks for."""
    r1 = layout.lines if r1 is None else r1
    if not 0 <= r0 <= r1 <= layout.lines:
        raise SelectionError(f"merged rows [{r0}, {r1}) outside 0..{layout.lines}")
    starts = [0] * len(layout.swaths) if first_rows is None else [int(f) for f in first_rows]
    dtype = np.result_type(*[np.asarray(d).dtype for d in debursted]) if len(debursted) else np.complex64
    out = np.zeros((r1 - r0, layout.samples), dtype=dtype)
    for k, a, b in layout.rows(r0, r1):
        p = layout.swaths[k]
        src = np.asarray(debursted[k])
        if a < starts[k] or b - starts[k] > src.shape[0]:
            raise SelectionError(f"{p.layout.swath}: block holds rows [{starts[k]}, {starts[k] + src.shape[0]}), "
                                 f"rows [{a}, {b}) needed")
        out[a + p.line_offset - r0:b + p.line_offset - r0, p.sample0 + p.sample_offset:p.sample1 + p.sample_offset] \
            = src[a - starts[k]:b - starts[k], p.sample0:p.sample1]
    return out
