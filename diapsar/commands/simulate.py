"""``diapsar simulate``: write a simulated Sentinel-1 SLC stack (SAFE folders), its DEM and its truth."""

from __future__ import annotations

import argparse

from ..errors import ConfigError

NAME = "simulate"
HELP = "simulate a Sentinel-1 SLC stack with known truth (SAFE products, DEM, truth/)"
DESCRIPTION = """Simulate Sentinel-1 SLC acquisitions with known geometry, deformation and coherence.

Writes under OUT: one SAFE folder per date (manifest, annotation, calibration, noise, CInt16 measurement),
dem/dem.tif (heights above the EGM96 geoid) and truth/ (truth.json and one <M>_<S>_truth.tif per slave).

  diapsar simulate --mode sm --out demo --dates 3 --size 1000 1200 --seed 1
  diapsar simulate --mode iw --out demo_iw --swath IW2 --bursts 0-2 --size 0 1500
  diapsar simulate --mode iw --out demo_iw3 --swath all --bursts 0-2 --size 300 800
  diapsar simulate --mode iw --out real --from-safe S1A_IW_SLC__...SAFE --swath IW1 --bursts 2-4 \\
      --samples 8000 3000
"""


def _bursts(text: str) -> tuple[int, int]:
    try:
        a, _, b = text.partition("-")
        first, last = int(a), int(b or a)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--bursts must be FIRST-LAST (e.g. 2-4), got {text!r}") from None
    if first < 0 or last < first:
        raise argparse.ArgumentTypeError(f"--bursts must be FIRST-LAST with 0 <= FIRST <= LAST, got {text!r}")
    return first, last


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mode", choices=("sm", "iw"), required=True, help="stripmap or interferometric wide")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    parser.add_argument("--dates", type=int, default=None, metavar="N",
                        help="number of acquisitions (default 2; with --from-safe: the number of products)")
    parser.add_argument("--size", type=int, nargs=2, default=None, metavar=("LINES", "SAMPLES"),
                        help="image size (SM: lines samples, default 512 512; IW: lines per burst (0 = the "
                             "real ~1500) and samples, default 0 1000)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--beam", default=None, help="stripmap beam S1..S6 (default S3)")
    parser.add_argument("--swath", default=None,
                        help="IW swath(s): IW1, IW2, IW3, a comma list or 'all' (default IW1); synthetic swaths "
                             "are placed side by side in range with a 10 %% overlap")
    parser.add_argument("--bursts", type=_bursts, default=None, metavar="FIRST-LAST",
                        help="IW bursts (synthetic: their count; real geometry: the burst range), default 0-2")
    parser.add_argument("--samples", type=int, nargs=2, default=None, metavar=("FIRST", "COUNT"),
                        help="real-geometry mode: first sample and sample count of the window")
    parser.add_argument("--from-safe", default=None, nargs="+", metavar="SAFE",
                        help="take orbits, timing, bursts and Doppler/FM-rate polynomials from these real IW "
                             "products (one per date; extra --dates are the first one moved 12 days later)")
    parser.add_argument("--timing-error", type=float, default=0.02, metavar="LINES",
                        help="hidden along-track timing error of the first slave, in lines (default 0.02)")
    parser.add_argument("--deformation-mm", type=float, default=28.0,
                        help="Mogi uplift above the source per 12 days, mm (default 28)")
    parser.add_argument("--coherence", type=float, nargs=2, default=(0.2, 1.0), metavar=("MIN", "MAX"),
                        help="coherence ramp along track (default 0.2 1.0)")
    parser.add_argument("--snr-db", type=float, default=20.0, help="land signal-to-noise ratio, dB (default 20)")
    parser.add_argument("--targets", type=int, default=5, help="number of point targets (default 5, max 8)")
    parser.add_argument("--dem", default=None, metavar="FILE",
                        help="real DEM (GDAL-readable lon/lat grid, heights above EGM96 like SRTM) instead of the "
                             "synthetic volcano; it must cover the scene")
    parser.add_argument("--node-step", type=int, default=None, metavar="PIXELS",
                        help="node spacing of the exact geometry (default 16; 8 with --dem)")
    parser.add_argument("--truth-master", type=int, default=0, metavar="INDEX",
                        help="date index (0-based) used as master in truth/ (default 0, the first date)")


def run(args) -> int:
    from ..log import get_logger
    from ..simulate import simulate_stack

    log = get_logger("simulate")
    dates = args.dates if args.dates is not None else (len(args.from_safe) if args.from_safe else 2)
    if dates < 1:
        raise ConfigError(f"--dates must be at least 1, got {dates}")
    errors = [0.0] * dates
    if dates > 1:
        errors[1] = args.timing_error
    common = dict(dates=dates, seed=args.seed, timing_error_lines=errors, coherence=tuple(args.coherence),
                  deformation_mm=args.deformation_mm, snr_db=args.snr_db, n_targets=args.targets,
                  truth_master=args.truth_master, dem_file=args.dem,
                  node_step=args.node_step or (8 if args.dem else 16),
                  log=log.info)
    if args.from_safe:
        if args.mode != "iw":
            raise ConfigError("--from-safe needs --mode iw (real-geometry mode is implemented for IW products)")
        if not args.swath or args.bursts is None or args.samples is None:
            raise ConfigError("--from-safe needs --swath IWn, --bursts FIRST-LAST and --samples FIRST COUNT")
        from ..simulate.real import simulate_from_safe

        result = simulate_from_safe(args.out, args.from_safe, swath=args.swath, bursts=args.bursts,
                                    samples=tuple(args.samples), **common)
    else:
        if args.samples is not None:
            raise ConfigError("--samples is only used with --from-safe (use --size for synthetic images)")
        if args.mode == "sm":
            if args.swath:
                raise ConfigError("--swath is for --mode iw; stripmap beams are chosen with --beam")
            lines, samples = args.size or (512, 512)
            result = simulate_stack(args.out, mode="sm", size=(lines, samples), beam=args.beam, **common)
        else:
            if args.beam:
                raise ConfigError("--beam is for --mode sm; IW swaths are chosen with --swath")
            lpb, samples = args.size or (0, 1000)
            first, last = args.bursts or (0, 2)
            result = simulate_stack(args.out, mode="iw", size=(0, samples), beam=args.swath,
                                    bursts=last - first + 1, lines_per_burst=lpb or None, **common)
    for line in result.summary_lines():
        print(line)
    print(f"simulated in {result.seconds:.1f} s")
    return 0
