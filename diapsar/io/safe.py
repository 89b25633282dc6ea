"""Open Sentinel-1 products: SAFE folders, zipped SAFE (read in place), lone measurement TIFFs, bare annotations.

``open_product(path) -> Product`` accepts:

- a ``*.SAFE`` folder (with or without ``manifest.safe``), or any folder holding an ``annotation/`` folder;
- a zip holding a SAFE (members are read with ``zipfile``; pixels through GDAL ``/vsizip/``, no extraction);
- a measurement TIFF ``<SAFE>/measurement/<name>.tiff`` whose annotation is ``../annotation/<name>.xml``
  (the product is then restricted to that swath/polarisation);
- an annotation XML (``<SAFE>/annotation/<name>.xml`` or a lone file); calibration and noise are taken from
  ``calibration/calibration-<name>.xml`` and ``calibration/noise-<name>.xml`` beside it when present.

``open_annotation(xml_path) -> SwathMetadata`` is the short form for the last case.

Annotations are parsed on first use (``Product.swath``) and cached; opening a product reads the manifest (or,
without a manifest, one annotation header) only.
"""

from __future__ import annotations

import os
import posixpath
import re
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ProductError, SelectionError
from ..metadata import SwathMetadata
from ..timeutil import iso_to_seconds
from .annotation import MISSIONS, STRIPMAP_BEAMS, parse_annotation, parse_calibration, parse_noise
from .measurement import MeasurementReader

# s1a-iw1-slc-vv-20230904t063731-20230904t063756-050174-0609e3-004.xml ; GRD: s1b-iw-grd-vv-...
_ANNOTATION_RE = re.compile(r"^(s1[a-z])-([a-z0-9]+)-([a-z]+)-([hv]{2})-.*\.xml$", re.IGNORECASE)
# S1A_IW_SLC__1SDV_20230904T063730_20230904T063757_050174_0609E3_DAA1
_PRODUCT_RE = re.compile(
    r"^(S1[A-Z])_([A-Z0-9]{2})_([A-Z]{3})([A-Z_])_(\d)([A-Z])([A-Z]{2})_(\d{8}T\d{6})_(\d{8}T\d{6})_(\d{6})_"
    r"([0-9A-F]{6})_([0-9A-F]{4})")
_POL_ORDER = {"VV": 0, "HH": 1, "VH": 2, "HV": 3}


# ----------------------------------------------------------------------------------------------------------
# where the files are: a folder or a zip

class _Source:
    """Files of one product, addressed by POSIX paths relative to the SAFE root."""

    display: str

    def files(self) -> list[str]:
        raise NotImplementedError

    def exists(self, rel: str) -> bool:
        raise NotImplementedError

    def size(self, rel: str) -> int:
        raise NotImplementedError

    def read(self, rel: str) -> bytes:
        raise NotImplementedError

    def gdal_path(self, rel: str) -> str:
        raise NotImplementedError


class _DirSource(_Source):
    def __init__(self, root: Path):
        self.root = root
        self.display = str(root)

    def _p(self, rel: str) -> Path:
        return self.root / rel

    def files(self) -> list[str]:
        out = []
        for d, _, names in os.walk(self.root):
            for n in names:
                out.append(Path(d, n).relative_to(self.root).as_posix())
        return sorted(out)

    def exists(self, rel: str) -> bool:
        return self._p(rel).is_file()

    def size(self, rel: str) -> int:
        return self._p(rel).stat().st_size

    def read(self, rel: str) -> bytes:
        try:
            return self._p(rel).read_bytes()
        except OSError as exc:
            raise ProductError(f"cannot read {self._p(rel)}: {exc.strerror or exc}") from None

    def gdal_path(self, rel: str) -> str:
        return str(self._p(rel))


