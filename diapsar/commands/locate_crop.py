"""``diapsar locate-crop CROP.tiff ANNOTATION.xml --dem DIR_OR_VRT``: find a crop's place in its full swath."""

from __future__ import annotations

import json
import sys

NAME = "locate-crop"
# Looks of the correlation (range, azimuth): 16 x 4 IW pixels are about 60 m x 56 m on the ground.
DEFAULT_ML_RG_AZ = (16, 4)
HELP = "locate an SLC/amplitude crop in its full swath by correlation with a DEM-simulated amplitude"
DESCRIPTION = (
    "Find the first line and first sample (0-based, full swath) of an image crop.\n\n"
    "The amplitude the swath would show is simulated from the DEM in the annotation's geometry (zero-Doppler\n"
    "projection of the DEM posts on the orbit, local-incidence backscatter with layover accumulation and\n"
    "shadow, sea = DEM height <= 0 m or no data, dark) over the search window; both images are multilooked\n"
    "(-ml RG AZ) and correlated (normalised cross-correlation, then every full-resolution offset within one look\n"
    "cell of the peak, parabolic sub-pixel fit).\n\n"
    "CROP.tiff: complex SLC (CInt16/complex64) or real amplitude raster. --dem: a folder of DEM tiles (SRTM\n"
    ".hgt/.hgt.zip, GeoTIFF; 1-degree cells without a tile are taken as sea) or one raster/VRT, heights above\n"
    "the EGM96 geoid (the shipped EGM96 undulation is added, unless --no-geoid). --search: the window of the\n"
    "full swath searched (default: the whole swath). IW/EW lines are those of the burst-stacked image.\n\n"
    "Output: first line/sample (rounded and sub-pixel), the correlation peak, the best correlation outside the\n"
    "main lobe (secondary) and, for IW/EW, the burst (0-based) holding the first line."
)


def add_arguments(parser) -> None:
    parser.add_argument("crop", metavar="CROP.tiff", help="the crop (complex SLC or amplitude raster)")
    parser.add_argument("annotation", metavar="ANNOTATION.xml", help="annotation XML of the full swath")
    parser.add_argument("--dem", required=True, metavar="DIR_OR_VRT", help="DEM tile folder or raster/VRT")
    parser.add_argument("--orbit", metavar="EOF", action="append",
                        help="orbit file or folder of orbit files (repeatable); default: annotation vectors")
    parser.add_argument("--search", nargs=4, type=int, metavar=("LINE0", "SAMPLE0", "NLINES", "NSAMPLES"),
                        help="search window of the full swath (0-based); default: the whole swath")
    parser.add_argument("-ml", dest="ml_rg_az", nargs=2, type=int, default=None, metavar=("RG", "AZ"),
                        help="looks in range and azimuth for the correlation, in the order of QuickMlView.py and "
                        f"the chain (default {DEFAULT_ML_RG_AZ[0]} {DEFAULT_ML_RG_AZ[1]})")
    parser.add_argument("--ml", dest="ml_az_rg", nargs=2, type=int, default=None, metavar=("AZ", "RG"),
                        help="deprecated: looks in azimuth then range (use -ml RG AZ)")
    parser.add_argument("--no-geoid", action="store_true",
                        help="use the DEM heights as ellipsoidal heights (no EGM96 undulation added)")
    parser.add_argument("--model", choices=("lambert", "cos"), default="lambert",
                        help="backscatter model: sigma0 = cos^2 (lambert, default) or cos of the local incidence")
    parser.add_argument("--domain", choices=("amplitude", "highpass", "db"), default="amplitude",
                        help="values correlated: amplitude (default), its high-pass part, or dB")
    parser.add_argument("--oversample", type=int, default=6, metavar="K",
                        help="sub-facets per DEM cell side in the simulation (default 6)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def looks_az_rg(args) -> tuple[int, int]:
    """(azimuth, range) looks from ``-ml RG AZ`` or the deprecated ``--ml AZ RG`` (one note on stderr)."""
    from ..errors import ConfigError

    if args.ml_rg_az is not None and args.ml_az_rg is not None:
        raise ConfigError("give the looks once, as -ml RG AZ (--ml AZ RG is the old spelling of the "
                          "same option, azimuth first)")
    if args.ml_az_rg is not None:
        az, rg = args.ml_az_rg
        print(f"diapsar: note: --ml AZ RG is deprecated, write -ml {rg} {az} (range first, as QuickMlView.py "
              "and the chain)", file=sys.stderr)
        flag = f"--ml {az} {rg}"
    else:
        rg, az = args.ml_rg_az if args.ml_rg_az is not None else DEFAULT_ML_RG_AZ
        flag = f"-ml {rg} {az}"
    if min(rg, az) < 1:
        raise ConfigError(f"{flag}: looks must be >= 1")
    return az, rg


def run(args) -> int:
    from ..amplitude_estimation import check_window, load_dem, window_bbox
    from ..errors import ConfigError
    from ..io.measurement import MeasurementReader
    from ..io.safe import open_annotation
    from ..locate import locate_crop
    from ..orbit import orbit_for

    ml_az_rg = looks_az_rg(args)
    if args.oversample < 1:
        raise ConfigError(f"--oversample {args.oversample}: must be >= 1")
    meta = open_annotation(args.annotation)
    with MeasurementReader(args.crop) as reader:
        crop = reader.read()
    orbit = orbit_for(meta, args.orbit)
    search = tuple(args.search) if args.search else (0, 0, meta.number_of_lines, meta.number_of_samples)
    search = check_window(meta, search)
    bbox = window_bbox(meta, orbit, search)
    dem = load_dem(args.dem, bbox, geoid=not args.no_geoid)
    res = locate_crop(crop, meta, orbit, dem, search, ml_az_rg, oversample=args.oversample,
                      model=args.model, domain=args.domain)
    if args.json:
        d = res.as_dict()
        d["geoid"] = not args.no_geoid
        d["ml_azimuth"], d["ml_range"] = ml_az_rg  # "ml" stays (azimuth, range) as before
        d["crop"] = str(args.crop)
        print(json.dumps(d, indent=2))
        return 0
    print(f"first line    {res.first_line}  (sub-pixel {res.line:.2f})")
    print(f"first sample  {res.first_sample}  (sub-pixel {res.sample:.2f})")
    print(f"peak          {res.peak:.4f}  (coarse {res.coarse_peak:.4f}; secondary {res.secondary_peak:.4f} at "
          f"line {res.secondary_line}, sample {res.secondary_sample}; ratio {res.peak_ratio:.2f})")
    if res.burst is not None:
        print(f"burst         {res.burst} (0-based) of {len(meta.bursts)}")
    print(f"crop          {res.crop_shape[0]} lines x {res.crop_shape[1]} samples; looks {res.ml[1]} range x "
          f"{res.ml[0]} azimuth; search from line {search[0]}, sample {search[1]}: {search[2]} lines x "
          f"{search[3]} samples; geoid {'EGM96' if not args.no_geoid else 'none'}; "
          f"{args.domain}, {args.model}")
    return 0
