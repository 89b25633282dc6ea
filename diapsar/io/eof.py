"""ESA Sentinel-1 orbit files (``*_AUX_POEORB_*.EOF`` precise, ``*_AUX_RESORB_*.EOF`` restituted).

Format (Earth Explorer XML): ``Earth_Explorer_File/Data_Block/List_of_OSVs/OSV`` with ``UTC=...`` times and
X/Y/Z (m), VX/VY/VZ (m/s) in the Earth-fixed frame; the header gives mission and validity period. File names:
``S1A_OPER_AUX_POEORB_OPOD_<production>_V<validity start>_<validity stop>.EOF``.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import OrbitError
from ..metadata import StateVectors
from ..timeutil import iso_to_seconds, seconds_to_iso

_NAME_RE = re.compile(
    r"^(?P<mission>S1[A-D])_(?P<cls>[A-Z0-9]{4})_AUX_(?P<type>POEORB|RESORB)_(?P<site>[A-Z0-9]{4})_"
    r"(?P<prod>\d{8}T\d{6})_V(?P<start>\d{8}T\d{6})_(?P<stop>\d{8}T\d{6})\.EOF$", re.IGNORECASE)

# state vectors kept on each side of the acquisition when cropping a file (the interpolation needs >= 5)
CROP_MARGIN_S = 180.0


@dataclass
class EofName:
    """What an orbit file name says."""

    path: Path
    mission: str
    orbit_type: str  # POEORB | RESORB
    production_s: float
    validity_start_s: float
    validity_stop_s: float

    @property
    def precise(self) -> bool:
        return self.orbit_type == "POEORB"


def parse_eof_name(path: str | Path) -> EofName | None:
    """Mission, type, production and validity times from an orbit file name; None when it is not one."""
    p = Path(path)
    m = _NAME_RE.match(p.name)
    if not m:
        return None
    return EofName(p, m["mission"].upper(), m["type"].upper(), iso_to_seconds(m["prod"]),
                   iso_to_seconds(m["start"]), iso_to_seconds(m["stop"]))


def _required_text(el: ET.Element, tag: str) -> str:
    text = el.findtext(tag)
    if text is None:
        raise ValueError(f"no <{tag}>")
    return text


def read_eof(path: str | Path) -> StateVectors:
    """All state vectors of an EOF file (source = file name). OrbitError if unreadable or empty."""
    p = Path(path)
    try:
        root = ET.parse(p).getroot()
    except FileNotFoundError:
        raise OrbitError(f"orbit file not found: {p}") from None
    except (ET.ParseError, OSError, UnicodeDecodeError) as exc:
        raise OrbitError(f"orbit file {p.name} is not readable XML: {exc}") from None
    osvs = root.findall("./Data_Block/List_of_OSVs/OSV")
    if not osvs:
        osvs = root.findall(".//List_of_OSVs/OSV")
    if not osvs:
        raise OrbitError(f"orbit file {p.name} holds no state vectors (Data_Block/List_of_OSVs/OSV)")
    n = len(osvs)
    t = np.empty(n)
    pos = np.empty((n, 3))
    vel = np.empty((n, 3))
    try:
        for i, o in enumerate(osvs):
            t[i] = iso_to_seconds(_required_text(o, "UTC"))
            pos[i] = [float(_required_text(o, k)) for k in ("X", "Y", "Z")]
            vel[i] = [float(_required_text(o, k)) for k in ("VX", "VY", "VZ")]
    except (TypeError, ValueError) as exc:
        raise OrbitError(f"orbit file {p.name}: state vector {i + 1} is malformed ({exc})") from None
    order = np.argsort(t, kind="stable")
    return StateVectors(t[order], pos[order], vel[order], source=p.name)


def eof_mission(path: str | Path) -> str | None:
    """Mission (S1A...) from the name, else from the header's ``Mission`` element (``Sentinel-1A``)."""
    info = parse_eof_name(path)
    if info:
        return info.mission
    try:
        for _, el in ET.iterparse(str(path)):
            if el.tag == "Mission" and el.text:
                m = re.search(r"Sentinel-1([A-D])", el.text)
                return f"S1{m.group(1)}" if m else None
            if el.tag == "Data_Block":
                break
    except (ET.ParseError, OSError):
        return None
    return None


