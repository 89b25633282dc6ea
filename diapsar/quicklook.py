"""Quicklooks: streaming multilook of any raster and PNG rendering (amplitude, phase, coherence).

Inputs are Sentinel-1 SLC measurement TIFFs (plain, inside a SAFE folder, or inside a SAFE zip), diapsar
interferograms (bands amplitude, phase, coherence, isData) in SAR or map geometry, or any other raster.
The image is read in strips of whole multilook cells (``diapsar.io.blocks``) so that a full swath is
multilooked within the RAM budget; only the multilooked grid is held in memory.

Multilook rules (one output cell = ``ml_rg`` x ``ml_az`` input pixels, trailing partial cells dropped as in
DiapOTB's SARMultiLook):

- complex SLC: mean of ``|s|**2`` over the non-zero samples of the cell (S1 zero fill is no data);
  amplitude = sqrt of it; a cell without any non-zero sample is no data;
- amplitude band: sqrt of the mean of the squared amplitude over valid pixels;
- phase band: angle of the mean complex exponential, weighted by the amplitude when there is one (averaging
  raw angles would be wrong across the +/- pi wrap);
- coherence and other real bands: mean over valid pixels;
- isData band: fraction of valid pixels in the cell; a pixel is valid where isData > 0, the value is finite
  and differs from the dataset's nodata value.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
import warnings
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from xml.etree import ElementTree

import numpy as np

from .errors import ConfigError, ProductError, SelectionError
from .io.atomic import atomic_path
from .io.blocks import row_blocks, rows_per_block

# Band roles recognised from band descriptions (case-insensitive prefixes).
_ROLE_WORDS = {
    "amplitude": ("amplitude", "amp", "intensity"),
    "phase": ("phase", "pha"),
    "coherence": ("coherence", "coh"),
    "isdata": ("isdata", "is_data", "valid", "mask"),
}

# Default multilook factors (range, azimuth) by Sentinel-1 mode: roughly square ground cells.
# IW: 2.33 m slant range spacing (~3.3-4.2 m on ground at 34-46 deg incidence) x 13.9 m azimuth spacing
# (annotation rangePixelSpacing / azimuthPixelSpacing of the IW products in the shared test data).
DEFAULT_ML = {"iw": (20, 4), "ew": (6, 4), "sm": (8, 8), "wv": (4, 4)}
# Longest side (pixels) of a quicklook when no multilook factors are given for a non-SLC raster.
AUTO_MAX_SIZE = 2000

_S1_NAME = re.compile(r"^s1[abcd]-(iw[1-3]|ew[1-5]|s[1-6]|wv[12])-slc-(hh|hv|vh|vv)(?:[-_.]|$)", re.IGNORECASE)


# ----------------------------------------------------------------------------------------------- input paths
@dataclass
class ImageSource:
    """A raster resolved to a path GDAL opens, plus where its Sentinel-1 annotation may be."""

    gdal_path: str
    display: str
    stem: str
    annotation: tuple[str, str] | None = None  # ("file", path) or ("zip", "zip_path::member")


def _measurements_in_zip(zpath: Path) -> list[str]:
    try:
        with zipfile.ZipFile(zpath) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise ProductError(f"{zpath} is not a readable zip file ({exc})") from None
    return sorted(n for n in names if "/measurement/" in f"/{n}" and n.lower().endswith((".tif", ".tiff")))


def _choose_one(container: Path, found: list[str]) -> str:
    if not found:
        raise ProductError(f"{container} holds no measurement/*.tiff image")
    if len(found) > 1:
        short = ", ".join(PurePosixPath(n).name for n in found)
        raise SelectionError(f"{container} holds {len(found)} measurement images, pass one of them with -in "
                              f"{container}/.../measurement/NAME: {short}")
    return found[0]


def _annotation_for(member: str) -> str:
    """measurement/x.tiff -> annotation/x.xml (SAFE layout)."""
    p = PurePosixPath(member)
    return str(p.parent.parent / "annotation" / (p.stem + ".xml"))


def resolve_image(path: str | os.PathLike) -> ImageSource:
    """Turn what a user passes as -in into something GDAL opens.

    Accepted: a raster file; a ``.SAFE`` folder or a SAFE ``.zip`` holding exactly one measurement image; a path
    *inside* a zip (``S1..._SAFE.zip/S1....SAFE/measurement/x.tiff``, read through ``/vsizip/``); a GDAL
    ``/vsi...`` path.
    """
    text = os.fspath(path)
    if text.startswith("/vsi"):
        return ImageSource(text, text, PurePosixPath(text).stem)
    p = Path(text)
    if p.is_dir():
        meas = sorted(str(m.relative_to(p)) for m in (p / "measurement").glob("*.tif*"))
        if not meas and not (p / "measurement").is_dir():
            raise ProductError(f"{p} is a folder, not an image nor a SAFE folder (no measurement/ inside)")
        chosen = _choose_one(p, meas)
        full = p / chosen
        ann = p / _annotation_for(chosen)
        return ImageSource(str(full), str(full), full.stem, ("file", str(ann)))
    if p.is_file():
        if zipfile.is_zipfile(p) and p.suffix.lower() == ".zip":
            chosen = _choose_one(p, _measurements_in_zip(p))
            return ImageSource(f"/vsizip/{p.resolve()}/{chosen}", f"{p}/{chosen}", PurePosixPath(chosen).stem,
                               ("zip", f"{p.resolve()}::{_annotation_for(chosen)}"))
        ann = None
        if p.parent.name == "measurement":
            ann = ("file", str(p.parent.parent / "annotation" / (p.stem + ".xml")))
        elif _S1_NAME.match(p.stem):
            # a crop kept beside its annotation: one XML of the same mission, swath, product and polarisation
            prefix = _S1_NAME.match(p.stem).group(0).rstrip("-_.").lower()
            xmls = [x for x in p.parent.glob("*.xml") if x.name.lower().startswith(prefix)]
            if len(xmls) == 1:
                ann = ("file", str(xmls[0]))
        return ImageSource(str(p), str(p), p.stem, ann)
    # A path through a zip file: find the first existing component that is a zip.
    parts = p.parts
    for i in range(1, len(parts)):
        head = Path(*parts[:i])
        if head.suffix.lower() == ".zip" and head.is_file():
            member = "/".join(parts[i:])
            try:
                with zipfile.ZipFile(head) as zf:
                    names = set(zf.namelist())
            except (zipfile.BadZipFile, OSError) as exc:
                raise ProductError(f"{head} is not a readable zip file ({exc})") from None
            if member not in names:
                meas = _measurements_in_zip(head)
                hint = f"; its measurement images: {', '.join(meas)}" if meas else ""
                raise ProductError(f"{member} is not in {head}{hint}")
            return ImageSource(f"/vsizip/{head.resolve()}/{member}", text, PurePosixPath(member).stem,
                               ("zip", f"{head.resolve()}::{_annotation_for(member)}"))
    if any(ch in text for ch in "*?["):  # a quoted pattern such as SAFE/measurement/*vv*.tiff
        import glob

        hits = sorted(glob.glob(text))
        if len(hits) == 1:
            return resolve_image(hits[0])
        if hits:
            raise SelectionError(f"{text} matches {len(hits)} files, pass one of them: "
                                 f"{', '.join(Path(h).name for h in hits)}")
    raise ProductError(f"input image {text} does not exist")


def _annotation_spacing(src: ImageSource) -> dict | None:
    """Pixel spacings and incidence from the SAFE annotation beside the measurement (None when unavailable)."""
    if src.annotation is None:
        return None
    kind, where = src.annotation
    try:
        if kind == "file":
            if not Path(where).is_file():
                return None
            root = ElementTree.parse(where).getroot()
        else:
            zpath, member = where.split("::", 1)
            with zipfile.ZipFile(zpath) as zf:
                if member not in zf.namelist():
                    return None
                root = ElementTree.fromstring(zf.read(member))
        info = root.find("imageAnnotation/imageInformation")
        if info is None:
            return None
        rg = float(info.findtext("rangePixelSpacing"))
        az = float(info.findtext("azimuthPixelSpacing"))
        inc = float(info.findtext("incidenceAngleMidSwath"))
    except (ElementTree.ParseError, OSError, TypeError, ValueError, zipfile.BadZipFile):
        return None
    return {"range_spacing_m": rg, "azimuth_spacing_m": az, "incidence_deg": inc,
            "ground_range_spacing_m": rg / math.sin(math.radians(inc))}


def s1_mode(stem: str) -> str | None:
    """'iw', 'ew', 'sm' or 'wv' from a Sentinel-1 measurement file name, else None."""
    m = _S1_NAME.match(stem)
    if not m:
        return None
    sw = m.group(1).lower()
    return "sm" if sw.startswith("s") else sw[:2]


# ------------------------------------------------------------------------------------------------ multilook
@dataclass
class Multilooked:
    """The multilooked grid of an image: one array per band role, plus a validity mask."""

    kind: str  # "slc", "interferogram", "raster"
    ml: tuple[int, int]  # (range/columns, azimuth/rows)
    shape: tuple[int, int]  # (rows, cols) of the multilooked grid
    bands: dict[str, np.ndarray] = field(default_factory=dict)  # role -> float32 (rows, cols), NaN = no data
    valid: np.ndarray | None = None  # bool (rows, cols)
    descriptions: dict[str, str] = field(default_factory=dict)
    profile: dict = field(default_factory=dict)  # georeferencing for --geotiff
    source_shape: tuple[int, int] = (0, 0)


def _role(desc: str | None) -> str | None:
    if not desc:
        return None
    d = desc.strip().lower()
    for role, words in _ROLE_WORDS.items():
        if any(d == w or d.startswith(w) for w in words):
            return role
    return None


def band_roles(count: int, descriptions: Sequence[str | None], is_complex: bool) -> list[str]:
    """Role of each band: by description when set, else by count (4: diapsar interferogram, 3: DiapOTB)."""
    if is_complex:
        return ["slc"] + [f"band{i + 2}" for i in range(count - 1)]
    roles = [_role(d) for d in descriptions]
    if any(roles):
        return [r or f"band{i + 1}" for i, r in enumerate(roles)]
    if count == 4:
        return ["amplitude", "phase", "coherence", "isdata"]
    if count == 3:
        return ["amplitude", "phase", "coherence"]
    return [f"band{i + 1}" for i in range(count)]


def _cell_sum(a: np.ndarray, ml_az: int, ml_rg: int) -> np.ndarray:
    r, c = a.shape
    return a.reshape(r // ml_az, ml_az, c // ml_rg, ml_rg).sum(axis=(1, 3), dtype=np.float64)


def open_raster(gdal_path: str, display: str):
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            return rasterio.open(gdal_path)
    except RasterioIOError as exc:
        msg = str(exc).splitlines()[0] if str(exc) else "unknown format"
        raise ProductError(f"cannot read image {display}: {msg}") from None


def check_ml(ml_rg: int, ml_az: int) -> None:
    for name, v in (("range", ml_rg), ("azimuth", ml_az)):
        if not isinstance(v, int | np.integer) or v < 1:
            raise ConfigError(f"multilook factor {name} must be an integer >= 1 (got {v})")


def multilook_image(src: ImageSource, ml_rg: int, ml_az: int, band: int | None = None,
                    ram_mb: float = 512.0) -> Multilooked:
    """Multilook the image ``src`` by ``ml_rg`` columns x ``ml_az`` rows, streaming under ``ram_mb``.

    ``band`` (1-based) restricts the reading to one band (plus the isData band of an interferogram).
    """
    import rasterio
    from affine import Affine
    from rasterio.control import GroundControlPoint
    from rasterio.windows import Window

    check_ml(ml_rg, ml_az)
    cache_mb = int(max(16, min(256, ram_mb // 4)))
    with rasterio.Env(GDAL_CACHEMAX=cache_mb), open_raster(src.gdal_path, src.display) as ds:
        h, w, count = ds.height, ds.width, ds.count
        is_complex = "complex" in ds.dtypes[0]
        roles = band_roles(count, ds.descriptions, is_complex)
        if band is not None and not 1 <= band <= count:
            raise SelectionError(f"band {band} is out of range: {src.display} has {count} band(s)")
        out_r, out_c = h // ml_az, w // ml_rg
        if out_r < 1 or out_c < 1:
            raise ConfigError(f"multilook factors {ml_rg} x {ml_az} are larger than the image "
                              f"{src.display} ({w} x {h} pixels)")
        if is_complex:
            kind, read_idx = "slc", [band or 1]
        elif "phase" in roles or "coherence" in roles:
            kind = "interferogram"
            read_idx = [band] if band else [i + 1 for i in range(count)]
            if band and "isdata" in roles and roles[band - 1] != "isdata":
                read_idx.append(roles.index("isdata") + 1)
            if band and roles[band - 1] == "phase" and "amplitude" in roles:
                read_idx.append(roles.index("amplitude") + 1)
        else:
            kind, read_idx = "raster", [band or 1]
        read_roles = [roles[i - 1] if not (kind == "slc") else "slc" for i in read_idx]
        nodata = ds.nodata
        # bytes per input pixel for all buffers of a strip (read + temporaries), with margin
        bpp = 8 * len(read_idx) + 48 if not is_complex else 40
        rows = rows_per_block(w, bpp, ram_mb, multiple=ml_az, minimum=ml_az)
        acc: dict[str, np.ndarray] = {}
        n_valid = np.zeros((out_r, out_c), np.float64)
        used_rows, used_cols = out_r * ml_az, out_c * ml_rg
        for blk in row_blocks(used_rows, rows):
            win = Window(0, blk.row0, used_cols, blk.rows)
            data = {r: ds.read(i, window=win) for r, i in zip(read_roles, read_idx, strict=True)}
            o0, o1 = blk.row0 // ml_az, blk.row1 // ml_az
            if kind == "slc":
                s = data["slc"]
                power = s.real.astype(np.float32) ** 2 + s.imag.astype(np.float32) ** 2
                ok = power > 0
                acc.setdefault("power", np.zeros((out_r, out_c)))[o0:o1] = _cell_sum(power, ml_az, ml_rg)
                n_valid[o0:o1] = _cell_sum(ok.astype(np.float32), ml_az, ml_rg)
                continue
            ok = np.ones(data[read_roles[0]].shape, bool)
            for r, a in data.items():
                ok &= np.isfinite(a)
                if nodata is not None and not np.isnan(nodata):
                    ok &= a != nodata
                if r == "isdata":
                    ok &= a > 0
            n_valid[o0:o1] = _cell_sum(ok.astype(np.float32), ml_az, ml_rg)
            amp = data.get("amplitude")
            for r, a in data.items():
                if r == "isdata":
                    continue
                a = np.where(ok, a, 0).astype(np.float32)
                if r == "phase":
                    wgt = np.where(ok, amp, 0).astype(np.float32) if amp is not None else ok.astype(np.float32)
                    acc.setdefault("phase_re", np.zeros((out_r, out_c)))[o0:o1] = \
                        _cell_sum(wgt * np.cos(a), ml_az, ml_rg)
                    acc.setdefault("phase_im", np.zeros((out_r, out_c)))[o0:o1] = \
                        _cell_sum(wgt * np.sin(a), ml_az, ml_rg)
                elif r == "amplitude":
                    acc.setdefault("amplitude2", np.zeros((out_r, out_c)))[o0:o1] = _cell_sum(a * a, ml_az, ml_rg)
                else:
                    acc.setdefault(r, np.zeros((out_r, out_c)))[o0:o1] = _cell_sum(a, ml_az, ml_rg)

        valid = n_valid > 0
        with np.errstate(invalid="ignore", divide="ignore"):
            den = np.where(valid, n_valid, 1.0)
            bands: dict[str, np.ndarray] = {}
            if kind == "slc":
                bands["amplitude"] = np.sqrt(acc["power"] / den)
            for r, a in acc.items():
                if r == "amplitude2":
                    bands["amplitude"] = np.sqrt(a / den)
                elif r == "phase_re":
                    bands["phase"] = np.arctan2(acc["phase_im"], a)
                elif r in ("phase_im", "power"):
                    continue
                else:
                    bands[r] = a / den
            if "isdata" in read_roles:
                bands["isdata"] = n_valid / (ml_rg * ml_az)
        for r in list(bands):
            b = bands[r].astype(np.float32)
            if r != "isdata":
                b[~valid] = np.nan
            bands[r] = b
        if band is not None:
            asked = read_roles[0]
            bands = {k: v for k, v in bands.items() if k == asked or (asked == "phase" and k == "amplitude")}
        # georeferencing of the multilooked grid
        profile: dict = {}
        scale = Affine.scale(ml_rg, ml_az)
        if ds.crs is not None and not ds.transform.is_identity:
            profile = {"crs": ds.crs, "transform": ds.transform @ scale}
        else:
            gcps, gcrs = ds.gcps
            if gcps:
                profile = {"gcps": [GroundControlPoint(row=g.row / ml_az, col=g.col / ml_rg, x=g.x, y=g.y, z=g.z,
                                                       id=g.id, info=g.info) for g in gcps], "gcps_crs": gcrs}
        descs = {r: (ds.descriptions[i - 1] or r) for r, i in zip(read_roles, read_idx, strict=True)}
    return Multilooked(kind, (ml_rg, ml_az), (out_r, out_c), bands, valid, descs, profile, (h, w))


def write_geotiff(mlk: Multilooked, out_path: str | os.PathLike) -> Path:
    """Write the multilooked bands as float32 GeoTIFF (NaN where no data), georeferenced like the input."""
    import rasterio

    order = [r for r in ("amplitude", "phase", "coherence", "isdata") if r in mlk.bands]
    order += [r for r in mlk.bands if r not in order]
    out_path = Path(out_path)
    prof = {"driver": "GTiff", "dtype": "float32", "count": len(order), "height": mlk.shape[0],
            "width": mlk.shape[1], "nodata": float("nan"), "compress": "deflate", "tiled": True,
            "blockxsize": 256, "blockysize": 256}
    if mlk.shape[0] < 256 or mlk.shape[1] < 256:
        prof.update(tiled=False)
        prof.pop("blockxsize")
        prof.pop("blockysize")
    if "transform" in mlk.profile:
        prof.update(crs=mlk.profile["crs"], transform=mlk.profile["transform"])
    from rasterio.errors import NotGeoreferencedWarning

    with atomic_path(out_path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(tmp, "w", **prof) as dst:
            for i, r in enumerate(order, start=1):
                dst.write(mlk.bands[r], i)
                dst.set_band_description(i, r if r != "isdata" else "isData")
            if "gcps" in mlk.profile:
                dst.gcps = (mlk.profile["gcps"], mlk.profile["gcps_crs"])
            dst.update_tags(multilook_range=mlk.ml[0], multilook_azimuth=mlk.ml[1], kind=mlk.kind)
    return out_path


# ------------------------------------------------------------------------------------------------ rendering
def stretch(values: np.ndarray, low_pct: float = 2.0, high_pct: float = 98.0) -> tuple[float, float]:
    """Robust display limits: the low/high percentiles of the finite values (0, 1 when there are none)."""
    v = values[np.isfinite(values)]
    if v.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(v, [low_pct, high_pct])
    if not hi > lo:
        hi = lo + 1.0
    return float(lo), float(hi)


def amplitude_db(amplitude: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        db = 20.0 * np.log10(amplitude.astype(np.float64))
    db[~np.isfinite(db)] = np.nan
    return db


def _brightness(amplitude: np.ndarray) -> np.ndarray:
    db = amplitude_db(amplitude)
    lo, hi = stretch(db)
    b = np.clip((db - lo) / (hi - lo), 0.0, 1.0)
    return np.where(np.isfinite(b), 0.15 + 0.85 * b, 0.0)


def phase_rgba(phase: np.ndarray, amplitude: np.ndarray | None = None) -> np.ndarray:
    """Cyclic colour (hsv) of the phase, brightness from the stretched amplitude; NaN -> transparent."""
    from matplotlib import colormaps

    cmap = colormaps["hsv"]
    norm = (np.nan_to_num(phase, nan=0.0) + np.pi) / (2 * np.pi)
    rgba = cmap(np.mod(norm, 1.0)).astype(np.float32)
    if amplitude is not None:
        rgba[..., :3] *= _brightness(amplitude)[..., None]
    rgba[..., 3] = np.where(np.isfinite(phase), 1.0, 0.0)
    return rgba


def _figure(shape: tuple[int, int], aspect: float = 1.0, colorbar: bool = True):
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    rows, cols = shape
    disp_w, disp_h = cols, rows * aspect
    # Show about one screen pixel per cell, within 480..1400 px of image width at 100 dpi.
    target = min(max(disp_w, 480.0), 1400.0)
    f = target / disp_w
    img_w, img_h = disp_w * f, max(disp_h * f, 60.0)
    if img_h > 1600:
        f2 = 1600 / img_h
        img_w, img_h = img_w * f2, 1600
    extra_w = 130 if colorbar else 40
    fig = Figure(figsize=((img_w + extra_w) / 100, (img_h + 80) / 100), dpi=100)
    return fig


def _auto_what(mlk: Multilooked) -> str:
    for what in ("phase", "amplitude", "coherence"):
        if what in mlk.bands:
            return what
    return "value"


def render(mlk: Multilooked, out_png: str | os.PathLike, what: str = "auto", title: str | None = None,
           db: bool = False, aspect: float = 1.0) -> Path:
    """Render a multilooked image to PNG.

    ``what``: ``amplitude`` (dB, 2-98 % stretch), ``phase`` (hsv, brightness from the amplitude when present),
    ``coherence`` (gray 0-1 with colour bar), ``isdata``, ``value`` (first band, linear or dB 2-98 % stretch) or
    ``auto`` (SLC: amplitude; interferogram: phase modulated by amplitude; other: value).
    ``aspect``: displayed height/width of one cell (ground azimuth size / ground range size).
    """
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    b = mlk.bands
    if what == "auto":
        what = _auto_what(mlk)
    if what not in ("amplitude", "phase", "coherence", "isdata", "value"):
        raise ConfigError(f"unknown rendering {what!r}")
    if what in ("amplitude", "phase", "coherence", "isdata") and what not in b:
        raise SelectionError(f"the image has no {what} band (bands: {', '.join(b)})")
    im_kw: dict = {"interpolation": "nearest", "aspect": aspect}
    geo = None
    if "transform" in mlk.profile:  # map geometry: axes in map units, true cell aspect
        t = mlk.profile["transform"]
        rows, cols = mlk.shape
        x0, y0 = t.c, t.f
        x1, y1 = x0 + t.a * cols, y0 + t.e * rows
        data_aspect = 1.0
        crs = mlk.profile.get("crs")
        if crs is not None and crs.is_geographic:
            data_aspect = 1.0 / max(math.cos(math.radians(0.5 * (y0 + y1))), 0.05)
            geo = ("longitude (deg)", "latitude (deg)")
        else:
            geo = ("x (m)", "y (m)")
        im_kw = {"interpolation": "nearest", "aspect": data_aspect,
                 "extent": (min(x0, x1), max(x0, x1), min(y0, y1), max(y0, y1))}
        aspect = data_aspect * abs(t.e) / abs(t.a)
        if t.e > 0:
            im_kw["origin"] = "lower"
    fig = _figure(mlk.shape, aspect)
    ax = fig.add_axes((0.09, 0.08, 0.72, 0.82))
    ax.set_facecolor("#000000")
    if geo:
        ax.set_xlabel(geo[0], fontsize=8)
        ax.set_ylabel(geo[1], fontsize=8)
    cb_label = ""
    if what == "phase":
        rgba = phase_rgba(b["phase"], b.get("amplitude"))
        ax.imshow(rgba, **im_kw)
        sm = ScalarMappable(norm=Normalize(-np.pi, np.pi), cmap=colormaps["hsv"])
        cb_label = "phase (rad)"
        default_title = "wrapped phase" + (" x amplitude" if "amplitude" in b else "")
    elif what == "coherence":
        cmap = colormaps["gray"].with_extremes(bad=(0, 0, 0, 0))
        ax.set_facecolor("#2a7f8f")  # no-data cells show this teal, outside the gray scale
        sm = ax.imshow(np.ma.masked_invalid(b["coherence"]), cmap=cmap, vmin=0.0, vmax=1.0, **im_kw)
        cb_label = "coherence"
        default_title = "coherence"
        if not mlk.valid.all():
            fig.text(0.84, 0.03, "■ no data", color="#2a7f8f", fontsize=8, ha="left", va="bottom")
    elif what == "isdata":
        sm = ax.imshow(b["isdata"], cmap="gray", vmin=0.0, vmax=1.0, **im_kw)
        cb_label = "valid fraction"
        default_title = "isData"
    else:
        key = "amplitude" if what == "amplitude" else next(iter(b))
        vals = b[key].astype(np.float64)
        use_db = what == "amplitude" or db
        if use_db:
            vals = amplitude_db(vals) if key == "amplitude" or mlk.kind == "slc" else _db_of_values(vals)
        lo, hi = stretch(vals)
        cmap = colormaps["gray"].with_extremes(bad=(0, 0, 0, 0))
        sm = ax.imshow(np.ma.masked_invalid(vals), cmap=cmap, vmin=lo, vmax=hi, **im_kw)
        cb_label = ("dB" if use_db else mlk.descriptions.get(key, key)) + " (2-98 % stretch)"
        default_title = "amplitude" if what == "amplitude" else mlk.descriptions.get(key, key)
    head = title or default_title
    if len(head) > 90:
        head = head[:40] + "…" + head[-49:]
    fig.text(0.02, 0.985, head, fontsize=9, ha="left", va="top")
    ax.tick_params(labelsize=7)
    cax = fig.add_axes((0.84, 0.12, 0.03, 0.73))
    cb = fig.colorbar(sm, cax=cax)
    cb.set_label(cb_label, fontsize=8)
    cb.ax.tick_params(labelsize=7)
    if what == "phase":
        cb.set_ticks([-np.pi, -np.pi / 2, 0, np.pi / 2, np.pi], labels=["-π", "-π/2", "0", "π/2", "π"])
    out_png = Path(out_png)
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, format="png", facecolor="white")
    return out_png


def _db_of_values(vals: np.ndarray) -> np.ndarray:
    """dB of a power-like or amplitude-like real band: 10 log10 for any positive value."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = 10.0 * np.log10(np.where(vals > 0, vals, np.nan))
    return out


