"""Benchmark of the SAR_MultiSlc IW chain on full-size data with the real Morocco burst layout.

    python benchmarks/bench_chain_iw.py [--swaths IW1] [--bursts 0-8] [--out /tmp/diapsar-bench-iw] [--ram 2000]

Input (written once into OUT/input, reused by later runs): the two Morocco IW SAFE products (3 swaths x 9 bursts,
real annotation, calibration, noise, manifest) copied without their all-zero measurements; the VV measurement of
each benchmarked swath is a CInt16 GeoTIFF of the real size filled with spatially correlated complex speckle:

- slave burst k: TOPS ramp of its own annotation x (a C_k + sqrt(1 - a^2) N_k), C_k and N_k independent
  2x2-smoothed complex Gaussian speckle (baseband), a = --coherence;
- master burst b: the common part C of its slave burst seen through the chain's own burst deformation grid (flat
  synthetic DEM) plus a hidden azimuth offset of --timing-error lines (``tops.burst_resample``: deramp, sinc,
  reramp), so the pair is coregistrable exactly, coherence ~ a, and ESD must find the hidden offset.

A synthetic DEM (gentle terrain, heights already ellipsoidal, Geoid "none") covers the three swaths. The chain runs
in a child process (``SAR_MultiSlc.py CONFIG``: ML 8x2, grid step 160, ESD on, no ortho, -ram); printed: seconds
and Mpix/s per step (``timings_s`` of run.json / pair.json), per burst pair, whole pair, peak RSS of the child,
the CPU seconds (all threads) of every step, total and per burst pair, and OUT/bench.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATA = Path("/work/shared/data/s1/morocco_iw_pair_20230904_20230916")
STEP = 160  # chain grid step (a multiple of ML 8 x 2, DiapOTB chain template)
GEN_STEP = 150  # grid step of the simulated master (the input written once)
SCALE = 60.0  # speckle amplitude in CInt16 counts


def _speckle(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Complex Gaussian speckle, E|z|^2 = 1, correlated over 2x2 pixels (complex64)."""
    n0, n1 = shape
    out = np.empty(shape, dtype=np.complex64)
    blk = 512
    for r in range(0, n0, blk):
        m = min(blk, n0 - r)
        w = rng.standard_normal((m + 1, 2 * (n1 + 1)), dtype=np.float32).view(np.complex64)
        w *= np.float32(math.sqrt(0.5))
        s = w[:-1, :-1] + w[1:, :-1]
        s += w[:-1, 1:]
        s += w[1:, 1:]
        s *= np.float32(0.5)
        out[r:r + m] = s
    return out


def _valid(burst: Any, n_samples: int) -> np.ndarray:
    fv = np.asarray(burst.first_valid_sample)
    lv = np.asarray(burst.last_valid_sample)
    cols = np.arange(n_samples)
    return (cols[None, :] >= fv[:, None]) & (cols[None, :] <= lv[:, None]) & (fv[:, None] >= 0)


class _CInt16Writer:
    """CInt16 GeoTIFF (one strip per line, as ESA writes them), written burst by burst, renamed when closed."""

    def __init__(self, path: Path, n_lines: int, n_samples: int) -> None:
        import warnings

        import rasterio
        from rasterio.errors import NotGeoreferencedWarning

        self.path, self.tmp = path, path.with_suffix(".tmp.tiff")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            self.ds = rasterio.open(self.tmp, "w", driver="GTiff", width=n_samples, height=n_lines, count=1,
                                    dtype="complex_int16", blockysize=1, tiled=False, BIGTIFF="YES")

    def write(self, line0: int, z: np.ndarray) -> None:
        q = np.empty(z.shape, dtype=np.complex64)
        q.real = np.clip(np.rint(z.real * SCALE), -32767, 32767)
        q.imag = np.clip(np.rint(z.imag * SCALE), -32767, 32767)
        self.ds.write(q, 1, window=((line0, line0 + z.shape[0]), (0, z.shape[1])))

    def close(self) -> None:
        self.ds.close()
        os.replace(self.tmp, self.path)


def _products(inp: Path) -> list[Path]:
    return sorted(inp.glob("S1A_IW_SLC__*.SAFE"))


