"""DEM over a scene from a local folder of tiles, assembled as a GDAL VRT, read as ellipsoidal heights.

Tiles accepted in the folder (searched recursively):

- SRTM ``.hgt`` and zipped ``.hgt.zip`` / ``.zip`` (1 or 3 arc-second), any name starting with the cell code:
  ``N38W029.hgt``, ``n38w029.hgt``, ``N38W029.SRTMGL3.hgt.zip``, ``N38W029.SRTMGL1.hgt.zip`` ...
  Zipped tiles are read in place through GDAL's ``/vsizip/``.
- GeoTIFF (``.tif``/``.tiff``), e.g. Copernicus DEM ``Copernicus_DSM_COG_10_N38_00_W029_00_DEM.tif``; also
  DTED (``.dt1``/``.dt2``). Files whose name carries no 1-degree cell code (``Rome-30m-DEM.tif``) are
  located by opening them and reading their bounds.

A cell code names the **south-west** corner of a 1 x 1 degree cell (SRTM and Copernicus conventions).
Areas are in WGS84 longitude/latitude degrees; an area crossing the antimeridian is not supported.

Optionally the tiles are selected through a footprint vector file (shapefile, GeoPackage, anything OGR
reads), as DiapOTB (``srtm.shp``, attribute ``FILE`` = ``N43E001.hgt``) and S1Tiling (``srtm_tiles.gpkg``,
first field whose name contains ``id``, file ``{id}.hgt``) do: features whose footprint intersects the area
with a positive area are kept. A file named by the index that is not in the folder under that exact name is
looked up by its cell code (so ``N38W029.hgt`` finds ``N38W029.SRTMGL3.hgt.zip``).

The VRT (``dem_scene.vrt`` in the chain) follows ``gdalbuildvrt``: the extent is the union of the tiles,
the pixel size the finest of the tiles (coarser tiles are resampled, nearest neighbour), one
``ComplexSource`` per tile honouring the tile's nodata. **Tile paths in the VRT are absolute**
(``relativeToVRT="0"``; zipped tiles as ``/vsizip//abs/path/X.hgt.zip/X.hgt``) so the VRT can be moved or
copied without its tiles; the sea tiles written by ``fill_missing`` live in ``<vrt stem>_sea/`` beside the
VRT and are referenced **relative to the VRT**.

Missing tiles: by default a :class:`~diapsar.errors.DemError` names every 1-degree cell of the area that no
tile covers (``missing DEM tiles in /dem: N38W030.hgt, ...``). With ``fill_missing=True`` (command line
``--fill-sea``) such cells are filled with height 0, i.e. taken as sea: SRTM has no tiles over open water,
so this is the usual case of a coastal scene; a missing land tile would silently become flat, so use it only
when the missing cells are known to be sea.

Heights: SRTM and DiapOTB-style DEMs are above the EGM96 geoid; :func:`read_dem` adds the geoid undulation
(``h_ell = h_dem + N``) with :mod:`diapsar.geoid` (EGM96 by default, or a GDAL-readable geoid file).
Copernicus DEM is above EGM2008: give an EGM2008 grid as ``geoid`` for exactness (EGM2008 - EGM96 is
typically below a metre, a few metres at most).
"""

from __future__ import annotations

import math
import os
import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
import rasterio
import shapely
from pyproj import CRS as ProjCRS
from rasterio.crs import CRS
from rasterio.transform import Affine
from rasterio.windows import Window
from shapely.geometry import box as shapely_box
from shapely.geometry.base import BaseGeometry

from ..errors import ConfigError, DemError, ProductError
from ..log import get_logger
from .atomic import atomic_path
from .zips import zip_names

log = get_logger("dem")

__all__ = [
    "DemTile", "find_tiles", "select_tiles", "build_dem_vrt", "build_scene_dem", "read_dem", "gdal_path",
    "cell_name", "parse_cell", "area_geometry", "Dem", "load_dem",
]

RASTER_SUFFIXES = (".hgt", ".tif", ".tiff", ".dt1", ".dt2", ".dt0")
_SRTM_RE = re.compile(r"^([NS])(\d{1,2})([EW])(\d{1,3})(?![0-9])", re.IGNORECASE)
_COP_RE = re.compile(r"_([NS])(\d{2})_\d{2}_([EW])(\d{3})_\d{2}(?:_|$)", re.IGNORECASE)
_AREA_EPS = 1e-10  # deg^2: intersections smaller than this are only shared edges/corners
_GDAL_TYPES = {
    "uint8": "Byte", "int8": "Int8", "uint16": "UInt16", "int16": "Int16", "uint32": "UInt32",
    "int32": "Int32", "float32": "Float32", "float64": "Float64",
}


