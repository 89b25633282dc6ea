"""``diapsar info``: sizes labelled lines x samples; zero-filled or constant measurements said so (sampled)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio

from diapsar.cli import main

S3_SM = "format_coverage/S1A_S3_SLC__1SDV_20210401T152855_20210401T152914_037258_04638E_6001.SAFE"
MOROCCO = "morocco_iw_pair_20230904_20230916"


def _info(capsys, path: Path, as_json: bool = False):
    assert main(["info", str(path)] + (["--json"] if as_json else [])) == 0
    out = capsys.readouterr().out
    return json.loads(out) if as_json else out


def test_all_zero_iw_product_is_called_so(s1_data, capsys):
    safe = next((s1_data / MOROCCO).glob("S1A_IW_SLC__1SDV_20230904*.SAFE"))
    text = _info(capsys, safe)
    iw1 = next(line for line in text.splitlines() if line.strip().startswith("IW1  VV"))
    assert "13563 lines x 23055 samples" in iw1
    assert "pixels: all zero in 16 sampled lines (metadata-only product?)" in iw1
    assert "pixels yes" not in text and "pixels: yes" not in text
    assert "(size in lines x samples)" in text
    im = _info(capsys, safe, as_json=True)["images"][0]
    assert (im["lines"], im["samples"]) == (13563, 23055)  # keys kept
    assert im["pixels"] is True and im["pixels_content"] == "all zero" and im["pixels_sampled_lines"] == 16


def _small_safe(s1_data, tmp_path: Path, capsys) -> tuple[Path, Path]:
    """A 30-line x 40-sample crop of the S3 product (its TIFF holds a synthetic constant)."""
    tif = next((s1_data / S3_SM / "measurement").glob("*.tiff"))
    assert main(["crop", str(tif), "--window", "10", "20", "30", "40", "--out", str(tmp_path)]) == 0
    capsys.readouterr()
    safe = next(tmp_path.glob("*.SAFE"))
    return safe, next((safe / "measurement").glob("*.tiff"))


def _rewrite(tif: Path, values: np.ndarray) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with rasterio.open(tif, "r+") as ds:
            ds.write(values, 1)  # complex64 into the CInt16 TIFF


@pytest.mark.parametrize("fill, expect, content", [
    ("random", "pixels: yes", "varying"),
    ("zero", "pixels: all zero in 16 sampled lines (metadata-only product?)", "all zero"),
    ("constant", "pixels: constant 3-2j in 16 sampled lines (synthetic?)", "constant"),
    ("one_line", "pixels: yes", "varying"),   # a single non-zero sample on a sampled line (the last one)
])
def test_pixels_content_of_a_small_product(s1_data, tmp_path, capsys, fill, expect, content):
    safe, tif = _small_safe(s1_data, tmp_path, capsys)
    rng = np.random.default_rng(1)
    values = {"random": rng.integers(-50, 50, (30, 40)) + 1j * rng.integers(-50, 50, (30, 40)),
              "zero": np.zeros((30, 40)), "constant": np.full((30, 40), 3 - 2j), "one_line": np.zeros((30, 40))}[fill]
    if fill == "one_line":
        values[29, 39] = 5
    _rewrite(tif, np.asarray(values, np.complex64))
    text = _info(capsys, safe)
    line = next(x for x in text.splitlines() if x.strip().startswith("S3   VH"))
    assert "30 lines x 40 samples" in line and expect in line
    im = _info(capsys, safe, as_json=True)["images"][0]
    assert im["pixels_content"] == content
    if content == "constant":
        assert im["pixels_constant_value"] == [3.0, -2.0]
