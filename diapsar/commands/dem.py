"""``diapsar dem``: assemble the DEM tiles covering a lon/lat box into one VRT."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "dem"
HELP = "assemble local DEM tiles (SRTM .hgt/.hgt.zip, GeoTIFF) covering a lon/lat box or a product into a VRT"
DESCRIPTION = """\
Assemble the DEM tiles of a local folder that cover a lon/lat box, or the footprint of a Sentinel-1 product
(--product), plus a margin, into one GDAL VRT (--out FILE.vrt, or a folder that receives dem_scene.vrt).

Tiles: SRTM .hgt and .hgt.zip (any name starting with the cell code, e.g. N38W029.SRTMGL3.hgt.zip), GeoTIFF
(e.g. Copernicus_DSM_COG_10_N38_00_W029_00_DEM.tif) and other georeferenced rasters. With --tile-index the
tiles are chosen through a footprint vector file (DiapOTB srtm.shp with attribute FILE, or an S1Tiling-style
GeoPackage with an id field). Tile paths in the VRT are absolute. Heights are those of the tiles (SRTM: above
the EGM96 geoid); diapsar adds the geoid when it reads the DEM.

Missing 1-degree cells stop the command with their names, unless --fill-sea fills them with 0 m (sea): the
zero tiles are written in <out stem>_sea/ beside the VRT.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tiles", required=True, metavar="DIR", help="folder of DEM tiles (searched recursively)")
    area = parser.add_mutually_exclusive_group(required=True)
    area.add_argument("--bbox", nargs=4, type=float,
                      metavar=("LONMIN", "LATMIN", "LONMAX", "LATMAX"), help="area in degrees (WGS84)")
    area.add_argument("--product", metavar="PRODUCT",
                      help="area = footprint of this product (SAFE folder, zip, measurement TIFF or annotation XML)")
    parser.add_argument("--margin", type=float, default=0.05, metavar="DEG",
                        help="margin added around the box, degrees (default 0.05)")
    parser.add_argument("--tile-index", metavar="FILE",
                        help="footprint vector file of the tiles (shapefile, GeoPackage)")
    parser.add_argument("--index-field", metavar="NAME",
                        help="attribute holding the tile file name (default: FILE, else the first *id* field)")
    parser.add_argument("--fill-sea", action="store_true", help="fill missing cells with 0 m instead of failing")
    parser.add_argument("--out", required=True, metavar="FILE.vrt|DIR",
                        help="VRT to write, or a folder that receives dem_scene.vrt")


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import rasterio

    from ..io.dem import build_scene_dem, read_dem

    area, bbox = _area(args)
    out_path = Path(args.out)
    if out_path.suffix.lower() != ".vrt":
        out_path = out_path / "dem_scene.vrt"
    out = build_scene_dem(args.tiles, area, out_path, margin_deg=args.margin,
                          tile_index=args.tile_index, fill_missing=args.fill_sea, index_field=args.index_field)
    with rasterio.open(out) as ds:
        names = [_tile_name(f) for f in ds.files[1:]]
        b = ds.bounds
        size = f"{ds.width} x {ds.height}"
    heights, _, _ = read_dem(out, bbox, ellipsoidal=False)
    sea = [n for n in names if n.endswith("_sea.tif")]
    real = [n for n in names if not n.endswith("_sea.tif")]
    print(f"wrote {Path(out)}: {size} pixels, lon {b.left:.5f}..{b.right:.5f}, lat {b.bottom:.5f}..{b.top:.5f}")
    print(f"tiles ({len(real)}): {', '.join(real) if real else 'none'}")
    if sea:
        print(f"filled with 0 m (sea) ({len(sea)}): {', '.join(sea)}")
    valid = heights[np.isfinite(heights)]
    if valid.size:
        print(f"heights in the area's box (above the DEM's datum): {valid.min():.1f} .. {valid.max():.1f} m")
    return 0


def _area(args: argparse.Namespace):
    """(area for the tile selection, lon/lat box) from --bbox or from the footprint of --product."""
    if args.bbox is not None:
        return tuple(args.bbox), tuple(args.bbox)
    from shapely import wkt

    from ..errors import ProductError
    from ..io.safe import open_product

    with open_product(args.product) as product:
        text = product.footprint_wkt
    if not text:
        raise ProductError(f"{args.product}: the product has no footprint (no geolocation grid, no manifest "
                           "footprint); give --bbox instead")
    geom = wkt.loads(text)
    return geom, geom.bounds


def _tile_name(gdal_file: str) -> str:
    """File name of a VRT source: the zip for ``/vsizip/.../X.zip/member``."""
    if gdal_file.startswith("/vsizip/") and ".zip/" in gdal_file.lower():
        cut = gdal_file.lower().rindex(".zip/") + 4
        return Path(gdal_file[len("/vsizip/"):cut]).name
    return Path(gdal_file).name
