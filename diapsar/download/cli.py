"""``peps_download.py``: the command line of Olivier Hagolle's script, working against today's services.

The original options keep their meaning; new ones choose the service (``--backend``), tune robustness
(``--workers``, ``--retries``, ``--timeout``, ``--connect-timeout``, ``--read-timeout``, ``--deadline``) and
point at mirrors or test servers (``--base-url``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from ..cli import OneLineArgumentParser, guarded
from ..errors import ConfigError, DiapsarError, DownloadError
from ..io.atomic import atomic_path
from ..log import get_logger, setup_logging
from .auth import CdseToken, install_log_redaction, redact
from .backends import BACKENDS, CdseOData, make_backend
from .http import HttpClient, add_timeout_options, apply_timeout_options
from .manager import DownloadManager, DownloadOptions, summary
from .products import table
from .query import COLLECTIONS, SearchQuery, parse_date

PROG = "peps_download.py"
DEFAULT_DEADLINE = 21600.0   # one product (an IW SLC is 4-8 GB: over an hour at 1-2 MB/s)
API_DEADLINE = 600.0         # one search page, login or staging request
EXAMPLES = """examples:
  peps_download.py -c S1 -p SLC -m IW --lat 43.6 --lon 1.44 -d 2024-08-01 -f 2024-08-15 -a peps.txt
  peps_download.py -c S1 -p GRD --latmin 43 --latmax 44 --lonmin 1 --lonmax 2 -d 2024-08-01 -n
  peps_download.py -c S1 -l Toulouse -p SLC -o 110 -d 2024-08-01 -f 2024-09-01 -a peps.txt -x
  peps_download.py -c S2 -t 31TCJ -p S2MSI1C -d 2024-08-01 -f 2024-08-10 -a peps.txt
  peps_download.py -c S1 --bursts 15805:IW1 -d 2024-08-01 -f 2024-09-01 -a peps.txt
