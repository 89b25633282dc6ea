"""Scale-out benchmark of SAR_MultiSlc: memory of a full-size StripMap pair, speed-up of 2 workers over 1.

    python benchmarks/bench_scale.py [--quick] [--part pair|stack|all] [--out /tmp/diapsar-bench-scale]
                                     [--size LINES SAMPLES] [--stack-size LINES SAMPLES] [--ram 2000]

(a) ``pair``: a full-size S3 StripMap pair on the real annotation of S1A_S3_SLC__1SDV_20210401T152855 (36895
    lines x 18998 samples, VH; from the test data's ``format_coverage``: ``real_s3_pair``: correlated complex
    speckle, a copy named 12 days later as the slave, a synthetic DEM), or with ``--size``/``--quick`` a simulated
    pair of that size (the simulator holds whole images: it cannot make the full size), run by the chain
    (ML 3x3, filtering and ortho on, light mode) within ``-ram``; prints the seconds of every step (run.json and
    pair.json timings) and the peak RSS of every process of the run (VmHWM, as ``/usr/bin/time -v`` reports
    "Maximum resident set size").
(b) ``stack``: a 4-date simulated StripMap stack (3 pairs) run on a local dask cluster of 1 worker and of 2
    workers (1 thread each), and in-process; prints the wall times, the speed-up and the peak RSS per process.

``--quick`` shrinks both to a size that runs in a few minutes on a shared machine (pair 3690 x 1900, stack
1000 x 800): its figures show that the benchmark works, not the full-size memory and speed. The simulated inputs
are kept in OUT/ (reused by a later run of the same size); the chain outputs are removed unless ``--keep``.
Results are also written to OUT/bench_scale.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

FULL_PAIR = (36895, 18998)  # lines, samples of a real S3 SLC (format_coverage/S1A_S3_SLC__1SDV_20210401T152855)
QUICK_PAIR = (3690, 1900)
FULL_STACK = (6000, 4000)
QUICK_STACK = (1000, 800)


# ------------------------------------------------------------------------------------------------ peak RSS

def _status_mb(pid: int, field: str) -> float | None:
    """A memory field of a live process's /proc/PID/status (VmHWM: its peak resident set size; VmRSS: now), MB."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def _vmhwm_mb(pid: int) -> float | None:
    return _status_mb(pid, "VmHWM")


def _role(pid: int, top: int) -> str:
    if pid == top:
        return "driver (SAR_MultiSlc.py)"
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "child"
    if "multiprocessing" in cmd or "spawn_main" in cmd or "forkserver" in cmd:
        return "dask worker process"
    return "child: " + cmd.strip()[:60]


def sample_tree(proc: subprocess.Popen, every_s: float = 0.05) -> tuple[dict[int, tuple[str, float]], float]:
    """Sample ``proc`` and its descendants until it ends: {pid: (role, peak RSS MB)} (the kernel's VmHWM) and the
    peak of their summed RSS (VmRSS), read every ``every_s`` seconds. Call after starting the process; returns once
    it has exited (its output must be drained by the caller, e.g. in ``proc.communicate``, on another thread or
    to DEVNULL)."""
    import psutil

    peaks: dict[int, tuple[str, float]] = {}
    total = 0.0
    while True:
        done = proc.poll() is not None
        try:
            pids = [proc.pid, *(c.pid for c in psutil.Process(proc.pid).children(recursive=True))]
        except psutil.Error:
            pids = [proc.pid]
        now = 0.0
        for pid in pids:
            hwm = _vmhwm_mb(pid)
            if hwm is not None:
                role = peaks[pid][0] if pid in peaks else _role(pid, proc.pid)
                peaks[pid] = (role, max(hwm, peaks.get(pid, ("", 0.0))[1]))
            now += _status_mb(pid, "VmRSS") or 0.0
        total = max(total, now)
        if done:
            return peaks, total
        time.sleep(every_s)


