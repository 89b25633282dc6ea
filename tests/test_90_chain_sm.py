"""SAR_MultiSlc end to end on a simulated StripMap stack with known truth (diapsar.simulate).

One stack (master + 2 slaves, 600 x 500 px, S3 beam, volcano with a Mogi bump, point targets) is simulated and
processed once through the command line (full mode, ortho and filtering on); the tests compare the products
with the simulation's truth and print the figures.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from chain_cli import run_cli

from diapsar.coregistration import dense_shifts

REPO = Path(__file__).resolve().parents[1]
ML = 3
SIZE = (600, 500)
ALONG_TRACK = (0.0, 15.4, -2.2)

pytestmark = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")  # slave 1 shifted by 15 lines: a strip of the master has no slave data




def write_config(path: Path, input_dir: Path, output_dir: Path, srtm: bool = False, **over) -> Path:
    from diapsar.chains.demo import demo_config

    raw = demo_config(input_dir, output_dir, ram_mb=200)
    if srtm:  # the DEM folder as a tile folder (SRTM_Path) instead of one DEM file
        del raw["Global"]["in"]["DEM_Path"]
        raw["Global"]["in"]["SRTM_Path"] = str(input_dir / "dem")
    raw["Global"]["parameter"]["clean"] = "no"
    raw["DIn_SAR"]["parameter"].update(GridStep_range=30, GridStep_azimut=30)
    for key, value in over.items():
        section, name = key.split("__")
        raw.setdefault(section, {}).setdefault("parameter", {})[name] = value
    path.write_text(json.dumps(raw, indent=1))
    return path


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    from diapsar.simulate.api import simulate_stack

    root = tmp_path_factory.mktemp("sm_stack")
    res = simulate_stack(root / "input", mode="sm", dates=3, size=SIZE, seed=3, along_track_lines=ALONG_TRACK)
    truth = json.loads(res.truth_json.read_text())
    return root, truth


@pytest.fixture(scope="module")
def run(stack):
    root, truth = stack
    cfg = write_config(root / "config.json", root / "input", root / "output")
    proc = run_cli(cfg)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = root / "output"
    master = truth["acquisitions"][0]["date"]
    return {"root": root, "out": out, "truth": truth, "master": master, "cfg": cfg, "stderr": proc.stderr,
            "pairs": [f"{master}_m_{a['date']}_s" for a in truth["acquisitions"][1:]]}


def truth_bands(run, pair: str) -> np.ndarray:
    m, s = pair.split("_m_")[0], pair.split("_m_")[1][:-2]
    rel = next(p["file"] for p in run["truth"]["pairs"] if p["master_date"] == m and p["slave_date"] == s)
    with rasterio.open(run["root"] / "input" / rel) as ds:
        return ds.read().astype(np.float64)


def ml_mean(x: np.ndarray, rows: int, cols: int) -> np.ndarray:
    return x[: rows * ML, : cols * ML].reshape(rows, ML, cols, ML).mean(axis=(1, 3))


def read(path: Path) -> tuple[np.ndarray, rasterio.io.DatasetReader]:
    ds = rasterio.open(path)
    return ds.read(), ds


def test_layout_and_sidecars(run):
    out = run["out"]
    assert (out / "dem_scene.vrt").is_file() and (out / "info.log").is_file() and (out / "run.json").is_file()
    mdir = out / f"{run['master']}_master_directory"
    for name in ("master_ml_amplitude.tif", "dem_projection.tif", "cartesian_mean.tif", "dop0.txt"):
        assert (mdir / name).is_file(), name
    runj = json.loads((out / "run.json").read_text())
    assert runj["pairs"] == run["pairs"]
    for pair in run["pairs"]:
        d = out / pair
        with rasterio.open(d / "interferogram.tif") as ds:
            assert ds.count == 4 and ds.dtypes == ("float32",) * 4
            assert ds.descriptions == ("amplitude", "phase", "coherence", "isData")
            gcps, crs = ds.gcps
            assert len(gcps) >= 16 and crs.to_epsg() == 4326
            assert (ds.height, ds.width) == (SIZE[0] // ML, (SIZE[1] // ML))
        info = json.loads((d / "pair.json").read_text())
        for key in ("master_date", "slave_date", "perpendicular_baseline_m", "height_of_ambiguity_m",
                    "parameters", "software_version", "products", "timings_s", "temporal_baseline_days"):
            assert key in info, key
        for key in ("interferogram", "ortho", "filtered", "coregistered_slave", "deformation_grid"):
            assert (d / info["products"][key]).is_file(), key
        assert info["master_date"] == run["master"] and len(info["slave_date"]) == 8
        # design baseline of the simulation, sign convention aside
        design = {a["date"]: a["design_perpendicular_baseline_m"] for a in run["truth"]["acquisitions"]}
        print(pair, "B_perp", info["perpendicular_baseline_m"], "design", design[info["slave_date"]],
              "h_amb", info["height_of_ambiguity_m"])
        assert abs(abs(info["perpendicular_baseline_m"]) - abs(design[info["slave_date"]])) < 5.0


def test_run_report_opens_in_headless_chromium(run, browser, tmp_path):
    """The chain's own index.html of the simulated run: every quicklook, ortho map and the baseline plot load."""
    from conftest import loaded_image_counts

    index = run["out"] / "index.html"
    html = index.read_text(encoding="utf-8")
    assert "http://" not in html and "https://" not in html  # opens offline, from the file system
    n_img = html.count("<img ")
    # baseline plot + amplitude, phase, coherence and ortho quicklooks per pair
    assert n_img == 1 + 4 * len(run["pairs"])
    total, broken = loaded_image_counts(browser, tmp_path / "profile", index)
    print(f"chain report: {total} images, {broken} broken")
    assert (total, broken) == (n_img, 0)


