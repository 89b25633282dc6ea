"""Safe extraction of downloaded zips: every member must land inside the target folder."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
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

    Members are written into a hidden staging folder inside ``dest`` and each top-level entry is renamed
    into place only once the whole zip is out, so an interrupted extraction never leaves a partial
    ``.SAFE`` that a later run would take for a complete one. Returns the top-level entries created.
    Raises ``ProductError`` for traversal, links or a bad zip.
    """
    zip_path, root = Path(zip_path), Path(dest).resolve()
    try:
        with zipfile.ZipFile(zip_path) as zf:
            members = zf.infolist()
            for m in members:
                _check_member(m, root)
            root.mkdir(parents=True, exist_ok=True)
            stage = Path(tempfile.mkdtemp(prefix=".extract-", dir=root))
            try:
                tops: list[str] = []
                for m in members:
                    pure = PurePosixPath(m.filename.replace("\\", "/"))
                    if pure.parts[0] not in tops:
                        tops.append(pure.parts[0])
                    target = stage / pure
                    if m.is_dir():
                        target.mkdir(parents=True, exist_ok=True)
                        continue
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with zf.open(m) as src, open(target, "wb") as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)
                for top in tops:
                    final = root / top
                    if final.is_dir() and not final.is_symlink():
                        shutil.rmtree(final)  # an earlier, incomplete copy of the same product
                    elif final.exists() or final.is_symlink():
                        final.unlink()
                    os.replace(stage / top, final)
            finally:
                shutil.rmtree(stage, ignore_errors=True)
    except zipfile.BadZipFile as exc:
        raise ProductError(f"{zip_path} is not a valid zip: {exc}") from None
    return [root / t for t in tops]


def zip_ok(path: str | os.PathLike) -> str | None:
    """None when the zip opens and every CRC matches; else a short reason."""
    try:
        with zipfile.ZipFile(path) as zf:
            bad = zf.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        return f"not a valid zip ({exc})"
    return f"corrupt member {bad}" if bad else None
