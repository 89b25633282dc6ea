"""Connect timeout, read timeout and total deadline against real local sockets: a listener that accepts and never
answers, a server that sends its headers then stalls mid-body, and one that trickles a byte at a time.

Every case must end within seconds (small timeouts), exit non-zero with one line saying which clock expired, and
never leave a partial file under a final name (a ``.part`` may stay for a resume)."""

from __future__ import annotations

import argparse
import hashlib
import socket
import time

import pytest
from fake_services import FakeProduct, FakeServices, SilentListener

from diapsar.cli import main as diapsar_main
from diapsar.commands import dem_fetch, orbits
from diapsar.download import cli
from diapsar.download.dem import tile_name
from diapsar.download.http import DeadlineExceeded, HttpClient, NetworkError

NAME = "S1A_IW_SLC__1SDV_20240802T060719_20240802T060746_055030_06B44E_E7CC"
TERCEIRA = "S1A_IW_SLC__1SDV_20220918T074920_20220918T074947_045056_056232_62D6"
FAST = ("--connect-timeout", "1", "--read-timeout", "1", "--max-sleep", "0.01")


def run(capsys, main, *argv) -> tuple[int, str, str, float]:
    t0 = time.monotonic()
    code = main([str(a) for a in argv])
    cap = capsys.readouterr()
    return code, cap.out, cap.err, time.monotonic() - t0


def error_lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if "error" in ln]


@pytest.fixture
def svc():
    s = FakeServices([FakeProduct(NAME, (1.0, 43.0, 2.0, 44.0))]).start()
    yield s
    s.stop()


@pytest.fixture
def auth(tmp_path, svc):
    p = tmp_path / "peps.txt"
    p.write_text(f"{svc.user} {svc.password}\n")
    return p


def peps_args(url, auth, tmp_path, *extra):
    return ["-c", "S1", "--base-url", url, "-d", "2024-08-01", "-f", "2024-09-01", "-a", auth,
            "-w", tmp_path / "out", "--json", tmp_path / "search.json", "--poll-interval", "0.05", *FAST, *extra]


# -- a listener that accepts and never answers ------------------------------------------------------------------
def test_silent_server_search_ends_on_read_timeout(tmp_path, capsys):
    auth = tmp_path / "peps.txt"
    auth.write_text("jane.doe@example.org secret\n")
    with SilentListener() as silent:
        code, out, err, took = run(capsys, cli.main, *peps_args(silent.url, auth, tmp_path, "--retries", "0", "-n"))
        assert silent.accepted == 1
    assert code == 1 and took < 5, (took, err)
    assert error_lines(err) == [f"peps_download.py: error: 127.0.0.1:{silent.port} accepted the connection but "
                                "sent no answer within 1 s (read timeout); gave up after 1 attempt in 1 s"]
    assert "cannot reach" not in err and "Traceback" not in err + out


def test_silent_server_default_retries_are_few_and_said(tmp_path, capsys):
    """Default --retries 5: a server that never answers is retried twice only, and the message says so."""
    auth = tmp_path / "peps.txt"
    auth.write_text("jane.doe@example.org secret\n")
    with SilentListener() as silent:
        code, out, err, took = run(capsys, cli.main, *peps_args(silent.url, auth, tmp_path, "-n"))
        assert silent.accepted == 3
    assert code == 1 and 3 <= took < 8, took
    line, = error_lines(err)
    assert "sent no answer within 1 s (read timeout); gave up after 3 attempts in 3 s" in line


def test_silent_server_cut_by_total_deadline(tmp_path, capsys):
    auth = tmp_path / "peps.txt"
    auth.write_text("jane.doe@example.org secret\n")
    with SilentListener() as silent:
        code, out, err, took = run(capsys, cli.main, *peps_args(silent.url, auth, tmp_path, "-n", "--read-timeout",
                                                               "0.8", "--deadline", "1.2"))
    assert code == 1 and 1.1 < took < 4, took
    line, = error_lines(err)
    assert "exceeded its total deadline of 1.2 s" in line
    assert "last failure: 127.0.0.1:" in line and "no answer within 0.8 s (read timeout)" in line


