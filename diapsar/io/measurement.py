"""Windowed, lazy access to Sentinel-1 measurement TIFFs (CInt16 SLC, complex64 crops, UInt16 GRD).

Nothing is read until ``read`` is called, and then only the asked window: a full IW swath never has to fit in
memory. Paths may be plain files or GDAL virtual paths (``/vsizip/<zip>/<member>``) so zipped SAFE products
are read without extraction.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence

import numpy as np

from ..errors import ProductError, SelectionError

Window = tuple[int, int, int, int]  # line0, sample0, nlines, nsamples (0-based, in the full image)


def _open_dataset(path: str, name: str):
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

    if not path.startswith("/vsi"):
        if not os.path.exists(path):
            raise ProductError(f"measurement {name} does not exist ({path})")
        if os.path.getsize(path) == 0:
            raise ProductError(f"measurement {name} is empty (0 bytes): this product carries metadata only")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            return rasterio.open(path)
    except RasterioIOError as exc:
        msg = str(exc).splitlines()[0] if str(exc) else "unreadable"
        raise ProductError(f"measurement {name} is not a readable TIFF: {msg}") from None


class MeasurementReader:
    """One measurement raster; ``read((line0, sample0, nlines, nsamples))`` returns that window.

    SLC data (CInt16 as written by ESA, CFloat32/complex64 crops, or two int16 bands I and Q) come back as
    complex64; detected data (GRD UInt16) as float32.
    """

    def __init__(self, path: str | os.PathLike, name: str | None = None,
                 expected_shape: tuple[int, int] | None = None):
        self.path = str(path)
        self.name = name or os.path.basename(self.path)
        self._ds = None
        self._expected_shape = expected_shape

    # -- lazily opened dataset ----------------------------------------------------------------------------
    @property
    def dataset(self):
        if self._ds is None:
            ds = _open_dataset(self.path, self.name)
            if self._expected_shape is not None and (ds.height, ds.width) != tuple(self._expected_shape):
                shape = (ds.height, ds.width)
                ds.close()
                raise ProductError(
                    f"measurement {self.name} is {shape[0]} x {shape[1]} pixels but its annotation says "
                    f"{self._expected_shape[0]} x {self._expected_shape[1]}")
            self._ds = ds
        return self._ds

    @property
    def shape(self) -> tuple[int, int]:
        ds = self.dataset
        return int(ds.height), int(ds.width)

    @property
    def raw_dtype(self) -> str:
        return str(self.dataset.dtypes[0])

    @property
    def is_complex(self) -> bool:
        ds = self.dataset
        return "complex" in ds.dtypes[0] or (ds.count == 2 and ds.dtypes[0] in ("int16", "float32"))

    def read(self, window: Window | Sequence[int] | None = None, out: np.ndarray | None = None) -> np.ndarray:
        """Pixels of ``window`` = (line0, sample0, nlines, nsamples); the whole image when None. ``out``: a
        complex64 (nlines, nsamples) array (SLC) to read into (no new array: the pages of a fresh array cost
        more than the read itself), returned."""
        from rasterio.windows import Window as RWindow

        ds = self.dataset
        h, w = int(ds.height), int(ds.width)
        if window is None:
            line0, sample0, nlines, nsamples = 0, 0, h, w
        elif isinstance(window, RWindow):
            line0, sample0 = int(window.row_off), int(window.col_off)
            nlines, nsamples = int(window.height), int(window.width)
        else:
            if len(window) != 4:
                raise SelectionError(f"window must be (line0, sample0, nlines, nsamples), got {tuple(window)}")
            line0, sample0, nlines, nsamples = (int(v) for v in window)
        if nlines <= 0 or nsamples <= 0 or line0 < 0 or sample0 < 0 or line0 + nlines > h or sample0 + nsamples > w:
            raise SelectionError(
                f"window lines {line0}..{line0 + nlines - 1}, samples {sample0}..{sample0 + nsamples - 1} "
                f"is outside measurement {self.name} ({h} lines x {w} samples)")
        rw = RWindow(sample0, line0, nsamples, nlines)
        try:
            if out is not None and (out.dtype != np.complex64 or out.shape != (nlines, nsamples)):
                raise ValueError(f"out must be complex64 of shape {(nlines, nsamples)}, got {out.dtype} {out.shape}")
            if ds.count == 2 and "complex" not in ds.dtypes[0]:
                iq = ds.read((1, 2), window=rw).astype(np.float32)
                if out is not None:
                    out.real, out.imag = iq[0], iq[1]
                    return out
                return (iq[0] + 1j * iq[1]).astype(np.complex64)
            if out is not None and "complex" in ds.dtypes[0]:
                return np.asarray(ds.read(1, window=rw, out=out))
            data = ds.read(1, window=rw)
        except Exception as exc:  # noqa: BLE001 - GDAL decoding errors of a damaged file
            cause = exc.__cause__ or exc.__context__
            text = str(cause) if cause is not None and str(cause) else str(exc)
            msg = (text.splitlines()[0] if text else type(exc).__name__) + " (file damaged or truncated?)"
            raise ProductError(f"measurement {self.name}: cannot read window {line0},{sample0} "
                               f"{nlines}x{nsamples}: {msg}") from None
        if out is not None:
            out[...] = data
            return out
        if np.iscomplexobj(data):
            return data.astype(np.complex64, copy=False)
        return data.astype(np.float32, copy=False)

    def close(self) -> None:
        if self._ds is not None:
            self._ds.close()
            self._ds = None

    def __enter__(self) -> MeasurementReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):  # pragma: no cover - best effort
        try:
            self.close()
        except Exception:  # noqa: BLE001
            pass
