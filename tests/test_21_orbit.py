"""Orbit interpolation accuracy (leave-one-out on real state vectors) and orbit file reading/selection.

Run with ``-s`` to see the figures.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from diapsar.errors import OrbitError
from diapsar.io.eof import parse_eof_name, read_eof, select_orbit_file
from diapsar.io.safe import open_annotation
from diapsar.metadata import StateVectors
from diapsar.orbit import Orbit
from diapsar.timeutil import iso_to_seconds

TERCEIRA_EOF = "S1A_OPER_AUX_RESORB_OPOD_20220918T093241_V20220918T053155_20220918T084925.EOF"


def _leave_one_out(sv: StateVectors, method: str, idx) -> tuple[np.ndarray, np.ndarray]:
    """Position and velocity error at each left-out state vector (20 s gap)."""
    from scipy.interpolate import CubicHermiteSpline, CubicSpline

    ep, ev = [], []
    for k in idx:
        keep = [j for j in range(max(k - 12, 0), min(k + 13, len(sv))) if j != k]
        sub = StateVectors(sv.time_s[keep], sv.position_m[keep], sv.velocity_m_s[keep])
        t = sv.time_s[k]
        x = sub.time_s - t
        if method.startswith("lagrange"):
            p, v = Orbit(sub, int(method.split("-")[1]) + 1).position_velocity(np.array([t]))
            p, v = p[0], v[0]
        elif method == "hermite":
            hs = [CubicHermiteSpline(x, sub.position_m[:, c], sub.velocity_m_s[:, c]) for c in range(3)]
            p = np.array([h(0.0) for h in hs])
            v = np.array([h(0.0, 1) for h in hs])
        else:  # cubic spline of positions and of velocities
            p = CubicSpline(x, sub.position_m)(0.0)
            v = CubicSpline(x, sub.velocity_m_s)(0.0)
        ep.append(np.linalg.norm(p - sv.position_m[k]))
        ev.append(np.linalg.norm(v - sv.velocity_m_s[k]))
    return np.array(ep), np.array(ev)


@pytest.fixture(scope="module")
def orbit_sources(s1_data):
    out = [("EOF RESORB", read_eof(s1_data / "terceira_iw3_20220918_real_crop" / TERCEIRA_EOF))]
    for pattern in ("terceira_iw3_20220918_real_crop/s1a-iw3-*.xml", "format_coverage/*_S3_*/annotation/*.xml",
                    "format_coverage/*_EW_*/annotation/*-hh-*.xml"):
        xml = sorted(s1_data.glob(pattern))[0]
        meta = open_annotation(xml)
        out.append((f"annotation {meta.mode} {meta.swath}", meta.orbit))
    return out


def test_leave_one_out_interpolation_within_1cm(orbit_sources):
    print()
    for name, sv in orbit_sources:
        n = len(sv)
        idx = np.unique(np.linspace(1, n - 2, min(40, n - 2)).astype(int))  # every vector but the two ends
        for method in ("lagrange-7", "lagrange-9", "hermite", "spline"):
            ep, ev = _leave_one_out(sv, method, idx)
            print(f"  {name:22s} {method:11s} position max {ep.max() * 1e3:8.3f} mm rms "
                  f"{np.sqrt(np.mean(ep ** 2)) * 1e3:8.3f} mm | velocity max {ev.max() * 1e3:7.3f} mm/s rms "
                  f"{np.sqrt(np.mean(ev ** 2)) * 1e3:7.3f} mm/s  ({len(idx)} points)")
            if method == "lagrange-7":  # the default model of diapsar.orbit.Orbit
                assert ep.max() <= 0.01, f"{name}: leave-one-out position error {ep.max():.4f} m"
                assert ev.max() <= 1e-4, f"{name}: leave-one-out velocity error {ev.max():.6f} m/s"


def test_orbit_reproduces_nodes_and_is_smooth(orbit_sources):
    sv = orbit_sources[1][1]
    orbit = Orbit(sv)
    assert orbit.n_nodes == 8
    p, v = orbit.position_velocity(sv.time_s)
    np.testing.assert_allclose(p, sv.position_m, atol=1e-6)
    np.testing.assert_allclose(v, sv.velocity_m_s, atol=1e-8)
    # derivative consistency of the model: finite difference of positions vs velocity (EOF: consistent data)
    eof = Orbit(orbit_sources[0][1]).cropped(sv.time_s[0], sv.time_s[-1])
    t = np.linspace(sv.time_s[2], sv.time_s[-3], 501)
    pa, va, aa = eof.position_velocity_acceleration(t)

    def deriv(k, h=1.0):  # Richardson-extrapolated central difference (times near 7e8 s: keep h large)
        d1 = (eof.position_velocity(t + h)[k] - eof.position_velocity(t - h)[k]) / (2 * h)
        d2 = (eof.position_velocity(t + h / 2)[k] - eof.position_velocity(t - h / 2)[k]) / h
        return (4 * d2 - d1) / 3

    assert np.abs(deriv(0) - va).max() < 2e-3  # m/s: EOF velocities agree with their positions
    assert np.abs(deriv(1) - aa).max() < 1e-4  # m/s^2
    assert 7000 < np.linalg.norm(va, axis=-1).min() < 7700  # Sentinel-1 ground-fixed speed
    # shapes
    assert orbit.position_velocity(np.zeros((2, 3)) + sv.time_s[3])[0].shape == (2, 3, 3)


def test_orbit_rejects_bad_state_vectors():
    t = np.arange(3.0)
    with pytest.raises(OrbitError):
        Orbit(StateVectors(t, np.zeros((3, 3)), np.zeros((3, 3))))
    with pytest.raises(OrbitError):
        Orbit(StateVectors(np.arange(6.0), np.full((6, 3), np.nan), np.zeros((6, 3))))
    with pytest.raises(OrbitError):
        Orbit(StateVectors(np.arange(6.0), np.zeros((5, 3)), np.zeros((6, 3))))


def test_read_eof(s1_data):
    sv = read_eof(s1_data / "terceira_iw3_20220918_real_crop" / TERCEIRA_EOF)
    assert len(sv) == 1186 and sv.source == TERCEIRA_EOF
    assert sv.time_s[0] == pytest.approx(iso_to_seconds("2022-09-18T05:31:55.470319"))
    np.testing.assert_allclose(sv.position_m[0], [-7017370.359270, -913614.605891, -40855.463295])
    np.testing.assert_allclose(sv.velocity_m_s[0], [-238.237193, 1566.344102, 7430.427935])
    assert np.allclose(np.diff(sv.time_s), 10.0)
    info = parse_eof_name(TERCEIRA_EOF)
    assert info.mission == "S1A" and info.orbit_type == "RESORB" and not info.precise
    assert info.validity_start_s == iso_to_seconds("2022-09-18T05:31:55")
    for f in sorted((s1_data / "zipped_safe_annotations" / "orbits").glob("*.EOF")):
        sv2 = read_eof(f)
        assert len(sv2) > 100 and np.all(np.diff(sv2.time_s) > 0)


def _window(s1_data):
    meta = open_annotation(sorted((s1_data / "terceira_iw3_20220918_real_crop").glob("s1a-iw3-*.xml"))[0])
    return meta


def test_select_orbit_file_prefers_poeorb_then_newest(s1_data, tmp_path):
    meta = _window(s1_data)
    src = s1_data / "terceira_iw3_20220918_real_crop" / TERCEIRA_EOF
    sv = select_orbit_file(src.parent, "S1A", meta.start_time_s, meta.stop_time_s)
    assert sv.source == TERCEIRA_EOF
    # cropped to the acquisition +/- 3 minutes
    assert sv.time_s[0] <= meta.start_time_s - 60 and sv.time_s[-1] >= meta.stop_time_s + 60
    assert len(sv) < 60
    # the real file under other names: an older RESORB, a newer RESORB and a POEORB (same content)
    names = {
        "old": "S1A_OPER_AUX_RESORB_OPOD_20220918T083241_V20220918T053155_20220918T084925.EOF",
        "new": "S1A_OPER_AUX_RESORB_OPOD_20220918T103241_V20220918T053155_20220918T084925.EOF",
        "poe": "S1A_OPER_AUX_POEORB_OPOD_20221008T080000_V20220917T225942_20220919T005942.EOF",
        "other_mission": "S1B_OPER_AUX_POEORB_OPOD_20221008T080000_V20220917T225942_20220919T005942.EOF",
    }
    for key in ("old", "new"):
        shutil.copy(src, tmp_path / names[key])
    assert select_orbit_file(tmp_path, "S1A", meta.start_time_s, meta.stop_time_s).source == names["new"]
    shutil.copy(src, tmp_path / names["other_mission"])
    assert select_orbit_file(tmp_path, "S1A", meta.start_time_s, meta.stop_time_s).source == names["new"]
    shutil.copy(src, tmp_path / names["poe"])
    files = sorted(tmp_path.iterdir())
    assert select_orbit_file(files, "S1A", meta.start_time_s, meta.stop_time_s).source == names["poe"]


def test_select_orbit_file_errors(s1_data, tmp_path):
    meta = _window(s1_data)
    orbits = s1_data / "zipped_safe_annotations" / "orbits"
    with pytest.raises(OrbitError) as exc:
        select_orbit_file(orbits, "S1A", meta.start_time_s, meta.stop_time_s)
    msg = str(exc.value)
    assert "2022-09-18T07:49" in msg and "RESORB_OPOD_20230823T162050" in msg and "\n" not in msg
    # fallback to the annotation vectors when asked
    assert select_orbit_file(orbits, "S1A", meta.start_time_s, meta.stop_time_s, fallback=meta.orbit) is meta.orbit
    # the margin matters: the file's validity ends at 08:49:25
    src = s1_data / "terceira_iw3_20220918_real_crop" / TERCEIRA_EOF
    late = iso_to_seconds("2022-09-18T08:48:50")
    with pytest.raises(OrbitError):
        select_orbit_file(src, "S1A", late, late + 25, margin_s=60)
    assert len(select_orbit_file(src, "S1A", late, late + 25, margin_s=10)) >= 10
    # unreadable / empty / missing files
    bad = tmp_path / "S1A_OPER_AUX_RESORB_OPOD_20220918T093241_V20220918T053155_20220918T084925.EOF"
    bad.write_text("<Earth_Explorer_File><Data_Block>")
    with pytest.raises(OrbitError, match="not readable XML"):
        read_eof(bad)
    with pytest.raises(OrbitError, match="not readable XML"):
        select_orbit_file(bad, "S1A", meta.start_time_s, meta.stop_time_s)
    empty = tmp_path / "empty.EOF"
    empty.write_text("<Earth_Explorer_File><Data_Block><List_of_OSVs/></Data_Block></Earth_Explorer_File>")
    with pytest.raises(OrbitError, match="no state vectors"):
        read_eof(empty)
    with pytest.raises(OrbitError, match="not found"):
        select_orbit_file(Path(tmp_path / "nope"), "S1A", meta.start_time_s, meta.stop_time_s)


def test_orbit_fallback_on_the_command_line(s1_data, tmp_path, capsys, caplog):
    """--orbit-fallback: annotation vectors (with a warning) when no orbit file covers; else one-line error."""
    from diapsar.cli import main

    xml = next((s1_data / "terceira_iw3_20220918_real_crop").glob("s1a-iw3-*.xml"))
    orbits = s1_data / "zipped_safe_annotations" / "orbits"  # August 2023: does not cover 2022-09-18
    pts = tmp_path / "p.csv"
    pts.write_text("lat,lon,h\n38.72,-27.2,300\n")
    assert main(["geo2rdr", str(xml), "--llh", str(pts)]) == 0
    plain = capsys.readouterr().out
    assert main(["geo2rdr", str(xml), "--llh", str(pts), "--orbit", str(orbits)]) != 0
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "covers the acquisition" in err
    assert main(["geo2rdr", str(xml), "--llh", str(pts), "--orbit", str(orbits), "--orbit-fallback"]) == 0
    out, err = capsys.readouterr()
    # the warning is a log record (stderr without logging set up; the chain's info.log with it)
    assert out == plain and "using the annotation state vectors" in caplog.text
