"""The chain under its memory budget (-ram): steps stream their inputs by strips, the block budget leaves room
for what the run holds from start to end (GDAL's block cache, the scene DEM)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio

from diapsar.cartesian_mean import add_post_count, post_mean
from diapsar.dem_projection import DemProjection

pytestmark = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")


def test_post_count_by_strips_equals_post_mean():
    rng = np.random.default_rng(5)
    n = 20000
    line = rng.uniform(-20, 320, n)
    pixel = rng.uniform(-20, 260, n)
    line[::97] = np.nan
    pixel[::89] = np.nan
    shape, ml_azi, ml_ran, l0, s0 = (90, 70), 3, 3, 12, 9
    _, ref = post_mean(DemProjection(line=line, pixel=pixel, xyz=np.empty((0,))), shape, ml_azi, ml_ran, l0, s0)
    count = np.zeros(shape, dtype=np.int32)
    for a in range(0, n, 3001):  # strips of posts, float32 as in dem_projection.tif
        add_post_count(line[a:a + 3001].astype(np.float32), pixel[a:a + 3001].astype(np.float32), count, ml_azi,
                       ml_ran, l0, s0)
    assert count.sum() > 0.5 * n * 0.7  # most posts fall inside
    # float32 rounding can move a post lying on a cell border (none at these random positions)
    np.testing.assert_array_equal(count, ref)


def test_block_budget_leaves_room_for_held_arrays():
    from diapsar.chains.context import RunContext, gdal_cache_mb
    from diapsar.chains.demo import demo_config
    from diapsar.config import from_dict
    from diapsar.io.dem import Dem

    def config(ram_mb):
        return from_dict(demo_config(Path("in"), Path("out"), ram_mb=ram_mb))

    assert gdal_cache_mb(64) == 16 and gdal_cache_mb(2000) == 125 and gdal_cache_mb(100000) == 256
    ctx = RunContext(cfg=config(2000), out=None, master=None, window=None)
    assert ctx.ram_mb == pytest.approx(2000 - 125)
    ctx.dem = Dem(np.zeros((1024, 2048)), (0, 1, 0, 0, 0, -1))  # 16 MB of float64
    assert ctx.ram_mb == pytest.approx(2000 - 125 - 16)
    ctx.cfg = config(64)
    ctx.dem = Dem(np.zeros((4096, 4096)), (0, 1, 0, 0, 0, -1))  # 128 MB: more than the budget
    assert ctx.ram_mb == pytest.approx(16)  # a quarter of -ram at least


def test_cartesian_mean_streams_the_dem_projection(tmp_path, monkeypatch):
    """Master steps run with tiny strips: the DEM projection is read strip by strip (never whole) and the
    post count of cartesian_mean.tif equals DiapOTB's estimator on the whole projection."""
    from diapsar import layout
    from diapsar.chains import context, master_steps
    from diapsar.chains.demo import demo_config
    from diapsar.config import from_dict
    from diapsar.io import stack
    from diapsar.io.raster import raster_shape
    from diapsar.simulate.api import simulate_stack

    simulate_stack(tmp_path / "input", mode="sm", dates=2, size=(240, 200), seed=2)
    cfg = from_dict(demo_config(tmp_path / "input", tmp_path / "out", ram_mb=64))
    sel = stack.select(stack.scan(cfg.inputs.input_path), mode="SM", polarisation="VV")
    master = context.open_acquisition(sel.master)
    win = context.master_window(cfg, master)
    out = tmp_path / "out"
    ctx = context.RunContext(cfg=cfg, out=out, master=master, window=win)
    mdir = ctx.master_dir
    unit = ctx.master_unit()
    master_steps.scene_dem(ctx, unit)
    master_steps.dem_projection(ctx, unit)
    _, ny, nx = raster_shape(mdir / layout.DEM_PROJECTION)
    reads = []
    real_read = master_steps.read_raster

    def spy(path, bands=None, rows=None, cols=None):
        if str(path).endswith(layout.DEM_PROJECTION):
            reads.append(rows)
        return real_read(path, bands, rows=rows, cols=cols)

    monkeypatch.setattr(master_steps, "read_raster", spy)
    monkeypatch.setattr(master_steps, "rows_per_block", lambda *a, **k: 7)
    master_steps.cartesian_mean(ctx, unit)
    assert len(reads) == -(-ny // 7) and all(r is not None and r[1] - r[0] <= 7 for r in reads)
    with rasterio.open(mdir / layout.DEM_PROJECTION) as ds:
        proj = ds.read([1, 2])
    with rasterio.open(mdir / layout.CARTESIAN_MEAN) as ds:
        assert ds.count == 4 and ds.descriptions == ("X", "Y", "Z", "isData")
    with rasterio.open(mdir / layout.CM_COUNT) as ds:
        count = ds.read(1)
    _, ref = post_mean(DemProjection(line=proj[1], pixel=proj[0], xyz=np.empty((0,))), win.ml_shape, win.ml_azi,
                       win.ml_ran, win.line0, win.sample0)
    assert ref.sum() > 0
    np.testing.assert_array_equal(count, ref)
    master.product.close()
