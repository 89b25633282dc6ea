"""Speckle filters (diapsar.speckle): boxcar, Lee, refined Lee, multi-temporal Quegan & Yu, and
``diapsar backscatter --speckle / --multitemporal``.

Simulated intensities: a known backscatter times gamma-distributed speckle of L looks (unit mean, variance
1/L: fully developed speckle of an L-look intensity image). ENL = mean^2 / variance on homogeneous areas.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio

from diapsar import speckle as S

RNG_SEED = 20260312


def _speckled(truth: np.ndarray, looks: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (truth * rng.gamma(looks, 1.0 / looks, truth.shape)).astype(np.float32)


def _db(a: float) -> float:
    return float(10.0 * np.log10(a))


# ---------------------------------------------------------------------------------------------------------
# single-date filters

def _plain_lee(x: np.ndarray, window: int, looks: float) -> np.ndarray:
    """Slow reference: Lee (1980) with NaN-aware window statistics, pixel by pixel."""
    h = window // 2
    cu2 = 1.0 / looks
    out = np.full(x.shape, np.nan)
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            if not np.isfinite(x[i, j]):
                continue
            w = x[max(0, i - h):i + h + 1, max(0, j - h):j + h + 1].astype(np.float64)
            w = w[np.isfinite(w)]
            m, v = w.mean(), w.var()
            b = 0.0 if v == 0 else min(max((v - m * m * cu2) / (1 + cu2) / v, 0.0), 1.0)
            out[i, j] = m + b * (x[i, j] - m)
    return out


def test_lee_and_boxcar_match_a_plain_numpy_reference():
    rng = np.random.default_rng(1)
    truth = np.where(np.arange(23)[None, :] < 11, 0.05, 0.4) * np.ones((19, 1))
    x = _speckled(truth, 2.0, 2)
    x[4:7, 3:5] = np.nan
    x[0, 0] = np.nan
    x[9, :] *= rng.uniform(0.5, 2.0, 23).astype(np.float32)  # some texture
    for window in (3, 5, 7):
        ref = _plain_lee(x, window, 2.0)
        got = S.lee(x, window, 2.0)
        assert np.array_equal(np.isnan(got), np.isnan(x))
        assert np.nanmax(np.abs(got - ref) / ref) < 1e-6, window
        box = S.boxcar(x, window)
        h = window // 2
        assert box[10, 12] == pytest.approx(np.nanmean(x[10 - h:11 + h, 12 - h:13 + h]), rel=1e-6)
        assert box[5, 8] == pytest.approx(np.nanmean(x[5 - h:6 + h, 8 - h:9 + h]), rel=1e-6)  # beside the hole


def _plain_refined_lee(x: np.ndarray, window: int, looks: float) -> np.ndarray:
    """Slow reference of refined Lee: explicit 3x3 sub-window means, the four templates, the eight half-window
    masks, the Lee estimate over the finite pixels of the chosen mask."""
    sub, step = S.refined_lee_subwindow(window)
    h, hs = window // 2, sub // 2
    na, nr = x.shape
    cu2 = 1.0 / looks

    def sub_mean(i: int, j: int) -> float:
        w = x[max(0, i - hs):i + hs + 1, max(0, j - hs):j + hs + 1].astype(np.float64)
        w = w[np.isfinite(w)]
        return float(w.mean()) if w.size else np.nan

    dy, dx = np.mgrid[-h:h + 1, -h:h + 1]
    # per template: sides a and b as (i, j) of the 3x3 sub-window grid, the half windows of a and of b
    templates = [([(0, 0), (1, 0), (2, 0)], [(0, 2), (1, 2), (2, 2)], dx <= 0, dx >= 0),
                 ([(0, 0), (0, 1), (0, 2)], [(2, 0), (2, 1), (2, 2)], dy <= 0, dy >= 0),
                 ([(1, 0), (2, 0), (2, 1)], [(0, 1), (0, 2), (1, 2)], dx - dy <= 0, dx - dy >= 0),
                 ([(1, 2), (2, 1), (2, 2)], [(0, 0), (0, 1), (1, 0)], dx + dy >= 0, dx + dy <= 0)]
    out = np.full(x.shape, np.nan)
    for i in range(na):
        for j in range(nr):
            z = float(x[i, j])
            if not np.isfinite(z):
                continue
            centre = sub_mean(i, j)
            m = np.full((3, 3), centre)
            for a in range(3):
                for b in range(3):
                    ii, jj = i + (a - 1) * step, j + (b - 1) * step
                    if 0 <= ii < na and 0 <= jj < nr and np.isfinite(sub_mean(ii, jj)):
                        m[a, b] = sub_mean(ii, jj)
            sides = [(sum(m[p] for p in ta), sum(m[p] for p in tb)) for ta, tb, _, _ in templates]
            k = int(np.argmax([abs(sb - sa) for sa, sb in sides]))  # the first of equal gradients
            sa, sb = sides[k]
            da, db = abs(sa - 3 * m[1, 1]), abs(sb - 3 * m[1, 1])
            if da == db:
                da, db = abs(sa - 3 * z), abs(sb - 3 * z)
            mask = templates[k][3] if db < da else templates[k][2]
            vals = [float(x[i + a, j + b]) for a, b in zip(dy[mask], dx[mask], strict=True)
                    if 0 <= i + a < na and 0 <= j + b < nr and np.isfinite(x[i + a, j + b])]
            if len(vals) < 2:
                out[i, j] = z
                continue
            mean, var = np.mean(vals), np.var(vals)
            bw = 0.0 if var == 0 else min(max((var - mean * mean * cu2) / (1 + cu2) / var, 0.0), 1.0)
            out[i, j] = mean + bw * (z - mean) if var > 0 else mean
    return out


def test_refined_lee_matches_a_plain_python_reference():
    truth = np.where((np.arange(27)[:, None] + 2 * np.arange(29)[None, :]) > 30, 0.3, 0.03)
    x = _speckled(truth, 1.0, 9)
    x[5:8, 20:24] = np.nan
    for window in (7, 9):
        got = S.refined_lee(x, window, 1.0)
        ref = _plain_refined_lee(x, window, 1.0)
        assert np.array_equal(np.isnan(got), np.isnan(ref))
        err = np.nanmax(np.abs(got - ref) / ref)
        print(f"refined Lee {window}x{window} vs plain Python on 27 x 29 pixels: max relative difference {err:.1e}")
        assert err < 1e-5


@pytest.mark.parametrize("window", [5, 7, 9, 11])
def test_refined_lee_keeps_noise_free_step_edges_in_every_direction(window):
    """A noise-free step (1 to 10) along each of the four template directions: the edge-aligned half window
    holds one side only, so refined Lee returns the image unchanged (away from the image border); the boxcar
    moves pixels beside the edge by up to half the step."""
    r, c = np.mgrid[0:40, 0:40]
    h = window // 2
    for name, high in (("vertical", c >= 20), ("horizontal", r >= 20), ("diagonal", c - r >= 0),
                       ("anti-diagonal", c + r >= 40), ("diagonal, off by one", c - r >= 1)):
        x = np.where(high, 10.0, 1.0).astype(np.float32)
        err_rl = np.abs(S.refined_lee(x, window) - x)[h:-h, h:-h].max()
        err_box = np.abs(S.boxcar(x, window) - x)[h:-h, h:-h].max()
        print(f"{name:22s} {window}x{window}: max |refined Lee - step| {err_rl:.2g}, boxcar {err_box:.2f}")
        assert err_rl == 0.0
        assert err_box > 3.5


@pytest.mark.parametrize("looks", [1.0, 4.4])
def test_single_date_filters_raise_enl_on_a_homogeneous_area(looks):
    """On a homogeneous area of L-look speckle: ENL of a 7x7 boxcar = 49 L (independent pixels); Lee stays
    below it (b > 0 where the sample variance exceeds the speckle's); refined Lee averages a 28-pixel half
    window (chosen by noisy gradients, so below 28 L). The mean is kept by the boxcar and Lee; refined Lee
    choosing the side closer to the centre biases it slightly low (printed)."""
    x = _speckled(np.full((300, 300), 0.1), looks, 3 + int(looks))
    inner = (slice(10, -10), slice(10, -10))
    enl0 = S.equivalent_looks(x[inner])
    figures = {}
    for method in ("boxcar", "lee", "refined-lee"):
        y = S.despeckle(x, method, 7, looks)[inner]
        figures[method] = (S.equivalent_looks(y), _db(y.mean() / x[inner].mean()))
        print(f"L={looks}: {method:11s} ENL {enl0:.2f} -> {figures[method][0]:.1f} "
              f"({figures[method][0] / enl0:.1f} x), mean {figures[method][1]:+.3f} dB")
    assert abs(enl0 / looks - 1) < 0.05
    assert 40 < figures["boxcar"][0] / enl0 < 55
    assert 20 < figures["lee"][0] / enl0 < figures["boxcar"][0] / enl0
    assert 10 < figures["refined-lee"][0] / enl0 < 28
    assert abs(figures["boxcar"][1]) < 0.01 and abs(figures["lee"][1]) < 0.01
    assert abs(figures["refined-lee"][1]) < 0.15


def test_step_edge_refined_lee_sharper_than_boxcar():
    """A 1 -> 10 step (10 dB) under 4.4-look speckle (IW GRDH-like): mean profile across the edge over 260
    rows; the transition width = columns whose mean lies between 10 % and 90 % of the step."""
    truth = np.ones((300, 300))
    truth[:, 150:] = 10.0
    x = _speckled(truth, 4.4, 5)
    widths, rmse = {}, {}
    for method in ("boxcar", "lee", "refined-lee"):
        y = S.despeckle(x, method, 7, 4.4)
        prof = y[20:-20].mean(axis=0)
        widths[method] = int(np.sum((prof > 1.9) & (prof < 9.1)))
        near = (slice(20, -20), slice(144, 156))
        rmse[method] = float(np.sqrt(np.mean((y[near] / truth[near] - 1) ** 2)))
        print(f"{method:11s}: 10-90 % width {widths[method]} columns, profile {np.round(prof[145:155], 2)}, "
              f"relative RMS error within 6 columns of the edge {rmse[method]:.3f}")
    assert widths["boxcar"] >= 5
    assert widths["refined-lee"] <= 1
    assert widths["refined-lee"] < widths["lee"] < widths["boxcar"]
    assert rmse["refined-lee"] < rmse["boxcar"]


def test_strips_with_halo_are_bit_identical_to_the_whole_image():
    x = _speckled(np.full((131, 97), 0.2), 1.0, 7)
    x[40:52, 10:30] = np.nan
    x[:, 90:] = np.nan  # an edge of no data, as beside a swath
    h = S.halo(7)
    for method in ("boxcar", "lee", "refined-lee"):
        full = S.despeckle(x, method, 7, 1.0)
        assert np.array_equal(np.isnan(full), np.isnan(x)), method  # no data stays, and does not spread
        for rows in (1, 9, 50):
            parts = []
            for r0 in range(0, 131, rows):
                r1 = min(131, r0 + rows)
                a, b = max(0, r0 - h), min(131, r1 + h)
                parts.append(S.filter_strip(x[a:b], slice(r0 - a, r1 - a), method, 7, 1.0))
            assert np.array_equal(np.concatenate(parts), full, equal_nan=True), (method, rows)
    stack = np.stack([x, _speckled(np.full(x.shape, 0.3), 1.0, 8)])
    full_mt = S.quegan(stack, 7)
    parts = []
    for r0 in range(0, 131, 17):
        r1 = min(131, r0 + 17)
        a, b = max(0, r0 - h), min(131, r1 + h)
        parts.append(S.multitemporal_strip(stack[:, a:b], slice(r0 - a, r1 - a), 7))
    assert np.array_equal(np.concatenate(parts, axis=1), full_mt, equal_nan=True)


# ---------------------------------------------------------------------------------------------------------
# multi-temporal filter

def _stack(looks: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """7 dates of 4 areas (200 x 200 each, -17 to -3 dB) whose backscatter changes from date to date."""
    sig = np.array([[0.02, 0.2], [0.05, 0.5]])
    change = 1.0 + 0.5 * np.sin(np.arange(7))  # -3 .. +1.8 dB over the dates
    truth = np.stack([np.kron(sig * g, np.ones((200, 200))) for g in change])
    return truth, np.stack([_speckled(t, looks, seed + k) for k, t in enumerate(truth)])


@pytest.mark.parametrize("looks", [1.0, 4.4])
def test_quegan_enl_rises_and_mean_is_kept(looks):
    """Quegan & Yu (2001) over N = 7 dates, 7x7 local means (W = 49 pixels). With perfect local means the
    ENL would be N L (the bound); to first order in 1/W the local mean's own noise adds its variance:
    1/ENL = 1/(N L) + 1/(W L). Means of every date on every area: within 0.1 dB of the known backscatter,
    and of the unfiltered image of that date."""
    truth, x = _stack(looks, 100 + int(10 * looks))
    y = S.quegan(x, 7)
    n, w = 7, 49
    areas = [(slice(a * 200 + 10, a * 200 + 190), slice(b * 200 + 10, b * 200 + 190)) for a in (0, 1) for b in (0, 1)]
    enl_in = np.array([[S.equivalent_looks(x[k][s]) for s in areas] for k in range(n)])
    enl_out = np.array([[S.equivalent_looks(y[k][s]) for s in areas] for k in range(n)])
    expected = 1.0 / (1.0 / (n * looks) + 1.0 / (w * looks))
    vs_truth = np.array([[_db(y[k][s].mean() / truth[k][s].mean()) for s in areas] for k in range(n)])
    vs_input = np.array([[_db(y[k][s].mean() / x[k][s].mean()) for s in areas] for k in range(n)])
    print(f"L={looks}: ENL {enl_in.mean():.2f} -> {enl_out.mean():.2f} (min {enl_out.min():.2f}, max "
          f"{enl_out.max():.2f}); first-order expectation {expected:.2f}, bound N L = {n * looks:.1f}; "
          f"mean vs truth {vs_truth.min():+.3f} .. {vs_truth.max():+.3f} dB, vs unfiltered "
          f"{vs_input.min():+.3f} .. {vs_input.max():+.3f} dB")
    assert abs(enl_in.mean() / looks - 1) < 0.05
    assert np.all(np.abs(enl_out / expected - 1) < 0.1)
    assert np.all(enl_out < n * looks)
    assert np.abs(vs_truth).max() < 0.1
    assert np.abs(vs_input).max() < 0.05


def test_quegan_no_data_on_one_date():
    """A date without data on a patch: that date stays NaN there, the others are filtered with N - 1 dates;
    N identical dates give back the image itself (J = <I>/N * N I/<I>: fully correlated dates, no gain)."""
    truth, x = _stack(1.0, 300)
    x = x[:3, :100, :100].copy()
    x[1, 30:60, 30:60] = np.nan
    y = S.quegan(x, 5)
    assert np.array_equal(np.isnan(y[1]), np.isnan(x[1])) and np.all(np.isfinite(y[[0, 2]]))
    m = [S.local_mean(x[k], 5)[45, 45] for k in range(3)]
    assert y[0, 45, 45] == pytest.approx(m[0] / 2 * (x[0, 45, 45] / m[0] + x[2, 45, 45] / m[2]), rel=1e-6)
    assert y[0, 10, 10] == pytest.approx(S.local_mean(x[0], 5)[10, 10] / 3 * sum(
        x[k, 10, 10] / S.local_mean(x[k], 5)[10, 10] for k in range(3)), rel=1e-6)
    same = S.quegan(np.stack([x[0], x[0]]), 5)
    assert np.allclose(same[0], x[0], rtol=1e-6)


def test_bad_filter_options():
    from diapsar.errors import ConfigError

    for args in (("median", 7), ("lee", 4), ("lee", 1), ("refined-lee", 3)):
        with pytest.raises(ConfigError):
            S.check(*args)
    with pytest.raises(ConfigError, match="at least 2 dates"):
        S.quegan([np.ones((5, 5))])
    with pytest.raises(ConfigError, match="one size"):
        S.quegan([np.ones((5, 5)), np.ones((5, 6))])


# ---------------------------------------------------------------------------------------------------------
# the command

S1B = "format_coverage/S1B_IW_SLC__1SDV_20210401T052622_20210401T052650_026269_032297_EFA4.SAFE"


def _cli(*args: str, threads: int | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, NUMBA_NUM_THREADS=str(threads)) if threads else None
    return subprocess.run([sys.executable, "-W", "ignore", "-m", "diapsar", *args], capture_output=True, text=True,
                          timeout=300, env=env)


def _read(tif: Path) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with rasterio.open(tif) as d:
            return d.read(1)


@pytest.fixture(scope="module")
def two_dates(s1_data, tmp_path_factory) -> list[Path]:
    """Two 'dates' on one grid: a 2-burst x 600-sample crop of the S1B IW1 VV annotations (``diapsar crop``)
    holding real Terceira DN, and a copy of it (another product name) holding the same DN shifted by 7 lines
    and 11 samples (a stand-in for a second date: other speckle, and the scene itself moved)."""
    from diapsar.io.crop import crop_product

    root = tmp_path_factory.mktemp("dates")
    first = crop_product(s1_data / S1B, root / "a", 1400, 200, 200, 600, swath="IW1", polarisations=["VV"])
    second = root / "b" / first.name.replace("_EFA4.SAFE", "_EFA5.SAFE")
    shutil.copytree(first, second)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = rasterio.open(glob.glob(str(s1_data / "terceira_iw3_20220918_real_crop" / "*.tiff"))[0]).read(1)
    for k, safe in enumerate((first, second)):
        tif = glob.glob(str(safe / "measurement" / "*.tiff"))[0]
        with rasterio.open(tif, "r+") as d:
            dn = np.tile(t, (d.height // t.shape[0] + 2, d.width // t.shape[1] + 2))
            d.write(np.roll(dn, (7 * k, 11 * k), axis=(0, 1))[:d.height, :d.width], 1)
    return [first, second]


def test_speckle_option_equals_the_filter_of_the_written_image(two_dates, tmp_path):
    """``--speckle refined-lee`` (ENL 4 = -ml 4 1 of an SLC) writes the calibrated image and its refined Lee
    filter, bit for bit the filter of the whole image in memory, on 2 threads and on 1; ``filter_file`` on
    67-row blocks (ram 1 MB, halo 3 rows) gives the whole-image Lee filter too."""
    from diapsar.speckle import filter_file

    for threads, out in ((None, tmp_path), (1, tmp_path / "t1")):
        r = _cli("backscatter", str(two_dates[0]), "--out", str(out), "-ml", "4", "1", "--speckle", "refined-lee",
                 "--no-quicklook", threads=threads)
        assert r.returncode == 0, r.stderr
    raw_tif = next(tmp_path.glob("*_EFA4_IW1_VV_sigma0.tif"))
    raw = _read(raw_tif)
    got = _read(next(tmp_path.glob("*_EFA4_IW1_VV_sigma0_refined-lee7.tif")))
    assert np.array_equal(got, S.refined_lee(raw, 7, 4.0), equal_nan=True)
    assert np.array_equal(got, _read(next((tmp_path / "t1").glob("*_refined-lee7.tif"))), equal_nan=True)
    with rasterio.open(next(tmp_path.glob("*_refined-lee7.tif"))) as d:
        assert d.tags()["SPECKLE_FILTER"] == "refined-lee" and float(d.tags()["SPECKLE_ENL"]) == 4.0
        assert d.descriptions == ("sigma0_VV_refined-lee",) and d.units == ("linear",)
    lee_tif = filter_file(raw_tif, "lee", 7, 4.0, ram_mb=1)
    lee = _read(lee_tif)
    assert np.array_equal(lee, S.lee(raw, 7, 4.0), equal_nan=True)
    ok = np.isfinite(raw)
    assert np.array_equal(np.isnan(got), np.isnan(raw)) and ok.mean() > 0.4
    print(f"real crop, {ok.sum()} pixels: image mean {_db(raw[ok].mean()):.3f} dB; refined Lee "
          f"{_db(got[ok].mean()):.3f} dB, Lee {_db(lee[ok].mean()):.3f} dB")


def test_multitemporal_command_and_bad_stacks(two_dates, s1_data, tmp_path):
    out = tmp_path / "mt"
    r = _cli("backscatter", *map(str, two_dates), "--out", str(out), "-ml", "4", "2", "--db", "--multitemporal",
             "--speckle-window", "5", "--no-quicklook")
    assert r.returncode == 0, r.stderr
    raw = [_read(next(out.glob(f"*_{tag}_IW1_VV_sigma0_db.tif"))) for tag in ("EFA4", "EFA5")]
    mt = [_read(next(out.glob(f"*_{tag}_IW1_VV_sigma0_db_mt5.tif"))) for tag in ("EFA4", "EFA5")]
    ref = S.quegan([10 ** (a.astype(np.float64) / 10) for a in raw], 5)
    ok = np.isfinite(raw[0])
    for k in range(2):
        assert np.array_equal(np.isnan(mt[k]), np.isnan(raw[k]))
        assert np.abs(mt[k][ok] - 10 * np.log10(ref[k][ok])).max() < 1e-4
    print(f"multitemporal over 2 dates: mean {_db(np.mean(10 ** (raw[0][ok] / 10))):.3f} -> "
          f"{_db(np.mean(10 ** (mt[0][ok] / 10))):.3f} dB")
    # not on one grid: the full S1B swath (another size) with the crop; one product; an even window
    bad = [((str(two_dates[0]), str(s1_data / S1B), "--swath", "IW1"), "not on the grid"),
           ((str(two_dates[0]),), "at least 2"),
           ((*map(str, two_dates), "--speckle-window", "4"), "odd")]
    for args, words in bad:
        r = _cli("backscatter", *args, "--out", str(tmp_path / "bad"), "--multitemporal")
        print(r.stderr.strip())
        assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1 and words in r.stderr
        assert not (tmp_path / "bad").exists()  # checked before anything is written


def test_speckle_options_with_dem_are_refused_before_anything_is_written(two_dates, tmp_path):
    for opt in (("--speckle", "lee"), ("--multitemporal",), ("--decomposition", "h-a-alpha")):
        r = _cli("backscatter", *map(str, two_dates), "--out", str(tmp_path / "bad"), "--dem", str(tmp_path), *opt)
        assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert "without --dem" in r.stderr
        assert not (tmp_path / "bad").exists()
