"""Write simulated images as Sentinel-1 SAFE products: manifest.safe, product annotation, calibration and noise
XML (element names and layout of the ESA Level-1 product schema, s1-level-1-product.xsd), and the CInt16
measurement GeoTIFF with ESA file naming and geolocation-grid GCPs."""

from __future__ import annotations

import math
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from ..geometry import RadarGrid, llh_to_ecef, rdr2geo_dem
from ..io.atomic import atomic_path
from ..io.manifest import ManifestFacts, instrument_mode, manifest_xml
from ..metadata import GeolocationGrid, SwathMetadata
from ..timeutil import seconds_to_iso
from .physics import Dem

SOFTWARE = "diapsar simulator"


def _t(seconds: float) -> str:
    return seconds_to_iso(seconds, 6)


def _stamp(seconds: float) -> str:
    return seconds_to_iso(seconds, 0).replace("-", "").replace(":", "")


def _e(v: float) -> str:
    return f"{v:.15e}"


def _sub(parent: ET.Element, tag: str, text=None, **attrib) -> ET.Element:
    el = ET.SubElement(parent, tag, {k: str(v) for k, v in attrib.items()})
    if text is not None:
        el.text = str(text)
    return el


def _list(parent: ET.Element, tag: str, values, fmt=_e) -> ET.Element:
    vals = list(values)
    return _sub(parent, tag, " ".join(fmt(v) for v in vals), count=len(vals))


def names(meta: SwathMetadata, product_unique: str) -> tuple[str, str]:
    """(SAFE folder name without .SAFE, image file stem) following the ESA naming convention."""
    mode = meta.swath if meta.mode == "SM" else meta.mode
    pol = meta.polarisation.upper()
    pol_code = {"VV": "SV", "HH": "SH", "VH": "SV", "HV": "SH"}[pol]
    take = f"{meta.mission_data_take_id & 0xFFFFFF:06X}"
    start, stop = _stamp(meta.start_time_s), _stamp(meta.stop_time_s + 1.0)
    safe = (f"{meta.mission}_{mode:<2}_SLC__1S{pol_code}_{start}_{stop}_{meta.absolute_orbit:06d}_{take}_"
            f"{product_unique}")
    stem = (f"{meta.mission.lower()}-{meta.swath.lower()}-slc-{pol.lower()}-{start.lower()}-{stop.lower()}-"
            f"{meta.absolute_orbit:06d}-{take.lower()}-{meta.image_number}")
    return safe, stem


# ------------------------------------------------------------------------------------------ geolocation grid

def geolocation_grid(meta: SwathMetadata, orbit, dem: Dem, bistatic_reference_range_time_s: float | None = None,
                     rows: int = 10, cols: int = 21) -> GeolocationGrid:
    """ESA-like geolocation grid from the annotated timing (the annotation is self-consistent; a simulated
    timing error lives only in the pixels). IW: one row per burst boundary, as ESA writes it. Azimuth times
    follow ESA's bistatic convention: the zero-Doppler time of the point at (line, tau) is the line time +
    (tau - tau_ref) / 2, so ``RadarGrid.from_metadata`` fits tau_ref back from the written grid."""
    rg = RadarGrid.from_metadata(meta, bistatic=False)
    if meta.is_tops:
        lines = np.array([b.first_line for b in meta.bursts] + [meta.number_of_lines - 1], dtype=np.int64)
    else:
        lines = np.unique(np.round(np.linspace(0, meta.number_of_lines - 1, rows)).astype(np.int64))
    pixels = np.unique(np.round(np.linspace(0, meta.number_of_samples - 1, cols)).astype(np.int64))
    ll, pp = np.meshgrid(lines, pixels, indexing="ij")
    tau = rg.pixel_to_range_time(pp)
    t = rg.line_to_time(ll)
    if bistatic_reference_range_time_s is not None:
        t = t + 0.5 * (tau - bistatic_reference_range_time_s)
    lat, lon, h = rdr2geo_dem(orbit, t, tau, dem.ellipsoidal, dem.transform, look_side=meta.look_side)
    xyz = np.asarray(llh_to_ecef(lat, lon, h))
    s, _ = orbit.position_velocity(t)
    los = s - xyz
    los /= np.linalg.norm(los, axis=-1, keepdims=True)
    la, lo = np.radians(lat), np.radians(lon)
    normal = np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)], -1)
    inc = np.degrees(np.arccos(np.clip(np.sum(los * normal, -1), -1, 1)))
    nadir = -s / np.linalg.norm(s, axis=-1, keepdims=True)
    elev = np.degrees(np.arccos(np.clip(np.sum(-los * nadir, -1), -1, 1)))
    f = np.ravel
    return GeolocationGrid(f(t), f(tau), f(ll), f(pp), f(lat), f(lon), f(h), f(inc), f(elev))


