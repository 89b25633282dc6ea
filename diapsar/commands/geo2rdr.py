"""``diapsar geo2rdr ANNOTATION_XML [--orbit EOF] --llh FILE.csv``: ground points to radar coordinates."""

from __future__ import annotations

import csv
import math
import sys
from pathlib import Path

import numpy as np

from ..errors import ConfigError

NAME = "geo2rdr"
HELP = "zero-Doppler radar coordinates (line, pixel, azimuth time, range time) of lat/lon/h points"
DESCRIPTION = (
    "Zero-Doppler radar coordinates of ground points in one swath image.\n\n"
    "FILE.csv has the header 'lat,lon,h' (degrees, degrees, metres above the WGS84 ellipsoid; column\n"
    "order free, other columns ignored). Output on stdout, one row per input row:\n"
    "  line,pixel,azimuth_time,slant_range_time\n"
    "line/pixel: 0-based full-swath image coordinates (IW/EW: the line in the burst that ESA's\n"
    "geolocation grid uses, i.e. the later burst inside a burst overlap; the line includes ESA's residual\n"
    "bistatic azimuth shift (tau - tau_ref)/2, fitted on the annotation's grid); azimuth_time: zero-Doppler\n"
    "time, ISO-8601 UTC with microseconds; slant_range_time: two-way, seconds. Points whose zero-Doppler\n"
    "time falls outside the orbit give 'nan' in every column. GRD annotations: pixel is the ground range\n"
    "column (slant-to-ground polynomial of the annotation).\n"
    "Orbit: the annotation's state vectors, or with --orbit the best EOF file (POEORB before RESORB,\n"
    "newest first) covering the acquisition +/- 60 s."
)


def add_arguments(parser) -> None:
    parser.add_argument("annotation", metavar="ANNOTATION_XML", help="Sentinel-1 annotation XML (SLC; GRD accepted)")
    parser.add_argument("--orbit", metavar="EOF", action="append",
                        help="orbit file or folder of orbit files (repeatable); default: annotation vectors")
    parser.add_argument("--orbit-fallback", action="store_true",
                        help="when no --orbit file covers the acquisition, use the annotation state vectors "
                             "(a warning says so) instead of failing")
    parser.add_argument("--llh", metavar="FILE.csv", required=True, help="CSV with header lat,lon,h")


def read_llh_csv(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"{p}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: cannot read ({exc})") from None
    rows = list(csv.reader(line for line in text.splitlines() if line.strip()))
    if not rows:
        raise ConfigError(f"{p}: empty file, expected the header 'lat,lon,h'")
    header = [c.strip().lower() for c in rows[0]]
    missing = [c for c in ("lat", "lon", "h") if c not in header]
    if missing:
        raise ConfigError(f"{p}: header {','.join(rows[0])!r} lacks column(s) {', '.join(missing)} "
                          "(expected 'lat,lon,h')")
    idx = [header.index(c) for c in ("lat", "lon", "h")]
    out = np.empty((len(rows) - 1, 3))
    for n, row in enumerate(rows[1:]):
        for k, (i, name) in enumerate(zip(idx, ("lat", "lon", "h"))):
            if i >= len(row):
                raise ConfigError(f"{p} line {n + 2}: missing value for column {name}")
            try:
                v = float(row[i])
            except ValueError:
                raise ConfigError(f"{p} line {n + 2}: {row[i].strip()!r} is not a number (column {name})") from None
            if not math.isfinite(v):
                raise ConfigError(f"{p} line {n + 2}: {row[i].strip()!r} is not a finite number (column {name})")
            out[n, k] = v
    if np.any(np.abs(out[:, 0]) > 90.0):
        bad = int(np.nonzero(np.abs(out[:, 0]) > 90.0)[0][0])
        raise ConfigError(f"{p} line {bad + 2}: latitude {out[bad, 0]} outside -90..90")
    return out[:, 0], out[:, 1], out[:, 2]


def grd_pixel(meta, azimuth_time_s: np.ndarray, range_time_s: np.ndarray) -> np.ndarray:
    """GRD column of targets: ground range from the annotation's slant-to-ground polynomial (the record
    nearest in azimuth time, as ESA's geolocation grid does: 0.008 pixel on the Rome GRD grid, where
    interpolating between records gives 0.5) divided by the ground range pixel spacing."""
    from ..errors import ProductError
    from ..metadata import SPEED_OF_LIGHT_M_S

    if not meta.srgr:
        raise ProductError(f"GRD annotation {meta.annotation_name} lacks <coordinateConversionList>")
    times = np.array([e["azimuth_time_s"] for e in meta.srgr])
    out = np.full(np.shape(range_time_s), np.nan)
    ok = np.isfinite(azimuth_time_s) & np.isfinite(range_time_s)
    nearest = np.abs(azimuth_time_s[ok, None] - times[None, :]).argmin(axis=1)
    slant = 0.5 * SPEED_OF_LIGHT_M_S * range_time_s[ok]
    ground = np.empty(slant.shape)
    for k in np.unique(nearest):
        e = meta.srgr[k]
        sel = nearest == k
        ground[sel] = np.polynomial.polynomial.polyval(slant[sel] - e["sr0_m"], e["srgr_coefficients"]) - e["gr0_m"]
    out[ok] = ground / meta.range_pixel_spacing_m
    return out


def run(args) -> int:
    from ..geometry import RadarGrid, geo2rdr
    from ..io.safe import open_annotation
    from ..orbit import orbit_for
    from ..timeutil import seconds_to_iso

    lat, lon, h = read_llh_csv(args.llh)
    meta = open_annotation(args.annotation)
    orbit = orbit_for(meta, args.orbit, fallback_to_annotation=args.orbit_fallback)
    az, tau = geo2rdr(orbit, lat, lon, h)
    grid = RadarGrid.from_metadata(meta)
    line, pixel = grid.times_to_radar(az, tau)
    if meta.product_type == "GRD":
        pixel = grd_pixel(meta, az, tau)
    out = sys.stdout
    out.write("line,pixel,azimuth_time,slant_range_time\n")
    for i in range(az.shape[0]):
        if not (np.isfinite(az[i]) and np.isfinite(tau[i])):
            out.write("nan,nan,nan,nan\n")
            continue
        out.write(f"{line[i]:.6f},{pixel[i]:.6f},{seconds_to_iso(az[i], 6)},{tau[i]:.12e}\n")
    out.flush()
    n_bad = int(np.count_nonzero(~np.isfinite(az)))
    if n_bad:
        print(f"diapsar geo2rdr: {n_bad} point(s) outside the orbit arc (written as nan)", file=sys.stderr)
    return 0