# ---- names and areas ------------------------------------------------------------------------------------

def parse_cell(name: str) -> tuple[int, int] | None:
    """(lat, lon) of the south-west corner of the 1-degree cell named in a tile file name, or None."""
    base = Path(name).name
    m = _SRTM_RE.match(base) or _COP_RE.search(base)
    if not m:
        return None
    lat = int(m.group(2)) * (1 if m.group(1).upper() == "N" else -1)
    lon = int(m.group(4)) * (1 if m.group(3).upper() == "E" else -1)
    if not (-90 <= lat < 90 and -180 <= lon < 180):
        return None
    return lat, lon


def cell_name(lat: int, lon: int, suffix: str = ".hgt") -> str:
    """SRTM-style name of the cell with south-west corner (lat, lon): ``N38W029.hgt``."""
    return f"{'N' if lat >= 0 else 'S'}{abs(lat):02d}{'E' if lon >= 0 else 'W'}{abs(lon):03d}{suffix}"


def area_geometry(area, margin_deg: float = 0.0) -> BaseGeometry:
    """Polygon (lon/lat degrees) of a footprint: shapely geometry or (lonmin, latmin, lonmax, latmax)."""
    if isinstance(area, BaseGeometry):
        geom = area
    else:
        try:
            lonmin, latmin, lonmax, latmax = (float(v) for v in area)
        except (TypeError, ValueError):
            raise ConfigError(f"bad DEM area {area!r}: expected a shapely geometry or "
                              "(lonmin, latmin, lonmax, latmax)") from None
        if not all(math.isfinite(v) for v in (lonmin, latmin, lonmax, latmax)):
            raise ConfigError(f"bad DEM bounding box {area!r}: values must be finite")
        if lonmin >= lonmax or latmin >= latmax:
            raise ConfigError(f"bad DEM bounding box {tuple(area)}: need lonmin < lonmax and latmin < latmax")
        if lonmin < -180 or lonmax > 180 or latmin < -90 or latmax > 90:
            raise ConfigError(f"bad DEM bounding box {tuple(area)}: outside longitude -180..180 or "
                              "latitude -90..90")
        geom = shapely_box(lonmin, latmin, lonmax, latmax)
    if geom.is_empty:
        raise ConfigError("the DEM area is empty")
    if margin_deg < 0:
        raise ConfigError(f"DEM margin must be >= 0 (got {margin_deg})")
    if margin_deg > 0:
        geom = geom.buffer(margin_deg, join_style="mitre")
    if geom.area <= 0:  # a point or a line without margin: give it a tiny extent
        geom = geom.buffer(1e-6, join_style="mitre")
    return geom


def _cells(geom: BaseGeometry) -> list[tuple[int, int]]:
    lonmin, latmin, lonmax, latmax = geom.bounds
    out = []
    for lat in range(math.floor(latmin), math.ceil(latmax)):
        for lon in range(math.floor(lonmin), math.ceil(lonmax)):
            if geom.intersection(shapely_box(lon, lat, lon + 1, lat + 1)).area > _AREA_EPS:
                out.append((lat, lon))
    return out


def _fmt_area(geom: BaseGeometry) -> str:
    b = geom.bounds
    return f"lon {b[0]:.4f}..{b[2]:.4f}, lat {b[1]:.4f}..{b[3]:.4f}"


# ---- tiles in a folder ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DemTile:
    """One tile file and the footprint (lon/lat) used to select it."""

    path: Path
    footprint: BaseGeometry
    cell: tuple[int, int] | None = None


def gdal_path(tile: str | os.PathLike) -> str:
    """Path GDAL opens for a tile: the file itself, or ``/vsizip/<abs zip>/<member>`` for a zip."""
    p = Path(tile)
    if p.name.lower().endswith(".zip"):
        member = _zip_member(p)
        return f"/vsizip/{p.resolve().as_posix()}/{member}"
    return str(p.resolve())


def _zip_member(zpath: Path) -> str:
    try:
        names = [n for n in zip_names(zpath) if n.lower().endswith(RASTER_SUFFIXES)]
    except ProductError as exc:
        raise DemError(f"cannot read DEM zip: {exc}") from None
    if not names:
        raise DemError(f"DEM zip {zpath} holds no .hgt/.tif raster")
    if len(names) > 1:  # prefer the member carrying the same cell as the zip name
        cell = parse_cell(zpath.name)
        same = [n for n in names if cell is not None and parse_cell(n) == cell]
        names = same or names
    return names[0]


