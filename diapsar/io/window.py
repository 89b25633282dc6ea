"""The one window type: a rectangle of SLC lines and samples, trimmed to whole multilook cells."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Window:
    """Lines [line0, line0 + n_lines), samples [sample0, sample0 + n_samples) of an image; ``ml_azi`` x
    ``ml_ran`` the multilook factors of the products made on it (1 x 1 for a plain read window)."""

    line0: int
    sample0: int
    n_lines: int
    n_samples: int
    ml_azi: int = 1
    ml_ran: int = 1

    @property
    def ml_shape(self) -> tuple[int, int]:
        return self.n_lines // self.ml_azi, self.n_samples // self.ml_ran

    def rows(self, row0: int, row1: int) -> Window:
        """Rows [row0, row1) of the window (relative to its first line), all its samples."""
        return Window(self.line0 + row0, self.sample0, row1 - row0, self.n_samples, self.ml_azi, self.ml_ran)

    def as_dict(self) -> dict[str, int]:
        return {"first_line": self.line0, "first_sample": self.sample0, "lines": self.n_lines,
                "samples": self.n_samples}

    def perimeter(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Line and sample of ``n`` points per side around the window (first to last line/sample)."""
        ls = np.r_[np.full(n, 0.0), np.linspace(0, 1, n), np.full(n, 1.0), np.linspace(1, 0, n)]
        ps = np.r_[np.linspace(0, 1, n), np.full(n, 1.0), np.linspace(1, 0, n), np.full(n, 0.0)]
        return self.line0 + ls * (self.n_lines - 1), self.sample0 + ps * (self.n_samples - 1)