def run_measured(cmd: list[str], env: dict[str, str], cwd: Path | None = None
                 ) -> tuple[float, subprocess.CompletedProcess[str], dict[int, tuple[str, float]], float]:
    """Run ``cmd``; returns (wall seconds, its completed process with stdout and stderr, {pid: (role, peak RSS
    MB)} of the process and every descendant, peak of their summed RSS MB) (``sample_tree`` in a thread)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    result: list[Any] = []
    th = threading.Thread(target=lambda: result.append(sample_tree(proc)), daemon=True)
    th.start()
    out, err = proc.communicate()
    th.join()
    peaks, total = result[0]
    return time.perf_counter() - t0, subprocess.CompletedProcess(cmd, proc.returncode, out, err), peaks, total


def print_peaks(peaks: dict[int, tuple[str, float]]) -> None:
    for pid, (role, mb) in sorted(peaks.items(), key=lambda kv: -kv[1][1]):
        if mb >= 50:  # (the short helper processes of multiprocessing are left out)
            print(f"    pid {pid:>7d}  {role:32s} Maximum resident set size: {mb * 1024:10.0f} kB ({mb:.0f} MB)")


# ------------------------------------------------------------------------------------------------ inputs

def simulate(folder: Path, dates: int, size: tuple[int, int], seed: int) -> float | None:
    """Simulate the stack in a child process (its memory is not the chain's) unless already there."""
    stamp = folder / "bench_size.json"
    want = {"dates": dates, "size": list(size), "seed": seed}
    if stamp.exists() and json.loads(stamp.read_text()) == want:
        return None
    shutil.rmtree(folder, ignore_errors=True)
    t0 = time.perf_counter()
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from diapsar.simulate.api import simulate_stack; "
            "simulate_stack(sys.argv[2], mode='sm', dates=int(sys.argv[3]), size=(int(sys.argv[4]), "
            "int(sys.argv[5])), seed=int(sys.argv[6]))")
    subprocess.run([sys.executable, "-c", code, str(REPO), str(folder), str(dates), *map(str, size), str(seed)],
                   check=True)
    stamp.write_text(json.dumps(want))
    return time.perf_counter() - t0


S3_SAFE = "S1A_S3_SLC__1SDV_20210401T152855_20210401T152914_037258_04638E_6001.SAFE"
S3_SLAVE_DATE = "20210413"  # the copy of the S3 product used as the slave: 12 days later by its name


def real_s3_pair(folder: Path, coherence: float = 0.8, seed: int = 11) -> float | None:
    """A full-size StripMap pair on the real S3 annotation (``format_coverage`` of the test data, VH, 36895 x 18998:
    real orbit, timing, geolocation grid, calibration), written once into ``folder``: the product copied without
    its (all-zero) measurement, a second copy named 12 days later (same annotation: a zero-baseline pair), both
    measurements CInt16 of 2x2-correlated complex speckle (master C, slave a C + sqrt(1 - a^2) N, a =
    ``coherence``), and a synthetic DEM (3", gentle terrain around the annotation heights, ellipsoidal) over the
    scene. Returns the seconds it took (None: already there)."""
    import math

    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    sys.path.insert(0, str(REPO / "benchmarks"))
    from bench_chain_iw import _CInt16Writer, _speckle  # noqa: PLC0415 - the IW benchmark's speckle writer

    stamp = folder / "bench_size.json"
    want = {"input": "real_s3", "coherence": coherence, "seed": seed}
    if stamp.exists() and json.loads(stamp.read_text()) == want:
        return None
    data = Path(os.environ.get("DIAPSAR_TEST_DATA", REPO.parent / "shared" / "data" / "s1"))
    src = data / "format_coverage" / S3_SAFE
    if not src.is_dir():
        raise SystemExit(f"bench_scale: the real S3 annotation is not in {src} (set DIAPSAR_TEST_DATA)")
    t0 = time.perf_counter()
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    old = "20210401"
    safes = []
    for date in (old, S3_SLAVE_DATE):
        dest = folder / S3_SAFE.replace(old, date)
        shutil.copytree(src, dest, ignore=shutil.ignore_patterns("measurement", "preview"))
        for q in sorted(dest.rglob("*"), key=lambda q: -len(q.parts)):
            if old in q.name:
                q.rename(q.with_name(q.name.replace(old, date)))
        for q in dest.rglob("*"):
            if q.is_file():
                q.chmod(0o644)
        manifest = dest / "manifest.safe"
        manifest.write_text(manifest.read_text(encoding="utf-8").replace(old, date), encoding="utf-8")
        (dest / "measurement").mkdir()
        safes.append(dest)
    from diapsar.io.safe import open_product

    prods = [open_product(p) for p in safes]
    meta = prods[0].swath("S3", "VH")
    n_lines, n_samples = meta.number_of_lines, meta.number_of_samples
    writers = [_CInt16Writer(Path(p.measurement_path("S3", "VH")), n_lines, n_samples) for p in prods]
    rng = np.random.default_rng(seed)
    a, b = np.float32(coherence), np.float32(math.sqrt(1.0 - coherence ** 2))
    blk = 2048
    for r in range(0, n_lines, blk):
        m = min(blk, n_lines - r)
        c = _speckle(rng, (m, n_samples))
        writers[0].write(r, c)
        n = _speckle(rng, (m, n_samples))
        n *= b
        n += a * c
        writers[1].write(r, n)
        del c, n
    for w in writers:
        w.close()
    g = meta.geolocation_grid
    la, lo, hh = (np.ravel(g.latitude_deg), np.ravel(g.longitude_deg), np.ravel(g.height_m))
    d = 1.0 / 1200.0
    x0, x1 = math.floor((lo.min() - 0.2) / d) * d, math.ceil((lo.max() + 0.2) / d) * d
    y0, y1 = math.floor((la.min() - 0.2) / d) * d, math.ceil((la.max() + 0.2) / d) * d
    nx, ny = int(round((x1 - x0) / d)), int(round((y1 - y0) / d))
    xx = x0 + (np.arange(nx) + 0.5) * d
    yy = y1 - (np.arange(ny) + 0.5) * d
    z = (float(np.median(hh)) + 150.0 * np.sin(2 * np.pi * (xx[None, :] - x0) / 0.37)
         * np.cos(2 * np.pi * (yy[:, None] - y0) / 0.29)).astype(np.float32)
    (folder / "dem").mkdir()
    with rasterio.open(folder / "dem" / "dem.tif", "w", driver="GTiff", width=nx, height=ny, count=1,
                       dtype="float32", crs="EPSG:4326", transform=from_origin(x0, y1, d, d), tiled=True,
                       compress="deflate") as ds:
        ds.write(z[None])
    stamp.write_text(json.dumps(want))
    return time.perf_counter() - t0


