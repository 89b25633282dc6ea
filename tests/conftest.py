"""Shared fixtures: the real Sentinel-1 material in ../shared/data/s1 (never copied into the repo)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    return Path(os.environ.get("DIAPSAR_TEST_DATA", REPO.parent / "shared" / "data" / "s1")).resolve()


@pytest.fixture(autouse=True)
def _fresh_diapsar_logger():
    """Each test starts with the ``diapsar`` logger as a new process has it: a test that ran a command in-process
    left handlers on the stderr pytest had captured for it (closed since) and propagation off, which hid the log
    records of later tests from ``caplog``, depending on the order tests run in."""
    import logging

    yield
    logger = logging.getLogger("diapsar")
    for h in list(logger.handlers):
        logger.removeHandler(h)
        h.close()
    logger.propagate = True
    logger.setLevel(logging.NOTSET)


@pytest.fixture(scope="session")
def s1_data() -> Path:
    """Folder of real Sentinel-1 test material; the test is skipped (with the reason) when absent."""
    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"real Sentinel-1 test data not found at {path} (set DIAPSAR_TEST_DATA)")
    return path


# ---- headless Chromium (Debian package chromium; .ci/run installs it)
def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


def chromium_run(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
           "--no-first-run", "--no-default-browser-check", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--disable-extensions", "--mute-audio",
           f"--user-data-dir={profile}", *args]
    env = dict(os.environ, HOME=str(profile))
    return subprocess.run(cmd, capture_output=True, text=True, timeout=90, env=env)


def loaded_image_counts(browser: str, profile: Path, index: Path) -> tuple[int, int]:
    """(images on the page, images that failed to load), as counted by the report's own page script."""
    res = chromium_run(browser, profile, "--virtual-time-budget=5000", "--dump-dom", index.as_uri())
    assert res.returncode == 0, res.stderr[-2000:]
    m_total = re.search(r'data-images-total="(\d+)"', res.stdout)
    m_broken = re.search(r'data-broken-images="(\d+)"', res.stdout)
    assert m_total and m_broken, "the page script did not run: " + res.stdout[:500]
    return int(m_total.group(1)), int(m_broken.group(1))


@pytest.fixture(scope="session")
def browser():
    """Path of a Chromium executable; the test is skipped, with the reason, when none is installed."""
    path = _chromium()
    if path is None:
        pytest.skip("no Chromium installed (apt-get install chromium): headless report test not run")
    return path