# ------------------------------------------------------------------------------------------ annotation

def _header(root: ET.Element, meta: SwathMetadata) -> None:
    h = _sub(root, "adsHeader")
    _sub(h, "missionId", meta.mission)
    _sub(h, "productType", meta.product_type)
    _sub(h, "polarisation", meta.polarisation)
    _sub(h, "mode", meta.mode if meta.mode != "SM" else "SM")
    _sub(h, "swath", meta.swath)
    _sub(h, "startTime", _t(meta.start_time_s))
    _sub(h, "stopTime", _t(meta.stop_time_s))
    _sub(h, "absoluteOrbitNumber", meta.absolute_orbit)
    _sub(h, "missionDataTakeId", meta.mission_data_take_id)
    _sub(h, "imageNumber", meta.image_number)


def annotation_xml(meta: SwathMetadata, terrain_height_m: float, extra: dict | None = None) -> bytes:
    extra = extra or {}
    root = ET.Element("product")
    _header(root, meta)
    qi = _sub(root, "qualityInformation")
    _sub(qi, "productQualityIndex", _e(0.0))
    ga = _sub(root, "generalAnnotation")
    pi = _sub(ga, "productInformation")
    _sub(pi, "pass", meta.pass_direction)
    _sub(pi, "timelinessCategory", "Fast-24h")
    _sub(pi, "platformHeading", _e(meta.platform_heading_deg))
    _sub(pi, "projection", "Slant Range")
    _sub(pi, "rangeSamplingRate", _e(meta.range_sampling_rate_hz))
    _sub(pi, "radarFrequency", _e(meta.radar_frequency_hz))
    _sub(pi, "azimuthSteeringRate", _e(meta.azimuth_steering_rate_deg_s))
    dll = _sub(ga, "downlinkInformationList", count=1)
    dl = _sub(dll, "downlinkInformation")
    _sub(dl, "swath", meta.swath)
    _sub(dl, "azimuthTime", _t(meta.first_line_time_s))
    _sub(dl, "firstLineSensingTime", _t(meta.first_line_time_s))
    _sub(dl, "lastLineSensingTime", _t(meta.last_line_time_s))
    _sub(dl, "prf", _e(meta.prf_hz))
    dv = _sub(dl, "downlinkValues")
    _sub(dv, "pri", _e(meta.pri_s))
    sv = meta.orbit
    ol = _sub(ga, "orbitList", count=len(sv))
    for i in range(len(sv)):
        o = _sub(ol, "orbit")
        _sub(o, "time", _t(sv.time_s[i]))
        _sub(o, "frame", "Earth Fixed")
        p = _sub(o, "position")
        v = _sub(o, "velocity")
        for k, ax in enumerate("xyz"):
            _sub(p, ax, _e(sv.position_m[i, k]))
            _sub(v, ax, _e(sv.velocity_m_s[i, k]))
    th = _sub(ga, "terrainHeightList", count=1)
    tt = _sub(th, "terrainHeight")
    _sub(tt, "azimuthTime", _t(meta.first_line_time_s))
    _sub(tt, "value", _e(terrain_height_m))
    fml = _sub(ga, "azimuthFmRateList", count=len(meta.fm_rates))
    for fm in meta.fm_rates:
        f = _sub(fml, "azimuthFmRate")
        _sub(f, "azimuthTime", _t(fm.azimuth_time_s))
        _sub(f, "t0", _e(fm.t0_s))
        _list(f, "azimuthFmRatePolynomial", fm.coefficients)

    ia = _sub(root, "imageAnnotation")
    ii = _sub(ia, "imageInformation")
    _sub(ii, "productFirstLineUtcTime", _t(meta.first_line_time_s))
    _sub(ii, "productLastLineUtcTime", _t(meta.last_line_time_s))
    _sub(ii, "ascendingNodeTime", _t(meta.ascending_node_time_s))
    _sub(ii, "anchorTime", _t(meta.first_line_time_s))
    _sub(ii, "productComposition", "Individual")
    _sub(ii, "slantRangeTime", _e(meta.slant_range_time_s))
    _sub(ii, "pixelValue", "Complex")
    _sub(ii, "outputPixels", "16 bit Signed Integer")
    _sub(ii, "rangePixelSpacing", _e(meta.range_pixel_spacing_m))
    _sub(ii, "azimuthPixelSpacing", _e(meta.azimuth_pixel_spacing_m))
    _sub(ii, "azimuthTimeInterval", _e(meta.azimuth_time_interval_s))
    _sub(ii, "azimuthFrequency", _e(1.0 / meta.azimuth_time_interval_s))
    _sub(ii, "numberOfSamples", meta.number_of_samples)
    _sub(ii, "numberOfLines", meta.number_of_lines)
    _sub(ii, "zeroDopMinusAcqTime", _e(0.0))
    _sub(ii, "incidenceAngleMidSwath", _e(meta.incidence_angle_mid_deg))
    pinfo = _sub(ia, "processingInformation")
    spl = _sub(pinfo, "swathProcParamsList", count=1)
    spp = _sub(spl, "swathProcParams")
    _sub(spp, "swath", meta.swath)
    for tag, bw, win in (("rangeProcessing", meta.range_bandwidth_hz, 0.75),
                         ("azimuthProcessing", meta.azimuth_bandwidth_hz, 0.7)):
        rp = _sub(spp, tag)
        _sub(rp, "windowType", "Hamming")
        _sub(rp, "windowCoefficient", _e(win))
        _sub(rp, "totalBandwidth", _e(bw))
        _sub(rp, "processingBandwidth", _e(bw))
        _sub(rp, "lookBandwidth", _e(bw))
        _sub(rp, "numberOfLooks", 1)
        _sub(rp, "lookOverlap", _e(0.0))
    _sub(pinfo, "ellipsoidName", "WGS84")
    _sub(pinfo, "ellipsoidSemiMajorAxis", _e(6378137.0))
    _sub(pinfo, "ellipsoidSemiMinorAxis", _e(6356752.314245))

    dcn = _sub(root, "dopplerCentroid")
    dcl = _sub(dcn, "dcEstimateList", count=len(meta.dc_estimates))
    for dc in meta.dc_estimates:
        d = _sub(dcl, "dcEstimate")
        _sub(d, "azimuthTime", _t(dc.azimuth_time_s))
        _sub(d, "t0", _e(dc.t0_s))
        _list(d, "geometryDcPolynomial", dc.coefficients)
        _list(d, "dataDcPolynomial", dc.coefficients)
        _sub(d, "dataDcRmsError", _e(0.0))
        _sub(d, "dataDcRmsErrorAboveThreshold", "false")

    st = _sub(root, "swathTiming")
    _sub(st, "linesPerBurst", meta.lines_per_burst)
    _sub(st, "samplesPerBurst", meta.samples_per_burst)
    bl = _sub(st, "burstList", count=len(meta.bursts))
    offsets = extra.get("burst_byte_offsets", [0] * len(meta.bursts))
    for b, off in zip(meta.bursts, offsets):
        e = _sub(bl, "burst")
        _sub(e, "azimuthTime", _t(b.azimuth_time_s))
        _sub(e, "azimuthAnxTime", _e(b.azimuth_anx_time_s))
        _sub(e, "sensingTime", _t(b.sensing_time_s))
        _sub(e, "byteOffset", int(off))
        _list(e, "firstValidSample", b.first_valid_sample, fmt=lambda v: str(int(v)))
        _list(e, "lastValidSample", b.last_valid_sample, fmt=lambda v: str(int(v)))
        if b.burst_id is not None:
            _sub(e, "burstId", int(b.burst_id), absolute=int(b.burst_id))

    g = meta.geolocation_grid
    gg = _sub(root, "geolocationGrid")
    gl = _sub(gg, "geolocationGridPointList", count=g.line.size)
    for i in range(g.line.size):
        p = _sub(gl, "geolocationGridPoint")
        _sub(p, "azimuthTime", _t(g.azimuth_time_s[i]))
        _sub(p, "slantRangeTime", _e(g.slant_range_time_s[i]))
        _sub(p, "line", int(g.line[i]))
        _sub(p, "pixel", int(g.pixel[i]))
        _sub(p, "latitude", _e(g.latitude_deg[i]))
        _sub(p, "longitude", _e(g.longitude_deg[i]))
        _sub(p, "height", _e(g.height_m[i]))
        _sub(p, "incidenceAngle", _e(g.incidence_angle_deg[i]))
        _sub(p, "elevationAngle", _e(g.elevation_angle_deg[i]))
    cc = _sub(root, "coordinateConversion")
    _sub(cc, "coordinateConversionList", count=0)
    sm = _sub(root, "swathMerging")
    _sub(sm, "swathMergeList", count=0)
    ET.indent(root, "  ")
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _vector_lines(meta: SwathMetadata, step: int) -> np.ndarray:
    return np.unique(np.r_[np.arange(0, meta.number_of_lines, step), meta.number_of_lines - 1])


