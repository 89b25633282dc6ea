"""What every step of a chain is given: the run context (configuration, master, window, DEM, output layout) and
the unit it runs on (the master, or one master/slave pair; a burst of a pair for the IW chain)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from rasterio.control import GroundControlPoint

from .. import layout
from ..config import MultiSlcConfig
from ..errors import DiapsarError, OutputError, ProductError, SelectionError
from ..io.dem import Dem
from ..io.stack import Image
from ..io.window import Window
from ..metadata import SwathMetadata
from ..orbit import Orbit

if TYPE_CHECKING:
    from ..io.safe import Product
    from ..ortho import OrthoGrid


@dataclass
class Acquisition:
    """One opened image: its datalake entry, product reader, metadata and orbit."""

    image: Image
    product: Product
    meta: SwathMetadata
    orbit: Orbit

    @property
    def date(self) -> str:
        return self.image.date

    def read(self, window: Window) -> np.ndarray:
        """Complex pixels of ``window`` of the image."""
        return np.asarray(self.product.read(self.meta.swath, self.meta.polarisation, window.line0, window.sample0,
                                            window.n_lines, window.n_samples))

    def close(self) -> None:
        self.product.close()


def open_acquisition(image: Image) -> Acquisition:
    """Open an image of the stack (ProductError naming the product when it cannot be read)."""
    from ..io.safe import open_product

    try:
        product = open_product(image.product_path)
        meta = product.swath(image.swath, image.polarisation)
    except (OSError, ValueError) as exc:
        raise ProductError(f"{image.product_path}: unreadable product ({exc})") from None
    if not product.has_pixels(image.swath, image.polarisation):
        raise ProductError(f"{image.product_path}: measurement {image.measurement_name} is missing or empty")
    return Acquisition(image=image, product=product, meta=meta, orbit=Orbit(meta.orbit))


def probe_pixels(acq: Acquisition) -> None:
    """Read the first and last line of the image: a truncated or damaged measurement TIFF is refused here,
    before any work (ProductError naming the product)."""
    n_l, n_s = acq.meta.number_of_lines, acq.meta.number_of_samples
    try:
        for line in (0, n_l - 1):
            acq.read(Window(line, 0, 1, n_s))
    except (DiapsarError, OSError, ValueError) as exc:
        raise ProductError(f"{acq.image.product_path.name}: unreadable measurement ({exc})") from None


def check_output(out: Path) -> None:
    """Create the output folder and check that it is writable (OutputError otherwise)."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create output folder {out}: {exc.strerror or exc}") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise OutputError(f"output folder {out} is not writable")
    probe = out / f".write_test_{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise OutputError(f"output folder {out} is not writable: {exc.strerror or exc}") from None


def master_window(cfg: MultiSlcConfig, master: Acquisition) -> Window:
    """The processed part of the master: the whole image or the -roi, aligned on and trimmed to whole ML
    cells of the full image."""
    meta = master.meta
    n_lines, n_samples = meta.number_of_lines, meta.number_of_samples
    line0, sample0 = 0, 0
    if cfg.roi is not None:
        from ..dem_projection import radar_coordinates
        from ..geometry import llh_to_ecef

        ulx, uly, lrx, lry = cfg.roi
        lon = np.r_[np.linspace(ulx, lrx, 9), np.full(9, lrx), np.linspace(lrx, ulx, 9), np.full(9, ulx)]
        lat = np.r_[np.full(9, uly), np.linspace(uly, lry, 9), np.full(9, lry), np.linspace(lry, uly, 9)]
        ls, ps = [], []
        # terrain heights of the annotation's geolocation grid, with a margin (the DEM is not read yet)
        gh = np.asarray(meta.geolocation_grid.height_m, dtype=np.float64)
        gh = gh[np.isfinite(gh)] if gh.size else np.zeros(1)
        for h in (float(gh.min()) - 50.0, float(gh.max()) + 50.0):
            line, pixel, _ = radar_coordinates(meta, master.orbit, llh_to_ecef(lat, lon, np.full_like(lat, h)))
            ls.append(line)
            ps.append(pixel)
        line, pixel = np.concatenate(ls), np.concatenate(ps)
        if not np.isfinite(line).any():
            raise SelectionError(f"-roi {cfg.roi} is outside the master's orbit")
        l0, l1 = int(np.floor(np.nanmin(line))), int(np.ceil(np.nanmax(line))) + 1
        s0, s1 = int(np.floor(np.nanmin(pixel))), int(np.ceil(np.nanmax(pixel))) + 1
        line0, sample0 = max(0, l0), max(0, s0)
        # aligned on the full image's multilook grid: the window's ML cells are cells of the whole scene
        line0 -= line0 % cfg.ml_azi
        sample0 -= sample0 % cfg.ml_ran
        n_lines, n_samples = min(meta.number_of_lines, l1) - line0, min(meta.number_of_samples, s1) - sample0
        if n_lines < 8 * cfg.ml_azi or n_samples < 8 * cfg.ml_ran:
            raise SelectionError(f"-roi {list(cfg.roi)} does not overlap the master image "
                                 f"{master.image.measurement_name}")
    n_lines -= n_lines % cfg.ml_azi
    n_samples -= n_samples % cfg.ml_ran
    return Window(line0, sample0, n_lines, n_samples, cfg.ml_azi, cfg.ml_ran)