def copy_metadata(inp: Path) -> None:
    """The Morocco SAFE folders without their measurements (those are written per swath)."""
    inp.mkdir(parents=True, exist_ok=True)
    for src in sorted(DATA.glob("*.SAFE")):
        dest = inp / src.name
        if dest.exists():
            continue
        shutil.copytree(src, dest, ignore=shutil.ignore_patterns("measurement", "preview"))
        (dest / "measurement").mkdir()
        for tif in (src / "measurement").glob("*.tiff"):  # placeholders (zero pixels) until a swath is written
            shutil.copy(tif, dest / "measurement" / tif.name)
            os.chmod(dest / "measurement" / tif.name, 0o644)


def write_dem(inp: Path) -> Path:
    """Synthetic DEM over all three swaths of both products: gentle terrain around the annotation heights."""
    import rasterio
    from rasterio.transform import from_origin

    path = inp / "dem" / "synthetic_dem.tif"
    if path.exists():
        return path
    from diapsar.io.safe import open_product

    lat, lon, h = [], [], []
    for p in _products(inp):
        prod = open_product(p)
        for sw in prod.swaths:
            g = prod.swath(sw, "VV").geolocation_grid
            lat.append(np.ravel(g.latitude_deg))
            lon.append(np.ravel(g.longitude_deg))
            h.append(np.ravel(g.height_m))
    la, lo, hh = np.concatenate(lat), np.concatenate(lon), np.concatenate(h)
    d = 1.0 / 1200.0  # 3 arc-seconds
    x0, x1 = math.floor((lo.min() - 0.2) / d) * d, math.ceil((lo.max() + 0.2) / d) * d
    y0, y1 = math.floor((la.min() - 0.2) / d) * d, math.ceil((la.max() + 0.2) / d) * d
    nx, ny = int(round((x1 - x0) / d)), int(round((y1 - y0) / d))
    xx = x0 + (np.arange(nx) + 0.5) * d
    yy = y1 - (np.arange(ny) + 0.5) * d
    href = float(np.median(hh))
    z = (href + 150.0 * np.sin(2 * np.pi * (xx[None, :] - x0) / 0.37) * np.cos(2 * np.pi * (yy[:, None] - y0) / 0.29)
         + 80.0 * np.sin(2 * np.pi * (xx[None, :] + yy[:, None]) / 0.11)).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", driver="GTiff", width=nx, height=ny, count=1, dtype="float32", crs="EPSG:4326",
                       transform=from_origin(x0, y1, d, d), tiled=True, compress="deflate") as ds:
        ds.write(z[None])
    return path


def write_swath(inp: Path, dem_path: Path, swath: str, coherence: float, timing_error: float, seed: int,
                say: Any) -> None:
    """Speckle measurements of ``swath`` (VV) for both products (see the module docstring); skipped when done."""
    done = inp / f".speckle_{swath}.json"
    want = {"coherence": coherence, "timing_error_lines": timing_error, "seed": seed, "step": GEN_STEP}
    if done.exists() and json.loads(done.read_text()) == want:
        return
    from diapsar import tops
    from diapsar.baseline import match_bursts
    from diapsar.deramp import TopsRamp, reramp
    from diapsar.io.dem import load_dem
    from diapsar.io.safe import open_product
    from diapsar.orbit import Orbit

    t0 = time.perf_counter()
    pm, ps = _products(inp)
    prod_m, prod_s = open_product(pm), open_product(ps)
    m, s = prod_m.swath(swath, "VV"), prod_s.swath(swath, "VV")
    om, os_ = Orbit(m.orbit), Orbit(s.orbit)
    dem = load_dem(dem_path, ellipsoidal=False)
    rng = np.random.default_rng(seed + int(swath[-1]))
    a = float(coherence)
    b_ = math.sqrt(max(0.0, 1.0 - a * a))
    matches = {mi: si for _bid, mi, si in match_bursts(m, s)}
    ws = _CInt16Writer(Path(prod_s.measurement_path(swath, "VV")), s.number_of_lines, s.number_of_samples)
    common: dict[int, np.ndarray] = {}
    for k, sb in enumerate(s.bursts):
        ramp = TopsRamp.from_metadata(s, k, os_)
        c = _speckle(rng, (s.lines_per_burst, s.number_of_samples))
        n = _speckle(rng, c.shape)
        c_raw = reramp(c, ramp)
        z = reramp(n, ramp)
        z *= np.float32(b_)
        z += np.float32(a) * c_raw
        z[~_valid(sb, s.number_of_samples)] = 0
        ws.write(sb.first_line, z)
        if k in matches.values():
            common[k] = c_raw
        del c, n
    ws.close()
    say(f"  {swath} slave written ({time.perf_counter() - t0:.0f} s)")
    wm = _CInt16Writer(Path(prod_m.measurement_path(swath, "VV")), m.number_of_lines, m.number_of_samples)
    for bi, mb in enumerate(m.bursts):
        if bi not in matches:
            z = _speckle(rng, (m.lines_per_burst, m.number_of_samples))
        else:
            si = matches[bi]
            sb = s.bursts[si]
            grid = tops.burst_grid(m, om, s, os_, dem, bi, si, GEN_STEP, GEN_STEP)
            grid[1] += timing_error
            arr = common[si]

            def read(line0: int, sample0: int, n_lines: int, n_samples: int, arr: np.ndarray = arr,
                     first: int = sb.first_line) -> np.ndarray:
                return arr[line0 - first:line0 - first + n_lines, sample0:sample0 + n_samples]

            z = tops.burst_resample(read, s, si, TopsRamp.from_metadata(s, si, os_), grid, GEN_STEP, GEN_STEP, 0,
                                    m.lines_per_burst, m.number_of_samples)
        z[~_valid(mb, m.number_of_samples)] = 0
        wm.write(mb.first_line, z)
        common.pop(matches.get(bi, -1), None)
    wm.close()
    done.write_text(json.dumps(want))
    say(f"  {swath} master + slave written ({time.perf_counter() - t0:.0f} s)")


