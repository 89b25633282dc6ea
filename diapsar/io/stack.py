"""Stack discovery: the images of a MultiSlc run in a datalake folder (SAFE folders or zipped SAFE products).

Selection (DiapOTB SAR_MultiSlc, notes 2.2): images of the asked mode, swath and polarisation whose date lies in
[Start_Date, End_Date] minus the excluded dates; one master (by measurement file name, product name or date);
every other image is a slave of the master (star network). Images of different tracks (relative orbit, pass)
or of several stripmap beams cannot be mixed: that is an error naming them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import SelectionError
from .zips import safe_members

# s1a-s3-slc-vv-20200101t000000-20200101t000025-030000-036000-001.xml / .tiff
_IMAGE_RE = re.compile(
    r"^(?P<mission>s1[a-d])-(?P<swath>s[1-6]|iw[1-3]|ew[1-5]|wv[12])-(?P<ptype>slc|grd)-(?P<pol>hh|hv|vv|vh)-"
    r"(?P<start>\d{8}t\d{6})-(?P<stop>\d{8}t\d{6})-(?P<orbit>\d{6})-(?P<datatake>[0-9a-f]{6})-(?P<number>\d{3})"
    r"\.(?:xml|tiff?)$", re.IGNORECASE)

# Relative orbit from the absolute orbit (ESA Sentinel-1 product definition: 175-orbit repeat cycle; offsets
# of S1A and S1B as published in ESA's "Sentinel-1 Product Definition", relative orbit section).
_RELATIVE_ORBIT_OFFSET = {"S1A": 73, "S1B": 27}


@dataclass(frozen=True)
class Image:
    """One (swath, polarisation) image of one product found in the datalake."""

    product_path: Path  # the .SAFE folder or the .zip
    product_name: str  # S1A_S3_SLC__1SDV_..._ABCD (without .SAFE/.zip)
    annotation: str  # path of the annotation XML inside the product (relative to the SAFE root)
    measurement_name: str  # basename of the measurement TIFF (may be absent from the product)
    measurement_present: bool
    mission: str  # S1A
    swath: str  # S3, IW1
    polarisation: str  # VV
    start: str  # 20200101t000000
    absolute_orbit: int
    datatake: str

    @property
    def mode(self) -> str:
        s = self.swath.upper()
        return "SM" if re.fullmatch(r"S[1-6]", s) else s[:2]

    @property
    def date(self) -> str:
        return self.start[:8]

    @property
    def relative_orbit(self) -> int | None:
        off = _RELATIVE_ORBIT_OFFSET.get(self.mission)
        return None if off is None else (self.absolute_orbit - off) % 175 + 1

    @property
    def key(self) -> str:
        return f"{self.product_name}:{self.swath}:{self.polarisation}"


def _images_of_names(product_path: Path, names: list[str]) -> list[Image]:
    """Images described by the member names of one product (relative to the SAFE root)."""
    product_name = product_path.name
    for suffix in (".zip", ".SAFE"):
        if product_name.endswith(suffix):
            product_name = product_name[: -len(suffix)]
    measurements = {Path(n).name.lower() for n in names if n.startswith("measurement/")}
    out = []
    for n in names:
        parts = n.split("/")
        if len(parts) != 2 or parts[0] != "annotation":  # skip annotation/calibration/*, annotation/rfi/*
            continue
        m = _IMAGE_RE.match(parts[1])
        if not m:
            continue
        tiff = parts[1][:-4] + ".tiff"
        out.append(Image(
            product_path=product_path, product_name=product_name, annotation=n, measurement_name=tiff,
            measurement_present=tiff.lower() in measurements, mission=m["mission"].upper(),
            swath=m["swath"].upper(), polarisation=m["pol"].upper(), start=m["start"].lower(),
            absolute_orbit=int(m["orbit"]), datatake=m["datatake"].lower()))
    return out


def _safe_members(safe: Path) -> list[str]:
    names = []
    for sub in ("annotation", "measurement"):
        d = safe / sub
        if d.is_dir():
            names += [f"{sub}/{p.name}" for p in sorted(d.iterdir()) if p.is_file()]
    return names


def scan(input_path: str | os.PathLike[str]) -> list[Image]:
    """Every image of every SAFE folder or zip under ``input_path`` (recursive)."""
    root = Path(input_path)
    if not root.is_dir():
        raise SelectionError(f"Input_Path {root} is not a folder")
    images: list[Image] = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        for d in sorted(dirnames):
            if d.endswith(".SAFE"):
                images += _images_of_names(here / d, _safe_members(here / d))
        dirnames[:] = [d for d in dirnames if not d.endswith(".SAFE")]  # SAFE trees are leaves
        for f in sorted(filenames):
            if f.lower().endswith(".zip") and f.upper().startswith("S1"):
                images += _images_of_names(here / f, safe_members(here / f))
    # a product present both as folder and zip: keep the folder
    seen: dict[str, Image] = {}
    for im in sorted(images, key=lambda i: (i.key, i.product_path.suffix == ".zip")):
        seen.setdefault(im.key, im)
    return sorted(seen.values(), key=lambda i: (i.start, i.swath, i.polarisation))


@dataclass
class Selection:
    master: Image
    slaves: list[Image]


def _match_master(images: list[Image], master: str) -> list[Image]:
    token = master.strip()
    name = Path(token).name.lower()
    if re.fullmatch(r"\d{8}", token):
        return [i for i in images if i.date == token]
    for suffix in (".zip", ".safe"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    hits = [i for i in images if i.measurement_name.lower() == name or i.measurement_name.lower()[:-5] == name
            or Path(i.annotation).name.lower() == name or i.product_name.lower() == name]
    return hits


def _listing(items: list[str], limit: int = 20) -> str:
    """Items joined by commas, the first ``limit`` of them and how many more."""
    more = f" and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def select(images: list[Image], *, mode: str = "SM", polarisation: str = "VV", swath: str | None = None,
           start_date: str | None = None, end_date: str | None = None, exclude: Sequence[str] | None = None,
           master: str | None = None, input_path: str = "the datalake") -> Selection:
    """Pick the master and the slaves (see the module docstring); raise SelectionError with one clear line."""
    excluded = set(exclude or [])
    mode = mode.upper()
    polarisation = polarisation.upper()
    if not images:
        raise SelectionError(f"no Sentinel-1 SAFE folder or zip found in {input_path}")
    # a master named by file: its own mode/polarisation must agree with the configuration
    if master and not re.fullmatch(r"\d{8}", master.strip()):
        named = _match_master(images, master)
        if not named:
            raise SelectionError(f"master image {master} not found in {input_path} "
                                 f"(available: {_listing(sorted(i.measurement_name for i in images))})")
        m0 = named[0]
        if m0.mode != mode:
            raise SelectionError(f"master image {master} is a {m0.mode} image but Mode is {mode}")
        if m0.polarisation != polarisation:
            raise SelectionError(f"master image {master} has polarisation {m0.polarisation} but Polarisation "
                                 f"is {polarisation}")
        if swath is None:
            swath = m0.swath
    cands = [i for i in images if i.mode == mode and i.polarisation == polarisation]
    if not cands:
        found = sorted({f"{i.mode}/{i.polarisation}" for i in images})
        raise SelectionError(f"no {mode} {polarisation} image in {input_path} (found: {', '.join(found)})")
    if swath is not None:
        cands = [i for i in cands if i.swath == swath.upper()]
        if not cands:
            raise SelectionError(f"no {mode} {polarisation} image of swath {swath} in {input_path}")
    elif mode == "SM":
        beams = sorted({i.swath for i in cands})
        if len(beams) > 1:
            raise SelectionError(f"mixed stripmap beams {', '.join(beams)} in {input_path}: set Global.in.Swath "
                                 "or choose the master")
    window = [i for i in cands if (start_date is None or i.date >= start_date)
              and (end_date is None or i.date <= end_date) and i.date not in excluded]
    win_txt = (f"[{start_date or 'first'}, {end_date or 'last'}]"
               + (f" minus {', '.join(sorted(excluded))}" if excluded else ""))
    if master:
        hits = [i for i in _match_master(cands, master)]
        if not hits:
            available = (sorted({i.date for i in cands}) if re.fullmatch(r"\d{8}", master.strip())
                         else sorted(i.measurement_name for i in cands))
            of_swath = f" {swath.upper()}" if swath is not None and mode != "SM" else ""
            raise SelectionError(f"master image {master} not found among the {mode} {polarisation}{of_swath} images "
                                 f"of {input_path} (available: {_listing(available)})")
        in_window = [i for i in hits if i in window]
        if not in_window:
            raise SelectionError(f"master image {master} ({hits[0].date}) is not in the date window {win_txt}")
        m = in_window[0]
    else:
        if not window:
            raise SelectionError(f"no {mode} {polarisation} image in the date window {win_txt}")
        m = window[0]
    if mode != "SM" or swath is not None:
        window = [i for i in window if i.swath == m.swath]
    # one image per date: the master's date is the master; several products on one date: the first
    slaves: list[Image] = []
    dates = {m.date}
    for i in window:
        if i.date in dates:
            continue
        dates.add(i.date)
        slaves.append(i)
    if not slaves:
        raise SelectionError(f"no slave image left in the date window {win_txt} besides the master {m.date}")
    tracks = {(i.relative_orbit, i.mission if i.relative_orbit is None else "") for i in [m, *slaves]}
    if len({t[0] for t in tracks if t[0] is not None}) > 1:
        desc = ", ".join(f"{i.date}: relative orbit {i.relative_orbit}" for i in [m, *slaves])
        raise SelectionError(f"images of different tracks cannot be mixed ({desc}); narrow the date window or "
                             "use -e")
    return Selection(master=m, slaves=slaves)


def check_tracks(metas: Mapping[str, object]) -> None:
    """Check with the read metadata (SwathMetadata per image key) that every image is on one track and mode."""
    items = list(metas.items())
    if not items:
        return
    ref_key, ref = items[0]
    for key, meta in items[1:]:
        for attr, label in (("relative_orbit", "relative orbit"), ("pass_direction", "pass"),
                            ("mode", "mode"), ("swath", "swath"), ("polarisation", "polarisation")):
            a, b = getattr(ref, attr, None), getattr(meta, attr, None)
            if a is not None and b is not None and a != b:
                raise SelectionError(f"images of different tracks/modes cannot be mixed: {ref_key} has {label} {a},"
                                     f" {key} has {b}")
