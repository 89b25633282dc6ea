"""Shared fixtures: the real Sentinel-1 material in ../shared/data/s1 (never copied into the repo)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    return Path(os.environ.get("DIAPSAR_TEST_DATA", REPO.parent / "shared" / "data" / "s1")).resolve()


@pytest.fixture(scope="session")
def s1_data() -> Path:
    """Folder of real Sentinel-1 test material; the test is skipped (with the reason) when absent."""
    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"real Sentinel-1 test data not found at {path} (set DIAPSAR_TEST_DATA)")
    return path