def chain_config(path: Path, inp: Path, out: Path, dem: Path, swaths: list[str], bursts: str | None, ram: int,
                 esd_iter: int, filtering: bool, full: bool = False) -> Path:
    glob_par: dict[str, Any] = {"clean": "no" if full else "yes", "optram": ram}
    if bursts:
        glob_par["burst_index"] = bursts
    raw = {"Global": {"in": {"Input_Path": str(inp), "DEM_Path": str(dem), "Geoid": "none", "Mode": "IW",
                             "Polarisation": "VV", "Swath": swaths},
                      "out": {"Output_Path": str(out)}, "parameter": glob_par},
           "Pre_Processing": {"parameter": {"ML_ran": 8, "ML_azi": 2}},
           "DIn_SAR": {"parameter": {"GridStep_range": STEP, "GridStep_azimut": STEP, "ESD_iter": esd_iter}},
           "Post_Processing": {"parameter": {"Activate_Ortho": "no",
                                             "Activate_Filtering": "yes" if filtering else "no"}}}
    path.write_text(json.dumps(raw, indent=1))
    return path


# the chain run by the child process, with the CPU seconds (all threads: time.process_time) of every step and of
# the resampling inside the interferogram step written to a JSON file: on a machine shared with other work the
# wall-clock seconds depend on the load, CPU seconds much less
CHILD = """
import json, sys, time
from diapsar import tops
from diapsar.chains import steps
from diapsar.chains.cli import main
cpu = {}
run_step = steps.run_step
def timed_step(step, ctx, unit):
    c0 = time.process_time()
    try:
        return run_step(step, ctx, unit)
    finally:
        key = ("pair." if unit.slave is not None else "") + step.name
        cpu[key] = cpu.get(key, 0.0) + time.process_time() - c0
steps.run_step = timed_step
frame_resample = tops.frame_resample
def timed_resample(*a, **k):
    c0 = time.process_time()
    try:
        return frame_resample(*a, **k)
    finally:
        cpu["pair.interferogram.resampling"] = cpu.get("pair.interferogram.resampling", 0.0) + time.process_time() - c0
tops.frame_resample = timed_resample
c0 = time.process_time()
rc = main([sys.argv[1]])
cpu["total"] = time.process_time() - c0
with open("/proc/self/status") as f:  # peak RSS since exec (ru_maxrss would carry the parent's peak over fork)
    hwm_kb = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
import resource
ru = resource.getrusage(resource.RUSAGE_CHILDREN)  # the swath processes (reaped when their pool shut down)
with open(sys.argv[2], "w") as f:
    json.dump({"cpu": cpu, "vmhwm_kb": hwm_kb, "children_cpu_s": ru.ru_utime + ru.ru_stime}, f)
sys.exit(rc)
"""