def _is_tile_name(name: str) -> bool:
    low = name.lower()
    if low.endswith("_sea.tif"):  # zero tiles written by fill_missing: never taken as real tiles
        return False
    if low.endswith(".zip"):
        low = low[:-4]
        return low.endswith(RASTER_SUFFIXES) or parse_cell(name) is not None
    return low.endswith(RASTER_SUFFIXES)


def _raster_footprint(path: Path) -> BaseGeometry | None:
    """Lon/lat footprint of a raster read from its header (None when GDAL cannot open it)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
            with rasterio.open(gdal_path(path)) as ds:
                bounds, crs, tr, gcps = ds.bounds, ds.crs, ds.transform, ds.gcps[0]
    except (rasterio.errors.RasterioError, DemError) as exc:
        log.debug("skipping %s: not readable as a DEM tile (%s)", path, exc)
        return None
    if gcps or (crs is None and tr.is_identity) or tr.b != 0 or tr.d != 0:
        log.debug("skipping %s: not a georeferenced north-up raster", path)
        return None
    if crs is not None and not crs.is_geographic:
        from rasterio.warp import transform_bounds

        bounds = transform_bounds(crs, "EPSG:4326", *bounds, densify_pts=21)
    return shapely_box(*bounds)


def _preference(path: Path) -> tuple:
    """Order among several files for one cell: unzipped before zipped, then the shortest name."""
    return (path.name.lower().endswith(".zip"), len(path.name), path.name)


class _Folder:
    """Index of the tile files in a folder: per-cell files and other rasters (opened lazily)."""

    def __init__(self, tile_dir: str | os.PathLike):
        self.dir = Path(tile_dir)
        if not self.dir.is_dir():
            raise DemError(f"DEM tile folder {self.dir} does not exist")
        self.by_cell: dict[tuple[int, int], list[Path]] = {}
        self.others: list[Path] = []
        self.by_name: dict[str, Path] = {}
        for root, _dirs, files in os.walk(self.dir, followlinks=True):
            for f in sorted(files):
                if not _is_tile_name(f):
                    continue
                p = Path(root) / f
                self.by_name.setdefault(f, p)
                cell = parse_cell(f)
                if cell is None:
                    self.others.append(p)
                else:
                    self.by_cell.setdefault(cell, []).append(p)
        for paths in self.by_cell.values():
            paths.sort(key=_preference)

    def for_cell(self, cell: tuple[int, int]) -> Path | None:
        paths = self.by_cell.get(cell)
        if not paths:
            return None
        if len(paths) > 1:
            log.info("several tiles for %s in %s, using %s", cell_name(*cell, ""), self.dir, paths[0].name)
        return paths[0]

    def tiles_for(self, geom: BaseGeometry) -> list[DemTile]:
        out = []
        for cell in sorted(self.by_cell):
            fp = shapely_box(cell[1], cell[0], cell[1] + 1, cell[0] + 1)
            if fp.intersection(geom).area > _AREA_EPS:
                path = self.for_cell(cell)
                if path is not None:  # always: by_cell lists hold at least one path
                    out.append(DemTile(path, fp, cell))
        for p in self.others:
            fp = _raster_footprint(p)
            if fp is not None and fp.intersection(geom).area > _AREA_EPS:
                out.append(DemTile(p, fp, None))
        return out


# ---- tile index (footprint vector file) ----------------------------------------------------------------

def _read_index(index: Path, geom: BaseGeometry, field: str | None):
    """Features of the index whose footprint intersects ``geom``: list of (file name, lon/lat footprint)."""
    import pyogrio
    from pyogrio.errors import DataLayerError, DataSourceError

    if not index.exists():
        raise DemError(f"DEM tile index {index} does not exist")
    try:
        meta, _fids, wkb, field_data = pyogrio.raw.read(index)
    except (DataSourceError, DataLayerError, OSError) as exc:
        raise DemError(f"cannot read DEM tile index {index}: {exc}") from None
    fields = [str(f) for f in meta["fields"]]
    if field is not None:
        if field not in fields:
            raise DemError(f"DEM tile index {index} has no field {field!r} (fields: {', '.join(fields)})")
        name_field, fmt = field, "{}"
    else:
        upper = {f.upper(): f for f in fields}
        if "FILE" in upper:  # DiapOTB srtm.shp
            name_field, fmt = upper["FILE"], "{}"
        else:  # S1Tiling: first field whose name contains "id", file "{id}.hgt"
            ids = [f for f in fields if "id" in f.lower()]
            if not ids:
                raise DemError(f"DEM tile index {index} has neither a FILE field nor an id field "
                               f"(fields: {', '.join(fields) or 'none'}); name the field to use")
            name_field, fmt = ids[0], "{}.hgt"
    values = field_data[fields.index(name_field)]
    geoms = shapely.from_wkb(wkb)
    layer_crs = meta.get("crs")
    area = geom
    if layer_crs:
        crs = ProjCRS.from_user_input(layer_crs)
        if not crs.equals(ProjCRS.from_epsg(4326), ignore_axis_order=True):
            from pyproj import Transformer

            tr = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
            area = shapely.transform(shapely.segmentize(geom, 0.01), lambda xy: np.column_stack(
                tr.transform(xy[:, 0], xy[:, 1])))
    out = []
    for value, g in zip(values, geoms):
        if g is None or value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        if g.intersection(area).area <= 0:
            continue
        name = str(value).strip()
        if fmt != "{}" and "." not in name:
            name = fmt.format(name)
        out.append((name, g))
    return out, area


# ---- selection ---------------------------------------------------------------------------------------------

@dataclass
class TileSelection:
    """Result of :func:`select_tiles`: tiles found and what is missing."""

    tiles: list[Path]
    missing: list[str]                      # names (index file names, or SRTM-style cell names)
    missing_cells: list[tuple[int, int]]    # 1-degree cells (lat, lon) to fill when allowed
    area: BaseGeometry


def select_tiles(tile_dir: str | os.PathLike, area, tile_index: str | os.PathLike | None = None,
                 index_field: str | None = None, margin_deg: float = 0.0) -> TileSelection:
    """Tiles of ``tile_dir`` covering ``area`` (geometry or lon/lat bbox) and the missing ones."""
    geom = area_geometry(area, margin_deg)
    folder = _Folder(tile_dir)
    tiles: list[DemTile] = []
    missing: list[str] = []
    if tile_index is not None:
        feats, _ = _read_index(Path(tile_index), geom, index_field)
        for name, _g in feats:
            p = folder.by_name.get(Path(name).name)
            if p is None:
                direct = folder.dir / name
                p = direct if direct.is_file() else None
            name_cell = parse_cell(name)
            if p is None and name_cell is not None:
                p = folder.for_cell(name_cell)
            if p is None:
                missing.append(Path(name).name)
                continue
            cell = parse_cell(p.name)
            fp = (shapely_box(cell[1], cell[0], cell[1] + 1, cell[0] + 1) if cell is not None
                  else _raster_footprint(p))
            if fp is not None:
                tiles.append(DemTile(p, fp, cell))
    else:
        tiles = folder.tiles_for(geom)
    # de-duplicate (an index may list a cell twice), keep order
    seen: set[Path] = set()
    uniq = []
    for t in tiles:
        if t.path not in seen:
            seen.add(t.path)
            uniq.append(t)
    covered = shapely.union_all([t.footprint for t in uniq]) if uniq else None
    missing_cells = []
    for cell in _cells(geom):
        part = geom.intersection(shapely_box(cell[1], cell[0], cell[1] + 1, cell[0] + 1))
        if covered is not None:
            part = part.difference(covered)
        if part.area > _AREA_EPS:
            missing_cells.append(cell)
    if tile_index is None:
        missing = [cell_name(*c) for c in missing_cells]
    else:
        named = {parse_cell(m) for m in missing}
        missing += [cell_name(*c) for c in missing_cells if c not in named]
    return TileSelection([t.path for t in uniq], missing, missing_cells, geom)


def find_tiles(tile_dir: str | os.PathLike, bbox_lonlat, tile_index: str | os.PathLike | None = None,
               index_field: str | None = None) -> list[Path]:
    """Tile files covering ``bbox_lonlat`` (lonmin, latmin, lonmax, latmax) or a shapely geometry.

    Raises :class:`DemError` naming the missing tiles when the area is not fully covered.
    """
    sel = select_tiles(tile_dir, bbox_lonlat, tile_index, index_field)
    if sel.missing:
        raise DemError(_missing_message(tile_dir, sel))
    if not sel.tiles:
        raise DemError(f"no DEM tile in {tile_dir} covers {_fmt_area(sel.area)}")
    return sel.tiles


def _missing_message(tile_dir, sel: TileSelection) -> str:
    names = ", ".join(sel.missing[:30]) + (f" and {len(sel.missing) - 30} more" if len(sel.missing) > 30 else "")
    return (f"missing DEM tiles in {Path(tile_dir)}: {names} (needed for {_fmt_area(sel.area)}; "
            "if these cells are sea, fill them with 0 m: SAR_MultiSlc.py: Global.in.Fill_Missing_DEM or "
            "--fill-sea; diapsar dem: --fill-sea; Python: fill_missing=True)")


# ---- VRT ------------------------------------------------------------------------------------------------------

@dataclass
class _Src:
    path: str            # what GDAL opens
    relative: bool       # path relative to the VRT
    width: int
    height: int
    transform: Affine
    dtype: str
    nodata: float | None
    crs: CRS | None
    block: tuple[int, int]


def _open_src(tile: str | os.PathLike) -> _Src:
    gp = gdal_path(tile)
    try:
        with rasterio.open(gp) as ds:
            if ds.count < 1:
                raise DemError(f"DEM tile {tile} has no band")
            tr = ds.transform
            if tr.b != 0 or tr.d != 0 or tr.a <= 0 or tr.e >= 0:
                raise DemError(f"DEM tile {tile} is rotated or flipped (geotransform {tuple(tr)[:6]})")
            return _Src(gp, False, ds.width, ds.height, tr, ds.dtypes[0], ds.nodata, ds.crs,
                        tuple(ds.block_shapes[0][::-1]))
    except rasterio.errors.RasterioError as exc:
        raise DemError(f"cannot read DEM tile {tile}: {exc}") from None


def _horizontal(crs: CRS | None) -> ProjCRS | None:
    if crs is None:
        return None
    pc = ProjCRS.from_wkt(crs.to_wkt())
    if pc.is_compound:
        pc = pc.sub_crs_list[0]
    return pc


def _snap(v: float) -> float:
    r = round(v)
    return float(r) if abs(v - r) < 1e-6 else v


def _fmt(v: float) -> str:
    return repr(float(v)) if v != int(v) else str(int(v))


def build_dem_vrt(tiles: Sequence[str | os.PathLike], out_vrt: str | os.PathLike) -> Path:
    """Write a GDAL VRT mosaic of ``tiles`` (paths; zips are read through /vsizip/) to ``out_vrt``.

    Tile paths are written absolute. Returns the VRT path.
    """
    if not tiles:
        raise DemError("no DEM tile to assemble")
    out_vrt = Path(out_vrt)
    srcs = [_open_src(t) for t in tiles]
    return _write_vrt(srcs, out_vrt)


def _write_vrt(srcs: list[_Src], out_vrt: Path, sea_first: int = 0) -> Path:
    real = srcs[sea_first:] or srcs
    hcrs = [_horizontal(s.crs) for s in real]
    ref = next((c for c in hcrs if c is not None), None)
    for s, c in zip(real, hcrs):
        if c is not None and ref is not None and not c.equals(ref, ignore_axis_order=True):
            raise DemError(f"DEM tiles are in different coordinate systems: {real[0].path} ({ref.name}) "
                           f"and {s.path} ({c.name})")
    full = [s.crs for s in real if s.crs is not None]
    if full and all(c == full[0] for c in full):
        srs_wkt = full[0].to_wkt()
    else:
        srs_wkt = ref.to_wkt() if ref is not None else ""
    resx = min(s.transform.a for s in real)
    resy = min(-s.transform.e for s in real)
    left = min(s.transform.c for s in srcs)
    top = max(s.transform.f for s in srcs)
    right = max(s.transform.c + s.width * s.transform.a for s in srcs)
    bottom = min(s.transform.f + s.height * s.transform.e for s in srcs)
    width = int(round(_snap((right - left) / resx)))
    height = int(round(_snap((top - bottom) / resy)))
    dtype = np.result_type(*[np.dtype(s.dtype) for s in real]).name
    if dtype not in _GDAL_TYPES:
        raise DemError(f"DEM tiles of unsupported pixel type {dtype}")
    nodatas = [s.nodata for s in real if s.nodata is not None]
    nodata = nodatas[0] if nodatas else None

    lines = [f'<VRTDataset rasterXSize="{width}" rasterYSize="{height}">']
    if srs_wkt:
        lines.append(f"  <SRS>{escape(srs_wkt)}</SRS>")
    gt = (left, resx, 0.0, top, 0.0, -resy)
    lines.append("  <GeoTransform>" + ", ".join(repr(float(v)) for v in gt) + "</GeoTransform>")
    lines.append(f'  <VRTRasterBand dataType="{_GDAL_TYPES[dtype]}" band="1">')
    if nodata is not None:
        lines.append(f"    <NoDataValue>{_fmt(nodata)}</NoDataValue>")
    lines.append("    <ColorInterp>Gray</ColorInterp>")
    for s in srcs:
        xoff = _snap((s.transform.c - left) / resx)
        yoff = _snap((top - s.transform.f) / resy)
        xs = _snap(s.width * s.transform.a / resx)
        ys = _snap(s.height * -s.transform.e / resy)
        lines += [
            "    <ComplexSource>",
            f'      <SourceFilename relativeToVRT="{1 if s.relative else 0}">{escape(s.path)}</SourceFilename>',
            "      <SourceBand>1</SourceBand>",
            f'      <SourceProperties RasterXSize="{s.width}" RasterYSize="{s.height}" '
            f'DataType="{_GDAL_TYPES[s.dtype]}" BlockXSize="{s.block[0]}" BlockYSize="{s.block[1]}" />',
            f'      <SrcRect xOff="0" yOff="0" xSize="{s.width}" ySize="{s.height}" />',
            f'      <DstRect xOff="{_fmt(xoff)}" yOff="{_fmt(yoff)}" xSize="{_fmt(xs)}" ySize="{_fmt(ys)}" />',
        ]
        if s.nodata is not None:
            lines.append(f"      <NODATA>{_fmt(s.nodata)}</NODATA>")
        lines.append("    </ComplexSource>")
    lines += ["  </VRTRasterBand>", "</VRTDataset>", ""]
    with atomic_path(out_vrt) as tmp:
        tmp.write_text("\n".join(lines), encoding="utf-8")
        try:  # the VRT must open and give pixels before it replaces anything
            with rasterio.open(tmp) as ds:
                ds.read(1, window=Window(0, 0, min(ds.width, 8), min(ds.height, 8)))
        except rasterio.errors.RasterioError as exc:
            raise DemError(f"the DEM VRT written for {out_vrt} does not open: {exc}") from None
    log.info("wrote %s (%d x %d pixels, %d tiles)", out_vrt, width, height, len(srcs))
    return out_vrt


def _sea_tiles(cells: Iterable[tuple[int, int]], ref: _Src | None, out_vrt: Path) -> list[_Src]:
    """Zero-height GeoTIFF tiles for the given cells, aligned with ``ref``'s pixel grid, beside the VRT."""
    if ref is not None:
        resx, resy = ref.transform.a, -ref.transform.e
        x0, y0 = ref.transform.c, ref.transform.f
        dtype, nodata, crs = ref.dtype, ref.nodata, ref.crs
    else:  # nothing real to align to: SRTM 3" layout (nodes on whole degrees)
        resx = resy = 1.0 / 1200.0
        x0, y0 = -resx / 2, resy / 2
        dtype, nodata, crs = "int16", -32768, CRS.from_epsg(4326)
    sea_dir = out_vrt.parent / f"{out_vrt.stem}_sea"
    sea_dir.mkdir(parents=True, exist_ok=True)
    out = []
    for lat, lon in cells:
        # first pixel edge at or west/north of the cell corner, on ref's grid; cover the cell completely
        c0 = math.floor(_snap((lon - x0) / resx))
        r0 = math.floor(_snap((y0 - (lat + 1)) / resy))
        nx = math.ceil(_snap((lon + 1 - (x0 + c0 * resx)) / resx))
        ny = math.ceil(_snap(((y0 - r0 * resy) - lat) / resy))
        tr = Affine(resx, 0.0, x0 + c0 * resx, 0.0, -resy, y0 - r0 * resy)
        name = cell_name(lat, lon, "_sea.tif")
        path = sea_dir / name
        with atomic_path(path) as tmp, rasterio.open(
                tmp, "w", driver="GTiff", width=nx, height=ny, count=1, dtype=dtype, crs=crs, transform=tr,
                nodata=nodata, compress="deflate", tiled=True, blockxsize=256, blockysize=256) as ds:
            ds.write(np.zeros((ny, nx), dtype=dtype), 1)
        out.append(_Src(f"{sea_dir.name}/{name}", True, nx, ny, tr, dtype, nodata, crs, (256, 256)))
    if out:
        log.info("filled %d missing DEM cells with sea level (0 m): %s", len(out),
                 ", ".join(cell_name(*c, "") for c in cells))
    return out


