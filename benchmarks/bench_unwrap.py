"""Unwrapping benchmark: diapsar.unwrap (coarse-to-fine tiles on 2 SNAPHU processes) versus one plain SNAPHU run
of the same grid, on a simulated Mogi-like deformation interferogram (default 2000 x 2000, defo cost).

    PYTHONPATH=$PWD python benchmarks/bench_unwrap.py [--size 2000 | --shape ROWS COLS] [--method defo]
        [--workers 2] [--only tiled|single]

    # a multilooked full IW pair (3 swaths x 9 bursts at ML 8 x 2: about 1700 x 8500 cells), tiled only
    PYTHONPATH=$PWD python benchmarks/bench_unwrap.py --shape 1700 8500 --only tiled

Prints wall time, the snaphu processes' CPU time and peak RSS (``ru_maxrss`` of the children: an upper bound, it
starts from the unwrapping process's RSS at fork), the peak RSS of the Python process that unwraps (its VmHWM:
the arrays, the tiles' bookkeeping), the RMS
displacement error against the truth (coherence >= 0.7, reference offset removed) of both runs, and how often
they differ by a 2π multiple. Each run is done in a fresh spawned Python process that loads the simulated
arrays from .npy files, so that the peak RSS figures are its own.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import sys
import tempfile
import time

import numpy as np

WAVELENGTH_M = 299_792_458.0 / 5.405e9


def mogi_interferogram(rows: int, cols: int, fringes: float = 5.0, looks: int = 12, seed: int = 0,
                       patch: bool = True) -> dict[str, np.ndarray]:
    """Wrapped phase, estimated coherence and true phase of a Mogi-like LOS deformation (``fringes`` fringes
    at the peak) with speckle noise of ``looks`` looks drawn for a true coherence of 0.85-0.95 varying
    smoothly, with a low-coherence patch (true coherence 0.05) when ``patch``."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:rows, 0:cols].astype(np.float64)
    cy, cx, depth = 0.45 * rows, 0.55 * cols, 0.18 * max(rows, cols)
    shape = depth**3 / ((x - cx) ** 2 + (y - cy) ** 2 + depth**2) ** 1.5
    true = (-2 * np.pi * fringes * shape).astype(np.float32)   # uplift towards the satellite: phase < 0
    gamma = 0.9 + 0.05 * np.sin(x / cols * 5.0) * np.cos(y / rows * 3.0)
    if patch:
        r0, c0 = int(0.15 * rows), int(0.1 * cols)
        gamma[r0:r0 + rows // 6, c0:c0 + cols // 6] = 0.05
    num = np.zeros((rows, cols), np.complex128)
    p1 = np.zeros((rows, cols))
    p2 = np.zeros((rows, cols))
    for _ in range(looks):
        a = (rng.standard_normal((rows, cols)) + 1j * rng.standard_normal((rows, cols))) / np.sqrt(2)
        b = (rng.standard_normal((rows, cols)) + 1j * rng.standard_normal((rows, cols))) / np.sqrt(2)
        s2 = gamma * a + np.sqrt(1 - gamma**2) * b
        s1 = a * np.exp(1j * true)
        num += s1 * np.conj(s2)
        p1 += np.abs(s1) ** 2
        p2 += np.abs(s2) ** 2
    return {"phase": np.angle(num).astype(np.float32), "coherence": (np.abs(num) / np.sqrt(p1 * p2)).astype(np.float32),
            "true": true, "gamma": gamma.astype(np.float32)}


def _vm_hwm_kb() -> int:
    """Peak RSS of this process since its exec (VmHWM; ru_maxrss of RUSAGE_SELF would include the parent's peak,
    which Linux carries across fork + exec)."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))


def _run(kind: str, folder: str, method: str, workers: int, looks: int, queue) -> None:
    from diapsar.unwrap import unwrap_phase

    sim = {k: np.load(f"{folder}/{k}.npy") for k in ("phase", "coherence")}
    rss0 = _vm_hwm_kb()
    t0 = time.perf_counter()
    tiles = (1, 1) if kind == "single" else None
    try:
        res = unwrap_phase(sim["phase"], sim["coherence"], None, method=method, nlooks=looks, tiles=tiles,
                           workers=workers, ram_mb=8000)
    except Exception as exc:  # noqa: BLE001 - reported by the parent
        queue.put({"error": f"{kind}: {type(exc).__name__}: {exc}"})
        return
    dt = time.perf_counter() - t0
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    me = _vm_hwm_kb()
    queue.put({"kind": kind, "shape": list(sim["phase"].shape), "seconds": round(dt, 1),
               "snaphu_cpu_seconds": round(ru.ru_utime + ru.ru_stime, 1),
               "snaphu_peak_rss_mb": round(ru.ru_maxrss / 1024), "python_peak_rss_mb": round(me / 1024),
               "python_rss_before_mb": round(rss0 / 1024),
               "unwrapped": res.unwrapped, "components": res.components, "info": res.info})


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=2000)
    ap.add_argument("--shape", type=int, nargs=2, default=None, metavar=("ROWS", "COLS"))
    ap.add_argument("--method", default="defo")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--only", choices=["tiled", "single"], default=None)
    a = ap.parse_args()
    looks = 12
    rows, cols = a.shape if a.shape else (a.size, a.size)
    sim = mogi_interferogram(rows, cols, looks=looks)
    tmp = tempfile.TemporaryDirectory(prefix="diapsar-bench-unwrap-")
    for k in ("phase", "coherence"):
        np.save(f"{tmp.name}/{k}.npy", sim[k])
    out = {}
    ctx = mp.get_context("spawn")
    for kind in ("tiled", "single"):
        if a.only and kind != a.only:
            continue
        q = ctx.Queue()
        p = ctx.Process(target=_run, args=(kind, tmp.name, a.method, a.workers, looks, q))
        p.start()
        out[kind] = q.get()
        p.join()
        if "error" in out[kind]:
            print(out[kind]["error"])
            return 1
        good = (sim["coherence"] >= 0.7) & np.isfinite(out[kind]["unwrapped"]) & (out[kind]["components"] == 1)
        err = out[kind]["unwrapped"][good] - sim["true"][good]
        err -= np.median(err)
        mm = WAVELENGTH_M / (4 * np.pi) * 1000
        out[kind]["rms_mm"] = round(float(np.sqrt(np.mean((err * mm) ** 2))), 3)
        out[kind]["jumps_2pi_fraction"] = round(float(np.mean(np.abs(err) > np.pi)), 5)
        print(json.dumps({k: v for k, v in out[kind].items() if k not in ("unwrapped", "components")}), flush=True)
    if len(out) == 2:
        u1, u2 = out["tiled"]["unwrapped"], out["single"]["unwrapped"]
        both = np.isfinite(u1) & np.isfinite(u2)
        d = (u1 - u2)[both]
        d -= np.median(d)
        print(json.dumps({"speedup": round(out["single"]["seconds"] / out["tiled"]["seconds"], 2),
                          "cpu_ratio": round(out["single"]["snaphu_cpu_seconds"]
                                             / out["tiled"]["snaphu_cpu_seconds"], 2),
                          "both_valid_fraction": round(float(both.mean()), 4),
                          "differ_by_2pi_fraction": round(float(np.mean(np.abs(d) > np.pi)), 5),
                          "max_abs_diff_mm": round(float(np.abs(d).max() * WAVELENGTH_M / (4 * np.pi) * 1000), 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
