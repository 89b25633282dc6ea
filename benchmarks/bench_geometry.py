"""Throughput of the geometry kernels on a real IW swath (points per second, single thread).

    python benchmarks/bench_geometry.py [--n 1000000] [--data ../shared/data/s1]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=1_000_000, help="number of points")
    default = os.environ.get("DIAPSAR_TEST_DATA", str(Path(__file__).resolve().parents[2] / "shared" / "data" / "s1"))
    ap.add_argument("--data", default=default)
    args = ap.parse_args()

    from diapsar.geometry import RadarGrid, ecef_to_llh, geo2rdr, llh_to_ecef, rdr2geo, rdr2geo_dem
    from diapsar.io.safe import open_annotation
    from diapsar.orbit import Orbit

    xml = next((Path(args.data) / "terceira_iw3_20220918_real_crop").glob("s1a-iw3-*.xml"))
    meta = open_annotation(xml)
    orbit = Orbit(meta.orbit)
    grid = RadarGrid.from_metadata(meta)
    rng = np.random.default_rng(0)
    n = args.n
    lines = rng.uniform(0, meta.number_of_lines - 1, n)
    pixels = rng.uniform(0, meta.number_of_samples - 1, n)
    t = grid.line_to_time(lines)
    tau = grid.pixel_to_range_time(pixels)
    h = rng.uniform(0, 1000, n)

    def timed(label, fn, *a, **k):
        fn(*a, **k)  # compile (serial and parallel kernels) and warm up
        m = next(x.shape[0] for x in a if isinstance(x, np.ndarray))
        t0 = time.perf_counter()
        out = fn(*a, **k)
        dt = time.perf_counter() - t0
        print(f"{label:34s} {m / dt / 1e6:7.2f} M points/s  ({dt:.2f} s for {m} points)")
        return out

    lat, lon, hh = timed("rdr2geo (random order)", rdr2geo, orbit, t, tau, h)
    # a contiguous raster block (what the simulator and the chain do): lines x pixels, pixels fastest
    nl = max(1, n // 2000)
    rl, rp = np.meshgrid(np.arange(9000, 9000 + nl, dtype=float), 10000 + np.arange(2000, dtype=float), indexing="ij")
    rt, rtau = grid.line_to_time(rl.ravel()), grid.pixel_to_range_time(rp.ravel())
    timed("rdr2geo (raster block)", rdr2geo, orbit, rt, rtau, 300.0)
    timed("geo2rdr (coarse start)", geo2rdr, orbit, lat, lon, hh)
    timed("geo2rdr (with t_guess)", geo2rdr, orbit, lat, lon, hh, t)
    xyz = timed("llh_to_ecef", llh_to_ecef, lat, lon, hh)
    timed("ecef_to_llh", ecef_to_llh, xyz)
    # DEM: 0.0008 deg posts over the swath with 0-1500 m relief
    la0, la1 = np.nanmin(lat) - 0.05, np.nanmax(lat) + 0.05
    lo0, lo1 = np.nanmin(lon) - 0.05, np.nanmax(lon) + 0.05
    d = 0.0008
    ny, nx = int((la1 - la0) / d), int((lo1 - lo0) / d)
    yy, xx = np.mgrid[0:ny, 0:nx]
    dem = 700 + 700 * np.sin(yy / 150.0) * np.cos(xx / 110.0)
    gt = (lo0, d, 0.0, la1, 0.0, -d)
    timed("rdr2geo_dem (raster block)", rdr2geo_dem, orbit, rt, rtau, dem, gt)


if __name__ == "__main__":
    main()
