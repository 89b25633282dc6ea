"""SAR_MultiSlc on bad input: one clear line on stderr, non-zero exit, no traceback, nothing produced lost."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
from chain_cli import one_line_error, run_cli

REPO = Path(__file__).resolve().parents[1]






@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    from diapsar.simulate.api import simulate_stack

    root = tmp_path_factory.mktemp("bad_input")
    res = simulate_stack(root / "stack", mode="sm", dates=3, size=(240, 200), seed=5)
    dates = [json.loads(res.truth_json.read_text())["acquisitions"][k]["date"] for k in range(3)]
    return root, res, dates


def config(tmp: Path, input_dir: Path, dem: Path, out: Path, **gin) -> Path:
    raw = {"Global": {"in": {"Input_Path": str(input_dir), "DEM_Path": str(dem), **gin},
                      "out": {"Output_Path": str(out)}, "parameter": {"optram": 200}},
           "DIn_SAR": {"parameter": {"GridStep_range": 30, "GridStep_azimut": 30}}}
    p = tmp / f"cfg_{len(list(tmp.glob('cfg_*')))}.json"
    p.write_text(json.dumps(raw))
    return p


def renamed_copy(safe: Path, dest_dir: Path, old: str, new: str) -> Path:
    """Copy a SAFE folder replacing ``old`` by ``new`` in the product and file names."""
    target = dest_dir / safe.name.replace(old.upper(), new.upper()).replace(old, new)
    shutil.copytree(safe, target)
    for p in sorted(target.rglob("*"), key=lambda q: -len(q.parts)):
        if old in p.name or old.upper() in p.name:
            p.rename(p.with_name(p.name.replace(old, new).replace(old.upper(), new.upper())))
    return target


def lake_of(tmp: Path, safes: list[Path]) -> Path:
    d = tmp / "lake"
    d.mkdir()
    for s in safes:
        (d / s.name).symlink_to(s)
    return d


def test_master_not_in_window(lake, tmp_path):
    root, res, dates = lake
    cfg = config(tmp_path, res.out_dir, res.dem_path, tmp_path / "out")
    one_line_error(run_cli(cfg, "-m", dates[2], "-f", dates[1]), "master image", dates[2], "not in the date window")
    assert not (tmp_path / "out").exists(), "a selection error must not create the output folder"


def test_master_not_found_lists_what_is_available(lake, tmp_path):
    root, res, dates = lake
    cfg = config(tmp_path, res.out_dir, res.dem_path, tmp_path / "out")
    one_line_error(run_cli(cfg, "-m", "20990101"), "master image 20990101 not found", "available", *dates)
    one_line_error(run_cli(cfg, "-m", "s1a-s3-slc-vv-nothing.tiff"), "not found", "available",
                   next((res.products[0] / "measurement").iterdir()).name)


def test_no_slave_left(lake, tmp_path):
    root, res, dates = lake
    cfg = config(tmp_path, res.out_dir, res.dem_path, tmp_path / "out")
    one_line_error(run_cli(cfg, "-e", dates[1], dates[2]), "no slave image left")
    one_line_error(run_cli(cfg, "-d", "20990101"), "no SM VV image in the date window")


def test_mixed_tracks(lake, tmp_path):
    root, res, dates = lake
    # the third product as if acquired 3 orbits later: another relative orbit
    orbit = res.products[2].name.split("_")[7]
    other = f"{int(orbit) + 3:06d}"
    moved = renamed_copy(res.products[2], tmp_path, orbit.lower(), other.lower())
    d = lake_of(tmp_path, [res.products[0], res.products[1], moved])
    cfg = config(tmp_path, d, res.dem_path, tmp_path / "out")
    one_line_error(run_cli(cfg), "different tracks", "relative orbit")


def test_mixed_modes_and_polarisations(lake, tmp_path):
    root, res, dates = lake
    s6 = renamed_copy(res.products[1], tmp_path, "s3", "s6")
    d = lake_of(tmp_path, [res.products[0], s6, res.products[2]])
    cfg = config(tmp_path, d, res.dem_path, tmp_path / "out")
    one_line_error(run_cli(cfg), "mixed stripmap beams S3, S6")
    (tmp_path / "lake" / "vh").mkdir()
    vh = renamed_copy(res.products[0], tmp_path / "lake" / "vh", "-vv-", "-vh-")
    meas = next((vh / "measurement").iterdir()).name
    one_line_error(run_cli(cfg, "-m", meas), "has polarisation VH but Polarisation is VV")


def test_dem_not_covering_the_scene(lake, tmp_path):
    root, res, dates = lake
    with rasterio.open(res.dem_path) as ds:
        prof, data, tr = ds.profile, ds.read(1), ds.transform
    # moved east by 60 % of its own width: the western part of the scene loses its DEM
    prof.update(transform=rasterio.Affine(tr.a, 0, tr.c + 0.6 * tr.a * data.shape[1], 0, tr.e, tr.f))
    dem = tmp_path / "dem_east.tif"
    with rasterio.open(dem, "w", **prof) as ds:
        ds.write(data, 1)
    cfg = config(tmp_path, res.out_dir, dem, tmp_path / "out")
    one_line_error(run_cli(cfg), "DEM", "does not cover the scene")
    folders = [p for p in (tmp_path / "out").rglob("*") if p.is_dir()]
    assert not folders, f"a failed run leaves no (empty) product folder: {folders}"


def test_unreadable_product(lake, tmp_path):
    root, res, dates = lake
    broken = tmp_path / res.products[1].name
    shutil.copytree(res.products[1], broken)
    xml = next(p for p in (broken / "annotation").iterdir() if p.suffix == ".xml")
    xml.write_bytes(xml.read_bytes()[:2000])  # truncated annotation
    d = lake_of(tmp_path, [res.products[0], broken, res.products[2]])
    cfg = config(tmp_path, d, res.dem_path, tmp_path / "out")
    one_line_error(run_cli(cfg), xml.name, "not valid XML")


def test_output_not_writable_and_bad_config(lake, tmp_path):
    root, res, dates = lake
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    cfg = config(tmp_path, res.out_dir, res.dem_path, blocker / "out")
    one_line_error(run_cli(cfg), "cannot create output folder")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"Global": {"in": {"Input_Path": "x", "DEM_Path": "y", "Master": "z"},
                                          "out": {"Output_Path": "o"}}}))
    one_line_error(run_cli(bad), "Global.in.Master", "unknown key")
    one_line_error(run_cli(tmp_path / "missing.json"), "not found")
    one_line_error(run_cli(cfg, "-ml", "0", "2"), "-ml")


def test_failure_keeps_earlier_products(lake, tmp_path):
    root, res, dates = lake
    out = tmp_path / "out"
    good = config(tmp_path, res.out_dir, res.dem_path, out)
    proc = run_cli(good, "-e", dates[2], "-o", "no", "-b", "0-1")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "-b 0-1 selects IW bursts: ignored for this StripMap stack" in proc.stderr  # said, not silent
    products = sorted(p for p in out.rglob("*") if p.is_file() and p.name != "info.log")
    before = {p: p.read_bytes() for p in products}
    assert any(p.name == "interferogram.tif" for p in products)
    # same output folder, DEM now elsewhere: the run stops, what exists stays intact
    with rasterio.open(res.dem_path) as ds:
        prof, data, tr = ds.profile, ds.read(1), ds.transform
    prof.update(transform=rasterio.Affine(tr.a, 0, tr.c - 1.5 * tr.a * data.shape[1], 0, tr.e, tr.f))  # disjoint
    with rasterio.open(tmp_path / "far.tif", "w", **prof) as ds:
        ds.write(np.asarray(data), 1)
    bad = config(tmp_path, res.out_dir, tmp_path / "far.tif", out)
    one_line_error(run_cli(bad, "-e", dates[2], "-o", "no"), "does not cover the scene")
    assert "stopped: DemError" in (out / "info.log").read_text(), "the error is also in info.log"
    for p, content in before.items():
        assert p.exists() and p.read_bytes() == content, p
    assert not list(out.glob(".*tmp*")) and not list(out.rglob("*.part")), "temporary files left behind"
    # same output folder, the slave's measurement TIFF truncated (its header intact): refused before any work
    broken = tmp_path / "trunc" / res.products[1].name
    shutil.copytree(res.products[1], broken)
    tif = next((broken / "measurement").iterdir())
    tif.write_bytes(tif.read_bytes()[: tif.stat().st_size // 2])
    d = tmp_path / "trunc_lake"
    d.mkdir()
    (d / res.products[0].name).symlink_to(res.products[0])
    (d / broken.name).symlink_to(broken)
    one_line_error(run_cli(config(tmp_path, d, res.dem_path, out), "-o", "no"), broken.name,
                   "unreadable measurement")
    last_run = (out / "info.log").read_text().rsplit("SAR_MultiSlc: config", 1)[1]
    assert "stopped: ProductError" in last_run and "pair " not in last_run, "refused before any pair started"
    for p, content in before.items():
        assert p.exists() and p.read_bytes() == content, p


def test_zipped_products_are_read_in_place(lake, tmp_path):
    """Not bad input: a datalake of zipped SAFE products (read through /vsizip, not extracted)."""
    root, res, dates = lake
    d = tmp_path / "zips"
    d.mkdir()
    for safe in res.products[:2]:
        shutil.make_archive(str(d / safe.name[:-5]), "zip", root_dir=safe.parent, base_dir=safe.name)
    cfg = config(tmp_path, d, res.dem_path, tmp_path / "out")
    proc = run_cli(cfg, "-o", "no")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert not list(d.glob("*.SAFE")), "nothing extracted"
    with rasterio.open(tmp_path / "out" / f"{dates[0]}_m_{dates[1]}_s" / "interferogram.tif") as ds:
        coh = ds.read(3)[ds.read(4) > 0]
    print(f"zipped inputs: mean coherence {coh.mean():.3f}")
    assert coh.mean() > 0.3


def _dead_pid() -> int:
    pid = 4_000_000
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        except PermissionError:
            pass
        pid -= 1


def test_rerun_removes_leftovers_of_interrupted_runs(lake, tmp_path):
    """Temporaries of an interrupted run (a quicklook killed half-written, a DEM scratch folder of a dead
    process) go on the next successful run; those of a run going on beside it (newer than the run start, or a
    living PID) stay. Also: the log names dem_scene.vrt at its final place, and the configuration's
    adjustments are logged."""
    from diapsar.chains.multislc import run_chain
    from diapsar.config import Overrides, apply_overrides, load_config

    root, res, dates = lake
    out = tmp_path / "out"
    cfg = config(tmp_path, res.out_dir, res.dem_path, out)
    proc = run_cli(cfg, "-e", dates[2], "-o", "no")
    assert proc.returncode == 0, proc.stderr[-2000:]
    log_text = (out / "info.log").read_text()
    assert f"wrote {out / 'dem_scene.vrt'}" in log_text and ".dem_scene." not in log_text
    pair = out / f"{dates[0]}_m_{dates[1]}_s"
    stale = [pair / ".quicklook_phase.png.0123abcd.part", out / ".run.json.89abcdef.part",
             pair / ".interferogram.tif.0badcafe.part.aux.xml"]
    for p in stale:
        p.write_bytes(b"")
        os.utime(p, (1e9, 1e9))
    dead = out / f".dem_scene.{_dead_pid()}.tmp"
    (dead / "dem_scene_sea").mkdir(parents=True)
    concurrent = [pair / ".interferogram.tif.fedcba98.part", out / f".dem_scene.{os.getppid()}.tmp"]
    concurrent[0].write_bytes(b"")
    os.utime(concurrent[0], (4e9, 4e9))  # modified after this run starts: another run is writing it
    concurrent[1].mkdir()
    c = apply_overrides(load_config(cfg), Overrides(exclude=(dates[2],), ortho="no"))
    object.__setattr__(c, "adjustments", ("Spacingxy 0.0001 deg kept (example sentence)",))
    run_chain(c)
    for p in stale + [dead]:
        assert not p.exists(), p
    for p in concurrent:
        assert p.exists(), p
    assert "configuration: Spacingxy 0.0001 deg kept (example sentence)" in (out / "info.log").read_text()
