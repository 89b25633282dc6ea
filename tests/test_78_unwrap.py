"""Phase unwrapping (SNAPHU) and LOS displacement on simulated Mogi-like interferograms written as real
4-band GeoTIFFs: accuracy against the truth, masking, reference point, tiling, and bad input."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.control import GroundControlPoint

from diapsar.cli import main
from diapsar.io.raster import write_raster
from diapsar.unwrap import (
    S1_WAVELENGTH_M,
    UnwrapOptions,
    auto_tiles,
    displacement_los_mm,
    lonlat_to_pixel,
    pixel_to_lonlat,
    unwrap_pair,
    unwrap_phase,
)

MM_PER_RAD = S1_WAVELENGTH_M / (4 * np.pi) * 1000     # 4.414 mm of LOS displacement per radian
LOOKS = 12                                             # speckle looks of the simulation
ML = (4, 6)                                            # ML tags: effective_looks(4, 6) = 11.4 ~ LOOKS


def mogi(rows: int, cols: int, fringes: float = 4.5, seed: int = 0, patch: bool = True,
         gamma0: float = 0.9) -> dict[str, np.ndarray]:
    """Mogi-like LOS uplift of ``fringes`` fringes (true phase < 0: towards the satellite), speckle of LOOKS
    looks drawn for a true coherence ``gamma0`` ± 0.05, a low-coherence patch (true coherence 0.05), and the
    sample coherence estimated from the same looks."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:rows, 0:cols].astype(np.float64)
    cy, cx, depth = 0.5 * rows, 0.55 * cols, 0.2 * max(rows, cols)
    true = -2 * np.pi * fringes * depth**3 / ((x - cx) ** 2 + (y - cy) ** 2 + depth**2) ** 1.5
    gamma = gamma0 + 0.05 * np.sin(x / cols * 5.0) * np.cos(y / rows * 3.0)
    if patch:
        gamma[int(0.1 * rows):int(0.3 * rows), int(0.1 * cols):int(0.3 * cols)] = 0.05
    num = np.zeros((rows, cols), np.complex128)
    p1 = np.zeros((rows, cols))
    p2 = np.zeros((rows, cols))
    for _ in range(LOOKS):
        a = (rng.standard_normal((rows, cols)) + 1j * rng.standard_normal((rows, cols))) / np.sqrt(2)
        b = (rng.standard_normal((rows, cols)) + 1j * rng.standard_normal((rows, cols))) / np.sqrt(2)
        s1 = a * np.exp(1j * true)
        s2 = gamma * a + np.sqrt(1 - gamma**2) * b
        num += s1 * np.conj(s2)
        p1 += np.abs(s1) ** 2
        p2 += np.abs(s2) ** 2
    return {"phase": np.angle(num).astype(np.float32), "coherence": (np.abs(num) / np.sqrt(p1 * p2)).astype(np.float32),
            "amplitude": np.sqrt(np.sqrt(p1 * p2) / LOOKS).astype(np.float32), "true": true.astype(np.float32)}


def lonlat_of(row: float, col: float) -> tuple[float, float]:
    return 10.0 + 1e-3 * col + 2e-4 * row, 45.0 - 8e-4 * row + 1e-4 * col


def gcps(rows: int, cols: int) -> list[GroundControlPoint]:
    out = []
    for i in np.linspace(0, rows - 1, 6).round():
        for j in np.linspace(0, cols - 1, 6).round():
            lon, lat = lonlat_of(i + 0.5, j + 0.5)
            out.append(GroundControlPoint(row=i + 0.5, col=j + 0.5, x=lon, y=lat, z=100.0, id=f"{i}_{j}"))
    return out


def write_ifg(path: Path, sim: dict[str, np.ndarray], descriptions=("amplitude", "phase", "coherence", "isData"),
              is_data: np.ndarray | None = None) -> Path:
    rows, cols = sim["phase"].shape
    isd = np.ones((rows, cols), np.float32) if is_data is None else is_data.astype(np.float32)
    bands = np.stack([sim["amplitude"], sim["phase"], sim["coherence"], isd])[:len(descriptions)]
    bands = np.where(isd > 0, bands, 0).astype(np.float32)
    write_raster(path, bands, descriptions=descriptions, gcps=gcps(rows, cols),
                 tags={"master": "m.tiff", "slave": "s.tiff", "ml_range": ML[0], "ml_azimuth": ML[1]})
    return path


