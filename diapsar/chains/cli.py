"""``SAR_MultiSlc.py``: command line of the MultiSlc chain (flags override the JSON configuration)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..cli import OneLineArgumentParser, guarded

if TYPE_CHECKING:
    from ..config import Overrides

PROG = "SAR_MultiSlc.py"

EPILOG = """\
examples:
  SAR_MultiSlc.py --demo /tmp/diapsar-demo            simulate an IW stack (3 bursts) and process it
  SAR_MultiSlc.py --demo /tmp/sm-demo --demo-mode sm   the same with a StripMap stack
  SAR_MultiSlc.py config.json                          run with the configuration as written
  SAR_MultiSlc.py config.json -d 20200101 -f 20200301 -e 20200113 -m 20200107 -o yes -ml 4 4
"""


def _yes_no(text: str) -> bool:
    t = text.strip().lower()
    if t not in ("yes", "no", "true", "false"):
        raise argparse.ArgumentTypeError(f"expected yes or no, got {text!r}")
    return t in ("yes", "true")


def _help(name: str) -> str:
    """Help of the flag of ``Overrides.<name>``: the schema's description of the key and its default."""
    from ..config import override_help

    return override_help(name).replace("%", "%%")


def build_parser() -> argparse.ArgumentParser:
    p = OneLineArgumentParser(
        prog=PROG, formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="DInSAR chain of one master and its slaves (DiapOTB SAR_MultiSlc): multilook, DEM "
                    "projection, deformation grid, coregistration, interferograms, ortho, filtering. "
                    "Flags override the configuration; a default applies when the configuration lacks the key.")
    p.add_argument("config", nargs="?", help="JSON configuration (see config/multislc.schema.json)")
    p.add_argument("--demo", metavar="OUTDIR", help="simulate a stack (volcano with a deformation bump; IW: 3 "
                   "dates, one swath, 3 bursts, a hidden timing error on one slave) and run the chain on it into "
                   "OUTDIR")
    p.add_argument("--demo-mode", choices=("iw", "sm"),
                   help="acquisition mode of the --demo stack (default iw)")
    p.add_argument("-d", dest="start_date", metavar="YYYYMMDD", help=_help("start_date"))
    p.add_argument("-f", dest="end_date", metavar="YYYYMMDD", help=_help("end_date"))
    p.add_argument("-e", dest="exclude", metavar="YYYYMMDD", nargs="+", help=_help("exclude"))
    p.add_argument("-m", dest="master", metavar="MASTER", help=_help("master"))
    p.add_argument("-b", dest="bursts", metavar="FIRST-LAST", help=_help("bursts"))
    p.add_argument("-roi", dest="roi", metavar=("ULX", "ULY", "LRX", "LRY"), nargs=4, type=float,
                   help=_help("roi"))
    p.add_argument("-i", dest="interferogram", type=_yes_no, metavar="yes|no", help=_help("interferogram"))
    p.add_argument("-o", dest="ortho", type=_yes_no, metavar="yes|no", help=_help("ortho"))
    p.add_argument("-l", dest="light", type=_yes_no, metavar="yes|no", help=_help("light"))
    p.add_argument("-ram", dest="ram_mb", type=int, metavar="MB", help=_help("ram_mb"))
    p.add_argument("-spacingxy", dest="spacingxy_deg", type=float, metavar="DEG", help=_help("spacingxy_deg"))
    p.add_argument("-ml", dest="ml", type=int, nargs=2, metavar=("RG", "AZ"), help=_help("ml"))
    p.add_argument("--fill-sea", dest="fill_sea", action="store_true", default=None, help=_help("fill_sea"))
    p.add_argument("-u", dest="unwrap", type=_yes_no, metavar="yes|no", help=_help("unwrap"))
    g = p.add_argument_group("scale-out (Compute section of the configuration)")
    g.add_argument("--workers", type=int, metavar="N", help=_help("workers"))
    g.add_argument("--threads-per-worker", dest="threads_per_worker", type=int, metavar="T",
                   help=_help("threads_per_worker"))
    g.add_argument("--scheduler", metavar="ADDRESS", help=_help("scheduler"))
    b = p.add_argument_group("batch jobs (PBS, Slurm)")
    one = b.add_mutually_exclusive_group()
    one.add_argument("--qsub", metavar="DIR", nargs="?", const="", help="write PBS job scripts instead of running: "
                     "the master job, the pairs (a job array depending on it, -W depend=afterok), the report job, "
                     "and submit.sh chaining them, into DIR (default <Output_Path>/batch)")
    one.add_argument("--sbatch", metavar="DIR", nargs="?", const="", help="the same for Slurm (--dependency=afterok, "
                     "--array)")
    b.add_argument("--per-pair", action="store_true", help="--qsub/--sbatch: one job per pair instead of a job array "
                   "(Compute.jobqueue.array)")
    part = b.add_mutually_exclusive_group()
    part.add_argument("--only-master", action="store_true", help="run the master unit only (master steps; batch "
                      "job)")
    part.add_argument("--only-pair", metavar="YYYYMMDD", help="run the pair of this slave date only, after the "
                      "master unit (batch job)")
    part.add_argument("--only-report", action="store_true", help="write run.json and the report from the products "
                      "on disk, listing failed pairs (batch job); exit status non-zero when a pair failed")
    p.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    p.add_argument("--version", action="version", version=f"diapsar {__version__}")
    return p


