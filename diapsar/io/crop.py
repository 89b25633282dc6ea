"""Cut a window out of a Sentinel-1 product and write it as a smaller, valid SAFE that ``open_product`` opens.

Rules (the crop keeps every annotation consistent with its pixels):

- Window = (line0, sample0, nlines, nsamples) in the full swath image (0-based). Samples are cut as asked.
- Stripmap / GRD: lines are cut as asked; ``productFirstLineUtcTime`` moves by ``line0 * azimuthTimeInterval``.
- IW / EW (TOPS): the line range is **widened to whole bursts**: every burst the window touches is kept
  entirely, so the burst records (azimuth time, ANX time, sensing time, burst ID, lines per burst) stay exact
  and the kept bursts remain stacked ``linesPerBurst`` lines apart. First/last valid samples are re-based
  on the new first sample (clipped; ``-1`` where a line has no valid sample left) and byte offsets point at
  the first line of each burst in the new TIFF.
- ``slantRangeTime`` moves by ``sample0 / rangeSamplingRate`` (GRD: the slant range of the new first pixel
  from the ground-to-slant polynomial nearest the first line, whose ground range origin ``gr0`` and
  slant-to-ground constant term move by ``sample0 * rangePixelSpacing``); ``numberOfLines/Samples``,
  ``samplesPerBurst`` and the product start/stop times are updated.
- Geolocation grid, calibration vectors and noise range vectors are re-based (line - line0, pixel - sample0)
  and reduced to the grid lines/pixels inside the window plus the nearest one on each side, so every pixel
  of the crop stays inside the kept grid (points just outside the window keep negative or too-large indices).
- IW / EW geolocation grid rows: ESA writes one row per burst at the burst's first line (its azimuth time
  is that burst's first-line time) plus one at the image's last line. A row outside the kept bursts belongs
  to a burst the crop no longer has (the row after the window, at line ``nlines``, has the time of the next
  burst's first line, ~165 lines before the last kept line in IW): only rows of the kept bursts are kept, and
  when the window's first or last line has no row (the last line never has one unless the window ends the
  swath) a row is **recomputed** there: same pixels and range times as the nearest removed row, azimuth time
  of that line by ESA's convention (line time + bistatic term of ``RadarGrid``), heights, incidence and
  elevation angles interpolated in azimuth time between the original rows at each pixel, latitude/longitude
  by ``rdr2geo`` with the annotation orbit. So the grid still encloses the window and every row is where
  geo2rdr puts it in the crop's own burst layout.
- Noise azimuth blocks are clipped to the window and re-based; blocks outside it are dropped.
- The measurement is written as an uncompressed CInt16 (SLC) or UInt16 (GRD) GeoTIFF with the kept
  geolocation points as GCPs; ``manifest.safe`` is rewritten with the files actually written.

Everything is written under a temporary name and renamed at the end (``atomic_path``).
"""

from __future__ import annotations

import posixpath
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from ..errors import OutputError, ProductError, SelectionError
from ..timeutil import seconds_to_iso
from .atomic import atomic_path
from .blocks import row_blocks, rows_per_block
from .manifest import ManifestFacts, instrument_mode, manifest_xml
from .safe import Product, open_product