def _vector_pixels(meta: SwathMetadata, step: int = 40) -> np.ndarray:
    return np.unique(np.r_[np.arange(0, meta.number_of_samples, step), meta.number_of_samples - 1])


def _vector_list(root: ET.Element, meta: SwathMetadata, list_tag: str, vector_tag: str, luts) -> np.ndarray:
    """``list_tag`` of ``vector_tag`` elements (azimuth time, line, pixels and the LUTs ``luts(pixels)``, a dict
    tag -> values) once per burst (stripmap: every 200 lines) and at the last line; returns the lines."""
    lines = _vector_lines(meta, max(1, meta.lines_per_burst or 200))
    pixels = _vector_pixels(meta)
    tables = luts(pixels)
    rg = RadarGrid.from_metadata(meta, bistatic=False)
    vl = _sub(root, list_tag, count=lines.size)
    for ln in lines:
        v = _sub(vl, vector_tag)
        _sub(v, "azimuthTime", _t(float(rg.line_to_time(ln))))
        _sub(v, "line", int(ln))
        _list(v, "pixel", pixels, fmt=lambda x: str(int(x)))
        for tag, values in tables.items():
            _list(v, tag, values, fmt=lambda x: f"{x:.6e}")
    return lines


def calibration_xml(meta: SwathMetadata, beta_dn: float) -> bytes:
    """Calibration LUTs: beta0 constant (``beta_dn``); sigma0 and gamma from the incidence angle of the
    geolocation grid (sigma0 = beta0 sin(theta), gamma0 = sigma0 / cos(theta))."""
    root = ET.Element("calibration")
    _header(root, meta)
    ci = _sub(root, "calibrationInformation")
    _sub(ci, "absoluteCalibrationConstant", _e(1.0))
    g = meta.geolocation_grid
    first = g.line == g.line.min()

    def luts(pixels):
        s = np.radians(np.interp(pixels, g.pixel[first], g.incidence_angle_deg[first]))
        sigma = beta_dn / np.sqrt(np.sin(s))
        beta = np.full(pixels.size, beta_dn)
        return {"sigmaNought": sigma, "betaNought": beta, "gamma": sigma * np.sqrt(np.cos(s)), "dn": beta}

    _vector_list(root, meta, "calibrationVectorList", "calibrationVector", luts)
    ET.indent(root, "  ")
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def noise_xml(meta: SwathMetadata, noise_power_dn2: float) -> bytes:
    """Thermal noise: a flat range LUT equal to the simulated noise power (DN^2) and a unit azimuth LUT."""
    root = ET.Element("noise")
    _header(root, meta)
    lines = _vector_list(root, meta, "noiseRangeVectorList", "noiseRangeVector",
                         lambda pixels: {"noiseRangeLut": np.full(pixels.size, noise_power_dn2)})
    al = _sub(root, "noiseAzimuthVectorList", count=1)
    a = _sub(al, "noiseAzimuthVector")
    _sub(a, "swath", meta.swath)
    _sub(a, "firstAzimuthLine", 0)
    _sub(a, "firstRangeSample", 0)
    _sub(a, "lastAzimuthLine", meta.number_of_lines - 1)
    _sub(a, "lastRangeSample", meta.number_of_samples - 1)
    _list(a, "line", lines, fmt=lambda x: str(int(x)))
    _list(a, "noiseAzimuthLut", np.ones(lines.size), fmt=lambda x: f"{x:.6e}")
    ET.indent(root, "  ")
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


