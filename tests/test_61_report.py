"""Run report: pair quicklooks and index.html of a simulated run, checked in a real headless Chromium."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from conftest import chromium_run, loaded_image_counts
from rasterio.control import GroundControlPoint
from rasterio.crs import CRS

from diapsar.report import BASELINE_PLOT, QUICKLOOK_NAMES, write_pair_quicklooks, write_report

MASTER = "20220918"
SLAVES = [("20220930", 35.2, 12.0), ("20221012", -61.5, 24.0), ("20221024", 118.0, 36.0)]


def _fields(rows: int, cols: int, bperp: float, seed: int):
    """Amplitude, wrapped phase (topographic fringes scaled by the baseline), coherence, isData."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:rows, 0:cols].astype(np.float32)
    hill = 900.0 * np.exp(-(((x - cols * 0.45) / (cols * 0.22)) ** 2 + ((y - rows * 0.5) / (rows * 0.3)) ** 2))
    amp = (80 + 0.15 * hill) * rng.rayleigh(1.0, (rows, cols)).astype(np.float32)
    phase = np.angle(np.exp(1j * (2 * np.pi * hill * bperp / 40000.0 + 0.02 * x))).astype(np.float32)
    coh = np.clip(0.25 + 0.6 * hill / 900.0 + rng.normal(0, 0.05, (rows, cols)), 0, 1).astype(np.float32)
    isdata = np.ones((rows, cols), np.float32)
    isdata[:, : cols // 12] = 0  # an invalid border, as outside the DEM cover
    isdata[-rows // 10 :, :] = 0
    for a in (amp, phase, coh):
        a[isdata == 0] = 0
    return amp, phase, coh, isdata


def _write_ifg(path: Path, bands, gcps=None, crs=None, transform=None) -> None:
    rows, cols = bands[0].shape
    prof = {"driver": "GTiff", "dtype": "float32", "count": 4, "height": rows, "width": cols}
    if transform is not None:
        prof.update(crs=crs, transform=transform)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with rasterio.open(path, "w", **prof) as dst:
            for i, (b, name) in enumerate(zip(bands, ("amplitude", "phase", "coherence", "isData")), start=1):
                dst.write(b, i)
                dst.set_band_description(i, name)
            if gcps:
                dst.gcps = (gcps, CRS.from_epsg(4326))


def make_simulated_run(out: Path, with_ortho: bool = True, quicklooks: bool = True) -> Path:
    """A run folder laid out as the chain writes it: real GeoTIFFs, pair.json per pair, run.json."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{MASTER}_master_directory").mkdir(exist_ok=True)
    rows, cols = 150, 240
    folders = []
    timings_run = {"doppler0": 1.2, "multilook": 3.4, "dem_projection": 20.5}
    for k, (sd, bperp, bt) in enumerate(SLAVES):
        folder = out / f"{MASTER}_m_{sd}_s"
        folder.mkdir(exist_ok=True)
        bands = _fields(rows, cols, bperp, seed=k)
        gcps = [GroundControlPoint(row=r, col=c, x=-27.3 + 0.001 * c, y=38.7 - 0.0005 * r, z=0.0)
                for r in (0, rows) for c in (0, cols)]
        _write_ifg(folder / "interferogram.tif", bands, gcps=gcps)
        ortho = None
        if with_ortho and k == 0:
            ortho = "interferogram_ortho.tif"
            _write_ifg(folder / ortho, [np.flipud(b) for b in bands], crs=CRS.from_epsg(4326),
                       transform=Affine(0.0002, 0.0, -27.35, 0.0, -0.0002, 38.75))
        qls = {"amplitude": None, "phase": None, "coherence": None, "ortho": None}
        if quicklooks:
            qls = write_pair_quicklooks(folder, folder / "interferogram.tif", ml=(1, 1),
                                        ortho_path=folder / ortho if ortho else None)
        pair = {
            "master_date": MASTER, "slave_date": sd,
            "master": "s1a-iw3-slc-vv-20220918t074921-20220918t074946-045056-056232-006.tiff",
            "slave": f"s1a-iw3-slc-vv-{sd}t074921-{sd}t074946-045231-0567f1-006.tiff",
            "temporal_baseline_days": bt, "perpendicular_baseline_m": bperp,
            "parallel_baseline_m": 10.1 + k, "height_of_ambiguity_m": round(15500.0 / abs(bperp), 1),
            "esd_shift_lines": [0.0012, -0.0008] if k != 2 else None,
            "parameters": {"ML_range": 8, "ML_azimut": 2}, "software_version": "0.1.0",
            "products": {"interferogram": "interferogram.tif", "ortho": ortho},
            "quicklooks": qls, "timings_s": {"coregistration": 12.5, "interferogram": 4.25},
        }
        if k == 2:  # optional keys absent: shown as "-"
            del pair["parallel_baseline_m"], pair["height_of_ambiguity_m"]
        (folder / "pair.json").write_text(json.dumps(pair, indent=1))
        folders.append(folder.name)
    run = {"parameters": {"Global": {"in": {"Input_Path": "/data/s1"}}, "Pre_Processing": {"ML_range": 8}},
           "versions": {"diapsar": "0.1.0", "numpy": np.__version__, "rasterio": rasterio.__version__},
           "master": "s1a-iw3-slc-vv-20220918t074921-20220918t074946-045056-056232-006.tiff",
           "pairs": folders, "timings_s": timings_run}
    (out / "run.json").write_text(json.dumps(run, indent=1))
    (out / "info.log").write_text("2022-09-18 07:49:20 INFO diapsar: run started\n")
    return out


# ------------------------------------------------------------------------------------------ without browser
def test_pair_quicklooks_are_real_pngs(tmp_path):
    run = make_simulated_run(tmp_path / "run", with_ortho=True)
    folder = run / f"{MASTER}_m_{SLAVES[0][0]}_s"
    import matplotlib.image as mpimg

    for kind in ("amplitude", "phase", "coherence", "ortho"):
        png = folder / QUICKLOOK_NAMES[kind]
        assert png.is_file(), kind
        img = mpimg.imread(png)
        assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 200
        assert float(img[..., :3].std()) > 0.05, f"{kind} quicklook is flat"
    # the phase quicklook is coloured (not gray): the channels differ somewhere
    ph = mpimg.imread(folder / QUICKLOOK_NAMES["phase"])[..., :3]
    assert float(np.abs(ph[..., 0] - ph[..., 2]).max()) > 0.3
    # only the first pair has an ortho product
    other = run / f"{MASTER}_m_{SLAVES[1][0]}_s"
    assert not (other / QUICKLOOK_NAMES["ortho"]).exists()


def test_report_html_content(tmp_path):
    run = make_simulated_run(tmp_path / "run")
    index = write_report(run)
    assert index == run / "index.html"
    text = index.read_text(encoding="utf-8")
    # every pair has a section with its dates and baselines
    for sd, bperp, bt in SLAVES:
        assert f"{MASTER}_m_{sd}_s" in text
        assert f"{sd[:4]}-{sd[4:6]}-{sd[6:]}" in text
        assert f"{bperp:.1f} m" in text
        assert f"{bt:.0f} days" in text
    assert "0.0012, -0.0008 lines" in text  # ESD shifts per overlap
    assert f"{round(15500.0 / 35.2):.0f} m" in text  # height of ambiguity
    assert text.count("–") >= 3  # absent optional keys of the third pair
    assert (run / BASELINE_PLOT).is_file()
    # offline: no external resource of any kind
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", text)
    assert "@import" not in text and "url(" not in text
    # every referenced local file exists
    refs = re.findall(r'(?:src|href)="([^"#][^"]*)"', text)
    assert refs
    for ref in refs:
        from urllib.parse import unquote

        assert (run / unquote(ref)).exists(), ref
    # run parameters, versions and step timings are shown
    assert "Global.in.Input_Path" in text and "dem_projection" in text and rasterio.__version__ in text
    assert '<a href="info.log">info.log</a>' in text and '<a href="run.json">run.json</a>' in text


def test_report_lists_failed_and_skipped_pairs(tmp_path):
    run = make_simulated_run(tmp_path / "run", with_ortho=False, quicklooks=False)
    info = json.loads((run / "run.json").read_text())
    info["failed_pairs"] = {f"{MASTER}_m_20230101_s": "slave measurement unreadable: <truncated TIFF>"}
    info["skipped_pairs"] = [{"slave": "s1a-iw1-slc-vv-x.tiff", "slave_date": "20230113",
                              "reason": "no burst in common with the master"}]
    (run / "run.json").write_text(json.dumps(info))
    text = write_report(run).read_text(encoding="utf-8")
    assert "2 pairs not processed" in text
    assert f"{MASTER}_m_20230101_s</td><td>failed</td><td>slave measurement unreadable: &lt;truncated TIFF&gt;" in text
    assert "20230113</td><td>skipped</td><td>no burst in common with the master" in text
    info.pop("failed_pairs"), info.pop("skipped_pairs")
    (run / "run.json").write_text(json.dumps(info))
    assert "not processed" not in write_report(run).read_text(encoding="utf-8")


def test_report_tolerates_missing_files(tmp_path):
    run = make_simulated_run(tmp_path / "run", with_ortho=False, quicklooks=False)
    (run / "run.json").unlink()
    bad = run / f"{MASTER}_m_{SLAVES[2][0]}_s" / "pair.json"
    bad.write_text("{not json")
    index = write_report(run)
    text = index.read_text(encoding="utf-8")
    assert "run.json is missing" in text
    assert "pair.json is unreadable" in text
    # quicklooks were produced from the interferograms of the readable pairs
    assert (run / f"{MASTER}_m_{SLAVES[0][0]}_s" / QUICKLOOK_NAMES["phase"]).is_file()
    assert text.count("<section id=\"pair-") == 3


# ------------------------------------------------------------------------------------------ headless browser
def test_report_in_headless_chromium(tmp_path, browser):
    run = make_simulated_run(tmp_path / "run")
    index = write_report(run)
    n_img = index.read_text(encoding="utf-8").count("<img ")
    assert n_img == 1 + 3 * len(SLAVES) + 1  # baseline plot, 3 quicklooks per pair, one ortho map
    total, broken = loaded_image_counts(browser, tmp_path / "profile", index)
    assert total == n_img
    assert broken == 0
    shot = tmp_path / "report.png"
    res = chromium_run(browser, tmp_path / "profile", "--hide-scrollbars", "--window-size=1280,2400",
                        f"--screenshot={shot}", "--virtual-time-budget=5000", index.as_uri())
    assert res.returncode == 0 and shot.is_file(), res.stderr[-2000:]
    import matplotlib.image as mpimg

    img = mpimg.imread(shot)
    assert img.shape[:2] == (2400, 1280)
    assert float(img[..., :3].std()) > 0.1  # a rendered page, not a blank one
    keep = os.environ.get("DIAPSAR_KEEP_SCREENSHOT")
    if keep:
        shutil.copy(shot, keep)


def test_browser_check_detects_a_broken_image(tmp_path, browser):
    run = make_simulated_run(tmp_path / "run", with_ortho=False)
    index = write_report(run)
    (run / f"{MASTER}_m_{SLAVES[1][0]}_s" / QUICKLOOK_NAMES["coherence"]).unlink()  # after the page is written
    total, broken = loaded_image_counts(browser, tmp_path / "profile", index)
    assert total == 1 + 3 * len(SLAVES)
    assert broken == 1


def test_report_command(tmp_path):
    import sys

    run = make_simulated_run(tmp_path / "run", with_ortho=False, quicklooks=False)
    res = subprocess.run([sys.executable, "-m", "diapsar", "report", str(run)], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == f"wrote {run / 'index.html'}"
    for sd, _, _ in SLAVES:
        assert (run / f"{MASTER}_m_{sd}_s" / QUICKLOOK_NAMES["coherence"]).is_file()
    res = subprocess.run([sys.executable, "-m", "diapsar", "report", str(tmp_path / "nowhere")],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode != 0 and "Traceback" not in res.stderr
    assert res.stderr.strip() == f"diapsar: error: run folder {tmp_path / 'nowhere'} does not exist"


def test_report_shows_the_quicklooks_pair_json_names(tmp_path):
    run = make_simulated_run(tmp_path / "run", with_ortho=True)
    folder = run / f"{MASTER}_m_{SLAVES[0][0]}_s"
    pair = json.loads((folder / "pair.json").read_text())
    # a rerun without ortho: pair.json says no ortho quicklook, a stale file from before must not be shown
    pair["quicklooks"]["ortho"] = None
    pair["products"]["ortho"] = None
    # a quicklook pair.json names but that is gone is reported in words, not as a broken image
    (folder / QUICKLOOK_NAMES["phase"]).unlink()
    (folder / "pair.json").write_text(json.dumps(pair))
    text = write_report(run, make_missing_quicklooks=False).read_text(encoding="utf-8")
    assert f"{folder.name}/{QUICKLOOK_NAMES['ortho']}" not in text
    assert f"phase quicklook {QUICKLOOK_NAMES['phase']} is missing" in text
    assert f'src="{folder.name}/{QUICKLOOK_NAMES["phase"]}"' not in text
    # with quicklook making on, the missing ones are made again and shown
    text = write_report(run).read_text(encoding="utf-8")
    assert f'src="{folder.name}/{QUICKLOOK_NAMES["phase"]}"' in text and "is missing" not in text
    assert f"{folder.name}/{QUICKLOOK_NAMES['ortho']}" not in text


def test_timings_total_shown_once():
    from diapsar.report import _timings_table

    html = _timings_table({"dem": 1.0, "pair.interferogram": 2.5, "total": 4.2})
    assert html.count("total") == 1 and "total (wall clock)" in html and "4.2 s" in html
    assert "7.7 s" not in html                  # the recorded total is not added to the steps
    html = _timings_table({"dem": 1.0, "pair.interferogram": 2.5})
    assert "total (sum of steps)" in html and "3.5 s" in html


def test_pair_quicklook_titles_total_looks_dates_axes(tmp_path, caplog, monkeypatch):
    """The chain calls write_pair_quicklooks(ml=(1, 1)) on an interferogram already multilooked 3 x 3."""
    from PIL import Image

    def text(png: Path) -> dict:
        with Image.open(png) as im:
            return dict(im.text)

    run = make_simulated_run(tmp_path / "run", with_ortho=True)
    folder = run / f"{MASTER}_m_{SLAVES[0][0]}_s"
    # no tags in the simulated run: the dates come from the pair folder name, the looks are the file's
    t = text(folder / QUICKLOOK_NAMES["phase"])
    assert t["Title"].startswith("master 2022-09-18, slave 2022-09-30 (+12 days): wrapped phase x amplitude")
    assert "ML 1x1 of the SLC" in t["Title"]
    assert "y: azimuth line (SLC)" in t["Description"] and "full-resolution SLC pixels" in t["Description"]
    assert "master 2022-09-18, slave 2022-09-30" in text(folder / QUICKLOOK_NAMES["ortho"])["Title"]
    assert "longitude (deg)" in text(folder / QUICKLOOK_NAMES["ortho"])["Description"]
    # tags as the chain writes them: 3 x 3 looks, the measurement names of the pair
    with rasterio.open(folder / "interferogram.tif", "r+") as ds:
        ds.update_tags(master="s1a-iw3-slc-vv-20220918t074921-20220918t074946-045056-056232-006.tiff",
                       slave="s1a-iw3-slc-vv-20221012t074921-20221012t074946-045406-056232-006.tiff",
                       ml_range="3", ml_azimuth="3", first_line="9799", first_sample="10999")
    write_pair_quicklooks(folder, folder / "interferogram.tif", ml=(1, 1))
    for kind in ("amplitude", "phase", "coherence"):
        t = text(folder / QUICKLOOK_NAMES[kind])
        assert "ML 3x3 of the SLC (range x azimuth; 3x3 in the file)" in t["Title"], kind
        assert "ML 1x1" not in t["Title"]
        assert t["Title"].startswith("master 2022-09-18, slave 2022-10-12 (+24 days)")  # tags win
        assert "full-resolution SLC pixels of the full swath" in t["Description"]
    # an all-zero interferogram (a pair of metadata-only products): drawn as such, logged, no colour bar
    zero = run / "20220918_m_20221024_s"
    _write_ifg(zero / "interferogram.tif", [np.zeros((150, 240), np.float32)] * 3 + [np.ones((150, 240),
                                                                                          np.float32)])
    caplog.clear()
    # an earlier chain run in this process may have set up diapsar's own log handlers (propagation off)
    monkeypatch.setattr(logging.getLogger("diapsar"), "propagate", True)
    with caplog.at_level("WARNING"):
        write_pair_quicklooks(zero, zero / "interferogram.tif")
    assert "amplitude quicklook" in caplog.text and "amplitude is zero everywhere" in caplog.text
    assert text(zero / QUICKLOOK_NAMES["phase"])["Description"].endswith("colour scale: none (phase is zero "
                                                                         "everywhere)")