def _bracket(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Sorted unique values inside [lo, hi] plus the nearest one below lo and above hi."""
    u = np.unique(np.asarray(values))
    if u.size == 0:
        return u
    i0 = max(int(np.searchsorted(u, lo, side="right")) - 1, 0)
    i1 = min(int(np.searchsorted(u, hi, side="left")), u.size - 1)
    return u[i0:i1 + 1]


def _tops_grid(meta, l0: int, nl: int):
    """Geolocation grid rows of the kept bursts [l0, l0 + nl) of a TOPS swath, full-image coordinates.

    Returns (keep, extra): ``keep`` a boolean mask over ``meta.geolocation_grid`` (rows inside the window),
    ``extra`` a ``GeolocationGrid`` of recomputed rows at the window's first / last line where the original
    grid has none (see the module doc), possibly empty.
    """
    import dataclasses

    from ..geometry import RadarGrid, rdr2geo
    from ..metadata import GeolocationGrid
    from ..orbit import orbit_for

    g = meta.geolocation_grid
    fields = [f.name for f in dataclasses.fields(GeolocationGrid)]
    keep = (g.line >= l0) & (g.line <= l0 + nl - 1)
    parts = []
    rows = np.unique(g.line)
    inside = rows[(rows >= l0) & (rows <= l0 + nl - 1)]
    rg = RadarGrid.from_metadata(meta) if rows.size >= 2 else None
    for edge in (l0, l0 + nl - 1):
        if rg is None or np.any(rows == edge):
            continue
        # source of pixels / range times: nearest removed row beyond this edge, else the nearest kept row
        beyond = rows[rows < l0] if edge == l0 else rows[rows > l0 + nl - 1]
        pool = beyond if beyond.size else (inside if inside.size else rows)
        src = pool[np.argmin(np.abs(pool - edge))]
        sel = np.nonzero(g.line == src)[0]
        tau = g.slant_range_time_s[sel]
        t = rg.line_to_time(np.full(sel.size, float(edge)), range_time=tau)
        new = {"azimuth_time_s": t, "slant_range_time_s": tau.copy(), "line": np.full(sel.size, edge, g.line.dtype),
               "pixel": g.pixel[sel].copy()}
        for name in ("height_m", "incidence_angle_deg", "elevation_angle_deg"):
            vals = np.empty(sel.size)
            for i, k in enumerate(sel):  # interpolate in azimuth time along this pixel's column of the grid
                col = np.nonzero(g.pixel == g.pixel[k])[0]
                order = np.argsort(g.azimuth_time_s[col])
                vals[i] = np.interp(t[i], g.azimuth_time_s[col][order], getattr(g, name)[col][order])
            new[name] = vals
        lat, lon, _ = rdr2geo(orbit_for(meta), t, tau, new["height_m"], meta.look_side)
        new["latitude_deg"], new["longitude_deg"] = np.asarray(lat, np.float64), np.asarray(lon, np.float64)
        parts.append(new)
    extra = GeolocationGrid(**{f: (np.concatenate([q[f] for q in parts]) if parts else getattr(g, f)[:0])
                               for f in fields})
    return keep, extra


def _ints(arr) -> str:
    return " ".join(str(int(v)) for v in arr)


def _set(parent: ET.Element, path: str, value: str) -> None:
    el = parent.find(path)
    if el is not None:
        el.text = value


def _find(parent: ET.Element, path: str) -> ET.Element:
    el = parent.find(path)
    if el is None:
        raise ProductError(f"annotation element <{path}> is missing")
    return el


def _text(parent: ET.Element, path: str) -> str:
    text = parent.findtext(path)
    if text is None:
        raise ProductError(f"annotation element <{path}> is missing")
    return text


def _time(seconds: float) -> str:
    return seconds_to_iso(seconds, 6)


def _first_range_time(meta, s0: int, first_time: float) -> float:
    """Two-way slant range time of sample ``s0`` (SLC: linear; GRD: through the grsr polynomial)."""
    if meta.product_type != "GRD" or not meta.srgr:
        return meta.slant_range_time_s + s0 / meta.range_sampling_rate_hz
    from ..metadata import SPEED_OF_LIGHT_M_S

    cc = min(meta.srgr, key=lambda c: abs(c["azimuth_time_s"] - first_time))
    gr = s0 * meta.range_pixel_spacing_m - cc["gr0_m"]
    return 2.0 * float(np.polynomial.polynomial.polyval(gr, cc["grsr_coefficients"])) / SPEED_OF_LIGHT_M_S


def _shift_srgr(entries: list[dict], shift_m: float) -> list[dict]:
    """GRD conversion records for an image whose first pixel moved ``shift_m`` metres in ground range."""
    out = []
    for c in entries:
        c = dict(c)
        c["gr0_m"] = c["gr0_m"] - shift_m
        sg = list(c["srgr_coefficients"])
        if sg:
            sg[0] = sg[0] - shift_m
        c["srgr_coefficients"] = sg
        out.append(c)
    return out


def plan_window(meta, line0: int, sample0: int, nlines: int, nsamples: int) -> tuple[int, int, int, int]:
    """The window actually written: checked against the image, TOPS lines widened to whole bursts."""
    n_l, n_s = meta.number_of_lines, meta.number_of_samples
    if nlines <= 0 or nsamples <= 0:
        raise SelectionError(f"crop window must have positive size, got {nlines} lines x {nsamples} samples")
    if line0 < 0 or sample0 < 0 or line0 + nlines > n_l or sample0 + nsamples > n_s:
        raise SelectionError(
            f"crop window lines {line0}..{line0 + nlines - 1}, samples {sample0}..{sample0 + nsamples - 1} "
            f"is outside {meta.swath} {meta.polarisation} ({n_l} lines x {n_s} samples)")
    if meta.is_tops:
        lpb = meta.lines_per_burst
        b0 = line0 // lpb
        b1 = min((line0 + nlines - 1) // lpb, len(meta.bursts) - 1)
        return b0 * lpb, sample0, (b1 - b0 + 1) * lpb, nsamples
    return line0, sample0, nlines, nsamples


# ----------------------------------------------------------------------------------------------------------
# annotation rewriting

def _crop_geolocation(root: ET.Element, l0: int, s0: int, nl: int, ns: int,
                      meta=None) -> list[tuple[int, int, float, float, float]]:
    """Rewrite the grid point list for the window; ``meta`` (the swath) is needed for TOPS rows."""
    import copy

    lst = root.find("geolocationGrid/geolocationGridPointList")
    if lst is None:
        return []
    pts = list(lst)
    if not pts:
        return []
    lines = np.array([int(_text(p, "line")) for p in pts])
    pixels = np.array([int(_text(p, "pixel")) for p in pts])
    keep_p = set(_bracket(pixels, s0, s0 + ns - 1).tolist())
    if meta is not None and meta.is_tops:
        keep_l = set(lines[(lines >= l0) & (lines <= l0 + nl - 1)].tolist())
        _, extra = _tops_grid(meta, l0, nl)
        for i in range(extra.line.size):  # recomputed rows (module doc), in ESA's element layout
            el = copy.deepcopy(pts[0])
            for tag, val in (("azimuthTime", _time(float(extra.azimuth_time_s[i]))),
                             ("slantRangeTime", repr(float(extra.slant_range_time_s[i]))),
                             ("line", str(int(extra.line[i]))), ("pixel", str(int(extra.pixel[i]))),
                             ("latitude", repr(float(extra.latitude_deg[i]))),
                             ("longitude", repr(float(extra.longitude_deg[i]))),
                             ("height", repr(float(extra.height_m[i]))),
                             ("incidenceAngle", repr(float(extra.incidence_angle_deg[i]))),
                             ("elevationAngle", repr(float(extra.elevation_angle_deg[i])))):
                _set(el, tag, val)
            pts.append(el)
            keep_l.add(int(extra.line[i]))
        lines = np.concatenate([lines, extra.line.astype(lines.dtype)])
        pixels = np.concatenate([pixels, extra.pixel.astype(pixels.dtype)])
        order = np.lexsort((pixels, lines))  # rows in line order, points in pixel order (as ESA writes)
        for p in list(lst):
            lst.remove(p)
        pts, lines, pixels = [pts[k] for k in order], lines[order], pixels[order]
        for p in pts:
            lst.append(p)
    else:
        keep_l = set(_bracket(lines, l0, l0 + nl - 1).tolist())
    gcps = []
    for p, ln, px in zip(pts, lines, pixels):
        if ln in keep_l and px in keep_p:
            _set(p, "line", str(int(ln - l0)))
            _set(p, "pixel", str(int(px - s0)))
            gcps.append((int(ln - l0), int(px - s0), float(_text(p, "longitude")),
                         float(_text(p, "latitude")), float(_text(p, "height"))))
        else:
            lst.remove(p)
    lst.set("count", str(len(lst)))
    return gcps


def _crop_vectors(root: ET.Element, list_path: str, value_tags: tuple[str, ...],
                  l0: int, s0: int, nl: int, ns: int, times: tuple[float, float] | None = None) -> None:
    """Calibration / noise range vectors: keep bracketing lines, re-base lines and pixels. ``times``: (first,
    last) azimuth time of the window; vectors annotated at a time inside it are kept too (the range noise vectors
    of TOPS SLCs, selected by azimuth time, whose <line> is a burst early: ``diapsar.noise``)."""
    lst = root.find(list_path)
    if lst is None:
        return
    vecs = list(lst)
    if not vecs:
        return
    lines = np.array([int(_text(v, "line")) for v in vecs])
    keep_mask = _bracket_mask(lines, l0, l0 + nl - 1)
    if times is not None:
        keep_mask |= _in_times([v.find("azimuthTime") for v in vecs], times)
    keep = set(lines[keep_mask].tolist())
    for v, ln in zip(vecs, lines):
        if ln not in keep:
            lst.remove(v)
            continue
        _set(v, "line", str(int(ln - l0)))
        pix_el = v.find("pixel")
        pix = np.array(pix_el.text.split(), dtype=np.int64) if pix_el is not None and pix_el.text else np.zeros(0, int)
        kp = _bracket(pix, s0, s0 + ns - 1)
        sel = np.isin(pix, kp)
        if pix_el is not None:
            pix_el.text = _ints(pix[sel] - s0)
            pix_el.set("count", str(int(sel.sum())))
        for tag in value_tags:
            el = v.find(tag)
            if el is None or not el.text:
                continue
            vals = el.text.split()
            if len(vals) != pix.size:
                raise ProductError(f"<{tag}> of a vector at line {ln} has {len(vals)} values for {pix.size} pixels")
            el.text = " ".join(np.array(vals)[sel].tolist())
            el.set("count", str(int(sel.sum())))
    lst.set("count", str(len(lst)))


def _crop_noise_azimuth(root: ET.Element, l0: int, s0: int, nl: int, ns: int) -> None:
    lst = root.find("noiseAzimuthVectorList")
    if lst is None:
        return
    for b in list(lst):
        fl, ll = int(_text(b, "firstAzimuthLine")), int(_text(b, "lastAzimuthLine"))
        fs, ls = int(_text(b, "firstRangeSample")), int(_text(b, "lastRangeSample"))
        if ll < l0 or fl > l0 + nl - 1 or ls < s0 or fs > s0 + ns - 1:
            lst.remove(b)
            continue
        _set(b, "firstAzimuthLine", str(max(fl, l0) - l0))
        _set(b, "lastAzimuthLine", str(min(ll, l0 + nl - 1) - l0))
        _set(b, "firstRangeSample", str(max(fs, s0) - s0))
        _set(b, "lastRangeSample", str(min(ls, s0 + ns - 1) - s0))
        line_el, lut_el = b.find("line"), b.find("noiseAzimuthLut")
        if line_el is not None and line_el.text:
            lines = np.array(line_el.text.split(), dtype=np.int64)
            sel = np.isin(lines, _bracket(lines, l0, l0 + nl - 1))
            line_el.text = _ints(lines[sel] - l0)
            line_el.set("count", str(int(sel.sum())))
            if lut_el is not None and lut_el.text:
                lut_el.text = " ".join(np.array(lut_el.text.split())[sel].tolist())
                lut_el.set("count", str(int(sel.sum())))
    lst.set("count", str(len(lst)))


def _set_header_times(root: ET.Element, start: float, stop: float) -> None:
    _set(root, "adsHeader/startTime", _time(start))
    _set(root, "adsHeader/stopTime", _time(stop))


def crop_annotation_xml(data: bytes, meta, window: tuple[int, int, int, int],
                        tiff_line_offsets: list[int] | None = None) -> tuple[bytes, list, float, float]:
    """Rewrite a product annotation for ``window`` (already planned). Returns (xml, gcps, first, last time)."""
    l0, s0, nl, ns = window
    root = ET.fromstring(data)
    ii = _find(root, "imageAnnotation/imageInformation")
    ati = meta.azimuth_time_interval_s
    if meta.is_tops:
        lpb = meta.lines_per_burst
        b0, b1 = l0 // lpb, (l0 + nl - 1) // lpb
        first = meta.bursts[b0].azimuth_time_s
        last = meta.bursts[b1].azimuth_time_s + (lpb - 1) * ati
        lst = _find(root, "swathTiming/burstList")
        for k, b in enumerate(list(lst)):
            if k < b0 or k > b1:
                lst.remove(b)
                continue
            src = meta.bursts[k]
            fvs, lvs = src.first_valid_sample, src.last_valid_sample
            ok = (fvs >= 0) & (lvs >= s0) & (fvs <= s0 + ns - 1)
            nf = np.where(ok, np.clip(fvs - s0, 0, ns - 1), -1)
            nlv = np.where(ok, np.clip(lvs - s0, 0, ns - 1), -1)
            _find(b, "firstValidSample").text = _ints(nf)
            _find(b, "lastValidSample").text = _ints(nlv)
            if tiff_line_offsets is not None:
                _set(b, "byteOffset", str(int(tiff_line_offsets[k - b0])))
        lst.set("count", str(len(lst)))
        _set(root, "swathTiming/samplesPerBurst", str(ns))
    else:
        first = meta.first_line_time_s + l0 * ati
        last = first + (nl - 1) * ati
    _set(ii, "productFirstLineUtcTime", _time(first))
    _set(ii, "productLastLineUtcTime", _time(last))
    _set(ii, "numberOfLines", str(nl))
    _set(ii, "numberOfSamples", str(ns))
    _set(ii, "slantRangeTime", repr(_first_range_time(meta, s0, first)))
    if meta.product_type == "GRD" and s0:
        shift = s0 * meta.range_pixel_spacing_m
        for cc in root.findall("coordinateConversion/coordinateConversionList/coordinateConversion"):
            _set(cc, "gr0", repr(float(_text(cc, "gr0")) - shift))
            el = _find(cc, "srgrCoefficients")
            coeffs = _text(cc, "srgrCoefficients").split()
            coeffs[0] = repr(float(coeffs[0]) - shift)
            el.text = " ".join(coeffs)
    _set_header_times(root, first, last)
    gcps = _crop_geolocation(root, l0, s0, nl, ns, meta)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True), gcps, first, last


def crop_calibration_xml(data: bytes, window, first: float, last: float) -> bytes:
    l0, s0, nl, ns = window
    root = ET.fromstring(data)
    _set_header_times(root, first, last)
    _crop_vectors(root, "calibrationVectorList", ("sigmaNought", "betaNought", "gamma", "dn"), l0, s0, nl, ns)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _in_times(elements: list, times: tuple[float, float]) -> np.ndarray:
    """Which azimuthTime elements (None: no time) fall in [first, last] (1 µs margin)."""
    from ..timeutil import iso_to_seconds

    t = np.array([iso_to_seconds(e.text.strip()) if e is not None and e.text else np.nan for e in elements])
    with np.errstate(invalid="ignore"):
        return (t >= times[0] - 1e-6) & (t <= times[1] + 1e-6)


def crop_noise_xml(data: bytes, window, first: float, last: float, tops: bool = False) -> bytes:
    """Noise annotation of a window; ``tops``: range vectors are also kept by azimuth time (``_crop_vectors``)."""
    l0, s0, nl, ns = window
    root = ET.fromstring(data)
    _set_header_times(root, first, last)
    if root.find("noiseRangeVectorList") is not None:
        _crop_vectors(root, "noiseRangeVectorList", ("noiseRangeLut",), l0, s0, nl, ns,
                      (first, last) if tops else None)
    else:
        _crop_vectors(root, "noiseVectorList", ("noiseLut",), l0, s0, nl, ns)
    _crop_noise_azimuth(root, l0, s0, nl, ns)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


# ----------------------------------------------------------------------------------------------------------
# measurement and manifest

def _write_measurement(product: Product, swath: str, pol: str, window, out: Path, gcps, ram_mb: float) -> list[int]:
    """Copy the window into a GeoTIFF; return the byte offset of every line (for burst byteOffset)."""
    import rasterio
    from rasterio.control import GroundControlPoint
    from rasterio.crs import CRS
    from rasterio.errors import NotGeoreferencedWarning

    l0, s0, nl, ns = window
    reader = product.measurement(swath, pol)
    complex_data = reader.is_complex
    dtype = "complex_int16" if complex_data else "uint16"
    profile = dict(driver="GTiff", width=ns, height=nl, count=1, dtype=dtype, blockysize=1, tiled=False,
                   interleave="band")
    if gcps:
        profile["gcps"] = [GroundControlPoint(row=r, col=c, x=lon, y=lat, z=h) for r, c, lon, lat, h in gcps]
        profile["crs"] = CRS.from_epsg(4326)
    rows = rows_per_block(ns, 16, ram_mb)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(out, "w", **profile) as dst:
            if gcps:
                dst.gcps = (profile["gcps"], profile["crs"])
            for blk in row_blocks(nl, rows):
                data = reader.read((l0 + blk.row0, s0, blk.rows, ns))
                if complex_data:
                    re_ = np.clip(np.rint(data.real), -32768, 32767)
                    im_ = np.clip(np.rint(data.imag), -32768, 32767)
                    data = (re_ + 1j * im_).astype(np.complex64)
                else:
                    data = np.clip(np.rint(data), 0, 65535).astype(np.uint16)
                dst.write(data, 1, window=rasterio.windows.Window(0, blk.row0, ns, blk.rows))
        with rasterio.open(out) as ds:
            offsets = [int(ds.get_tag_item(f"BLOCK_OFFSET_0_{r}", "TIFF", bidx=1) or 0) for r in range(0, nl)]
    return offsets


def _manifest_xml(product: Product, meta, files: list[str], first: float, last: float, footprint_wkt: str) -> bytes:
    """The crop's manifest.safe (``diapsar.io.manifest``): the facts ``parse_manifest`` reads, the files written."""
    ring = []
    if footprint_wkt:
        from shapely import wkt as swkt

        ring = [(lat, lon) for lon, lat in list(swkt.loads(footprint_wkt).exterior.coords)[:-1]]
    pols = sorted({posixpath.basename(f).split("-")[3].upper() for f in files if f.startswith("measurement/")})
    facts = ManifestFacts(
        mission=product.mission, mode=instrument_mode(meta), swaths=[meta.swath], product_type=product.product_type,
        polarisations=pols, absolute_orbit=meta.absolute_orbit, relative_orbit=meta.relative_orbit,
        pass_direction=meta.pass_direction, start_time_s=first, stop_time_s=last, footprint_latlon=ring)
    return manifest_xml(facts, dict.fromkeys(files))


# ----------------------------------------------------------------------------------------------------------
# entry point

def crop_product(product: Product | str | Path, out: str | Path, line0: int, sample0: int, nlines: int,
                 nsamples: int, swath: str | None = None, polarisations: list[str] | None = None,
                 ram_mb: float = 256.0) -> Path:
    """Write the window of one swath (all its polarisations with pixels, or ``polarisations``) as a SAFE.

    ``out`` is the SAFE folder to create when it ends with ``.SAFE``, otherwise the folder that receives
    ``<product name>.SAFE``. Returns the SAFE path. See the module doc for the rules.
    """
    if not isinstance(product, Product):
        product = open_product(product)
    ref = product.swath(swath, None if not polarisations else polarisations[0])
    sw = ref.swath
    pols = [p.upper() for p in polarisations] if polarisations else [p for s, p in product.images if s == sw]
    for p in pols:
        product.files(sw, p)  # SelectionError naming what exists
    if not polarisations:
        with_pixels = [p for p in pols if product.has_pixels(sw, p)]
        pols = with_pixels or pols
    for p in pols:
        if not product.has_pixels(sw, p):
            rel = product.files(sw, p).measurement
            raise ProductError(f"cannot crop {product.name} {sw} {p}: measurement {rel} is missing or empty "
                               "(0 bytes); only products with pixels can be cropped")
    window = plan_window(ref, line0, sample0, nlines, nsamples)
    out = Path(out)
    safe_dir = out if out.name.upper().endswith(".SAFE") else out / f"{product.name}.SAFE"
    src, dst = Path(product.path).resolve(), safe_dir.resolve()
    if src == dst or dst in src.parents:
        raise OutputError(f"crop output {safe_dir} would replace the product being cropped ({product.path})")
    with atomic_path(safe_dir) as tmp:
        (tmp / "annotation" / "calibration").mkdir(parents=True)
        (tmp / "measurement").mkdir()
        written: list[str] = []
        first = last = None
        for p in pols:
            meta = product.swath(sw, p)
            if (meta.number_of_lines, meta.number_of_samples) != (ref.number_of_lines, ref.number_of_samples):
                raise ProductError(f"{product.name}: {sw} {p} and {sw} {ref.polarisation} differ in size")
            files = product.files(sw, p)
            ann_name = posixpath.basename(files.annotation)
            stem = ann_name[:-4]
            # first pass for the geolocation points (GCPs of the TIFF), then the TIFF, then burst offsets
            ann_xml = product.read_member(files.annotation)
            _, gcps, _, _ = crop_annotation_xml(ann_xml, meta, window)
            tif_rel = f"measurement/{stem}.tiff"
            offsets = _write_measurement(product, sw, p, window, tmp / tif_rel, gcps, ram_mb)
            burst_offsets = None
            if meta.is_tops:
                burst_offsets = [offsets[k * meta.lines_per_burst] for k in range(window[2] // meta.lines_per_burst)]
            xml, _, first, last = crop_annotation_xml(ann_xml, meta, window, burst_offsets)
            (tmp / "annotation" / ann_name).write_bytes(xml)
            written += [f"annotation/{ann_name}", tif_rel]
            if product.has_member(files.calibration):
                rel = f"annotation/calibration/calibration-{ann_name}"
                (tmp / rel).write_bytes(crop_calibration_xml(product.read_member(files.calibration), window,
                                                             first, last))
                written.append(rel)
            if product.has_member(files.noise):
                rel = f"annotation/calibration/noise-{ann_name}"
                (tmp / rel).write_bytes(crop_noise_xml(product.read_member(files.noise), window, first, last,
                                                     tops=meta.is_tops))
                written.append(rel)
        # footprint from the cropped annotation itself
        from .annotation import parse_annotation

        assert first is not None and last is not None  # set by the loop: pols is never empty
        cropped = parse_annotation((tmp / written[0]).read_bytes(), posixpath.basename(written[0]))
        (tmp / "manifest.safe").write_bytes(_manifest_xml(product, ref, written, first, last, cropped.footprint_wkt))
    return safe_dir


def window_times(meta, window) -> tuple[float, float]:
    """First and last line time of a planned window (as written by ``crop_product``)."""
    l0, _, nl, _ = window
    if meta.is_tops:
        lpb = meta.lines_per_burst
        return (meta.bursts[l0 // lpb].azimuth_time_s,
                meta.bursts[(l0 + nl - 1) // lpb].azimuth_time_s + (lpb - 1) * meta.azimuth_time_interval_s)
    return (meta.first_line_time_s + l0 * meta.azimuth_time_interval_s,
            meta.first_line_time_s + (l0 + nl - 1) * meta.azimuth_time_interval_s)



# ----------------------------------------------------------------------------------------------------------
# the same window on the metadata structures (no file written)

def _bracket_mask(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return np.isin(values, _bracket(values, lo, hi))


def _window_vectors(line, pixel, columns, l0, s0, nl, ns, azimuth_time_s=None, times=(0.0, 0.0)):
    mask = _bracket_mask(line, l0, l0 + nl - 1)
    if azimuth_time_s is not None:  # TOPS range noise vectors: also by time (``_crop_vectors``)
        t = np.asarray(azimuth_time_s, dtype=np.float64)
        mask |= (t >= times[0] - 1e-6) & (t <= times[1] + 1e-6)
    keep = np.nonzero(mask)[0]
    new_pixel, new_cols = [], [[] for _ in columns]
    for k in keep:
        sel = _bracket_mask(pixel[k], s0, s0 + ns - 1)
        new_pixel.append(pixel[k][sel] - s0)
        for c, col in enumerate(columns):
            new_cols[c].append(col[k][sel])
    return keep, new_pixel, new_cols


def window_metadata(meta, line0: int, sample0: int, nlines: int, nsamples: int):
    """``SwathMetadata`` of a window, by the same rules as ``crop_product`` (TOPS lines widened to bursts).

    Use it to process a window of a product in place; the metadata equal those of the SAFE ``crop_product``
    writes for the same window, except burst byte offsets (0 here: no file).
    """
    import dataclasses

    from ..metadata import (
        Burst,
        CalibrationVectors,
        GeolocationGrid,
        NoiseAzimuthBlock,
        NoiseRangeVectors,
        NoiseVectors,
    )
    from .annotation import footprint_from_grid

    l0, s0, nl, ns = plan_window(meta, line0, sample0, nlines, nsamples)
    first, last = window_times(meta, (l0, s0, nl, ns))
    bursts: list[Burst] = []
    if meta.is_tops:
        lpb = meta.lines_per_burst
        for k in range(l0 // lpb, (l0 + nl - 1) // lpb + 1):
            b = meta.bursts[k]
            ok = (b.first_valid_sample >= 0) & (b.last_valid_sample >= s0) & (b.first_valid_sample <= s0 + ns - 1)
            bursts.append(dataclasses.replace(
                b, index=len(bursts), first_line=len(bursts) * lpb, byte_offset=0,
                first_valid_sample=np.where(ok, np.clip(b.first_valid_sample - s0, 0, ns - 1), -1),
                last_valid_sample=np.where(ok, np.clip(b.last_valid_sample - s0, 0, ns - 1), -1)))
    g = meta.geolocation_grid
    if meta.is_tops and g.line.size:
        keep, extra = _tops_grid(meta, l0, nl)
        g = GeolocationGrid(**{f.name: np.concatenate([getattr(g, f.name)[keep], getattr(extra, f.name)])
                               for f in dataclasses.fields(GeolocationGrid)})
        order = np.lexsort((g.pixel, g.line))
        g = GeolocationGrid(**{f.name: getattr(g, f.name)[order] for f in dataclasses.fields(GeolocationGrid)})
        sel = _bracket_mask(g.pixel, s0, s0 + ns - 1)
    else:
        sel = _bracket_mask(g.line, l0, l0 + nl - 1) & _bracket_mask(g.pixel, s0, s0 + ns - 1)
    grid = GeolocationGrid(**{f.name: getattr(g, f.name)[sel] for f in dataclasses.fields(GeolocationGrid)})
    grid.line = grid.line - l0
    grid.pixel = grid.pixel - s0
    cal = meta.calibration
    if cal is not None:
        keep, pix, (sig, bet, gam, dn) = _window_vectors(
            cal.line, cal.pixel, (cal.sigma_nought, cal.beta_nought, cal.gamma, cal.dn), l0, s0, nl, ns)
        cal = CalibrationVectors(cal.azimuth_time_s[keep], cal.line[keep] - l0, pix, sig, bet, gam, dn,
                                 cal.absolute_calibration_constant)
    noise = meta.noise
    if noise is not None:
        rv = noise.range_vectors
        if rv is not None:
            keep, pix, (vals,) = _window_vectors(rv.line, rv.pixel, (rv.values,), l0, s0, nl, ns,
                                                 rv.azimuth_time_s if meta.is_tops else None, (first, last))
            rv = NoiseRangeVectors(rv.azimuth_time_s[keep], rv.line[keep] - l0, pix, vals)
        blocks = []
        for b in noise.azimuth_blocks:
            if (b.last_azimuth_line < l0 or b.first_azimuth_line > l0 + nl - 1
                    or b.last_range_sample < s0 or b.first_range_sample > s0 + ns - 1):
                continue
            m = _bracket_mask(b.line, l0, l0 + nl - 1)
            blocks.append(NoiseAzimuthBlock(
                b.swath, max(b.first_azimuth_line, l0) - l0, max(b.first_range_sample, s0) - s0,
                min(b.last_azimuth_line, l0 + nl - 1) - l0, min(b.last_range_sample, s0 + ns - 1) - s0,
                b.line[m] - l0, b.values[m]))
        noise = NoiseVectors(rv, blocks)
    return dataclasses.replace(
        meta, number_of_lines=nl, number_of_samples=ns,
        slant_range_time_s=_first_range_time(meta, s0, first),
        srgr=_shift_srgr(meta.srgr, s0 * meta.range_pixel_spacing_m) if meta.product_type == "GRD" else meta.srgr,
        first_line_time_s=first, last_line_time_s=last, start_time_s=first, stop_time_s=last,
        samples_per_burst=ns if meta.is_tops else meta.samples_per_burst, bursts=bursts,
        geolocation_grid=grid, calibration=cal, noise=noise, footprint_wkt=footprint_from_grid(grid))
