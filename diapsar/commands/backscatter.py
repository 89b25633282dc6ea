"""``diapsar backscatter PRODUCT... --out DIR``: calibrated (sigma0/beta0/gamma0) backscatter in radar geometry."""

from __future__ import annotations

NAME = "backscatter"
HELP = "radiometrically calibrated backscatter (sigma0, beta0, gamma0) in radar geometry, thermal noise removed"
DESCRIPTION = (
    "Calibrate Sentinel-1 images to sigma0, beta0 or gamma0 with the annotated calibration LUTs, after\n"
    "removing the thermal noise (range x azimuth noise vectors, IPF >= 2.9; range vectors only before),\n"
    "both interpolated bilinearly in line and pixel (ESA's Sentinel-1 Level-1 calibration note).\n"
    "TOPS (IW/EW) swaths are debursted; -ml RG AZ averages the power over RG x AZ pixels.\n\n"
    "Writes <DIR>/<product>_<swath>_<pol>_<lut>[_db].tif (float32, NaN = no data, band description and\n"
    "unit set) and a PNG quicklook beside it. Noise-subtracted values below -50 dB (1e-5) are set to 1e-5.\n"
    "No terrain correction yet: the output is in radar geometry (slant range for SLC, ground range for GRD)."
)


def add_arguments(parser) -> None:
    parser.add_argument("products", nargs="+", metavar="PRODUCT", help="SAFE folder or zip")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    parser.add_argument("--swath", action="append", default=None,
                        help="swath (IW1, EW2, S3, ...; repeatable; default: every swath of the product)")
    parser.add_argument("--pol", default=None, help="polarisation (VV, VH, HH, HV; default: VV or HH)")
    parser.add_argument("--lut", default="sigma0", choices=("sigma0", "beta0", "gamma0"),
                        help="calibration LUT (default sigma0)")
    parser.add_argument("--noise", dest="noise", action="store_true", default=True,
                        help="remove the thermal noise (default)")
    parser.add_argument("--no-noise", dest="noise", action="store_false", help="keep the thermal noise")
    parser.add_argument("--db", action="store_true", help="write 10 log10 of the backscatter")
    parser.add_argument("-ml", nargs=2, type=int, default=(1, 1), metavar=("RG", "AZ"),
                        help="looks in range and azimuth (default 1 1)")
    parser.add_argument("-ram", "--ram", dest="ram", type=float, default=512.0, metavar="MB",
                        help="memory budget in MB (default 512)")
    parser.add_argument("--no-quicklook", dest="quicklook", action="store_false", help="skip the PNG")


def run(args) -> int:
    from ..backscatter import backscatter
    from ..io.safe import open_product

    ml_rg, ml_az = args.ml
    for path in args.products:
        with open_product(path) as product:
            swaths = [s.upper() for s in args.swath] if args.swath else product.swaths
            for sw in swaths:
                res = backscatter(product, sw, args.pol, args.out, lut=args.lut, remove=args.noise, db=args.db,
                                  ml_rg=ml_rg, ml_az=ml_az, ram_mb=args.ram, quicklook=args.quicklook)
                print(f"wrote {res.tif} ({res.shape[0]} x {res.shape[1]}, {res.lut}"
                      f"{', noise removed' if res.noise_removed else ''}{', dB' if res.db else ''})")
                if res.png is not None:
                    print(f"wrote {res.png}")
    return 0
