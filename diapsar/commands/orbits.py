"""``diapsar orbits PRODUCT...``: fetch the precise (else restituted) orbit file covering each product."""

from __future__ import annotations

import argparse

from ..download.auth import install_log_redaction
from ..download.http import HttpClient, add_timeout_options, apply_timeout_options
from ..download.orbits import KINDS, OrbitFetcher
from ..errors import ConfigError, DiapsarError
from ..log import setup_logging

NAME = "orbits"
HELP = "fetch Sentinel-1 POEORB (else RESORB) orbit files covering products"
DESCRIPTION = """Fetch the orbit file covering each product: AUX_POEORB, else AUX_RESORB, from CDSE (when
credentials are found: -a FILE, ~/.netrc machine identity.dataspace.copernicus.eu, CDSE_USERNAME/CDSE_PASSWORD)
or from the public bucket s1-orbits.s3.amazonaws.com (no login). Files keep ESA's names and are written into
--out, the folder the processing chain reads. PRODUCT is a product name, a .SAFE folder or a .zip."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("products", nargs="+", metavar="PRODUCT",
                   help="one or more Sentinel-1 products: a name (S1A_IW_SLC__1SDV_<start>_<stop>_...), a .SAFE "
                        "folder or a .zip; only the mission and the start/stop times of the name are used")
    p.add_argument("--out", default="orbits", help="folder of the EOF files (default: ./orbits)")
    p.add_argument("--source", default="auto", choices=("auto", "cdse", "aws"),
                   help="auto: CDSE when credentials exist, then the public bucket")
    p.add_argument("--type", dest="kind", default="auto", choices=sorted(KINDS),
                   help="precise (POEORB), restituted (RESORB) or auto (POEORB else RESORB)")
    p.add_argument("-a", "--auth", help="CDSE account file: one line 'email password'")
    p.add_argument("--base-url", help="replace scheme and host of the endpoints (mirrors, tests)")
    p.add_argument("--retries", type=int, default=5,
                   help="retries per request after a network failure or HTTP 429/5xx, with backoff 1, 2, 4... s "
                        "(default 5); a refused connection, a connect timeout or a server that never answers is "
                        "retried at most twice")
    add_timeout_options(p, 600.0, "total seconds for one request (a search, a listing page or an orbit file), "
                                  "its retries and waits included (default 600)")
    p.add_argument("--max-sleep", type=float, default=None, help=argparse.SUPPRESS)


def run(args) -> int:
    install_log_redaction(setup_logging(None))
    if args.retries < 0:
        raise ConfigError(f"--retries must be >= 0, not {args.retries}")
    client = apply_timeout_options(HttpClient(retries=args.retries, max_sleep=args.max_sleep), args)
    fetcher = OrbitFetcher(client, args.out, source=args.source, base_url=args.base_url, auth_file=args.auth)
    failed = 0
    for product in args.products:
        try:
            path = fetcher.fetch(product, KINDS[args.kind])
        except DiapsarError as exc:
            if len(args.products) == 1:
                raise
            print(f"diapsar orbits: error: {exc}")
            failed += 1
            continue
        print(path)
    return 1 if failed else 0