auth file: one line 'email password' (CDSE account); or ~/.netrc machine identity.dataspace.copernicus.eu;
or CDSE_USERNAME / CDSE_PASSWORD. Exit status: 0 done, 1 failure, 4 products still offline (pending)."""


def build_parser() -> argparse.ArgumentParser:
    p = OneLineArgumentParser(prog=PROG, description="Search and download Sentinel products (CDSE, GEODES, "
                                "resto), with the options of the original peps_download.py.",
                                epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    a = p.add_argument
    a("-l", "--location", help="town or place name (geocoded; passed as q= to resto)")
    a("-a", "--auth", help="account file: one line 'email password'")
    a("-w", "--write_dir", default=".", help="output folder (default: current folder)")
    a("-c", "--collection", default="S2", type=str.upper, help="S1, S2, S2ST or S3 (default: S2)")
    a("-p", "--product_type", default="", help="GRD, SLC, OCN (S1); S2MSI1C, S2MSI2A, S2MSI2Ap (S2)")
    a("-m", "--sensor_mode", default="", help="EW, IW, SM, WV (S1)")
    a("-n", "--no_download", action="store_true", help="search and list products, download nothing")
    a("-d", "--start_date", help="start date YYYY-MM-DD (required)")
    a("-f", "--end_date", help="end date YYYY-MM-DD, exclusive (default: tomorrow)")
    a("--json", default="search.json", help="file receiving the raw search answer (default: search.json)")
    a("--windows", action="store_true", help="accepted for compatibility; no effect")
    a("-t", "--tile", help="Sentinel-2 tile, e.g. 31TCJ")
    a("--lat", type=float, help="latitude of a point (degrees)")
    a("--lon", type=float, help="longitude of a point (degrees)")
    a("--latmin", type=float, help="box search: southern latitude (degrees, -90..90); the box needs all four "
                                    "of --latmin --latmax --lonmin --lonmax")
    a("--latmax", type=float, help="box search: northern latitude (degrees, -90..90)")
    a("--lonmin", type=float, help="box search: western longitude (degrees, -180..180)")
    a("--lonmax", type=float, help="box search: eastern longitude (degrees, -180..180)")
    a("-o", "--orbit", type=int, help="relative orbit number")
    a("--sat", "--satellite", dest="sat", help="S1A, S1B, S1C, S2A, S2B, S3A, S3B")
    a("--cc", "--clouds", dest="clouds", type=float, default=100.0, help="maximum cloud cover %% (S2)")
    a("-x", "--extract", action="store_true", help="unzip downloaded products, then delete the zip")
    a("--backend", default="cdse", choices=sorted(BACKENDS), help="service (default: cdse)")
    a("--orbit-direction", help="ascending or descending")
    a("--polarisation", action="append", default=[], help="required polarisation(s), e.g. VV or VV,VH")
    a("--workers", type=int, default=2, help="parallel downloads (CDSE allows 4; default 2)")
    a("--retries", type=int, default=5,
      help="retries per request and per download (default 5); a refused connection, a connect timeout or a "
           "server that never answers is retried at most twice")
    a("--timeout", type=float, default=600.0,
      help="seconds to wait for offline/tape products before reporting them pending (default 600)")
    add_timeout_options(p, DEFAULT_DEADLINE,
                        f"total seconds for one product download, its retries, resumes and waits included "
                        f"(default {DEFAULT_DEADLINE:g} = 6 h); each search or login request gets at most "
                        f"min(S, {API_DEADLINE:g}) s. A transfer stopped by it keeps NAME.zip.part for the next "
                        "run to resume")
    a("--base-url", help="replace scheme and host of every endpoint of the backend (mirrors, tests)")
    a("--bursts", help="CDSE burst extraction: BURST_ID[:SWATH][,BURST_ID[:SWATH]...], e.g. 15805:IW1")
    a("--max-results", type=int, help="keep at most N products")
    a("--debug", action="store_true", help="verbose log and full tracebacks")
    # tuning used by tests and mirrors: not part of the documented interface
    a("--max-sleep", type=float, default=None, help=argparse.SUPPRESS)
    a("--poll-interval", type=float, default=60.0, help=argparse.SUPPRESS)
    a("--page-size", type=int, default=None, help=argparse.SUPPRESS)
    a("--backoff", type=float, default=1.0, help=argparse.SUPPRESS)
    return p


def parse_bursts(text: str) -> list[tuple[int, str | None]]:
    out: list[tuple[int, str | None]] = []
    for item in text.replace(" ", "").split(","):
        if not item:
            continue
        bid, _, swath_text = item.partition(":")
        if not bid.isdigit():
            raise ConfigError(f"--bursts: {item!r} is not BURST_ID[:SWATH] (e.g. 15805:IW1)")
        swath = swath_text.upper() or None
        if swath and swath not in {"IW1", "IW2", "IW3", "EW1", "EW2", "EW3", "EW4", "EW5"}:
            raise ConfigError(f"--bursts: unknown swath {swath!r} (IW1..IW3, EW1..EW5)")
        out.append((int(bid), swath))
    if not out:
        raise ConfigError("--bursts: no burst given")
    return out


def query_from_args(args) -> SearchQuery:
    if args.collection not in COLLECTIONS:
        raise ConfigError(f"unknown collection {args.collection!r} (choose among {', '.join(COLLECTIONS)})")
    box_parts = (args.lonmin, args.latmin, args.lonmax, args.latmax)
    if any(v is not None for v in box_parts) and not all(v is not None for v in box_parts):
        raise ConfigError("a box needs all of --latmin --latmax --lonmin --lonmax")
    if (args.lat is None) != (args.lon is None):
        raise ConfigError("a point needs both --lat and --lon")
    q = SearchQuery(
        collection=args.collection,
        start=parse_date(args.start_date, "-d/--start_date") if args.start_date else None,
        end=parse_date(args.end_date, "-f/--end_date") if args.end_date else None,
        product_type=args.product_type or None, sensor_mode=args.sensor_mode or None,
        point=(args.lon, args.lat) if args.lat is not None else None,
        box=box_parts if all(v is not None for v in box_parts) else None,
        location=args.location, tile=args.tile, relative_orbit=args.orbit, satellite=args.sat,
        orbit_direction=args.orbit_direction, polarisation=tuple(args.polarisation),
        max_cloud=args.clouds, max_results=args.max_results)
    # precedence of the original script: tile > location > point > box
    if q.tile:
        q.location = None
    return q.validate()


def write_json(path: str, raw: dict) -> None:
    try:
        with atomic_path(Path(path)) as tmp:
            tmp.write_text(json.dumps(raw, indent=1, default=str), encoding="utf-8")
    except OSError as exc:
        raise DownloadError(f"cannot write {path}: {exc.strerror}") from None


def run(args) -> int:
    log = get_logger("download")
    q = query_from_args(args)
    if args.workers < 1 or args.retries < 0 or args.timeout < 0:
        raise ConfigError("--workers must be >= 1, --retries and --timeout >= 0")
    client = apply_timeout_options(HttpClient(retries=args.retries, max_sleep=args.max_sleep,
                                              backoff_s=args.backoff), args, API_DEADLINE)
    backend = make_backend(args.backend, client, base_url=args.base_url, auth_file=args.auth,
                           page_size=args.page_size)
    if args.auth:  # a missing or malformed auth file is reported before anything is sent
        backend.credentials()
    if args.bursts:
        if not isinstance(backend, CdseOData):
            raise ConfigError("--bursts needs --backend cdse")
        if q.collection != "S1":
            raise ConfigError("--bursts applies to Sentinel-1 (-c S1)")
        result = backend.search_bursts(q, parse_bursts(args.bursts))
    else:
        result = backend.search(q)
    if args.json:
        write_json(args.json, result.raw)
    products = result.products
    if not products:
        print("no product matches the search")
        return 0
    print(table(products))
    if args.no_download:
        return 0
    auth = backend.authorizer()
    if isinstance(auth, CdseToken):
        auth.token()  # one login now: bad credentials end here with one line
    opts = DownloadOptions(write_dir=Path(args.write_dir), workers=args.workers, retries=args.retries,
                           wait_timeout_s=args.timeout, poll_s=args.poll_interval, extract=args.extract,
                           deadline_s=args.deadline)
    outcomes = DownloadManager(backend, opts).run(products)
    text, code = summary(outcomes)
    print(text)
    if code:
        log.debug("exit status %d", code)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv:
        parser.print_usage(sys.stderr)
        print(f"{PROG}: error: no search given (see --help)", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    logger = setup_logging(None, verbose=args.debug)
    install_log_redaction(logger)

    def guarded_run() -> int:
        try:
            return run(args)
        except DiapsarError as exc:
            raise type(exc)(redact(str(exc))) from None
        except Exception as exc:  # noqa: BLE001 - redacted, then reported as one line by guarded
            if args.debug:
                raise
            raise DownloadError(redact(f"unexpected {type(exc).__name__}: {exc}")) from None

    return guarded(PROG, guarded_run, debug=args.debug)


if __name__ == "__main__":
    sys.exit(main())
