"""Throughput of the chain kernels (Mpix/s, best of a few runs) and resampling accuracy.

Run: ``python benchmarks/bench_kernels.py [--lines 1500 --cols 8000 --repeat 3]``. Numbers depend on the
other load of the machine (take the best of several runs); peers-and-limits.md §9 lists the ceilings
measured on a 2-core machine (8×8 sinc resampling ≈ 27 Mpix/s, target ≥ 25 Mpix/s). Those figures were taken
with fastmath kernels; the kernels are compiled without fastmath since products must not depend on numba's
cache state (tests/test_95_reproducible.py), which costs, on one thread, interleaved A/B: ~20 % on the sinc
resampling without Doppler, ~4 % with Doppler, ~25 % on the interferogram cells.
"""

from __future__ import annotations

import argparse
import time

import numba
import numpy as np

from diapsar.coregistration import coregister, dense_shifts
from diapsar.deformation_grid import correlation_grid
from diapsar.deramp import TopsRamp, deramp, reramp
from diapsar.doppler0 import cde_sums
from diapsar.filtering import goldstein
from diapsar.interferogram import interferogram
from diapsar.kernels.windows import box_sum
from diapsar.multilook import multilook


def best_time(func, repeat: int) -> tuple[float, float]:
    """Best wall time and the CPU time of that run (all threads of this process), seconds."""
    func()                                     # compile / warm up
    best = (float("inf"), float("inf"))
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        func()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        if wall < best[0]:
            best = (wall, cpu)
    return best


