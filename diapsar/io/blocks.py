"""Block (strip) iteration under a RAM budget: the one streaming helper every step uses."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Block:
    """Rows [row0, row1) to produce, read with a halo: rows [read0, read1) (clipped to the image)."""

    row0: int
    row1: int
    read0: int
    read1: int

    @property
    def rows(self) -> int:
        return self.row1 - self.row0

    @property
    def inner(self) -> slice:
        """Slice of the read strip that holds the produced rows."""
        return slice(self.row0 - self.read0, self.row1 - self.read0)


def rows_per_block(n_cols: int, bytes_per_pixel: float, ram_mb: float, multiple: int = 1,
                   minimum: int = 1) -> int:
    """How many rows fit in ``ram_mb`` when each pixel of a row costs ``bytes_per_pixel`` (all buffers)."""
    budget = max(float(ram_mb), 1.0) * 1024 * 1024
    rows = int(budget // max(n_cols * bytes_per_pixel, 1.0))
    rows = max(rows, minimum)
    if multiple > 1:
        rows = max(multiple, rows - rows % multiple)
    return rows


def row_blocks(n_rows: int, rows: int, halo: int = 0) -> Iterator[Block]:
    """Split ``n_rows`` into strips of ``rows`` rows, each read with ``halo`` extra rows on both sides."""
    rows = max(1, int(rows))
    for r0 in range(0, n_rows, rows):
        r1 = min(n_rows, r0 + rows)
        yield Block(r0, r1, max(0, r0 - halo), min(n_rows, r1 + halo))


_RETAINED = False


def retain_freed_memory() -> bool:
    """Let glibc's allocator keep the memory of freed arrays in the process for the next ones (once per process;
    a no-op elsewhere than on glibc; ``DIAPSAR_RETAIN_MEMORY=0`` turns it off). Returns whether it applies.

    By default every array above 32 MB (every block of a step) is a fresh mmap, returned to the system when
    freed: each block then pays the kernel's page faults anew, zeroing its pages, and on the 2-core benchmark
    machine these faults (system time) were a quarter of the IW chain's CPU seconds, more when numba threads
    fault pages of a fresh array side by side. With mmap off (M_MMAP_MAX 0) and the heap trimmed only above
    2 GB of free top (M_TRIM_THRESHOLD), a step's blocks reuse the same pages. The values computed do not
    change; the resident memory stays near the peak of the blocks instead of falling between them (measured:
    peak RSS +8 % on the IW benchmark)."""
    global _RETAINED
    if _RETAINED:
        return True
    import os
    import sys

    if not sys.platform.startswith("linux") or os.environ.get("DIAPSAR_RETAIN_MEMORY", "1") == "0":
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018 - glibc only (musl has mallopt with other meanings)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    m_trim_threshold, m_top_pad, m_mmap_max = -1, -2, -4
    ok = (mallopt(m_mmap_max, 0) == 1) & (mallopt(m_trim_threshold, 2**31 - 1) == 1) \
        & (mallopt(m_top_pad, 64 << 20) == 1)
    _RETAINED = bool(ok)
    return _RETAINED
