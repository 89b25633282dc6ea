"""``diapsar orbits`` and ``diapsar dem-fetch`` against the local imitation of CDSE and the public buckets."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from fake_services import FakeProduct, FakeServices

from diapsar.cli import main as diapsar_main
from diapsar.download.dem import tile_name, tiles_for_bbox
from diapsar.download.orbits import find_orbit_file

TERCEIRA = "S1A_IW_SLC__1SDV_20220918T074920_20220918T074947_045056_056232_62D6"
RESORB = "S1A_OPER_AUX_RESORB_OPOD_20220918T093241_V20220918T053155_20220918T084925.EOF"
POEORB = "S1A_OPER_AUX_POEORB_OPOD_20221008T081529_V20220917T225942_20220919T005942.EOF"


def synthetic_eof(name: str) -> bytes:
    kind = name[9:19]
    start, stop = name[42:57], name[58:73]
    return (f'<?xml version="1.0" ?>\n<Earth_Explorer_File><Earth_Explorer_Header><Fixed_Header>'
            f"<File_Name>{name[:-4]}</File_Name><File_Type>{kind}</File_Type><Validity_Period>"
            f"<Validity_Start>UTC={start[:4]}-{start[4:6]}-{start[6:8]}T{start[9:11]}:{start[11:13]}:{start[13:]}"
            f"</Validity_Start><Validity_Stop>UTC={stop[:4]}-{stop[4:6]}-{stop[6:8]}T{stop[9:11]}:{stop[11:13]}:"
            f"{stop[13:]}</Validity_Stop></Validity_Period></Fixed_Header></Earth_Explorer_Header>"
            f'<Data_Block type="xml"><List_of_OSVs count="0"/></Data_Block></Earth_Explorer_File>\n').encode()


def run(capsys, *argv) -> tuple[int, str]:
    code = diapsar_main([str(a) for a in argv])
    cap = capsys.readouterr()
    return code, cap.out + cap.err


@pytest.fixture
def svc():
    s = FakeServices([]).start()
    yield s
    s.stop()


def fill_bucket(svc, s1_data):
    real = (s1_data / "terceira_iw3_20220918_real_crop" / RESORB).read_bytes()
    svc.bucket[f"AUX_RESORB/{RESORB}"] = real
    for other in ("S1A_OPER_AUX_RESORB_OPOD_20220918T063000_V20220918T023000_20220918T054000.EOF",
                  "S1A_OPER_AUX_RESORB_OPOD_20220918T120000_V20220918T083000_20220918T114000.EOF",
                  "S1A_OPER_AUX_RESORB_OPOD_20220918T150000_V20220918T113000_20220918T144000.EOF",
                  "S1B_OPER_AUX_RESORB_OPOD_20220918T093241_V20220918T053155_20220918T084925.EOF"):
        svc.bucket[f"AUX_RESORB/{other}"] = synthetic_eof(other)
    svc.knobs.bucket_page = 2           # forces marker paging
    return real


def test_orbit_from_public_bucket_resorb(svc, s1_data, tmp_path, capsys, monkeypatch):
    for var in ("CDSE_USERNAME", "CDSE_PASSWORD", "DIAPSAR_USERNAME", "DIAPSAR_PASSWORD"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    real = fill_bucket(svc, s1_data)
    code, out = run(capsys, "orbits", f"/some/where/{TERCEIRA}.SAFE", "--out", tmp_path / "orbits",
                    "--base-url", svc.url, "--max-sleep", "0.01")
    assert code == 0, out
    f = tmp_path / "orbits" / RESORB
    assert f.read_bytes() == real and str(f) in out
    listings = svc.seen("/", "GET")
    assert len([r for r in listings if "prefix" in r["query"]]) >= 3          # POEORB (none) + RESORB pages
    t0 = dt.datetime(2022, 9, 18, 7, 49, 20, tzinfo=dt.UTC)
    assert find_orbit_file(tmp_path / "orbits", "S1A", t0, t0 + dt.timedelta(seconds=27)) == f
    # the orbit reader of the chain selects and reads the fetched file
    from diapsar.io.eof import select_orbit_file
    from diapsar.timeutil import iso_to_seconds

    sv = select_orbit_file(tmp_path / "orbits", "S1A", iso_to_seconds("2022-09-18T07:49:20"),
                           iso_to_seconds("2022-09-18T07:49:47"))
    assert RESORB[:-4] in sv.source and len(sv) > 10
    # a second run only looks for a newer precise orbit, then keeps the local RESORB
    n = len(svc.requests)
    code, out = run(capsys, "orbits", TERCEIRA, "--out", tmp_path / "orbits", "--base-url", svc.url)
    assert code == 0 and len(svc.requests) == n + 1
    assert svc.requests[-1]["query"]["prefix"].startswith("AUX_POEORB/")


def test_precise_orbit_preferred_and_selected_locally(svc, s1_data, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    monkeypatch.delenv("CDSE_PASSWORD", raising=False)
    monkeypatch.delenv("DIAPSAR_PASSWORD", raising=False)
    fill_bucket(svc, s1_data)
    svc.bucket[f"AUX_POEORB/{POEORB}"] = synthetic_eof(POEORB)
    code, out = run(capsys, "orbits", TERCEIRA, "--out", tmp_path / "o", "--base-url", svc.url, "--source", "aws")
    assert code == 0, out
    assert (tmp_path / "o" / POEORB).is_file() and not (tmp_path / "o" / RESORB).exists()
    code, out = run(capsys, "orbits", TERCEIRA, "--out", tmp_path / "o", "--base-url", svc.url, "--type",
                    "restituted")
    assert code == 0 and (tmp_path / "o" / RESORB).is_file()
    t0 = dt.datetime(2022, 9, 18, 7, 49, 20, tzinfo=dt.UTC)
    assert find_orbit_file(tmp_path / "o", "S1A", t0, t0).name == POEORB


def test_orbit_from_cdse_with_token(svc, tmp_path, capsys):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(POEORB, synthetic_eof(POEORB))
    svc.products.append(FakeProduct(POEORB, content=buf.getvalue(),
                                    start=dt.datetime(2022, 9, 17, 22, 59, 42, tzinfo=dt.UTC),
                                    end=dt.datetime(2022, 9, 19, 0, 59, 42, tzinfo=dt.UTC)))
    svc.knobs.redirect_downloads = True
    auth = tmp_path / "a.txt"
    auth.write_text(f"{svc.user} {svc.password}")
    code, out = run(capsys, "orbits", TERCEIRA, "--out", tmp_path / "o", "--base-url", svc.url, "-a", auth,
                    "--source", "cdse")
    assert code == 0, out
    assert (tmp_path / "o" / POEORB).read_bytes() == synthetic_eof(POEORB)    # unzipped
    flt = svc.seen("/odata/v1/Products", "GET")[0]["query"]["$filter"]
    assert "startswith(Name,'S1A_OPER_AUX_POEORB')" in flt and "ContentDate/Start lt" in flt
    assert svc.password_grants == 1 and svc.password not in out


def test_orbit_missing_is_one_line(svc, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    monkeypatch.delenv("CDSE_PASSWORD", raising=False)
    monkeypatch.delenv("DIAPSAR_PASSWORD", raising=False)
    code, out = run(capsys, "orbits", TERCEIRA, "--out", tmp_path / "o", "--base-url", svc.url)
    assert code == 1 and "no POEORB or RESORB orbit file covers" in out and "Traceback" not in out
    code, out = run(capsys, "orbits", "not_a_product.SAFE", "--out", tmp_path / "o", "--base-url", svc.url)
    assert code == 1 and "is not a Sentinel-1 product name" in out


def geotiff_bytes(lat: int, lon: int, value: int) -> bytes:
    import rasterio
    from affine import Affine

    data = (np.arange(36 * 36, dtype=np.float32).reshape(36, 36) + value)
    with rasterio.MemoryFile() as mem:
        with mem.open(driver="GTiff", width=36, height=36, count=1, dtype="float32", crs="EPSG:4326",
                      transform=Affine(1 / 36, 0, lon, 0, -1 / 36, lat + 1)) as ds:
            ds.write(data, 1)
        return mem.read()


def test_dem_tiles(svc, tmp_path, capsys):
    import rasterio

    assert tile_name(38, -28) == "Copernicus_DSM_COG_10_N38_00_W028_00_DEM"
    assert tile_name(-1, 6) == "Copernicus_DSM_COG_10_S01_00_E006_00_DEM"
    assert tiles_for_bbox(-28.2, 38.5, -26.9, 38.9) == [tile_name(38, lon) for lon in (-29, -28, -27)]
    svc.dem[tile_name(38, -28)] = geotiff_bytes(38, -28, 100)
    svc.dem[tile_name(38, -27)] = geotiff_bytes(38, -27, 200)
    code, out = run(capsys, "dem-fetch", "--bbox", "-28.2", "38.5", "-26.9", "38.9", "--out", tmp_path / "dem",
                    "--base-url", svc.url, "--max-sleep", "0.01")
    assert code == 0, out
    assert "missing" in out and tile_name(38, -29) in out
    with rasterio.open(tmp_path / "dem" / f"{tile_name(38, -28)}.tif") as ds:
        assert ds.crs.to_epsg() == 4326 and ds.read(1)[0, 0] == 100
        assert ds.bounds.left == pytest.approx(-28) and ds.bounds.top == pytest.approx(39)
    present = [f"{tile_name(38, lon)}.tif" for lon in (-28, -27)]
    n = sum(len(svc.seen(t, "GET")) for t in present)
    code, out = run(capsys, "dem-fetch", "--bbox", "-28.2", "38.5", "-26.9", "38.9", "--out", tmp_path / "dem",
                    "--base-url", svc.url)
    assert code == 0 and out.count("present") == 2 and sum(len(svc.seen(t, "GET")) for t in present) == n
    code, out = run(capsys, "dem-fetch", "--bbox", "-40", "30", "-39", "31", "--out", tmp_path / "dem",
                    "--base-url", svc.url)
    assert code == 1 and "no Copernicus DEM tile exists" in out and "Traceback" not in out
    from diapsar.io.dem import find_tiles  # the chain's DEM reader finds the fetched tiles

    assert sorted(t.name for t in find_tiles(tmp_path / "dem", (-27.9, 38.5, -26.9, 38.9))) == sorted(
        f"{tile_name(38, lon)}.tif" for lon in (-28, -27))
    assert sorted(p.name for p in Path(tmp_path / "dem").iterdir()) == sorted(
        f"{tile_name(38, lon)}.tif" for lon in (-28, -27))