def crop(sv: StateVectors, start_s: float, stop_s: float, margin_s: float = CROP_MARGIN_S) -> StateVectors:
    """State vectors within [start - margin, stop + margin] (at least 10 when the file has them)."""
    keep = (sv.time_s >= start_s - margin_s) & (sv.time_s <= stop_s + margin_s)
    idx = np.nonzero(keep)[0]
    if idx.size < 10:
        mid = 0.5 * (start_s + stop_s)
        idx = np.sort(np.argsort(np.abs(sv.time_s - mid))[:10])
    return StateVectors(sv.time_s[idx], sv.position_m[idx], sv.velocity_m_s[idx], sv.source)


def _candidates(files_or_folder) -> list[Path]:
    items = [files_or_folder] if isinstance(files_or_folder, (str, Path)) else list(files_or_folder or [])
    out: list[Path] = []
    for it in items:
        p = Path(it)
        if p.is_dir():
            out.extend(sorted(q for q in p.iterdir() if q.suffix.upper() == ".EOF" and q.is_file()))
        elif p.exists():
            out.append(p)
        else:
            raise OrbitError(f"orbit file or folder not found: {p}")
    return out


def select_orbit_file(files_or_folder, mission: str, start_s: float, stop_s: float, margin_s: float = 60.0,
                      fallback: StateVectors | None = None) -> StateVectors:
    """State vectors of the best orbit file covering [start - margin, stop + margin] for ``mission``.

    Preference: POEORB over RESORB, then the newest production time. The chosen file's state vectors must
    really cover the window (checked on the data, not only the name). Returns them cropped to the window
    +/- ``CROP_MARGIN_S``. When nothing fits: ``fallback`` (e.g. the annotation state vectors) if given, else
    OrbitError naming the acquisition window and what was found.
    """
    mission = mission.upper()
    lo, hi = start_s - margin_s, stop_s + margin_s
    window = f"{seconds_to_iso(start_s, 0)}..{seconds_to_iso(stop_s, 0)} (margin {margin_s:g} s)"
    found: list[str] = []
    ranked: list[tuple[int, float, Path]] = []
    for path in _candidates(files_or_folder):
        info = parse_eof_name(path)
        if info is None:
            m = eof_mission(path)
            found.append(f"{path.name} (unrecognised name)")
            if m is not None and m != mission:
                continue
            ranked.append((0, 0.0, path))  # validity checked on the data below
            continue
        found.append(f"{path.name} ({info.mission} {info.orbit_type} "
                     f"{seconds_to_iso(info.validity_start_s, 0)}..{seconds_to_iso(info.validity_stop_s, 0)})")
        if info.mission != mission:
            continue
        if info.validity_start_s > lo or info.validity_stop_s < hi:
            continue
        ranked.append((1 if info.precise else 0, info.production_s, path))
    ranked.sort(key=lambda r: (r[0], r[1]), reverse=True)
    errors = []
    for _, _, path in ranked:
        try:
            sv = read_eof(path)
        except OrbitError as exc:
            errors.append(str(exc))
            continue
        if sv.time_s[0] <= lo and sv.time_s[-1] >= hi:
            return crop(sv, start_s, stop_s)
        errors.append(f"{path.name}: state vectors span {seconds_to_iso(sv.time_s[0], 0)}.."
                      f"{seconds_to_iso(sv.time_s[-1], 0)}")
    if fallback is not None:
        return fallback
    what = "; ".join(found) if found else "no .EOF file"
    if errors:
        what += "; " + "; ".join(errors)
    raise OrbitError(f"no {mission} orbit file covers the acquisition {window}: found {what}")
