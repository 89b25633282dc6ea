"""SAR_MultiSlc end to end on simulated IW stacks with known truth (diapsar.simulate, mode iw).

Stack 1: IW1, 3 bursts of 360 lines, 420 samples, master + a slave whose data are 0.02 line later than its
annotation says (a hidden along-track timing error only ESD can see) + a slave without timing error; run through
the command line with ESD on (full mode), and once more with ESD off. Stack 2: a decorrelated pair (coherence
0.05-0.1): ESD finds too few points, the pair completes with the geometric solution. The tests print their
figures.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import rasterio
from chain_cli import run_cli

REPO = Path(__file__).resolve().parents[1]
TIMING_ERROR = 0.02
ML_RAN, ML_AZI = 4, 2
STEP = 40

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")]




def iw_config(path: Path, input_dir: Path, output_dir: Path, esd_iter: int = 2, clean: str = "no") -> Path:
    raw = {"Global": {"in": {"Input_Path": str(input_dir), "DEM_Path": str(input_dir / "dem" / "dem.tif"),
                             "Mode": "IW", "Polarisation": "VV"},
                      "out": {"Output_Path": str(output_dir)}, "parameter": {"clean": clean, "optram": 500}},
           "Pre_Processing": {"parameter": {"ML_ran": ML_RAN, "ML_azi": ML_AZI}},
           "DIn_SAR": {"parameter": {"GridStep_range": STEP, "GridStep_azimut": STEP, "ESD_iter": esd_iter}},
           "Post_Processing": {"parameter": {"Activate_Ortho": "yes", "Activate_Filtering": "no"}}}
    path.write_text(json.dumps(raw, indent=1))
    return path


@pytest.fixture(scope="module")
def iw_stack(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    from diapsar.simulate.api import simulate_stack

    root = tmp_path_factory.mktemp("iw_stack")
    res = simulate_stack(root / "input", mode="iw", dates=3, size=(0, 420), bursts=3, lines_per_burst=360, seed=21,
                         n_targets=0, coherence=(0.85, 0.98), snr_db=25.0,
                         timing_error_lines=[0.0, TIMING_ERROR, 0.0])
    return root, json.loads(res.truth_json.read_text())


@pytest.fixture(scope="module")
def iw_run(iw_stack: tuple[Path, dict]) -> Path:
    root, _ = iw_stack
    out = root / "output"
    r = run_cli(iw_config(root / "config.json", root / "input", out))
    assert r.returncode == 0, r.stderr
    return out


def _pair(out: Path, truth: dict, k: int) -> tuple[dict, dict, dict[str, np.ndarray], np.ndarray]:
    pair = truth["pairs"][k]
    folder = sorted(out.glob("*_m_*_s"))[k]
    info = json.loads((folder / "pair.json").read_text())
    with rasterio.open(out.parent / "input" / pair["file"]) as ds:
        t = {n: ds.read(i + 1) for i, n in enumerate(ds.descriptions)}
    with rasterio.open(folder / "interferogram.tif") as ds:
        ifg = ds.read()
    return pair, info, t, ifg


def _swath_rows(input_dir: Path) -> np.ndarray:
    """Swath-image line of every debursted frame line of the master (all bursts)."""
    from diapsar import tops
    from diapsar.io.safe import open_product

    meta = open_product(sorted(input_dir.glob("*.SAFE"))[0]).swath(None, None)
    frame = tops.deburst_frame(meta)
    return np.concatenate([meta.bursts[s.burst].first_line + s.burst_line0 + np.arange(s.lines)
                           for s in frame.segments])


def _residual(info: dict, t: dict[str, np.ndarray], ifg: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, ...]:
    """Interferogram phase minus the ML'd true deformation phase, the ML'd true coherence."""
    rg = info["radar_grid"]
    n, ns = rg["lines"], rg["samples"]
    sw = rows[:n]
    z = np.exp(1j * t["deformation_phase_rad"][sw][:, :ns]).reshape(n // ML_AZI, ML_AZI, ns // ML_RAN, ML_RAN)
    tc = t["coherence"][sw][:, :ns].reshape(n // ML_AZI, ML_AZI, ns // ML_RAN, ML_RAN).mean(axis=(1, 3))
    d = np.angle(np.exp(1j * (ifg[1] - np.angle(z.mean(axis=(1, 3))))))
    return d, tc


def _seam_steps(info: dict, d: np.ndarray, isdata: np.ndarray) -> list[float]:
    steps = []
    for seg in info["radar_grid"]["segments"][1:]:
        r = seg["first_line"] // ML_AZI
        before = d[r - 2:r][isdata[r - 2:r] > 0.5]
        after = d[r:r + 2][isdata[r:r + 2] > 0.5]
        steps.append(float(np.angle(np.mean(np.exp(1j * after)) * np.conj(np.mean(np.exp(1j * before))))))
    return steps


def test_iw_pair_with_timing_error_is_exact_after_esd(iw_stack: tuple[Path, dict], iw_run: Path) -> None:
    root, truth = iw_stack
    rows = _swath_rows(root / "input")
    pair, info, t, ifg = _pair(iw_run, truth, 0)
    assert pair["timing_error_lines"] == pytest.approx(TIMING_ERROR)
    esd = info["esd"]
    print(f"\nESD: shift {info['esd_shift_lines']:+.5f} lines (hidden timing error {TIMING_ERROR}), iterations "
          f"{[round(i['shift_lines'], 6) for i in esd['iterations']]}")
    assert esd["status"] == "ok" and len(esd["residual"]) == 2
    # the last iteration converged (< 1e-5 line): the residual comes from its overlaps by the ESD model
    assert abs(esd["iterations"][-1]["shift_lines"]) < 1e-5 and "ESD model" in esd["residual_from"]
    assert all(abs(r["residual_phase_rad"]) < 0.02 for r in esd["residual"])
    # coregistration error: final grid (geometry + ESD) against the true offsets at the grid nodes
    with rasterio.open(iw_run / sorted(p.name for p in iw_run.glob("*_m_*_s"))[0] / "deformation_grid.tif") as ds:
        grids = ds.read()
        bursts = [int(b) for b in ds.tags()["master_bursts"].split(",")]
    lpb = 360
    errs = []
    for k, b in enumerate(bursts):
        g = grids[4 * k + 1]
        lines = np.arange(g.shape[0]) * STEP
        cols = np.arange(g.shape[1]) * STEP
        ok_l, ok_c = lines < lpb, cols < t["azimuth_offset_px"].shape[1]
        tr = t["azimuth_offset_px"][b * lpb + lines[ok_l]][:, cols[ok_c]]
        errs.append((g[np.ix_(ok_l, ok_c)] - tr)[np.isfinite(tr)])
    err = np.concatenate(errs)
    rms = float(np.sqrt(np.mean(err ** 2)))
    print(f"azimuth coregistration error after ESD: RMS {rms:.5f} line, mean {np.mean(err):+.5f} "
          f"({err.size} grid nodes)")
    assert rms <= 0.001
    d, tc = _residual(info, t, ifg, rows)
    amp, _, coh, isd = ifg
    ok = (isd > 0.5) & (coh >= 0.9)
    phase_rms = float(np.sqrt(np.mean(d[ok] ** 2)))
    steps = _seam_steps(info, d, isd)
    valid = isd > 0.5
    print(f"phase - true deformation: RMS {phase_rms:.4f} rad over {ok.sum()} cells (coherence >= 0.9); seam "
          f"steps {[round(s, 4) for s in steps]} rad; coherence - truth {np.mean(coh[valid] - tc[valid]):+.4f}")
    assert ok.sum() > 1000 and phase_rms <= 0.1
    assert np.median(np.abs(steps)) <= 0.1 and max(abs(s) for s in steps) <= 0.1
    assert abs(float(np.mean(coh[valid] - tc[valid]))) <= 0.05


def test_iw_pair_json_describes_the_output_grid(iw_stack: tuple[Path, dict], iw_run: Path) -> None:
    from diapsar.geometry import RadarGrid
    from diapsar.io.safe import open_product
    from diapsar.timeutil import iso_to_seconds

    root, truth = iw_stack
    _, info, _, ifg = _pair(iw_run, truth, 0)
    rg = info["radar_grid"]
    assert ifg.shape[1:] == (rg["lines"] // rg["ml_azimuth"], rg["samples"] // rg["ml_range"])
    meta = open_product(sorted((root / "input").glob("*.SAFE"))[0]).swath(None, None)
    grid = RadarGrid.from_metadata(meta)
    for seg in rg["segments"]:  # every segment's first line time is the master burst line's own time
        b = meta.bursts[seg["master_burst"]]
        line = grid.time_to_line(iso_to_seconds(seg["first_azimuth_time"].rstrip("Z")), burst=b.index)
        assert float(line) == pytest.approx(round(float(line)), abs=1e-3)
    assert rg["first_slant_range_time_s"] == pytest.approx(meta.slant_range_time_s)
    assert [b["master_burst"] for b in info["bursts"]] == [0, 1, 2] and info["missing_master_bursts"] == []


def test_iw_without_esd_shows_the_seam_step_the_timing_error_predicts(iw_stack: tuple[Path, dict]) -> None:
    """The seam check can fail: with ESD off the 0.02-line timing error leaves steps of about 2 pi df dt delta."""
    root, truth = iw_stack
    out = root / "output_no_esd"
    r = run_cli(iw_config(root / "config_no_esd.json", root / "input", out, esd_iter=0, clean="yes"))
    assert r.returncode == 0, r.stderr
    rows = _swath_rows(root / "input")
    _, info, t, ifg = _pair(out, truth, 0)
    assert info["esd"]["status"] == "off" and info["esd_shift_lines"] == 0.0
    d, _ = _residual(info, t, ifg, rows)
    steps = _seam_steps(info, d, ifg[3])
    # predicted step: the local Doppler jumps by df across the cut; df from the ESD run of the same pair
    with_esd = json.loads(next((root / "output").glob("*_m_*_s")).joinpath("pair.json").read_text())
    df = np.mean([o["delta_f_hz"] for o in with_esd["esd"]["iterations"][0]["overlaps"]])
    dt = info["radar_grid"]["azimuth_time_interval_s"]
    predicted = 2 * math.pi * df * dt * TIMING_ERROR
    print(f"\nESD off: seam steps {[round(s, 4) for s in steps]} rad, predicted {predicted:.4f} rad")
    assert all(abs(s) > 0.1 for s in steps)
    assert all(0.5 * predicted < abs(s) < 1.5 * predicted for s in steps)


def test_decorrelated_overlaps_keep_the_geometric_solution(tmp_path: Path) -> None:
    from diapsar.simulate.api import simulate_stack

    simulate_stack(tmp_path / "input", mode="iw", dates=2, size=(0, 256), bursts=2, lines_per_burst=300, seed=4,
                   n_targets=0, coherence=(0.02, 0.06), snr_db=0.0)
    r = run_cli(iw_config(tmp_path / "c.json", tmp_path / "input", tmp_path / "out", clean="yes"))
    assert r.returncode == 0, r.stderr
    info = json.loads(next((tmp_path / "out").glob("*_m_*_s")).joinpath("pair.json").read_text())
    print(f"\ndecorrelated pair: ESD {info['esd']['status']}, overlaps "
          f"{[(o['bursts'], o['cells']) for o in info['esd']['iterations'][0]['overlaps']]}")
    assert info["esd"]["status"] == "too_few_points" and info["esd_shift_lines"] == 0.0
    assert (tmp_path / "out" / next((tmp_path / "out").glob("*_m_*_s")).name / "interferogram.tif").exists()
    log = (tmp_path / "out" / "info.log").read_text()
    assert "too few coherent overlap points" in log


@pytest.fixture(scope="module")
def two_swaths(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """IW1 + IW2 of one product (synthetic, side by side with a 10 % overlap), 3 bursts of 300 lines."""
    from diapsar.simulate.api import simulate_stack

    root = tmp_path_factory.mktemp("iw_two_swaths")
    simulate_stack(root / "input", mode="iw", dates=2, size=(0, 400), bursts=3, lines_per_burst=300,
                   beam="IW1,IW2", seed=3, n_targets=0, coherence=(0.85, 0.98), snr_db=25.0,
                   timing_error_lines=[0.0, TIMING_ERROR])
    return root


@pytest.fixture(scope="module")
def two_swaths_out(two_swaths: Path) -> Path:
    r = run_cli(iw_config(two_swaths / "c.json", two_swaths / "input", two_swaths / "out", clean="yes"))
    assert r.returncode == 0, r.stderr
    return two_swaths / "out"


def test_two_swaths_are_merged_on_one_grid_without_a_step_at_the_cut(two_swaths_out: Path) -> None:
    """Each swath is processed on its own frame, then merged; the wrapped phase is continuous across the swath
    cut and each swath keeps its exact grid."""
    out = two_swaths_out
    pair_dir = next(out.glob("*_m_*_s"))
    info = json.loads((pair_dir / "pair.json").read_text())
    assert sorted(info["swaths"]) == ["IW1", "IW2"]
    assert all(abs(v + TIMING_ERROR) < 0.002 for v in info["esd_shift_lines"].values())
    places = info["radar_grid"]["swaths"]
    cut = places[1]["first_col"]
    assert places[0]["end_col"] == cut and places[0]["first_col"] == 0
    with rasterio.open(pair_dir / "interferogram.tif") as ds:
        _, phase, coh, isd = ds.read()
        assert ds.gcps[0] and ds.tags()["swaths"] == "IW1,IW2"
    left, right = np.exp(1j * phase[:, cut - 2:cut]), np.exp(1j * phase[:, cut:cut + 2])
    rows = (isd[:, cut - 2:cut] > 0.5).all(axis=1) & (isd[:, cut:cut + 2] > 0.5).all(axis=1)
    steps = np.angle(right[rows].mean(axis=1) * np.conj(left[rows].mean(axis=1)))
    # the same comparison two columns inside IW1: the phase gradient of the scene alone
    inside = np.angle(np.exp(1j * phase[rows, cut - 4:cut - 2]).mean(axis=1)
                      * np.conj(np.exp(1j * phase[rows, cut - 6:cut - 4]).mean(axis=1)))
    print(f"\nswath cut at ML column {cut}: median step {np.median(steps):+.4f} rad over {rows.sum()} rows "
          f"(inside IW1: {np.median(inside):+.4f} rad)")
    assert rows.sum() > 100 and abs(float(np.median(steps))) <= 0.1
    for name in ("interferogram_ortho.tif", "quicklook_phase.png"):
        assert (pair_dir / name).exists()
    # the swaths' own pair folders: products and pair.json, no quicklooks (those of the merged pair only)
    for sw in ("IW1", "IW2"):
        swath_pair = out / sw / pair_dir.name
        assert (swath_pair / "interferogram.tif").exists() and not list(swath_pair.glob("quicklook_*.png"))
        assert "quicklooks" not in json.loads((swath_pair / "pair.json").read_text())
    assert (out / "IW1" / "run.json").exists() and (out / "IW2" / "run.json").exists()
    assert (out / "dem_scene.vrt").exists() and (out / "20230904_master_directory" / "master_ml_amplitude.tif").exists()


def test_two_swaths_unwrapped_once_on_the_merged_grid_and_orthorectified(two_swaths: Path,
                                                                        two_swaths_out: Path) -> None:
    """-u yes on the merged pair (the swath steps are resumed): one unwrapping of the merged interferogram, then
    its ortho on the swaths' map grids; rewrapped, the ortho unwrapped phase is the ortho wrapped phase up to the
    reference constant, on both swaths."""
    r = run_cli(two_swaths / "c.json", "-u", "yes")
    assert r.returncode == 0, r.stderr
    pair_dir = next(two_swaths_out.glob("*_m_*_s"))
    info = json.loads((pair_dir / "pair.json").read_text())
    assert info["products"]["unwrapped_ortho"] == "unwrapped_ortho.tif" and info["unwrapping"]["source"] == \
        "interferogram.tif"
    assert not any((two_swaths_out / sw / pair_dir.name / "unwrapped.tif").exists() for sw in ("IW1", "IW2"))
    with rasterio.open(pair_dir / "unwrapped_ortho.tif") as ds:
        unw, disp, comp = ds.read()
        assert ds.descriptions == ("unwrapped_phase", "displacement_los_mm", "connected_component")
        transform, shape = ds.transform, ds.shape
    with rasterio.open(pair_dir / "interferogram_ortho.tif") as ds:
        assert ds.transform == transform and ds.shape == shape
        _, phase, coh, isd = ds.read()
    both = np.isfinite(unw) & (isd > 0.5) & (coh >= 0.7) & (comp > 0)
    d = np.exp(1j * (unw[both] - phase[both]))
    c = np.angle(d.mean())
    dev = np.abs(np.angle(d * np.exp(-1j * c)))
    # both swaths: cells where IW1's own ortho has no data are unwrapped too (IW2's side of the cut)
    iw1 = np.zeros(shape, bool)
    with rasterio.open(two_swaths_out / "IW1" / pair_dir.name / "interferogram_ortho.tif") as ds:
        r0, c0 = round((ds.transform.f - transform.f) / transform.e), round((ds.transform.c - transform.c) / transform.a)
        iw1[r0:r0 + ds.height, c0:c0 + ds.width] = ds.read(4) > 0.5
    outside_iw1 = float(np.mean(~iw1[both]))
    coverage = both.sum() / max(1, ((isd > 0.5) & (coh >= 0.7)).sum())
    print(f"\nmerged unwrapped ortho: |wrap(unwrapped - phase - c)| median {np.median(dev):.4f} rad, 99th pct "
          f"{np.percentile(dev, 99):.4f} rad over {both.sum()} map cells ({coverage:.1%} of the coherent ortho "
          f"cells, {outside_iw1:.1%} beyond IW1's own ortho)")
    assert np.median(dev) < 0.05 and np.percentile(dev, 99) < 0.5
    assert coverage > 0.95 and outside_iw1 > 0.2


def test_roi_selects_the_swaths_it_covers(two_swaths: Path) -> None:
    """-roi inside IW2 only: IW1 is left out (logged) and IW2 runs as a single-swath stack in the output folder."""
    import shapely

    from diapsar.bursts import burst_footprints
    from diapsar.io.safe import open_product

    product = open_product(sorted((two_swaths / "input").glob("*.SAFE"))[0])
    iw1, iw2 = (shapely.union_all(burst_footprints(product.swath(s, "VV"))) for s in ("IW1", "IW2"))
    pt = iw2.difference(iw1.buffer(0.002)).representative_point()
    out = two_swaths / "out_roi"
    r = run_cli(iw_config(two_swaths / "c_roi.json", two_swaths / "input", out, esd_iter=0, clean="yes"),
                "-roi", pt.x - 0.001, pt.y + 0.001, pt.x + 0.001, pt.y - 0.001)
    assert r.returncode == 0, r.stderr
    info = json.loads(next(out.glob("*_m_*_s")).joinpath("pair.json").read_text())
    assert "swaths" not in info["radar_grid"] and info["parameters"]["inputs"]["swath"] == "IW2"
    assert not (out / "IW1").exists()
    assert "-roi: swath IW1 skipped" in (out / "info.log").read_text()