def resampling_accuracy(n: int = 128, f_dc: float = 0.0, bandwidth: float = 0.7, seed: int = 0):
    """Relative RMS error and power-weighted RMS / max phase error (deg) of an 8-tap resampling of a
    band-limited complex image (spectrum centred on f_dc cycles/line) by a smooth sub-pixel field,
    against the exact Fourier-series value."""
    rng = np.random.default_rng(seed)
    spec = rng.normal(size=(n, n)) + 1j * rng.normal(size=(n, n))
    fa = np.fft.fftfreq(n)
    spec *= (np.abs(fa)[:, None] < bandwidth / 2) & (np.abs(fa)[None, :] < bandwidth / 2)
    f_dc = round(f_dc * n) / n

    def value(ya, xr):
        a = np.exp(2j * np.pi * ya.reshape(-1, 1) * (fa + f_dc)[None, :])
        b = np.exp(2j * np.pi * xr.reshape(-1, 1) * fa[None, :])
        return (np.sum((a @ spec) * b, axis=1) / n ** 2).reshape(ya.shape)

    ia, ir = np.meshgrid(np.arange(n, dtype=float), np.arange(n, dtype=float), indexing="ij")
    slave = value(ia, ir).astype(np.complex64)
    ka, kr = np.meshgrid(np.arange(0, n + 32, 32), np.arange(0, n + 32, 32), indexing="ij")
    grid = np.stack([0.37 + 0.004 * ka - 0.006 * kr, -1.21 + 0.008 * kr + 0.003 * ka])
    dr, da = dense_shifts(grid, 32, 32, 0, n, n)
    exact = value(ia + da, ir + dr)
    got = coregister(slave, grid, 32, 32, (n, n), doppler_cycles=f_dc)
    inner = (slice(8, -8), slice(8, -8))
    g, e = got[inner], exact[inner]
    rel = np.sqrt(np.mean(np.abs(g - e) ** 2) / np.mean(np.abs(e) ** 2))
    ph = np.degrees(np.angle(g * np.conj(e)))
    w = np.abs(e) ** 2
    strong = w > np.median(w)
    return rel, np.sqrt(np.sum(w * ph ** 2) / np.sum(w)), np.max(np.abs(ph[strong]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1500)
    parser.add_argument("--cols", type=int, default=8000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    na, nr, rep = args.lines, args.cols, args.repeat
    npix = na * nr / 1e6
    rng = np.random.default_rng(0)
    m = (rng.normal(size=(na, nr)) + 1j * rng.normal(size=(na, nr))).astype(np.complex64)
    s = (0.7 * m + 0.3 * (rng.normal(size=(na, nr)) + 1j * rng.normal(size=(na, nr)))).astype(np.complex64)
    phase = rng.uniform(-3, 3, (na, nr)).astype(np.float32)
    grid = np.stack([np.full((na // 150 + 2, nr // 150 + 2), 0.31),
                     np.full((na // 150 + 2, nr // 150 + 2), -1.73)])
    grid += rng.normal(0, 0.2, grid.shape)
    dop_cols = np.linspace(-0.1, 0.2, nr)
    print(f"numba threads: {numba.get_num_threads()}, image {na} x {nr} complex64 ({npix:.1f} Mpix)")
    rows = []

    n_thr = numba.get_num_threads()
    print(f"{'kernel':<52s} {'wall':>9s}    {'Mpix/s':>9s} {'CPU-time Mpix/s x ' + str(n_thr) + ' cores':>26s}")

    def bench(name, func, mpix=npix):
        # the CPU-time figure (Mpix per CPU-second × thread count) is what the kernel reaches on idle cores;
        # the wall figure also counts time the cores spent on other processes
        wall, cpu = best_time(func, rep)
        rows.append((name, wall, mpix / wall))
        print(f"{name:<52s} {wall * 1e3:9.1f} ms {mpix / wall:9.1f} {mpix / cpu * n_thr:26.1f}", flush=True)

    bench("multilook 8x2 (complex)", lambda: multilook(m, 8, 2, 0.1))
    bench("Doppler0 CDE lag-one sums", lambda: cde_sums(m))
    bench("box sum 5x21 (float64, running sums)", lambda: box_sum(phase.astype(np.float64), 2, 10))
    bench("interferogram 8x2 + margin 1, topo phase, 4 bands",
          lambda: interferogram(m, s, phase, 8, 2, 1, 1, 0.1))
    bench("grid -> dense shifts (bilinear)", lambda: dense_shifts(grid, 150, 150, 0, na, nr))
    bench("resample 8x8 sinc, no Doppler", lambda: coregister(s, grid, 150, 150, (na, nr)))
    bench("resample 8x8 sinc, scalar Doppler 0.12 cycles/line",
          lambda: coregister(s, grid, 150, 150, (na, nr), doppler_cycles=0.12))
    bench("resample 8x8 sinc, per-column Doppler",
          lambda: coregister(s, grid, 150, 150, (na, nr), doppler_cycles=dop_cols))
    ramp = TopsRamp(lines=na, samples=nr, azimuth_time_interval_s=2.0556e-3, near_range_time_s=5.33e-3,
                    range_sampling_rate_hz=64.345e6, fm_rate_t0_s=5.34e-3, fm_rate_coeffs=(-2318.0, 4.43e5),
                    dc_t0_s=5.34e-3, dc_coeffs=(25.0, -4.0e4), steering_rate_rad_s=0.02776,
                    velocity_m_s=7590.0, radar_frequency_hz=5.405e9)
    bench("TOPS deramp", lambda: deramp(m, ramp))
    bench("TOPS reramp, grid shift mode", lambda: reramp(m, ramp, grid=grid, step_range=150, step_azimuth=150))
    ml_a = multilook(m, 8, 2)
    ml_s = multilook(s, 8, 2)
    n_nodes = (na // 160 + 1) * (nr // 160 + 1)
    t, _ = best_time(lambda: correlation_grid(ml_a, ml_s, 8, 2, 160, 160, slc_shape=(na, nr)), rep)
    print(f"{'correlation grid (31x31 patch, +-4 search), nodes/s':<52s} {t * 1e3:9.1f} ms "
          f"{n_nodes / t:9.0f} nodes/s")
    ifg_ml = interferogram(m, s, None, 8, 2, 1, 1, return_complex=True)[1]
    bench("Goldstein 64x64 step 16 alpha 0.7 (ML interferogram)", lambda: goldstein(ifg_ml),
          mpix=ifg_ml.size / 1e6)
    print("\nresampling accuracy (8 taps, Kaiser beta 4, 2048-phase LUT, band 70 % of sampling rate):")
    for f_dc in (0.0, 0.3):
        rel, ph_rms, ph_max = resampling_accuracy(f_dc=f_dc)
        print(f"  Doppler {f_dc:4.2f} cycles/line: relative RMS error {rel:.4f}, phase error RMS "
              f"{ph_rms:.3f} deg (power-weighted), max {ph_max:.2f} deg on above-median-power pixels")


if __name__ == "__main__":
    main()
