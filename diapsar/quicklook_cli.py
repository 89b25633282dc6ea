"""``QuickMlView.py -in IMAGE -ml RG AZ``: the command line of the quicklook engine (``diapsar.quicklook``).

Only argument parsing, defaults, messages and exit codes live here; reading, multilooking within the
``-ram`` budget, stretching and figure composition are the engine's.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from .cli import OneLineArgumentParser
from .errors import ConfigError, SelectionError
from .quicklook import (
    ImageSource,
    annotation_spacing,
    auto_what,
    band_roles,
    check_ml,
    dates_text,
    gcp_pixel_spacing,
    looks_text,
    multilook_image,
    open_raster,
    pair_dates,
    render,
    resolve_image,
    s1_mode,
    uninformative,
)

# Default multilook factors (range, azimuth) by Sentinel-1 mode: roughly square ground cells.
# IW: 2.33 m slant range spacing (~3.3-4.2 m on ground at 34-46 deg incidence) x 13.9 m azimuth spacing
# (annotation rangePixelSpacing / azimuthPixelSpacing of the IW products in the shared test data).
DEFAULT_ML = {"iw": (20, 4), "ew": (6, 4), "sm": (8, 8), "wv": (4, 4)}
# Longest side (pixels) of a quicklook when no multilook factors are given for a non-SLC raster.
AUTO_MAX_SIZE = 2000


def build_parser(prog: str = "QuickMlView.py") -> argparse.ArgumentParser:
    p = OneLineArgumentParser(
        prog=prog, description="Multilook an image (SLC, interferogram, ortho product, any raster) and render "
        "a PNG quicklook: amplitude in dB, wrapped phase, coherence.")
    p.add_argument("-in", dest="image", required=True, metavar="IMAGE",
                   help="raster file, SAFE folder or zip (one measurement), or a path inside a SAFE zip")
    p.add_argument("-ml", nargs=2, metavar=("RG", "AZ"), type=str, default=None,
                   help="multilook factors in range (columns) and azimuth (rows); default by Sentinel-1 mode "
                   f"(IW 20 4, EW 6 4, SM 8 8), else 1 1 up to {AUTO_MAX_SIZE} px")
    p.add_argument("-out", dest="out", default=None, metavar="FILE.png",
                   help="output PNG (default: <image name>_ml<RG>x<AZ>.png in the current folder)")
    p.add_argument("--band", type=str, default=None, metavar="N", help="render band N (1-based) only")
    p.add_argument("--db", action="store_true", help="show a real band in dB (amplitude is always in dB)")
    p.add_argument("--geotiff", action="store_true",
                   help="also write the multilooked values as float32 GeoTIFF beside the PNG")
    p.add_argument("-ram", type=float, default=512.0, metavar="MB", help="memory budget in MB (default 512)")
    p.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    return p


def _parse_int(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"{what} must be an integer (got {text!r})") from None


def _default_ml(src: ImageSource, kind_hint: str, shape: tuple[int, int]) -> tuple[int, int]:
    mode = s1_mode(src.stem)
    if kind_hint == "slc" and mode in DEFAULT_ML:
        return DEFAULT_ML[mode]
    k = max(1, math.ceil(max(shape) / AUTO_MAX_SIZE))
    return k, k


def run(args: argparse.Namespace) -> int:
    src = resolve_image(args.image)
    band = _parse_int(args.band, "--band") if args.band is not None else None
    if band is not None and band < 1:
        raise SelectionError(f"band {band} is out of range: bands count from 1")
    if args.ram <= 0:
        raise ConfigError(f"-ram must be positive (got {args.ram})")
    with open_raster(src.gdal_path, src.display) as ds:
        is_complex = "complex" in ds.dtypes[0]
        shape = (ds.height, ds.width)
        roles = band_roles(ds.count, ds.descriptions, is_complex)
        gcp_spacing = gcp_pixel_spacing(*ds.gcps) if ds.transform.is_identity else None
    if band is not None and band > len(roles):
        raise SelectionError(f"band {band} is out of range: {src.display} has {len(roles)} band(s)")
    if args.ml is None:
        ml_rg, ml_az = _default_ml(src, "slc" if is_complex else "raster", shape)
    else:
        ml_rg, ml_az = (_parse_int(args.ml[0], "-ml RG"), _parse_int(args.ml[1], "-ml AZ"))
        check_ml(ml_rg, ml_az)
    if args.out:
        out_png = Path(args.out)
        if out_png.suffix.lower() != ".png":
            raise ConfigError(f"-out must name a .png file (got {args.out})")
    else:
        out_png = Path.cwd() / f"{src.stem}_ml{ml_rg}x{ml_az}{f'_band{band}' if band else ''}.png"
    spacing = annotation_spacing(src)
    aspect = None  # from the GCPs, if any
    if spacing:
        g_rg = spacing["ground_range_spacing_m"] * ml_rg
        g_az = spacing["azimuth_spacing_m"] * ml_az
        aspect = g_az / g_rg
        print(f"ground cell about {g_rg:.0f} m (range) x {g_az:.0f} m (azimuth) "
              f"at {spacing['incidence_deg']:.1f} deg incidence")
    elif gcp_spacing is not None:
        g_c, g_r = gcp_spacing[0] * ml_rg, gcp_spacing[1] * ml_az
        print(f"ground cell about {g_c:.0f} m (columns) x {g_r:.0f} m (rows), from the image's GCPs")
    tif = out_png.with_suffix(".tif") if args.geotiff else None
    mlk = multilook_image(src, ml_rg, ml_az, band=band, ram_mb=args.ram, for_display=True, sar_aspect=aspect,
                          geotiff=tif)
    what = "auto"
    if band is not None:
        what = "amplitude" if is_complex else roles[band - 1]
        if what not in ("amplitude", "phase", "coherence", "isdata"):
            what = "value"
    shown = auto_what(mlk) if what == "auto" else what
    name = PurePosixPath(src.display).name
    head = f"{name}  ({shown}{f', band {band}' if band else ''})"
    dates = dates_text(pair_dates(mlk.tags, src.display if not src.display.startswith("/vsi") else None))
    render(mlk, out_png, what=shown, title=head + (f"  ·  {dates}" if dates else "") + f"\n{looks_text(mlk)}",
           db=args.db)
    empty = uninformative(mlk, shown)
    if empty:  # a valid input, only an uninformative one: say it once, exit 0
        print(f"{args.prog}: warning: {name}: {empty}: the quicklook shows nothing", file=sys.stderr)
    ml_r, ml_c = mlk.ml_shape
    shown_note = "" if mlk.reduction == (1, 1) else f", shown averaged to {mlk.shape[1]} x {mlk.shape[0]}"
    total = "" if mlk.source_ml == (1, 1) else f", {mlk.total_ml[0]} x {mlk.total_ml[1]} looks of the SLC"
    print(f"wrote {out_png} ({shown}, {ml_c} x {ml_r} cells from {mlk.source_shape[1]} x "
          f"{mlk.source_shape[0]} pixels (samples x lines), ML {ml_rg} x {ml_az}{total}{shown_note})")
    if tif is not None:
        print(f"wrote {tif} (float32, {ml_c} x {ml_r}, bands: {', '.join(mlk.bands)})")
    return 0


def main(argv: Sequence[str] | None = None, prog: str = "QuickMlView.py") -> int:
    from .cli import guarded

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    args.prog = prog
    return guarded(prog, lambda: run(args), debug=args.debug)