def make_pair(folder: Path, sim: dict[str, np.ndarray], **kw) -> Path:
    pair = folder / "20240101_m_20240113_s"
    pair.mkdir(parents=True)
    write_ifg(pair / "interferogram.tif", sim, **kw)
    (pair / "pair.json").write_text(json.dumps({
        "master_date": "20240101", "slave_date": "20240113", "products": {"interferogram": "interferogram.tif",
                                                                          "filtered": None},
        "parameters": {"ml_ran": ML[0], "ml_azi": ML[1], "activate_filtering": False}}, indent=2))
    return pair


def listing(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def errors_of(capsys) -> list[str]:
    return [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]


def rms_against_truth(unw: np.ndarray, true: np.ndarray, sel: np.ndarray) -> tuple[float, float]:
    """RMS (mm) and max |error| (rad) of the unwrapped phase after removing the mean offset."""
    err = (unw - true)[sel].astype(np.float64)
    err -= np.median(err)
    return float(np.sqrt(np.mean((err * MM_PER_RAD) ** 2))), float(np.abs(err).max())


# ------------------------------------------------------------------------------------------------ pair run

@pytest.fixture(scope="module")
def pair_run(tmp_path_factory):
    sim = mogi(240, 220, fringes=4.5, seed=1)
    pair = make_pair(tmp_path_factory.mktemp("unwrap"), sim)
    code = main(["unwrap", str(pair)])
    assert code == 0
    return pair, sim


def test_pair_unwrap_matches_truth(pair_run):
    pair, sim = pair_run
    with rasterio.open(pair / "unwrapped.tif") as ds:
        unw, disp, comp = ds.read().astype(np.float64)
        assert ds.descriptions == ("unwrapped_phase", "displacement_los_mm", "connected_component")
        assert ds.units == ("rad", "mm", None) or ds.units[:2] == ("rad", "mm")
        assert ds.dtypes == ("float32",) * 3 and np.isnan(ds.nodata)
        assert "towards the satellite" in ds.tags(2)["positive"]
        assert len(ds.gcps[0]) == len(gcps(240, 220))
    truth_mm = -sim["true"] * MM_PER_RAD                          # uplift: positive towards the satellite
    good = (sim["coherence"] >= 0.7) & (comp == 1)
    rms_mm, _ = rms_against_truth(unw, sim["true"], good)
    main_comp = comp == 1
    err_main = (unw - sim["true"])[main_comp]
    err_main -= np.median(err_main)
    peak = float(np.nanmax(disp))
    print(f"\n[unwrap pair 240x220, 4.5 fringes] RMS {rms_mm:.2f} mm over {good.sum()} px with coherence >= 0.7; "
          f"max |error| in component 1 {np.abs(err_main).max():.2f} rad; peak uplift {peak:.1f} mm "
          f"(truth {truth_mm.max() - truth_mm[~np.isnan(unw)].min():.1f} mm above the lowest unwrapped pixel)")
    assert good.sum() > 0.6 * good.size
    assert rms_mm < 2.0
    assert np.abs(err_main).max() < np.pi                            # no 2π jump inside the main component
    # uplift (phase < 0) comes out positive towards the satellite: displacement and truth agree up to a constant
    off = np.median((disp - truth_mm)[good])
    assert np.nanmax(np.abs(disp - truth_mm - off)[good]) < 5.0
    np.testing.assert_allclose(disp, displacement_los_mm(unw), rtol=1e-5, atol=1e-4, equal_nan=True)


def test_masked_pixels_have_no_value_and_pair_json(pair_run):
    pair, sim = pair_run
    with rasterio.open(pair / "unwrapped.tif") as ds:
        unw, disp, comp = ds.read()
    low = sim["coherence"] < 0.3
    assert low.sum() > 100                                        # the low-coherence patch
    assert np.isnan(unw[low]).all() and np.isnan(disp[low]).all() and (comp[low] == 0).all()
    assert np.array_equal(np.isnan(unw), comp == 0)
    info = json.loads((pair / "pair.json").read_text())["unwrapping"]
    print(f"\n[unwrap pair] pair.json unwrapping: {info['connected_components']} component(s), "
          f"{100 * info['fraction_unwrapped']:.1f}% unwrapped, reference {info['reference_point']}, "
          f"nlooks {info['nlooks']}, timings {info['timings_s']}")
    assert info["method"] == "defo" and info["coherence_threshold"] == 0.3
    assert info["connected_components"] >= 1 and 0.5 < info["fraction_unwrapped"] < 0.99
    ref = info["reference_point"]
    assert unw[ref["line"], ref["sample"]] == 0.0 and comp[ref["line"], ref["sample"]] == 1
    lon, lat = lonlat_of(ref["line"] + 0.5, ref["sample"] + 0.5)
    assert ref["lon"] == pytest.approx(lon, abs=1e-6) and ref["lat"] == pytest.approx(lat, abs=1e-6)
    assert info["nlooks"] == pytest.approx(ML[0] * ML[1] * 0.475, abs=0.1)
    assert (pair / "quicklook_displacement.png").stat().st_size > 10_000
    assert not [p for p in pair.iterdir() if p.name.startswith(".")]          # no temporaries left


def test_reference_lonlat_and_pixel(tmp_path):
    sim = mogi(160, 150, fringes=3.0, seed=2, patch=False)
    ifg = write_ifg(tmp_path / "interferogram.tif", sim)
    lon, lat = lonlat_of(40.5, 100.5)
    assert lonlat_to_pixel(gcps(160, 150), lon, lat) == pytest.approx((40.0, 100.0), abs=1e-6)
    assert pixel_to_lonlat(gcps(160, 150), 40, 100) == pytest.approx((lon, lat), abs=1e-9)
    assert main(["unwrap", str(ifg), "--reference-lonlat", str(lon), str(lat), "--method", "smooth",
                 "--no-quicklook"]) == 0
    with rasterio.open(tmp_path / "unwrapped.tif") as ds:
        unw = ds.read(1)
        assert ds.tags()["reference_line"] == "40" and ds.tags()["reference_sample"] == "100"
    assert unw[40, 100] == 0.0 and not (tmp_path / "quicklook_displacement.png").exists()
    assert main(["unwrap", str(ifg), "--reference-pixel", "10", "20", "--method", "smooth"]) == 0
    with rasterio.open(tmp_path / "unwrapped.tif") as ds:
        unw2 = ds.read(1)
    both = np.isfinite(unw) & np.isfinite(unw2)
    # same solution, other reference: a constant difference
    np.testing.assert_allclose((unw2 - unw)[both], -unw[10, 20], atol=1e-4)


# ------------------------------------------------------------------------------------------------ tiling

def test_tiled_run_equals_untiled():
    sim = mogi(330, 300, fringes=5.0, seed=3)
    kw = {"coherence_threshold": 0.3, "nlooks": LOOKS, "workers": 2}
    one = unwrap_phase(sim["phase"], sim["coherence"], method="defo", tiles=(1, 1), **kw)
    tiled = unwrap_phase(sim["phase"], sim["coherence"], method="defo", tiles=(2, 2), overlap=32, **kw)
    assert tiled.info["tiles"] == [2, 2] and tiled.info["coarse"]["factor"] == 4
    both = np.isfinite(one.unwrapped) & np.isfinite(tiled.unwrapped)
    d = (tiled.unwrapped - one.unwrapped)[both]
    d -= np.median(d)
    good = (sim["coherence"] >= 0.7) & (tiled.components == 1)
    rms, max_err = rms_against_truth(tiled.unwrapped, sim["true"], good)
    print(f"\n[tiled 2x2 vs one tile, 330x300] both valid on {both.mean():.3f} of the image, "
          f"max |difference| {np.abs(d).max() * MM_PER_RAD:.3f} mm, tiled RMS vs truth {rms:.2f} mm; "
          f"one tile {one.info['components']} component(s), tiled {tiled.info['components']}, "
          f"tile components kept/dropped {tiled.info['tile_components_kept']}/{tiled.info['tile_components_dropped']}")
    assert both.mean() > 0.8
    assert np.abs(d).max() * MM_PER_RAD <= 0.5
    assert rms < 2.0 and max_err < np.pi
    assert np.array_equal(np.isnan(tiled.unwrapped), tiled.components == 0)


def test_auto_tiles_follow_the_memory_budget():
    assert auto_tiles((300, 300), ram_mb=2000, workers=2) == (1, 1)
    big = auto_tiles((2000, 2000), ram_mb=2000, workers=2)
    small_ram = auto_tiles((2000, 2000), ram_mb=100, workers=2)
    assert big[0] > 1 and small_ram[0] * small_ram[1] > big[0] * big[1]
    # 100 MB for 2 processes of ~400 bytes/pixel: tiles of at most ~131 000 pixels with their overlap (2 x 32)
    assert (2000 / small_ram[0] + 64) * (2000 / small_ram[1] + 64) <= 100 * 2**20 / 400 / 2


# ------------------------------------------------------------------------------------------------ bad input

@pytest.fixture(scope="module")
def small_sim():
    return mogi(120, 110, fringes=3.0, seed=4)


def _fails(capsys, folder: Path, argv: list[str], *words: str) -> str:
    before = listing(folder)
    try:
        code = main(argv)
    except SystemExit as exc:                              # argparse usage errors
        code = int(exc.code or 0)
    err = errors_of(capsys)
    assert code != 0, argv
    assert len(err) == 1 and "Traceback" not in err[0], err
    for w in words:
        assert w in err[0], err
    assert listing(folder) == before                      # nothing written, pair.json untouched
    print(f"\n[bad input] exit {code}: {err[0]}")
    return err[0]


def test_interferogram_without_coherence_or_isdata(tmp_path, small_sim, capsys):
    write_ifg(tmp_path / "two.tif", small_sim, descriptions=("amplitude", "phase"))
    _fails(capsys, tmp_path, ["unwrap", str(tmp_path / "two.tif")], "no coherence and no isData band")
    write_ifg(tmp_path / "three.tif", small_sim, descriptions=("amplitude", "phase", "coherence"))
    _fails(capsys, tmp_path, ["unwrap", str(tmp_path / "three.tif")], "no isData band")


def test_all_incoherent_image(tmp_path, small_sim, capsys):
    sim = dict(small_sim, coherence=np.full_like(small_sim["coherence"], 0.12))
    pair = make_pair(tmp_path, sim)
    _fails(capsys, pair, ["unwrap", str(pair)], "nothing to unwrap", "0.3")
    no_data = make_pair(tmp_path / "nodata", small_sim, is_data=np.zeros(small_sim["phase"].shape))
    _fails(capsys, no_data, ["unwrap", str(no_data)], "nothing to unwrap")


def test_bad_reference_points(tmp_path, small_sim, capsys):
    pair = make_pair(tmp_path, small_sim)
    _fails(capsys, pair, ["unwrap", str(pair), "--reference-pixel", "500", "3"], "outside the image")
    lon, lat = lonlat_of(-300, 50)
    _fails(capsys, pair, ["unwrap", str(pair), "--reference-lonlat", str(lon), str(lat)], "outside the image")
    rr, cc = np.nonzero(small_sim["coherence"][:60, :60] < 0.3)    # in the low-coherence patch
    _fails(capsys, pair, ["unwrap", str(pair), "--reference-pixel", str(rr[0]), str(cc[0])],
           "not unwrapped", f"line {rr[0]}")
    _fails(capsys, pair, ["unwrap", str(pair), "--reference-pixel", "1", "2", "--reference-lonlat", "1", "2"],
           "not allowed with")
    _fails(capsys, pair, ["unwrap", str(pair), "--coherence-threshold", "1.5"], "coherence threshold")


def test_snaphu_failure_is_one_line(tmp_path, capsys):
    pair = make_pair(tmp_path, mogi(200, 200, fringes=3.0, seed=5))
    # one SNAPHU process on 40 000 pixels (~16 MB) under an 8 MB memory budget: the solver itself fails
    err = _fails(capsys, pair, ["unwrap", str(pair), "--tiles", "1", "1", "-ram", "8", "--workers", "1"],
                 "SNAPHU failed", "memory limit 8 MB")
    assert "200 x 200" in err


def test_unwrap_pair_function_uses_filtered_when_filtering_was_on(tmp_path, small_sim):
    pair = make_pair(tmp_path, small_sim)
    filt = dict(small_sim, phase=np.angle(np.exp(1j * small_sim["true"])).astype(np.float32))   # noise-free
    write_ifg(pair / "interferogram_filtered.tif", filt)
    doc = json.loads((pair / "pair.json").read_text())
    doc["parameters"]["activate_filtering"] = True
    doc["products"]["filtered"] = "interferogram_filtered.tif"
    (pair / "pair.json").write_text(json.dumps(doc))
    rec = unwrap_pair(pair, UnwrapOptions(method="smooth", quicklook=False))
    assert rec["source"] == "interferogram_filtered.tif"
    assert json.loads((pair / "pair.json").read_text())["unwrapping"]["source"] == "interferogram_filtered.tif"
    with rasterio.open(pair / "unwrapped.tif") as ds:
        unw, comp = ds.read(1), ds.read(3)
    good = comp == 1
    rms, _ = rms_against_truth(unw, small_sim["true"], good)
    assert rms < 0.05                                      # noise-free phase: exact up to float32
    assert os.path.exists(pair / "unwrapped.tif")