def overrides_from_args(args: argparse.Namespace) -> Overrides:
    """The typed overrides of the parsed flags (None: not given)."""
    from ..config import Overrides

    def tup(v: Sequence[Any] | None) -> tuple[Any, ...] | None:
        return tuple(v) if v is not None else None

    return Overrides(start_date=args.start_date, end_date=args.end_date, exclude=tup(args.exclude),
                     master=args.master, bursts=args.bursts, roi=tup(args.roi), interferogram=args.interferogram,
                     ortho=args.ortho, light=args.light, ram_mb=args.ram_mb, spacingxy_deg=args.spacingxy_deg,
                     ml=tup(args.ml), fill_sea=args.fill_sea, unwrap=args.unwrap, workers=args.workers,
                     threads_per_worker=args.threads_per_worker, scheduler=args.scheduler)


# flags of a SAR_MultiSlc.py command line that the batch job command lines do not repeat
_BATCH_ONLY = {"--qsub": 1, "--sbatch": 1, "--per-pair": 0, "--workers": 1, "--threads-per-worker": 1,
               "--scheduler": 1}


def job_flags(argv: Sequence[str]) -> list[str]:
    """The override flags of ``argv`` (without the configuration, the batch and executor flags), for the batch
    jobs' command lines."""
    out: list[str] = []
    items = list(argv)
    i = 0
    while i < len(items):
        a = items[i]
        name = a.split("=", 1)[0]
        if name in _BATCH_ONLY:
            skip = _BATCH_ONLY[name] if "=" not in a else 0
            if name in ("--qsub", "--sbatch") and (i + 1 >= len(items) or items[i + 1].startswith("-")):
                skip = 0
            i += 1 + skip
            continue
        out.append(a)
        i += 1
    return out


def _run(args: argparse.Namespace, argv: Sequence[str] = ()) -> int:
    from ..errors import ConfigError

    if args.demo:
        from .demo import run_demo

        return run_demo(args.demo, ram_mb=args.ram_mb, mode=args.demo_mode or "iw")
    if not args.config:
        raise ConfigError("give a configuration file (or --demo OUTDIR)")
    from ..config import apply_overrides, load_config
    from .multislc import Only, run_chain

    cfg = load_config(args.config)
    cfg = apply_overrides(cfg, overrides_from_args(args))
    if args.qsub is not None or args.sbatch is not None:
        from .batch import write_batch

        kind = "pbs" if args.qsub is not None else "slurm"
        where = args.qsub if args.qsub is not None else args.sbatch
        flags = job_flags([a for a in argv if a != args.config])
        submit = write_batch(cfg, args.config, kind, flags, per_pair=args.per_pair or not cfg.compute.array,
                             folder=where or None)
        print(f"{kind} job scripts written; submit them with: bash {submit}")
        return 0
    run_chain(cfg, Only(master=args.only_master, pair=args.only_pair, report=args.only_report))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    return guarded(PROG, lambda: _run(args, argv), debug=args.debug)


if __name__ == "__main__":
    sys.exit(main())