def write_config(path: Path, lake: Path, out: Path, ram: int, grid_step: int) -> Path:
    from diapsar.chains.demo import demo_config

    raw = demo_config(lake, out, ram_mb=ram)
    raw["DIn_SAR"]["parameter"].update(GridStep_range=grid_step, GridStep_azimut=grid_step)
    path.write_text(json.dumps(raw, indent=1))
    return path


def chain_cmd(cfg: Path, *flags: str) -> list[str]:
    return [sys.executable, str(REPO / "SAR_MultiSlc.py"), str(cfg), *flags]


def chain_env(threads: int) -> dict[str, str]:
    return dict(os.environ, PYTHONWARNINGS="ignore", NUMBA_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))


# ------------------------------------------------------------------------------------------------ (a), (b)

STEPS = [("master", "dem"), ("master", "multilook_doppler0"), ("master", "dem_projection"),
         ("master", "cartesian_mean"), ("master", "ortho_lookup"), ("pair", "topographic_phase"),
         ("pair", "multilook_doppler0"), ("pair", "deformation_grid"), ("pair", "coregistration"),
         ("pair", "interferogram"), ("pair", "filtering"), ("pair", "ortho:interferogram_ortho.tif"),
         ("pair", "ortho:interferogram_filtered_ortho.tif"), ("pair", "quicklooks")]


def bench_pair(out: Path, size: tuple[int, int] | None, ram: int, threads: int, keep: bool) -> dict[str, Any]:
    """``size`` None: the real S3 annotation's pair (``real_s3_pair``), else a simulated pair of that size."""
    res = out / "pair_output"
    if size is None:
        lake = out / "pair_real_s3"
        t_sim = real_s3_pair(lake)
        from diapsar.io.safe import open_product

        meta = open_product(next(lake.glob("*.SAFE"))).swath("S3", "VH")
        size = (meta.number_of_lines, meta.number_of_samples)
    else:
        lake = out / f"pair_{size[0]}x{size[1]}"
        t_sim = simulate(lake, 2, size, seed=11)
    shutil.rmtree(res, ignore_errors=True)
    cfg = write_config(out / "pair.json", lake, res, ram, grid_step=150)
    if lake.name == "pair_real_s3":  # the real annotation: VH, the synthetic DEM's heights are ellipsoidal
        raw = json.loads(cfg.read_text())
        raw["Global"]["in"].update(Polarisation="VH", Geoid="none")
        cfg.write_text(json.dumps(raw, indent=1))
    wall, done, peaks, _ = run_measured(chain_cmd(cfg), chain_env(threads))
    code, err = done.returncode, done.stderr[-2000:]
    if code != 0:
        raise SystemExit(f"bench_scale: the chain failed on the pair: {err}")
    run = json.loads((res / "run.json").read_text())
    pair = json.loads((res / run["pairs"][0] / "pair.json").read_text())
    print(f"(a) SM pair {size[0]} x {size[1]} px (lines x samples; {'real S3 annotation, speckle' if lake.name == 'pair_real_s3' else 'simulated'}), ML 3x3, filtering + ortho, -ram {ram} MB, "
          f"in-process, {threads} numba thread(s)" + (f"; simulation {t_sim:.0f} s" if t_sim else ""))
    steps = {}
    for where, key in STEPS:
        sec = (run["timings_s"] if where == "master" else pair["timings_s"]).get(key)
        if sec is not None:
            steps[f"{where}.{key}"] = sec
            print(f"    {where:6s} {key:42s} {sec:8.1f} s")
    print(f"    {'':6s} {'chain total (wall, incl. start-up)':42s} {wall:8.1f} s")
    print_peaks(peaks)
    if not keep:
        shutil.rmtree(res, ignore_errors=True)
    return {"size": list(size), "ram_mb": ram, "threads": threads, "wall_s": round(wall, 2), "steps_s": steps,
            "peak_rss_mb": {str(pid): [role, round(mb)] for pid, (role, mb) in peaks.items()},
            "simulation_s": t_sim}