# ------------------------------------------------------------------------------------------ manifest

def manifest_facts(metas: list[SwathMetadata], footprint_latlon) -> ManifestFacts:
    """What the manifest of a simulated product (one image per metadata) says."""
    m = metas[0]
    return ManifestFacts(
        mission=m.mission, mode=instrument_mode(m), swaths=[mm.swath for mm in metas], product_type="SLC",
        polarisations=[m.polarisation], absolute_orbit=m.absolute_orbit, relative_orbit=m.relative_orbit,
        pass_direction=m.pass_direction, start_time_s=min(mm.start_time_s for mm in metas),
        stop_time_s=max(mm.stop_time_s for mm in metas), footprint_latlon=list(footprint_latlon),
        ascending_node_time_s=m.ascending_node_time_s, mission_data_take_id=m.mission_data_take_id,
        product_class="S", facility=SOFTWARE, processing_name="SLC Simulation")


# ------------------------------------------------------------------------------------------ measurement

def write_measurement(path: Path, data: np.ndarray, grid: GeolocationGrid) -> list[int]:
    """CInt16 GeoTIFF, one strip per line (as ESA writes them), with the geolocation grid as GCPs; returns
    the byte offset of every line."""
    import rasterio
    from rasterio.control import GroundControlPoint
    from rasterio.crs import CRS
    from rasterio.errors import NotGeoreferencedWarning

    nl, ns = data.shape
    gcps = [GroundControlPoint(row=float(r), col=float(c), x=float(lo), y=float(la), z=float(h))
            for r, c, lo, la, h in zip(grid.line, grid.pixel, grid.longitude_deg, grid.latitude_deg,
                                       grid.height_m)]
    profile = dict(driver="GTiff", width=ns, height=nl, count=1, dtype="complex_int16", blockysize=1,
                   tiled=False, interleave="band")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with atomic_path(path) as tmp:
            with rasterio.open(tmp, "w", **profile) as dst:
                dst.gcps = (gcps, CRS.from_epsg(4326))
                dst.update_tags(TIFFTAG_SOFTWARE=SOFTWARE)
                dst.write(data.astype(np.complex64, copy=False), 1)
            with rasterio.open(tmp) as ds:
                offsets = [int(ds.get_tag_item(f"BLOCK_OFFSET_0_{r}", "TIFF", bidx=1) or 0) for r in range(nl)]
    return offsets