def test_connect_timeout_is_named(tmp_path):
    """A listener whose accept queue is full drops new SYNs (Linux): the connection itself times out."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    try:
        for _ in range(4):   # fill the accept queue; connections that do not complete are fine
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            fillers.append(s)
        time.sleep(0.2)
        probe = socket.socket()
        probe.settimeout(0.5)
        try:
            probe.connect(("127.0.0.1", port))
            pytest.skip("this kernel completes connections beyond the listen backlog")
        except (TimeoutError, OSError):
            pass
        finally:
            probe.close()
        client = HttpClient(retries=5, connect_timeout=0.5, read_timeout=5, max_sleep=0.01)
        t0 = time.monotonic()
        with pytest.raises(NetworkError) as e:
            client.request("GET", f"http://127.0.0.1:{port}/odata/v1/Products")
        assert time.monotonic() - t0 < 4
        assert str(e.value).startswith(f"could not connect to 127.0.0.1:{port} within 0.5 s (connect timeout); "
                                       "gave up after 3 attempts in ")
    finally:
        for s in fillers:
            s.close()
        server.close()


# -- a server that sends its headers then stalls; one that trickles --------------------------------------------
def test_download_stalled_mid_body_keeps_part_then_resumes(svc, auth, tmp_path, capsys):
    svc.knobs.stall["$value"] = 5000
    code, out, err, took = run(capsys, cli.main, *peps_args(svc.url, auth, tmp_path, "--retries", "0"))
    assert code == 1 and took < 6, (took, err)
    msg = (f"127.0.0.1:{svc.port} sent 5000 bytes of the body, then nothing for 1 s (read timeout) "
           f"(gave up after 1 attempt in 1 s; 5000 bytes kept in {NAME}.zip.part for a resume)")
    assert f"failed: {NAME}: {msg}" in out, out
    assert err.count(msg) == 1 and "Traceback" not in err
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert files == [f"{NAME}.zip.part"]                        # nothing presented as complete
    assert (tmp_path / "out" / files[0]).stat().st_size == 5000
    svc.knobs.stall.clear()                                          # the server recovers: the next run resumes
    code, out, err, _ = run(capsys, cli.main, *peps_args(svc.url, auth, tmp_path))
    assert code == 0, out + err
    assert svc.seen("$value", "GET")[-1]["headers"].get("range") == "bytes=5000-"
    got = tmp_path / "out" / f"{NAME}.zip"
    assert hashlib.md5(got.read_bytes()).hexdigest() == svc.product(NAME).md5


def test_download_stalled_retries_are_bounded_and_said(svc, auth, tmp_path, capsys):
    svc.knobs.stall["$value"] = 3000
    code, out, err, took = run(capsys, cli.main, *peps_args(svc.url, auth, tmp_path, "--retries", "2"))
    assert code == 1 and 3 <= took < 9, took
    line = next(ln for ln in out.splitlines() if "failed:" in ln)
    assert "then nothing for 1 s (read timeout) (gave up after 3 attempts in 3 s" in line
    assert len(svc.seen("$value", "GET")) == 3
    assert not (tmp_path / "out" / f"{NAME}.zip").exists()


def test_trickling_download_cut_by_deadline(svc, auth, tmp_path, capsys):
    svc.knobs.trickle["$value"] = 0.05                               # 20 bytes/s, never a silence of 1 s
    code, out, err, took = run(capsys, cli.main, *peps_args(svc.url, auth, tmp_path, "--retries", "3",
                                                           "--deadline", "2"))
    assert code == 1 and 1.9 < took < 6, took
    line = next(ln for ln in out.splitlines() if "failed:" in ln)
    assert f"failed: {NAME}: download exceeded its total deadline of 2 s (127.0.0.1:{svc.port} had sent" in line
    assert "kept in" in line and "for a resume" in line
    assert len(svc.seen("$value", "GET")) == 1                       # a deadline is not retried
    assert not (tmp_path / "out" / f"{NAME}.zip").exists()


def test_client_trickled_answer_bounded_by_deadline(svc):
    svc.knobs.trickle["/odata/v1/Products"] = 0.05
    client = HttpClient(retries=5, read_timeout=1, deadline_s=1.5, max_sleep=0.01)
    t0 = time.monotonic()
    with pytest.raises(DeadlineExceeded, match=r"orbit search exceeded its total deadline of 1.5 s \(127"):
        client.request("GET", f"{svc.url}/odata/v1/Products", what="orbit search")
    assert 1.4 < time.monotonic() - t0 < 3
    svc.knobs.trickle.clear()
    resp = client.request("GET", f"{svc.url}/odata/v1/Products")   # the same client works once it recovers
    assert resp.status_code == 200 and "value" in resp.json()


# -- the same clocks for diapsar orbits and diapsar dem-fetch -----------------------------------------------------
def test_orbits_silent_server(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    for var in ("CDSE_USERNAME", "CDSE_PASSWORD", "DIAPSAR_USERNAME", "DIAPSAR_PASSWORD"):
        monkeypatch.delenv(var, raising=False)
    with SilentListener() as silent:
        code, out, err, took = run(capsys, diapsar_main, "orbits", TERCEIRA, "--out", tmp_path / "o",
                                   "--base-url", silent.url, "--retries", "0", *FAST)
        assert silent.accepted == 1        # the dead bucket is not asked again for RESORB
    assert code == 1 and took < 5, took
    line, = error_lines(err)
    assert line.startswith("diapsar: error: no POEORB or RESORB orbit file covers")
    assert f"127.0.0.1:{silent.port} accepted the connection but sent no answer within 1 s (read timeout)" in line
    assert not (tmp_path / "o").exists() or not list((tmp_path / "o").iterdir())


def test_dem_fetch_silent_bucket_costs_one_timeout(tmp_path, capsys):
    with SilentListener() as silent:
        code, out, err, took = run(capsys, diapsar_main, "dem-fetch", "--bbox", "-28.5", "38.5", "-26.5", "39.5",
                                   "--out", tmp_path / "dem", "--base-url", silent.url, "--workers", "1",
                                   "--retries", "0", *FAST)
        assert silent.accepted == 1
    assert code == 1 and took < 4, took
    lines = [ln for ln in out.splitlines() if ln.startswith("failed")]
    assert len(lines) == 6                                           # 3 x 2 tiles
    assert f"127.0.0.1:{silent.port} accepted the connection but sent no answer within 1 s (read timeout)" in lines[0]
    assert all("not tried: 127.0.0.1 did not answer for an earlier tile" in ln for ln in lines[1:])


@pytest.mark.parametrize("knob, extra, message", [
    ("stall", (), "sent 3000 bytes of the body, then nothing for 1 s (read timeout); gave up after 1 attempt"),
    ("trickle", ("--deadline", "1.5"), "exceeded its total deadline of 1.5 s (127.0.0.1:"),
])
def test_dem_fetch_slow_tile(svc, tmp_path, capsys, knob, extra, message):
    name = tile_name(38, -28)
    svc.dem[name] = b"II*\x00" + bytes(20000)
    getattr(svc.knobs, knob)[name] = 3000 if knob == "stall" else 0.05
    code, out, err, took = run(capsys, diapsar_main, "dem-fetch", "--bbox", "-27.9", "38.1", "-27.1", "38.9",
                               "--out", tmp_path / "dem", "--base-url", svc.url, "--retries", "0", *FAST, *extra)
    assert code == 1 and took < 5, took
    line, = [ln for ln in out.splitlines() if name in ln]
    assert line.startswith("failed") and message in line
    assert list((tmp_path / "dem").iterdir()) == []                  # no partial tile under its final name


@pytest.mark.parametrize("main, argv", [
    (cli.main, ["-c", "S1", "-d", "2024-08-01", "-n", "--read-timeout", "0"]),
    (cli.main, ["-c", "S1", "-d", "2024-08-01", "-n", "--deadline", "-5"]),
    (diapsar_main, ["dem-fetch", "--bbox", "1", "43", "2", "44", "--connect-timeout", "nan"]),
    (diapsar_main, ["orbits", TERCEIRA, "--deadline", "0"]),
])
def test_bad_timeouts_one_line(capsys, main, argv):
    code, out, err, _ = run(capsys, main, *argv)
    assert code != 0 and len(error_lines(err)) == 1 and "must be a positive number of seconds" in err
    assert "Traceback" not in out + err


# -- --help ------------------------------------------------------------------------------------------------------
def _undocumented(p: argparse.ArgumentParser) -> list[str]:
    return [a.dest for a in p._actions if a.help is None and a.dest != "help"]


def test_every_option_has_help():
    assert _undocumented(cli.build_parser()) == []
    for mod in (orbits, dem_fetch):
        p = argparse.ArgumentParser()
        mod.add_arguments(p)
        assert _undocumented(p) == [], mod.NAME
    text = cli.build_parser().format_help()
    for opt in ("--latmin", "--connect-timeout", "--read-timeout", "--deadline"):
        assert opt in text
    assert "southern latitude (degrees" in text and "default 21600 = 6 h" in text
