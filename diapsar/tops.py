"""TOPS (IW/EW) burst frames of the interferometric chain.

The chain processes an IW swath on its *debursted frame*: the master bursts' lines cut at the middle of each
burst overlap (on valid lines) and stacked, so that every master step (multilook, Doppler0, DEM projection,
cartesian mean, ortho lookup) runs on one continuous image exactly as for StripMap. What makes it exact:

- ``DeburstFrame`` keeps, for every kept line range (a *segment*, one per master burst), its own zero-Doppler
  time origin; ``frame_metadata`` turns it into a ``SwathMetadata`` whose bursts are these segments, so that
  ``geometry.RadarGrid`` maps every debursted line to its true burst time (no rounding of burst start times).
- The slave is never debursted: each debursted row belongs to one master burst b, its matched slave burst b'
  is deramped, resampled onto master burst b through a deformation grid in *burst frames* (master burst line ->
  slave burst line), and reramped with the slave ramp at the slave coordinates (``burst_resample``).
- ESD works on the burst overlaps, which the debursted frame has cut away: ``overlap_rows`` gives the master
  lines of both bursts that see the same azimuth times.

Conventions: ``swath line`` = line of ESA's burst-stacked measurement image; ``burst line`` = swath line minus
the burst's first line; ``frame line`` = line of the debursted frame.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass, replace

import numpy as np

from .metadata import Burst, SwathMetadata


@dataclass(frozen=True)
class Segment:
    """Lines [burst_line0, burst_line0 + lines) of master burst ``burst`` placed at frame lines
    [frame_line0, frame_line0 + lines); ``azimuth_time_s`` is the image line time of its first line."""

    burst: int
    burst_line0: int
    frame_line0: int
    lines: int
    azimuth_time_s: float

    @property
    def frame_line1(self) -> int:
        return self.frame_line0 + self.lines


@dataclass(frozen=True)
class DeburstFrame:
    """The debursted frame of bursts [first, last] of one swath (``segments`` in frame order)."""

    swath: str
    segments: tuple[Segment, ...]
    samples: int
    lines_per_burst: int
    azimuth_time_interval_s: float

    @property
    def n_lines(self) -> int:
        return self.segments[-1].frame_line1 if self.segments else 0

    @property
    def bursts(self) -> list[int]:
        return [s.burst for s in self.segments]

    def split_rows(self, row0: int, row1: int) -> list[tuple[Segment, int, int]]:
        """The parts of frame rows [row0, row1) per segment: (segment, frame row a, frame row b)."""
        out = []
        for s in self.segments:
            a, b = max(row0, s.frame_line0), min(row1, s.frame_line1)
            if b > a:
                out.append((s, a, b))
        return out

    def to_dict(self) -> dict:
        return {"swath": self.swath, "samples": self.samples, "lines": self.n_lines,
                "segments": [{"burst": s.burst, "burst_line0": s.burst_line0, "frame_line0": s.frame_line0,
                              "lines": s.lines} for s in self.segments]}


def _valid_lines(b: Burst) -> tuple[int, int]:
    """First and last valid burst line (inclusive) of a burst."""
    ok = np.nonzero(np.asarray(b.first_valid_sample) >= 0)[0]
    if ok.size == 0:
        return 0, b.lines - 1
    return int(ok[0]), int(ok[-1])


def deburst_frame(meta: SwathMetadata, first: int = 0, last: int | None = None) -> DeburstFrame:
    """Debursted frame of bursts ``first``..``last`` (inclusive) of a TOPS swath: the lines each burst keeps are
    those of ``diapsar.deburst.deburst_layout`` (valid lines, cut at the middle of each overlap); each segment
    keeps its own burst's line times (``Segment.azimuth_time_s``), so no burst start time is rounded."""
    from .deburst import deburst_layout

    last = len(meta.bursts) - 1 if last is None else last
    lay = deburst_layout(meta, list(range(first, last + 1)))
    dt = meta.azimuth_time_interval_s
    segs = tuple(Segment(s.burst, s.burst_line0, s.out_line0, s.lines,
                         meta.bursts[s.burst].azimuth_time_s + s.burst_line0 * dt) for s in lay.segments)
    return DeburstFrame(meta.swath, segs, meta.number_of_samples, meta.lines_per_burst, dt)


