"""``diapsar dem-fetch --bbox LONMIN LATMIN LONMAX LATMAX``: Copernicus DEM GLO-30 tiles, no login."""

from __future__ import annotations

import argparse

from ..download.dem import DemFetcher
from ..download.http import HttpClient, add_timeout_options, apply_timeout_options
from ..errors import ConfigError, DemError
from ..log import setup_logging

NAME = "dem-fetch"
HELP = "fetch Copernicus DEM GLO-30 tiles covering a box from the public bucket"
DESCRIPTION = """Fetch the 1x1 degree Copernicus DEM GLO-30 tiles (COG GeoTIFF, heights above EGM2008) covering
the box from the public bucket copernicus-dem-30m.s3.amazonaws.com into --out (flat, ESA tile names). Tiles that
do not exist (open sea) are reported and skipped; tiles already present with the right size are kept."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bbox", nargs=4, type=float, required=True, metavar=("LONMIN", "LATMIN", "LONMAX", "LATMAX"),
                   help="area in degrees (WGS84): west, south, east, north; every 1x1 degree tile it touches")
    p.add_argument("--out", default="dem", help="tile folder (default: ./dem)")
    p.add_argument("--workers", type=int, default=4,
                   help="tiles downloaded in parallel (default 4)")
    p.add_argument("--base-url", help="replace scheme and host of the bucket (mirrors, tests)")
    p.add_argument("--retries", type=int, default=5,
                   help="retries per tile after a network failure or HTTP 429/5xx, with backoff 1, 2, 4... s "
                        "(default 5); a refused connection, a connect timeout or a server that never answers is "
                        "retried at most twice")
    add_timeout_options(p, 600.0, "total seconds for each request (one tile is about 25-40 MB), its retries "
                                  "and waits included (default 600)")
    p.add_argument("--max-sleep", type=float, default=None, help=argparse.SUPPRESS)


def run(args) -> int:
    setup_logging(None)
    if args.workers < 1 or args.retries < 0:
        raise ConfigError(f"--workers must be >= 1 and --retries >= 0 (got {args.workers}, {args.retries})")
    client = apply_timeout_options(HttpClient(retries=args.retries, max_sleep=args.max_sleep), args)
    results = DemFetcher(client, args.out, base_url=args.base_url, workers=args.workers).fetch_bbox(*args.bbox)
    for r in results:
        print(f"{r.status:10s} {r.name}" + (f"  {r.message}" if r.message else ""))
    got = [r for r in results if r.status in ("downloaded", "present")]
    failed = [r for r in results if r.status == "failed"]
    if not got and not failed:
        raise DemError(f"no Copernicus DEM tile exists in the box {args.bbox} (open sea?)")
    return 1 if failed else 0
