"""Unwrapping in the chain (-u yes / Post_Processing.parameter.Activate_Unwrapping) on simulated StripMap and IW
pairs with a Mogi deformation of several fringes and a coherence ramp down to 0.2: the LOS displacement against the
simulation's truth (after removing the reference offset), printed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from chain_cli import run_cli

REPO = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")]




def _config(path: Path, inp: Path, out: Path, mode: str, ml: tuple[int, int], step: int) -> Path:
    raw = {"Global": {"in": {"Input_Path": str(inp), "DEM_Path": str(inp / "dem" / "dem.tif"), "Mode": mode},
                      "out": {"Output_Path": str(out)}, "parameter": {"optram": 500}},
           "Pre_Processing": {"parameter": {"ML_ran": ml[0], "ML_azi": ml[1]}},
           "DIn_SAR": {"parameter": {"GridStep_range": step, "GridStep_azimut": step}},
           "Post_Processing": {"parameter": {"Activate_Ortho": "yes", "Activate_Filtering": "no"}}}
    path.write_text(json.dumps(raw))
    return path


def _truth_ml(truth: np.ndarray, rows: np.ndarray, n_cols: int, ml: tuple[int, int]) -> np.ndarray:
    t = truth[rows][:, :n_cols * ml[0]]
    return t.reshape(-1, ml[1], n_cols, ml[0]).mean(axis=(1, 3))


def _check(out: Path, inp: Path, rows_of: np.ndarray | None, ml: tuple[int, int], label: str) -> None:
    pair_dir = next(out.glob("*_m_*_s"))
    info = json.loads((pair_dir / "pair.json").read_text())
    unw = info["unwrapping"]
    assert info["products"]["unwrapped"] == "unwrapped.tif" and info["products"]["unwrapped_ortho"]
    with rasterio.open(pair_dir / "unwrapped.tif") as ds:
        phase, disp, comp = ds.read()
        assert ds.descriptions == ("unwrapped_phase", "displacement_los_mm", "connected_component")
    with rasterio.open(pair_dir / "interferogram.tif") as ds:
        coh = ds.read(3)
    truth_json = json.loads((inp / "truth" / "truth.json").read_text())
    with rasterio.open(inp / truth_json["pairs"][0]["file"]) as ds:
        t = {n: ds.read(i + 1) for i, n in enumerate(ds.descriptions)}
    n_rows, n_cols = disp.shape
    rows = np.arange(n_rows * ml[1]) if rows_of is None else rows_of[:n_rows * ml[1]]
    truth = _truth_ml(t["los_displacement_mm"], rows, n_cols, ml)
    good = np.isfinite(disp) & (coh >= 0.7)
    diff = disp[good] - truth[good]
    diff -= np.median(diff)
    rms = float(np.sqrt(np.mean(diff ** 2)))
    span = float(np.ptp(truth[np.isfinite(disp)]))  # over the unwrapped cells
    low = coh < unw.get("coherence_threshold", 0.3)
    print(f"\n{label}: LOS displacement - truth RMS {rms:.2f} mm over {good.sum()} cells (coherence >= 0.7), "
          f"truth span {span:.1f} mm ({span / 27.7:.1f} fringes); {np.isnan(disp[low]).mean():.0%} of the "
          f"cells below the threshold left without value; reference {unw.get('reference_point')}")
    assert span > 3 * 27.7  # several fringes
    assert rms <= 2.0
    assert low.sum() > 50 and np.isnan(disp[low]).all() and (comp[low] == 0).all()
    assert (pair_dir / "quicklook_displacement.png").exists()
    html = (out / "index.html").read_text()
    assert "quicklook_displacement.png" in html


def test_sm_chain_unwraps_to_the_true_displacement(tmp_path: Path) -> None:
    from diapsar.simulate.api import simulate_stack

    simulate_stack(tmp_path / "in", mode="sm", dates=2, size=(600, 500), seed=8, deformation_mm=110.0,
                   coherence=(0.2, 1.0), n_targets=0)
    r = run_cli(_config(tmp_path / "c.json", tmp_path / "in", tmp_path / "out", "SM", (3, 3), 30), "-u", "yes")
    assert r.returncode == 0, r.stderr
    _check(tmp_path / "out", tmp_path / "in", None, (3, 3), "SM")


def test_iw_chain_unwraps_to_the_true_displacement(tmp_path: Path) -> None:
    from diapsar import tops
    from diapsar.io.safe import open_product
    from diapsar.simulate.api import simulate_stack

    simulate_stack(tmp_path / "in", mode="iw", dates=2, size=(0, 800), bursts=3, lines_per_burst=400, seed=8,
                   deformation_mm=160.0, coherence=(0.2, 1.0), n_targets=0)
    r = run_cli(_config(tmp_path / "c.json", tmp_path / "in", tmp_path / "out", "IW", (4, 2), 40), "-u", "yes")
    assert r.returncode == 0, r.stderr
    meta = open_product(sorted((tmp_path / "in").glob("*.SAFE"))[0]).swath(None, None)
    frame = tops.deburst_frame(meta)
    rows = np.concatenate([meta.bursts[s.burst].first_line + s.burst_line0 + np.arange(s.lines)
                           for s in frame.segments])
    _check(tmp_path / "out", tmp_path / "in", rows, (4, 2), "IW")