class _ZipSource(_Source):
    def __init__(self, zpath: Path):
        self.zpath = zpath
        self.display = str(zpath)
        try:
            self.zf = zipfile.ZipFile(zpath)
        except (zipfile.BadZipFile, OSError) as exc:
            raise ProductError(f"{zpath} is not a readable zip file: {exc}") from None
        infos = [i for i in self.zf.infolist() if not i.filename.startswith("__MACOSX/")]
        names = [i.filename for i in infos]
        prefix = None
        for n in names:
            m = re.match(r"^(.*?[^/]+\.SAFE/)", n, re.IGNORECASE)
            if m:
                prefix = m.group(1)
                break
        if prefix is None:  # a zip of the SAFE content itself
            prefix = ""
        self.prefix = prefix
        self.safe_name = posixpath.basename(prefix.rstrip("/")) if prefix else zpath.stem
        self.infos = {i.filename[len(prefix):]: i for i in infos
                      if i.filename.startswith(prefix) and not i.is_dir() and len(i.filename) > len(prefix)}

    def files(self) -> list[str]:
        return sorted(self.infos)

    def exists(self, rel: str) -> bool:
        return posixpath.normpath(rel) in self.infos

    def size(self, rel: str) -> int:
        return self.infos[posixpath.normpath(rel)].file_size

    def read(self, rel: str) -> bytes:
        rel = posixpath.normpath(rel)
        if rel not in self.infos:
            raise ProductError(f"{self.zpath} has no member {self.prefix}{rel}")
        try:
            return self.zf.read(self.infos[rel])
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise ProductError(f"cannot read {rel} in {self.zpath}: {exc}") from None

    def gdal_path(self, rel: str) -> str:
        return f"/vsizip/{self.zpath.resolve()}/{self.prefix}{posixpath.normpath(rel)}"


# ----------------------------------------------------------------------------------------------------------
# manifest

@dataclass
class ManifestInfo:
    mission: str = ""
    mode: str = ""
    product_type: str = ""
    start_time_s: float | None = None
    stop_time_s: float | None = None
    absolute_orbit: int | None = None
    relative_orbit: int | None = None
    pass_direction: str = ""
    footprint_wkt: str = ""
    polarisations: tuple[str, ...] = ()
    files: tuple[str, ...] = ()


