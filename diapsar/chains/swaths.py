"""IW stacks of several swaths: each swath runs the single-swath chain into ``<out>/<swath>/`` (its own master
directory, pair folders, DEM), then each pair's products are merged into ``<out>/<M>_m_<S>_s/`` on one radar
grid, next to ``<out>/<M>_master_directory/`` (the merged master amplitude) and ``<out>/dem_scene.vrt``.

Merge rule (as ``diapsar.deburst`` for full-resolution swaths): one output grid with the swaths' azimuth time
interval and range sampling rate (checked equal), origin the earliest first line time and the smallest first range
time; each swath placed at whole multilook cells, rounded to the nearest (its pixels stay those of its own
geometry: the sub-cell remainder is reported in ``radar_grid.swaths``, with each swath's exact grid); the cut
between two swaths at the middle of the overlap of their valid columns. Ortho products are mosaicked on the union
of the swaths' map grids (same spacing and CRS, snapped to the same lattice), a map cell taken from the swath on
whose side of the cut its radar position falls (from each swath's ortho lookup).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.control import GroundControlPoint
from rasterio.windows import Window as RioWindow

from .. import layout
from ..config import MultiSlcConfig
from ..errors import SelectionError
from ..io.blocks import row_blocks, rows_per_block
from ..io.raster import open_writer, write_json
from ..log import get_logger
from ..timeutil import iso_to_seconds, seconds_to_iso

log = get_logger("multislc")

IW_SWATHS = ("IW1", "IW2", "IW3")


def swath_config(cfg: MultiSlcConfig, swath: str) -> MultiSlcConfig:
    """The configuration of one swath's run: that swath only, output in ``<out>/<swath>``, no quicklooks of its
    own (those of the merged pair are made from the merged products)."""
    inputs = dataclasses.replace(cfg.inputs, swaths=(swath,))
    run = dataclasses.replace(cfg.run, output_path=Path(cfg.output_path) / swath)
    # the merged interferogram is unwrapped once (one reference for every swath), not each swath
    unwrapping = dataclasses.replace(cfg.unwrapping, activate=False)
    return dataclasses.replace(cfg, inputs=inputs, run=run, unwrapping=unwrapping, swath_part=True)


@dataclasses.dataclass(frozen=True)
class Placement:
    """A swath's product on the merged grid: rows/cols offset (product cells), kept columns [col0, col1) of the
    merged grid, the sub-cell remainder of its origin (cells)."""

    swath: str
    folder: Path
    row_offset: int
    col_offset: int
    rows: int
    cols: int
    col0: int
    col1: int
    row_remainder: float
    col_remainder: float


def _valid_columns(path: Path) -> tuple[int, int]:
    """Columns whose isData band is set on at least half of the rows holding any data: [first, last + 1)."""
    st = path.stat()
    return _valid_columns_of(str(path.resolve()), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=16)
def _valid_columns_of(path: str, size: int, mtime_ns: int) -> tuple[int, int]:
    """``_valid_columns`` of one version of a file (the pair's merge and the master's read it once)."""
    with rasterio.open(path) as ds:
        isd = ds.read(4) > 0.5
    rows = isd.any(axis=1)
    frac = isd[rows].mean(axis=0) if rows.any() else np.zeros(isd.shape[1])
    ok = np.nonzero(frac >= 0.5)[0]
    return (int(ok[0]), int(ok[-1]) + 1) if ok.size else (0, 0)


def placements(pair_folders: dict[str, Path], product: str, extra_ml: tuple[int, int] = (1, 1)) -> list[Placement]:
    """Placement of each swath's ``product`` (4-band ML product of its pair folder) on the merged grid."""
    infos = {s: json.loads((f / layout.PAIR_JSON).read_text(encoding="utf-8")) for s, f in pair_folders.items()}
    grids = {s: i["radar_grid"] for s, i in infos.items()}
    ref = next(iter(grids.values()))
    for s, g in grids.items():
        if (abs(g["azimuth_time_interval_s"] - ref["azimuth_time_interval_s"]) > 1e-9
                or abs(g["range_sampling_rate_hz"] - ref["range_sampling_rate_hz"]) > 1e-3):
            raise SelectionError(f"swath {s}: azimuth time interval or range sampling rate differs from the other "
                                 "swaths: they cannot share one grid")
    dt, fs = ref["azimuth_time_interval_s"], ref["range_sampling_rate_hz"]
    cell_a = ref["ml_azimuth"] * extra_ml[1]
    cell_r = ref["ml_range"] * extra_ml[0]
    t0 = {s: iso_to_seconds(g["first_azimuth_time"].rstrip("Z")) for s, g in grids.items()}
    tau0 = {s: g["first_slant_range_time_s"] for s, g in grids.items()}
    t_min, tau_min = min(t0.values()), min(tau0.values())
    order = sorted(pair_folders, key=lambda s: tau0[s])
    out = []
    for s in order:
        with rasterio.open(pair_folders[s] / product) as ds:
            rows, cols = ds.height, ds.width
        ra = (t0[s] - t_min) / dt / cell_a
        rc = (tau0[s] - tau_min) * fs / cell_r
        out.append((s, int(round(ra)), int(round(rc)), rows, cols, ra - round(ra), rc - round(rc)))
    valid = {s: _valid_columns(pair_folders[s] / product) for s in order}
    cuts: list[int] = []
    for (s, _, c, _, _, _, _), (s2, _, c2, _, _, _, _) in zip(out[:-1], out[1:], strict=True):
        end_near = c + valid[s][1]
        start_far = c2 + valid[s2][0]
        cuts.append((end_near + start_far) // 2 if end_near > start_far else start_far)
    result = []
    for k, (s, ra, rc, rows, cols, rem_a, rem_c) in enumerate(out):
        col0 = cuts[k - 1] if k > 0 else rc
        col1 = cuts[k] if k < len(cuts) else rc + cols
        result.append(Placement(s, pair_folders[s], ra, rc, rows, cols, max(col0, rc), min(col1, rc + cols),
                                rem_a, rem_c))
    return result


def merge_radar(places: list[Placement], product: str, dst: Path, ram_mb: float) -> None:
    """Merge a 4-band (or 1-band) ML product of the swaths onto the merged grid -> ``dst`` (streamed by rows)."""
    n_rows = max(p.row_offset + p.rows for p in places)
    n_cols = max(p.col_offset + p.cols for p in places)
    with rasterio.open(places[0].folder / product) as ds:
        count, dtype, descriptions, tags = ds.count, ds.dtypes[0], ds.descriptions, ds.tags()
    gcps: list[GroundControlPoint] = []
    for p in places:
        with rasterio.open(p.folder / product) as ds:
            for g in ds.gcps[0]:
                col = g.col + p.col_offset
                if p.col0 <= col < p.col1:
                    gcps.append(GroundControlPoint(row=g.row + p.row_offset, col=col, x=g.x, y=g.y, z=g.z,
                                                   id=f"{p.swath}_{g.id}"))
    tags = {k: v for k, v in tags.items() if k in ("master", "slave", "ml_range", "ml_azimuth")}
    tags["swaths"] = ",".join(p.swath for p in places)
    rows = rows_per_block(n_cols, 4 * count * 3, ram_mb, multiple=256, minimum=256)  # whole rows of tiles
    with contextlib.ExitStack() as stack, open_writer(dst, n_cols, n_rows, count, dtype, gcps=gcps, tags=tags,
                                                      descriptions=[d or "" for d in descriptions]) as w:
        srcs = [stack.enter_context(rasterio.open(p.folder / product)) for p in places]
        for b in row_blocks(n_rows, rows):
            block = np.zeros((count, b.rows, n_cols), dtype=dtype)
            for p, ds in zip(places, srcs, strict=True):
                r0, r1 = max(b.row0, p.row_offset), min(b.row1, p.row_offset + p.rows)
                if r1 <= r0 or p.col1 <= p.col0:
                    continue
                ds.read(window=RioWindow(p.col0 - p.col_offset, r0 - p.row_offset, p.col1 - p.col0, r1 - r0),
                        out=block[:, r0 - b.row0:r1 - b.row0, p.col0:p.col1])
            w.write(b.row0, block)


def _union_grid(srcs: dict[str, Any]) -> tuple[tuple[float, float, float, float], int, int,
                                                  dict[str, tuple[int, int]]]:
    """Union of map grids of the same spacing on one lattice: (x0, step_x, y0, step_y), width, height and each
    grid's (row, col) offset in it."""
    ref = next(iter(srcs.values()))
    step_x, step_y = ref.transform.a, ref.transform.e
    x0 = min(s.transform.c for s in srcs.values())
    y0 = max(s.transform.f for s in srcs.values())
    x1 = max(s.transform.c + s.width * step_x for s in srcs.values())
    y1 = min(s.transform.f + s.height * step_y for s in srcs.values())
    width, height = int(round((x1 - x0) / step_x)), int(round((y1 - y0) / step_y))
    offs = {k: (int(round((s.transform.f - y0) / step_y)), int(round((s.transform.c - x0) / step_x)))
            for k, s in srcs.items()}
    return (x0, step_x, y0, step_y), width, height, offs


def _swath_rows(places: list[Placement], srcs: dict[str, Any], offs: dict[str, tuple[int, int]], row0: int,
                row1: int) -> Iterator[tuple[Placement, Any, tuple[int, int], tuple[int, int]]]:
    """Per swath whose map grid meets union rows [row0, row1): (placement, its dataset, its (row, col) offset in
    the union grid, the union rows [r0, r1) it covers there)."""
    for p in places:
        ds = srcs[p.swath]
        ro, co = offs[p.swath]
        r0, r1 = max(row0, ro), min(row1, ro + ds.height)
        if r1 > r0:
            yield p, ds, (ro, co), (r0, r1)


def merge_ortho(places: list[Placement], product: str, lookups: dict[str, Path], extra_ml: tuple[int, int],
                dst: Path, ram_mb: float) -> None:
    """Mosaic of the swaths' ortho products on the union of their map grids; where several swaths have data, the
    swath on whose side of the radar cut the cell's master sample falls (its ortho lookup)."""
    srcs = {p.swath: rasterio.open(p.folder / product) for p in places}
    try:
        ref = next(iter(srcs.values()))
        (x0, step_x, y0, step_y), width, height, offs = _union_grid(srcs)
        count = ref.count
        crs = ref.crs.to_string()
        ml_range = {p.swath: _ml_range(p) for p in places}
        rows = rows_per_block(width, 4 * count * 4, ram_mb)
        with open_writer(dst, width, height, count, "float32", descriptions=[d or "" for d in ref.descriptions],
                         transform=(x0, step_x, 0.0, y0, 0.0, step_y), crs=crs, nodata=np.nan) as w:
            for b in row_blocks(height, rows):
                block = np.full((count, b.rows, width), np.nan, dtype=np.float32)
                if count == 4:
                    block[3] = 0
                for p, ds, (ro, co), (r0, r1) in _swath_rows(places, srcs, offs, b.row0, b.row1):
                    data = ds.read(window=RioWindow(0, r0 - ro, ds.width, r1 - r0))
                    with rasterio.open(lookups[p.swath]) as lk:
                        sample = lk.read(2, window=RioWindow(0, r0 - ro, ds.width, r1 - r0))
                    col = sample / (extra_ml[0] * ml_range[p.swath]) + p.col_offset
                    ok = np.isfinite(sample) & (col >= p.col0) & (col < p.col1)
                    if count == 4:
                        ok &= data[3] > 0.5
                    sub = block[:, r0 - b.row0:r1 - b.row0, co:co + ds.width]
                    sub[:, ok] = data[:, ok]
                w.write(b.row0, block)
    finally:
        for s in srcs.values():
            s.close()


def ortho_merged(places: list[Placement], src: Path, lookups: dict[str, Path], extra_ml: tuple[int, int],
                 kinds: tuple[str, ...], descriptions: tuple[str, ...], dst: Path, ram_mb: float) -> None:
    """Orthorectify a product made on the merged radar grid (e.g. the merged pair's unwrapped.tif) onto the union
    of the swaths' map grids: a map cell takes the swath on whose side of the cut its master sample falls (its
    ortho lookup), and is sampled in the merged product at that swath's cell position plus its placement
    (``kinds``: the interpolation of each band, as ``diapsar.ortho.ortho_bands``)."""
    from .. import ortho

    srcs = {p.swath: rasterio.open(lookups[p.swath]) for p in places}
    try:
        ref = next(iter(srcs.values()))
        (x0, step_x, y0, step_y), width, height, offs = _union_grid(srcs)
        crs = ref.crs.to_string()
        with rasterio.open(src) as ds:
            count, n_rows = ds.count, ds.height
        band_kinds = list(kinds[:count])
        ml = {p.swath: _ml_factors(p) for p in places}
        rows = rows_per_block(width, 8 * 12, ram_mb)
        with open_writer(dst, width, height, count, "float32", descriptions=list(descriptions[:count]),
                         transform=(x0, step_x, 0.0, y0, 0.0, step_y), crs=crs, nodata=np.nan) as w:
            for b in row_blocks(height, rows):
                block = np.full((count, b.rows, width), np.nan, dtype=np.float32)
                for p, lk, (ro, co), (r0, r1) in _swath_rows(places, srcs, offs, b.row0, b.row1):
                    lut = lk.read([1, 2], window=RioWindow(0, r0 - ro, lk.width, r1 - r0)).astype(np.float64)
                    ml_azi, ml_ran = ml[p.swath]
                    u, v = ortho.to_ml(lut[0], lut[1], ml_azi * extra_ml[1], ml_ran * extra_ml[0])
                    u, v = u + p.row_offset, v + p.col_offset
                    col = lut[1] / (extra_ml[0] * ml_ran) + p.col_offset  # the side of the cut, as merge_ortho
                    ok = np.isfinite(col) & (col >= p.col0) & (col < p.col1)
                    u, v = np.where(ok, u, np.nan), np.where(ok, v, np.nan)
                    need = ortho.needed_rows(u, n_rows)
                    if need is None:
                        continue
                    with rasterio.open(src) as ds:
                        bands = ds.read(window=RioWindow(0, need[0], ds.width, need[1] - need[0]))
                    out = ortho.ortho_bands(bands, need[0], u, v, band_kinds)
                    sub = block[:, r0 - b.row0:r1 - b.row0, co:co + lk.width]
                    sub[:, ok] = out[:, ok]
                w.write(b.row0, block)
    finally:
        for s in srcs.values():
            s.close()


def _ml_range(p: Placement) -> int:
    return _ml_factors(p)[1]


def _ml_factors(p: Placement) -> tuple[int, int]:
    """(ml_azimuth, ml_range) of a swath's pair products."""
    grid = json.loads((p.folder / layout.PAIR_JSON).read_text(encoding="utf-8"))["radar_grid"]
    return int(grid["ml_azimuth"]), int(grid["ml_range"])


def merged_radar_grid(places: list[Placement]) -> dict[str, Any]:
    """pair.json's radar_grid of the merged product: the grid of the merged cells plus each swath's exact grid."""
    grids = {p.swath: json.loads((p.folder / layout.PAIR_JSON).read_text(encoding="utf-8"))["radar_grid"]
             for p in places}
    ref = grids[places[0].swath]
    t_min = min(iso_to_seconds(g["first_azimuth_time"].rstrip("Z")) for g in grids.values())
    tau_min = min(g["first_slant_range_time_s"] for g in grids.values())
    n_rows = max(p.row_offset + p.rows for p in places)
    n_cols = max(p.col_offset + p.cols for p in places)
    return {
        "first_azimuth_time": seconds_to_iso(t_min, 6) + "Z",
        "azimuth_time_interval_s": ref["azimuth_time_interval_s"], "first_slant_range_time_s": tau_min,
        "range_sampling_rate_hz": ref["range_sampling_rate_hz"], "ml_range": ref["ml_range"],
        "ml_azimuth": ref["ml_azimuth"], "lines": n_rows * ref["ml_azimuth"], "samples": n_cols * ref["ml_range"],
        "bistatic_reference_range_time_s": ref.get("bistatic_reference_range_time_s"),
        "swaths": [{"swath": p.swath, "row_offset_cells": p.row_offset, "col_offset_cells": p.col_offset,
                    "first_col": p.col0, "end_col": p.col1, "origin_remainder_cells": [round(p.row_remainder, 4),
                                                                                        round(p.col_remainder, 4)],
                    "radar_grid": grids[p.swath]} for p in places],
        "note": "cells of a swath keep that swath's own geometry (radar_grid of the swath); the merged origin of "
                "each swath is rounded to whole cells (origin_remainder_cells)",
    }


def merge_pair(out: Path, pair_name: str, swath_outs: dict[str, Path], ram_mb: float) -> dict[str, Any]:
    """Merge one pair's products of every swath into ``out/pair_name``; returns the merged pair.json."""
    folders = {s: o / pair_name for s, o in swath_outs.items() if (o / pair_name / layout.PAIR_JSON).exists()}
    dst = out / pair_name
    dst.mkdir(parents=True, exist_ok=True)
    infos = {s: json.loads((f / layout.PAIR_JSON).read_text(encoding="utf-8")) for s, f in folders.items()}
    first = next(iter(infos.values()))
    products: dict[str, str | None] = {k: None for k in first.get("products", {})}
    merged: dict[str, Any] = {k: first[k] for k in ("master_date", "slave_date", "temporal_baseline_days",
                                                     "software_version") if k in first}
    merged["swaths"] = {s: {k: i.get(k) for k in ("master", "slave", "perpendicular_baseline_m",
                                                  "height_of_ambiguity_m", "esd_shift_lines", "esd", "bursts",
                                                  "missing_master_bursts", "radar_grid", "timings_s")}
                        for s, i in infos.items()}
    merged.update({k: first.get(k) for k in ("perpendicular_baseline_m", "parallel_baseline_m",
                                             "height_of_ambiguity_m", "incidence_angle_deg", "parameters")})
    merged["esd_shift_lines"] = {s: i.get("esd_shift_lines") for s, i in infos.items()}
    if first["products"].get("interferogram"):
        places = placements(folders, layout.IFG)
        merge_radar(places, layout.IFG, dst / layout.IFG, ram_mb)
        products["interferogram"] = layout.IFG
        merged["radar_grid"] = merged_radar_grid(places)
        lookups = {p.swath: swath_outs[p.swath] / layout.master_directory(first["master_date"]) / layout.ORTHO_LOOKUP
                   for p in places}
        if first["products"].get("ortho"):
            merge_ortho(places, layout.IFG_ORTHO, lookups, (1, 1), dst / layout.IFG_ORTHO, ram_mb)
            products["ortho"] = layout.IFG_ORTHO
        if first["products"].get("filtered"):
            p = first["parameters"]
            extra = (int(p.get("filtered_ml_ran", 1) or 1), int(p.get("filtered_ml_azi", 1) or 1))
            fplaces = placements(folders, layout.IFG_FILTERED, extra)
            merge_radar(fplaces, layout.IFG_FILTERED, dst / layout.IFG_FILTERED, ram_mb)
            products["filtered"] = layout.IFG_FILTERED
            if first["products"].get("filtered_ortho"):
                merge_ortho(fplaces, layout.IFG_FILTERED_ORTHO, lookups, extra, dst / layout.IFG_FILTERED_ORTHO,
                            ram_mb)
                products["filtered_ortho"] = layout.IFG_FILTERED_ORTHO
    merged["products"] = products
    merged["merge"] = ("swaths on one radar grid: origin the earliest first line time and smallest first range "
                       "time, whole-cell placement, cut at the middle of the valid-column overlap")
    write_json(dst / layout.PAIR_JSON, merged)
    return merged


def ortho_unwrapped_merged(out: Path, pair_name: str, swath_outs: dict[str, Path], ram_mb: float) -> str | None:
    """``unwrapped_ortho.tif`` of a merged pair whose ortho is on and whose merged interferogram was unwrapped
    (``ortho_merged`` on the grid of the product it was unwrapped from); recorded in its pair.json. Returns the
    product name, or None when there is nothing to do."""
    dst = out / pair_name
    info = json.loads((dst / layout.PAIR_JSON).read_text(encoding="utf-8"))
    record = info.get("unwrapping") or {}
    if not info.get("products", {}).get("ortho") or record.get("status") == "failed" or \
            not (dst / layout.UNWRAPPED).is_file():
        return None
    folders = {s: o / pair_name for s, o in swath_outs.items() if (o / pair_name / layout.PAIR_JSON).exists()}
    if record.get("source") == layout.IFG_FILTERED:
        p = info.get("parameters") or {}
        extra = (int(p.get("filtered_ml_ran", 1) or 1), int(p.get("filtered_ml_azi", 1) or 1))
        places = placements(folders, layout.IFG_FILTERED, extra)
    else:
        extra = (1, 1)
        places = placements(folders, layout.IFG)
    lookups = {p.swath: swath_outs[p.swath] / layout.master_directory(info["master_date"]) / layout.ORTHO_LOOKUP
               for p in places}
    ortho_merged(places, dst / layout.UNWRAPPED, lookups, extra, ("bilinear", "bilinear", "nearest"),
                 layout.UNWRAPPED_BANDS, dst / layout.UNWRAPPED_ORTHO, ram_mb)
    info.setdefault("products", {})["unwrapped_ortho"] = layout.UNWRAPPED_ORTHO
    write_json(dst / layout.PAIR_JSON, info)
    return layout.UNWRAPPED_ORTHO


def merge_master(out: Path, master_date: str, swath_outs: dict[str, Path], pair_name: str | None,
                 ram_mb: float) -> None:
    """The merged master amplitude in ``<out>/<M>_master_directory`` (placed like the pair's interferogram)."""
    if pair_name is None:
        return
    folders = {s: o / pair_name for s, o in swath_outs.items() if (o / pair_name / layout.IFG).exists()}
    if not folders:
        return
    places = placements(folders, layout.IFG)
    mdirs = {s: swath_outs[s] / layout.master_directory(master_date) for s in folders}
    ml_places = [dataclasses.replace(p, folder=mdirs[p.swath]) for p in places]
    dst = out / layout.master_directory(master_date)
    dst.mkdir(parents=True, exist_ok=True)
    merge_radar(ml_places, layout.MASTER_ML, dst / layout.MASTER_ML, ram_mb)


def check_swaths(swaths: tuple[str, ...]) -> None:
    bad = [s for s in swaths if s not in IW_SWATHS]
    if bad:
        raise SelectionError(f"Global.in.Swath: {bad[0]} is not an IW swath (IW1, IW2, IW3)")
