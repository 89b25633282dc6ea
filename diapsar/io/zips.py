"""Listing the members of zipped products (SAFE zips): the one helper the datalake scan and the quicklook
image resolver share."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

from ..errors import ProductError


def zip_names(path: str | os.PathLike) -> list[str]:
    """Member names of the zip ``path`` (macOS resource forks left out); ProductError when it does not open."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise ProductError(f"{path} is not a readable zip file ({exc})") from None
    return [n for n in names if not n.startswith("__MACOSX/")]


def safe_members(path: str | os.PathLike) -> list[str]:
    """Members inside the zip's ``<name>.SAFE/`` folder, relative to it (``annotation/x.xml``)."""
    out = []
    for n in zip_names(path):
        parts = n.split("/")
        if len(parts) >= 3 and parts[0].endswith(".SAFE"):
            out.append("/".join(parts[1:]))
    return out


def measurement_members(path: str | os.PathLike) -> list[str]:
    """Full member names of the measurement images (``.../measurement/*.tif[f]``) of the zip, sorted."""
    return sorted(n for n in zip_names(Path(path)) if "/measurement/" in f"/{n}"
                  and n.lower().endswith((".tif", ".tiff")))