def build_scene_dem(tile_dir: str | os.PathLike, footprint, out_vrt: str | os.PathLike,
                    margin_deg: float = 0.05, tile_index: str | os.PathLike | None = None,
                    fill_missing: bool = False, index_field: str | None = None) -> Path:
    """Assemble the DEM covering ``footprint`` (shapely lon/lat geometry or bbox) + ``margin_deg`` as a VRT.

    Tiles are selected from ``tile_dir`` (directly, or through the footprint vector file ``tile_index``).
    Missing cells raise :class:`DemError`, or are filled with 0 m (sea) when ``fill_missing`` is true.
    Returns the VRT path.
    """
    out_vrt = Path(out_vrt)
    if out_vrt.suffix.lower() != ".vrt":
        raise ConfigError(f"DEM output {out_vrt} must end in .vrt")
    sel = select_tiles(tile_dir, footprint, tile_index, index_field, margin_deg)
    if sel.missing and not fill_missing:
        raise DemError(_missing_message(tile_dir, sel))
    if sel.missing and tile_index is not None:
        # index names without a file: their cells are filled too (as sea)
        parsed = [parse_cell(m) for m in sel.missing]
        extra = [c for c in parsed if c is not None]
        if len(extra) < len(parsed):
            raise DemError(_missing_message(tile_dir, sel) + "; cannot fill tiles whose name has no cell code")
        cells = sorted(set(sel.missing_cells) | set(extra))
    else:
        cells = sorted(set(sel.missing_cells))
    srcs = [_open_src(t) for t in sel.tiles]
    sea = _sea_tiles(cells, srcs[0] if srcs else None, out_vrt) if cells else []
    return _write_vrt(sea + srcs, out_vrt, sea_first=len(sea) if srcs else 0)


