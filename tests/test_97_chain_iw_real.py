"""IW acceptance on real pixels (the Terceira crop through the IW chain) and IW bad input.

Part 1 - the real Terceira IW3 crop (601 x 1401, complex64 of the original int16; tests/conftest.py ``s1_data``)
wrapped as a valid one-burst IW product, built in pytest's tmp_path (never in the repository):

1. a full-swath "product" is assembled: the original IW3 annotation (9 bursts, 13626 x 24203) and a *sparse*
   CInt16 GeoTIFF of that size holding only the crop's pixels, at the project's measured integer position
   (first line 9800, first sample 10996: diapsar.locate measured 9799.7 / 10995.6, tests/test_92_terceira.py;
   the upstream claim 9799 / 10999 is not used). Unwritten sparse blocks read as 0;
2. ``diapsar.io.crop.crop_product`` cuts it (no annotation code duplicated here): the line window widens to the
   whole burst 7 (lines 9084-10597, 1514 lines), the samples are cut to the crop +/- ``MARGIN`` (the crop tool
   cuts range as asked). Result: a one-burst IW3 SAFE (annotation, manifest, CInt16 TIFF with the crop in its
   burst and 0 elsewhere);
3. the self-pair's second date: the same SAFE copied with the date 20220918 replaced by 20220930 in the
   product, annotation and measurement file names and in the manifest's file references. ``diapsar.io.stack``
   pairs images by the date in their file names; the annotation content (times, orbit) is left unchanged, so
   both acquisitions have the same geometry: the least rewriting that makes two dates.

No orbit file is put in the SAFE: the chain takes the orbit from the annotation's state vectors (it reads no
EOF); the SRTM tiles are copied into a folder given as Global.in.SRTM_Path.

The chain runs on it through the command line (IW, no ESD possible with one burst), with the ortho product on
a grid of 3" (the SRTM DEM's own spacing). Checked: coherence >= 0.99 and |phase| <= 0.01 rad where isData; the
amplitude's land/sea edge in interferogram_ortho.tif against the DEM's 0 m contour on the same map grid.

Part 2 - IW bad input: one clear line on stderr, non-zero exit, nothing produced before lost.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
from chain_cli import one_line_error, run_cli

REPO = Path(__file__).resolve().parents[1]
FOLDER = "terceira_iw3_20220918_real_crop"
CROP = "s1a-iw3-slc-vv_subset_hight9800_10400_width11000_11000.tiff"
ANNOTATION = "s1a-iw3-slc-vv-20220918t074921-20220918t074946-045056-056232-006.xml"
PRODUCT = "S1A_IW_SLC__1SDV_20220918T074920_20220918T074947_045056_056232_62D6"
LINE0, SAMPLE0 = 9800, 10996  # the project's measured integer position of the crop (diapsar.locate)
MARGIN = 100  # samples of empty range kept on each side of the crop
DATE, DATE2 = "20220918", "20220930"
SPACING_DEG = 1.0 / 1200.0  # 3 arc-seconds: the SRTMGL3 grid
# -roi (ulx uly lrx lry, lon/lat): inside the lon/lat box of the crop's corners (38.611-38.692 N,
# 27.192-27.261 W), so the processed window is about the crop and not the whole (mostly empty) burst
ROI = (-27.25, 38.685, -27.20, 38.618)

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")]






def renamed_copy(safe: Path, dest_dir: Path, old: str, new: str) -> Path:
    """Copy a SAFE folder replacing ``old`` by ``new`` in the product and file names and in manifest.safe."""
    target = dest_dir / safe.name.replace(old.upper(), new.upper()).replace(old, new)
    shutil.copytree(safe, target)
    for p in sorted(target.rglob("*"), key=lambda q: -len(q.parts)):
        if old in p.name or old.upper() in p.name:
            p.rename(p.with_name(p.name.replace(old, new).replace(old.upper(), new.upper())))
    manifest = target / "manifest.safe"
    if manifest.is_file():
        manifest.write_text(manifest.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")
    return target


# ------------------------------------------------------------------------------------------------ Terceira

def _full_swath_product(d: Path, tmp: Path) -> Path:
    """A SAFE folder with the original IW3 annotation and a sparse full-swath CInt16 TIFF holding the crop."""
    from rasterio.windows import Window

    safe = tmp / "full" / f"{PRODUCT}.SAFE"
    (safe / "annotation").mkdir(parents=True)
    (safe / "measurement").mkdir()
    shutil.copyfile(d / ANNOTATION, safe / "annotation" / ANNOTATION)
    with rasterio.open(d / CROP) as ds:
        crop = ds.read(1)
    assert crop.shape == (601, 1401)
    re_, im_ = np.rint(crop.real), np.rint(crop.imag)
    assert np.array_equal(re_, crop.real) and np.array_equal(im_, crop.imag), "the crop holds int16 values"
    prof = dict(driver="GTiff", width=24203, height=13626, count=1, dtype="complex_int16", tiled=True,
                blockxsize=256, blockysize=256, sparse_ok=True)
    tif = safe / "measurement" / (ANNOTATION[:-4] + ".tiff")
    with rasterio.open(tif, "w", **prof) as ds:
        ds.write((re_ + 1j * im_).astype(np.complex64), 1, window=Window(SAMPLE0, LINE0, 1401, 601))
    return safe


@pytest.fixture(scope="module")
def terceira_lake(s1_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    from diapsar.io.crop import crop_product
    from diapsar.io.safe import open_product

    d = s1_data / FOLDER
    if not (d / CROP).is_file():
        pytest.skip(f"{d / CROP} not found")
    tmp = tmp_path_factory.mktemp("terceira_iw")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = _full_swath_product(d, tmp)
        lake = tmp / "lake"
        lake.mkdir()
        safe = crop_product(full, lake, LINE0, SAMPLE0 - MARGIN, 601, 1401 + 2 * MARGIN)
    shutil.rmtree(full.parent)
    second = renamed_copy(safe, lake, DATE, DATE2)
    meta = open_product(safe).swath(None, None)
    meta2 = open_product(second).swath(None, None)
    print(f"\none-burst IW3 product: {meta.number_of_lines} x {meta.number_of_samples}, bursts "
          f"{[b.burst_id for b in meta.bursts]}; second date {second.name}")
    assert len(meta.bursts) == 1 and meta.number_of_lines == 1514
    assert meta2.bursts[0].burst_id == meta.bursts[0].burst_id
    dem = tmp / "srtm"
    dem.mkdir()
    for z in sorted((d / "dem").glob("*.hgt.zip")):
        shutil.copyfile(z, dem / z.name)
    return {"tmp": tmp, "lake": lake, "safe": safe, "second": second, "dem": dem, "meta": meta}



def iw_config(path: Path, input_dir: Path, output_dir: Path, *, srtm: Path | None = None, dem: Path | None = None,
              ortho: bool = False, ml: tuple[int, int] = (4, 2), step: int = 40, **gin: object) -> Path:
    dem_key = {"SRTM_Path": str(srtm)} if srtm is not None else {"DEM_Path": str(dem)}
    raw = {"Global": {"in": {"Input_Path": str(input_dir), **dem_key, "Mode": "IW", "Polarisation": "VV", **gin},
                      "out": {"Output_Path": str(output_dir)}, "parameter": {"clean": "no", "optram": 500}},
           "Pre_Processing": {"parameter": {"ML_ran": ml[0], "ML_azi": ml[1]}},
           "DIn_SAR": {"parameter": {"GridStep_range": step, "GridStep_azimut": step, "ESD_iter": 2}},
           "Post_Processing": {"parameter": {"Activate_Ortho": "yes" if ortho else "no", "Spacingxy": SPACING_DEG,
                                             "Activate_Filtering": "no"}}}
    path.write_text(json.dumps(raw, indent=1))
    return path


@pytest.fixture(scope="module")
def terceira_run(terceira_lake: dict[str, object]) -> Path:
    tmp, lake, srtm = Path(str(terceira_lake["tmp"])), Path(str(terceira_lake["lake"])), Path(str(terceira_lake["dem"]))
    out = tmp / "out"
    r = run_cli(iw_config(tmp / "config.json", lake, out, srtm=srtm, ortho=True, ml=(8, 2)), "-roi", *ROI)
    print(r.stderr[-3000:])
    assert r.returncode == 0, r.stderr[-3000:]
    return out



def test_terceira_self_pair_coherence_and_phase(terceira_run: Path) -> None:
    pair = terceira_run / f"{DATE}_m_{DATE2}_s"
    info = json.loads((pair / "pair.json").read_text())
    with rasterio.open(pair / "interferogram.tif") as ds:
        amp, phase, coh, isd = ds.read()
    data = isd > 0.5
    rg = info["radar_grid"]
    print(f"\nTerceira IW self-pair: window {rg['lines']} x {rg['samples']} (ML {rg['ml_range']}x{rg['ml_azimuth']}), "
          f"{int(data.sum())} isData cells of {data.size}; coherence min {coh[data].min():.5f} mean "
          f"{coh[data].mean():.5f}; |phase| max {np.abs(phase[data]).max():.2e} rad; ESD {info['esd']['status']}; "
          f"bursts {info['bursts']}")
    assert data.sum() > 0.5 * data.size  # the window is mostly the crop (the rest of the burst is empty)
    assert coh[data].min() >= 0.99
    assert np.abs(phase[data]).max() <= 0.01
    assert info["esd"]["status"] == "no_overlap" and len(info["bursts"]) == 1
    assert not data[amp == 0].any()  # the empty part of the burst is no data


def _land_masks(ortho: Path, dem_vrt: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Land masks of the ortho amplitude (threshold: geometric mean of the land and sea medians) and of the
    DEM resampled on the ortho grid (SRTM height > 0.5 m; sea is 0), and the cells compared (isData, 5 cells
    away from its border)."""
    from rasterio.warp import Resampling, reproject
    from scipy import ndimage

    with rasterio.open(ortho) as ds:
        amp, isd = ds.read(1), ds.read(4)
        transform, crs, shape = ds.transform, ds.crs, (ds.height, ds.width)
    dem = np.full(shape, np.nan, np.float32)
    with rasterio.open(dem_vrt) as ds:
        reproject(rasterio.band(ds, 1), dem, dst_transform=transform, dst_crs=crs, resampling=Resampling.bilinear,
                  dst_nodata=np.nan)
    valid = ndimage.binary_erosion(np.nan_to_num(isd) > 0.5, iterations=5) & np.isfinite(dem)
    d_land = np.nan_to_num(dem) > 0.5
    thr = float(np.sqrt(np.median(amp[valid & d_land]) * np.median(amp[valid & ~d_land])))
    return np.nan_to_num(amp) > thr, d_land, valid, thr


