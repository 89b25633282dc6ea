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