# ---- reading ---------------------------------------------------------------------------------------------------

# ---- the DEM of a scene -----------------------------------------------------------------------------------------

@dataclass
class Dem:
    """A DEM window on a regular lon/lat grid with *ellipsoidal* heights (NaN = no data).

    ``transform`` is the GDAL geotransform (x0, dx, 0, y0, 0, dy) in degrees, pixel-is-area (post (r, c) is the
    centre of the cell: lon = x0 + (c + 0.5) dx, lat = y0 + (r + 0.5) dy).
    """

    heights_m: np.ndarray
    transform: tuple[float, float, float, float, float, float]

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(lon_min, lat_min, lon_max, lat_max) of the posts' cells."""
        x0, dx, _, y0, _, dy = self.transform
        lons = (x0, x0 + dx * self.shape[1])
        lats = (y0, y0 + dy * self.shape[0])
        return min(lons), min(lats), max(lons), max(lats)

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.heights_m.shape[0]), int(self.heights_m.shape[1]))

    def lonlat(self, rows: slice | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Longitude and latitude of the posts (2-D arrays) of the rows ``rows``."""
        x0, dx, _, y0, _, dy = self.transform
        r = np.arange(self.shape[0])[rows if rows is not None else slice(None)]
        c = np.arange(self.shape[1])
        lon = x0 + (c + 0.5) * dx
        lat = y0 + (r + 0.5) * dy
        return np.broadcast_to(lon[None, :], (r.size, c.size)), np.broadcast_to(lat[:, None], (r.size, c.size))

    def height_at(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Bilinear height at lon/lat (NaN outside the patch or next to no-data)."""
        x0, dx, _, y0, _, dy = self.transform
        fc = (np.asarray(lon, dtype=np.float64) - x0) / dx - 0.5
        fr = (np.asarray(lat, dtype=np.float64) - y0) / dy - 0.5
        h = self.heights_m
        ok = (fc >= 0) & (fr >= 0) & (fc <= h.shape[1] - 1) & (fr <= h.shape[0] - 1)
        fc = np.where(ok, fc, 0.0)
        fr = np.where(ok, fr, 0.0)
        c0 = np.clip(np.floor(fc).astype(np.int64), 0, max(h.shape[1] - 2, 0))
        r0 = np.clip(np.floor(fr).astype(np.int64), 0, max(h.shape[0] - 2, 0))
        tc = fc - c0
        tr = fr - r0
        c1 = np.minimum(c0 + 1, h.shape[1] - 1)
        r1 = np.minimum(r0 + 1, h.shape[0] - 1)
        v = ((1 - tr) * ((1 - tc) * h[r0, c0] + tc * h[r0, c1]) + tr * ((1 - tc) * h[r1, c0] + tc * h[r1, c1]))
        return np.where(ok, v, np.nan)


def load_dem(path: str | os.PathLike, bbox: tuple[float, float, float, float] | None = None,
             ellipsoidal: bool = True, geoid: str | os.PathLike | None = None) -> Dem:
    """:func:`read_dem` as a :class:`Dem` (float64 heights, GDAL geotransform)."""
    heights, gt, _crs = read_dem(path, bbox=bbox, ellipsoidal=ellipsoidal, geoid=geoid)
    return Dem(np.asarray(heights, dtype=np.float64), tuple(float(v) for v in gt))  # type: ignore[arg-type]


def read_dem(path: str | os.PathLike, bbox=None, ellipsoidal: bool = True,
             geoid: str | os.PathLike | None = None, geoid_method: str = "cubic"):
    """Heights of a DEM (VRT, GeoTIFF, .hgt, zip) over ``bbox`` (lonmin, latmin, lonmax, latmax).

    Returns ``(heights, geotransform, crs)``: float32 array (NaN where the DEM has no data), the GDAL
    geotransform tuple ``(x0, dx, 0, y0, 0, -dy)`` of the returned window (pixel corners), and the horizontal
    CRS (rasterio ``CRS``). The window holds every pixel whose area meets ``bbox`` plus one pixel of margin
    on each side, so bilinear interpolation anywhere in ``bbox`` has its neighbours; it is clipped to the DEM
    (with a warning) when ``bbox`` reaches beyond it, and a ``bbox`` outside the DEM is a ``DemError``.
    With ``ellipsoidal`` the geoid undulation is added: heights above the WGS84 ellipsoid
    (``geoid``: None or "egm96" = shipped EGM96 grid, a GDAL-readable geoid file, or "none" for a DEM that
    already holds ellipsoidal heights: nothing is added).
    """
    from ..geoid import load_geoid

    p = Path(path)
    if not p.exists():
        raise DemError(f"DEM file {p} does not exist")
    gp = gdal_path(p) if p.name.lower().endswith(".zip") else str(p)
    try:
        with rasterio.open(gp) as ds:
            tr, crs = ds.transform, ds.crs
            if crs is not None and not crs.is_geographic and ellipsoidal:
                raise DemError(f"DEM {p} is not on a longitude/latitude grid (CRS {crs}); "
                               "only geographic DEMs are supported")
            if bbox is None:
                win = Window(0, 0, ds.width, ds.height)
            else:
                lonmin, latmin, lonmax, latmax = area_geometry(bbox).bounds
                c0 = math.floor(_snap((lonmin - tr.c) / tr.a)) - 1
                c1 = math.ceil(_snap((lonmax - tr.c) / tr.a)) + 1
                r0 = math.floor(_snap((tr.f - latmax) / -tr.e)) - 1
                r1 = math.ceil(_snap((tr.f - latmin) / -tr.e)) + 1
                c0, r0 = max(c0, 0), max(r0, 0)
                c1, r1 = min(c1, ds.width), min(r1, ds.height)
                if c1 <= c0 or r1 <= r0:
                    b = ds.bounds
                    raise DemError(f"DEM {p} (lon {b.left:.4f}..{b.right:.4f}, lat {b.bottom:.4f}..{b.top:.4f}) "
                                   f"does not cover lon {lonmin:.4f}..{lonmax:.4f}, lat {latmin:.4f}..{latmax:.4f}")
                win = Window(c0, r0, c1 - c0, r1 - r0)
                b = ds.bounds
                if lonmin < b.left or lonmax > b.right or latmin < b.bottom or latmax > b.top:
                    log.warning("DEM %s covers only part of lon %.4f..%.4f, lat %.4f..%.4f: window clipped",
                                p, lonmin, lonmax, latmin, latmax)
            raw = ds.read(1, window=win)
            nodata = ds.nodata
            wtr = ds.window_transform(win)
    except rasterio.errors.RasterioError as exc:
        raise DemError(f"cannot read DEM {p}: {exc}") from None
    heights = raw.astype(np.float32)
    if nodata is not None:
        heights[raw == nodata] = np.nan
    hcrs = _horizontal(crs)
    out_crs = CRS.from_wkt(hcrs.to_wkt()) if hcrs is not None else CRS.from_epsg(4326)
    if isinstance(geoid, str) and geoid.strip().lower() == "none":
        ellipsoidal = False
    if ellipsoidal:
        model = load_geoid(geoid)
        if geoid is None and crs is not None and "EGM2008" in crs.to_wkt().upper():
            log.warning("DEM %s is above EGM2008; converting with the EGM96 geoid (set Geoid to an EGM2008 "
                        "grid for exactness)", p)
        lats = wtr.f + (np.arange(heights.shape[0]) + 0.5) * wtr.e
        lons = wtr.c + (np.arange(heights.shape[1]) + 0.5) * wtr.a
        heights += model.undulation_grid(lats, lons, method=geoid_method).astype(np.float32)
    return heights, wtr.to_gdal(), out_crs