def _mpix(px: float | None, sec: float) -> str:
    return f"{px / sec / 1e6:9.1f}" if px and sec > 0 else f"{'-':>9s}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="/tmp/diapsar-bench-iw", help="work folder (input is written once and kept)")
    ap.add_argument("--swaths", default="IW1", help="comma-separated swaths, or 'all' (default IW1)")
    ap.add_argument("--bursts", default=None, help="master bursts FIRST-LAST, 0-based (default: all 9)")
    ap.add_argument("--ram", type=int, default=2000, help="-ram memory budget of the chain, MB")
    ap.add_argument("--esd-iter", type=int, default=2)
    ap.add_argument("--filtering", action="store_true", help="Goldstein filtering on (default off)")
    ap.add_argument("--coherence", type=float, default=0.6, help="coherence of the simulated pair")
    ap.add_argument("--timing-error", type=float, default=0.01, help="hidden azimuth offset (lines) for ESD")
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--full", action="store_true",
                    help="full mode (clean no: the coregistered slave is written too); default light mode")
    ap.add_argument("--swath-processes", type=int, default=0,
                    help="Compute.swath_processes of the run (0: the chain's choice; 1: swaths one after the other, "
                         "which gives CPU seconds per step)")
    ap.add_argument("--prepare-only", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the chain outputs")
    args = ap.parse_args()

    def say(msg: str) -> None:
        print(msg, flush=True)

    swaths = ["IW1", "IW2", "IW3"] if args.swaths == "all" else [s.strip().upper() for s in args.swaths.split(",")]
    out = Path(args.out)
    inp, res = out / "input", out / "output"
    t0 = time.perf_counter()
    copy_metadata(inp)
    dem = write_dem(inp)
    for sw in swaths:
        write_swath(inp, dem, sw, args.coherence, args.timing_error, args.seed, say)
    t_prep = time.perf_counter() - t0
    say(f"input ready in {t_prep:.0f} s: {inp}")
    if args.prepare_only:
        return 0
    shutil.rmtree(res, ignore_errors=True)
    cfg = chain_config(out / "config.json", inp, res, dem, swaths, args.bursts, args.ram, args.esd_iter,
                       args.filtering, args.full)
    raw_cfg = json.loads(cfg.read_text())
    raw_cfg["Compute"] = {"swath_processes": args.swath_processes}
    cfg.write_text(json.dumps(raw_cfg, indent=1))
    load0 = os.getloadavg()
    t1 = time.perf_counter()
    env = dict(os.environ, PYTHONWARNINGS="ignore", PYTHONPATH=str(REPO))
    cpu_file = out / "cpu.json"
    from bench_scale import run_measured  # the process-tree memory sampler of the scale benchmark

    _, r, roles, tree_peak = run_measured([sys.executable, "-c", CHILD, str(cfg), str(cpu_file)], env, cwd=REPO)
    peaks = {pid: mb for pid, (_role, mb) in roles.items()}
    wall = time.perf_counter() - t1
    load1 = os.getloadavg()
    if r.returncode != 0:
        print(r.stdout[-3000:], r.stderr[-5000:])
        return 1
    from diapsar.io.safe import open_product

    run = json.loads((res / "run.json").read_text())
    child = json.loads(cpu_file.read_text())
    cpu, rss = child["cpu"], child["vmhwm_kb"] / 1024.0
    children_cpu = float(child.get("children_cpu_s", 0.0))
    m = open_product(_products(inp)[0])
    first, last = (int(v) for v in args.bursts.split("-")) if args.bursts else (0, 8)
    rows: list[tuple[str, float, float | None]] = []
    total_bursts = 0
    total_px = 0.0
    per_swath: dict[str, Any] = {}
    for sw in swaths:
        meta = m.swath(sw, "VV")
        nb = last - first + 1
        burst_px = meta.lines_per_burst * meta.number_of_samples
        total_bursts += nb
        total_px += nb * burst_px
        sdir = res / sw if len(swaths) > 1 else res
        srun = json.loads((sdir / "run.json").read_text())
        pair_dir = sdir / srun["pairs"][0]
        pair = json.loads((pair_dir / "pair.json").read_text())
        rg = pair["radar_grid"]
        frame_px = rg["lines"] * rg["samples"]
        t, p = srun["timings_s"], pair["timings_s"]
        esd = pair.get("esd", {})
        per_swath[sw] = {"bursts": nb, "frame_px": frame_px, "run": t, "pair": p,
                         "esd_shift_lines": pair.get("esd_shift_lines"), "esd_status": esd.get("status")}
        for k, v in t.items():
            if not k.startswith("pair."):
                rows.append((f"{sw} master: {k}", float(v), frame_px))
        for k, v in p.items():
            rows.append((f"{sw} pair: {k}", float(v), frame_px))
        # the interferogram step holds the coregistration (resampling) and the interferogram + coherence
        per_swath[sw]["resample_ifg_coherence_per_burst_s"] = float(p.get("interferogram", 0.0)) / nb
    load_now = os.getloadavg()
    say(f"\nSAR_MultiSlc IW benchmark: Morocco pair, swaths {','.join(swaths)}, bursts {first}-{last}, VV, ML 8x2, "
        f"grid step {STEP}, ESD_iter {args.esd_iter}, no ortho, filtering {'on' if args.filtering else 'off'}, "
        f"{'full' if args.full else 'light'} mode, "
        f"-ram {args.ram} MB, {os.cpu_count()} cores; load average before/after {load0[0]:.2f}/{load1[0]:.2f}")
    say(f"{'step':52s} {'seconds':>9s} {'Mpix/s':>9s}  (frame pixels)")
    for name, sec, px in rows:
        say(f"{name:52s} {sec:9.2f} {_mpix(px, sec)}  {px / 1e6 if px else 0:.0f} M")
    nb_all = max(1, total_bursts)
    n_swath_proc = sum(1 for pid in peaks if peaks[pid] > 100) - 1
    if children_cpu > 1.0:
        say(f"swaths side by side in {n_swath_proc} processes: CPU seconds of the chain process "
            f"{cpu.get('total', 0.0):.1f} (start-up, merge), of the swath processes {children_cpu:.1f}, together "
            f"{cpu.get('total', 0.0) + children_cpu:.1f} ({(cpu.get('total', 0.0) + children_cpu) / nb_all:.2f} per "
            "burst pair); per-step CPU seconds below are the chain process's only (--swath-processes 1 for them)")
    say(f"CPU seconds of the chain process (all threads; all swaths together), total and per burst pair "
        f"({nb_all} bursts):")
    for k, v in cpu.items():
        say(f"  {k:50s} {v:9.2f} {v / nb_all:9.2f}")
    for sw, d in per_swath.items():
        p = d["pair"]
        core = d["resample_ifg_coherence_per_burst_s"]
        co = float(p.get("coregistration", 0.0)) / d["bursts"]
        say(f"{sw}: per burst pair: resampling {co:.2f} s + interferogram/coherence {core - co:.2f} s = {core:.2f} s "
            f"(target <= 3 s); ESD {d['esd_status']} shift {d['esd_shift_lines']:+.5f} lines (hidden "
            f"{args.timing_error:+.5f})")
    say(f"{'whole pair (chain wall, incl. start-up)':52s} {wall:9.2f} {_mpix(total_px, wall)}  "
        f"{total_px / 1e6:.0f} M SLC px per image ({total_bursts} bursts; {wall / total_bursts:.2f} s/burst)")
    say(f"peak RSS of the chain process: {rss:.0f} MB; of each process (VmHWM): "
        + ", ".join(f"{mb:.0f}" for mb in sorted(peaks.values(), reverse=True) if mb > 100)
        + f" MB; peak of their sum {tree_peak:.0f} MB (target <= 3000 MB with -ram {args.ram})")
    result = {"swaths": swaths, "bursts": [first, last], "ram_mb": args.ram, "wall_s": wall, "peak_rss_mb": rss,
              "peak_rss_per_process_mb": sorted(peaks.values(), reverse=True), "peak_rss_sum_mb": tree_peak,
              "children_cpu_s": children_cpu, "swath_processes": args.swath_processes,
              "per_swath": per_swath, "load_before": load0, "load_after": load1, "load_at_end": load_now,
              "timings_run": run.get("timings_s"), "prepare_s": t_prep, "cpu_s": cpu}
    (out / "bench.json").write_text(json.dumps(result, indent=2))
    if not args.keep:
        shutil.rmtree(res, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
