"""Time the simulation of a stripmap pair (default 2000 x 2000 pixels; target <= 30 s on 2 cores).

    python benchmarks/bench_simulate.py [--size LINES SAMPLES] [--dates N] [--keep DIR]

The first run in a fresh environment also compiles the numba kernels (cached afterwards); the time of a
second run in the same process is printed separately.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, nargs=2, default=(2000, 2000))
    ap.add_argument("--dates", type=int, default=2)
    ap.add_argument("--mode", default="sm")
    ap.add_argument("--repeat", type=int, default=1, help="runs after the first (warm) one")
    ap.add_argument("--keep", default=None, help="keep the output of the last run in this folder")
    args = ap.parse_args()
    from diapsar.simulate import simulate_stack

    for run in range(1 + args.repeat):
        out = Path(tempfile.mkdtemp(prefix="bench_sim_"))
        steps = []
        t0 = time.perf_counter()

        def log(msg, t0=t0, steps=steps):
            steps.append((time.perf_counter() - t0, msg))

        res = simulate_stack(out, mode=args.mode, dates=args.dates, size=tuple(args.size), seed=0, log=log)
        dt = time.perf_counter() - t0
        label = "first run (includes numba compilation if not cached)" if run == 0 else f"run {run + 1}"
        print(f"{label}: {args.mode.upper()} {args.dates} dates {args.size[0]} x {args.size[1]}: {dt:.1f} s")
        for t, msg in steps:
            print(f"   {t:6.1f} s  {msg}")
        if args.keep and run == args.repeat:
            dest = Path(args.keep)
            if dest.exists():
                shutil.rmtree(dest)
            shutil.copytree(res.out_dir, dest)
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
