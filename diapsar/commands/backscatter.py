"""``diapsar backscatter PRODUCT... --out DIR``: calibrated (sigma0/beta0/gamma0) backscatter in radar geometry,
or with ``--dem``, terrain-corrected (and by default terrain-flattened gamma0-RTC) on a map grid."""

from __future__ import annotations

NAME = "backscatter"
HELP = "radiometrically calibrated backscatter (sigma0, beta0, gamma0) in radar geometry, thermal noise removed"
DESCRIPTION = (
    "Calibrate Sentinel-1 images to sigma0, beta0 or gamma0 with the annotated calibration LUTs, after\n"
    "removing the thermal noise (range x azimuth noise vectors, IPF >= 2.9; range vectors only before),\n"
    "both interpolated bilinearly in line and pixel (ESA's Sentinel-1 Level-1 calibration note).\n"
    "TOPS (IW/EW) swaths are debursted; -ml RG AZ averages the power over RG x AZ pixels.\n\n"
    "Writes <DIR>/<product>_<swath>_<pol>_<lut>[_db].tif (float32, NaN = no data, band description and\n"
    "unit set) and a PNG quicklook beside it. Noise-subtracted values below -50 dB (1e-5) are set to 1e-5.\n\n"
    "With --dem FILE_OR_DIR the output is terrain corrected (range-Doppler geocoding on the DEM) on a map\n"
    "grid (--epsg, default the UTM zone of the scene; --spacing, default 20 m) as Cloud-Optimized GeoTIFFs:\n"
    "<product>_<swath>_<pol>_gamma0_rtc.tif (--flattening rtc, the default: area projection, Small 2011),\n"
    "_sigma0_kellndorfer.tif (sigma0 sin(LIA)/sin(ellipsoid incidence)) or _<lut>_geo.tif (none), with\n"
    "_angles.tif (incidence, local incidence) and _layover_shadow.tif, and a STAC Item <product>.json.\n"
    "Without --dem the output is in radar geometry (slant range for SLC, ground range for GRD)."
)


def add_arguments(parser) -> None:
    parser.add_argument("products", nargs="+", metavar="PRODUCT", help="SAFE folder or zip")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    parser.add_argument("--swath", action="append", default=None,
                        help="swath (IW1, EW2, S3, ...; repeatable; default: every swath of the product)")
    parser.add_argument("--pol", default=None, help="polarisation (VV, VH, HH, HV; default: VV or HH)")
    parser.add_argument("--lut", default=None, choices=("sigma0", "beta0", "gamma0"),
                        help="calibration LUT (default sigma0; with --dem it follows --flattening)")
    parser.add_argument("--noise", dest="noise", action="store_true", default=True,
                        help="remove the thermal noise (default)")
    parser.add_argument("--no-noise", dest="noise", action="store_false", help="keep the thermal noise")
    parser.add_argument("--db", action="store_true", help="write 10 log10 of the backscatter")
    parser.add_argument("-ml", nargs=2, type=int, default=None, metavar=("RG", "AZ"),
                        help="looks in range and azimuth (default 1 1; with --dem: about --spacing on the ground)")
    parser.add_argument("-ram", "--ram", dest="ram", type=float, default=512.0, metavar="MB",
                        help="memory budget in MB (default 512)")
    parser.add_argument("--no-quicklook", dest="quicklook", action="store_false", help="skip the PNG")
    # ---- terrain correction and flattening (diapsar.geocode_backscatter)
    t = parser.add_argument_group("terrain correction (with --dem)")
    t.add_argument("--dem", metavar="FILE_OR_DIR", default=None,
                   help="DEM raster or folder of tiles: terrain-correct onto a map grid (heights above EGM96)")
    t.add_argument("--dem-geoid", dest="dem_geoid", default=None, metavar="egm96|none|FILE",
                   help="geoid of the DEM heights (default egm96; none: the DEM holds ellipsoidal heights)")
    t.add_argument("--roi", nargs=4, type=float, default=None, metavar=("LON_MIN", "LAT_MIN", "LON_MAX", "LAT_MAX"),
                   help="limit the output to this lon/lat box")
    t.add_argument("--epsg", type=int, default=None, help="output CRS (default: UTM zone of the scene)")
    t.add_argument("--spacing", type=float, default=20.0, metavar="M", help="output pixel spacing (default 20 m)")
    t.add_argument("--flattening", default="rtc", choices=("rtc", "kellndorfer", "none"),
                   help="rtc: gamma0 by area projection (Small 2011, default); kellndorfer: "
                        "sigma0 sin(LIA)/sin(ellipsoid incidence); none: geocoded --lut")
    t.add_argument("--cosine-reference", dest="cosine_reference", type=float, default=None, metavar="DEG",
                   help="cosine normalisation to this incidence angle: value (cos(ref)/cos(theta))^n")
    t.add_argument("--cosine-exponent", dest="cosine_exponent", type=float, default=2.0, metavar="N",
                   help="exponent n of the cosine normalisation (default 2)")
    t.add_argument("--facet-oversampling", dest="oversample", type=int, default=2, metavar="K",
                   help="rtc: DEM facets per output cell and axis in the illuminated area (default 2)")


def run(args) -> int:
    from ..backscatter import backscatter
    from ..io.safe import open_product

    if args.dem is not None:
        return _run_terrain(args)
    ml_rg, ml_az = args.ml or (1, 1)
    for path in args.products:
        with open_product(path) as product:
            swaths = [s.upper() for s in args.swath] if args.swath else product.swaths
            for sw in swaths:
                res = backscatter(product, sw, args.pol, args.out, lut=args.lut or "sigma0", remove=args.noise,
                                  db=args.db, ml_rg=ml_rg, ml_az=ml_az, ram_mb=args.ram, quicklook=args.quicklook)
                print(f"wrote {res.tif} ({res.shape[0]} x {res.shape[1]}, {res.lut}"
                      f"{', noise removed' if res.noise_removed else ''}{', dB' if res.db else ''})")
                if res.png is not None:
                    print(f"wrote {res.png}")
    return 0


def _run_terrain(args) -> int:
    """--dem: terrain-corrected outputs and one STAC Item per product."""
    from pathlib import Path

    from ..geocode_backscatter import TerrainOptions, check_options, product_item, terrain_backscatter
    from ..io.safe import open_product

    opts = TerrainOptions(dem=Path(args.dem), epsg=args.epsg, spacing_m=args.spacing, flattening=args.flattening,
                          cosine_reference_deg=args.cosine_reference, cosine_exponent=args.cosine_exponent,
                          oversample=args.oversample, geoid=args.dem_geoid,
                          roi=tuple(args.roi) if args.roi else None)
    check_options(opts, args.lut)  # before any product is opened or anything written
    for path in args.products:
        with open_product(path) as product:
            swaths = [s.upper() for s in args.swath] if args.swath else product.swaths
            results = []
            for sw in swaths:
                res = terrain_backscatter(product, sw, args.pol, args.out, opts, lut=args.lut, remove=args.noise,
                                          db=args.db, looks=tuple(args.ml) if args.ml else None, ram_mb=args.ram,
                                          quicklook=args.quicklook)
                results.append(res)
                g = res.grid
                print(f"wrote {res.tif} ({g.height} x {g.width}, EPSG:{g.epsg}, {g.transform[1]:g} m, "
                      f"{res.quantity}{', dB' if res.db else ''}, radar looks {res.looks[0]} x {res.looks[1]})")
                print(f"wrote {res.angles}")
                print(f"wrote {res.mask}")
                if res.png is not None:
                    print(f"wrote {res.png}")
            print(f"wrote {product_item(product, results, args.out)}")
    return 0
