"""``diapsar crop PRODUCT --window LINE0 SAMPLE0 NLINES NSAMPLES --out DIR``: write a smaller SAFE."""

from __future__ import annotations

NAME = "crop"
HELP = "cut a window of one swath out of a Sentinel-1 product and write it as a smaller SAFE"
DESCRIPTION = (
    "Cut a window of one swath out of a Sentinel-1 product (SAFE folder, zip or measurement TIFF)\n"
    "and write it as a smaller SAFE that diapsar opens again: CInt16 measurement GeoTIFF, updated\n"
    "annotation, calibration and noise, new manifest.safe.\n\n"
    "The window is LINE0 SAMPLE0 NLINES NSAMPLES, 0-based, in the full swath image. For IW/EW the\n"
    "lines are widened to whole bursts (every burst the window touches is kept); samples are cut as\n"
    "asked. --out DIR receives <product name>.SAFE (or is the SAFE itself when it ends in .SAFE).\n"
    "Only products with pixels can be cropped."
)


def add_arguments(parser) -> None:
    parser.add_argument("product", metavar="PRODUCT", help="SAFE folder, zip or measurement TIFF")
    parser.add_argument("--window", nargs=4, type=int, required=True,
                        metavar=("LINE0", "SAMPLE0", "NLINES", "NSAMPLES"), help="window in the full swath image")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder (or .SAFE path)")
    parser.add_argument("--swath", default=None, help="swath to crop (IW1, EW2, S3, ...; default: the first)")
    parser.add_argument("--polarisation", "--pol", action="append", default=None, dest="polarisation",
                        help="polarisation to keep (repeatable; default: every polarisation with pixels)")
    parser.add_argument("--ram", type=float, default=256.0, metavar="MB", help="memory budget (default 256)")


def run(args) -> int:
    from ..io.crop import crop_product
    from ..io.safe import open_product

    line0, sample0, nlines, nsamples = args.window
    with open_product(args.product) as product:
        out = crop_product(product, args.out, line0, sample0, nlines, nsamples, swath=args.swath,
                           polarisations=args.polarisation, ram_mb=args.ram)
        cropped = open_product(out)
        m = cropped.swath()
    print(f"wrote {out}")
    print(f"  {m.swath} {', '.join(cropped.polarisations)}: {m.number_of_lines} lines x {m.number_of_samples} "
          f"samples, {len(m.bursts)} burst(s)")
    return 0
