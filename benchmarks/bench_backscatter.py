"""Benchmark of ``diapsar backscatter --dem`` (gamma0-RTC at 20 m) on a full-size IW product, and of the
calibration step side by side with OTB's ``otbcli_SARCalibration``.

    python benchmarks/bench_backscatter.py [--out /tmp/diapsar-bench-bsc] [--ram 2000] [--bursts 0-8]

Input (written once into OUT/input, reused; the same recipe as benchmarks/bench_chain_iw.py, whose helpers are
imported): the Morocco 2023-09-04 IW SAFE (3 swaths x 9 bursts, real annotation, calibration and noise), its VV
measurements CInt16 GeoTIFFs of the real size holding 2x2-correlated complex speckle in the benchmarked bursts
(``--bursts``, default all 9) and zero (no data) elsewhere, and the synthetic DEM (ellipsoidal heights) over
the three swaths.

Steps, each in a child process (peak RSS of the child from ``getrusage``):
1. ``diapsar backscatter --dem DEM --dem-geoid none --spacing 20`` on IW1-IW3 (--roi: the lon/lat box of the
   benchmarked bursts): seconds per step of each swath (window, calibrate, area, geocode, cog), whole run,
   peak RSS;
2. calibration throughput: ``diapsar backscatter`` in radar geometry (noise removal + sigma0, TOPS deburst, no
   multilook; on the full-size IW1 image, window = the lines of bursts 0..LAST), once per GeoTIFF codec
   (deflate, the default; zstd; none), and ``otbcli_SARCalibration -removenoise true`` (when installed; its
   output is uncompressed) on those lines (a measurement TIFF of bursts 0..LAST, as OTB reads whole images).
   Wall seconds and CPU seconds (user + system, every thread) of each, Mpix/s and Mpix per CPU second, the
   ratios, and the load average before and after (the machine may be shared).

A reduced run (``--bursts 0-0``: one burst per swath) shows the benchmark works without loading a shared
machine; the full run (default) is for an idle one.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import bench_chain_iw as iw  # noqa: E402  (the IW benchmark input recipe)

PRODUCT = "S1A_IW_SLC__1SDV_20230904T063730_20230904T063757_050174_0609E3_DAA1.SAFE"


def write_input(inp: Path, swaths: list[str], bursts: tuple[int, int], seed: int) -> tuple[Path, Path]:
    """The product (speckle in ``bursts`` of each swath's VV image) and the synthetic DEM; written once."""
    import rasterio

    from diapsar.io.safe import open_product

    iw.copy_metadata(inp)
    for other in iw._products(inp):
        if other.name != PRODUCT:
            shutil.rmtree(other)
    safe = inp / PRODUCT
    dem = iw.write_dem(inp)
    prod = open_product(safe)
    for sw in swaths:
        done = inp / f".bsc_{sw}_{bursts[0]}-{bursts[1]}.json"
        if done.exists():
            continue
        m = prod.swath(sw, "VV")
        path = safe / "measurement" / m.measurement_name
        rng = np.random.default_rng(seed + int(sw[-1]))
        tmp = path.with_suffix(".tmp.tiff")
        # one strip per line as ESA writes them; sparse: lines of bursts not benchmarked are never written and
        # read as 0 (no data)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with rasterio.open(tmp, "w", driver="GTiff", width=m.number_of_samples, height=m.number_of_lines,
                               count=1, dtype="complex_int16", blockysize=1, tiled=False, BIGTIFF="YES",
                               SPARSE_OK=True) as ds:
                for b in range(bursts[0], bursts[1] + 1):
                    z = iw._speckle(rng, (m.lines_per_burst, m.number_of_samples))
                    z *= iw._valid(m.bursts[b], m.number_of_samples)
                    q = np.empty(z.shape, dtype=np.complex64)
                    q.real = np.clip(np.rint(z.real * iw.SCALE), -32767, 32767)
                    q.imag = np.clip(np.rint(z.imag * iw.SCALE), -32767, 32767)
                    ds.write(q, 1, window=((b * m.lines_per_burst, (b + 1) * m.lines_per_burst),
                                           (0, m.number_of_samples)))
        os.replace(tmp, path)
        done.write_text(json.dumps({"swath": sw, "bursts": bursts}))
    return safe, dem