@pytest.mark.parametrize("k", [0, 1])
def test_coregistration_offsets_match_truth(run, k):
    pair = run["pairs"][k]
    tr = truth_bands(run, pair)
    grid, ds = read(run["out"] / pair / "deformation_grid.tif")
    step = int(ds.tags()["step_range"])
    n_l, n_s = tr.shape[1:]
    sr, sa = dense_shifts(grid[:2], step, step, 0, n_l, n_s)
    sel = (tr[5] >= 0.5) & np.isfinite(tr[0])
    rms = float(np.sqrt(np.mean((sr - tr[0])[sel] ** 2 + (sa - tr[1])[sel] ** 2)))
    dr, da = dense_shifts(grid[2:4], step, step, 0, n_l, n_s)
    rms_dem = float(np.sqrt(np.mean((dr - tr[0])[sel] ** 2 + (da - tr[1])[sel] ** 2)))
    print(f"{pair}: offset error RMS {rms:.4f} px (coherence >= 0.5, {sel.sum()} px); DEM grid alone {rms_dem:.4f}")
    assert rms <= 0.01


@pytest.mark.parametrize("k", [0, 1])
def test_phase_coherence_isdata_match_truth(run, k):
    pair = run["pairs"][k]
    tr = truth_bands(run, pair)
    ifg, _ = read(run["out"] / pair / "interferogram.tif")
    rows, cols = ifg.shape[1:]
    isd = ifg[3] > 0
    # residual phase against the true deformation phase (topographic phase removed by the chain)
    dphi = ml_mean(np.exp(1j * tr[3]), rows, cols)
    coh_t = ml_mean(tr[5], rows, cols)
    res = np.angle(np.exp(1j * ifg[1]) * np.conj(dphi))
    sel = isd & (coh_t >= 0.9)
    rms = float(np.sqrt(np.mean(res[sel] ** 2)))
    print(f"{pair}: residual phase RMS {rms:.4f} rad, mean {np.mean(res[sel]):+.4f} (coherence >= 0.9, "
          f"{sel.sum()} cells)")
    assert sel.sum() > 500 and rms <= 0.1
    # coherence: mean estimate per truth bin within 0.05 of the truth (bins >= 0.5; below, the estimator's
    # positive bias for 25-sample windows exceeds 0.05, a property of the estimator, not of the chain)
    for lo in (0.5, 0.6, 0.7, 0.8, 0.9):
        b = isd & (coh_t >= lo) & (coh_t < lo + 0.1)
        diff = float(ifg[2][b].mean() - coh_t[b].mean())
        print(f"  coherence bin [{lo:.1f}, {lo + 0.1:.1f}): {b.sum()} cells, estimate - truth {diff:+.4f}")
        assert abs(diff) <= 0.05
    # isData: false exactly where the slave has no data (ML window with the 1-pixel margins)
    n_l, n_s = tr.shape[1:]
    pos_l = np.arange(n_l)[:, None] + tr[1]
    pos_s = np.arange(n_s)[None, :] + tr[0]
    has = (pos_l >= 0) & (pos_l <= n_l - 1) & (pos_s >= 0) & (pos_s <= n_s - 1) & np.isfinite(tr[0])
    # valid fraction of each cell's window grown by one pixel on each side (clipped at the image edges)
    csum = np.pad(np.cumsum(np.cumsum(has.astype(np.float64), 0), 1), ((1, 0), (1, 0)))
    r0 = np.clip(np.arange(rows) * ML - 1, 0, n_l)[:, None]
    r1 = np.clip(np.arange(rows) * ML + ML + 1, 0, n_l)[:, None]
    c0 = np.clip(np.arange(cols) * ML - 1, 0, n_s)[None, :]
    c1 = np.clip(np.arange(cols) * ML + ML + 1, 0, n_s)[None, :]
    frac = (csum[r1, c1] - csum[r0, c1] - csum[r1, c0] + csum[r0, c0]) / ((r1 - r0) * (c1 - c0))
    expected = frac >= 0.5
    mism = int(np.sum(expected != isd))
    print(f"  isData: {np.sum(~isd)} no-data cells, expected {np.sum(~expected)}, mismatches {mism}")
    assert mism == 0
    if k == 0:
        assert np.sum(~isd) > 100, "the shifted slave must leave a no-data strip"