def test_terceira_ortho_coastline_on_the_dem_coastline(terceira_run: Path) -> None:
    """The land/sea edge of the ortho amplitude against the DEM's 0 m contour on the same map grid: the shift
    of the DEM land mask that best matches the amplitude land mask (fewest differing cells, integer search +/-4
    cells then a parabola through the minimum) is within one output pixel (3", the SRTM spacing)."""
    from scipy import ndimage

    a_land, d_land, valid, thr = _land_masks(terceira_run / f"{DATE}_m_{DATE2}_s" / "interferogram_ortho.tif",
                                            terceira_run / "dem_scene.vrt")
    # both land and sea in the compared area, and a coastline long enough to measure
    assert 0.1 < d_land[valid].mean() < 0.9
    r = 4
    cost = np.empty((2 * r + 1, 2 * r + 1))
    for ki, sy in enumerate(range(-r, r + 1)):
        for kj, sx in enumerate(range(-r, r + 1)):
            shifted = np.roll(np.roll(d_land, sy, 0), sx, 1)
            cost[ki, kj] = np.mean(a_land[valid] != shifted[valid])
    i, j = (int(k) for k in np.unravel_index(int(np.argmin(cost)), cost.shape))
    assert 0 < i < 2 * r and 0 < j < 2 * r, "the best match is inside the search"

    def vertex(c_m: float, c_0: float, c_p: float) -> float:
        den = c_m - 2 * c_0 + c_p
        return 0.5 * (c_m - c_p) / den if den > 0 else 0.0

    dy: float = i - r + vertex(cost[i - 1, j], cost[i, j], cost[i + 1, j])
    dx: float = j - r + vertex(cost[i, j - 1], cost[i, j], cost[i, j + 1])
    # second figure: distance of each amplitude coastline cell to the DEM coastline
    a_edge = a_land & ~ndimage.binary_erosion(a_land)
    d_edge = d_land & ~ndimage.binary_erosion(d_land)
    dist = ndimage.distance_transform_edt(~d_edge)[a_edge & valid]
    print(f"\ncoastline: amplitude threshold {thr:.2f}; {int(valid.sum())} cells compared, "
          f"{int(d_edge[valid].sum())} DEM coastline cells; best DEM mask shift {dy:+.2f} rows, {dx:+.2f} columns "
          f"(output pixels of {SPACING_DEG * 3600:.0f}\"), mismatch {cost[i, j]:.4f} (unshifted "
          f"{cost[r, r]:.4f}, 3 pixels off {cost[r, r + 3]:.4f}); amplitude edge to DEM edge median "
          f"{np.median(dist):.2f}, mean {dist.mean():.2f} pixels")
    assert int(d_edge[valid].sum()) >= 20
    # the ortho product of the self-pair: coherence 1 and zero phase too, away from the isData border (where
    # the resampling mixes no-data cells in)
    with rasterio.open(terceira_run / f"{DATE}_m_{DATE2}_s" / "interferogram_ortho.tif") as ds:
        o_phase, o_coh, o_isd = ds.read(2), ds.read(3), np.nan_to_num(ds.read(4)) > 0.5
    inner = ndimage.binary_erosion(o_isd, iterations=1)
    print(f"ortho: coherence min {np.nanmin(o_coh[o_isd]):.4f} where isData, {np.nanmin(o_coh[inner]):.5f} one cell "
          f"inside; |phase| max {np.nanmax(np.abs(o_phase[inner])):.2e} rad")
    assert np.nanmin(o_coh[inner]) >= 0.99 and np.nanmax(np.abs(o_phase[inner])) <= 0.01
    assert np.hypot(dy, dx) <= 1.0
    assert cost[i, j] < 0.05


