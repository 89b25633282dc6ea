"""Safe extraction of downloaded zips: every member must land inside the target folder."""

from __future__ import annotations

import os
import shutil
import stat
import zipfile
from pathlib import Path, PurePosixPath

from ..errors import ProductError


def _check_member(info: zipfile.ZipInfo, root: Path) -> Path:
    name = info.filename.replace("\\", "/")
    pure = PurePosixPath(name)
    if pure.is_absolute() or (len(name) > 1 and name[1] == ":") or ".." in pure.parts:
        raise ProductError(f"zip member {info.filename!r} would be written outside {root}")
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise ProductError(f"zip member {info.filename!r} is a symbolic link; refusing to extract")
    target = (root / pure).resolve()
    if target != root and root not in target.parents:
        raise ProductError(f"zip member {info.filename!r} would be written outside {root}")
    return target


def safe_extract(zip_path: str | os.PathLike, dest: str | os.PathLike) -> list[Path]:
    """Extract ``zip_path`` into ``dest`` after checking every member (nothing is written if one is bad).

    Returns the top-level entries created. Raises ``ProductError`` for traversal, links or a bad zip.
    """
    zip_path, root = Path(zip_path), Path(dest).resolve()
    try:
        with zipfile.ZipFile(zip_path) as zf:
            members = zf.infolist()
            targets = [_check_member(m, root) for m in members]
            root.mkdir(parents=True, exist_ok=True)
            tops: list[Path] = []
            for m, target in zip(members, targets):
                top = root / PurePosixPath(m.filename.replace("\\", "/")).parts[0]
                if top not in tops:
                    tops.append(top)
                if m.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(m) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
    except zipfile.BadZipFile as exc:
        raise ProductError(f"{zip_path} is not a valid zip: {exc}") from None
    return tops


def zip_ok(path: str | os.PathLike) -> str | None:
    """None when the zip opens and every CRC matches; else a short reason."""
    try:
        with zipfile.ZipFile(path) as zf:
            bad = zf.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        return f"not a valid zip ({exc})"
    return f"corrupt member {bad}" if bad else None
