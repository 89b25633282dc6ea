"""``diapsar dem-fetch --bbox LONMIN LATMIN LONMAX LATMAX``: Copernicus DEM GLO-30 tiles, no login."""

from __future__ import annotations

import argparse

from ..download.dem import DemFetcher
from ..download.http import HttpClient
from ..errors import DemError
from ..log import setup_logging

NAME = "dem-fetch"
HELP = "fetch Copernicus DEM GLO-30 tiles covering a box from the public bucket"
DESCRIPTION = """Fetch the 1x1 degree Copernicus DEM GLO-30 tiles (COG GeoTIFF, heights above EGM2008) covering
the box from the public bucket copernicus-dem-30m.s3.amazonaws.com into --out (flat, ESA tile names). Tiles that
do not exist (open sea) are reported and skipped; tiles already present with the right size are kept."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bbox", nargs=4, type=float, required=True, metavar=("LONMIN", "LATMIN", "LONMAX", "LATMAX"))
    p.add_argument("--out", default="dem", help="tile folder (default: ./dem)")
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--base-url", help="replace scheme and host of the bucket (mirrors, tests)")
    p.add_argument("--retries", type=int, default=5)
    p.add_argument("--max-sleep", type=float, default=None, help=argparse.SUPPRESS)


def run(args) -> int:
    setup_logging(None)
    client = HttpClient(retries=args.retries, max_sleep=args.max_sleep)
    results = DemFetcher(client, args.out, base_url=args.base_url, workers=args.workers).fetch_bbox(*args.bbox)
    for r in results:
        print(f"{r.status:10s} {r.name}" + (f"  {r.message}" if r.message else ""))
    got = [r for r in results if r.status in ("downloaded", "present")]
    failed = [r for r in results if r.status == "failed"]
    if not got and not failed:
        raise DemError(f"no Copernicus DEM tile exists in the box {args.bbox} (open sea?)")
    return 1 if failed else 0
