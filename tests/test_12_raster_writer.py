"""io.raster.BlockWriter: row blocks of any height reach GDAL as whole rows of tiles, so that each tile of a
compressed GeoTIFF is compressed and written once (no dead copies in the file), with the values written."""

from __future__ import annotations

import os

import numpy as np
import pytest
import rasterio

from diapsar.io.raster import BlockWriter, open_writer

pytestmark = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")


def _tile_bytes(path) -> int:
    with rasterio.open(path) as ds:
        return sum(ds.block_size(1, *ij) for ij, _ in ds.block_windows(1))


def _noise(rng, shape):
    return rng.standard_normal(shape).astype(np.float32)


def _write_interleaved(path, data, blocks, other, keep_rows):
    """Write ``data`` by the row ``blocks`` while reading the whole of ``other`` between blocks, in a 1 MB GDAL
    cache (what a chain step does: the interferogram written while the SLCs are read)."""
    with rasterio.Env(GDAL_CACHEMAX=1), rasterio.open(other) as src:
        with open_writer(path, data.shape[2], data.shape[1], data.shape[0], "float32") as w:
            for r0, r1 in blocks:
                if keep_rows:
                    w.write(r0, data[:, r0:r1])
                else:
                    BlockWriter._put(w, r0, data[:, r0:r1])
                src.read()


def test_blocks_reach_gdal_as_whole_tile_rows(tmp_path):
    rng = np.random.default_rng(3)
    data = _noise(rng, (4, 700, 600))
    other = tmp_path / "other.tif"
    with open_writer(other, 600, 1200, 4, "float32") as w:
        w.write(0, _noise(rng, (4, 1200, 600)))
    blocks = [(0, 100), (100, 300), (300, 310), (310, 650), (650, 700)]
    kept, direct = tmp_path / "kept.tif", tmp_path / "direct.tif"
    _write_interleaved(kept, data, blocks, other, keep_rows=True)
    _write_interleaved(direct, data, blocks, other, keep_rows=False)
    for p in (kept, direct):
        with rasterio.open(p) as ds:
            np.testing.assert_array_equal(ds.read(), data)
    dead_kept = os.path.getsize(kept) - _tile_bytes(kept)
    dead_direct = os.path.getsize(direct) - _tile_bytes(direct)
    print(f"dead bytes: kept rows {dead_kept}, blocks as they come {dead_direct} (file {os.path.getsize(direct)})")
    assert dead_kept < 0.02 * os.path.getsize(kept)  # header and GCP/tag space only
    assert dead_direct > 0.2 * os.path.getsize(direct)  # the failure the writer prevents does happen here


def test_out_of_order_and_overlapping_blocks_keep_the_last_values(tmp_path):
    rng = np.random.default_rng(4)
    first, second = _noise(rng, (300, 260)), _noise(rng, (300, 260))
    path = tmp_path / "x.tif"
    with open_writer(path, 260, 300, 1, "float32") as w:
        w.write(0, first[:100])
        w.write(100, first[100:270])   # ends inside the second tile row: rows 256..269 kept
        w.write(50, second[50:120])    # goes back: the kept rows are written first, then these
        w.write(270, first[270:])
    with rasterio.open(path) as ds:
        got = ds.read(1)
    want = first.copy()
    want[50:120] = second[50:120]
    np.testing.assert_array_equal(got, want)


def test_an_error_in_the_body_writes_nothing(tmp_path):
    path = tmp_path / "y.tif"
    try:
        with open_writer(path, 300, 300, 1, "float32") as w:
            w.write(0, np.ones((100, 300), np.float32))
            raise RuntimeError("stop")
    except RuntimeError:
        pass
    assert not path.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".y.tif")]
