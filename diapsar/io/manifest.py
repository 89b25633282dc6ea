"""Write ``manifest.safe``: the ESA XFDU layout with the facts ``diapsar.io.safe.parse_manifest`` reads.

One writer for every SAFE diapsar produces (crops of real products, simulated products): platform and
instrument mode with its swaths, orbit reference (absolute/relative orbit, pass, ascending node time),
product information (type, class, data-take ID, polarisations), acquisition period, footprint, and one
``dataObject`` per file (size and MD5 checksum when the file's content is given).
"""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..timeutil import seconds_to_iso
from .annotation import STRIPMAP_BEAMS

_NS = {
    "xfdu": "urn:ccsds:schema:xfdu:1", "safe": "http://www.esa.int/safe/sentinel-1.0",
    "s1": "http://www.esa.int/safe/sentinel-1.0/sentinel-1",
    "s1sarl1": "http://www.esa.int/safe/sentinel-1.0/sentinel-1/sar/level-1",
    "gml": "http://www.opengis.net/gml",
}


def _q(prefix: str, tag: str) -> str:
    return f"{{{_NS[prefix]}}}{tag}"


def instrument_mode(meta) -> str:
    """The manifest's instrument mode of a swath: the beam (S1..S6) for stripmap, else the mode (IW, EW)."""
    return meta.swath if meta.swath in STRIPMAP_BEAMS or meta.mode == "SM" else meta.mode


@dataclass
class ManifestFacts:
    """What a manifest says about its product (times in seconds since 2000-01-01 UTC)."""

    mission: str  # S1A, S1B, ...
    mode: str  # instrument mode: IW, EW or the stripmap beam S1..S6
    swaths: Sequence[str]
    product_type: str  # SLC, GRD
    polarisations: Sequence[str]
    absolute_orbit: int
    relative_orbit: int
    pass_direction: str
    start_time_s: float
    stop_time_s: float
    footprint_latlon: Sequence[tuple[float, float]] = field(default_factory=list)  # ring of (lat, lon)
    ascending_node_time_s: float | None = None
    mission_data_take_id: int | None = None
    product_class: str | None = None  # "S" (standard)
    facility: str | None = None  # processing facility written in the provenance section
    processing_name: str = "Processing"


def _file_bytes(content: bytes | Path | None) -> bytes | None:
    if content is None or isinstance(content, bytes):
        return content
    return Path(content).read_bytes()