def parse_manifest(data: bytes, name: str = "manifest.safe") -> ManifestInfo:
    """The few manifest.safe facts diapsar uses, and the list of files it references (``dataObject``)."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise ProductError(f"{name} is not valid XML (truncated?): {exc}") from None
    info = ManifestInfo()

    def text(path: str) -> str:
        el = root.find(path)
        return el.text.strip() if el is not None and el.text else ""

    fam = text(".//{*}platform/{*}familyName")
    num = text(".//{*}platform/{*}number")
    if fam.upper().startswith("SENTINEL-1") and num:
        info.mission = "S1" + num.upper()
    mode = text(".//{*}instrumentMode/{*}mode")
    info.mode = "SM" if mode.upper() in STRIPMAP_BEAMS else mode.upper()
    info.product_type = text(".//{*}standAloneProductInformation/{*}productType").upper()
    for tag, attr in (("startTime", "start_time_s"), ("stopTime", "stop_time_s")):
        t = text(f".//{{*}}acquisitionPeriod/{{*}}{tag}")
        if t:
            try:
                setattr(info, attr, iso_to_seconds(t))
            except ValueError:
                pass
    for el in root.iter():
        tag = el.tag.rsplit("}", 1)[-1]
        if tag == "orbitNumber" and el.get("type", "start") == "start" and el.text and info.absolute_orbit is None:
            info.absolute_orbit = int(el.text)
        elif tag == "relativeOrbitNumber" and el.get("type", "start") == "start" and el.text \
                and info.relative_orbit is None:
            info.relative_orbit = int(el.text)
        elif tag == "pass" and el.text and not info.pass_direction:
            info.pass_direction = el.text.strip().capitalize()
    coords = text(".//{*}footPrint/{*}coordinates") or text(".//{*}coordinates")
    if coords:
        try:
            pts = [tuple(float(v) for v in c.split(",")) for c in coords.split()]
            ring = [(lon, lat) for lat, lon in pts]
            if ring and ring[0] != ring[-1]:
                ring.append(ring[0])
            info.footprint_wkt = "POLYGON((" + ", ".join(f"{x:.6f} {y:.6f}" for x, y in ring) + "))"
        except ValueError:
            pass
    info.polarisations = tuple(el.text.strip().upper() for el in root.iter()
                               if el.tag.endswith("transmitterReceiverPolarisation") and el.text)
    files = []
    for el in root.iter():
        href = el.get("href")
        if el.tag.rsplit("}", 1)[-1] == "fileLocation" and href:
            files.append(posixpath.normpath(href))
    info.files = tuple(files)
    return info


# ----------------------------------------------------------------------------------------------------------
# product

@dataclass
class ImageFiles:
    """Files of one (swath, polarisation) image, relative to the product root."""

    swath: str
    polarisation: str
    annotation: str
    measurement: str
    calibration: str
    noise: str


def _image_from_annotation_path(rel: str) -> ImageFiles | None:
    base = posixpath.basename(rel)
    m = _ANNOTATION_RE.match(base)
    if not m:
        return None
    d = posixpath.dirname(rel)
    stem = base[:-4]
    parent = posixpath.dirname(d) if posixpath.basename(d) == "annotation" else posixpath.join(d, "..")
    return ImageFiles(
        swath=m.group(2).upper(), polarisation=m.group(4).upper(), annotation=rel,
        measurement=posixpath.normpath(posixpath.join(parent, "measurement", stem + ".tiff")),
        calibration=posixpath.join(d, "calibration", "calibration-" + base),
        noise=posixpath.join(d, "calibration", "noise-" + base),
    )


class Product:
    """One Sentinel-1 product: identity, its (swath, polarisation) images, metadata and pixels."""

    def __init__(self, source: _Source, path: Path, name: str, images: list[ImageFiles],
                 manifest: ManifestInfo | None, missing_files: list[str]):
        self._source = source
        self.path = path
        self.name = name
        self._images = sorted(images, key=lambda i: (i.swath, _POL_ORDER.get(i.polarisation, 9)))
        self.manifest = manifest
        self.missing_files = missing_files
        self._cache: dict[tuple[str, str], SwathMetadata] = {}
        self._readers: dict[tuple[str, str], MeasurementReader] = {}
        m = _PRODUCT_RE.match(name)
        mf = manifest or ManifestInfo()
        first: SwathMetadata | None = None
        if not (mf.mission and mf.mode and mf.product_type and mf.start_time_s is not None) and not m:
            first = self.swath(self._images[0].swath, self._images[0].polarisation)

        def first_swath() -> SwathMetadata:  # the first image, for what neither manifest nor name tell
            return first if first is not None else self.swath(self._images[0].swath, self._images[0].polarisation)

        self.mission = mf.mission or (m.group(1) if m else first_swath().mission)
        mode = mf.mode or (m.group(2) if m else first_swath().mode)
        self.mode = "SM" if mode in STRIPMAP_BEAMS else mode
        ptype = mf.product_type or (m.group(3) if m else first_swath().product_type)
        self.product_type = "GRD" if ptype.startswith("GR") else ptype
        if mf.start_time_s is not None and mf.stop_time_s is not None:
            self.start_time_s, self.stop_time_s = mf.start_time_s, mf.stop_time_s
        elif m:
            self.start_time_s, self.stop_time_s = iso_to_seconds(m.group(8)), iso_to_seconds(m.group(9))
        else:
            self.start_time_s, self.stop_time_s = first_swath().start_time_s, first_swath().stop_time_s
        if self.mission not in MISSIONS:
            raise ProductError(f"{name}: unknown mission {self.mission!r} (expected one of {', '.join(MISSIONS)})")
        self.absolute_orbit = mf.absolute_orbit if mf.absolute_orbit is not None else (
            int(m.group(10)) if m else first_swath().absolute_orbit)

    # -- identity -------------------------------------------------------------------------------------------
    @property
    def images(self) -> list[tuple[str, str]]:
        """(swath, polarisation) pairs that have an annotation, sorted (swath, then VV/HH/VH/HV)."""
        return [(i.swath, i.polarisation) for i in self._images]

    @property
    def swaths(self) -> list[str]:
        return sorted({i.swath for i in self._images})

    @property
    def polarisations(self) -> list[str]:
        return sorted({i.polarisation for i in self._images}, key=lambda p: _POL_ORDER.get(p, 9))

    @property
    def relative_orbit(self) -> int:
        if self.manifest and self.manifest.relative_orbit:
            return self.manifest.relative_orbit
        return self.swath().relative_orbit

    @property
    def pass_direction(self) -> str:
        if self.manifest and self.manifest.pass_direction:
            return self.manifest.pass_direction
        return self.swath().pass_direction

    @property
    def footprint_wkt(self) -> str:
        """Manifest footprint, or the union of the swath footprints of the first polarisation."""
        if self.manifest and self.manifest.footprint_wkt:
            return self.manifest.footprint_wkt
        from shapely import wkt as swkt
        from shapely.ops import unary_union

        pol = self.polarisations[0]
        polys = [swkt.loads(s.footprint_wkt) for s in (self.swath(sw, pol) for sw in self.swaths
                                                          if (sw, pol) in self.images) if s.footprint_wkt]
        if not polys:
            return ""
        if len(polys) == 1:
            return self.swath(self.swaths[0], pol).footprint_wkt
        u = unary_union(polys)
        return u.convex_hull.wkt if u.geom_type != "Polygon" else u.wkt

    @property
    def date(self) -> str:
        from ..timeutil import date_string

        return date_string(self.start_time_s)

    def __repr__(self) -> str:
        return f"Product({self.name!r}, images={self.images})"

    # -- selection -------------------------------------------------------------------------------------------
    def _select(self, swath: str | None, polarisation: str | None) -> ImageFiles:
        sw = swath.upper() if swath else None
        pol = polarisation.upper() if polarisation else None
        cands = [i for i in self._images if (sw is None or i.swath == sw) and (pol is None or i.polarisation == pol)]
        if not cands:
            avail = ", ".join(f"{s} {p}" for s, p in self.images)
            what = " ".join(v for v in (sw, pol) if v)
            raise SelectionError(f"{self.name} has no {what} image (available: {avail})")
        return cands[0]

    def files(self, swath: str | None = None, polarisation: str | None = None) -> ImageFiles:
        return self._select(swath, polarisation)

    def swath(self, swath: str | None = None, polarisation: str | None = None) -> SwathMetadata:
        """Metadata of one image. ``None`` picks the first swath / the first of VV, HH, VH, HV present."""
        img = self._select(swath, polarisation)
        key = (img.swath, img.polarisation)
        if key not in self._cache:
            name = posixpath.basename(img.annotation)
            rel_orbit = self.manifest.relative_orbit if self.manifest else None
            meta = parse_annotation(self._source.read(img.annotation), name, rel_orbit, product_name=self.name)
            if (meta.swath, meta.polarisation) != key:
                raise ProductError(f"annotation {name} describes {meta.swath} {meta.polarisation}, "
                                   f"not {key[0]} {key[1]} as its name says")
            if self._source.exists(img.calibration):
                meta.calibration = parse_calibration(self._source.read(img.calibration),
                                                     posixpath.basename(img.calibration))
            if self._source.exists(img.noise):
                meta.noise = parse_noise(self._source.read(img.noise), posixpath.basename(img.noise))
            meta.measurement_name = posixpath.basename(img.measurement)
            self._cache[key] = meta
        return self._cache[key]

    def has_member(self, rel: str) -> bool:
        """Whether the file ``rel`` (path relative to the SAFE root) exists in the product."""
        return self._source.exists(rel)

    def read_member(self, rel: str) -> bytes:
        """Bytes of the file ``rel`` (path relative to the SAFE root), from a folder or a zip."""
        return self._source.read(rel)

    def all_swaths(self) -> list[SwathMetadata]:
        return [self.swath(s, p) for s, p in self.images]

    # -- pixels ----------------------------------------------------------------------------------------------
    def measurement_path(self, swath: str | None = None, polarisation: str | None = None) -> str:
        """Path of the measurement TIFF as GDAL opens it (``/vsizip/...`` inside a zip)."""
        return self._source.gdal_path(self._select(swath, polarisation).measurement)

    def has_pixels(self, swath: str | None = None, polarisation: str | None = None) -> bool:
        """True when the measurement TIFF exists and is not empty (metadata-only products have none)."""
        img = self._select(swath, polarisation)
        return self._source.exists(img.measurement) and self._source.size(img.measurement) > 0

    def measurement(self, swath: str | None = None, polarisation: str | None = None) -> MeasurementReader:
        """A lazily opened reader of the image's measurement (cached; closed by ``close``)."""
        img = self._select(swath, polarisation)
        key = (img.swath, img.polarisation)
        if key not in self._readers:
            if not self._source.exists(img.measurement):
                raise ProductError(f"{self.name}: measurement {img.measurement} is missing")
            if self._source.size(img.measurement) == 0:
                raise ProductError(f"{self.name}: measurement {img.measurement} is empty (0 bytes): "
                                   "this product carries metadata only")
            meta = self.swath(*key)
            self._readers[key] = MeasurementReader(self._source.gdal_path(img.measurement),
                                                   name=posixpath.basename(img.measurement),
                                                   expected_shape=(meta.number_of_lines, meta.number_of_samples))
        return self._readers[key]

    def read(self, swath: str | None, polarisation: str | None, line0: int, sample0: int,
             nlines: int, nsamples: int, out: np.ndarray | None = None) -> np.ndarray:
        """Window of the image as complex64 (SLC) or float32 (GRD); lines/samples of the full swath image;
        ``out``: a complex64 array of the window's shape to read into (SLC)."""
        return self.measurement(swath, polarisation).read((line0, sample0, nlines, nsamples), out=out)

    def close(self) -> None:
        for r in self._readers.values():
            r.close()
        self._readers.clear()

    def __enter__(self) -> Product:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- summary -----------------------------------------------------------------------------------------
    def summary(self) -> dict:
        """Everything ``diapsar info`` prints (parses every annotation)."""
        from ..timeutil import seconds_to_iso

        swaths = []
        for s, p in self.images:
            m = self.swath(s, p)
            pixels, pixels_error = self.has_pixels(s, p), None
            if pixels:
                try:
                    _ = self.measurement(s, p).dataset  # the TIFF header opens and has the annotated size
                except ProductError as exc:
                    pixels, pixels_error = False, str(exc)
            swaths.append({
                "swath": s, "polarisation": p, "lines": m.number_of_lines, "samples": m.number_of_samples,
                "bursts": len(m.bursts), "burst_ids": [b.burst_id for b in m.bursts],
                "first_line_time": seconds_to_iso(m.first_line_time_s),
                "last_line_time": seconds_to_iso(m.last_line_time_s),
                "annotation": m.annotation_name, "measurement": m.measurement_name,
                "pixels": pixels, "pixels_error": pixels_error,
                "calibration": m.calibration is not None, "noise": m.noise is not None,
            })
        return {
            "name": self.name, "path": str(self.path), "mission": self.mission, "mode": self.mode,
            "product_type": self.product_type,
            "start": seconds_to_iso(self.start_time_s), "stop": seconds_to_iso(self.stop_time_s),
            "absolute_orbit": self.absolute_orbit, "relative_orbit": self.relative_orbit,
            "pass": self.pass_direction, "swaths": self.swaths, "polarisations": self.polarisations,
            "images": swaths, "footprint_wkt": self.footprint_wkt, "missing_files": list(self.missing_files),
        }