def test_ortho_point_targets(run):
    pair = run["pairs"][0]
    with rasterio.open(run["out"] / pair / "interferogram_ortho.tif") as ds:
        amp = ds.read(1)
        tr = ds.transform
        assert ds.crs.to_epsg() == 4326 and abs(ds.transform.a - 0.0001) < 1e-12
        assert ds.descriptions == ("amplitude", "phase", "coherence", "isData")
    errors = []
    for p in run["truth"]["point_targets"]:
        c = (p["lon_deg"] - tr.c) / tr.a - 0.5  # cell-centre coordinates
        r = (p["lat_deg"] - tr.f) / tr.e - 0.5
        ri, ci = int(round(r)), int(round(c))
        w = amp[ri - 4:ri + 5, ci - 4:ci + 5]
        k = np.unravel_index(np.nanargmax(w), w.shape)
        pr, pc = ri - 4 + k[0], ci - 4 + k[1]
        p2 = amp[pr - 1:pr + 2, pc - 1:pc + 2].astype(np.float64) ** 2
        cr = pr + float(p2.sum(1) @ np.arange(-1, 2)) / p2.sum()
        cc = pc + float(p2.sum(0) @ np.arange(-1, 2)) / p2.sum()
        errors.append(np.hypot(cr - r, cc - c))
        print(f"target {p['id']}: true ortho pixel ({r:.2f}, {c:.2f}), found ({cr:.2f}, {cc:.2f}), "
              f"peak/median {amp[pr, pc] / np.nanmedian(amp):.1f}")
        assert abs(cr - r) <= 1.0 and abs(cc - c) <= 1.0
    print(f"point targets: ortho location error max {max(errors):.2f} px, mean {np.mean(errors):.2f} px")