def manifest_xml(facts: ManifestFacts, files: Mapping[str, bytes | Path | None]) -> bytes:
    """manifest.safe for ``files`` (path relative to the SAFE root -> content, a file to read, or None when
    size and checksum are not to be written), in the order given."""
    for k, v in _NS.items():
        ET.register_namespace(k, v)
    stripmap = facts.mode.upper() in STRIPMAP_BEAMS
    kind = "smdp" if stripmap else f"{facts.mode.lower()}dp"
    root = ET.Element(_q("xfdu", "XFDU"), {
        "version": f"esa/safe/sentinel-1.0/sentinel-1/sar/level-1/{facts.product_type.lower()}/standard/{kind}"})
    ipm = ET.SubElement(root, "informationPackageMap")
    cu = ET.SubElement(ipm, _q("xfdu", "contentUnit"), {
        "unitType": "SAFE Archive Information Package",
        "textInfo": f"Sentinel-1 {facts.mode} Level-1 {facts.product_type} Product"})
    sec = ET.SubElement(root, "metadataSection")

    def wrap(ident: str, text: str) -> ET.Element:
        mo = ET.SubElement(sec, "metadataObject", {"ID": ident, "classification": "DESCRIPTION", "category": "DMD"})
        md = ET.SubElement(mo, "metadataWrap", {"mimeType": "text/xml", "vocabularyName": "SAFE", "textInfo": text})
        return ET.SubElement(md, "xmlData")

    if facts.facility:
        pr = ET.SubElement(sec, "metadataObject", {"ID": "processing", "classification": "PROVENANCE",
                                                   "category": "PDI"})
        pw = ET.SubElement(ET.SubElement(pr, "metadataWrap", {"mimeType": "text/xml", "vocabularyName": "SAFE",
                                                              "textInfo": "Processing"}), "xmlData")
        proc = ET.SubElement(pw, _q("safe", "processing"), {"name": facts.processing_name})
        ET.SubElement(proc, _q("safe", "facility"), {"name": facts.facility})
    pf = ET.SubElement(wrap("platform", "Platform Description"), _q("safe", "platform"))
    ET.SubElement(pf, _q("safe", "familyName")).text = "SENTINEL-1"
    ET.SubElement(pf, _q("safe", "number")).text = facts.mission[-1]
    ins = ET.SubElement(pf, _q("safe", "instrument"))
    ET.SubElement(ins, _q("safe", "familyName"), {"abbreviation": "SAR"}).text = "Synthetic Aperture Radar"
    im = ET.SubElement(ET.SubElement(ins, _q("safe", "extension")), _q("s1sarl1", "instrumentMode"))
    ET.SubElement(im, _q("s1sarl1", "mode")).text = facts.mode
    for sw in facts.swaths:
        ET.SubElement(im, _q("s1sarl1", "swath")).text = sw
    orb = ET.SubElement(wrap("measurementOrbitReference", "Orbit Reference"), _q("safe", "orbitReference"))
    for tag, val in (("orbitNumber", facts.absolute_orbit), ("relativeOrbitNumber", facts.relative_orbit)):
        for typ in ("start", "stop"):
            ET.SubElement(orb, _q("safe", tag), {"type": typ}).text = str(val)
    oe = ET.SubElement(ET.SubElement(orb, _q("safe", "extension")), _q("s1", "orbitProperties"))
    ET.SubElement(oe, _q("s1", "pass")).text = facts.pass_direction.upper()
    if facts.ascending_node_time_s is not None:
        ET.SubElement(oe, _q("s1", "ascendingNodeTime")).text = seconds_to_iso(facts.ascending_node_time_s, 6)
    gpi = ET.SubElement(wrap("generalProductInformation", "General Product Information"),
                        _q("s1sarl1", "standAloneProductInformation"))
    if facts.mission_data_take_id is not None:
        ET.SubElement(gpi, _q("s1sarl1", "missionDataTakeID")).text = str(facts.mission_data_take_id)
    for pol in facts.polarisations:
        ET.SubElement(gpi, _q("s1sarl1", "transmitterReceiverPolarisation")).text = pol
    if facts.product_class:
        ET.SubElement(gpi, _q("s1sarl1", "productClass")).text = facts.product_class
    ET.SubElement(gpi, _q("s1sarl1", "productType")).text = facts.product_type
    ap = ET.SubElement(wrap("acquisitionPeriod", "Acquisition Period"), _q("safe", "acquisitionPeriod"))
    ET.SubElement(ap, _q("safe", "startTime")).text = seconds_to_iso(facts.start_time_s, 6)
    ET.SubElement(ap, _q("safe", "stopTime")).text = seconds_to_iso(facts.stop_time_s, 6)
    if facts.footprint_latlon:
        fr = ET.SubElement(ET.SubElement(ET.SubElement(wrap("measurementFrameSet", "Frame Set"),
                                                       _q("safe", "frameSet")), _q("safe", "frame")),
                           _q("safe", "footPrint"), {"srsName": "http://www.opengis.net/gml/srs/epsg.xml#4326"})
        ET.SubElement(fr, _q("gml", "coordinates")).text = " ".join(
            f"{la:.6f},{lo:.6f}" for la, lo in facts.footprint_latlon)
    dsec = ET.SubElement(root, "dataObjectSection")
    for i, (rel, content) in enumerate(files.items()):
        ident = f"{rel.split('/')[0]}{i}"
        ET.SubElement(cu, _q("xfdu", "contentUnit"), {"unitType": "Metadata Unit"}).append(
            ET.Element("dataObjectPointer", {"dataObjectID": ident}))
        data = _file_bytes(content)
        attrs = {"mimeType": "text/xml" if rel.endswith(".xml") else "application/octet-stream"}
        if data is not None:
            attrs["size"] = str(len(data))
        bs = ET.SubElement(ET.SubElement(dsec, "dataObject", {"ID": ident, "repID": rel.split("/")[0]}),
                           "byteStream", attrs)
        ET.SubElement(bs, "fileLocation", {"locatorType": "URL", "href": "./" + rel})
        if data is not None:
            ET.SubElement(bs, "checksum", {"checksumName": "MD5"}).text = hashlib.md5(data).hexdigest()
    ET.indent(root, "  ")
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)
