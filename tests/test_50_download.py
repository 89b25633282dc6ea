"""peps_download.py against a real local HTTP server imitating CDSE, OpenSearch, PEPS resto and GEODES."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from fake_services import FakeProduct, FakeServices, make_safe_zip

from diapsar.download import cli
from diapsar.download.auth import CdseToken, Credentials
from diapsar.download.backends import CdseOData
from diapsar.download.extract import safe_extract
from diapsar.download.http import HttpClient
from diapsar.download.products import relative_orbit
from diapsar.errors import ProductError

REPO = Path(__file__).resolve().parents[1]
TOULOUSE = (1.0, 43.0, 2.0, 44.0)
PARIS = (0.0, 48.0, 4.0, 50.0)
NAMES = [
    "S1A_IW_SLC__1SDV_20240802T060719_20240802T060746_055030_06B44E_E7CC",
    "S1A_IW_SLC__1SDV_20240814T060719_20240814T060746_055205_06BB01_A1B2",
    "S1A_IW_GRDH_1SDV_20240803T174653_20240803T174718_055046_06B4D2_3C4D",
    "S1A_IW_SLC__1SDV_20240826T060720_20240826T060747_055380_06C1A0_9F00",
    "S1C_IW_SLC__1SDV_20240820T083159_20240820T083230_001857_00381E_A63D",   # synthetic date, real orbit
]


@pytest.fixture
def svc():
    products = [FakeProduct(NAMES[0], TOULOUSE), FakeProduct(NAMES[1], TOULOUSE),
                FakeProduct(NAMES[2], TOULOUSE, direction="ASCENDING"), FakeProduct(NAMES[3], PARIS),
                FakeProduct(NAMES[4], PARIS)]
    s = FakeServices(products).start()
    yield s
    s.stop()


@pytest.fixture
def auth(tmp_path, svc):
    p = tmp_path / "peps.txt"
    p.write_text(f"{svc.user} {svc.password}\n")
    return p


def run(capsys, *argv) -> tuple[int, str]:
    code = cli.main([str(a) for a in argv])
    cap = capsys.readouterr()
    return code, cap.out + cap.err


def base_args(svc, auth, tmp_path, *extra):
    return ["-c", "S1", "--base-url", svc.url, "-d", "2024-08-01", "-f", "2024-09-01", "-a", auth,
            "-w", tmp_path / "out", "--json", tmp_path / "search.json", "--max-sleep", "0.02",
            "--poll-interval", "0.05", "--retries", "3", *extra]


def assert_no_secret(svc: FakeServices, *texts: str) -> None:
    secrets = [svc.password, *svc.tokens, *svc.refresh_tokens]
    for text in texts:
        for s in secrets:
            assert s not in text, "a secret was printed"
        assert "Traceback" not in text


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


# -- pure functions -------------------------------------------------------------------------------------------
def test_relative_orbit_formulas():
    assert relative_orbit("S1A", 55030) == 8          # CDSE documentation example (relativeOrbitNumber 8)
    assert relative_orbit("S1A", 58808) == 111        # S1A 2025-04-18 08:33 ...
    assert relative_orbit("S1C", 1857) == 111         # ... and S1C 2025-04-12 08:31, same track six days apart
    assert relative_orbit("S1B", 26269) == 168
    assert relative_orbit("S2A", 1000) is None


def test_relative_orbit_matches_real_annotations(s1_data):
    rows = (s1_data / "INVENTORY_annotations.tsv").read_text().splitlines()
    header = rows[0].split("\t")
    im, ia, ir = header.index("mission"), header.index("absorb"), header.index("relorb")
    checked = 0
    for row in rows[1:]:
        cols = row.split("\t")
        assert relative_orbit(cols[im], int(cols[ia])) == int(cols[ir]), row[:80]
        checked += 1
    assert checked > 10


# -- search ------------------------------------------------------------------------------------------------
def test_search_follows_pages_lists_and_downloads_nothing(svc, auth, tmp_path, capsys):
    code, out = run(capsys, *base_args(svc, auth, tmp_path, "-p", "SLC", "--latmin", "43", "--latmax", "44",
                                       "--lonmin", "1", "--lonmax", "2", "-n", "--page-size", "1"))
    assert code == 0, out
    assert NAMES[0] in out and NAMES[1] in out
    assert NAMES[2] not in out and NAMES[3] not in out          # GRD and the Paris product filtered out
    line = next(ln for ln in out.splitlines() if ln.startswith(NAMES[0]))
    assert "2024-08-02 06:07:19" in line and "online" in line and line.rstrip().endswith(" 8")
    searches = svc.seen("/odata/v1/Products", "GET")
    assert len(searches) == 2                                    # 2 results, one per page
    assert "Attributes" in searches[0]["query"]["$expand"]
    assert searches[0]["query"]["$orderby"] == "ContentDate/Start asc"
    assert "$skip" in searches[1]["query"]                       # the nextLink was followed
    raw = json.loads((tmp_path / "search.json").read_text())
    assert [v["Name"] for v in raw["value"]] == [NAMES[0] + ".SAFE", NAMES[1] + ".SAFE"]
    assert not svc.seen("$value") and not svc.seen("/token")     # -n: no login, no download
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_skip_limit_continues_from_last_date(tmp_path):
    names = [f"S1A_IW_SLC__1SDV_202408{d:02d}T060719_202408{d:02d}T060746_{55030 + d:06d}_06B44E_{d:04X}"
             for d in range(1, 8)]
    s = FakeServices([FakeProduct(n, TOULOUSE) for n in names]).start()
    try:
        s.knobs.max_skip = 2
        import requests

        r = requests.get(f"{s.url}/odata/v1/Products", params={"$skip": "3", "$top": "1"}, timeout=5)
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "$skip"]
        backend = CdseOData(HttpClient(retries=0), base_url=s.url, page_size=1)
        backend.max_skip = 2
        from diapsar.download.query import SearchQuery
        from diapsar.download.query import parse_date as pd
        q = SearchQuery("S1", pd("2024-08-01", "d"), pd("2024-09-01", "f")).validate()
        found = backend.search(q).products
        assert [p.name for p in found] == names
        odata = [r for r in s.seen("/odata/v1/Products") if "$filter" in r["query"] or r["query"].get("$top") == "1"][1:]
        assert all(int(r["query"].get("$skip", "0")) <= 2 for r in odata)   # never asked beyond the limit
    finally:
        s.stop()


def test_top_above_limit_is_refused_by_server(svc):
    import requests

    r = requests.get(f"{svc.url}/odata/v1/Products", params={"$top": "1001"}, timeout=5)
    assert r.status_code == 422 and r.json()["detail"][0]["ctx"] == {"le": 1000}


# -- download ---------------------------------------------------------------------------------------------
def test_download_redirect_keeps_auth_and_verifies(svc, auth, tmp_path, capsys):
    svc.knobs.redirect_downloads = True
    code, out = run(capsys, *base_args(svc, auth, tmp_path, "-p", "SLC", "-o", "8", "--workers", "2",
                                       "--debug"))
    assert code == 0, out
    out_dir = tmp_path / "out"
    for name in NAMES[:2]:
        f = out_dir / f"{name}.zip"
        assert md5(f) == svc.product(name).md5
        assert zipfile.ZipFile(f).testzip() is None
    assert NAMES[3] in out  # the Paris product is on relative orbit 8 too (no area given)
    assert not list(out_dir.glob("*.part"))
    finals = [r for r in svc.seen("$value") if r["host"].startswith("localhost")]
    assert len(finals) == 3 and all(r["headers"]["authorization"].startswith("Bearer ") for r in finals)
    assert svc.password_grants == 1
    assert_no_secret(svc, out, (tmp_path / "search.json").read_text())


def test_truncated_then_resumed_and_flipped_then_redownloaded(svc, auth, tmp_path, capsys):
    p0, p1 = svc.product(NAMES[0]), svc.product(NAMES[1])
    svc.knobs.truncate[p0.id] = 1
    svc.knobs.flip[p1.id] = 1
    code, out = run(capsys, *base_args(svc, auth, tmp_path, "-p", "SLC", "--latmin", "43", "--latmax", "44",
                                       "--lonmin", "1", "--lonmax", "2"))
    assert code == 0, out
    assert md5(tmp_path / "out" / f"{NAMES[0]}.zip") == p0.md5
    assert md5(tmp_path / "out" / f"{NAMES[1]}.zip") == p1.md5
    resumed = [r for r in svc.seen(f"Products({p0.id})") if "range" in r["headers"]]
    assert len(resumed) == 1
    start = int(resumed[0]["headers"]["range"][6:-1])
    assert 0 < start <= len(p0.content) // 2
    assert len(svc.seen(f"Products({p1.id})")) == 2
    assert "checksum mismatch" in out.lower()


def test_corrupt_every_time_fails_with_nonzero_exit(svc, auth, tmp_path, capsys):
    p0 = svc.product(NAMES[0])
    svc.knobs.flip[p0.id] = 99
    code, out = run(capsys, *base_args(svc, auth, tmp_path, "-p", "SLC", "--lat", "43.5", "--lon", "1.5",
                                       "--retries", "2"))
    assert code == 1
    assert "failed" in out and "MD5 checksum mismatch" in out
    assert not (tmp_path / "out" / f"{NAMES[0]}.zip").exists()
    assert (tmp_path / "out" / f"{NAMES[1]}.zip").exists()      # the other product is fine
    assert len(svc.seen(f"Products({p0.id})")) == 3


def test_429_and_503_honour_retry_after():
    s = FakeServices([FakeProduct(NAMES[0], TOULOUSE)]).start()
    try:
        p = s.products[0]
        s.knobs.scripted[p.id] = [(429, 7), (503, 3)]
        delays: list[float] = []
        client = HttpClient(retries=3, sleep=delays.append)
        tok = CdseToken(client, f"{s.url}/auth/realms/CDSE/protocol/openid-connect/token",
                        Credentials(s.user, s.password))
        url = f"{s.url}/odata/v1/Products({p.id})/$value"
        r = client.request("GET", url, auth=tok)
        assert r.status_code == 200 and r.content == p.content
        assert delays == [7.0, 3.0]
        s.knobs.scripted[p.id] = [(503, None), (503, None)]
        delays.clear()
        client.request("GET", url, auth=tok)
        assert delays == [1.0, 2.0]          # exponential backoff without Retry-After
        s.knobs.scripted[p.id] = [(429, 5)] * 5
        capped = HttpClient(retries=2, max_sleep=0.01)
        t0 = time.monotonic()
        r = capped.request("GET", url, auth=tok)
        assert r.status_code == 429 and time.monotonic() - t0 < 1.0
    finally:
        s.stop()


def test_rate_limited_download_succeeds(svc, auth, tmp_path, capsys):
    p0 = svc.product(NAMES[0])
    svc.knobs.scripted[p0.id] = [(429, 1), (503, 1)]
    code, out = run(capsys, *base_args(svc, auth, tmp_path, "-p", "SLC", "--lat", "43.5", "--lon", "1.5",
                                       "--max-results", "1"))
    assert code == 0, out
    assert md5(tmp_path / "out" / f"{NAMES[0]}.zip") == p0.md5


def test_offline_product_polled_until_online(svc, auth, tmp_path, capsys):
    p0 = svc.product(NAMES[0])
    p0.online = False
    svc.knobs.offline_polls[p0.id] = 2
    code, out = run(capsys, *base_args(svc, auth, tmp_path, "-p", "SLC", "--lat", "43.5", "--lon", "1.5",
                                       "-n"))
    assert "offline" in out
    code, out = run(capsys, *base_args(svc, auth, tmp_path, "-p", "SLC", "--lat", "43.5", "--lon", "1.5",
                                       "--timeout", "10"))
    assert code == 0, out
    assert md5(tmp_path / "out" / f"{NAMES[0]}.zip") == p0.md5
    assert len(svc.seen(f"Products({p0.id})")) == 3              # 202, 202, 200


def test_offline_product_refused_with_4xx_is_polled_too(svc, auth, tmp_path, capsys):
    p0 = svc.product(NAMES[0])
    p0.online = False
    svc.knobs.offline_status = 422
    svc.knobs.offline_polls[p0.id] = 1
    code, out = run(capsys, *base_args(svc, auth, tmp_path, "-p", "SLC", "--lat", "43.5", "--lon", "1.5",
                                       "--timeout", "10", "--max-results", "1"))
    assert code == 0, out
    assert md5(tmp_path / "out" / f"{NAMES[0]}.zip") == p0.md5
    assert len(svc.seen(f"Products({p0.id})")) == 2


def test_offline_product_reported_pending_after_timeout(svc, auth, tmp_path, capsys):
    p0 = svc.product(NAMES[0])
    p0.online = False                                             # never comes online
    t0 = time.monotonic()
    code, out = run(capsys, *base_args(svc, auth, tmp_path, "-p", "SLC", "--lat", "43.5", "--lon", "1.5",
                                       "--timeout", "0.3"))
    assert time.monotonic() - t0 < 10
    assert code == 4
    assert "pending" in out and NAMES[0] in out
    assert (tmp_path / "out" / f"{NAMES[1]}.zip").exists()


def test_expired_token_refreshed_once(svc, auth, tmp_path, capsys):
    svc.knobs.expire_next_downloads = 1
    code, out = run(capsys, *base_args(svc, auth, tmp_path, "-p", "SLC", "--lat", "43.5", "--lon", "1.5",
                                       "--max-results", "1"))
    assert code == 0, out
    assert svc.password_grants == 1 and svc.refresh_grants == 1
    assert_no_secret(svc, out)


def test_token_refreshed_before_expiry(svc):
    svc.knobs.token_expires_in = 1
    tok = CdseToken(HttpClient(retries=0), f"{svc.url}/auth/realms/CDSE/protocol/openid-connect/token",
                    Credentials(svc.user, svc.password))
    a = tok.token()
    assert tok.token() == a                                       # reused while valid
    time.sleep(0.8)                                               # 1 s token, renewed 0.25 s before expiry
    b = tok.token()
    assert b != a and svc.password_grants == 1 and svc.refresh_grants == 1
    assert svc.password not in repr(tok.creds)


def test_existing_file_skipped_only_when_valid(svc, auth, tmp_path, capsys):
    args = base_args(svc, auth, tmp_path, "-p", "SLC", "--lat", "43.5", "--lon", "1.5")
    assert run(capsys, *args)[0] == 0
    n = len(svc.seen("$value"))
    code, out = run(capsys, *args)
    assert code == 0 and "already downloaded" in out and len(svc.seen("$value")) == n
    f = tmp_path / "out" / f"{NAMES[0]}.zip"
    f.write_bytes(f.read_bytes()[:1000])                          # damaged file of the same name
    code, out = run(capsys, *args)
    assert code == 0 and md5(f) == svc.product(NAMES[0]).md5
    assert len(svc.seen("$value")) == n + 1


@pytest.mark.parametrize("mode,expect_range_ok", [("support", True), ("ignore", False), ("inconsistent", False),
                                                  ("reject", False)])
def test_resume_only_with_consistent_206(svc, auth, tmp_path, capsys, mode, expect_range_ok):
    p0 = svc.product(NAMES[0])
    svc.knobs.range_mode = mode
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / f"{NAMES[0]}.zip.part").write_bytes(p0.content[:50_000])
    code, out = run(capsys, *base_args(svc, auth, tmp_path, "-p", "SLC", "--lat", "43.5", "--lon", "1.5",
                                       "--max-results", "1"))
    assert code == 0, out
    assert md5(out_dir / f"{NAMES[0]}.zip") == p0.md5
    reqs = svc.seen(f"Products({p0.id})")
    assert reqs[0]["headers"].get("range") == "bytes=50000-"
    assert len(reqs) == (1 if expect_range_ok else 2 if mode != "ignore" else 1)
    assert not list(out_dir.glob("*.part"))


def test_extract_is_safe(svc, auth, tmp_path, capsys):
    code, out = run(capsys, *base_args(svc, auth, tmp_path, "-p", "SLC", "--lat", "43.5", "--lon", "1.5",
                                       "--max-results", "1", "-x"))
    assert code == 0, out
    safe = tmp_path / "out" / f"{NAMES[0]}.SAFE"
    assert (safe / "manifest.safe").is_file() and not (tmp_path / "out" / f"{NAMES[0]}.zip").exists()
    code, out = run(capsys, *base_args(svc, auth, tmp_path, "-p", "SLC", "--lat", "43.5", "--lon", "1.5",
                                       "--max-results", "1", "-x"))
    assert code == 0 and "already extracted" in out
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("ok.SAFE/manifest.safe", "x")
        zf.writestr("../../escaped.txt", "x")
    with pytest.raises(ProductError, match="outside"):
        safe_extract(evil, tmp_path / "target")
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "target" / "ok.SAFE").exists()
    link = tmp_path / "link.zip"
    with zipfile.ZipFile(link, "w") as zf:
        info = zipfile.ZipInfo("ok.SAFE/measurement")
        info.external_attr = (0o120777 << 16)  # a symbolic link member
        zf.writestr(info, "/etc")
    with pytest.raises(ProductError, match="symbolic link"):
        safe_extract(link, tmp_path / "target")


def test_failed_extraction_leaves_no_partial_safe(tmp_path):
    """A member failing its CRC after manifest.safe was written: no .SAFE appears (a later run would take
    it for a complete product); an earlier partial copy is replaced by a complete extraction."""
    name = "S1A_IW_SLC__1SDV_20240802T060719_20240802T060746_055030_06B44E_E7CC"
    good = tmp_path / "good.zip"
    good.write_bytes(make_safe_zip(name, 5000))
    data = bytearray(good.read_bytes())
    with zipfile.ZipFile(good) as zf:
        info = zf.getinfo(f"{name}.SAFE/measurement/data.bin")
    # stored member: data start = local header (30 bytes) + name + extra field
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[start + 100] ^= 0xFF
    bad = tmp_path / "bad.zip"
    bad.write_bytes(bytes(data))
    target = tmp_path / "target"
    with pytest.raises(ProductError, match="not a valid zip"):
        safe_extract(bad, target)
    assert sorted(target.iterdir()) == []                      # neither the .SAFE nor the staging folder
    partial = target / f"{name}.SAFE"
    partial.mkdir()
    (partial / "stale.txt").write_text("left by an older tool")
    tops = safe_extract(good, target)
    assert tops == [partial] and (partial / "manifest.safe").is_file()
    assert not (partial / "stale.txt").exists() and sorted(p.name for p in target.iterdir()) == [partial.name]


def test_workers_capped_at_four(tmp_path, capsys):
    names = [f"S1A_IW_SLC__1SDV_202408{d:02d}T060719_202408{d:02d}T060746_{55030 + d:06d}_06B44E_{d:04X}"
             for d in range(1, 7)]
    s = FakeServices([FakeProduct(n, TOULOUSE, content=make_safe_zip(n, 400_000)) for n in names]).start()
    try:
        a = tmp_path / "a.txt"
        a.write_text(f"{s.user} {s.password}")
        code, out = run(capsys, *base_args(s, a, tmp_path, "--workers", "8"))
        assert code == 0, out
        assert "allows 4 parallel downloads" in out
        assert 1 <= s.max_active_seen <= 4
        assert len(list((tmp_path / "out").glob("*.zip"))) == 6
    finally:
        s.stop()


def test_checksum_missing_and_zero_length_still_verified_by_zip(tmp_path, capsys):
    s = FakeServices([FakeProduct(NAMES[0], TOULOUSE, checksum=False, content_length=False)]).start()
    try:
        a = tmp_path / "a.txt"
        a.write_text(f"{s.user} {s.password}")
        s.knobs.flip[s.products[0].id] = 1
        code, out = run(capsys, *base_args(s, a, tmp_path))
        assert code == 0, out
        assert md5(tmp_path / "out" / f"{NAMES[0]}.zip") == s.products[0].md5
        assert len(s.seen("$value")) == 2                          # the flipped copy failed the zip CRC check
    finally:
        s.stop()


# -- errors: one line, no traceback, no secret ---------------------------------------------------------------
def test_bad_credentials_one_line_no_secret(svc, tmp_path, capsys):
    bad = tmp_path / "bad.txt"
    bad.write_text(f"{svc.user} wrong-{svc.password}\n")
    code, out = run(capsys, *base_args(svc, bad, tmp_path, "-p", "SLC", "--lat", "43.5", "--lon", "1.5"))
    assert code == 1
    assert "login refused" in out and "Invalid user credentials" in out
    assert "wrong-" not in out
    assert_no_secret(svc, out)


@pytest.mark.parametrize("extra,message", [
    (["-d", "2024-02-30"], "is not a date"),
    (["-c", "S7"], "unknown collection"),
    (["-a", "/nonexistent/auth.txt"], "auth file"),
    (["--lat", "43"], "needs both --lat and --lon"),
    (["-t", "31TCJ"], "Sentinel-2"),
    (["--bursts", "abc"], "BURST_ID"),
])
def test_bad_input_one_line(svc, auth, tmp_path, capsys, extra, message):
    code, out = run(capsys, *base_args(svc, auth, tmp_path), *extra)
    assert code != 0
    assert message in out and "Traceback" not in out
    assert len([ln for ln in out.splitlines() if "error" in ln]) == 1


def test_unreachable_server(auth, tmp_path, capsys):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code, out = run(capsys, "-c", "S1", "--base-url", f"http://127.0.0.1:{port}", "-d", "2024-08-01", "-a", auth,
                    "--retries", "1", "--max-sleep", "0.01", "--json", tmp_path / "s.json", "-n")
    assert code == 1
    assert "cannot reach 127.0.0.1" in out and "Traceback" not in out


def test_refused_connection_gives_up_after_short_backoff():
    """A closed port is not retried on the full schedule (5 retries would wait 1+2+4+8+16 s)."""
    import socket

    from diapsar.errors import DownloadError

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    waits: list[float] = []
    client = HttpClient(retries=5, sleep=waits.append)
    with pytest.raises(DownloadError, match="connection refused.*after 3 attempts"):
        client.request("GET", f"http://127.0.0.1:{port}/odata/v1/Products")
    assert waits == [1.0, 2.0]


def test_backoff_doubles_and_retry_after_is_bounded():
    c = HttpClient()
    assert [c.backoff(i) for i in range(8)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert c.backoff(0, 7.0) == 7.0 and c.backoff(3, 3600.0) == 300.0


def test_script_runs_from_checkout(svc, auth, tmp_path):
    cmd = [sys.executable, "peps_download.py", *map(str, base_args(svc, auth, tmp_path, "-p", "SLC", "-n"))]
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert NAMES[0] in r.stdout
    r = subprocess.run([sys.executable, "peps_download.py"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "usage" in r.stderr and "Traceback" not in r.stderr


def test_credentials_from_netrc_and_environment(svc, tmp_path, capsys, monkeypatch):
    netrc = tmp_path / "netrc"
    netrc.write_text(f'machine identity.dataspace.copernicus.eu login {svc.user} password "{svc.password}"\n')
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    for var in ("CDSE_USERNAME", "CDSE_PASSWORD", "DIAPSAR_USERNAME", "DIAPSAR_PASSWORD"):
        monkeypatch.delenv(var, raising=False)
    args = [a for a in base_args(svc, "x", tmp_path, "-p", "SLC", "--lat", "43.5", "--lon", "1.5",
                                 "--max-results", "1") if a not in ("-a", "x")]
    code, out = run(capsys, *args)
    assert code == 0, out
    monkeypatch.setenv("NETRC", str(tmp_path / "none"))
    monkeypatch.setenv("CDSE_USERNAME", svc.user)
    monkeypatch.setenv("CDSE_PASSWORD", svc.password)
    (tmp_path / "out" / f"{NAMES[0]}.zip").unlink()
    code, out = run(capsys, *args)
    assert code == 0, out
    assert_no_secret(svc, out)


# -- other backends -----------------------------------------------------------------------------------------
def test_opensearch_backend(svc, auth, tmp_path, capsys):
    svc.knobs.redirect_downloads = True
    code, out = run(capsys, *base_args(svc, auth, tmp_path, "--backend", "cdse-opensearch", "-p", "SLC", "-m",
                                       "IW", "--latmin", "43", "--latmax", "44", "--lonmin", "1", "--lonmax", "2",
                                       "--page-size", "1"))
    assert code == 0, out
    first = svc.seen("/resto/api/collections/SENTINEL-1/search.json")[0]["query"]
    assert first["productType"] == "IW_SLC__1S" and first["box"].startswith("1.0")
    for name in NAMES[:2]:
        assert md5(tmp_path / "out" / f"{name}.zip") == svc.product(name).md5
    assert len(svc.seen("/download/")) == 4                       # redirect + final for each product


def test_location_is_geocoded(svc, auth, tmp_path, capsys):
    code, out = run(capsys, *base_args(svc, auth, tmp_path, "-l", "Toulouse", "-p", "SLC", "-n"))
    assert code == 0, out
    assert NAMES[0] in out and NAMES[3] not in out
    assert svc.seen("/search")[0]["query"]["q"] == "Toulouse"


def test_legacy_resto_tape_staging_disk(tmp_path, capsys):
    s = FakeServices([FakeProduct(NAMES[0], TOULOUSE, storage="tape"), FakeProduct(NAMES[1], TOULOUSE)],
                     flavour="peps").start()
    try:
        a = tmp_path / "a.txt"
        a.write_text(f"{s.user} {s.password}")
        code, out = run(capsys, *base_args(s, a, tmp_path, "--backend", "resto", "-p", "SLC", "-l", "toulouse",
                                           "--timeout", "10"))
        assert code == 0, out
        for n in NAMES[:2]:
            assert md5(tmp_path / "out" / f"{n}.zip") == s.product(n).md5
        searches = s.seen("/resto/api/collections/S1/search.json")
        assert searches[0]["query"]["q"] == "toulouse" and len(searches) >= 3   # search, staging, disk
        assert s.products[0].storage == "disk"
        assert_no_secret(s, out)
        s.knobs.peps_quota = True
        for n in NAMES[:2]:
            (tmp_path / "out" / f"{n}.zip").unlink()
        code, out = run(capsys, *base_args(s, a, tmp_path, "--backend", "resto", "-p", "SLC", "--retries", "0"))
        assert code == 1 and "download quota exceeded" in out
        assert not list((tmp_path / "out").glob("*.zip*"))
    finally:
        s.stop()


def test_geodes_backend_with_api_key(tmp_path, capsys):
    s = FakeServices([FakeProduct(NAMES[0], TOULOUSE), FakeProduct(NAMES[2], TOULOUSE)],
                     password="geodes-api-key-123456").start()
    try:
        a = tmp_path / "key.txt"
        a.write_text("geodes-api-key-123456\n")
        code, out = run(capsys, *base_args(s, a, tmp_path, "--backend", "geodes", "-p", "SLC", "--latmin", "43",
                                           "--latmax", "44", "--lonmin", "1", "--lonmax", "2"))
        assert code == 0, out
        assert md5(tmp_path / "out" / f"{NAMES[0]}.zip") == s.product(NAMES[0]).md5
        body = json.loads(s.seen("/api/stac/search")[0]["body"])
        assert body["collections"] == ["PEPS_S1_L1"] and body["limit"] <= 80
        assert s.seen("/api/download/")[0]["headers"]["x-api-key"] == s.password
        assert_no_secret(s, out)
    finally:
        s.stop()


def test_burst_extraction(svc, auth, tmp_path, capsys):
    b = svc.add_burst(15805, "IW1", svc.product(NAMES[0]))
    svc.add_burst(15805, "IW2", svc.product(NAMES[0]))
    svc.add_burst(15806, "IW1", svc.product(NAMES[1]))
    svc.knobs.redirect_downloads = True
    code, out = run(capsys, *base_args(svc, auth, tmp_path, "--bursts", "15805:IW1"))
    assert code == 0, out
    f = tmp_path / "out" / f"{b['Name']}.zip"
    assert f.read_bytes() == svc.burst_content[b["Id"]]
    posts = svc.seen("/odata/v1/Bursts(", "POST")
    assert len(posts) == 2 and posts[1]["host"].startswith("localhost")
    assert posts[1]["headers"]["authorization"].startswith("Bearer ")
    flt = svc.seen("/odata/v1/Bursts", "GET")[0]["query"]["$filter"]
    assert "BurstId eq 15805" in flt and "SwathIdentifier eq 'IW1'" in flt


def test_sentinel2_filters_are_built_for_odata():
    from diapsar.download.query import SearchQuery
    from diapsar.download.query import parse_date as pd

    q = SearchQuery("S2", pd("2024-08-01", "d"), pd("2024-08-10", "f"), product_type="S2MSI1C", tile="T31TCJ",
                    max_cloud=20, satellite="S2B").validate()
    f = CdseOData(HttpClient(retries=0)).filters(q)
    assert "Collection/Name eq 'SENTINEL-2'" in f
    assert "contains(Name,'_T31TCJ_')" in f and "startswith(Name,'S2B_')" in f
    assert any("'productType'" in c and "Value eq 'S2MSI1C'" in c for c in f)
    assert any("'cloudCover'" in c and "DoubleAttribute/Value le 20.00" in c for c in f)
    # the fake server's filter grammar accepts every clause the client builds
    from fake_services import odata_predicate
    odata_predicate(" and ".join(f))


def test_base_url_rewrite_and_redirect_trust():
    from diapsar.download.backends import make_backend
    from diapsar.download.http import rewrite_base

    b = make_backend("cdse", HttpClient(retries=0), base_url="http://127.0.0.1:8080/")
    assert b.url("token") == "http://127.0.0.1:8080/auth/realms/CDSE/protocol/openid-connect/token"
    assert b.url("search") == "http://127.0.0.1:8080/odata/v1/Products"
    assert b.url("download", id="abc") == "http://127.0.0.1:8080/odata/v1/Products(abc)/$value"
    assert rewrite_base("https://catalogue.dataspace.copernicus.eu/download/x?a=1", "http://m.org/p") == \
        "http://m.org/p/download/x?a=1"
    c = make_backend("cdse", HttpClient(retries=0)).client
    assert c.trusted("https://catalogue.dataspace.copernicus.eu/a", "https://download.dataspace.copernicus.eu/b")
    assert not c.trusted("https://catalogue.dataspace.copernicus.eu/a", "https://evil.example.com/b")
    assert not c.trusted("https://catalogue.dataspace.copernicus.eu/a", "http://download.dataspace.copernicus.eu/b")
    assert not c.trusted("https://catalogue.dataspace.copernicus.eu/a", "https://dataspace.copernicus.eu.evil.io/")
    assert c.trusted("http://127.0.0.1:80/a", "http://localhost:80/b")
    assert not c.trusted("http://127.0.0.1:80/a", "http://localhost:81/b")


def test_satellite_filter_and_s1c_relative_orbit(svc, auth, tmp_path, capsys):
    code, out = run(capsys, *base_args(svc, auth, tmp_path, "--sat", "S1C", "-n", "--windows"))
    assert code == 0, out
    rows = [ln for ln in out.splitlines() if ln.startswith("S1")]
    assert len(rows) == 1 and rows[0].startswith(NAMES[4]) and rows[0].rstrip().endswith(" 111")
    assert "startswith(Name,'S1C_')" in svc.seen("/odata/v1/Products")[0]["query"]["$filter"]
    code, out = run(capsys, *base_args(svc, auth, tmp_path, "--sat", "S2A", "-n"))
    assert code == 1 and "does not belong to collection S1" in out


def test_progress_bars_when_asked(svc, auth, tmp_path, capsys):
    from diapsar.download.backends import make_backend
    from diapsar.download.manager import DownloadManager, DownloadOptions
    from diapsar.download.query import SearchQuery
    from diapsar.download.query import parse_date as pd
    from diapsar.log import setup_logging

    setup_logging(None)  # log to this test's stderr
    b = make_backend("cdse", HttpClient(retries=0), base_url=svc.url, auth_file=str(auth))
    q = SearchQuery("S1", pd("2024-08-01", "d"), pd("2024-08-03", "f"), product_type="SLC").validate()
    products = b.search(q).products
    assert [p.name for p in products] == [NAMES[0]]
    outcomes = DownloadManager(b, DownloadOptions(tmp_path, workers=1, progress=True)).run(products)
    assert [o.status for o in outcomes] == ["downloaded"]
    err = capsys.readouterr().err
    assert "B/s" in err or "kB" in err, err
    assert_no_secret(svc, err[err.find(NAMES[0][:20]):])
