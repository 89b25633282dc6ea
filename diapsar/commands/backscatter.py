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
    "With several swaths they share one CRS and lattice and are also mosaicked into <product>_<pol>_<...>.tif\n"
    "(and _angles, _layover_shadow): a cell comes from the swath with data whose incidence-angle range has it\n"
    "farthest from its edge (overlaps cut at their middle); the STAC Item describes the mosaic.\n"
    "Without --dem the output is in radar geometry (slant range for SLC, ground range for GRD).\n\n"
    "--orbit FILE: that orbit file must cover the acquisition (else an error); --orbit DIR: the best covering\n"
    "file in it (POEORB before RESORB), else the annotation's state vectors with a warning. The source is\n"
    "written in the ORBIT tag and the STAC Item (diapsar:orbit).\n"
    "--config FILE.json: every option as a key (dashes as underscores, plus \"products\"), validated by\n"
    "config/backscatter.schema.json (example: config/backscatter_example.json); flags override the keys."
)


def add_arguments(parser) -> None:
    # every default is None here: the value comes from the flag, else the --config key, else the schema default
    # (diapsar/data/backscatter.schema.json, the one place a default is written)
    parser.add_argument("products", nargs="*", metavar="PRODUCT", help="SAFE folder or zip (or \"products\" in --config)")
    parser.add_argument("--config", metavar="FILE.json", default=None,
                        help="JSON configuration (keys: the options below, dashes as underscores, and \"products\"; "
                             "schema config/backscatter.schema.json); flags given here override its keys")
    parser.add_argument("--out", default=None, metavar="DIR", help="output folder (required here or in --config)")
    parser.add_argument("--swath", action="append", default=None,
                        help="swath (IW1, EW2, S3, ...; repeatable; default: every swath of the product)")
    parser.add_argument("--pol", default=None, help="polarisation (VV, VH, HH, HV; default: VV or HH)")
    parser.add_argument("--lut", default=None, choices=("sigma0", "beta0", "gamma0"),
                        help="calibration LUT (default sigma0; with --dem it follows --flattening)")
    parser.add_argument("--noise", dest="noise", action="store_true", default=None,
                        help="remove the thermal noise (default)")
    parser.add_argument("--no-noise", dest="noise", action="store_false", help="keep the thermal noise")
    parser.add_argument("--db", action="store_true", default=None, help="write 10 log10 of the backscatter")
    parser.add_argument("-ml", nargs=2, type=int, default=None, metavar=("RG", "AZ"),
                        help="looks in range and azimuth (default 1 1; with --dem: about --spacing on the ground)")
    parser.add_argument("--workers", type=int, default=None, metavar="N",
                        help="with --dem: swaths side by side in N processes (-ram and the threads split between "
                             "them; same bytes; default 1)")
    parser.add_argument("-ram", "--ram", dest="ram", type=float, default=None, metavar="MB",
                        help="memory budget in MB (default 512)")
    parser.add_argument("--no-quicklook", dest="quicklook", action="store_false", default=None, help="skip the PNG")
    parser.add_argument("--compress", default=None, choices=("deflate", "zstd", "none"),
                        help="codec of the radar-geometry GeoTIFFs (default deflate, any reader; zstd: same size, "
                             "about 5x faster to write, GDAL >= 2.3)")
    parser.add_argument("--orbit", metavar="FILE_OR_DIR", default=None,
                        help="orbit file (*.EOF, POEORB/RESORB), which must cover the acquisition, or a folder of "
                             "them (the best covering one; none: the annotation's vectors, with a warning); "
                             "default: the annotation's state vectors. Recorded in the tags (ORBIT) and STAC Item")
    # ---- terrain correction and flattening (diapsar.geocode_backscatter)
    t = parser.add_argument_group("terrain correction (with --dem)")
    t.add_argument("--dem", metavar="FILE_OR_DIR", default=None,
                   help="DEM raster or folder of tiles: terrain-correct onto a map grid (heights above EGM96)")
    t.add_argument("--dem-geoid", dest="dem_geoid", default=None, metavar="egm96|none|FILE",
                   help="geoid of the DEM heights (default egm96; none: the DEM holds ellipsoidal heights)")
    t.add_argument("--roi", nargs=4, type=float, default=None, metavar=("LON_MIN", "LAT_MIN", "LON_MAX", "LAT_MAX"),
                   help="limit the output to this lon/lat box")
    t.add_argument("--epsg", type=int, default=None, help="output CRS (default: UTM zone of the scene)")
    t.add_argument("--spacing", type=float, default=None, metavar="M", help="output pixel spacing (default 20 m)")
    t.add_argument("--flattening", default=None, choices=("rtc", "kellndorfer", "none"),
                   help="rtc: gamma0 by area projection (Small 2011, default); kellndorfer: "
                        "sigma0 sin(LIA)/sin(ellipsoid incidence); none: geocoded --lut")
    t.add_argument("--cosine-reference", dest="cosine_reference", type=float, default=None, metavar="DEG",
                   help="cosine normalisation to this incidence angle: value (cos(ref)/cos(theta))^n")
    t.add_argument("--cosine-exponent", dest="cosine_exponent", type=float, default=None, metavar="N",
                   help="exponent n of the cosine normalisation (default 2)")
    t.add_argument("--facet-oversampling", dest="facet_oversampling", type=int, default=None, metavar="K",
                   help="rtc: DEM facets per output cell and axis in the illuminated area (default 2)")
    add_speckle_arguments(parser)