# ------------------------------------------------------------------------------------------------ CLI
class _OneLineParser(argparse.ArgumentParser):
    """Usage mistakes end as one line on stderr (exit 2), like every other user error."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser(prog: str = "QuickMlView.py") -> argparse.ArgumentParser:
    p = _OneLineParser(
        prog=prog, description="Multilook an image (SLC, interferogram, ortho product, any raster) and render "
        "a PNG quicklook: amplitude in dB, wrapped phase, coherence.")
    p.add_argument("-in", dest="image", required=True, metavar="IMAGE",
                   help="raster file, SAFE folder or zip (one measurement), or a path inside a SAFE zip")
    p.add_argument("-ml", nargs=2, metavar=("RG", "AZ"), type=str, default=None,
                   help="multilook factors in range (columns) and azimuth (rows); default by Sentinel-1 mode "
                   f"(IW 20 4, EW 6 4, SM 8 8), else 1 1 up to {AUTO_MAX_SIZE} px")
    p.add_argument("-out", dest="out", default=None, metavar="FILE.png",
                   help="output PNG (default: <image name>_ml<RG>x<AZ>.png in the current folder)")
    p.add_argument("--band", type=str, default=None, metavar="N", help="render band N (1-based) only")
    p.add_argument("--db", action="store_true", help="show a real band in dB (amplitude is always in dB)")
    p.add_argument("--geotiff", action="store_true",
                   help="also write the multilooked values as float32 GeoTIFF beside the PNG")
    p.add_argument("-ram", type=float, default=512.0, metavar="MB", help="memory budget in MB (default 512)")
    p.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    return p


def _parse_int(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"{what} must be an integer (got {text!r})") from None


def _default_ml(src: ImageSource, kind_hint: str, shape: tuple[int, int]) -> tuple[int, int]:
    mode = s1_mode(src.stem)
    if kind_hint == "slc" and mode in DEFAULT_ML:
        return DEFAULT_ML[mode]
    k = max(1, math.ceil(max(shape) / AUTO_MAX_SIZE))
    return k, k


def run(args: argparse.Namespace) -> int:
    src = resolve_image(args.image)
    band = _parse_int(args.band, "--band") if args.band is not None else None
    if band is not None and band < 1:
        raise SelectionError(f"band {band} is out of range: bands count from 1")
    if args.ram <= 0:
        raise ConfigError(f"-ram must be positive (got {args.ram})")
    with open_raster(src.gdal_path, src.display) as ds:
        is_complex = "complex" in ds.dtypes[0]
        shape = (ds.height, ds.width)
        count = ds.count
    if band is not None and band > count:
        raise SelectionError(f"band {band} is out of range: {src.display} has {count} band(s)")
    if args.ml is None:
        ml_rg, ml_az = _default_ml(src, "slc" if is_complex else "raster", shape)
    else:
        ml_rg, ml_az = (_parse_int(args.ml[0], "-ml RG"), _parse_int(args.ml[1], "-ml AZ"))
        check_ml(ml_rg, ml_az)
    mlk = multilook_image(src, ml_rg, ml_az, band=band, ram_mb=args.ram)
    spacing = _annotation_spacing(src)
    aspect = 1.0
    if spacing:
        g_rg = spacing["ground_range_spacing_m"] * ml_rg
        g_az = spacing["azimuth_spacing_m"] * ml_az
        aspect = g_az / g_rg
        print(f"ground cell about {g_rg:.0f} m (range) x {g_az:.0f} m (azimuth) "
              f"at {spacing['incidence_deg']:.1f} deg incidence")
    what = "auto"
    if band is not None:
        what = next(iter(mlk.bands)) if mlk.kind != "slc" else "amplitude"
        if what not in ("amplitude", "phase", "coherence", "isdata"):
            what = "value"
    if args.out:
        out_png = Path(args.out)
        if out_png.suffix.lower() != ".png":
            raise ConfigError(f"-out must name a .png file (got {args.out})")
    else:
        out_png = Path.cwd() / f"{src.stem}_ml{ml_rg}x{ml_az}{f'_band{band}' if band else ''}.png"
    title = f"{PurePosixPath(src.display).name}  ML {ml_rg}x{ml_az}" + (f"  band {band}" if band else "")
    shown = _auto_what(mlk) if what == "auto" else what
    render(mlk, out_png, what=shown, title=f"{title}  ({shown})", db=args.db, aspect=aspect)
    print(f"wrote {out_png} ({shown}, {mlk.shape[1]} x {mlk.shape[0]} cells from {mlk.source_shape[1]} x "
          f"{mlk.source_shape[0]} pixels, ML {ml_rg} x {ml_az})")
    if args.geotiff:
        tif = out_png.with_suffix(".tif")
        write_geotiff(mlk, tif)
        print(f"wrote {tif} (float32, bands: {', '.join(mlk.bands)})")
    return 0


def main(argv: Sequence[str] | None = None, prog: str = "QuickMlView.py") -> int:
    from .cli import guarded

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    return guarded(prog, lambda: run(args), debug=args.debug)
