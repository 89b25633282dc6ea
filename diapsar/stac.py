"""STAC Item (JSON) of one processed product: plain dictionaries, no STAC library.

STAC 1.0.0 Item (https://github.com/radiantearth/stac-spec/blob/v1.0.0/item-spec/item-spec.md) with the
``sar`` v1.0.0, ``sat`` v1.0.0 and ``projection`` v1.1.0 extensions: ``geometry`` and ``bbox`` in WGS84
lon/lat, ``datetime`` = acquisition start, ``start_datetime`` / ``end_datetime``, ``proj:epsg`` /
``proj:shape`` / ``proj:transform`` of the output grid, one asset per file with its ``roles``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .io.raster import write_json
from .timeutil import seconds_to_iso

STAC_VERSION = "1.0.0"
EXTENSIONS = [
    "https://stac-extensions.github.io/sar/v1.0.0/schema.json",
    "https://stac-extensions.github.io/sat/v1.0.0/schema.json",
    "https://stac-extensions.github.io/projection/v1.1.0/schema.json",
]
COG_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"


@dataclass
class Asset:
    path: Path
    title: str
    roles: list[str]
    media_type: str = COG_TYPE
    extra: dict[str, Any] = field(default_factory=dict)
    key: str = ""  # the asset's key in the Item (default: the file name)


def iso(t_s: float) -> str:
    """ISO 8601 UTC ("Z") of a diapsar time (seconds since 2000-01-01, ``diapsar.timeutil``)."""
    return seconds_to_iso(t_s, 6) + "Z"


def item(item_id: str, geometry: dict[str, Any], bbox: list[float], start_s: float, stop_s: float,
         properties: dict[str, Any], assets: list[Asset], base: Path) -> dict[str, Any]:
    """The Item as a dict; asset hrefs relative to ``base`` (the folder of the JSON)."""
    props = {"datetime": iso(start_s), "start_datetime": iso(start_s), "end_datetime": iso(stop_s)}
    props.update(properties)
    return {
        "type": "Feature", "stac_version": STAC_VERSION, "stac_extensions": EXTENSIONS, "id": item_id,
        "geometry": geometry, "bbox": [float(v) for v in bbox], "properties": props, "links": [],
        "assets": {(a.key or a.path.name): {"href": os.path.relpath(a.path, base), "type": a.media_type, "title": a.title,
                                 "roles": a.roles, **a.extra} for a in assets},
    }


def write_item(path: str | os.PathLike, content: dict[str, Any]) -> Path:
    """Write the Item JSON (under a temporary name, renamed when complete)."""
    return write_json(path, content)
