"""TOPS burst identity across dates, and master burst selection (DiapOTB ``-b`` ranges, lon/lat regions).

Bursts are matched by identity, never by index (the same burst has a different index in two products as soon
as the slicing differs):

1. relative orbit + ESA relative burst ID when both swaths carry IDs (annotation ``<burstId>``, IPF >= 3.40,
   or computed by the reader from the ascending node time, :func:`diapsar.io.annotation.esa_burst_id`);
2. otherwise the azimuth ANX time (``azimuthAnxTime``, time since the ascending node of the burst's first line):
   a given burst of a track is acquired at the same ANX time at every pass (the 12-day, 175-orbit repeat
   cycle), within a few milliseconds (orbital tube, measured 2-12 ms on the Morocco, Haida Gwaii, Sitka and
   Albania pairs), so two bursts are the same when their ANX times differ by less than half a burst cycle
   T_beam = 2.758273 s (ESA S-1 L1 DAD MPC-0307, table 9-7). ANX times are compared modulo the orbit
   period, so a burst just before the ascending node matches its twin just after it.

S1A, S1B, S1C and S1D fly the same reference orbit and mix freely when they share the track: the constants
that matter for matching are in :data:`MISSIONS` (one table).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely.geometry import MultiPoint, box
from shapely.geometry.base import BaseGeometry

from .errors import SelectionError
from .metadata import SwathMetadata

# Sentinel-1 constellation: every unit on the same reference orbit, 12-day repeat cycle of 175 orbits
# (ESA Sentinel-1 User Handbook, GMES-S1OP-EOPG-TN-13-0001, section 2.2). (repeat cycle days, orbits per cycle)
MISSIONS: dict[str, tuple[int, int]] = {"S1A": (12, 175), "S1B": (12, 175), "S1C": (12, 175), "S1D": (12, 175)}
ORBIT_PERIOD_S = 12 * 86400.0 / 175.0
# IW/EW burst cycle T_beam (ESA S-1 L1 DAD MPC-0307, table 9-7; same values as diapsar.io.annotation)
BURST_CYCLE_S = {"IW": 2.758273, "EW": 3.038376}


@dataclass(frozen=True)
class BurstPair:
    """One common burst: indices in the master and slave swaths, its ID, and the ANX-time difference (s)."""

    master_index: int
    slave_index: int
    burst_id: int | None
    anx_difference_s: float


@dataclass
class BurstMatch:
    """Common bursts in master order, and the master burst indices absent from the slave.

    ``method``: "burst_id" or "anx_time" (what the identity rested on)."""

    swath: str
    method: str
    common: list[BurstPair] = field(default_factory=list)
    missing_in_slave: list[int] = field(default_factory=list)

    def master_indices(self) -> list[int]:
        return [p.master_index for p in self.common]


def _anx_diff(a: float, b: float) -> float:
    """a − b modulo the orbit period, in (−T/2, T/2]."""
    d = (a - b) % ORBIT_PERIOD_S
    return d - ORBIT_PERIOD_S if d > 0.5 * ORBIT_PERIOD_S else d


def match_swath_bursts(master: SwathMetadata, slave: SwathMetadata, use_burst_id: bool = True) -> BurstMatch:
    """Common bursts of two TOPS swaths of the same track (see the module docstring for the identity rule).

    One-line :class:`SelectionError` for a mission outside :data:`MISSIONS`, different swaths, tracks, or a
    stripmap image. ``use_burst_id=False`` forces the ANX-time rule (for checks and pre-3.40 products)."""
    for m in (master, slave):
        if m.mission not in MISSIONS:
            raise SelectionError(f"{m.annotation_name or m.swath}: unknown mission {m.mission!r} "
                                 f"(expected one of {', '.join(MISSIONS)})")
        if not m.is_tops:
            raise SelectionError(f"{m.annotation_name or m.swath}: {m.mode} image without bursts, nothing to match")
    if master.swath != slave.swath:
        raise SelectionError(f"master swath {master.swath} and slave swath {slave.swath} differ")
    if master.relative_orbit != slave.relative_orbit:
        raise SelectionError(f"master on relative orbit {master.relative_orbit}, slave on {slave.relative_orbit}: "
                             "not the same track")
    cycle = BURST_CYCLE_S["EW" if master.mode == "EW" else "IW"]
    with_ids = use_burst_id and all(b.burst_id is not None for b in (*master.bursts, *slave.bursts))
    out = BurstMatch(master.swath, "burst_id" if with_ids else "anx_time")
    for mb in master.bursts:
        if with_ids:
            cand = [sb for sb in slave.bursts if sb.burst_id == mb.burst_id]
        else:
            cand = [sb for sb in slave.bursts
                    if abs(_anx_diff(sb.azimuth_anx_time_s, mb.azimuth_anx_time_s)) < 0.5 * cycle]
        if not cand:
            out.missing_in_slave.append(mb.index)
            continue
        sb = min(cand, key=lambda s: abs(_anx_diff(s.azimuth_anx_time_s, mb.azimuth_anx_time_s)))
        d = _anx_diff(sb.azimuth_anx_time_s, mb.azimuth_anx_time_s)
        out.common.append(BurstPair(mb.index, sb.index, mb.burst_id, float(d) if np.isfinite(d) else float("nan")))
    return out


# ---------------------------------------------------------------------------------------------------------
# selection of master bursts

def parse_burst_range(text: str, n_bursts: int) -> list[int]:
    """0-based burst indices of a DiapOTB ``-b`` range ("0-8", "3", "2-2") for a swath of ``n_bursts`` bursts."""
    m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", text)
    if not m:
        raise SelectionError(f"burst range {text!r} is not of the form 'first-last' (0-based, e.g. '0-8')")
    first = int(m.group(1))
    last = int(m.group(2)) if m.group(2) is not None else first
    if first > last:
        raise SelectionError(f"burst range {text!r}: first burst {first} after last burst {last}")
    if last >= n_bursts:
        raise SelectionError(f"burst range {text!r} outside the swath's bursts 0-{n_bursts - 1}")
    return list(range(first, last + 1))


def burst_footprints(meta: SwathMetadata) -> list[BaseGeometry]:
    """Lon/lat footprint of each burst: convex hull of the geolocation-grid points whose line lies in
    [first line, first line + lines] of the burst (ESA writes one grid row at each burst start and one at the
    last line, so each burst gets its own first row and the next burst's first row, inside its time span)."""
    if not meta.is_tops:
        raise SelectionError(f"{meta.annotation_name or meta.swath}: {meta.mode} image without bursts")
    g = meta.geolocation_grid
    line = np.asarray(g.line, dtype=np.float64)
    lon = np.asarray(g.longitude_deg, dtype=np.float64)
    lat = np.asarray(g.latitude_deg, dtype=np.float64)
    out = []
    for b in meta.bursts:
        sel = (line >= b.first_line) & (line <= b.first_line + b.lines)
        if np.count_nonzero(sel) < 3:
            raise SelectionError(f"{meta.annotation_name or meta.swath}: burst {b.index} has fewer than 3 "
                                 "geolocation grid points")
        out.append(MultiPoint(np.column_stack([lon[sel], lat[sel]])).convex_hull)
    return out


def select_bursts_by_region(meta: SwathMetadata,
                            region: BaseGeometry | tuple[float, float, float, float]) -> list[int]:
    """0-based indices of the bursts whose footprint intersects ``region`` (a shapely lon/lat geometry or a
    (lon_min, lat_min, lon_max, lat_max) box); one-line error when it misses every burst."""
    geom = box(*region) if isinstance(region, tuple) else region
    feet = burst_footprints(meta)
    hits = [i for i, f in enumerate(feet) if shapely.intersects(f, geom)]
    if not hits:
        x0, y0, x1, y1 = shapely.union_all(feet).bounds
        rx0, ry0, rx1, ry1 = geom.bounds
        raise SelectionError(f"{meta.swath}: region lon {rx0:.4f}..{rx1:.4f} lat {ry0:.4f}..{ry1:.4f} misses every "
                             f"burst (swath covers lon {x0:.4f}..{x1:.4f} lat {y0:.4f}..{y1:.4f})")
    return hits
