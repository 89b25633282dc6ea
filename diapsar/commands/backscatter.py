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
    add_speckle_arguments(parser)


def run(args) -> int:
    from ..backscatter import backscatter
    from ..io.safe import open_product

    if args.dem is not None:
        if args.speckle != "none" or args.multitemporal or args.decomposition:
            from ..errors import ConfigError

            raise ConfigError("--speckle, --multitemporal and --decomposition work on radar-geometry outputs: "
                              "run them without --dem")
        return _run_terrain(args)
    args.ml = tuple(args.ml or (1, 1))
    args.lut = args.lut or "sigma0"
    ml_rg, ml_az = args.ml
    speckle_plan = check_speckle_options(args)  # before anything is written: one line and exit on bad input
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
                speckle_plan.after_image(product, path, sw, res.tif)
    speckle_plan.after_all()
    return 0


# ---------------------------------------------------------------------------------------------------------
# speckle filtering and polarimetry (issue 14): diapsar.speckle, diapsar.polarimetry

SPECKLE_FILTERS = ("none", "boxcar", "lee", "refined-lee")  # diapsar.speckle.FILTERS (not imported: numba)


def add_speckle_arguments(parser) -> None:
    g = parser.add_argument_group(
        "speckle filtering and polarimetry",
        "--speckle: Lee (1980), refined Lee (Lee et al. 1999, edge-aligned windows, 7x7 as SNAP) or boxcar\n"
        "filter of the linear power of each image written, as <image>_<filter><N>.tif beside it; NaN (no\n"
        "data) stays NaN and is left out of the windows.\n"
        "--multitemporal: Quegan & Yu (2001) filter of the calibrated images of the dates given (not of\n"
        "their --speckle versions; co-registered products: same track, swath, size and grid), written as\n"
        "<image>_mt<N>.tif beside each date's image; --speckle-window sets its local means.\n"
        "--decomposition h-a-alpha: dual-pol (VV+VH or HH+HV) SLC entropy, anisotropy, alpha (degrees)\n"
        "on the -ml grid, C2 averaged over --window N: <product>_<swath>_VVVH_h-a-alpha.tif.")
    g.add_argument("--speckle", default="none", choices=SPECKLE_FILTERS, help="single-date speckle filter")
    g.add_argument("--speckle-window", type=int, default=7, metavar="N",
                   help="window of the speckle filters (odd; default 7)")
    g.add_argument("--speckle-looks", type=float, default=None, metavar="ENL",
                   help="equivalent number of looks of the calibrated image (default: ML_RG x ML_AZ for SLC, "
                        "4.4 x that for IW GRDH)")
    g.add_argument("--multitemporal", action="store_true",
                   help="Quegan & Yu multi-temporal filter over the co-registered PRODUCTs (dates)")
    g.add_argument("--decomposition", default=None, choices=("h-a-alpha",),
                   help="dual-pol decomposition of SLC products (VV+VH or HH+HV)")
    g.add_argument("--window", type=int, default=5, metavar="N", help="H/A/alpha averaging window (odd; default 5)")


class SpecklePlan:
    """The speckle/polarimetry options of a run, checked against every product before anything is written."""

    def __init__(self, args, looks: dict, keys: dict) -> None:
        self.args = args
        self.looks = looks  # (product path, swath) -> ENL
        self.keys = keys  # (product path, swath) -> (swath, pol) stack of --multitemporal
        self.stacks: dict = {k: [] for k in keys.values()}  # (swath, pol) -> written tifs, in product order

    def after_image(self, product, path: str, swath: str, tif) -> None:
        """Outputs made from the image ``tif`` just written: its speckle-filtered version, H/A/alpha."""
        if self.args.speckle != "none":
            from ..speckle import filter_file

            out = filter_file(tif, self.args.speckle, self.args.speckle_window, self.looks[(path, swath)],
                              self.args.ram)
            print(f"wrote {out} ({self.args.speckle} {self.args.speckle_window}x{self.args.speckle_window}, "
                  f"ENL {self.looks[(path, swath)]:g})")
        if self.args.multitemporal:
            self.stacks[self.keys[(path, swath)]].append(tif)
        if self.args.decomposition:
            from ..polarimetry import write_h_a_alpha

            ml_rg, ml_az = self.args.ml
            res = write_h_a_alpha(product, swath, self.args.out, window=self.args.window, ml_rg=ml_rg,
                                  ml_az=ml_az, lut=self.args.lut, ram_mb=self.args.ram)
            print(f"wrote {res.tif} ({res.shape[0]} x {res.shape[1]}, H/A/alpha of "
                  f"{'+'.join(res.polarisations)}, window {self.args.window})")

    def after_all(self) -> None:
        if not self.args.multitemporal:
            return
        from ..speckle import multitemporal_files

        for tifs in self.stacks.values():
            for out in multitemporal_files(tifs, self.args.speckle_window, self.args.ram):
                print(f"wrote {out} (multi-temporal filter over {len(tifs)} dates)")


def check_speckle_options(args) -> SpecklePlan:
    """Options and products checked up front (ConfigError / SelectionError / ProductError: one line)."""
    from ..deburst import deburst_layout
    from ..io.safe import open_product
    from ..speckle import StackEntry, check, check_stack, default_looks

    check(args.speckle, args.speckle_window, args.speckle_looks)
    if args.multitemporal:
        check("boxcar", args.speckle_window)
    if args.decomposition:
        from ..polarimetry import check_window, dual_pol_pair

        check_window(args.window)
    if args.speckle == "none" and not args.multitemporal and not args.decomposition:
        return SpecklePlan(args, {}, {})  # nothing asked: the products are not opened twice
    ml_rg, ml_az = args.ml
    looks: dict = {}
    stacks: dict = {}
    keys: dict = {}
    for path in args.products:
        with open_product(path) as product:
            swaths = [s.upper() for s in args.swath] if args.swath else product.swaths
            for sw in swaths:
                meta = product.swath(sw, args.pol)
                if args.speckle != "none":
                    looks[(path, sw)] = args.speckle_looks or default_looks(meta.product_type, meta.product_name,
                                                                           ml_rg, ml_az)
                if args.decomposition:
                    dual_pol_pair(product, sw)
                if args.multitemporal:
                    layout = deburst_layout(meta) if meta.is_tops else None
                    rows = (layout.lines if layout is not None else meta.number_of_lines) // ml_az
                    t0 = layout.first_azimuth_time_s if layout is not None else meta.first_line_time_s
                    entry = StackEntry(meta.product_name, meta.relative_orbit, meta.swath, meta.polarisation,
                                       (rows, meta.number_of_samples // ml_rg), meta.slant_range_time_s,
                                       ml_rg / meta.range_sampling_rate_hz, t0 - meta.ascending_node_time_s,
                                       ml_az * meta.azimuth_time_interval_s)
                    keys[(path, sw)] = (meta.swath, meta.polarisation)
                    stacks.setdefault((meta.swath, meta.polarisation), []).append(entry)
    if args.multitemporal:
        for entries in stacks.values():
            check_stack(entries)
    return SpecklePlan(args, looks, keys)


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