def bench_stack(out: Path, size: tuple[int, int], ram: int, keep: bool) -> dict[str, Any]:
    lake = out / f"stack_{size[0]}x{size[1]}"
    t_sim = simulate(lake, 4, size, seed=3)
    print(f"(b) 4-date SM stack (3 pairs) of {size[0]} x {size[1]} px, -ram {ram} MB (split between the workers)"
          + (f"; simulation {t_sim:.0f} s" if t_sim else ""))
    runs = {}
    for label, flags in (("in-process, 1 numba thread", ()), ("local dask, 1 worker x 1 thread",
                                                             ("--workers", "1", "--threads-per-worker", "1")),
                         ("local dask, 2 workers x 1 thread", ("--workers", "2", "--threads-per-worker", "1"))):
        res = out / "stack_output"
        shutil.rmtree(res, ignore_errors=True)
        cfg = write_config(out / "stack.json", lake, res, ram, grid_step=60)
        wall, done, peaks, _ = run_measured(chain_cmd(cfg, *flags), chain_env(1))
        code, err = done.returncode, done.stderr[-2000:]
        if code != 0:
            raise SystemExit(f"bench_scale: the chain failed ({label}): {err}")
        run = json.loads((res / "run.json").read_text())
        master = sum(run["timings_s"].get(k, 0.0) for k in ("dem", "multilook_doppler0", "dem_projection",
                                                              "cartesian_mean", "ortho_lookup"))
        print(f"    {label:34s} wall {wall:7.1f} s (master steps {master:.1f} s)")
        print_peaks(peaks)
        runs[label] = {"wall_s": round(wall, 2), "peak_rss_mb": sorted((round(mb) for _, mb in peaks.values()),
                                                                       reverse=True)}
        if not keep:
            shutil.rmtree(res, ignore_errors=True)
    one = runs["local dask, 1 worker x 1 thread"]["wall_s"]
    two = runs["local dask, 2 workers x 1 thread"]["wall_s"]
    print(f"    speed-up of 2 workers over 1: {one / two:.2f}x ({one:.1f} s -> {two:.1f} s; wall times include "
          "the start-up and the master unit, which runs alone)")
    return {"size": list(size), "ram_mb": ram, "runs": runs, "speedup_2_over_1": round(one / two, 3),
            "simulation_s": t_sim}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help=f"small sizes (pair {QUICK_PAIR[0]}x{QUICK_PAIR[1]}, "
                    f"stack {QUICK_STACK[0]}x{QUICK_STACK[1]})")
    ap.add_argument("--part", choices=("pair", "stack", "all"), default="all")
    ap.add_argument("--size", type=int, nargs=2, metavar=("LINES", "SAMPLES"), help="size of the pair (a)")
    ap.add_argument("--stack-size", type=int, nargs=2, metavar=("LINES", "SAMPLES"), help="size of the stack (b)")
    ap.add_argument("--ram", type=int, default=2000, help="-ram of the chain, MB (default 2000)")
    ap.add_argument("--threads", type=int, default=2, help="numba threads of the pair run (a) (default 2)")
    ap.add_argument("--out", default="/tmp/diapsar-bench-scale", help="work folder")
    ap.add_argument("--keep", action="store_true", help="keep the chain outputs")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    # full size: the real S3 annotation with speckle (the simulator holds whole images: too big at full size)
    pair_size = tuple(args.size) if args.size else (QUICK_PAIR if args.quick else None)
    stack_size = tuple(args.stack_size or (QUICK_STACK if args.quick else FULL_STACK))
    print(f"bench_scale{' --quick' if args.quick else ''}: {os.cpu_count()} CPU(s) "
          f"({len(os.sched_getaffinity(0))} given), {platform.processor() or platform.machine()}, "
          f"load average {os.getloadavg()[0]:.1f}")
    result: dict[str, Any] = {"quick": args.quick}
    if args.part in ("pair", "all"):
        result["pair"] = bench_pair(out, pair_size, args.ram, args.threads, args.keep)  # type: ignore[arg-type]
    if args.part in ("stack", "all"):
        result["stack"] = bench_stack(out, stack_size, args.ram, args.keep)  # type: ignore[arg-type]
    (out / "bench_scale.json").write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
