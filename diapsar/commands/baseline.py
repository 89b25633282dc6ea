"""``diapsar baseline MASTER SLAVE [--swath IW1|IW2|IW3] [--json]``: burst matching and baselines of a pair."""

from __future__ import annotations

import json

NAME = "baseline"
HELP = "burst matching and perpendicular/parallel/temporal baselines, height of ambiguity of a pair"
DESCRIPTION = (
    "Burst matching and baselines between two acquisitions of the same track.\n\n"
    "MASTER and SLAVE: SAFE folders, zipped SAFEs, measurement TIFFs or annotation XMLs (same relative\n"
    "orbit). TOPS (IW/EW): master and slave bursts are paired by ESA burst ID; for each common burst the\n"
    "figures are given at mid-burst, mid-range. Stripmap: one line at the scene centre. The reference\n"
    "point lies at the median height of the master's geolocation grid.\n\n"
    "Conventions (P the reference point, S_m/S_s the master/slave positions at their zero-Doppler times,\n"
    "l the master line of sight, V_m the master velocity):\n"
    "  B_par   = parallel baseline ~ R_slave - R_master: positive when the slave is farther from P;\n"
    "  B_perp  = component of S_s - S_m perpendicular to both l and V_m, signed as\n"
    "            sign(((P - S_m) x (S_s - S_m)) . V_m) (ISCE2/dolphin convention): for a right-looking\n"
    "            radar B_perp > 0 when the slave is below the master's line of sight (sees P under a\n"
    "            larger look angle);\n"
    "  B_along = along-track component (orbit convergence), not part of B_perp;\n"
    "  B_temp  = slave - master time in days;\n"
    "  h_amb   = lambda R sin(incidence) / (2 B_perp), monostatic, signed like B_perp (none if B_perp = 0)."
)


def add_arguments(parser) -> None:
    parser.add_argument("master", metavar="MASTER", help="master product (SAFE, zip, TIFF or annotation XML)")
    parser.add_argument("slave", metavar="SLAVE", help="slave product")
    parser.add_argument("--swath", metavar="SWATH", help="one swath (IW1, IW2, IW3, EW1.., S1..S6); "
                        "default: every swath both products have")
    parser.add_argument("--polarisation", metavar="POL", help="polarisation (default: VV, HH, VH, HV in order)")
    parser.add_argument("--orbit", metavar="EOF", action="append",
                        help="orbit file or folder of orbit files used for both dates (repeatable); "
                             "default: the annotation state vectors")
    parser.add_argument("--orbit-fallback", action="store_true",
                        help="when no --orbit file covers the acquisition, use the annotation state vectors "
                             "(a warning says so) instead of failing")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _fmt(v, spec: str) -> str:
    if v is None:
        width = int("".join(c for c in spec.split(".")[0] if c.isdigit()) or 0)
        return "-".rjust(width)
    return format(v, spec)


def run(args) -> int:
    from ..baseline import swath_baselines
    from ..errors import SelectionError
    from ..io.safe import open_product
    from ..orbit import orbit_for

    master = open_product(args.master)
    slave = open_product(args.slave)
    if args.swath:
        swaths = [args.swath.upper()]
        for prod, role in ((master, "master"), (slave, "slave")):
            if swaths[0] not in prod.swaths:
                raise SelectionError(f"{role} {prod.name} has no swath {swaths[0]} (it has {', '.join(prod.swaths)})")
    else:
        swaths = [s for s in master.swaths if s in slave.swaths]
        if not swaths:
            raise SelectionError(f"no common swath: master {', '.join(master.swaths)}, slave {', '.join(slave.swaths)}")
    rows = []
    for sw in swaths:
        m = master.swath(sw, args.polarisation)
        s = slave.swath(sw, args.polarisation)
        mo = orbit_for(m, args.orbit, fallback_to_annotation=args.orbit_fallback)
        so = orbit_for(s, args.orbit, fallback_to_annotation=args.orbit_fallback)
        rows.extend(swath_baselines(m, s, mo, so))
    if args.json:
        doc = {"master": master.name, "slave": slave.name, "master_date": master.date, "slave_date": slave.date,
               "relative_orbit": master.relative_orbit, "baselines": [r.to_dict() for r in rows]}
        print(json.dumps(doc, indent=2))
        return 0
    print(f"master  {master.name}")
    print(f"slave   {slave.name}")
    print(f"track   relative orbit {master.relative_orbit}, temporal baseline {rows[0].temporal_days:.3f} days")
    print(f"{'swath':5s} {'burst_id':>8s} {'m_burst':>7s} {'s_burst':>7s} {'B_perp_m':>9s} {'B_par_m':>8s} "
          f"{'B_along_m':>9s} {'h_amb_m':>9s} {'inc_deg':>7s}  {'latitude':>9s} {'longitude':>10s}")
    for r in rows:
        print(f"{r.swath:5s} {_fmt(r.burst_id, '8d')} {_fmt(r.master_burst, '7d')} {_fmt(r.slave_burst, '7d')} "
              f"{r.perpendicular_m:9.2f} {r.parallel_m:8.2f} {r.along_track_m:9.2f} "
              f"{_fmt(r.height_of_ambiguity_m, '9.1f')} {r.incidence_deg:7.2f}  {r.latitude_deg:9.5f} "
              f"{r.longitude_deg:10.5f}")
    return 0