def test_light_mode_keeps_only_final_products(stack, tmp_path):
    root, truth = stack
    cfg = write_config(tmp_path / "c.json", root / "input", tmp_path / "out", srtm=True,
                       Post_Processing__Filtered_Interferogram_mlran=2, Post_Processing__Filtered_Interferogram_mlazi=2)
    master, slave = truth["acquisitions"][0]["date"], truth["acquisitions"][2]["date"]
    proc = run_cli(cfg, "-l", "yes", "-o", "no", "-e", truth["acquisitions"][1]["date"], "-ml", "4", "2")
    assert proc.returncode == 0, proc.stderr[-2000:]
    d = tmp_path / "out" / f"{master}_m_{slave}_s"
    names = sorted(p.name for p in d.iterdir() if not p.name.startswith("."))
    print(names)
    assert "interferogram.tif" in names and "interferogram_filtered.tif" in names
    for gone in ("slave_coregistered.tif", "deformation_grid.tif", "topographic_phase.tif", "interferogram_ortho.tif"):
        assert gone not in names
    with rasterio.open(d / "interferogram.tif") as ds:  # -ml 4 2 overrides the config's 3 x 3
        assert (ds.height, ds.width) == (SIZE[0] // 2, SIZE[1] // 4)
    with rasterio.open(d / "interferogram_filtered.tif") as ds:  # filtered, then multilooked 2 x 2 more
        assert (ds.height, ds.width) == (SIZE[0] // 2 // 2, SIZE[1] // 4 // 2)
        assert ds.descriptions == ("amplitude", "phase", "coherence", "isData")
    assert len(list((tmp_path / "out").glob("*_m_*_s"))) == 1


def test_roi_processes_a_window_consistent_with_the_full_scene(run, tmp_path):
    """-roi cuts the master to the lines/samples covering a lon/lat box; the products of the window agree with
    the full-scene ones (same ortho grid: the phases match where both have data)."""
    pair = run["pairs"][1]
    with rasterio.open(run["out"] / pair / "interferogram_ortho.tif") as ds:
        full = ds.read()
        b = ds.bounds
    w, h = b.right - b.left, b.top - b.bottom
    roi = [b.left + 0.3 * w, b.top - 0.3 * h, b.right - 0.3 * w, b.bottom + 0.3 * h]
    m, s = run["truth"]["acquisitions"][0]["date"], run["truth"]["acquisitions"][2]["date"]
    cfg = write_config(tmp_path / "c.json", run["root"] / "input", tmp_path / "out")
    proc = run_cli(cfg, "-roi", *[f"{v:.6f}" for v in roi], "-e", run["truth"]["acquisitions"][1]["date"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    d = tmp_path / "out" / f"{m}_m_{s}_s"
    info = json.loads((d / "pair.json").read_text())
    win = info["parameters"]["window"]
    print("ROI window:", win)
    assert win["lines"] < SIZE[0] and win["samples"] < SIZE[1] and win["first_line"] > 0 and win["first_sample"] > 0
    with rasterio.open(d / "interferogram_ortho.tif") as ds:
        part = ds.read()
        t_part = ds.transform
    with rasterio.open(run["out"] / pair / "interferogram_ortho.tif") as ds:
        t_full = ds.transform
    # both grids are snapped to multiples of the spacing: integer offset between them
    dc = round((t_part.c - t_full.c) / t_full.a)
    dr = round((t_part.f - t_full.f) / t_full.e)
    sub = full[:, dr:dr + part.shape[1], dc:dc + part.shape[2]]
    both = (part[3] > 0) & (sub[3] > 0)
    dphi = np.angle(np.exp(1j * (part[1][both] - sub[1][both])))
    dcoh = part[2][both] - sub[2][both]
    print(f"ROI vs full scene on {both.sum()} ortho cells: phase difference RMS {np.sqrt(np.mean(dphi ** 2)):.4f} rad,"
          f" coherence difference RMS {np.sqrt(np.mean(dcoh ** 2)):.4f}")
    assert both.sum() > 0.5 * np.prod(part.shape[1:]) * 0.5
    # same ML cells (the window is aligned on the scene's ML grid); what differs is the residual-shift estimate
    assert np.sqrt(np.mean(dphi ** 2)) < 0.1 and np.sqrt(np.mean(dcoh ** 2)) < 0.03


def test_no_interferogram_keeps_coregistered_slave_and_projected_ortho(stack, tmp_path):
    """-i no stops after coregistration (kept); a projected ortho EPSG is accepted (checked on a second run)."""
    root, truth = stack
    master, slave = truth["acquisitions"][0]["date"], truth["acquisitions"][2]["date"]
    cfg = write_config(tmp_path / "c.json", root / "input", tmp_path / "out")
    proc = run_cli(cfg, "-i", "no", "-e", truth["acquisitions"][1]["date"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    d = tmp_path / "out" / f"{master}_m_{slave}_s"
    assert (d / "slave_coregistered.tif").is_file() and not (d / "interferogram.tif").exists()
    with rasterio.open(d / "slave_coregistered.tif") as ds:
        assert ds.dtypes[0] == "complex64" and (ds.height, ds.width) == (SIZE[0], SIZE[1] - SIZE[1] % ML)
    utm = int(32700 + (55.7 + 180) // 6 + 1)  # southern-hemisphere UTM zone of the scene
    cfg2 = write_config(tmp_path / "c2.json", root / "input", tmp_path / "out2", Post_Processing__Ortho_EPSG=utm)
    proc = run_cli(cfg2, "-e", truth["acquisitions"][1]["date"], "-spacingxy", "0.0002")
    assert proc.returncode == 0, proc.stderr[-2000:]
    with rasterio.open(tmp_path / "out2" / f"{master}_m_{slave}_s" / "interferogram_ortho.tif") as ds:
        assert ds.crs.to_epsg() == utm
        assert 20 < ds.transform.a < 25  # 0.0002 deg of latitude ~ 22 m
        valid = ds.read(4) > 0
        print(f"UTM ortho {ds.width} x {ds.height}, {valid.mean():.2f} of the cells with data")
        assert valid.mean() > 0.3


def test_rerun_skips_completed_steps(run):
    """Last test of the module: it changes the ortho spacing of the shared run."""
    log_before = (run["out"] / "info.log").read_text()
    ifg = run["out"] / run["pairs"][0] / "interferogram.tif"
    mtime = ifg.stat().st_mtime_ns
    proc = run_cli(run["cfg"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert ifg.stat().st_mtime_ns == mtime
    new = (run["out"] / "info.log").read_text()[len(log_before):]
    assert "already complete" in new and "cartesian mean already done" in new
    # a changed pair parameter redoes the pair's later steps only
    proc = run_cli(run["cfg"], "-spacingxy", "0.00012")
    assert proc.returncode == 0, proc.stderr[-2000:]
    new = (run["out"] / "info.log").read_text()[len(log_before) + len(new):]
    assert "interferogram already done" in new and "interferogram_ortho.tif" in new
    assert ifg.stat().st_mtime_ns == mtime
