"""Write outputs under a temporary name and rename on success, so nothing is left half-written."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

from ..errors import OutputError

# name of the temporary of ``final`` (and of GDAL's side-car of a temporary raster)
TEMPORARY_RE = re.compile(r"^\..+\.[0-9a-f]{8}\.part(\.aux\.xml)?$")


def temporary_name(final: Path) -> Path:
    return final.with_name(f".{final.name}.{uuid.uuid4().hex[:8]}.part")


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; rename it to ``final`` when the block succeeds.

    Works for files and directories. On failure the temporary is removed and ``final`` is untouched.
    """
    final = Path(final)
    # folders this call creates: removed again (when still empty) if the write fails
    created = [d for d in (final.parent, *final.parent.parents) if not d.exists()]
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _remove_empty(created)
        raise OutputError(f"cannot create output folder {final.parent}: {exc.strerror or exc}") from None
    if not os.access(final.parent, os.W_OK):
        raise OutputError(f"output folder {final.parent} is not writable")
    tmp = temporary_name(final)
    ok = False
    try:
        yield tmp
        if final.is_dir() and not final.is_symlink():
            shutil.rmtree(final)
        os.replace(tmp, final)
        ok = True
    finally:
        if tmp.exists() or tmp.is_symlink():
            if tmp.is_dir() and not tmp.is_symlink():
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    tmp.unlink()
        # GDAL side-car files written next to a temporary raster
        for side in (tmp.with_name(tmp.name + ".aux.xml"),):
            with contextlib.suppress(OSError):
                side.unlink()
        if not ok:
            _remove_empty(created)


def _remove_empty(folders: list[Path]) -> None:
    """Remove folders (deepest first) that are empty; stop at the first that is not."""
    for d in folders:
        try:
            d.rmdir()
        except OSError:
            break


def remove_stale_temporaries(folder: str | os.PathLike, older_than: float) -> list[Path]:
    """Remove the temporaries of :func:`atomic_path` left in ``folder`` by interrupted runs: those last modified
    before ``older_than`` (a ``time.time()``, e.g. the start of the run that now cleans up). A run that is
    still writing touches its temporaries, so one started before ``older_than`` keeps them as long as it
    writes; only the folders a run owns are cleaned. Returns the removed paths."""
    removed: list[Path] = []
    with contextlib.suppress(OSError):
        for p in Path(folder).iterdir():
            if not TEMPORARY_RE.match(p.name):
                continue
            try:
                if p.lstat().st_mtime >= older_than:
                    continue
                if p.is_dir() and not p.is_symlink():
                    shutil.rmtree(p)
                else:
                    p.unlink()
                removed.append(p)
            except OSError:
                continue
    return removed