def product_codec(cfg: MultiSlcConfig) -> bool | str:
    """``open_writer``'s ``compress`` for the products of a pair or master folder: deflate, or ZSTD for a
    swath's products in a multi-swath run (read back once by the merge, which writes the merged products with
    deflate)."""
    return "zstd" if cfg.swath_part else True


def gdal_cache_mb(ram_mb: float) -> int:
    """GDAL's raster block cache of the run, taken from the budget (GDAL's default, 5 % of the machine's memory,
    is outside it): 1/16 of -ram, 16..256 MB."""
    return int(max(16, min(256, float(ram_mb) / 16)))


@dataclass
class RunContext:
    """Everything the steps of a run share. ``dem``, ``gcps`` and ``ortho_grid`` are products of master steps
    (the scene DEM, the GCPs of SAR-geometry products, the map grid of the ortho products)."""

    cfg: MultiSlcConfig
    out: Path
    master: Acquisition
    window: Window
    dem: Dem | None = None
    timings: dict[str, float] = field(default_factory=dict)
    gcps: list[GroundControlPoint] = field(default_factory=list)
    ortho_grid: OrthoGrid | None = None
    unit_ram_mb: float | None = None  # -ram share of one unit when units run side by side (None: all of -ram)

    @property
    def master_dir(self) -> Path:
        return self.out / layout.master_directory(self.master.date)

    def pair_dir(self, slave: Acquisition) -> Path:
        return self.out / layout.pair_directory(self.master.date, slave.date)

    @property
    def scene_dem(self) -> Dem:
        if self.dem is None:
            raise RuntimeError("the scene DEM step has not run")
        return self.dem

    @property
    def ram_mb(self) -> float:
        """Budget of the row blocks: -ram (or the unit's share of it, ``unit_ram_mb``) minus what the unit holds
        from start to end (GDAL's block cache, the scene DEM), at least a quarter of it."""
        total = float(self.cfg.optram_mb if self.unit_ram_mb is None else self.unit_ram_mb)
        held: float = gdal_cache_mb(total)
        if self.dem is not None:
            held += self.dem.heights_m.nbytes / 2**20
        return max(total - held, 0.25 * total)

    def master_unit(self) -> Unit:
        return Unit(folder=self.master_dir, label=self.master.date, timings=self.timings)


@dataclass
class Unit:
    """What a step runs on: the master (``slave`` None; folder = master directory) or one master/slave pair
    (folder = pair directory). The fields after ``timings`` are the in-memory hand-over between the steps of
    a pair; each is set by the step named in its comment (also when that step is skipped on a rerun)."""

    folder: Path
    label: str  # prefix of the log lines: the date of the image the unit makes products of
    slave: Acquisition | None = None
    timings: dict[str, float] = field(default_factory=dict)
    dem_grid: np.ndarray | None = None  # dem_grid: (2, nodes_az, nodes_r) DEM shifts of the master window
    slave_window: Window | None = None  # dem_grid: the slave lines/samples facing the master window
    doppler_cycles: float | None = None  # multilook_doppler0: Doppler centroid of the unit's image
    grid: np.ndarray | None = None  # deformation_grid: (2, nodes_az, nodes_r) fine grid
    grid_stats: dict[str, object] = field(default_factory=dict)  # deformation_grid: pair.json's "grid"
    tops: Any = None  # IW deformation_grid: burst matches, burst grids, slave ramps (tops_steps.TopsPair)
    unwrapping: dict[str, Any] | None = None  # unwrap: pair.json's "unwrapping" record (or its failure)

    def the_slave(self) -> Acquisition:
        if self.slave is None:
            raise RuntimeError("a pair step was given the master unit")
        return self.slave