def burst_roi(safe: Path, swaths: list[str], bursts: tuple[int, int]) -> tuple[float, float, float, float]:
    """Lon/lat box of the benchmarked bursts of the swaths (annotation geolocation grid)."""
    from diapsar.io.safe import open_product

    prod = open_product(safe)
    lon, lat = [], []
    for sw in swaths:
        m = prod.swath(sw, "VV")
        g = m.geolocation_grid
        line = np.asarray(g.line)
        sel = (line >= bursts[0] * m.lines_per_burst) & (line <= (bursts[1] + 1) * m.lines_per_burst)
        lon += list(np.asarray(g.longitude_deg)[sel])
        lat += list(np.asarray(g.latitude_deg)[sel])
    return min(lon), min(lat), max(lon), max(lat)


# runs a command and reports its own children's peak RSS (RUSAGE_CHILDREN of a fresh process: the figure of that
# command alone, not the largest of every child this script started)
RSS_WRAPPER = ("import resource, subprocess, sys; rc = subprocess.call(sys.argv[1:]); "
               "u = resource.getrusage(resource.RUSAGE_CHILDREN); "
               "print('MAXRSS_KB', u.ru_maxrss, flush=True); print('CPU_S', u.ru_utime + u.ru_stime, flush=True); "
               "sys.exit(rc)")

LAST_CPU_S = [0.0]  # CPU seconds (user + system, all threads) of the last ``child`` command


def child(cmd: list[str], log: Path) -> tuple[float, float, int]:
    """(seconds, peak RSS GB of the command, return code); its output goes to ``log``; its CPU seconds in
    ``LAST_CPU_S[0]``."""
    t0 = time.perf_counter()
    with open(log, "w") as f:
        rc = subprocess.run([sys.executable, "-c", RSS_WRAPPER, *cmd], stdout=f, stderr=subprocess.STDOUT,
                            cwd=REPO, env=dict(os.environ, PYTHONWARNINGS="ignore")).returncode
    sec = time.perf_counter() - t0
    lines = log.read_text().splitlines()
    kb = [int(ln.split()[1]) for ln in lines if ln.startswith("MAXRSS_KB ")]
    cpu = [float(ln.split()[1]) for ln in lines if ln.startswith("CPU_S ")]
    LAST_CPU_S[0] = cpu[-1] if cpu else float("nan")
    return sec, (kb[-1] if kb else 0) / 1024 ** 2, rc


STEP_SCRIPT = """
import json, sys, time
from pathlib import Path
sys.path.insert(0, REPO_PATH)
from diapsar.geocode_backscatter import TerrainOptions, terrain_swaths
if __name__ == "__main__":
    safe, dem, out, ram, roi = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), json.loads(sys.argv[5])
    swaths, workers = sys.argv[6].split(","), int(sys.argv[7])
    opts = TerrainOptions(dem=Path(dem), spacing_m=20.0, geoid="none", roi=tuple(roi))
    res = {}
    t0 = time.perf_counter()
    rs = terrain_swaths(safe, swaths, "VV", out, opts, ram_mb=ram, workers=workers, quicklook=False)
    for sw, r in zip(swaths, rs):
        res[sw] = {"timings_s": r.timings_s, "total_s": sum(r.timings_s.values()), "grid": [r.grid.height, r.grid.width],
                   "looks": r.looks, "valid_fraction": r.valid_fraction}
    print("RESULT " + json.dumps(dict(res, wall_s=time.perf_counter() - t0)))
""".replace("REPO_PATH", repr(str(REPO)))

CAL_SCRIPT = """
import json, resource, sys, time
from diapsar.backscatter import backscatter
from diapsar.deburst import deburst_layout
from diapsar.io.safe import open_product
safe, out, ram, n_bursts, compress = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
with open_product(safe) as p:
    m = p.swath("IW1", "VV")
    lay = deburst_layout(m)
    rows = lay.segments[n_bursts - 1].out_line1 if n_bursts < len(m.bursts) else lay.lines
    t0 = time.perf_counter()
    c0 = resource.getrusage(resource.RUSAGE_SELF)
    r = backscatter(p, "IW1", "VV", out, lut="sigma0", ram_mb=ram, quicklook=False,
                    window=(0, rows, 0, m.number_of_samples), compress=compress)
    c1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = c1.ru_utime + c1.ru_stime - c0.ru_utime - c0.ru_stime
    print("RESULT " + json.dumps({"seconds": time.perf_counter() - t0, "cpu_s": cpu,
                                  "mpix": rows * m.number_of_samples / 1e6}))
"""