# ----------------------------------------------------------------------------------------------------------
# opening

def _header_of(data: bytes) -> tuple[str, str] | None:
    """(swath, polarisation) from the adsHeader of a product annotation, None for other XML files."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError:
        return None
    if root.tag.rsplit("}", 1)[-1] != "product":
        return None
    sw, pol = root.findtext("adsHeader/swath"), root.findtext("adsHeader/polarisation")
    return (sw.strip().upper(), pol.strip().upper()) if sw and pol else None


def _annotation_images(source: _Source, files: list[str]) -> list[ImageFiles]:
    """Images named like ESA annotations; otherwise any ``annotation/*.xml`` whose root is ``<product>``."""
    out = []
    others = []
    for rel in files:
        if posixpath.dirname(rel) != "annotation" or not rel.lower().endswith(".xml"):
            continue
        img = _image_from_annotation_path(rel)
        if img is not None:
            out.append(img)
        else:
            others.append(rel)
    if not out:
        for rel in others:
            head = _header_of(source.read(rel))
            if head is None:
                continue
            base = posixpath.basename(rel)
            out.append(ImageFiles(head[0], head[1], rel, f"measurement/{base[:-4]}.tiff",
                                  f"annotation/calibration/calibration-{base}",
                                  f"annotation/calibration/noise-{base}"))
    return out


def _missing(source: _Source, manifest: ManifestInfo | None) -> list[str]:
    if manifest is None:
        return []
    return [f for f in manifest.files if not source.exists(f)]


def _build(source: _Source, path: Path, name: str, only: ImageFiles | None = None) -> Product:
    files = source.files()
    manifest = None
    if source.exists("manifest.safe"):
        manifest = parse_manifest(source.read("manifest.safe"), f"{name}/manifest.safe")
    images = [only] if only is not None else _annotation_images(source, files)
    missing = _missing(source, manifest)
    if not images:
        extra = f"; its manifest lists {len(missing)} file(s) that are absent" if missing else ""
        raise ProductError(f"{path} has no annotation XML (annotation/s1*-*.xml): cannot read its metadata{extra}")
    return Product(source, path, name, images, manifest, missing)


def _product_name(folder: str) -> str:
    """Product name of a SAFE folder name (the ``.SAFE`` suffix, any case, left out)."""
    return folder[:-5] if folder.upper().endswith(".SAFE") else folder


def open_product(path: str | os.PathLike) -> Product:
    """Open a SAFE folder, a zipped SAFE, a measurement TIFF or an annotation XML (see the module doc)."""
    p = Path(path)
    if not p.exists():
        raise ProductError(f"{p} does not exist")
    if p.is_dir():
        if not (p / "annotation").is_dir() and not (p / "manifest.safe").is_file():
            safes = sorted(p.glob("*.SAFE"))
            if len(safes) == 1:
                p = safes[0]
            else:
                raise ProductError(f"{p} is not a Sentinel-1 SAFE folder (no manifest.safe, no annotation/)")
        name = _product_name(p.name)
        return _build(_DirSource(p), p, name)
    suffix = p.suffix.lower()
    if suffix == ".zip":
        src = _ZipSource(p)
        name = _product_name(src.safe_name)
        return _build(src, p, name)
    if suffix in (".tif", ".tiff"):
        ann = p.parent.parent / "annotation" / (p.stem + ".xml")
        if not ann.is_file():
            raise ProductError(f"no annotation for measurement {p.name}: expected {ann}")
        img = _image_from_annotation_path("annotation/" + ann.name)
        if img is None:
            raise ProductError(f"{ann.name} is not named like a Sentinel-1 annotation (s1a-iw1-slc-vv-...xml)")
        root = p.parent.parent
        name = _product_name(root.name)
        return _build(_DirSource(root), root, name, only=img)
    if suffix == ".xml":
        return _open_xml(p)
    if p.name == "manifest.safe":
        return open_product(p.parent)
    raise ProductError(f"{p} is not a SAFE folder, zip, measurement TIFF or annotation XML")


def _open_xml(p: Path) -> Product:
    base = p.name
    if p.parent.name == "annotation":
        root = p.parent.parent
        rel = "annotation/" + base
        name = _product_name(root.name)
    else:
        root = p.parent
        rel = base
        name = p.stem
    img = _image_from_annotation_path(rel)
    if img is None:
        # not named like an ESA annotation: look inside for the swath/polarisation
        try:
            head = p.read_bytes()
        except OSError as exc:
            raise ProductError(f"cannot read {p}: {exc.strerror or exc}") from None
        meta = parse_annotation(head, base)
        stem = p.stem
        d = posixpath.dirname(rel)
        img = ImageFiles(meta.swath, meta.polarisation, rel,
                         posixpath.normpath(posixpath.join(d or ".", "..", "measurement", stem + ".tiff")),
                         posixpath.join(d, "calibration", "calibration-" + base),
                         posixpath.join(d, "calibration", "noise-" + base))
    src = _DirSource(root)
    manifest = None
    if p.parent.name == "annotation" and src.exists("manifest.safe"):
        manifest = parse_manifest(src.read("manifest.safe"), f"{name}/manifest.safe")
    return Product(src, p, name, [img], manifest, _missing(src, manifest))


def open_annotation(xml_path: str | os.PathLike) -> SwathMetadata:
    """Metadata of one annotation XML (with calibration/noise found beside it, see ``open_product``)."""
    p = Path(xml_path)
    if p.is_dir():
        raise ProductError(f"{p} is a folder: give one annotation XML (e.g. <SAFE>/annotation/s1a-iw1-slc-vv-...xml)")
    if not p.is_file():
        raise ProductError(f"annotation {p} does not exist")
    return _open_xml(p).swath()