def write_safe(out_dir: Path, metas: list[SwathMetadata], images: list[np.ndarray], product_unique: str,
               terrain_height_m: float, beta_dn: float, noise_power_dn2: float) -> Path:
    """Write one SAFE folder holding one image per metadata (same product, different swaths)."""
    safe_name, _ = names(metas[0], product_unique)
    final = out_dir / f"{safe_name}.SAFE"
    files: dict[str, bytes | Path] = {}
    with atomic_path(final) as tmp:
        (tmp / "annotation" / "calibration").mkdir(parents=True)
        (tmp / "measurement").mkdir()
        for meta, img in zip(metas, images):
            _, stem = names(meta, product_unique)
            meta.product_name = safe_name
            meta.measurement_name = f"{stem}.tiff"
            meta.annotation_name = f"{stem}.xml"
            meas = tmp / "measurement" / f"{stem}.tiff"
            offsets = write_measurement(meas, img, meta.geolocation_grid)
            extra = {}
            if meta.is_tops:
                extra["burst_byte_offsets"] = [offsets[b.first_line] for b in meta.bursts]
            ann = annotation_xml(meta, terrain_height_m, extra)
            cal = calibration_xml(meta, beta_dn)
            noi = noise_xml(meta, noise_power_dn2)
            for rel, content in ((f"annotation/{stem}.xml", ann),
                                 (f"annotation/calibration/calibration-{stem}.xml", cal),
                                 (f"annotation/calibration/noise-{stem}.xml", noi)):
                (tmp / rel).write_bytes(content)
                files[rel] = content
            files[f"measurement/{stem}.tiff"] = meas
        g = metas[0].geolocation_grid
        corners = []
        for lv, pv in ((g.line.min(), g.pixel.min()), (g.line.min(), g.pixel.max()),
                       (g.line.max(), g.pixel.max()), (g.line.max(), g.pixel.min())):
            i = int(np.argmin(np.abs(g.line - lv) + np.abs(g.pixel - pv)))
            corners.append((float(g.latitude_deg[i]), float(g.longitude_deg[i])))
        manifest = manifest_xml(manifest_facts(metas, corners), dict(sorted(files.items())))
        (tmp / "manifest.safe").write_bytes(manifest)
    return final


def heading_deg(orbit, t: float, lat: float, lon: float) -> float:
    """Platform heading (deg clockwise from north) of the ground-projected velocity at time t."""
    _, v = orbit.position_velocity(np.array([t]))
    la, lo = math.radians(lat), math.radians(lon)
    e = np.array([-math.sin(lo), math.cos(lo), 0.0])
    n = np.array([-math.sin(la) * math.cos(lo), -math.sin(la) * math.sin(lo), math.cos(la)])
    return math.degrees(math.atan2(float(v[0] @ e), float(v[0] @ n)))