def otb_product(safe: Path, dest: Path, n_bursts: int) -> tuple[Path, int]:
    """IW1 VV of ``safe`` with a measurement TIFF of its first ``n_bursts`` bursts (what OTB reads)."""
    import rasterio
    from rasterio.windows import Window

    from diapsar.io.safe import open_product

    m = open_product(safe).swath("IW1", "VV")
    if dest.exists():
        shutil.rmtree(dest)
    (dest / "measurement").mkdir(parents=True)
    shutil.copytree(safe / "annotation", dest / "annotation")
    shutil.copy(safe / "manifest.safe", dest)
    n_lines = n_bursts * m.lines_per_burst
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with rasterio.open(safe / "measurement" / m.measurement_name) as src, \
                rasterio.open(dest / "measurement" / m.measurement_name, "w", driver="GTiff",
                              width=m.number_of_samples, height=n_lines, count=1, dtype="complex_int16",
                              blockysize=1, tiled=False) as o:
            for r in range(0, n_lines, 512):
                k = min(512, n_lines - r)
                o.write(src.read(1, window=Window(0, r, m.number_of_samples, k)), 1,
                        window=Window(0, r, m.number_of_samples, k))
            o.update_tags(TIFFTAG_IMAGEDESCRIPTION="Sentinel-1A IW SLC L1")
    return dest / "measurement" / m.measurement_name, n_lines * m.number_of_samples


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="/tmp/diapsar-bench-bsc")
    ap.add_argument("--bursts", default="0-8", help="benchmarked bursts FIRST-LAST of every swath (default 0-8)")
    ap.add_argument("--swaths", default="IW1,IW2,IW3")
    ap.add_argument("--ram", type=int, default=2000, help="memory budget, MB")
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--workers", type=int, default=1, help="swaths side by side in processes (terrain_swaths)")
    ap.add_argument("--steps", default="rtc,cal", help="steps to run: rtc, cal (default both)")
    args = ap.parse_args()
    todo = set(args.steps.split(","))
    a, _, b = args.bursts.partition("-")
    bursts = (int(a), int(b or a))
    swaths = args.swaths.split(",")
    out = Path(args.out)
    inp = out / "input"
    t0 = time.perf_counter()
    safe, dem = write_input(inp, swaths, bursts, args.seed)
    print(f"input ready in {time.perf_counter() - t0:.1f} s: {safe.name}, bursts {bursts}, DEM {dem.name}")
    roi = burst_roi(safe, swaths, bursts)
    res: dict = {"bursts": bursts, "swaths": swaths, "ram_mb": args.ram, "roi": roi, "cpus": os.cpu_count()}

    # 1. gamma0-RTC at 20 m
    if "rtc" in todo:
        rc = run_rtc(out, safe, dem, roi, swaths, args.ram, res, args.workers)
        if rc:
            return rc
    if "cal" in todo:
        rc = run_cal(out, safe, bursts, args.ram, res)
        if rc:
            return rc
    (out / "bench.json").write_text(json.dumps(res, indent=2))
    print(f"\nwrote {out / 'bench.json'}")
    return 0


def run_rtc(out: Path, safe: Path, dem: Path, roi, swaths: list[str], ram: int, res: dict, workers: int = 1) -> int:
    rtc_out = out / "rtc"
    shutil.rmtree(rtc_out, ignore_errors=True)
    load0 = os.getloadavg()
    script = out / "rtc_step.py"  # a file, not -c: the spawned swath workers re-import the main module
    script.write_text(STEP_SCRIPT)
    sec, rss, rc = child([sys.executable, str(script), str(safe), str(dem), str(rtc_out), str(ram),
                          json.dumps(roi), ",".join(swaths), str(workers)], out / "rtc.log")
    if rc != 0:
        print((out / "rtc.log").read_text()[-3000:])
        return 1
    steps = json.loads(next(ln for ln in (out / "rtc.log").read_text().splitlines()
                            if ln.startswith("RESULT "))[7:])
    steps.pop("wall_s", None)
    load1 = os.getloadavg()
    res["rtc"] = {"seconds": sec, "cpu_s": LAST_CPU_S[0], "workers": workers, "peak_rss_gb": rss, "swaths": steps,
                  "load_average_before": load0, "load_average_after": load1}
    print(f"\ngamma0-RTC 20 m, {len(swaths)} swaths: {sec:.1f} s (child, with imports), {LAST_CPU_S[0]:.1f} CPU s, "
          f"peak RSS {rss:.2f} GB; load average before {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}, after "
          f"{load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f}")
    for sw, s in steps.items():
        t = " ".join(f"{k} {v:.1f}" for k, v in s["timings_s"].items())
        print(f"  {sw}: grid {s['grid'][0]} x {s['grid'][1]}, looks {s['looks']}, valid {s['valid_fraction']:.2f}; "
              f"{t} (s); total {s['total_s']:.1f} s")
    return 0


