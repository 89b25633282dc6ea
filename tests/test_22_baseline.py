"""Baselines and burst matching on the real Morocco and Haida Gwaii pairs (metadata real, pixels absent)."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from diapsar.baseline import baseline_at_point, centre_baseline, match_bursts, swath_baselines
from diapsar.errors import SelectionError
from diapsar.geometry import geo2rdr, llh_to_ecef, rdr2geo
from diapsar.io.safe import open_annotation, open_product
from diapsar.metadata import SPEED_OF_LIGHT_M_S, StateVectors
from diapsar.orbit import Orbit
from diapsar.timeutil import iso_to_seconds

PAIRS = {"morocco": "morocco_iw_pair_20230904_20230916", "haida": "haida_gwaii_iw_pair_20250406_20250418"}


@pytest.fixture(scope="module", params=sorted(PAIRS))
def pair(request, s1_data):
    folder = s1_data / PAIRS[request.param]
    safes = sorted(folder.glob("*.SAFE"))
    assert len(safes) == 2
    return request.param, open_product(safes[0]), open_product(safes[1])


def _numeric_height_of_ambiguity(m, s, b, dh=50.0):
    """Height change (at fixed master range/azimuth) that changes R_slave - R_master by lambda/2."""
    mo, so = Orbit(m.orbit), Orbit(s.orbit)
    t = iso_to_seconds(b.master_time)
    tau = 2.0 * b.slant_range_m / SPEED_OF_LIGHT_M_S
    p1 = rdr2geo(mo, t, tau, b.height_m)
    p2 = rdr2geo(mo, t, tau, b.height_m + dh)
    _, t1 = geo2rdr(so, *p1)
    _, t2 = geo2rdr(so, *p2)
    d_rs = float(t2 - t1) * SPEED_OF_LIGHT_M_S / 2.0
    return dh * (m.wavelength_m / 2.0) / d_rs


def test_pair_burst_matching_and_baselines(pair):
    name, master, slave = pair
    print()
    for sw in ("IW1", "IW2", "IW3"):
        m, s = master.swath(sw), slave.swath(sw)
        matches = match_bursts(m, s)
        assert len(matches) == len(m.bursts) == 9
        for bid, im, js in matches:
            assert m.bursts[im].burst_id == bid == s.bursts[js].burst_id
        rows = swath_baselines(m, s)
        assert [r.burst_id for r in rows] == [mm[0] for mm in matches]
        for r in rows:
            assert 1.0 < abs(r.perpendicular_m) < 300.0 and r.total_m < 300.0
            assert abs(r.temporal_days - 12.0) < 1e-3
            assert r.total_m == pytest.approx(np.sqrt(r.perpendicular_m ** 2 + r.parallel_m ** 2
                                                      + r.along_track_m ** 2), rel=1e-9)
            assert np.sign(r.height_of_ambiguity_m) == np.sign(r.perpendicular_m)
            assert 25.0 < r.incidence_deg < 50.0
        mid = rows[len(rows) // 2]
        h_num = _numeric_height_of_ambiguity(m, s, mid)
        print(f"  {name} {sw} burst {mid.burst_id}: B_perp {mid.perpendicular_m:8.2f} m  B_par {mid.parallel_m:8.2f} m "
              f"B_along {mid.along_track_m:7.2f} m  h_amb {mid.height_of_ambiguity_m:8.1f} m "
              f"(numeric d(R_s-R_m)/dh: {h_num:8.1f} m)")
        # the h_amb formula agrees with the geometry itself (this fails if B_along is left in B_perp)
        assert mid.height_of_ambiguity_m == pytest.approx(h_num, rel=2e-3)
        # baselines vary smoothly along the swath
        perp = np.array([r.perpendicular_m for r in rows])
        assert np.abs(np.diff(perp)).max() < 2.0


def test_self_pair_has_zero_baseline(pair):
    _, master, _ = pair
    m = master.swath("IW2")
    for r in swath_baselines(m, m):
        assert abs(r.perpendicular_m) < 1e-6 and abs(r.parallel_m) < 1e-6 and r.total_m < 1e-6
        assert r.temporal_days == 0.0 and r.height_of_ambiguity_m is None


def test_matching_with_missing_bursts(s1_data):
    folder = s1_data / PAIRS["morocco"]
    safes = sorted(folder.glob("*.SAFE"))
    m = open_product(safes[0]).swath("IW1")
    s = copy.deepcopy(open_product(safes[1]).swath("IW1"))
    s.bursts = s.bursts[3:]
    for k, b in enumerate(s.bursts):
        b.index = k
    matches = match_bursts(m, s)
    assert [(im, js) for _, im, js in matches] == [(i, i - 3) for i in range(3, 9)]
    rows = swath_baselines(m, s)
    assert [r.master_burst for r in rows] == list(range(3, 9))
    s.bursts = s.bursts[:0]
    with pytest.raises(SelectionError):
        swath_baselines(m, s)


def test_stripmap_known_displacement(s1_data):
    """A slave orbit = master orbit shifted by a known vector: B_perp/B_par must recover it, with the sign."""
    xml = next((s1_data / "format_coverage").glob("*_S3_*/annotation/*.xml"))
    m = open_annotation(xml)
    assert not m.is_tops
    zero = centre_baseline(m, m)
    assert abs(zero.perpendicular_m) < 1e-6 and zero.burst_id is None
    mo = Orbit(m.orbit)
    t = 0.5 * (m.first_line_time_s + m.last_line_time_s)
    tau = m.slant_range_time_s + 0.5 * (m.number_of_samples - 1) / m.range_sampling_rate_hz
    p = llh_to_ecef(*rdr2geo(mo, t, tau, float(np.median(m.geolocation_grid.height_m))))
    sm, vm = (a[0] for a in mo.position_velocity(np.array([t])))
    lhat = (p - sm) / np.linalg.norm(p - sm)
    vhat = vm / np.linalg.norm(vm)
    perp_dir = np.cross(vhat, lhat)  # perpendicular to the line of sight and to the track
    if perp_dir @ (-sm) < 0:  # make it point below the line of sight (towards the Earth)
        perp_dir = -perp_dir
    for shift, expect_perp, expect_par in ((100.0 * perp_dir, 100.0, 0.0), (-60.0 * lhat, 0.0, 60.0)):
        s = copy.deepcopy(m)
        s.orbit = StateVectors(m.orbit.time_s, m.orbit.position_m + shift, m.orbit.velocity_m_s)
        r = centre_baseline(m, s)
        assert r.perpendicular_m == pytest.approx(expect_perp, abs=0.5)
        assert r.parallel_m == pytest.approx(expect_par, abs=0.5)
        assert abs(r.along_track_m) < 0.5
    # the point-level function: 100 m perpendicular -> h_amb = lambda R sin(inc) / 200
    s = copy.deepcopy(m)
    s.orbit = StateVectors(m.orbit.time_s, m.orbit.position_m + 100.0 * perp_dir, m.orbit.velocity_m_s)
    lat, lon, h = rdr2geo(mo, t, tau, 0.0)
    res = baseline_at_point(mo, Orbit(s.orbit), float(lat), float(lon), float(h), m.wavelength_m)
    expect = m.wavelength_m * res["slant_range_m"] * np.sin(np.radians(res["incidence_deg"])) / 200.0
    assert res["height_of_ambiguity_m"] == pytest.approx(expect, rel=0.01)
    assert 20.0 < res["incidence_deg"] < 50.0


def test_different_tracks_are_refused(s1_data):
    a = open_product(next((s1_data / PAIRS["morocco"]).glob("*.SAFE"))).swath("IW1")
    b = open_product(next((s1_data / PAIRS["haida"]).glob("*.SAFE"))).swath("IW1")
    with pytest.raises(SelectionError, match="relative orbit"):
        match_bursts(a, b)
    with pytest.raises(SelectionError, match="swath"):
        swath_baselines(a, open_product(next((s1_data / PAIRS["morocco"]).glob("*.SAFE"))).swath("IW2"))


def test_baseline_command(s1_data, capsys):
    from diapsar.cli import main

    safes = [str(p) for p in sorted((s1_data / PAIRS["morocco"]).glob("*.SAFE"))]
    assert main(["baseline", *safes, "--swath", "IW2", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["master_date"] == "20230904" and doc["slave_date"] == "20230916"
    assert len(doc["baselines"]) == 9
    assert all(b["swath"] == "IW2" and b["master_burst"] == b["slave_burst"] for b in doc["baselines"])
    assert main(["baseline", *safes]) == 0
    out = capsys.readouterr().out
    assert "temporal baseline 12.000 days" in out and out.count("\nIW") == 27
    haida = str(next((s1_data / PAIRS["haida"]).glob("*.SAFE")))
    assert main(["baseline", safes[0], haida]) != 0
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "relative orbit 52" in err
    assert main(["baseline", *safes, "--swath", "IW4"]) != 0
    assert "no swath IW4" in capsys.readouterr().err