# ------------------------------------------------------------------------------------------------ IW bad input

@pytest.fixture(scope="module")
def iw_lake(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """3 simulated IW1 dates (2 bursts of 300 lines, 256 samples) and 2 simulated StripMap dates."""
    from diapsar.simulate.api import simulate_stack

    root = tmp_path_factory.mktemp("iw_bad_input")
    iw = simulate_stack(root / "iw", mode="iw", dates=3, size=(0, 256), bursts=2, lines_per_burst=300, seed=7,
                        n_targets=0, coherence=(0.6, 0.95))
    sm = simulate_stack(root / "sm", mode="sm", dates=2, size=(160, 160), seed=8, n_targets=0)
    dates = [p.name.split("_")[5][:8] for p in iw.products]
    return {"root": root, "iw": iw.products, "sm": sm.products, "dem": iw.dem_path, "dates": dates}


def lake_of(tmp: Path, safes: list[Path], name: str = "lake") -> Path:
    d = tmp / name
    d.mkdir()
    for s in safes:
        (d / s.name).symlink_to(s)
    return d


def measurement_of(safe: Path) -> str:
    return next((safe / "measurement").iterdir()).name


def test_iw_master_without_the_asked_swath(iw_lake: dict, tmp_path: Path) -> None:
    d = lake_of(tmp_path, iw_lake["iw"])
    cfg = iw_config(tmp_path / "c.json", d, tmp_path / "out", dem=iw_lake["dem"], Swath="IW2")
    one_line_error(run_cli(cfg), "no IW VV image of swath IW2")
    one_line_error(run_cli(cfg, "-m", measurement_of(iw_lake["iw"][0])), "swath IW2")
    # another date has an IW2 image: the master date, which has IW1 only, is not among the IW2 images
    (tmp_path / "iw2").mkdir()
    iw2 = renamed_copy(iw_lake["iw"][1], tmp_path / "iw2", "-iw1-", "-iw2-")
    cfg = iw_config(tmp_path / "c2.json", lake_of(tmp_path, [iw_lake["iw"][0], iw2], "l2"), tmp_path / "out",
                    dem=iw_lake["dem"], Swath="IW2")
    dates = iw_lake["dates"]
    one_line_error(run_cli(cfg, "-m", dates[0]), f"master image {dates[0]} not found among the IW VV IW2 images",
                   f"available: {dates[1]}")
    assert not (tmp_path / "out").exists(), "a selection error must not create the output folder"


def test_iw_slave_of_another_track_and_missing_polarisation(iw_lake: dict, tmp_path: Path) -> None:
    master, slave = iw_lake["iw"][0], iw_lake["iw"][1]
    orbit = slave.name.split("_")[7]
    moved = renamed_copy(slave, tmp_path, orbit.lower(), f"{int(orbit) + 3:06d}")
    cfg = iw_config(tmp_path / "c1.json", lake_of(tmp_path, [master, moved], "l1"), tmp_path / "out", dem=iw_lake["dem"])
    one_line_error(run_cli(cfg), "different tracks", "relative orbit")
    # the only slave has VH, not the asked VV: no slave left; naming the VH image as master says why
    (tmp_path / "vh_only").mkdir()
    vh = renamed_copy(slave, tmp_path / "vh_only", "-vv-", "-vh-")
    cfg = iw_config(tmp_path / "c2.json", lake_of(tmp_path, [master, vh], "l2"), tmp_path / "out", dem=iw_lake["dem"])
    one_line_error(run_cli(cfg), "no slave image left")
    one_line_error(run_cli(cfg, "-m", measurement_of(vh)), "has polarisation VH but Polarisation is VV")
    assert not (tmp_path / "out").exists()


def _other_bursts(safe: Path, dest: Path, offset: int) -> Path:
    """A copy of a simulated IW product whose burst IDs are ``offset`` further along the track: it overlaps the
    master in the datalake (same dates window, same track) but has no burst in common with it."""
    import re

    target = dest / safe.name
    shutil.copytree(safe, target)
    for xml in (target / "annotation").glob("*.xml"):
        text = xml.read_text(encoding="utf-8")
        text = re.sub(r'<burstId absolute="(\d+)">(\d+)</burstId>',
                      lambda m: f'<burstId absolute="{int(m[1]) + offset}">{int(m[2]) + offset}</burstId>', text)
        xml.write_text(text, encoding="utf-8")
    return target


def test_iw_mixed_lake_and_a_slave_without_common_burst(iw_lake: dict, tmp_path: Path) -> None:
    """One datalake: 3 IW dates (the third with no burst in common with the master) and 2 StripMap dates, Mode
    IW. The StripMap images are not candidates; the third date is skipped with a warning and listed in run.json;
    the other pair completes, exit 0. Then on the same output: -b out of bounds, a StripMap master while Mode is
    IW, and a stack whose only slave has no common burst: one line each, the products of the first run intact."""
    iw, sm, dates = iw_lake["iw"], iw_lake["sm"], iw_lake["dates"]
    (tmp_path / "far").mkdir()
    far = _other_bursts(iw[2], tmp_path / "far", 10)
    d = lake_of(tmp_path, [iw[0], iw[1], far, *sm])
    out = tmp_path / "out"
    cfg = iw_config(tmp_path / "c.json", d, out, dem=iw_lake["dem"])
    proc = run_cli(cfg)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = json.loads((out / "run.json").read_text())
    print(f"\nmixed lake: pairs {run['pairs']}, skipped {run['skipped_pairs']}")
    assert run["pairs"] == [f"{dates[0]}_m_{dates[1]}_s"]
    assert [k["slave_date"] for k in run["skipped_pairs"]] == [dates[2]]
    assert "no burst in common" in run["skipped_pairs"][0]["reason"]
    assert f"{dates[2]}: pair skipped: " in (out / "info.log").read_text()
    assert not (out / f"{dates[0]}_m_{dates[2]}_s").exists()
    with rasterio.open(out / run["pairs"][0] / "interferogram.tif") as ds:
        coh = ds.read(3)[ds.read(4) > 0]
    print(f"completed pair: mean coherence {coh.mean():.3f} over {coh.size} cells")
    assert coh.size > 1000 and coh.mean() > 0.5
    products = sorted(p for p in out.rglob("*") if p.is_file() and p.name != "info.log")
    before = {p: p.read_bytes() for p in products}
    # -b out of bounds (the master has bursts 0-1)
    one_line_error(run_cli(cfg, "-b", "1-3"), "-b / burst_index 1-3", "bursts 0-1")
    # a StripMap master named while Mode is IW
    one_line_error(run_cli(cfg, "-m", measurement_of(sm[0])), "is a SM image but Mode is IW")
    # the only slave without a common burst: nothing to process
    cfg2 = iw_config(tmp_path / "c2.json", lake_of(tmp_path, [iw[0], far], "l2"), out, dem=iw_lake["dem"])
    one_line_error(run_cli(cfg2), "no pair can be processed", "no burst in common")
    for p, content in before.items():
        assert p.exists() and p.read_bytes() == content, p
    # the batch jobs of the first stack: the pair job of the date without common burst skips it (exit 0, nothing
    # written), and the report job lists it as skipped, not failed
    job = run_cli(cfg, "--only-pair", dates[2])
    assert job.returncode == 0, job.stderr[-3000:]
    assert f"{dates[2]}: pair skipped: " in job.stderr
    assert not (out / f"{dates[0]}_m_{dates[2]}_s").exists()
    report = run_cli(cfg, "--only-report")
    assert report.returncode == 0, report.stderr[-3000:]
    run = json.loads((out / "run.json").read_text())
    assert run["pairs"] == [f"{dates[0]}_m_{dates[1]}_s"] and "failed_pairs" not in run
    assert [k["slave_date"] for k in run["skipped_pairs"]] == [dates[2]]


def test_iw_metadata_only_products_are_refused(s1_data: Path, tmp_path: Path) -> None:
    """Real IW products without pixels: 0-byte measurement TIFFs (Haida Gwaii) and zero-filled ones (Morocco,
    full-size TIFFs whose every sample is 0): refused before any work, one line."""
    d = s1_data / "haida_gwaii_iw_pair_20250406_20250418"
    m = s1_data / "morocco_iw_pair_20230904_20230916"
    if not d.is_dir() or not m.is_dir():
        pytest.skip(f"{d} or {m} not found")
    dem = tmp_path / "no_dem"
    dem.mkdir()
    cfg = iw_config(tmp_path / "c.json", d, tmp_path / "out", srtm=dem)
    one_line_error(run_cli(cfg), "measurement", "is missing or empty")
    one_line_error(run_cli(cfg, "-b", "0-0"), "is missing or empty")
    # Morocco: IW1 burst 1 (its DEM is in dem/), a small region of interest
    cfg = iw_config(tmp_path / "m.json", m, tmp_path / "out_m", dem=next((m / "dem").glob("*iw1*.tiff")), Swath="IW1")
    one_line_error(run_cli(cfg, "-b", "0-0", "-roi", -8.83, 31.84, -8.72, 31.75), "holds no signal",
                   "s1a-iw1-slc-vv-20230904")
    assert not [p for p in (tmp_path / "out_m").rglob("*") if p.is_dir()], "refused before any product folder"


def test_iw_zero_filled_slave_is_refused(iw_lake: dict, tmp_path: Path) -> None:
    """A slave whose measurement holds only zeros (a metadata-only product with a zero-filled TIFF)."""
    (tmp_path / "zero").mkdir()
    zero = tmp_path / "zero" / iw_lake["iw"][1].name
    shutil.copytree(iw_lake["iw"][1], zero)
    tif = zero / "measurement" / measurement_of(zero)
    with rasterio.open(tif, "r+") as ds:
        ds.write(np.zeros((ds.height, ds.width), np.complex64), 1)
    cfg = iw_config(tmp_path / "c.json", lake_of(tmp_path, [iw_lake["iw"][0], zero]), tmp_path / "out",
                    dem=iw_lake["dem"])
    one_line_error(run_cli(cfg), zero.name, "holds no signal", "across the image")
    assert not [p for p in (tmp_path / "out").rglob("*") if p.is_dir()]