# ---------------------------------------------------------------------------------------------------------
# --config: JSON file validated by diapsar/data/backscatter.schema.json (as the SAR_MultiSlc chain's)

SCHEMA_NAME = "backscatter.schema.json"
PATH_KEYS = ("products", "out", "orbit", "dem", "dem_geoid")  # relative paths: from the configuration's folder


def load_schema() -> dict:
    """The JSON Schema of the backscatter configuration (shipped in diapsar/data)."""
    import json
    from pathlib import Path

    from ..errors import ConfigError

    path = Path(__file__).resolve().parents[1] / "data" / SCHEMA_NAME
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except OSError as exc:
        raise ConfigError(f"configuration schema {path} not found: {exc.strerror or exc}") from None


def validate_config(raw) -> None:
    """ConfigError (one line naming the key) for the first problem of a configuration dict; the messages of
    the SAR_MultiSlc configuration (``diapsar.config``)."""
    from ..config import first_schema_error, schema_error_message
    from ..errors import ConfigError

    if not isinstance(raw, dict):
        raise ConfigError("the top level of the configuration must be a JSON object")
    error = first_schema_error(load_schema(), raw)
    if error is not None:
        raise ConfigError(schema_error_message(error))


def read_config(path) -> tuple[dict, object]:
    """(validated configuration dict, folder its relative paths are taken from) of a JSON file."""
    import json
    from pathlib import Path

    from ..errors import ConfigError

    p = Path(path)
    try:
        raw = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"configuration file {p} not found") from None
    except OSError as exc:
        raise ConfigError(f"configuration file {p} cannot be read: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        where = f" at line {exc.lineno} column {exc.colno}: {exc.msg}" if isinstance(exc, json.JSONDecodeError) \
            else f": {exc}"
        raise ConfigError(f"configuration file {p}: invalid JSON{where}") from None
    try:
        validate_config(raw)
    except ConfigError as exc:
        raise ConfigError(f"{p.name}: {exc}") from None
    return raw, p.resolve().parent


def _from_base(key: str, value, base):
    """A path value of the configuration, relative to ``base``."""
    from pathlib import Path

    if value is None or (key == "dem_geoid" and str(value).lower() in ("egm96", "none")):
        return value
    if key == "products":
        return [_from_base("out", v, base) for v in value]
    q = Path(str(value)).expanduser()
    return str(q if q.is_absolute() else Path(base) / q)


def resolve_options(args):
    """``args`` with every option set: the flag when given, else the --config key, else the schema default;
    the merged values are validated against the schema (ConfigError, one line naming the key)."""
    import copy

    from ..errors import ConfigError

    cfg, base = read_config(args.config) if getattr(args, "config", None) else ({}, None)
    merged = {}
    for key, node in load_schema()["properties"].items():
        flag = getattr(args, key, None)
        if flag is not None and flag != []:
            merged[key] = list(flag) if isinstance(flag, tuple | list) else flag
        elif key in cfg:
            merged[key] = _from_base(key, cfg[key], base) if key in PATH_KEYS else cfg[key]
        elif "default" in node:
            merged[key] = copy.deepcopy(node["default"])
    if not merged.get("products"):
        raise ConfigError("no PRODUCT given (command line, or \"products\" in --config)")
    if not merged.get("out"):
        raise ConfigError("no output folder: give --out DIR (or \"out\" in --config)")
    try:
        validate_config(merged)
    except ConfigError as exc:
        raise ConfigError(f"{exc} (command-line flag or --config key)") from None
    for key, value in merged.items():
        setattr(args, key, value)
    if isinstance(args.swath, str):
        args.swath = [args.swath]
    args.ml = tuple(args.ml) if args.ml else None
    args.roi = tuple(args.roi) if args.roi else None
    return args


def resolve_orbits(args, plan: dict | None = None) -> dict:
    """(product path, swath) -> Orbit of every image of the run (``plan``: product path -> swaths; default: the
    --swath list or every swath), found before anything is written (OrbitError: one line; a folder without a
    covering file: the annotation's vectors, warned)."""
    from ..geocode_backscatter import resolve_orbit
    from ..io.safe import open_product

    orbits: dict = {}
    for path in args.products:
        with open_product(path) as product:
            swaths = plan[path] if plan is not None else \
                [s.upper() for s in args.swath] if args.swath else product.swaths
            for sw in swaths:
                orbits[(path, sw)] = resolve_orbit(product.swath(sw, args.pol), args.orbit)
    return orbits


def run(args) -> int:
    from ..backscatter import backscatter
    from ..io.safe import open_product

    args = resolve_options(args)
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
    orbits = resolve_orbits(args) if args.orbit is not None else {}
    for path in args.products:
        with open_product(path) as product:
            swaths = [s.upper() for s in args.swath] if args.swath else product.swaths
            for sw in swaths:
                tags = {"ORBIT": orbits[(path, sw)].source} if orbits else None
                res = backscatter(product, sw, args.pol, args.out, lut=args.lut or "sigma0", remove=args.noise,
                                  db=args.db, ml_rg=ml_rg, ml_az=ml_az, ram_mb=args.ram, quicklook=args.quicklook,
                                  compress=args.compress, extra_tags=tags)
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
    g.add_argument("--speckle", default=None, choices=SPECKLE_FILTERS, help="single-date speckle filter (default none)")
    g.add_argument("--speckle-window", type=int, default=None, metavar="N",
                   help="window of the speckle filters (odd; default 7)")
    g.add_argument("--speckle-looks", type=float, default=None, metavar="ENL",
                   help="equivalent number of looks of the calibrated image (default: ML_RG x ML_AZ for SLC, "
                        "4.4 x that for IW GRDH)")
    g.add_argument("--multitemporal", action="store_true", default=None,
                   help="Quegan & Yu multi-temporal filter over the co-registered PRODUCTs (dates)")
    g.add_argument("--decomposition", default=None, choices=("h-a-alpha",),
                   help="dual-pol decomposition of SLC products (VV+VH or HH+HV)")
    g.add_argument("--window", type=int, default=None, metavar="N", help="H/A/alpha averaging window (odd; default 5)")


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
    """--dem: terrain-corrected outputs, per swath and (several swaths) mosaicked, and one STAC Item per
    product."""
    from dataclasses import replace
    from pathlib import Path

    from shapely.geometry import box

    from ..errors import SelectionError
    from ..geocode_backscatter import (
        TerrainOptions,
        check_options,
        mosaic_swaths,
        product_epsg,
        product_item,
        scene_footprint,
        terrain_swaths,
    )
    from ..io.safe import open_product

    opts = TerrainOptions(dem=Path(args.dem), epsg=args.epsg, spacing_m=args.spacing, flattening=args.flattening,
                          cosine_reference_deg=args.cosine_reference, cosine_exponent=args.cosine_exponent,
                          oversample=args.facet_oversampling, geoid=args.dem_geoid, roi=args.roi,
                          orbit=Path(args.orbit) if args.orbit else None)
    check_options(opts, args.lut)  # before any product is opened or anything written
    plan = {}
    for path in args.products:  # swaths of each product (without --swath: those meeting --roi)
        with open_product(path) as product:
            swaths = [s.upper() for s in args.swath] if args.swath else product.swaths
            if args.roi and not args.swath:
                swaths = [sw for sw in swaths if scene_footprint(product.swath(sw, args.pol)).intersects(box(*args.roi))]
                if not swaths:
                    raise SelectionError(f"--roi {' '.join(f'{v:g}' for v in args.roi)} meets no swath of "
                                         f"{Path(path).name}")
            plan[path] = sorted(swaths)
    orbits = resolve_orbits(args, plan)  # every orbit found (or refused) before anything is written
    for path, swaths in plan.items():
        with open_product(path) as product:
            popts = opts
            if len(swaths) > 1 and opts.epsg is None:  # one CRS for the product's swaths (the mosaic's)
                popts = replace(opts, epsg=product_epsg([product.swath(sw, args.pol) for sw in swaths], opts.roi))
            results = terrain_swaths(path, swaths, args.pol, args.out, popts, ram_mb=args.ram, workers=args.workers,
                                     orbits={sw: orbits[(path, sw)] for sw in swaths}, lut=args.lut,
                                     remove=args.noise, db=args.db, looks=args.ml, quicklook=args.quicklook)
            for res in results:
                g = res.grid
                print(f"wrote {res.tif} ({g.height} x {g.width}, EPSG:{g.epsg}, {g.transform[1]:g} m, "
                      f"{res.quantity}{', dB' if res.db else ''}, radar looks {res.looks[0]} x {res.looks[1]}, "
                      f"orbit {res.orbit_source})")
                print(f"wrote {res.angles}")
                print(f"wrote {res.mask}")
                if res.png is not None:
                    print(f"wrote {res.png}")
            mosaic = None
            if len(results) > 1:
                name = product.name.removesuffix(".SAFE").removesuffix(".zip")
                mosaic = mosaic_swaths(results, args.out, name, args.ram, args.quicklook)
                g = mosaic.grid
                taken = ", ".join(f"{k} {v}" for k, v in mosaic.counts.items())
                print(f"wrote {mosaic.tif} (mosaic of {'+'.join(mosaic.swaths)}: {g.height} x {g.width}, "
                      f"valid cells {taken})")
                print(f"wrote {mosaic.angles}")
                print(f"wrote {mosaic.mask}")
                if mosaic.png is not None:
                    print(f"wrote {mosaic.png}")
            print(f"wrote {product_item(product, results, args.out, mosaic)}")
    return 0
