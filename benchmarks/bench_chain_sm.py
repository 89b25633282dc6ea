"""Benchmark of the SAR_MultiSlc chain on a simulated StripMap pair.

    python benchmarks/bench_chain_sm.py --size 8000 --out /tmp/diapsar-bench [--ram 2000] [--keep]

Simulates a master and one slave of SIZE x SIZE pixels (S3 beam, volcano scene) unless OUT/input already
holds them, runs the chain (light mode, ortho and filtering on, ML 3x3) and prints, per step, the wall time and
the throughput in Mpix/s (SLC pixels for the full-resolution steps, ML cells for the ML steps, map cells for
the ortho), the peak resident memory of the process, and writes OUT/bench.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=8000, help="lines = samples of each image (default 8000)")
    ap.add_argument("--out", default="/tmp/diapsar-bench", help="work folder")
    ap.add_argument("--ram", type=int, default=2000, help="-ram memory budget of the chain, MB")
    ap.add_argument("--keep", action="store_true", help="keep the outputs (default: remove the chain outputs)")
    args = ap.parse_args()

    import numba

    from diapsar.chains.demo import demo_config
    from diapsar.config import from_dict

    out = Path(args.out)
    inp, res_dir = out / "input", out / "output"
    n = int(args.size)
    t0 = time.perf_counter()
    if not (inp / "truth" / "truth.json").exists():
        # in a child process, so that the peak RSS printed below is the chain's alone
        import subprocess

        code = ("import sys; sys.path.insert(0, sys.argv[1]); from diapsar.simulate.api import simulate_stack; "
                "simulate_stack(sys.argv[2], mode='sm', dates=2, size=(int(sys.argv[3]),) * 2, seed=11)")
        subprocess.run([sys.executable, "-c", code, str(REPO), str(inp), str(n)], check=True)
        t_sim = time.perf_counter() - t0
    else:
        t_sim = None
    rss_after_sim = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    shutil.rmtree(res_dir, ignore_errors=True)
    raw = demo_config(inp, res_dir, ram_mb=args.ram)
    raw["DIn_SAR"]["parameter"].update(GridStep_range=150, GridStep_azimut=150)
    cfg = from_dict(raw)
    from diapsar.chains.multislc import run_chain

    t1 = time.perf_counter()
    run = run_chain(cfg)
    wall = time.perf_counter() - t1
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: kB -> MB
    pair = json.loads((res_dir / run["pairs"][0] / "pair.json").read_text())
    import rasterio

    with rasterio.open(res_dir / run["pairs"][0] / "interferogram_ortho.tif") as ds:
        ortho_cells = ds.width * ds.height
    slc = n * n
    ml = (n // 3) * (n // 3)
    t = run["timings_s"]
    p = pair["timings_s"]
    rows = [
        ("multilook + Doppler0 (master)", t.get("multilook_doppler0", 0.0), slc),
        ("multilook + Doppler0 (slave)", p.get("multilook_doppler0", 0.0), slc),
        ("DEM (VRT, geoid)", t.get("dem", 0.0), None),
        ("DEM projection", t.get("dem_projection", 0.0), None),
        ("cartesian mean", t.get("cartesian_mean", 0.0), ml),
        ("topographic phase", p.get("topographic_phase", 0.0), ml),
        ("deformation grid (DEM + residual)", p.get("deformation_grid", 0.0), None),
        ("coregistration (sinc 8 taps)", p.get("coregistration", 0.0), slc),
        ("interferogram", p.get("interferogram", 0.0), slc),
        ("Goldstein filtering", p.get("filtering", 0.0), ml),
        ("ortho lookup (master, once per run)", t.get("ortho_lookup", 0.0), ortho_cells),
        ("ortho (interferogram)", p.get("ortho:interferogram_ortho.tif", 0.0), ortho_cells),
        ("ortho (filtered)", p.get("ortho:interferogram_filtered_ortho.tif", 0.0), ortho_cells),
        ("quicklooks", p.get("quicklooks", 0.0), ml),
    ]
    print(f"SAR_MultiSlc benchmark: SM pair {n} x {n} px, ML 3x3, -ram {args.ram} MB, "
          f"{numba.config.NUMBA_NUM_THREADS} numba threads, {platform.processor() or platform.machine()}")
    if t_sim is not None:
        print(f"simulation of the pair: {t_sim:.1f} s")
    print(f"{'step':38s} {'seconds':>9s} {'Mpix/s':>9s}  (pixels)")
    for name, sec, px in rows:
        rate = f"{px / sec / 1e6:9.2f}" if px and sec > 0 else f"{'-':>9s}"
        print(f"{name:38s} {sec:9.2f} {rate}  {'' if not px else f'{px / 1e6:.1f} M'}")
    print(f"{'chain total (wall)':38s} {wall:9.2f} {slc / wall / 1e6:9.2f}  {slc / 1e6:.1f} M SLC px per image")
    sim_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
    print(f"peak RSS of the chain: {rss:.0f} MB (before the chain: {rss_after_sim:.0f} MB"
          + (f"; simulation child process: {sim_rss:.0f} MB)" if t_sim is not None else ")"))
    result = {"size": n, "ram_mb": args.ram, "wall_s": wall, "peak_rss_mb": rss, "steps": {
        name: {"seconds": sec, "mpix_per_s": (px / sec / 1e6 if px and sec > 0 else None)} for name, sec, px in rows},
        "simulation_s": t_sim, "threads": numba.config.NUMBA_NUM_THREADS}
    (out / "bench.json").write_text(json.dumps(result, indent=2))
    if not args.keep:
        shutil.rmtree(res_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