def frame_metadata(meta: SwathMetadata, frame: DeburstFrame, bistatic_reference_range_time_s: float | None
                   ) -> SwathMetadata:
    """A ``SwathMetadata`` describing the debursted frame: one pseudo-burst per segment (its first frame line and
    the time of that line), the frame's line count, the swath's orbit, Doppler, FM-rate and sampling.

    ``bistatic_reference_range_time_s``: the residual bistatic reference of the swath
    (``RadarGrid.from_metadata(meta).bistatic_reference_range_time_s``), kept for the frame.
    """
    bursts = []
    for k, s in enumerate(frame.segments):
        src = meta.bursts[s.burst]
        sl = slice(s.burst_line0, s.burst_line0 + s.lines)
        bursts.append(Burst(index=k, azimuth_time_s=s.azimuth_time_s, azimuth_anx_time_s=src.azimuth_anx_time_s,
                            sensing_time_s=src.sensing_time_s, byte_offset=0,
                            first_valid_sample=np.asarray(src.first_valid_sample)[sl].copy(),
                            last_valid_sample=np.asarray(src.last_valid_sample)[sl].copy(),
                            first_line=s.frame_line0, lines=s.lines, burst_id=src.burst_id))
    t0 = frame.segments[0].azimuth_time_s
    t1 = frame.segments[-1].azimuth_time_s + (frame.segments[-1].lines - 1) * meta.azimuth_time_interval_s
    out = replace(meta, bursts=bursts, number_of_lines=frame.n_lines, first_line_time_s=t0, last_line_time_s=t1,
                  lines_per_burst=max(s.lines for s in frame.segments),
                  geolocation_grid=copy.deepcopy(meta.geolocation_grid),
                  bistatic_reference_range_time_s=bistatic_reference_range_time_s)
    return out


def _valid_spans(first_valid: np.ndarray, last_valid: np.ndarray, col0: int, n_cols: int
                 ) -> list[tuple[int, int, int]]:
    """(row, a, b): columns [a, b) of [col0, col0 + n_cols) that are valid samples, per row with any (rows with a
    negative first valid sample have none)."""
    fv = np.asarray(first_valid, dtype=np.int64)
    lv = np.asarray(last_valid, dtype=np.int64)
    a = np.maximum(fv - col0, 0)
    b = np.minimum(lv - col0 + 1, n_cols)
    rows = np.nonzero((fv >= 0) & (b > a))[0]
    return [(int(r), int(a[r]), int(b[r])) for r in rows]


def zero_invalid(data: np.ndarray, first_valid: np.ndarray, last_valid: np.ndarray, col0: int = 0) -> np.ndarray:
    """Set to 0, in place, the samples of ``data`` (rows = burst lines, columns from swath column ``col0``) outside
    each line's valid samples [first_valid, last_valid] (all of a line whose first_valid is negative)."""
    keep = np.zeros(data.shape[0], dtype=bool)
    n_cols = data.shape[1]
    for r, a, b in _valid_spans(first_valid, last_valid, col0, n_cols):
        keep[r] = True
        data[r, :a] = 0
        data[r, b:] = 0
    data[~keep] = 0
    return data


def valid_mask(meta: SwathMetadata, frame: DeburstFrame, row0: int, row1: int, col0: int, col1: int) -> np.ndarray:
    """True where frame pixels [row0, row1) x [col0, col1) are valid samples of their master burst."""
    out = np.zeros((row1 - row0, col1 - col0), dtype=bool)
    for s, a, b in frame.split_rows(row0, row1):
        src = meta.bursts[s.burst]
        bl = s.burst_line0 + (np.arange(a, b) - s.frame_line0)
        fv = np.asarray(src.first_valid_sample)[bl]
        lv = np.asarray(src.last_valid_sample)[bl]
        for r, c0, c1 in _valid_spans(fv, lv, col0, col1 - col0):
            out[a - row0 + r, c0:c1] = True
    return out


