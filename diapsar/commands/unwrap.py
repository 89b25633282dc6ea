"""``diapsar unwrap PAIRDIR_OR_INTERFEROGRAM``: SNAPHU phase unwrapping and LOS displacement."""

from __future__ import annotations

import argparse

NAME = "unwrap"
HELP = "unwrap an interferogram with SNAPHU and convert it to line-of-sight displacement (mm)"
DESCRIPTION = (
    "Unwrap the phase of a diapsar interferogram with SNAPHU (statistical cost, 'defo' or 'smooth') and\n"
    "convert it to line-of-sight displacement.\n\n"
    "PAIRDIR_OR_INTERFEROGRAM: a pair folder <out>/<M>_m_<S>_s/ (uses interferogram.tif, or\n"
    "interferogram_filtered.tif with --filtered or when the pair's filtering was on; pair.json gets an\n"
    "'unwrapping' object) or a 4-band interferogram GeoTIFF (outputs written beside it).\n\n"
    "Outputs: unwrapped.tif (same grid and GCPs; float32 bands unwrapped_phase [rad], displacement_los_mm\n"
    "[mm], connected_component [0 = not unwrapped, 1 = largest]; NaN where not unwrapped) and\n"
    "quicklook_displacement.png. Pixels with isData = 0 or coherence below the threshold are not unwrapped.\n"
    "The phase is referenced to a point: --reference-lonlat, --reference-pixel, or automatically the centre\n"
    "of the 9 x 9 window of highest mean coherence of the largest connected component.\n"
    "displacement_los_mm = -wavelength/(4 pi) * unwrapped_phase * 1000 for phase = arg(master * conj(slave)):\n"
    "positive towards the satellite. Wavelength: pair.json / tags, else Sentinel-1 (0.05546576 m).\n\n"
    "Large images are cut into tiles unwrapped by several SNAPHU processes; each tile's 2 pi ambiguity is\n"
    "resolved against a coarse (4 x 4 multilooked) unwrapped copy. --tiles 1 1 = one SNAPHU run."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", metavar="PAIRDIR_OR_INTERFEROGRAM", help="pair folder or interferogram GeoTIFF")
    parser.add_argument("--method", choices=("defo", "smooth"), default="defo",
                        help="SNAPHU statistical cost mode (default: defo)")
    parser.add_argument("--coherence-threshold", type=float, default=0.3, metavar="C",
                        help="pixels below this coherence are not unwrapped (default: 0.3)")
    ref = parser.add_mutually_exclusive_group()
    ref.add_argument("--reference-lonlat", type=float, nargs=2, metavar=("LON", "LAT"),
                     help="reference point in degrees (through the interferogram's GCPs)")
    ref.add_argument("--reference-pixel", type=int, nargs=2, metavar=("LINE", "SAMPLE"),
                     help="reference point as 0-based line and sample of the interferogram")
    parser.add_argument("--tiles", type=int, nargs=2, metavar=("R", "C"),
                        help="tiles in rows and columns (default: automatic; 1 1 = one SNAPHU run)")
    parser.add_argument("--tile-overlap", type=int, default=32, metavar="N",
                        help="overlap of neighbouring tiles in pixels (default: 32)")
    parser.add_argument("--workers", type=int, default=2, metavar="N",
                        help="concurrent SNAPHU processes (default: 2)")
    parser.add_argument("-ram", "--ram", type=float, default=2000.0, metavar="MB", dest="ram",
                        help="memory budget in MB for the SNAPHU processes (default: 2000)")
    parser.add_argument("--nlooks", type=float, metavar="N",
                        help="equivalent number of looks of the coherence (default: from the ML factors)")
    parser.add_argument("--filtered", action="store_true",
                        help="on a pair folder: unwrap interferogram_filtered.tif")
    parser.add_argument("--no-quicklook", action="store_true", help="do not write quicklook_displacement.png")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..errors import ProductError
    from ..unwrap import UnwrapOptions, unwrap_interferogram, unwrap_pair

    target = Path(args.target)
    options = UnwrapOptions(
        method=args.method, coherence_threshold=args.coherence_threshold,
        reference_lonlat=tuple(args.reference_lonlat) if args.reference_lonlat else None,
        reference_pixel=tuple(args.reference_pixel) if args.reference_pixel else None,
        tiles=tuple(args.tiles) if args.tiles else None, tile_overlap=args.tile_overlap, workers=args.workers,
        ram_mb=args.ram, filtered=True if args.filtered else None, nlooks=args.nlooks,
        quicklook=not args.no_quicklook)
    options.check()
    if target.is_dir():
        rec = unwrap_pair(target, options)
        out = target
    elif target.is_file():
        if args.filtered:
            raise ProductError("--filtered applies to a pair folder; give the filtered interferogram itself")
        rec = unwrap_interferogram(target, options)
        out = target.parent
    else:
        raise ProductError(f"{target} does not exist")
    ref = rec["reference_point"]
    where = f"line {ref['line']}, sample {ref['sample']}"
    if ref["lon"] is not None:
        where += f" (lon {ref['lon']:.5f}, lat {ref['lat']:.5f})"
    print(f"wrote {out / rec['product']}" + (f" and {out / rec['quicklook']}" if rec["quicklook"] else ""))
    print(f"{rec['method']}: {100 * rec['fraction_unwrapped']:.1f}% unwrapped in {rec['connected_components']} "
          f"connected component(s), reference {where}, {rec['timings_s']['total']:.1f} s")
    return 0
