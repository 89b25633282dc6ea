"""``diapsar report OUT``: (re)write the HTML report of a SAR_MultiSlc run folder."""

from __future__ import annotations

NAME = "report"
HELP = "write <out>/index.html (quicklooks, baselines, parameters, timings) of a processed run folder"
DESCRIPTION = (
    "Write OUT/index.html for a run folder made by SAR_MultiSlc.py: one section per pair (dates, baselines,\n"
    "height of ambiguity, ESD shift, quicklooks, links to the products), a perpendicular baseline versus date\n"
    "plot, and the run's parameters, versions and step timings, read from OUT/run.json and each pair's\n"
    "pair.json. Missing pair quicklooks are made from the pair's interferogram.tif. The page needs no network:\n"
    "open it from the file system."
)


def add_arguments(parser) -> None:
    parser.add_argument("out", metavar="OUT", help="run output folder (holds run.json and <M>_m_<S>_s/ folders)")
    parser.add_argument("--no-quicklooks", action="store_true",
                        help="do not make missing quicklooks from the interferograms")


def run(args) -> int:
    from ..report import write_report

    index = write_report(args.out, make_missing_quicklooks=not args.no_quicklooks)
    print(f"wrote {index}")
    return 0