def read_frame(read_swath, meta: SwathMetadata, frame: DeburstFrame, row0: int, col0: int, n_rows: int,
               n_cols: int, read_into=None) -> np.ndarray:
    """Frame pixels [row0, row0 + n_rows) x [col0, col0 + n_cols) (complex64, 0 outside valid samples);
    ``read_swath(line0, sample0, n_lines, n_samples)`` reads the burst-stacked swath image;
    ``read_into(line0, sample0, n_lines, n_samples, out)`` (optional) reads it into ``out`` (complex64): a block
    spanning several bursts is then read in place, without a second array per burst."""
    parts = frame.split_rows(row0, row0 + n_rows)
    single = len(parts) == 1 and parts[0][1] == row0 and parts[0][2] == row0 + n_rows
    out = None if single else np.zeros((n_rows, n_cols), dtype=np.complex64)
    for s, a, b in parts:
        src = meta.bursts[s.burst]
        line = src.first_line + s.burst_line0 + (a - s.frame_line0)
        if out is None:  # one burst's lines: no copy into a zeroed block
            out = np.require(read_swath(line, col0, b - a, n_cols), dtype=np.complex64, requirements=["C", "W"])
            part = out
        else:
            part = out[a - row0:b - row0]
            if read_into is not None:
                read_into(line, col0, b - a, n_cols, part)
            else:
                part[...] = read_swath(line, col0, b - a, n_cols)
        bl = s.burst_line0 + (np.arange(a, b) - s.frame_line0)
        zero_invalid(part, np.asarray(src.first_valid_sample)[bl], np.asarray(src.last_valid_sample)[bl], col0)
    assert out is not None
    return out