def run_cal(out: Path, safe: Path, bursts: tuple[int, int], ram: int, res: dict) -> int:
    """2. calibration throughput, ours and OTB's, on the same IW1 lines."""
    n_bursts = bursts[1] + 1
    otb_safe = out / "otb" / PRODUCT
    tif, npix = otb_product(safe, otb_safe, n_bursts)
    # ours on the full-size image, limited to the same lines (``backscatter(window=...)``), with each GeoTIFF
    # codec; OTB on the TIFF of those lines (it reads whole images; its output is not compressed)
    res["calibration"] = {"load_average_before": os.getloadavg()}
    for compress in ("deflate", "zstd", "none"):
        sec, rss, rc = child([sys.executable, "-c", CAL_SCRIPT, str(safe), str(out / "cal"), str(ram),
                              str(n_bursts), compress], out / "cal.log")
        if rc != 0:
            print((out / "cal.log").read_text()[-3000:])
            return 1
        cal = json.loads(next(ln for ln in (out / "cal.log").read_text().splitlines()
                              if ln.startswith("RESULT "))[7:])
        res["calibration"][f"diapsar_{compress}"] = dict(cal, peak_rss_gb=rss, mpix_s=cal["mpix"] / cal["seconds"],
                                                        process_s=sec, process_cpu_s=LAST_CPU_S[0])
        print(f"\ncalibration IW1 (noise removal + sigma0 + deburst, {compress}), {cal['mpix']:.0f} Mpix: diapsar "
              f"{cal['seconds']:.2f} s = {cal['mpix'] / cal['seconds']:.1f} Mpix/s ({cal['cpu_s']:.2f} CPU s = "
              f"{cal['mpix'] / cal['cpu_s']:.1f} Mpix per CPU s); whole process {sec:.2f} s, "
              f"{LAST_CPU_S[0]:.2f} CPU s; peak RSS {rss:.2f} GB")
    otb = shutil.which("otbcli_SARCalibration")
    if otb is None:
        print("otbcli_SARCalibration not installed (Debian otb-bin): no side by side")
    else:
        sec, rss, rc = child([otb, "-in", str(tif), "-out", str(out / "otb.tif"), "float", "-lut", "sigma",
                              "-removenoise", "true", "-ram", str(ram)], out / "otb.log")
        if rc == 0:
            res["calibration"]["otb"] = {"seconds": sec, "cpu_s": LAST_CPU_S[0], "mpix": npix / 1e6,
                                         "mpix_s": npix / 1e6 / sec, "peak_rss_gb": rss}
            print(f"OTB SARCalibration: {sec:.2f} s = {npix / 1e6 / sec:.1f} Mpix/s ({LAST_CPU_S[0]:.2f} CPU s = "
                  f"{npix / 1e6 / LAST_CPU_S[0]:.1f} Mpix per CPU s), peak RSS {rss:.2f} GB")
            for compress in ("deflate", "zstd", "none"):
                d = res["calibration"][f"diapsar_{compress}"]
                print(f"  diapsar ({compress}) / OTB: throughput {d['mpix_s'] / (npix / 1e6 / sec):.2f} "
                      f"(whole processes {sec / d['process_s']:.2f}), per CPU second "
                      f"{d['mpix'] / d['cpu_s'] / (npix / 1e6 / LAST_CPU_S[0]):.2f}")
        else:
            print("OTB failed: " + (out / "otb.log").read_text()[-1000:])
        (out / "otb.tif").unlink(missing_ok=True)
    res["calibration"]["load_average_after"] = os.getloadavg()
    print(f"load average before {res['calibration']['load_average_before']}, after "
          f"{res['calibration']['load_average_after']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