def overlap_rows(meta: SwathMetadata, b: int, c: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Burst lines of bursts b and c = b + 1 that see the same azimuth times (both valid): (lines of b, lines
    of c), equal lengths, pairs within half a line of each other in time; None when they do not overlap."""
    dt = meta.azimuth_time_interval_s
    vb, vc = _valid_lines(meta.bursts[b]), _valid_lines(meta.bursts[c])
    tb0 = meta.bursts[b].azimuth_time_s
    tc0 = meta.bursts[c].azimuth_time_s
    # lines of c from its first valid line while their time is within b's valid lines
    lc = np.arange(vc[0], vc[1] + 1)
    lb = np.round((tc0 + lc * dt - tb0) / dt).astype(np.int64)
    ok = (lb >= vb[0]) & (lb <= vb[1])
    if not ok.any():
        return None
    return lb[ok], lc[ok]


# ------------------------------------------------------------------------------------- burst-frame grid

def burst_grid(master: SwathMetadata, master_orbit, slave: SwathMetadata, slave_orbit, dem, burst: int,
               slave_burst: int, step_range: int, step_azimuth: int) -> np.ndarray:
    """DEM deformation grid of master burst ``burst`` onto slave burst ``slave_burst``, in burst frames.

    (2, n_az, n_r) float64: band 0 = slave sample - master sample, band 1 = slave burst line - master burst
    line, at master burst lines ``i * step_azimuth`` (0 .. lines_per_burst - 1 covered) and samples
    ``j * step_range``; the ground point of each node is the master line of sight on the DEM, projected into the
    slave by zero-Doppler geo2rdr and labelled with the slave burst's own line times (never another burst's).
    Nodes off the DEM take their nearest valid node's value; an all-NaN grid is a ``DemError``.
    """
    from .deformation_grid import grid_shape, node_coordinates
    from .errors import DemError
    from .geometry import RadarGrid, geo2rdr_ecef, llh_to_ecef, rdr2geo_dem

    shape = grid_shape(master.lines_per_burst, master.number_of_samples, step_range, step_azimuth)
    gl, gp = node_coordinates(shape, step_range, step_azimuth)
    mb = master.bursts[burst]
    mgrid = RadarGrid.from_metadata(master)
    # node times on burst b's own time axis, also for node lines past its last line (never the next burst's)
    inside = np.clip(gl, 0, master.lines_per_burst - 1)
    tau_m = mgrid.pixel_to_range_time(gp)
    t_m = mgrid.line_to_time(mb.first_line + inside, range_time=tau_m) + (gl - inside) * master.azimuth_time_interval_s
    lat, lon, h = rdr2geo_dem(master_orbit, t_m, tau_m, dem.heights_m, dem.transform, look_side=master.look_side)
    xyz = llh_to_ecef(np.nan_to_num(lat), np.nan_to_num(lon), np.nan_to_num(h))
    xyz[~np.isfinite(lat)] = np.nan
    sgrid = RadarGrid.from_metadata(slave)
    ok = np.all(np.isfinite(xyz), axis=-1)
    safe = np.where(ok[..., None], xyz, np.array([6378137.0, 0.0, 0.0]))
    # first guess of the slave's zero-Doppler time: the slave burst line of the same burst line
    t_guess = slave.bursts[slave_burst].azimuth_time_s + gl * slave.azimuth_time_interval_s
    az, tau = geo2rdr_ecef(slave_orbit, safe, t_guess)
    ok &= np.isfinite(az) & np.isfinite(tau)
    az = np.where(ok, az, slave.bursts[slave_burst].azimuth_time_s)
    tau = np.where(ok, tau, slave.slant_range_time_s)
    sl = sgrid.time_to_line(az, burst=slave_burst, range_time=tau) - slave.bursts[slave_burst].first_line
    sp = sgrid.range_time_to_pixel(tau)
    shift = np.stack([np.where(ok, sp - gp, np.nan), np.where(ok, sl - gl, np.nan)])
    if not ok.any():
        raise DemError(f"the DEM does not cover burst {burst} of {master.swath}: no grid node has a ground point")
    if not ok.all():
        from scipy.ndimage import distance_transform_edt

        idx = distance_transform_edt(~ok, return_distances=False, return_indices=True)
        shift = shift[:, idx[0], idx[1]]
    return shift


def burst_resample(read_slave_swath, slave: SwathMetadata, slave_burst: int, ramp, grid: np.ndarray,
                   step_range: int, step_azimuth: int, row0: int, row1: int, n_cols: int) -> np.ndarray:
    """Slave burst ``slave_burst`` resampled onto master burst lines [row0, row1), samples [0, n_cols): read the
    slave burst lines the rows need, zero its invalid samples, deramp with the slave ramp (baseband), resample
    (8-tap sinc through the bilinear burst-frame ``grid``), reramp with the slave ramp at the slave coordinates.
    complex64; 0 where the slave position is outside the slave burst."""
    from .coregistration import slave_lines_needed
    from .deramp import deramp, reramp_tables
    from .kernels.sinc import resample_grid_sinc_reramp

    lpb = slave.lines_per_burst
    sb = slave.bursts[slave_burst]
    grid = np.ascontiguousarray(grid, dtype=np.float64)
    l0, l1 = slave_lines_needed(grid, step_range, step_azimuth, row0, row1, n_cols, lpb)
    if l1 <= l0 or row1 <= row0:
        return np.zeros((row1 - row0, n_cols), dtype=np.complex64)
    strip = np.asarray(read_slave_swath(sb.first_line + l0, 0, l1 - l0, slave.number_of_samples),
                       dtype=np.complex64)
    zero_invalid(strip, np.asarray(sb.first_valid_sample)[l0:l1], np.asarray(sb.last_valid_sample)[l0:l1])
    # deramped in place when the strip is an array of its own (a reader's fresh array), never in a caller's image
    base = deramp(strip, ramp, line0=l0, in_place=bool(strip.flags.owndata))
    # resampling and reramp (slave ramp at the slave coordinates) in one pass: the same values as
    # coregistration.coregister_block followed by deramp.reramp(grid=...)
    x_off, kt, fdc, eta_ref = reramp_tables(ramp, grid, step_range, step_azimuth, row0, row1 - row0, n_cols)
    return resample_grid_sinc_reramp(base, int(l0), int(lpb), int(row0), int(row1 - row0), int(n_cols), grid,
                                     float(step_range), float(step_azimuth), _sinc_lut(), int(ramp.lines),
                                     float(ramp.azimuth_time_interval_s), int(x_off), kt, fdc, eta_ref)


@functools.lru_cache(maxsize=1)
def _sinc_lut() -> np.ndarray:
    """The coregistration's interpolation table (8 taps, 2048 phases, Kaiser beta 4: coregister_block's)."""
    from .kernels.sinc import sinc_lut

    return sinc_lut(8, 2048, 4.0)


# ------------------------------------------------------------------------------------- burst overlaps (ESD)

@dataclass(frozen=True)
class OverlapLooks:
    """Multilooked overlap interferograms of master bursts b and c = b + 1 (same ground, both looks).

    ifg_b, ifg_c: complex sums of master x conj(slave) per look cell; coherence: the smaller of both bursts'
    coherences per cell; delta_f_hz: f_b - f_c (local TOPS Doppler of the master at both looks, > 0);
    range_sample: centre sample of each cell (for the range dependence of the estimates)."""

    burst: int
    ifg_b: np.ndarray
    ifg_c: np.ndarray
    coherence: np.ndarray
    delta_f_hz: np.ndarray
    range_sample: np.ndarray


def _looks(a: np.ndarray, la: int, lr: int) -> np.ndarray:
    n0, n1 = a.shape[0] // la * la, a.shape[1] // lr * lr
    return a[:n0, :n1].reshape(n0 // la, la, n1 // lr, lr).sum(axis=(1, 3))


def overlap_looks(burst: int, master_b: np.ndarray, slave_b: np.ndarray, master_c: np.ndarray,
                  slave_c: np.ndarray, doppler_b: np.ndarray, doppler_c: np.ndarray,
                  topographic_phase: np.ndarray | None = None, looks_azimuth: int = 5,
                  looks_range: int = 15) -> OverlapLooks:
    """Looks of the overlap of bursts ``burst`` and ``burst + 1`` from the master and coregistered slave lines of
    both bursts over the overlap (same shape; pixel (i, j) of both sees the same ground) and the master's local
    TOPS Doppler (Hz) at those pixels. ``topographic_phase`` (rad, same shape: the same ground in both looks) is
    removed from both interferograms before the looks, so that the coherence of the look cells is not lowered by
    topographic fringes; it cancels in the double difference. ISCE2's topsApp uses 15 x 5 looks for ESD
    (runESD.py defaults)."""
    from .kernels.windows import overlap_look_sums

    la, lr = looks_azimuth, looks_range
    use_phase = topographic_phase is not None
    phase = (np.ascontiguousarray(topographic_phase, dtype=np.float64) if use_phase
             else np.zeros((1, 1), dtype=np.float64))
    ib, ic, pw, n, df_sum = overlap_look_sums(master_b, slave_b, master_c, slave_c,
                                              np.asarray(doppler_b, dtype=np.float64),
                                              np.asarray(doppler_c, dtype=np.float64), phase, use_phase, la, lr)

    def coh(i: np.ndarray, pm: np.ndarray, ps: np.ndarray) -> np.ndarray:
        den = np.sqrt(pm * ps)
        return np.where(den > 0, np.abs(i) / np.where(den > 0, den, 1), 0.0)

    df = df_sum / np.maximum(n, 1)
    cols = np.arange(master_b.shape[1], dtype=np.float64)
    rs = _looks(np.broadcast_to(cols[None, :], master_b.shape).astype(np.float64), la, lr) / (la * lr)
    full = n == la * lr
    return OverlapLooks(burst, np.where(full, ib, 0), np.where(full, ic, 0),
                        np.where(full, np.minimum(coh(ib, pw[0], pw[1]), coh(ic, pw[2], pw[3])), 0.0), df, rs)


def frame_resample(read_slave_swath, slave: SwathMetadata, frame: DeburstFrame, matches: dict[int, int],
                   grids: dict[int, np.ndarray], ramps: dict[int, object], step_range: int, step_azimuth: int,
                   row0: int, row1: int, col0: int, n_cols: int) -> np.ndarray:
    """The slave resampled onto frame rows [row0, row1), samples [col0, col0 + n_cols): each row's master burst
    b is resampled from its slave burst ``matches[b]`` through ``grids[b]`` (burst frames, see ``burst_grid``;
    ``ramps[b]`` the slave burst's ``TopsRamp``). Rows of master bursts without a slave burst are 0."""
    parts = frame.split_rows(row0, row1)
    out = None
    for seg, a, b in parts:
        if seg.burst not in matches:
            continue
        r0 = seg.burst_line0 + (a - seg.frame_line0)
        res = burst_resample(read_slave_swath, slave, matches[seg.burst], ramps[seg.burst], grids[seg.burst],
                             step_range, step_azimuth, r0, r0 + (b - a), col0 + n_cols)
        if col0 == 0 and len(parts) == 1 and a == row0 and b == row1:
            return res  # the block is one burst's rows: no copy
        if out is None:
            out = np.zeros((row1 - row0, n_cols), dtype=np.complex64)
        out[a - row0:b - row0] = res[:, col0:col0 + n_cols]
    return np.zeros((row1 - row0, n_cols), dtype=np.complex64) if out is None else out
